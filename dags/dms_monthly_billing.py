"""
### Sokrio DMS monthly billing

Decides, for every client, which users are billable for a billing month and why, tells the
client on the 1st, and invoices on the first working day, per the billing contract
(`shared/contract/README.md`, sections 2 to 7).

**Schedule.** At 00:00 Asia/Dhaka on the 1st; the run's data interval *is* the billing month
(first interval: April 2023). A client in a timezone west of Dhaka waits, deferred in the
triggerer, until its own month has closed.

**Turns.** `wait_for_turn`, right after `plan_run`, lets one run bill at a time (a backfill's
months in month order, whatever its `--max-active-runs`); `release_turn` gives the turn back at
the end, whatever happened. A backfill by dates: see the README's "Backfilling" (a
`billing_month` in a backfill's conf is refused).

**Per batch of clients** (`bill_batch`, mapped; `plan_run` groups the clients by the moments they
share and balances them by users, at most `[dms_billing] max_batches` batches, by default the
deployment's parallelism; with few clients each batch is one client, labelled with its code;
a larger one reads `C001..C040 (40)`). Inside a batch each client stands alone: one whose data
fails, whose list cannot go out or whom finance held stops alone, is named in the data team's
alert, and `report` ends the run red; the others go on.
1. `wait_for_month_close`: checks each client's code, timezone and addresses, then waits for the
   clients' own month end (at once when past);
2. `decide_lists` (pool `dms_source`): one extraction for the batch (`include/sql/user_facts.sql`) to
   `{DMS_BILLING_DATA}/snapshots/billing_month=YYYY-MM/client_code=CODE/user_facts.parquet`, the
   timestamp audit and reconciliation, the Great Expectations suite (a client that fails is named
   with its failed expectations and the Data Docs report under `{DMS_BILLING_DATA}/reports/`), and
   the rule: `billable_users.parquet`, `.csv` and `summary.json` under `billable/`;
3. `deliver_lists` (day 1, pool `smtp`): each list emailed, or, when the run does not deliver, kept
   unsent under `archive/`;
4. `wait_for_invoice_day`: once the lists are out, the first working day in the clients' calendar
   (deferred; at once when past), then `issue_and_deliver_invoices` (pool `smtp`): each invoice
   issued in the ledger `billing_db` (HTML and PDF under `invoices/`) and emailed, or kept unsent
   under `archive/`.

**Finance approves** (`approve_invoices`, once per run, after every batch's `decide_lists`): in a
delivering run the invoices wait under *Required actions* until finance approves all or holds
chosen clients (they get no invoice; an alert names them); nobody answering by the
first invoice moment applies `approval.on_timeout`. Runs that do not deliver, `airflow dags test`
and `approval.enabled: false` do not wait. The decision and who made it are in the ledger.

Then `finance_summary` (CSV under `finance/`, emailed to finance when delivering) and `report`,
which prints every client's counts and fails the run if any client got no list or was stopped.

**Params**: `billing_month` (`YYYY-MM`, overrides the data interval), `clients` (codes; empty =
all), `deliver` (empty: scheduled runs send, manual and backfill runs don't), `resend` (send
again what was sent, recorded as a resend). Nothing is ever sent or invoiced twice: the ledger
records every invoice and email.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task, task_group
from billing_sensors import WaitForBatchMoment

from include.dms_billing.airflow.approval import FinanceApproval
from include.dms_billing.airflow.deadline import month_run_deadline
from include.dms_billing.airflow.params import (
    BATCH_TASKS,
    MONTH_PATTERN,
    SMTP_POOL,
    SOURCE_POOL,
    SCHEDULE_TZ,
    clients_param,
    deliver_param,
    resend_param,
)
from include.dms_billing.airflow.retries import SEND_RETRIES, default_args

TURN_POKE_SECONDS = 10  # a run waiting for its turn looks again this often (rescheduled: no worker slot held)
TURN_TIMEOUT = timedelta(days=31)  # a holder may wait days for a late invoice day; a month is a real fault


@dag(
    dag_id="dms_monthly_billing",
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone=SCHEDULE_TZ),
    start_date=pendulum.datetime(2023, 4, 1, tz=SCHEDULE_TZ),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["billing", "dms"],
    default_args=default_args(),
    deadline=month_run_deadline(),
    params={
        "billing_month": Param(
            None,
            type=["null", "string"],
            pattern=f"^{MONTH_PATTERN}$",
            title="Billing month",
            description="YYYY-MM. Empty: the run's data interval (the month that just ended).",
        ),
        "clients": clients_param("Client codes to bill, one per line. Empty: every client."),
        "deliver": deliver_param("Send emails. Empty: scheduled runs deliver, manual and backfill runs do not."),
        "resend": resend_param("Send again what was already sent, on purpose (recorded as a resend)."),
    },
)
def dms_monthly_billing():
    @task
    def plan_run(params=None, data_interval_start=None, dag_run=None, ti=None) -> list[dict]:
        """The month's clients in batches; the run's facts (month, deliver, resend) beside them, once (XCom `run`)."""
        from include.dms_billing.airflow import monthly_tasks

        return monthly_tasks.plan(params.get("billing_month"), params.get("clients"), data_interval_start,
                                  dag_run.run_type, params.get("deliver"), params["resend"], ti)

    @task.sensor(poke_interval=TURN_POKE_SECONDS, mode="reschedule", timeout=TURN_TIMEOUT.total_seconds())
    def wait_for_turn(plan: list[dict], run: dict, ti=None, dag_run=None):
        """Runs take turns (a backfill's months one at a time, in month order, whatever its
        --max-active-runs): waits while another live run holds the turn or bills an earlier month."""
        from include.dms_billing.airflow import monthly_tasks

        return monthly_tasks.wait_for_turn(plan, run, ti, dag_run)

    @task
    def release_turn(run_id=None) -> bool:
        """Gives the turn back (a teardown: runs whatever happened; clearing a task takes the turn again)."""
        from include.dms_billing.airflow import monthly_tasks

        return monthly_tasks.release_turn(run_id)

    @task_group(default_args=BATCH_TASKS)
    def bill_batch(batch: dict, run: dict):
        @task(pool=SOURCE_POOL)
        def decide_lists(batch: dict, run: dict, run_id=None) -> dict:
            """One extraction for the batch, then each client validated and its list decided."""
            from include.dms_billing.airflow import monthly_tasks

            return monthly_tasks.decide_lists(batch, run, run_id)

        @task(pool=SMTP_POOL, **SEND_RETRIES)
        def deliver_lists(batch: dict, run: dict, ready: dict, run_id=None) -> dict:
            """Day 1: email each list, or (manual and backfill runs) keep it unsent under archive/."""
            from include.dms_billing.airflow import monthly_tasks

            return monthly_tasks.deliver_lists(batch, run, ready, run_id)

        @task(pool=SMTP_POOL, **SEND_RETRIES)
        def issue_and_deliver_invoices(batch: dict, run: dict, listed: dict, run_id=None) -> dict:
            """First working day: issue each invoice once and email it, or (manual and backfill
            runs) keep it unsent; clients finance held get none."""
            from include.dms_billing.airflow import monthly_tasks

            return monthly_tasks.issue_and_deliver_invoices(batch, run, listed, run_id)

        wait_close = WaitForBatchMoment(task_id="wait_for_month_close", batch=batch, run=run, moment="month_closes_at",
                                        retries=0)
        decided = decide_lists(batch=batch, run=run)
        wait_close >> decided
        # The invoice follows the list it is built from: a client whose list could not go out
        # gets no invoice.
        listed = deliver_lists(batch=batch, run=run, ready=decided)
        decided >> approval  # finance sees every client's decided list before any invoice
        wait_invoice = WaitForBatchMoment(task_id="wait_for_invoice_day", batch=batch, run=run, moment="invoice_day")
        invoiced = issue_and_deliver_invoices(batch=batch, run=run, listed=listed)
        [listed >> wait_invoice, approval] >> invoiced

    @task(trigger_rule="all_done", **SEND_RETRIES)
    def finance_summary(plan: list[dict], run: dict, run_id=None) -> str | None:
        """The month's invoices for finance: a CSV, emailed when delivering (once; updates if more)."""
        from include.dms_billing.airflow import monthly_tasks

        return monthly_tasks.finance_summary(plan, run, run_id)

    @task(trigger_rule="all_done", retries=0)
    def report(plan: list[dict], run: dict, run_id=None) -> None:
        """Print every client's counts, warnings and held invoices; fail the run if any client has no list."""
        from include.dms_billing.airflow import monthly_tasks

        monthly_tasks.report(plan, run, run_id)

    @task(trigger_rule="one_failed", retries=0, on_failure_callback=None)  # the failed task alerted already
    def any_task_failed() -> None:
        """Fails the run when any task failed (e.g. a delivery), even though `report` ran fine."""
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("a task of this run failed; see the red tasks and the data team's alert")

    plan = plan_run()
    run = plan["run"]  # the run's facts, pushed once beside the batches (monthly_tasks.RUN_KEY)
    # One approval per run, between the decided lists and the invoices; waits only in delivering
    # runs of a deployed Airflow (include/dms_billing/airflow/approval.py). all_done: one client's
    # failure does not keep the others' invoices from finance.
    approval = FinanceApproval(task_id="approve_invoices", trigger_rule="all_done")
    turn = wait_for_turn(plan, run)
    billed = bill_batch.partial(run=run).expand_kwargs(plan)
    summary = finance_summary(plan, run)
    final_report = report(plan, run)
    turn >> billed >> summary >> final_report >> release_turn().as_teardown(setups=turn)
    [billed, summary, final_report] >> any_task_failed()


dms_monthly_billing()
