"""
### Sokrio DMS monthly billing

Decides, for every client, which users are billable for a billing month and why, per the
billing contract (`shared/contract/README.md`, sections 2 and 7).

**Schedule.** At 00:00 Asia/Dhaka on the 1st; the run's data interval *is* the billing month
(first interval: April 2023). A client in a timezone west of Dhaka waits, deferred in the
triggerer, until its own month has closed.

**Per client** (mapped, so one client's failure does not stop the others):
1. `month_closes_at` checks the client's code and timezone and says when its month ends;
2. `wait_for_month_close` waits until then (at once for a past month);
3. `extract` snapshots the client's users with status and login facts (the work is done by
   `include/sql/user_facts.sql`) to
   `{DMS_BILLING_DATA}/snapshots/billing_month=YYYY-MM/client_code=CODE/user_facts.parquet`;
4. `validate` runs the Great Expectations suite; a failure stops this client and names the
   failed expectations and the Data Docs report under `{DMS_BILLING_DATA}/reports/`;
5. `decide` applies the rule and writes `billable_users.parquet`, `billable_users.csv` and
   `summary.json` under `{DMS_BILLING_DATA}/billable/...`.

`report` then prints a table of counts by reason for every client and fails the run if any
client failed.

**Params** (manual and backfill runs): `billing_month` (`YYYY-MM`, overrides the data
interval), `clients` (codes; empty = all), `deliver` and `resend` (delivery; see README).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task, task_group
from airflow.sdk.exceptions import AirflowFailException
from billing_sensors import WaitUntilSensor

SCHEDULE_TZ = "Asia/Dhaka"


def _source_engine():
    import sqlalchemy as sa
    from airflow.sdk import Connection

    from include.dms_billing.connections import sqlalchemy_url

    return sa.create_engine(sqlalchemy_url(Connection.get("dms_source")))


@dag(
    dag_id="dms_monthly_billing",
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone=SCHEDULE_TZ),
    start_date=pendulum.datetime(2023, 4, 1, tz=SCHEDULE_TZ),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["billing", "dms"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "billing_month": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
            title="Billing month",
            description="YYYY-MM. Empty: the run's data interval (the month that just ended).",
        ),
        "clients": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Clients",
            description="Client codes to bill, one per line. Empty: every client.",
        ),
        "deliver": Param(
            None,
            type=["null", "boolean"],
            title="Deliver",
            description="Send emails. Empty: scheduled runs deliver, manual and backfill runs do not.",
        ),
        "resend": Param(
            False,
            type="boolean",
            title="Resend",
            description="Send again what was already sent, on purpose (recorded as a resend).",
        ),
    },
)
def dms_monthly_billing():
    @task
    def plan_run(params=None, data_interval_start=None) -> list[dict]:
        """The month to bill and one job per client."""
        from include.dms_billing.extract import fetch_clients
        from include.dms_billing.run_plan import plan_clients, requested_codes, resolve_billing_month

        try:
            month = resolve_billing_month(params.get("billing_month"), data_interval_start)
            codes = requested_codes(params.get("clients"))
            jobs = plan_clients(fetch_clients(_source_engine()), codes, month)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None
        return [{"job": job.to_dict()} for job in jobs]

    @task_group
    def bill_client(job: dict):
        @task(retries=0)
        def month_closes_at(job: dict) -> str:
            from include.dms_billing.client_steps import month_closes_at as closes_at
            from include.dms_billing.run_plan import ClientJob

            try:
                return closes_at(ClientJob.from_dict(job))
            except ValueError as exc:
                raise AirflowFailException(str(exc)) from None

        @task
        def extract(job: dict) -> int:
            from include.dms_billing.client_steps import extract_step
            from include.dms_billing.paths import client_month_paths
            from include.dms_billing.run_plan import ClientJob

            client = ClientJob.from_dict(job)
            paths = client_month_paths(client.billing_month, client.client_code)
            return extract_step(_source_engine(), client, paths)

        @task(retries=0)
        def validate(job: dict) -> str:
            from include.dms_billing.client_steps import validate_step
            from include.dms_billing.config import load_config
            from include.dms_billing.paths import client_month_paths
            from include.dms_billing.run_plan import ClientJob

            client = ClientJob.from_dict(job)
            outcome = validate_step(client, client_month_paths(client.billing_month, client.client_code), load_config())
            if not outcome.success:
                raise AirflowFailException(outcome.message)
            return str(outcome.report_path)

        @task
        def decide(job: dict, report: str) -> dict:
            from pathlib import Path

            from include.dms_billing.client_steps import decide_step
            from include.dms_billing.config import load_config
            from include.dms_billing.paths import client_month_paths
            from include.dms_billing.run_plan import ClientJob

            client = ClientJob.from_dict(job)
            paths = client_month_paths(client.billing_month, client.client_code)
            summary = decide_step(client, paths, load_config(), Path(report))
            return {"billable": summary.billable, **summary.by_reason}

        closes_at = month_closes_at(job)
        wait = WaitUntilSensor(task_id="wait_for_month_close", target_time=closes_at)
        rows = extract(job)
        wait >> rows
        report = validate(job)
        rows >> report
        decide(job, report)

    @task(trigger_rule="all_done", retries=0)
    def report(plan: list[dict]) -> None:
        """Print every client's counts and outputs; fail the run if any client has no list."""
        from include.dms_billing.run_report import collect, render

        if not plan:
            return
        month = plan[0]["job"]["billing_month"]
        outcomes = collect(month, [p["job"]["client_code"] for p in plan])
        print(render(month, outcomes))
        failed = [f"{o.client_code}: {o.problem}" for o in outcomes if o.summary is None]
        if failed:
            raise AirflowFailException(f"{len(failed)} client(s) not billed for {month}:\n" + "\n".join(failed))

    plan = plan_run()
    billed = bill_client.expand_kwargs(plan)
    billed >> report(plan)


dms_monthly_billing()
