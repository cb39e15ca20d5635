"""Alerting the data team when a billing task fails: what failed, for which client, and where
the validation report is. Used as the DAG's ``on_failure_callback`` (after the last retry).

Light at import time (the DAG file imports it while parsing); the work is done in ``notify``.
"""

from __future__ import annotations

import uuid
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier


def _job(context: dict[str, Any]) -> dict[str, Any]:
    """The mapped client's job, when the failed task belongs to one."""
    task = context.get("task")
    kwargs = getattr(task, "op_kwargs", None) or {}
    job = kwargs.get("job")
    return job if isinstance(job, dict) else {}


def _report_path(job: dict[str, Any]) -> str | None:
    """The client-month's validation report, if validation has run."""
    if not job:
        return None
    from include.dms_billing.outputs.paths import client_month_paths

    report = client_month_paths(job["billing_month"], job["client_code"]).report_dir / "data_docs" / "index.html"
    return str(report) if report.exists() else None


class BillingAlertNotifier(BaseNotifier):
    """Emails the data team (``delivery.data_team`` in the billing configuration)."""

    def notify(self, context: dict[str, Any]) -> None:
        from include.dms_billing.airflow.smtp import send_message
        from include.dms_billing.core.config import load_config
        from include.dms_billing.core.kinds import DeliveryKind
        from include.dms_billing.mail.envelope import envelope
        from include.dms_billing.mail.messages import alert_email

        ti = context["ti"]
        job = _job(context)
        config = load_config()
        kind = DeliveryKind.ALERT
        message_id = f"<{kind}.{uuid.uuid4().hex}@{config.delivery.message_id_domain()}>"
        error = context.get("exception")
        send_message(
            alert_email(
                envelope(config, kind, message_id=message_id),
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                client_code=job.get("client_code"),
                billing_month=job.get("billing_month"),
                error=str(error) if error else "the task failed (see its log)",
                report_path=_report_path(job),
                log_url=getattr(ti, "log_url", None),
            )
        )
