"""What each task of ``dms_monthly_billing`` does, given the plain values Airflow passes.

The DAG file only wires tasks; each task imports this module (inside the task, so parsing
stays fast) and calls one function. Here the connections, configuration and paths are looked
up, and bad data or configuration becomes a failure without retries (``fail_without_retry``).

Each function imports the steps it calls: a task runs in a process of its own, and the turn's
tasks must not pay for the pandas, Alembic and XlsxWriter that only a client's steps use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from include.dms_billing.airflow.resources import fail_without_retry, ledger, source_engine
from include.dms_billing.core.config import load_config
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.outputs.paths import ClientMonthPaths, client_month_paths
from include.dms_billing.outputs.storage import storage_path

RUN_SUMMARY_KEY = "run_summary"  # the report task's XCom: the run's summary, as the UI shows it


def _client(job: dict) -> tuple[ClientJob, ClientMonthPaths]:
    client = ClientJob.from_dict(job)
    return client, client_month_paths(client.billing_month, client.client_code)


def plan(billing_month: str | None, clients: list[str] | str | None, data_interval_start: datetime | None,
         run_type: Any = None, deliver: bool | None = None, resend: bool = False) -> list[dict]:
    """One job per client to bill, carrying the run's intent; the ledger's schema brought up to date first."""
    from include.dms_billing.airflow.params import run_intent, run_type_name
    from include.dms_billing.core.jobs import (
        check_backfill_conf,
        plan_clients,
        requested_codes,
        resolve_billing_month,
    )
    from include.dms_billing.ledger.db import migrate
    from include.dms_billing.source.clients import fetch_clients

    with fail_without_retry():
        check_backfill_conf(billing_month, run_type_name(run_type))
        month = resolve_billing_month(billing_month, data_interval_start)
        codes = requested_codes(clients)
        config = load_config()  # a broken configuration stops the run before any client starts
    with fail_without_retry():
        jobs = plan_clients(fetch_clients(source_engine()), codes, month, config,
                            run_intent(deliver, resend, run_type))
    migrate(ledger())
    return [{"job": job.to_dict()} for job in jobs]


def extract(job: dict) -> int:
    from include.dms_billing.flows import list_steps

    client, paths = _client(job)
    return list_steps.extract_step(source_engine(), client, paths)


def validate(job: dict) -> str:
    from include.dms_billing.flows import list_steps

    client, paths = _client(job)
    with fail_without_retry():
        outcome = list_steps.validate_or_stop(client, paths, load_config())
    return str(outcome.report_path)


def decide(job: dict, report: str, run_id: str) -> dict:
    """The client's list; for a month already billed (sealed), a recomputation kept beside it as
    a revision when it differs, and the data team and finance told once per revision. A client
    without a plan keeps its list (it goes out without a price) and the data team is told now."""
    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.flows import delivery_steps, list_steps, plan_alert

    client, paths = _client(job)
    engine, config = ledger(), load_config()
    with fail_without_retry():
        summary, found = list_steps.decide_month(engine, client, paths, config, storage_path(report), run_id)
    plan_alert.missing_plan_alert_step(client, config, run_id, send_message)
    if found is None:
        return {"billable": summary.billable, **summary.by_reason, "sealed": False}
    delivery_steps.revision_alert_step(engine, client, paths, config, run_id, found, send_message)
    return {"billable": summary.billable, **summary.by_reason, "sealed": True, "revision": found.revision}


def issue_invoice(job: dict, run_id: str) -> dict:
    """The client's invoice, unless finance held it in this run (the task is then skipped)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from include.dms_billing.flows import approval_steps, delivery_steps

    client, paths = _client(job)
    engine = ledger()
    held = approval_steps.held_by(engine, client, run_id)
    if held is not None:
        raise AirflowSkipException(f"{client.client_code} {client.billing_month}: invoice held by "
                                   f"{held.decided_by}; approve it by re-running the month for this client")
    with fail_without_retry():
        invoice = delivery_steps.issue_invoice_step(engine, client, paths, load_config(), run_id).invoice
    return {"invoice_number": invoice.invoice_number, "total": str(invoice.total), "currency": invoice.currency}


