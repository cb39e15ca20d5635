"""What each task of ``dms_billing_preview`` does, given the plain values Airflow passes.

Like ``task_calls`` for the monthly DAG: the DAG file only wires tasks; here the connections,
configuration and paths are looked up, and bad data or configuration fails without retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from include.dms_billing.airflow.resources import fail_without_retry, ledger, source_engine
from include.dms_billing.core.config import load_config
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.ledger.db import migrate


def plan(as_of: str | None, clients: list[str] | str | None, data_interval_end: datetime | None,
         resend: bool, run_type: Any = None, deliver: bool | None = None) -> list[dict]:
    """One job per client whose preview is due at ``as_of`` (param, else the data interval's end),
    carrying the run's intent."""
    from include.dms_billing.airflow.params import run_intent
    from include.dms_billing.core.billing_month import BillingMonth, zone
    from include.dms_billing.core.jobs import requested_codes
    from include.dms_billing.flows import preview
    from include.dms_billing.source.clients import fetch_clients

    with fail_without_retry():
        moment = preview.parse_as_of(as_of, data_interval_end)
        codes = requested_codes(clients)
        config = load_config()
    clients_ = fetch_clients(source_engine())
    engine = ledger()
    migrate(engine)
    months = set()
    for client in clients_:
        try:
            zone(client.timezone)
        except ValueError:
            continue  # a bad timezone: previews_due says so
        months.add(str(BillingMonth.containing(moment, client.timezone)))
    sent = set() if resend else preview.sent_previews(engine, months)
    with fail_without_retry():
        jobs = preview.plan_previews(clients_, codes, moment, config, sent, run_intent(deliver, resend, run_type))
    return [{"job": job.to_dict(), "as_of": moment.isoformat()} for job in jobs]


def project(job: dict, as_of: str) -> dict:
    """The client's projected list as of ``as_of``, under previews/."""
    from include.dms_billing.flows import preview

    with fail_without_retry():
        return preview.project_step(source_engine(), ClientJob.from_dict(job), datetime.fromisoformat(as_of),
                                    load_config())


def deliver(job: dict, run_id: str) -> str | None:
    """Send the preview once (its Message-ID), or keep it unsent under previews/ (its path)."""
    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.flows import preview

    client = ClientJob.from_dict(job)
    with fail_without_retry():
        if not client.intent.deliver:
            return preview.archive_preview_step(client, load_config())
        return preview.send_preview_step(ledger(), client, load_config(), run_id, client.intent.resend,
                                         send_message).message_id
