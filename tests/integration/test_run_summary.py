"""The run's summary where the UI shows it: the report task's XCom ``run_summary`` (its task
instance's XCom tab), after whole runs through ``dag.test()``: each client's counts or failure,
the users whose status came from the current value, a sealed list's revision, and the held
clients. It is there when the report task fails too (a client without a list), which is when
it matters most.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import billing_window
from include.dms_billing.outputs.billable_list import read_summary
from include.dms_billing.outputs.paths import client_month_paths
from tests.integration.conftest import MAY, run_dag
from tests.support.rest_api import rest_api
from tests.support.scenarios import Source, naive

pytestmark = pytest.mark.airflow

NOT_BILLED = 3  # DHAKA1's user 3: inactive, its last login just before May; a May login bills it


def _summary(run, monkeypatch: pytest.MonkeyPatch) -> dict:
    """What the UI's XCom tab shows for the report task of ``run``: the REST API's XCom entry,
    deserialized, as the tab asks for it."""
    path = f"/api/v2/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/report/xcomEntries/run_summary"
    with rest_api(monkeypatch) as client:
        response = client.get(path, params={"deserialize": True, "stringify": False})
    assert response.status_code == 200, response.text
    return response.json()["value"]


def _late_login(source: Source, user_id: int) -> None:
    """A May login the DMS recorded after May was billed."""
    at = billing_window(MAY, "Asia/Dhaka").start + timedelta(days=10)
    insert = "INSERT INTO user_logins (id, user_id, logged_in_at, channel) VALUES (:id, :uid, :at, 'app')"
    with sa.create_engine(os.environ["AIRFLOW_CONN_DMS_SOURCE"]).begin() as conn:
        conn.execute(sa.text(insert), dict(id=len(source.logins) + 1, uid=user_id, at=naive(at)))


def test_the_runs_summary_names_each_clients_counts_and_warnings(
    airflow_db, source: Source, outbox, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = {"billing_month": str(MAY), "clients": ["BROKEN", "DHAKA1"], "deliver": True}
    run = run_dag(conf)

    assert run.state == "failed"  # BROKEN gets no list: the report task fails, its summary is there
    summary = _summary(run, monkeypatch)
    assert summary["billing_month"] == str(MAY) and summary["held"] == {}
    assert summary["clients"]["BROKEN"]["result"].startswith("FAILED: validation failed")
    listed = read_summary(client_month_paths(str(MAY), "DHAKA1", data_root))
    assert summary["clients"]["DHAKA1"] == {
        "users": listed.users_in_snapshot, "billable": listed.billable, **listed.by_reason,
        "status_from_current": listed.status_from_current, "result": "ok; list sealed (billed)",
    }
    assert listed.status_from_current > 0
    assert summary["warnings"] == [
        f"DHAKA1: {listed.status_from_current} users without a status change before the month's end: "
        "status at month end taken from the current status (status_source=current)"]

    _late_login(source, NOT_BILLED)
    rerun = run_dag({**conf, "clients": ["DHAKA1"]})

    assert rerun.state == "success"
    [_, revised] = _summary(rerun, monkeypatch)["warnings"]
    assert revised.startswith("DHAKA1: sealed list kept; recomputed differs: revision ")
    assert revised.endswith("(1 added, 0 removed, 0 reason changed); invoice unchanged")
