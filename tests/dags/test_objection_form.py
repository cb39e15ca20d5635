"""The objection DAG's trigger form as the UI receives it: user ids in a textarea, one per line,
and the same param taking a JSON list from scripts."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PROJECT


@pytest.fixture(scope="module")
def form() -> dict:
    """The serialized DAG's params (what the API server hands the React trigger form)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_record_objection"]
    return dict(json.loads(json.dumps(DagSerialization.to_dict(dag)))["dag"]["params"])


def test_user_ids_is_text_or_a_list_in_a_textarea(form: dict) -> None:
    """Airflow 3.3's form renders a param of several types (no enum or examples) as a textarea that
    keeps what is typed as text unless it reads as JSON of one of the types: ``12`` and ``12\n40``
    stay text, ``[12, 40]`` becomes a list. ``format: multiline`` is its single-type textarea."""
    schema = form["user_ids"]["schema"]["__var"]
    assert schema["type"] == ["string", "array"] and schema["format"] == "multiline"
    assert "enum" not in schema and "examples" not in schema  # either would make it a select box
    assert form["user_ids"]["default"] == ""
    assert "one per line" in form["user_ids"]["description"]


def test_the_param_takes_lines_or_a_json_list_and_nothing_else() -> None:
    """A trigger's conf is set on the params and validated (as ``create_dagrun`` merges and validates it)."""
    import copy

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_record_objection"]

    def triggered(conf: dict) -> dict:
        params = copy.deepcopy(dag.params)
        params.update(conf)
        return params.validate()

    assert triggered({"user_ids": "12\n40"})["user_ids"] == "12\n40"
    assert triggered({"user_ids": [12, 40]})["user_ids"] == [12, 40]
    assert triggered({"user_ids": ["12", "40"]})["user_ids"] == ["12", "40"]
    for wrong in (12, {"ids": [12]}, None):  # a bare number, an object, nothing: refused at trigger time
        with pytest.raises(Exception, match="is not of type 'string', 'array'"):
            triggered({"user_ids": wrong})
