"""Airflow as a real service: PostgreSQL metadata database, api-server, scheduler, dag-processor and
triggerer as separate processes, LocalExecutor. One month is triggered through the REST API, as
the named user ``datateam``, and every email must arrive once at a real SMTP server; nobody gets
in without logging in, and ``finance`` gets only what its role allows; headless Chromium then
logs in and looks at the UI, in Dhaka time, and records an objection through the objection DAG's
trigger form, typed in as staff would; at the end every process must be gone.

Needs the local PostgreSQL server, and Debian's chromium and chromium-driver for the UI (each
skips without it, fails in CI).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest

from include.dms_billing.demo.demo_dms import generate
from include.dms_billing.outputs.paths import client_month_paths
from tests.support.configs import billing_config
from tests.support.servers import POSTGRES_URL, scratch_database, unavailable
from tests.support.services import assert_nothing_left
from tools import ui_screenshots
from tools.airflow_service import AirflowService, free_port
from tools.outbox_smtp import Outbox

pytestmark = pytest.mark.airflow

DAG_ID = "dms_monthly_billing"
OBJECTION_DAG = "dms_record_objection"
CLIENTS = ("MEGHNA", "PADMA")  # demo clients 1 and 2, both with a plan in the default billing.yaml


@dataclass
class ServiceRun:
    service: AirflowService
    outbox: Outbox
    run_id: str
    state: str
    data: Path  # DMS_BILLING_DATA


def _kind(message) -> str:
    return message["X-Sokrio-Billing"].split(";")[0].strip()


@pytest.fixture(scope="module")
def service_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceRun]:
    """The service, up, after one month triggered through the API has finished; then stopped, and
    every process must be gone (checked here, whatever test ran last)."""
    tmp_path = tmp_path_factory.mktemp("service")
    dms, data = tmp_path / "dms.sqlite", tmp_path / "data"
    generate(f"sqlite:///{dms}", seed=5, clients=2, users_per_client=40, logins_per_user_month=3)
    with scratch_database(POSTGRES_URL) as metadata_url, Outbox(tmp_path / "outbox") as outbox:
        env = {
            "AIRFLOW_CONN_DMS_SOURCE": f"sqlite:///{dms}",
            "AIRFLOW_CONN_SMTP_DEFAULT": outbox.connection_uri(),
            "DMS_BILLING_DATA": str(data),
            "DMS_BILLING_CONFIG": str(billing_config(tmp_path / "billing.yaml", enabled=False)),  # approval: its own test
        }
        conn = metadata_url.render_as_string(hide_password=False)
        service = AirflowService(tmp_path / "airflow", conn, env, free_port())
        with service:
            run_id = service.trigger(DAG_ID, {"billing_month": "2023-05", "deliver": True})
            state = service.wait(DAG_ID, run_id, timeout=300)
            yield ServiceRun(service, outbox, run_id, state, data)
        assert_nothing_left(service)


def test_a_month_triggered_through_the_api_delivers_every_email_once(service_run: ServiceRun) -> None:
    service, run_id = service_run.service, service_run.run_id
    assert service_run.state == "success", service.task_states(DAG_ID, run_id)
    states = service.task_states(DAG_ID, run_id)
    assert states["bill_batch.issue_and_deliver_invoices[1]"] == "success", states
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
    assert {ti["task_id"] for ti in mapped} >= {"bill_batch.wait_for_month_close", "bill_batch.issue_and_deliver_invoices"}
    assert sorted(label for values in labels.values() for label in values) == sorted(CLIENTS), labels


def test_the_run_says_who_triggered_it(service_run: ServiceRun) -> None:
    response = service_run.service.api("GET", f"/dags/{DAG_ID}/dagRuns/{service_run.run_id}")
    assert response.json()["triggering_user_name"] == "datateam", response.text


def test_nobody_gets_in_without_logging_in(service_run: ServiceRun) -> None:
    url = service_run.service.url
    assert httpx.get(f"{url}/api/v2/dags/{DAG_ID}", timeout=10).status_code == 401
    assert httpx.get(f"{url}/auth/token", timeout=10).status_code == 403  # the all-admins token: off
    wrong = {"username": "finance", "password": "not-the-password"}
    assert httpx.post(f"{url}/auth/token", json=wrong, timeout=10).status_code == 401


def test_finance_sees_the_runs_and_may_answer_approvals_but_not_see_connections(
    service_run: ServiceRun,
) -> None:
    """``finance`` has the simple auth manager's ``user`` role: the lowest that may answer a
    human-in-the-loop task. That role may also trigger and clear runs (the simple auth manager
    has no role between reading DAGs and changing them), so only what it forbids is checked."""
    service, run_id = service_run.service, service_run.run_id
    assert service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}", user="finance").status_code == 200
    answer = service.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/plan_run/-1/hitlDetails",
                         user="finance", json={"chosen_options": ["Approve"]})
    # past the role check (403): plan_run just is no approval task
    assert answer.status_code == 404 and "Human-in-the-loop detail does not exist" in answer.text, answer.text
    for path in ("/connections", "/variables"):  # the DMS and SMTP passwords, and settings: op and up
        assert service.api("GET", path, user="finance").status_code == 403, path


def _in_dhaka(timestamp: str) -> str:
    """A REST API timestamp as the UI shows it in Asia/Dhaka."""
    return datetime.fromisoformat(timestamp).astimezone(ZoneInfo("Asia/Dhaka")).strftime("%Y-%m-%d %H:%M:%S")


def _objection_runs(service: AirflowService) -> list[dict]:
    response = service.api("GET", f"/dags/{OBJECTION_DAG}/dagRuns")
    return response.json()["dag_runs"] if response.status_code == 200 else []


def test_the_ui_shows_the_dag_its_docs_its_run_and_the_objection_form(
    service_run: ServiceRun, tmp_path: Path
) -> None:
    if reason := ui_screenshots.missing():
        unavailable("the UI check", reason)
    service = service_run.service
    password = service.password("datateam")
    meghna = client_month_paths("2023-05", "MEGHNA", service_run.data)
    billed = pd.read_parquet(meghna.billable_parquet)["user_id"]
    objection = {"client_code": "MEGHNA", "billing_month": "2023-05",
                 "user_ids": "\n".join(str(uid) for uid in sorted(billed)[:2]),  # one per line, as pasted
                 "reason": "duplicate accounts", "decided_by": "finance@sokrio.example"}
    pages = ui_screenshots.take(service.url, tmp_path, service_run.run_id, "datateam", password, objection,
                                submit=True)
    texts = pages.texts

    for name in ("dag", "dag_docs", "run", "task_instances", "objection_dag", "objection_trigger_form"):
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000, name
    assert "Latest Run" in texts["dag"]
    assert "Nothing is ever sent or invoiced twice" in texts["dag_docs"]  # the DAG's doc_md
    assert "bill_batch.issue_and_deliver_invoices" in texts["run"]
    for client in CLIENTS:  # the run's task list names each mapped task's client, not 0 and 1
        assert client in texts["task_instances"], (client, texts["task_instances"][:1500])
    assert "datateam" in texts["run"]  # Triggering User
    started = service.api("GET", f"/dags/{DAG_ID}/dagRuns/{service_run.run_id}").json()["start_date"]
    assert "+06:00" in texts["dag"]  # the timezone button of the navigation bar
    assert _in_dhaka(started) in texts["run"], (started, texts["run"][:1500])
    form = texts["objection_trigger_form"]
    for field in ("Client code", "Billing month", "User ids", "Reason", "Decided by", "Credit or debit",
                  "Bulk CSV file"):
        assert field in form, (field, form)

    # The objection form: ids in a textarea; only the direction (it has a default) marked required,
    # as a bulk CSV needs no other field; Trigger enabled, and once typed in, it records the objection.
    opened, filled = pages.forms["objection_trigger_form"], pages.forms["objection_trigger_form_filled"]
    assert opened.fields["user_ids"] == "textarea", opened
    assert opened.required == {"direction"} and opened.button_enabled, opened
    assert filled.button_enabled, filled
    deadline = time.monotonic() + 30
    while not (runs := _objection_runs(service)) and time.monotonic() < deadline:
        time.sleep(0.5)
    [run] = runs
    assert run["triggering_user_name"] == "datateam"
    assert {key: run["conf"][key] for key in objection} == objection, run["conf"]
    assert service.wait(OBJECTION_DAG, run["dag_run_id"], timeout=180) == "success", \
        service.task_states(OBJECTION_DAG, run["dag_run_id"])
    xcom = f"/dags/{OBJECTION_DAG}/dagRuns/{run['dag_run_id']}/taskInstances/record/xcomEntries/return_value"
    recorded = service.api("GET", xcom, params={"deserialize": True, "stringify": False})
    [entry] = recorded.json()["value"]
    assert (entry["client_code"], entry["billing_month"], entry["users"]) == ("MEGHNA", "2023-05", 2), entry

