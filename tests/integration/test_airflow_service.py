"""Airflow as a real service: PostgreSQL metadata database, api-server, scheduler, dag-processor and
triggerer as separate processes, LocalExecutor. One month is triggered through the REST API and
every email must arrive once at a real SMTP server; headless Chromium then looks at the UI; at
the end every process must be gone.

Needs the local PostgreSQL server, and Debian's chromium and chromium-driver for the UI (each
skips without it, fails in CI).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from include.dms_billing.demo.demo_dms import generate
from tests.support.configs import billing_config
from tests.support.servers import POSTGRES_URL, in_ci, scratch_database
from tools import ui_screenshots
from tools.airflow_service import AirflowService, free_port
from tools.outbox_smtp import Outbox

pytestmark = pytest.mark.airflow

DAG_ID = "dms_monthly_billing"
CLIENTS = ("MEGHNA", "PADMA")  # demo clients 1 and 2, both with a plan in the default billing.yaml


@dataclass
class ServiceRun:
    service: AirflowService
    outbox: Outbox
    run_id: str
    state: str


def _kind(message) -> str:
    return message["X-Sokrio-Billing"].split(";")[0].strip()


@pytest.fixture(scope="module")
def service_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceRun]:
    """The service, up, after one month triggered through the API has finished; then stopped."""
    tmp_path = tmp_path_factory.mktemp("service")
    dms = tmp_path / "dms.sqlite"
    generate(f"sqlite:///{dms}", seed=5, clients=2, users_per_client=40, logins_per_user_month=3)
    with scratch_database(POSTGRES_URL) as metadata_url, Outbox(tmp_path / "outbox") as outbox:
        env = {
            "AIRFLOW_CONN_DMS_SOURCE": f"sqlite:///{dms}",
            "AIRFLOW_CONN_SMTP_DEFAULT": outbox.connection_uri(),
            "DMS_BILLING_DATA": str(tmp_path / "data"),
            "DMS_BILLING_CONFIG": str(billing_config(tmp_path / "billing.yaml", enabled=False)),  # approval: its own test
        }
        conn = metadata_url.render_as_string(hide_password=False)
        service = AirflowService(tmp_path / "airflow", conn, env, free_port())
        with service:
            run_id = service.trigger(DAG_ID, {"billing_month": "2023-05", "deliver": True})
            state = service.wait(DAG_ID, run_id, timeout=300)
            yield ServiceRun(service, outbox, run_id, state)
        deadline = time.monotonic() + 10
        while service.alive_pids() and time.monotonic() < deadline:  # reparented strays: reaped by init
            time.sleep(0.2)


def test_a_month_triggered_through_the_api_delivers_every_email_once(service_run: ServiceRun) -> None:
    service, run_id = service_run.service, service_run.run_id
    assert service_run.state == "success", service.task_states(DAG_ID, run_id)
    states = service.task_states(DAG_ID, run_id)
    assert states["bill_client.deliver_invoice[1]"] == "success", states
    assert len(service.alive_pids()) >= 4

    kinds = Counter(_kind(m) for m in service_run.outbox.messages)
    headers = [m["X-Sokrio-Billing"] for m in service_run.outbox.messages]
    assert kinds == {"list": 2, "invoice": 2, "finance": 1}, headers
    for client in CLIENTS:
        for kind in ("list", "invoice"):
            mine = [h for h in headers if h.startswith(kind) and f"client={client}" in h]
            assert len(mine) == 1, (client, kind, headers)


def test_every_mapped_client_task_is_labelled_with_its_client_code(service_run: ServiceRun) -> None:
    """What the grid, the task list and the logs show for a mapped task: the client, not 0 and 1."""
    response = service_run.service.api(
        "GET", f"/dags/{DAG_ID}/dagRuns/{service_run.run_id}/taskInstances", params={"limit": 1000})
    mapped = [ti for ti in response.json()["task_instances"] if ti["map_index"] >= 0]
    labels: dict[int, set[str]] = {}
    for ti in mapped:
        labels.setdefault(ti["map_index"], set()).add(ti["rendered_map_index"])
    assert {ti["task_id"] for ti in mapped} >= {"bill_client.wait_for_month_close", "bill_client.deliver_invoice"}
    assert sorted(label for values in labels.values() for label in values) == sorted(CLIENTS), labels


def test_the_ui_shows_the_dag_its_docs_its_run_and_the_objection_form(
    service_run: ServiceRun, tmp_path: Path
) -> None:
    if reason := ui_screenshots.missing():
        if in_ci():
            pytest.fail(f"CI=true, so the UI check must run: {reason}")
        pytest.skip(reason)
    texts = ui_screenshots.take(service_run.service.url, tmp_path, service_run.run_id)

    for name in ("dag", "dag_docs", "run", "objection_dag", "objection_trigger_form"):
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000, name
    assert "Latest Run" in texts["dag"]
    assert "Nothing is ever sent or invoiced twice" in texts["dag_docs"]  # the DAG's doc_md
    assert "bill_client.deliver_invoice" in texts["run"]
    form = texts["objection_trigger_form"]
    for field in ("Client code", "Billing month", "User ids", "Reason", "Decided by", "Credit or debit",
                  "Bulk CSV file"):
        assert field in form, (field, form)


def test_every_process_stops(service_run: ServiceRun) -> None:
    """Runs last in this module: stops the service early and checks nothing is left."""
    service = service_run.service
    service.stop()
    deadline = time.monotonic() + 10
    while service.alive_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert service.alive_pids() == set(), "processes left running"
    for process in service.processes.values():
        assert process.returncode is not None
