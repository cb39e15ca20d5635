"""Whole runs of ``dms_monthly_billing`` through ``dag.test()`` over a small fixture database."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from include.dms_billing.billing_month import BillingMonth, billing_window
from include.dms_billing.columns import BILLABLE_COLUMNS, LIST_COLUMNS
from include.dms_billing.paths import client_month_paths
from include.dms_billing.run_report import collect
from tests.conftest import PROJECT
from tests.scenarios import Source, section2_cases

MONTH = BillingMonth(2023, 5)
pytestmark = pytest.mark.airflow


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_root: Path) -> Source:
    """Two good clients in two timezones and one whose data has an unmapped status."""
    src = Source()
    for client_id, code, tz in ((1, "DHAKA1", "Asia/Dhaka"), (2, "KOLKATA1", "Asia/Kolkata"), (3, "BROKEN", "Asia/Dhaka")):
        src.client(client_id, code, tz)
        section2_cases(src, client_id, billing_window(MONTH, tz))
    src.users[-1]["status"] = "on_leave"  # BROKEN's last user has no history: its status is used
    db = tmp_path / "dms.sqlite"
    src.load(sa.create_engine(f"sqlite:///{db}"))
    monkeypatch.setenv("AIRFLOW_CONN_DMS_SOURCE", f"sqlite:///{db}")
    return src


def _run(conf: dict):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_monthly_billing"]
    return dag.test(run_conf=conf)


def _task_states(run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}


def test_a_month_writes_every_clients_list(airflow_db: Path, source: Source, data_root: Path) -> None:
    run = _run({"billing_month": str(MONTH), "clients": ["DHAKA1", "KOLKATA1"]})

    assert run.state == "success", _task_states(run)
    for client_id, code in ((1, "DHAKA1"), (2, "KOLKATA1")):
        paths = client_month_paths(str(MONTH), code, data_root)
        parquet = pd.read_parquet(paths.billable_parquet)
        csv = pd.read_csv(paths.billable_csv, dtype=str, keep_default_na=False)
        expected = {
            uid: reason for uid, reason in source.expected.items()
            if reason and source.users[uid - 1]["client_id"] == client_id
        }
        assert list(parquet.columns) == BILLABLE_COLUMNS
        assert dict(zip(parquet["user_id"], parquet["billable_reason"])) == expected
        assert list(csv.columns) == LIST_COLUMNS
        assert dict(zip(csv["user_id"].astype(int), csv["billable_reason"])) == expected
        offset = "+06:00" if code == "DHAKA1" else "+05:30"
        stamps = [s for s in csv["last_login_at"] if s]
        assert stamps and all(s.endswith(offset) for s in stamps)
        assert paths.snapshot.exists()
    assert not client_month_paths(str(MONTH), "BROKEN", data_root).snapshot.exists()


def test_bad_data_stops_only_that_client(airflow_db: Path, source: Source, data_root: Path) -> None:
    run = _run({"billing_month": str(MONTH)})

    states = _task_states(run)
    assert run.state == "failed"
    assert states[("bill_client.validate", 0)] == "failed"  # BROKEN sorts first
    assert states[("bill_client.decide", 1)] == states[("bill_client.decide", 2)] == "success"
    outcomes = {o.client_code: o for o in collect(str(MONTH), ["BROKEN", "DHAKA1", "KOLKATA1"], data_root)}
    assert outcomes["BROKEN"].summary is None
    assert "validation failed" in outcomes["BROKEN"].problem
    broken = client_month_paths(str(MONTH), "BROKEN", data_root)
    assert not broken.billable_csv.exists() and not broken.billable_parquet.exists()
    report = Path(outcomes["BROKEN"].problem.rsplit("report: ", 1)[1])
    assert report.exists() and report.suffix == ".html"
    assert outcomes["DHAKA1"].summary.billable > 0 and outcomes["KOLKATA1"].summary.billable > 0
