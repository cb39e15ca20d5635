"""The objection DAG's trigger form as the UI receives it: user ids in a textarea, one per line."""

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


def test_user_ids_is_a_multiline_string_so_the_form_shows_a_textarea(form: dict) -> None:
    """Airflow 3's form renders ``type: string`` + ``format: multiline`` as a textarea (an array of
    integers would be a JSON editor); a second type would turn it into a JSON field again."""
    schema = form["user_ids"]["schema"]["__var"]
    assert schema["type"] == "string" and schema["format"] == "multiline"
    assert form["user_ids"]["default"] == ""
    assert "one per line" in form["user_ids"]["description"]


def test_the_form_param_takes_lines_and_refuses_a_json_list() -> None:
    """A trigger's conf is set on the params and validated (as ``create_dagrun`` merges and validates it)."""
    import copy

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_record_objection"]

    def triggered(conf: dict) -> dict:
        params = copy.deepcopy(dag.params)
        params.update(conf)
        return params.validate()

    assert triggered({"user_ids": "12\n40"})["user_ids"] == "12\n40"
    with pytest.raises(Exception, match="is not of type 'string'"):
        triggered({"user_ids": [12, 40]})
