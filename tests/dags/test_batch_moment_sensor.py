"""The sensor that works out a batch's moment (month close, invoice day) and waits for it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from billing_sensors import WaitForBatchMoment

from include.dms_billing.core.batches import BatchKey, ClientBatch
from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.jobs import ClientJob
from tests.conftest import PROJECT

HEAVY = ("pandas", "pyarrow", "great_expectations", "weasyprint", "xlsxwriter", "alembic", "jinja2")
WAIT_PROBE = """
import json, sys
from billing_sensors import WaitForBatchMoment
already = set(sys.modules)
planned = json.loads(sys.argv[1])
moments = ("month_closes_at", "invoice_day")
targets = [WaitForBatchMoment(task_id=m, **planned, moment=m).execute({}) for m in moments]
print(json.dumps({"targets": targets, "loaded": sorted(m for m in json.loads(sys.argv[2])
                                                       if m in sys.modules and m not in already)}))
"""


def _client(billing_month: str, tz: str, code: str = "WEST") -> ClientJob:
    return ClientJob(
        client_id=1, client_code=code, client_name="West Ltd", timezone=tz, month=BillingMonth.parse(billing_month),
        correspondence_email="billing@west.example", account_manager_email=None,
    )


def _job(billing_month: str, tz: str = "America/New_York", *more: ClientJob) -> dict:
    """A batch of one client (and ``more``) and the run's facts, as ``plan_run`` hands them to the batch's tasks."""
    first = _client(billing_month, tz)
    return {"batch": ClientBatch((first, *more), BatchKey(None, None)).to_dict(), "run": first.run.to_dict()}


def _sensor(planned: dict, moment: str) -> WaitForBatchMoment:
    return WaitForBatchMoment(task_id=f"wait_{moment}", **planned, moment=moment)


def test_a_moment_in_the_future_defers_to_the_triggerer_until_the_clients_local_month_end():
    this_month = datetime.now(timezone.utc).strftime("%Y-%m")
    with pytest.raises(TaskDeferred) as deferred:
        _sensor(_job(this_month), "month_closes_at").execute({})
    moment = deferred.value.trigger.moment
    assert moment.utcoffset().total_seconds() == 0
    assert (moment.day, moment.hour) in {(1, 4), (1, 5)}  # midnight in New York, in UTC (summer or winter)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs == {"target": moment.isoformat()}


def test_a_moment_already_past_returns_at_once_and_says_what_it_was():
    assert _sensor(_job("2023-11"), "month_closes_at").execute({}) == "2023-12-01T05:00:00+00:00"
    # The default calendar is Bangladesh's: Friday 1 and Saturday 2 December 2023 are its weekend.
    assert _sensor(_job("2023-11"), "invoice_day").execute({}) == "2023-12-03T00:00:00-05:00"


def test_a_batch_waits_once_for_the_latest_of_its_clients():
    batch = _job("2023-11", "Asia/Dhaka", _client("2023-11", "America/New_York", "WEST2"))
    assert _sensor(batch, "month_closes_at").execute({}) == "2023-12-01T05:00:00+00:00"
    assert _sensor(batch, "invoice_day").execute({}) == "2023-12-03T00:00:00-05:00"


def test_a_client_whose_timezone_is_unknown_fails_without_retry():
    with pytest.raises(AirflowFailException, match="Mars/Olympus"):
        _sensor(_job("2023-11", tz="Mars/Olympus"), "month_closes_at").execute({})


def test_a_batch_of_refused_clients_fails_naming_each_of_them():
    batch = _job("2023-11", "Mars/Olympus", _client("2023-11", "Venus/Maxwell", "WEST2"))
    with pytest.raises(AirflowFailException, match="Mars/Olympus.*Venus/Maxwell"):
        _sensor(batch, "month_closes_at").execute({})


def test_an_unknown_moment_is_refused_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="month_closes_at"):
        _sensor(_job("2023-11"), "month_closed")


def test_a_wait_whose_moment_has_passed_imports_none_of_the_heavy_libraries():
    """In a process of its own, as a worker runs it: no pandas, Alembic, XlsxWriter or Jinja."""
    out = subprocess.run([sys.executable, "-c", WAIT_PROBE, json.dumps(_job("2023-11")), json.dumps(HEAVY)],
                         check=True, capture_output=True, text=True, cwd=PROJECT)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe == {"targets": ["2023-12-01T05:00:00+00:00", "2023-12-03T00:00:00-05:00"], "loaded": []}
