"""Alerting the data team when a billing task fails (what failed, for which client, and where
the validation report is: the DAG's ``on_failure_callback``, after the last retry), and when a
scheduled month's run misses its deadline (``deadline_missed``, see ``airflow/deadline.py``).

Light at import time (the DAG file imports it while parsing); the work is done when called.
"""

from __future__ import annotations

from datetime import datetime
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


def _send_alert(**fields: Any) -> None:
    """The data team's alert email (``mail.messages.alert_email``), sent now."""
    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.core.config import load_config
    from include.dms_billing.mail.envelope import alert_envelope
    from include.dms_billing.mail.messages import alert_email

    send_message(alert_email(alert_envelope(load_config()), **fields))


class BillingAlertNotifier(BaseNotifier):
    """Emails the data team (``delivery.data_team`` in the billing configuration)."""

    def notify(self, context: dict[str, Any]) -> None:
        ti = context["ti"]
        job = _job(context)
        error = context.get("exception")
        _send_alert(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            client_code=job.get("client_code"),
            billing_month=job.get("billing_month"),
            error=str(error) if error else "the task failed (see its log)",
            report_path=_report_path(job),
            log_url=getattr(ti, "log_url", None),
        )


def deadline_missed(context: dict[str, Any]) -> None:
    """A run was not finished by its deadline: the data team is emailed if it is a scheduled run.

    Manual and backfill runs bill on purpose, with someone watching, and a backfill's past months
    miss their deadlines at once. ``context`` is what Airflow 3.3 hands a deadline callback:
    ``dag_run``, the run as the REST API shows it (``run_type``, ``state``, the data interval as
    ISO text), and ``deadline`` (``id``, ``deadline_time``).
    """
    from include.dms_billing.core.billing_month import BillingMonth

    run = context["dag_run"]
    if run["run_type"] != "scheduled":
        return
    month = BillingMonth.containing(datetime.fromisoformat(run["data_interval_start"]))
    _send_alert(
        dag_id=run["dag_id"],
        task_id="deadline",
        run_id=run["dag_run_id"],
        client_code=None,
        billing_month=str(month),
        error=(f"the run of {month} was not finished by its deadline, {context['deadline']['deadline_time']} "
               f"(deadline.after_invoice_day_hours after the latest invoice day of any client); "
               f"it is {run['state']}: see its grid for the tasks still waiting or failed"),
        report_path=None,
        log_url=None,
    )
