"""Finance approves a delivering run's invoices: Airflow's human-in-the-loop operator, asked once
per run after every client's list is decided and before any invoice is issued, and shown under
the UI's Required actions.

Only runs that deliver wait for an answer. A run that does not deliver, a run with
``approval.enabled: false`` and a run executed in-process by ``airflow dags test`` (no UI, so
nobody could answer) record "not asked" and go on. The answer (or the timeout's default) is
recorded in the ledger with who gave it; each batch's ``issue_and_deliver_invoices`` reads it and
leaves the held clients out (skipped when it holds them all). This happens inside the batch's own
task, not by the operator skipping downstream tasks, so it stops exactly the held clients'
invoices in the mapped group (apache/airflow#67265).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param

from include.dms_billing.core.approval import (
    APPROVE, HOLD_ALL, HOLD_HELP, HOLD_PARAM, OPTIONS, ApprovalRow, hold_schema,
)


def _hold_param(rows: Sequence[ApprovalRow] = ()) -> Param:
    return Param([], description=HOLD_HELP, schema=hold_schema(rows))


class _UntemplatedSmtpNotifier(SmtpNotifier):
    """The SMTP provider's notifier with nothing rendered as a template: the email quotes client
    names from the DMS, which must never be evaluated as Jinja."""

    template_fields = ()


class FinanceApproval(HITLOperator):
    """One approval of the month's invoices; its XCom is the decision (``ApprovalDecision.to_dict``)."""

    def __init__(self, *, plan_task_id: str = "plan_run", **kwargs: Any) -> None:
        kwargs.pop("params", None)  # the DAG's params are the run's form, not the approval's
        super().__init__(subject="Approve the month's invoices", options=OPTIONS, defaults=[APPROVE],
                         params={HOLD_PARAM: _hold_param()}, **kwargs)
        self.plan_task_id = plan_task_id

    def _jobs(self, context: Any) -> list:
        """The run's clients, from the plan's batches and the run's facts it pushed beside them."""
        from include.dms_billing.airflow.monthly_tasks import RUN_KEY, plan_jobs

        ti = context["ti"]
        plan = ti.xcom_pull(task_ids=self.plan_task_id) or []
        return plan_jobs(plan, ti.xcom_pull(task_ids=self.plan_task_id, key=RUN_KEY)) if plan else []

    @staticmethod
    def _not_asking(job: Any, config: Any, dag_run: Any) -> str | None:
        from include.dms_billing.airflow.resources import IN_PROCESS_RUNNER

        if not config.approval.enabled:
            return "approval is off (approval.enabled: false)"
        if not job.intent.deliver:
            return "the run does not deliver"
        if dag_run.triggering_user_name == IN_PROCESS_RUNNER:
            return "an in-process run (airflow dags test) has no one to answer"
        return None

    def execute(self, context: Any) -> Any:
        from datetime import datetime, timezone
        from pathlib import Path

        from include.dms_billing.airflow.resources import ledger
        from include.dms_billing.core.approval import ListsLocation, approval_body, not_asked
        from include.dms_billing.core.config import load_config
        from include.dms_billing.flows import approval_steps
        from include.dms_billing.mail.approval_email import approval_request_html
        from include.dms_billing.outputs.paths import DATA_ENV, client_month_paths, data_root

        jobs = self._jobs(context)
        if not jobs:
            return None
        month, config, engine = jobs[0].billing_month, load_config(), ledger()
        why = self._not_asking(jobs[0], config, context["dag_run"])
        if why:
            return approval_steps.record_step(engine, not_asked(month, context["run_id"], why)).to_dict()
        rows = approval_steps.approval_rows(engine, jobs, config)
        # the month's folder of lists, relative to the data root (its layout is outputs/paths.py's)
        folder = client_month_paths(month, rows[0].client_code, Path()).billable_csv.parent.parent
        lists = ListsLocation.under(f"{folder.as_posix()}/", str(data_root()), DATA_ENV)
        self.subject = f"Approve the invoices for {month}"
        self.body = approval_body(month, rows, lists)
        self.defaults = [APPROVE] if config.approval.on_timeout == "approve" else [HOLD_ALL]
        self.assigned_users = [{"id": user, "name": user} for user in config.approval.respondents]
        self.params[HOLD_PARAM] = _hold_param(rows)
        self.response_timeout = approval_steps.response_timeout(jobs, config)
        timeout_at = (datetime.now(timezone.utc) + self.response_timeout).isoformat(timespec="minutes")
        self.notifiers = [_UntemplatedSmtpNotifier(
            to=list(config.delivery.finance), from_email=config.delivery.sender, subject=self.subject,
            html_content=approval_request_html(month, rows, lists=lists, link=self._link(context),
                                               timeout_at=timeout_at, on_timeout=config.approval.on_timeout),
        )]
        return super().execute(context)

    def _link(self, context: Any) -> str | None:
        """The Required actions page, when the api-server's base URL is configured."""
        try:
            return self.generate_link_to_ui_from_context(context=context)
        except ValueError:
            return None

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from include.dms_billing.airflow.resources import fail_without_retry, ledger
        from include.dms_billing.airflow.smtp import send_message
        from include.dms_billing.core.approval import decide
        from include.dms_billing.core.config import load_config
        from include.dms_billing.flows import approval_steps

        answer = super().execute_complete(context, event)
        jobs = self._jobs(context)
        with fail_without_retry():
            decision = decide(answer["chosen_options"], answer["params_input"], answer["responded_by_user"],
                              [job.client_code for job in jobs], billing_month=jobs[0].billing_month,
                              run_id=context["run_id"])
        approval_steps.record_step(ledger(), decision)
        self.log.info("%s", decision.summary())
        approval_steps.held_alert_step(decision, load_config(), self.dag_id, send_message)
        return decision.to_dict()
