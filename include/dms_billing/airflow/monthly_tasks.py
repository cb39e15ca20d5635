"""What each task of ``dms_monthly_billing`` does, given the plain values Airflow passes.

The DAG file only wires tasks; each task imports this module (inside the task, so parsing
stays fast) and calls one function. Here the connections, configuration and paths are looked
up, and bad data or configuration becomes a failure without retries (``fail_without_retry``).

Each function imports the steps it calls: a task runs in a process of its own, and the turn's
tasks must not pay for the pandas, Alembic and XlsxWriter that only a client's steps use.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from include.dms_billing.airflow.resources import fail_without_retry, ledger, source_engine
from include.dms_billing.core.config import BillingConfig, load_config
from include.dms_billing.core.batches import ClientBatch
from include.dms_billing.core.jobs import ClientJob, RunFacts
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.outputs.paths import ClientMonthPaths, client_month_paths

if TYPE_CHECKING:
    import sqlalchemy as sa

RUN_SUMMARY_KEY = "run_summary"  # the report task's XCom: the run's summary, as the UI shows it
RUN_KEY = "run"  # plan_run's XCom beside its batches: the run's facts (``RunFacts.to_dict``), once
BATCH_GROUP = "bill_batch"
# The batch tasks that may stop a client alone (their XCom ``client_failures``), read by ``report``.
BATCH_TASKS = tuple(f"{BATCH_GROUP}.{task}" for task in ("decide_lists", "deliver_lists", "issue_and_deliver_invoices"))


def _batch(batch: dict, run: dict) -> tuple[ClientJob, ...]:
    """A batch's clients with the run's facts, from the values the task was given."""
    return ClientBatch.from_dict(batch, RunFacts.from_dict(run)).jobs


def _paths(job: ClientJob) -> ClientMonthPaths:
    return client_month_paths(job.billing_month, job.client_code)


def plan_jobs(plan: list[dict], run: dict) -> list[ClientJob]:
    """Every client of the run, from its batches (``plan_run``'s return value) and facts (its ``run``)."""
    return [job for item in plan for job in _batch(item["batch"], run)]


def plan(billing_month: str | None, clients: list[str] | str | None, data_interval_start: datetime | None,
         run_type: Any = None, deliver: bool | None = None, resend: bool = False, ti: Any = None) -> list[dict]:
    """The run's clients in batches (``core/batches.py``), mapped over; the run's facts (month,
    intent) pushed once beside them as ``ti``'s XCom ``run``. The ledger's schema brought up to date first."""
    from include.dms_billing.airflow.params import max_batches, run_intent, run_type_name
    from include.dms_billing.core.batches import plan_batches
    from include.dms_billing.core.jobs import (
        check_backfill_conf,
        plan_clients,
        requested_codes,
        resolve_billing_month,
    )
    from include.dms_billing.flows.moments import batch_key
    from include.dms_billing.ledger.db import migrate
    from include.dms_billing.source.clients import fetch_clients, fetch_user_counts

    with fail_without_retry():
        check_backfill_conf(billing_month, run_type_name(run_type))
        month = resolve_billing_month(billing_month, data_interval_start)
        codes = requested_codes(clients)
        config = load_config()  # a broken configuration stops the run before any client starts
    engine = source_engine()
    with fail_without_retry():
        intent = run_intent(deliver, resend, run_type)
        jobs = plan_clients(fetch_clients(engine), codes, month, config, intent)
    users = fetch_user_counts(engine)
    by_id = {job.client_code: users.get(job.client_id, 0) for job in jobs}
    batches = plan_batches(jobs, {job.client_code: batch_key(job, config) for job in jobs}, by_id, max_batches())
    migrate(ledger())
    ti.xcom_push(RUN_KEY, RunFacts(month, intent).to_dict())
    return [{"batch": batch.to_dict()} for batch in batches]


def decide_lists(batch: dict, run: dict, run_id: str) -> dict[str, dict]:
    """The batch's clients extracted in one query of each kind, then each client validated (in as
    few suite runs as the data allows) and its list decided; a client whose data fails stops alone.
    For a month already billed (sealed), a recomputation kept beside it as a revision when it
    differs, and the data team and finance told once per revision. A client without a plan keeps
    its list (it goes out without a price) and the data team is told now."""
    from include.dms_billing.airflow.each_client import for_each_client
    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.flows import delivery_steps, list_steps, plan_alert

    ti = _current_ti()
    jobs = _batch(batch, run)
    config, engine = load_config(), ledger()
    clients = [(job, _paths(job)) for job in jobs]
    with fail_without_retry():  # bad data of the whole batch will not mend itself on a retry
        list_steps.extract_batch_step(source_engine(), clients)
        outcomes = list_steps.validate_batch_step(clients, config)

    def decide(job: ClientJob) -> dict:
        outcome = outcomes[job.client_code]
        if not outcome.success:
            raise list_steps.ValidationFailed(outcome)
        paths = _paths(job)
        summary, found = list_steps.decide_month(engine, job, paths, config, outcome.report_path, run_id)
        plan_alert.missing_plan_alert_step(job, config, run_id, send_message)
        if found is None:
            return {"billable": summary.billable, **summary.by_reason, "sealed": False}
        delivery_steps.revision_alert_step(engine, job, paths, config, run_id, found, send_message)
        return {"billable": summary.billable, **summary.by_reason, "sealed": True, "revision": found.revision}

    return for_each_client(ti, "validate and decide", jobs, decide, retried=False)


def deliver_lists(batch: dict, run: dict, ready: dict, run_id: str) -> dict[str, str | None]:
    """Day 1, for the clients whose list was decided (``ready``): each list emailed
    unless the ledger says it went already (its Message-ID), or, when the run does not deliver,
    kept unsent under ``archive/`` (its path)."""
    from include.dms_billing.airflow.each_client import for_each_client

    ti = _current_ti()
    engine, config = ledger(), load_config()
    jobs = [job for job in _batch(batch, run) if job.client_code in ready]
    return for_each_client(ti, "deliver the list", jobs,
                           lambda job: _deliver(DeliveryKind.LIST, job, run_id, engine, config), retried=True)


def issue_and_deliver_invoices(batch: dict, run: dict, listed: dict, run_id: str) -> dict[str, dict]:
    """For the clients whose list went out (``listed``), unless finance held them in this run: the
    invoice issued (or found: the ledger issues once), then emailed once or kept unsent. When
    finance held every client of the batch, the task is skipped."""
    from airflow.sdk.exceptions import AirflowSkipException

    from include.dms_billing.airflow.each_client import for_each_client
    from include.dms_billing.flows import approval_steps, delivery_steps

    ti = _current_ti()
    engine, config = ledger(), load_config()
    jobs = [job for job in _batch(batch, run) if job.client_code in listed]
    held = {job.client_code: decision for job in jobs
            if (decision := approval_steps.held_by(engine, job, run_id)) is not None}
    for job in jobs:
        if job.client_code in held:
            print(f"{job.client_code} {job.month}: invoice held by {held[job.client_code].decided_by}; approve it "
                  f"by re-running the month for this client")
    if jobs and len(held) == len(jobs):
        raise AirflowSkipException(f"{', '.join(held)}: invoices held by {next(iter(held.values())).decided_by}; "
                                   "approve them by re-running the month for these clients")

    def invoice(job: ClientJob) -> dict:
        issued = delivery_steps.issue_invoice_step(engine, job, _paths(job), config, run_id).invoice
        return {"invoice_number": issued.invoice_number, "total": str(issued.total), "currency": issued.currency,
                "delivered": _deliver(DeliveryKind.INVOICE, job, run_id, engine, config)}

    return for_each_client(ti, "issue and deliver the invoice", [j for j in jobs if j.client_code not in held],
                           invoice, retried=True)


def _deliver(kind: str, client: ClientJob, run_id: str, engine: sa.Engine, config: BillingConfig) -> str | None:
    """Send the client's list or invoice unless the ledger (``engine``) says it went already (its
    Message-ID), or, when the run does not deliver, keep the email unsent under ``archive/`` (its path)."""
    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.flows import delivery_steps

    paths = _paths(client)
    if not client.intent.deliver:
        return delivery_steps.archive_step(engine, client, paths, config, kind, run_id)
    step = delivery_steps.send_list_step if kind == DeliveryKind.LIST else delivery_steps.send_invoice_step
    return step(engine, client, paths, config, run_id, client.intent.resend, send_message).message_id


def finance_summary(plan: list[dict], run: dict, run_id: str) -> str | None:
    """The month's finance CSV, sent when the run delivers."""
    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.flows import delivery_steps

    if not plan:
        return None
    facts = RunFacts.from_dict(run)
    path, _ = delivery_steps.finance_summary_step(
        ledger(), str(facts.month), load_config(),
        deliver=facts.intent.deliver, run_id=run_id, resend=facts.intent.resend, send=send_message,
    )
    return path


def report(plan: list[dict], run: dict, run_id: str) -> None:
    """Print every client's counts, warnings and outputs, hand the run's summary to the UI (the
    XCom ``run_summary``), then fail the run if any client has no list or was stopped at any step
    of its batch (the batch tasks' ``client_failures``). The clients finance held in this run are
    named, with who held them (the ledger's approval decision)."""
    from include.dms_billing.airflow.each_client import FAILURES_KEY
    from include.dms_billing.ledger.approvals import run_decision
    from include.dms_billing.outputs.run_report import collect, render, summary

    jobs = plan_jobs(plan, run)
    if not jobs:
        return
    month = str(RunFacts.from_dict(run).month)
    outcomes = collect(month, [job.client_code for job in jobs])
    decision = run_decision(ledger(), run_id)
    held = {code: f"held by {decision.decided_by}" for code in decision.held} if decision else {}
    print(render(month, outcomes, held))
    _show_in_ui(RUN_SUMMARY_KEY, summary(month, outcomes, held))
    stopped: dict[str, str] = {}
    for pushed in _current_ti().xcom_pull(task_ids=list(BATCH_TASKS), key=FAILURES_KEY) or []:
        stopped.update(pushed or {})
    failed = [f"{o.client_code}: {stopped.pop(o.client_code, o.problem)}" for o in outcomes if o.summary is None]
    failed += [f"{code}: {error}" for code, error in sorted(stopped.items())]
    if failed:
        with fail_without_retry():
            raise ValueError(f"{len(failed)} client(s) not billed for {month}:\n" + "\n".join(failed))


def _current_ti() -> Any:
    from airflow.sdk import get_current_context

    return get_current_context()["ti"]


def _show_in_ui(key: str, value: dict) -> None:
    """An XCom of the running task, pushed now so that it is there even when the task then fails:
    the UI shows it in the task instance's XCom tab (the Task SDK cannot set a run's note)."""
    _current_ti().xcom_push(key, value)


def wait_for_turn(plan: list[dict], run: dict, ti, dag_run):
    """The run's turn to bill (``run_turns``): done when no other live run holds it or goes first."""
    from airflow.sdk import PokeReturnValue

    from include.dms_billing.airflow.resources import turn_context
    from include.dms_billing.ledger.run_turns import take_turn

    if not plan:
        return PokeReturnValue(is_done=True, xcom_value="no client to bill: no turn needed")
    month = str(RunFacts.from_dict(run).month)
    decision = take_turn(ledger(), dag_run.run_id, month, **turn_context(ti, dag_run))
    print(f"{month}: {decision.reason}")
    return PokeReturnValue(is_done=decision.granted, xcom_value=decision.reason)


def release_turn(run_id: str) -> bool:
    from include.dms_billing.ledger.run_turns import release_turn as release

    return release(ledger(), run_id)
