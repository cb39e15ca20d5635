"""The monthly DAG's deadline alert: what it is made of, and the deadline its reference gives a
month whose first working day comes late (after Eid). The scheduler's side of it, a missed
deadline emailing the data team, is in tests/integration/test_deadline_alert.py."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk import SyncCallback

from include.dms_billing.airflow.deadline import MonthRunDeadline, month_run_deadline
from tests.conftest import PROJECT

# The March 2025 run: its data interval starts at 00:00 on 1 March in Dhaka. Eid al-Fitr is 31 March
# to 2 April, so March's invoice day is 3 April.
EID_MONTH_START = datetime(2025, 3, 1, tzinfo=ZoneInfo("Asia/Dhaka"))


class _RunStart:
    """Stands in for the scheduler's session: the run's data interval start, as the query asks."""

    def __init__(self, start: datetime | None) -> None:
        self.start = start

    def scalar(self, query: object) -> datetime | None:
        return self.start


def _deadline(start: datetime | None) -> datetime | None:
    return MonthRunDeadline()._evaluate_with(session=_RunStart(start), dag_id="dms_monthly_billing",
                                             run_id="scheduled__2025-02-28T18:00:00+00:00")


def test_the_monthly_dag_has_one_deadline_alert_for_the_data_team() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_monthly_billing"]
    [alert] = dag.deadline
    assert isinstance(alert.reference, MonthRunDeadline)
    assert alert.interval == timedelta(0)  # the reference is the deadline, margin included
    assert isinstance(alert.callback, SyncCallback)
    assert alert.callback.path == "include.dms_billing.airflow.alerts.deadline_missed"


def test_a_month_after_eid_gets_the_deadline_of_its_late_invoice_day() -> None:
    # 00:00 on 3 April at UTC-12 is 12:00 UTC; the shipped configuration adds 12 hours.
    assert _deadline(EID_MONTH_START) == datetime(2025, 4, 4, tzinfo=timezone.utc)
    # May 2023 is invoiced on 1 June, a working day: its deadline is the 2nd, 00:00 UTC.
    may = datetime(2023, 5, 1, tzinfo=ZoneInfo("Asia/Dhaka"))
    assert _deadline(may) == datetime(2023, 6, 2, tzinfo=timezone.utc)


def test_a_run_without_a_data_interval_or_configuration_gets_no_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _deadline(None) is None
    (tmp_path / "billing.yaml").write_text("deadline: {after_invoice_day_hours: 0}\n", encoding="utf-8")
    monkeypatch.setenv("DMS_BILLING_CONFIG", str(tmp_path / "billing.yaml"))
    assert _deadline(EID_MONTH_START) is None  # plan_run fails on this configuration and alerts


def test_airflow_dags_test_runs_the_dag_without_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its runs are manual (never alerted), and Airflow 3.3.2's dag.test() fails a successful
    run of a DAG with a deadline (apache/airflow#73428)."""
    monkeypatch.setattr(sys, "argv", ["airflow", "dags", "test", "dms_monthly_billing"])
    assert month_run_deadline() is None
