"""Fixtures of the whole-DAG tests: a small DMS with three clients, their plans, and a DAG runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from tests.conftest import PROJECT
from tests.support.scenarios import Source, section2_cases

MAY = BillingMonth(2023, 5)


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_root: Path) -> Source:
    """Two good clients in two timezones and one whose data has an unmapped status; their plans."""
    src = Source()
    for client_id, code, tz in ((1, "DHAKA1", "Asia/Dhaka"), (2, "KOLKATA1", "Asia/Kolkata"), (3, "BROKEN", "Asia/Dhaka")):
        src.client(client_id, code, tz)
        section2_cases(src, client_id, billing_window(MAY, tz))
    src.users[-1]["status"] = "on_leave"  # BROKEN's last user has no history: its status is used
    db = tmp_path / "dms.sqlite"
    src.load(sa.create_engine(f"sqlite:///{db}"))
    config = {
        "clients": {
            code: {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}
            for code in ("DHAKA1", "KOLKATA1", "BROKEN")
        }
    }
    (tmp_path / "billing.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("DMS_BILLING_CONFIG", str(tmp_path / "billing.yaml"))
    monkeypatch.setenv("AIRFLOW_CONN_DMS_SOURCE", f"sqlite:///{db}")
    return src


def run_dag(conf: dict, dag_id: str = "dms_monthly_billing"):
    """One whole run through ``dag.test()``, task retries off (a re-run plays the retry) and
    without the deadline alert, as under ``airflow dags test`` (``airflow/deadline.py``)."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags[dag_id]
    dag.deadline = None
    for task in dag.tasks:
        task.retries = 0
    return dag.test(run_conf=conf)


