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
    assert schema["type"] == ["string", "array", "null"] and schema["format"] == "multiline"
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
    assert triggered({"user_ids": None})["user_ids"] is None  # a cleared field: refused by the task
    for wrong in (12, {"ids": [12]}):  # a bare number, an object: refused at trigger time
        with pytest.raises(Exception, match="is not of type 'string', 'array', 'null'"):
            triggered({"user_ids": wrong})


def test_no_field_is_required_in_the_form_so_a_bulk_csv_needs_no_other(form: dict) -> None:
    """Airflow's form marks a param required, and keeps Trigger disabled while it is empty, unless
    its type admits null; only the direction, which has a default, is required."""
    required = [name for name, param in form.items() if "null" not in param["schema"]["__var"]["type"]]
    assert required == ["direction"] and form["direction"]["default"] == "credit"


def test_a_single_objection_left_empty_is_refused_by_the_task_naming_each_field(data_root) -> None:
    """As the form sends fields never typed in ("") or cleared (null): the run fails at once,
    naming every missing field, and records nothing."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.dms_billing.airflow.objection_tasks import record_objections

    empty = {"client_code": None, "billing_month": "", "user_ids": None, "reason": None, "decided_by": "",
             "direction": "credit", "csv_path": None}
    with pytest.raises(AirflowFailException) as refused:
        record_objections(empty, "manual__empty")
    for named in ("client code '' is not a valid code", "billing_month must look like YYYY-MM",
                  "no user ids given", "reason and decided_by are required", "nothing recorded"):
        assert named in str(refused.value), refused.value
