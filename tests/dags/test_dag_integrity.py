"""DAG validation: every DAG imports cleanly, fast, without connections or heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import PROJECT

# Runs in a fresh interpreter so that sys.modules shows what parsing imported (beyond Airflow's
# own imports), with every socket connect and SQLAlchemy engine creation turned into an error.
PARSE_PROBE = """
import json, socket, sys, time
import sqlalchemy
from airflow.dag_processing.dagbag import DagBag
def refuse(*a, **k):
    raise RuntimeError("DAG parsing tried to open a connection")
socket.socket.connect = refuse
sqlalchemy.create_engine = refuse
HEAVY = ("pandas", "pyarrow", "great_expectations", "weasyprint", "xlsxwriter", "matplotlib")
already = {m for m in HEAVY if m in sys.modules}
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dag_ids),
    "heavy": sorted(m for m in HEAVY if m in sys.modules and m not in already),
    "seconds": time.perf_counter() - started,
}))
"""


def _parse() -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(PROJECT / "dags")],
        check=True, capture_output=True, text=True, cwd=PROJECT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dags_import_without_errors_connections_or_heavy_imports() -> None:
    parsed = _parse()
    assert parsed["errors"] == {}
    assert "dms_monthly_billing" in parsed["dags"]
    assert parsed["heavy"] == [], f"heavy modules imported at parse time: {parsed['heavy']}"


def test_schedule_yields_calendar_months_in_dhaka() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_monthly_billing"]
    timetable = coerce_to_core_timetable(dag.timetable)
    dhaka = ZoneInfo("Asia/Dhaka")
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    last = None
    months = []
    for _ in range(14):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        start, end = info.data_interval.start.astimezone(dhaka), info.data_interval.end.astimezone(dhaka)
        assert (start.day, start.hour, start.minute) == (1, 0, 0)
        assert (end.day, end.hour, end.minute) == (1, 0, 0)
        assert (end - start) >= timedelta(days=28) and end.month == start.month % 12 + 1
        assert info.run_after == info.data_interval.end  # runs when the month has ended
        months.append(f"{start:%Y-%m}")
        last = info.data_interval
    assert months[0] == "2023-04" and months[-1] == "2024-05"
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert set(dag.params) >= {"billing_month", "clients", "deliver", "resend"}
    assert datetime(2023, 4, 1, tzinfo=dhaka) == dag.start_date


def test_a_clients_invoice_waits_for_its_list_to_be_out() -> None:
    """The invoice is built from the list the client got: a list that failed to go out (a
    refused email, a mail outage) holds the invoice back (inside a batch, the invoices take only
    the clients whose list went out: ``listed``)."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_monthly_billing"]
    in_group = {t for t in dag.get_task("bill_batch.wait_for_invoice_day").upstream_task_ids if "." in t}
    assert in_group == {"bill_batch.deliver_lists"}  # besides plan_run, which maps the batches
    invoices = dag.get_task("bill_batch.issue_and_deliver_invoices")
    assert {"bill_batch.wait_for_invoice_day", "bill_batch.deliver_lists"} <= invoices.upstream_task_ids
    assert invoices.op_kwargs["listed"].operator.task_id == "bill_batch.deliver_lists"


def test_the_dms_and_the_mail_relay_are_reached_through_pools() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_monthly_billing"]
    pools = {task.task_id: task.pool for task in dag.tasks}
    assert pools["bill_batch.decide_lists"] == "dms_source"
    assert pools["bill_batch.deliver_lists"] == pools["bill_batch.issue_and_deliver_invoices"] == "smtp"
    assert dag.get_task("bill_batch.deliver_lists").retries >= 2 and dag.get_task("finance_summary").retries >= 2