def deliver(kind: str, job: dict, run_id: str) -> str | None:
    """Send the client's list or invoice unless the ledger says it went already (its Message-ID),
    or, when the run does not deliver, keep the email unsent under ``archive/`` (its path)."""
    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.flows import delivery_steps

    client, paths = _client(job)
    with fail_without_retry():
        if not client.intent.deliver:
            return delivery_steps.archive_step(ledger(), client, paths, load_config(), kind, run_id)
        step = delivery_steps.send_list_step if kind == DeliveryKind.LIST else delivery_steps.send_invoice_step
        return step(ledger(), client, paths, load_config(), run_id, client.intent.resend, send_message).message_id


def finance_summary(plan: list[dict], run_id: str) -> str | None:
    """The month's finance CSV, sent when the run delivers (every job carries the same intent)."""
    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.flows import delivery_steps

    if not plan:
        return None
    first = ClientJob.from_dict(plan[0]["job"])
    path, _ = delivery_steps.finance_summary_step(
        ledger(), first.billing_month, load_config(),
        deliver=first.intent.deliver, run_id=run_id, resend=first.intent.resend, send=send_message,
    )
    return path


def report(plan: list[dict], run_id: str) -> None:
    """Print every client's counts, warnings and outputs, hand the run's summary to the UI (the
    XCom ``run_summary``), then fail the run if any client has no list. The clients finance held
    in this run are named, with who held them (the ledger's approval decision)."""
    from include.dms_billing.ledger.approvals import run_decision
    from include.dms_billing.outputs.run_report import collect, render, summary

    if not plan:
        return
    month = plan[0]["job"]["billing_month"]
    outcomes = collect(month, [p["job"]["client_code"] for p in plan])
    decision = run_decision(ledger(), run_id)
    held = {code: f"held by {decision.decided_by}" for code in decision.held} if decision else {}
    print(render(month, outcomes, held))
    _show_in_ui(RUN_SUMMARY_KEY, summary(month, outcomes, held))
    failed = [f"{o.client_code}: {o.problem}" for o in outcomes if o.summary is None]
    if failed:
        with fail_without_retry():
            raise ValueError(f"{len(failed)} client(s) not billed for {month}:\n" + "\n".join(failed))


def _show_in_ui(key: str, value: dict) -> None:
    """An XCom of the running task, pushed now so that it is there even when the task then fails:
    the UI shows it in the task instance's XCom tab (the Task SDK cannot set a run's note)."""
    from airflow.sdk import get_current_context

    get_current_context()["ti"].xcom_push(key, value)


def record_objections(params: dict, run_id: str) -> list[dict]:
    """The objection form (or its bulk CSV) recorded in the ledger, or refused with the reasons;
    checked against each month's sealed list (the files verified against the seal first)."""
    from include.dms_billing.ledger import objections
    from include.dms_billing.ledger.db import migrate

    with fail_without_retry():
        if params.get("csv_path"):
            requests = objections.requests_from_csv(storage_path(params["csv_path"]).read_text(encoding="utf-8"))
        else:
            # a field left empty in the form may come as null: refused below as missing, by name
            text = {name: (params[name] or "").strip() for name in ("client_code", "billing_month")}
            requests = [objections.ObjectionRequest(
                **text, user_ids=objections.parse_user_ids(params["user_ids"]),
                reason=params["reason"] or "", decided_by=params["decided_by"] or "",
                direction=params["direction"],
            )]
        engine = ledger()
        migrate(engine)
        recorded = objections.record_objections(engine, requests, objections.sealed_billed_ids(engine, run_id), run_id)
    return [{"objection_id": r.objection_id, "client_code": r.request.client_code,
             "billing_month": r.request.billing_month, "users": len(r.request.user_ids),
             "amount": str(r.amount), "objected_invoice": r.invoice_number} for r in recorded]


def wait_for_turn(plan: list[dict], ti, dag_run):
    """The run's turn to bill (``run_turns``): done when no other live run holds it or goes first."""
    from airflow.sdk import PokeReturnValue

    from include.dms_billing.airflow.resources import turn_context
    from include.dms_billing.ledger.run_turns import take_turn

    if not plan:
        return PokeReturnValue(is_done=True, xcom_value="no client to bill: no turn needed")
    month = plan[0]["job"]["billing_month"]
    decision = take_turn(ledger(), dag_run.run_id, month, **turn_context(ti, dag_run))
    print(f"{month}: {decision.reason}")
    return PokeReturnValue(is_done=decision.granted, xcom_value=decision.reason)


def release_turn(run_id: str) -> bool:
    from include.dms_billing.ledger.run_turns import release_turn as release

    return release(ledger(), run_id)
