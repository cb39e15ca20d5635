"""
### Sokrio DMS billing preview

Before the month closes, each client's administrator gets the billable list as it stands now:
who would be billed and why, the active users who have not logged in this month (the
candidates to deactivate), and the local deadline after which changes no longer count.

**Schedule.** Daily at 18:00 UTC (00:00 Asia/Dhaka). `plan_previews` picks the clients whose
local date, at the run's data interval end (or the `as_of` param), is on or after their
preview day (`preview.days_before` days, default 3, before their month closes, from local
midnight) and before the month closes, whose preview is enabled and not sent yet. A daily run
at 18:00 UTC falls on the preview day in every timezone from UTC-12 to UTC+14.

**Per client** (mapped): `project` runs the day-1 list's extraction SQL and rule with the window
ending at `as_of` and writes under `{DMS_BILLING_DATA}/previews/` only (never `billable/`,
`invoices/` or an invoice); `deliver_preview` sends it once (delivery ledger, kind `preview`) or,
when not delivering, keeps it unsent as `previews/.../preview.eml`.

**Params**: `as_of` (ISO 8601 with an offset; empty: the data interval's end), `clients`,
`deliver` (empty: scheduled runs send, manual runs don't), `resend`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task, task_group

from include.dms_billing.airflow.params import CLIENT_TASKS, clients_param, deliver_param, resend_param
from include.dms_billing.airflow.retries import SEND_RETRIES, default_args


@dag(
    dag_id="dms_billing_preview",
    schedule=CronDataIntervalTimetable("0 18 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2023, 4, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["billing", "dms", "preview"],
    default_args=default_args(),
    params={
        "as_of": Param(
            None,
            type=["null", "string"],
            title="As of",
            description="ISO 8601 time with an offset, e.g. 2023-11-27T18:00:00+00:00. Empty: the run's data "
            "interval end.",
        ),
        "clients": clients_param("Client codes, one per line. Empty: every client whose preview is due."),
        "deliver": deliver_param("Send emails. Empty: scheduled runs deliver, manual runs do not."),
        "resend": resend_param("Send the month's preview again, on purpose (recorded as a resend)."),
    },
)
def dms_billing_preview():
    @task
    def plan_previews(params=None, data_interval_end=None, dag_run=None) -> list[dict]:
        """The clients whose preview is due, and the moment to project at; each job carries the intent."""
        from include.dms_billing.airflow import preview_tasks

        return preview_tasks.plan(params.get("as_of"), params.get("clients"), data_interval_end, params["resend"],
                                  dag_run.run_type, params.get("deliver"))

    @task_group(default_args=CLIENT_TASKS)
    def preview_client(job: dict, as_of: str):
        @task
        def project(job: dict, as_of: str) -> dict:
            from include.dms_billing.airflow import preview_tasks

            return preview_tasks.project(job, as_of)

        @task(**SEND_RETRIES)
        def deliver_preview(job: dict, run_id=None) -> str | None:
            from include.dms_billing.airflow import preview_tasks

            return preview_tasks.deliver(job, run_id)

        project(job=job, as_of=as_of) >> deliver_preview(job=job)

    preview_client.expand_kwargs(plan_previews())


dms_billing_preview()
