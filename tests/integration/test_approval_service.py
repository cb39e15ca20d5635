"""Finance approves a delivering month through Airflow as a service (LocalExecutor, REST API).

The approval waits under Required actions and finance is emailed; an answer without a login, or
from the data team, is refused; finance holds one client: the other's invoice goes out once, the
held one's does not, an alert names it and the ledger records who decided. A second run, which
nobody answers, is approved by the timeout's default. Needs the local PostgreSQL (skips without
it, fails in CI).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from include.dms_billing.demo.demo_dms import generate
from include.dms_billing.ledger.approvals import run_decision
from include.dms_billing.ledger.db import ledger_engine
from tests.support.configs import billing_config
from tests.support.servers import POSTGRES_URL, scratch_database
from tools import ui_screenshots
from tools.airflow_service import AirflowService, free_port
from tools.outbox_smtp import Outbox

pytestmark = pytest.mark.airflow

DAG_ID = "dms_monthly_billing"
APPROVAL = "approve_invoices"


def _wait_for_state(service: AirflowService, run_id: str, task_id: str, state: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while (found := service.task_states(DAG_ID, run_id).get(task_id)) != state:
        service.check_alive()
        assert time.monotonic() < deadline, f"{task_id} is {found}, not {state}"
        time.sleep(1)


def _headers(outbox: Outbox, kind: str) -> list[str]:
    tags = (m["X-Sokrio-Billing"] for m in outbox.messages)  # the notifier's request has none
    return [tag for tag in tags if tag and tag.startswith(kind)]


def test_finance_holds_a_client_and_a_run_nobody_answers_is_approved_by_default(tmp_path: Path) -> None:
    dms, config, data = tmp_path / "dms.sqlite", tmp_path / "billing.yaml", tmp_path / "data"
    generate(f"sqlite:///{dms}", seed=5, clients=2, users_per_client=40, logins_per_user_month=3)
    billing_config(config, enabled=True, on_timeout="approve", min_wait_minutes=30)
    with scratch_database(POSTGRES_URL) as metadata_url, scratch_database(POSTGRES_URL) as ledger_url, \
            Outbox(tmp_path / "outbox") as outbox:
        env = {
            "AIRFLOW_CONN_DMS_SOURCE": f"sqlite:///{dms}",
            "AIRFLOW_CONN_SMTP_DEFAULT": outbox.connection_uri(),
            "AIRFLOW_CONN_BILLING_DB": ledger_url.render_as_string(hide_password=False),
            "DMS_BILLING_DATA": str(data),
            "DMS_BILLING_CONFIG": str(config),
        }
        with AirflowService(tmp_path / "airflow", metadata_url.render_as_string(hide_password=False), env,
                            free_port()) as service:
            run_id = service.trigger(DAG_ID, {"billing_month": "2023-05", "deliver": True})
            _wait_for_state(service, run_id, APPROVAL, "awaiting_input")
            assert not _headers(outbox, "invoice")  # nothing is issued while finance has not answered
            asked = [m for m in outbox.messages if m["Subject"] == "Approve the invoices for 2023-05"]
            assert len(asked) == 1 and "finance@sokrio.example" in asked[0]["To"]
            html = asked[0].get_body(("html",)).get_content()
            assert "MEGHNA" in html and "PADMA" in html

            if not ui_screenshots.missing():  # what finance sees in the UI (skipped without Chromium)
                seen = ui_screenshots.take_approval(service.url, tmp_path / "ui", run_id, "finance",
                                                    service.password("finance"), ready="PADMA")
                page, form = seen.texts["approval"], seen.forms["approval"]
                assert "MEGHNA" in page and "Approve" in page and "Hold all" in page
                # holding nobody is an answer: the hold field is not required, Approve can be clicked
                assert "hold" in form.fields and form.required == set() and form.button_enabled, form
                assert "billable/billing_month=2023-05/" in page  # where the lists are,
                assert str(tmp_path) not in page  # without this machine's path

            path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL}/-1/hitlDetails"
            detail = service.api("GET", path, user="finance").json()
            assert "| MEGHNA" in detail["body"] and "| PADMA" in detail["body"]
            assert [u["id"] for u in detail["assigned_users"]] == ["finance"]
            answer = {"chosen_options": ["Approve"], "params_input": {"hold": ["PADMA"]}}
            assert httpx.patch(f"{service.url}/api/v2{path}", json=answer, timeout=30).status_code == 401
            assert service.api("PATCH", path, user="datateam", json=answer).status_code == 403
            response = service.api("PATCH", path, user="finance", json=answer)
            assert response.status_code == 200, response.text

            assert service.wait(DAG_ID, run_id, timeout=300) == "success", service.task_states(DAG_ID, run_id)
            states = service.task_states(DAG_ID, run_id)
            assert sorted(state for task, state in states.items() if task.startswith("bill_client.issue_invoice")) \
                == ["skipped", "success"]
            invoices = _headers(outbox, "invoice")
            assert len(invoices) == 1 and "client=MEGHNA" in invoices[0]
            held = [m for m in outbox.messages if "invoices held for PADMA" in m["Subject"]]
            assert len(held) == 1 and "finance@sokrio.example" in held[0]["Cc"]
            ledger = ledger_engine(ledger_url)
            decision = run_decision(ledger, run_id)
            assert decision.held == ("PADMA",) and decision.decided_by == "finance" and decision.asked
            shown = service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/report/xcomEntries/run_summary",
                                params={"deserialize": True, "stringify": False})  # the run's summary in the UI
            assert shown.json()["value"]["held"] == {"PADMA": "held by finance"}, shown.text

            # Releasing the held client: a run for it alone, which nobody answers in time.
            billing_config(config, min_wait_minutes=0)
            second = service.trigger(DAG_ID, {"billing_month": "2023-05", "clients": ["PADMA"], "deliver": True})
            assert service.wait(DAG_ID, second, timeout=300) == "success", service.task_states(DAG_ID, second)
            timed_out = run_decision(ledger, second)
            assert timed_out.held == () and timed_out.decided_by == "timeout"
            counts = Counter(h.split(";")[1].strip() for h in _headers(outbox, "invoice"))
            assert counts == {"client=MEGHNA": 1, "client=PADMA": 1}
