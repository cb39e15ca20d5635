"""Alerting the data team when a billing task fails (what failed, for which client, and where
the validation report is: the DAG's ``on_failure_callback``, after the last retry; a batch
task alerts each client it stops itself, ``each_client.py``), and when a
scheduled month's run misses its deadline (``deadline_missed``, see ``airflow/deadline.py``).

Light at import time (the DAG file imports it while parsing); the work is done when called.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier


def _clients(context: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The failed task's batch (or client) as the alert names it: its label (a client's code, or a range of
    codes), its billing month, and the client's validation report when the batch is one client."""
    task = context.get("task")
    kwargs = getattr(task, "op_kwargs", None) or {}
    batch = kwargs.get("batch", getattr(task, "batch", None))
    run = kwargs.get("run", getattr(task, "run", None))  # the run's facts, beside a batch
    if isinstance(kwargs.get("job"), dict):  # a task of one client (the preview's): its job is whole
        batch, run = {"label": kwargs["job"]["client_code"], "jobs": [kwargs["job"]]}, kwargs["job"]
    if not isinstance(batch, dict) or not batch.get("jobs") or not isinstance(run, dict):
        return None, None, None
    month = run["billing_month"]
    only = batch["jobs"][0]["client_code"] if len(batch["jobs"]) == 1 else None
    return batch["label"], month, report_path(month, only) if only else None


def report_path(billing_month: str, client_code: str) -> str | None:
    """The client-month's validation report, if validation has run."""
    from include.dms_billing.outputs.paths import VALIDATION_DOCS, client_month_paths

    report = client_month_paths(billing_month, client_code).report_dir / VALIDATION_DOCS / "index.html"
    return str(report) if report.exists() else None


def send_alert(**fields: Any) -> None:
    """The data team's alert email (``mail.messages.alert_email``), sent now."""
    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.core.config import load_config
    from include.dms_billing.mail.envelope import alert_envelope
    from include.dms_billing.mail.messages import alert_email

    send_message(alert_email(alert_envelope(load_config()), **fields))


class BillingAlertNotifier(BaseNotifier):
    """Emails the data team (``delivery.data_team`` in the billing configuration)."""

    def notify(self, context: dict[str, Any]) -> None:
        from include.dms_billing.airflow.each_client import ClientsFailed

        error = context.get("exception")
        if isinstance(error, ClientsFailed):
            return  # each of the batch's clients was alerted already, with its own error
        ti = context["ti"]
        clients, month, report = _clients(context)
        send_alert(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            client_code=clients,
            billing_month=month,
            error=str(error) if error else "the task failed (see its log)",
            report_path=report,
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
    send_alert(
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
