"""The databases a task talks to, from Airflow connections (imported inside tasks only).

Light to import: every task needs ``fail_without_retry``, few need a database, so each
function imports what it uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

SOURCE_CONN_ID = "dms_source"
LEDGER_CONN_ID = "billing_db"


def source_engine() -> sa.Engine:
    """The ``dms_source`` connection, its sessions in UTC."""
    from airflow.sdk import Connection

    from include.dms_billing.source.connections import dms_engine, sqlalchemy_url

    return dms_engine(sqlalchemy_url(Connection.get(SOURCE_CONN_ID)))


def ledger() -> sa.Engine:
    """The ``billing_db`` connection, or the default SQLite ledger under ``DMS_BILLING_DATA``."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from include.dms_billing.ledger.db import default_ledger_url, ledger_engine
    from include.dms_billing.source.connections import sqlalchemy_url

    try:
        url = sqlalchemy_url(Connection.get(LEDGER_CONN_ID))
    except AirflowNotFoundException:
        with fail_without_retry():  # outputs on an object store need a ledger server: no retry mends that
            url = default_ledger_url()
    return ledger_engine(url)


@contextmanager
def fail_without_retry() -> Iterator[None]:
    """Bad data or configuration (a ``ValueError``) will not mend itself: fail the task at once,
    without retries, with the message. Other errors (a database or mail server away) retry."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from exc


LIVE_RUN_STATES = ["queued", "running"]
IN_PROCESS_RUNNER = "dag_test"  # the triggering user of a run of ``dag.test()`` / ``airflow dags test``


def turn_context(ti, dag_run) -> dict:
    """What the turn decision needs from Airflow (``run_turns.take_turn``'s keyword arguments).

    ``is_live``: the run's state, read through the Task SDK, is queued or running (a deleted run
    counts as not live: ``get_dr_count`` gives 0 where ``get_dagrun_state`` would raise).
    ``process``: recorded for a run that ``airflow dags test`` executes in this very process, so
    that a killed test run, whose Airflow state stays "running" forever, blocks nobody.
    ``wait_for``: the run of the month before, if it is a backfill's and Airflow has it queued or
    running (it may not have reached the gate yet, as when ``--run-backwards`` starts the last
    month first).
    """
    from include.dms_billing.airflow.params import run_type_name
    from include.dms_billing.ledger.run_turns import this_process

    dag_id = dag_run.dag_id

    def is_live(run_id: str) -> bool:
        return ti.get_dr_count(dag_id=dag_id, run_ids=[run_id], states=LIVE_RUN_STATES) > 0

    wait_for = []
    if run_type_name(dag_run.run_type) == "backfill":
        previous = ti.get_previous_dagrun()
        if previous is not None and run_type_name(previous.run_type) == "backfill" \
                and str(getattr(previous.state, "value", previous.state)) in LIVE_RUN_STATES:
            wait_for.append(previous.run_id)
    in_process = dag_run.triggering_user_name == IN_PROCESS_RUNNER
    return {"is_live": is_live, "process": this_process() if in_process else None, "wait_for": wait_for}
