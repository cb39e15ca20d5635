"""A missed deadline, the way Airflow handles one: the monthly DAG stored as the DAG processor
stores it, a run created with the scheduler's own ``create_dagrun`` (which works the deadline out
through the plugin-registered reference), the miss handled by the scheduler's ``handle_miss``,
and the callback run by the function the executor's callback process runs, on the workload as
it reaches the worker (through JSON). A scheduled run's alert must reach a real SMTP server; a
manual or backfill run's missed deadline sends nothing. A run triggered through the REST API (the UI's
Trigger button) is created by the API server, which works out the deadline the same way.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import structlog

from tests.conftest import PROJECT
from tests.support.rest_api import rest_api

pytestmark = pytest.mark.airflow

DAG_ID = "dms_monthly_billing"
DHAKA = ZoneInfo("Asia/Dhaka")
# March 2025: Eid al-Fitr is 31 March to 2 April, so the month's invoice day is 3 April.
EID_MONTH = (datetime(2025, 3, 1, tzinfo=DHAKA), datetime(2025, 4, 1, tzinfo=DHAKA))


@pytest.fixture
def session(airflow_db):
    """A metadata-database session whose runs and deadlines are rolled back after the test."""
    from airflow import settings

    session = settings.Session()
    yield session
    session.rollback()
    session.close()


def _stored_dag(session):
    """The monthly DAG as the DAG processor stores it, its deadline alert included."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.serialized_dag import SerializedDagModel

    manager = DagBundlesManager()
    manager.sync_bundles_to_db(session=session)
    session.commit()
    bundle = manager.get_bundle("dags-folder")
    bag = BundleDagBag(dag_folder=str(PROJECT / "dags"), bundle_path=bundle.path, bundle_name=bundle.name)
    sync_bag_to_db(bag, bundle.name, bundle.version)
    return SerializedDagModel.get_dag(DAG_ID, session=session)


def _run_of_eid_month(session, run_type):
    """The March 2025 run, created as the scheduler creates one, and its one deadline."""
    from sqlalchemy import select

    from airflow.models.dagrun import DagRun
    from airflow.models.deadline import Deadline
    from airflow.timetables.base import DataInterval
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType

    start, end = EID_MONTH
    run = _stored_dag(session).create_dagrun(
        run_id=DagRun.generate_run_id(run_type=run_type, logical_date=start, run_after=end),
        logical_date=start, data_interval=DataInterval(start, end), run_after=end, run_type=run_type,
        triggered_by=DagRunTriggeredByType.TIMETABLE, state=DagRunState.QUEUED, session=session,
    )
    session.flush()  # the scheduler commits a new run before it looks for missed deadlines
    [deadline] = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id)).all()
    return run, deadline


def _miss(session, deadline) -> tuple[bool, str | None]:
    """The scheduler handles the miss; the executor's callback process runs what it was sent."""
    from airflow.executors.workloads.callback import ExecuteCallback
    from airflow.sdk.execution_time.callback_supervisor import execute_callback

    deadline.handle_miss(session)
    session.flush()
    workload = ExecuteCallback.make(deadline.callback, deadline.dagrun)
    received = ExecuteCallback.model_validate_json(workload.model_dump_json())
    data = received.callback.data
    return execute_callback(data["path"], data["kwargs"], received.dag_rel_path, None, structlog.get_logger())


def test_a_scheduled_runs_missed_deadline_emails_the_data_team(session, outbox) -> None:
    from airflow.utils.types import DagRunType

    run, deadline = _run_of_eid_month(session, DagRunType.SCHEDULED)
    # 00:00 on 3 April at UTC-12 (12:00 UTC), plus the shipped configuration's 12 hours.
    assert deadline.deadline_time == datetime(2025, 4, 4, tzinfo=timezone.utc)

    assert _miss(session, deadline) == (True, None)

    [alert] = outbox.messages
    assert alert["To"] == "data-team@sokrio.example"
    assert alert["Subject"] == f"[billing alert] {DAG_ID} failed: deadline 2025-03"
    text = alert.get_body(("plain",)).get_content()
    assert run.run_id in text and "not finished by its deadline, 2025-04-04T00:00:00Z" in text
    assert "it is queued" in text


def test_a_manual_runs_missed_deadline_sends_nothing(session, outbox) -> None:
    from airflow.utils.types import DagRunType

    _, deadline = _run_of_eid_month(session, DagRunType.MANUAL)

    assert _miss(session, deadline) == (True, None)
    assert outbox.messages == []


def test_a_backfill_runs_missed_deadline_sends_nothing(session, outbox) -> None:
    """README: backfill runs never alert (a backfill's past months miss their deadlines at once)."""
    from airflow.utils.types import DagRunType

    run, deadline = _run_of_eid_month(session, DagRunType.BACKFILL_JOB)
    assert run.run_type == "backfill" and deadline.deadline_time == datetime(2025, 4, 4, tzinfo=timezone.utc)

    assert _miss(session, deadline) == (True, None)
    assert outbox.messages == []


def test_a_run_triggered_through_the_rest_api_gets_its_deadline(session, monkeypatch) -> None:
    from sqlalchemy import select

    from airflow.models.dagrun import DagRun
    from airflow.models.deadline import Deadline

    _stored_dag(session)
    # Triggered at 00:00 on 1 April in Dhaka, a run's data interval is March (the month that ended).
    body = {"logical_date": EID_MONTH[1].isoformat()}
    with rest_api(monkeypatch) as client:
        response = client.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json=body)
    assert response.status_code == 200, response.text
    run_id = response.json()["dag_run_id"]
    try:
        deadlines = select(Deadline.deadline_time).join(DagRun).where(DagRun.run_id == run_id)
        assert session.scalars(deadlines).all() == [datetime(2025, 4, 4, tzinfo=timezone.utc)]
    finally:  # the API committed the run; leave the session's database as it was
        session.delete(session.scalars(select(DagRun).where(DagRun.run_id == run_id)).one())
        session.commit()
