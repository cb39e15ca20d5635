"""Airflow as a real service: PostgreSQL metadata database, api-server, scheduler, dag-processor and
triggerer as separate processes, LocalExecutor. One month is triggered through the REST API and
every email must arrive once at a real SMTP server; then every process must be gone.

Needs the local PostgreSQL server (skips without it, fails in CI).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from include.dms_billing.demo_dms import generate
from tests.conftest import PROJECT
from tests.servers import POSTGRES_URL, scratch_database
from tools.airflow_service import AirflowService, free_port
from tools.outbox_smtp import Outbox

pytestmark = pytest.mark.airflow

DAG_ID = "dms_monthly_billing"
CLIENTS = ("MEGHNA", "PADMA")  # demo clients 1 and 2, both with a plan in the default billing.yaml


def _kind(message) -> str:
    return message["X-Sokrio-Billing"].split(";")[0].strip()


def test_a_month_triggered_through_the_api_delivers_every_email_once(tmp_path: Path) -> None:
    dms = tmp_path / "dms.sqlite"
    generate(f"sqlite:///{dms}", seed=5, clients=2, users_per_client=40, logins_per_user_month=3)
    with scratch_database(POSTGRES_URL) as metadata_url, Outbox(tmp_path / "outbox") as outbox:
        env = {
            "AIRFLOW_CONN_DMS_SOURCE": f"sqlite:///{dms}",
            "AIRFLOW_CONN_SMTP_DEFAULT": outbox.connection_uri(),
            "DMS_BILLING_DATA": str(tmp_path / "data"),
            "DMS_BILLING_CONFIG": str(PROJECT / "include" / "config" / "billing.yaml"),
        }
        conn = metadata_url.render_as_string(hide_password=False)
        with AirflowService(tmp_path / "airflow", conn, env, free_port()) as service:
            run_id = service.trigger(DAG_ID, {"billing_month": "2023-05", "deliver": True})
            state = service.wait(DAG_ID, run_id, timeout=300)
            assert state == "success", service.task_states(DAG_ID, run_id)
            states = service.task_states(DAG_ID, run_id)
            assert states["bill_client.send_invoice[1]"] == "success", states
            pids = service.alive_pids()
            assert len(pids) >= 4
        deadline = time.monotonic() + 10
        while service.alive_pids() and time.monotonic() < deadline:  # reparented strays: reaped by init
            time.sleep(0.2)
        assert service.alive_pids() == set(), "processes left running"
        for process in service.processes.values():
            assert process.returncode is not None

        kinds = Counter(_kind(m) for m in outbox.messages)
        headers = [m["X-Sokrio-Billing"] for m in outbox.messages]
        assert kinds == {"list": 2, "invoice": 2, "finance": 1}, headers
        for client in CLIENTS:
            for kind in ("list", "invoice"):
                mine = [h for h in headers if h.startswith(kind) and f"client={client}" in h]
                assert len(mine) == 1, (client, kind, headers)
