"""The monthly run's deadline alert: the data team hears when a scheduled month's run is not
finished ``deadline.after_invoice_day_hours`` after the latest invoice day any client can have
that month (``work_calendar.run_deadline``: every configured calendar with its holidays and
closures, in the westmost timezone).

The deadline is a custom deadline reference, worked out by the scheduler once, when it creates
the run, for that run's month: the DAG file only names it, so parsing reads neither the
configuration nor a calendar, and a month with a long holiday gets a later deadline than one
without. The scheduler and the API server find the class through ``plugins/billing_deadlines.py``.
A missed deadline runs ``alerts.deadline_missed`` on the executor.

Under ``airflow dags test`` the DAG has no deadline: its runs are manual, which never alert, and
Airflow 3.3.2's ``dag.test()`` fails a successful run of a DAG with a deadline at its very end
(apache/airflow#73428). Remove the check once Airflow has the fix.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from airflow.sdk import BaseDeadlineReference, DeadlineAlert, SyncCallback

from include.dms_billing.airflow.alerts import deadline_missed

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


class MonthRunDeadline(BaseDeadlineReference):
    """When the run's month should be billed: the month is the run's data interval's (Dhaka)."""

    required_kwargs = {"dag_id", "run_id"}

    def _evaluate_with(self, *, session: Session, dag_id: str, run_id: str) -> datetime | None:
        """The deadline, or None (no deadline) for a run without a data interval."""
        from sqlalchemy import select

        from airflow.models import DagRun
        from include.dms_billing.core.billing_month import BillingMonth
        from include.dms_billing.core.config import load_config
        from include.dms_billing.core.work_calendar import run_deadline

        query = select(DagRun.data_interval_start).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        start = session.scalar(query)
        if start is None:
            return None
        # Raising here would keep the scheduler from creating the run at all. A configuration or
        # calendar that cannot be read fails the run's own tasks (plan_run, the invoice-day wait),
        # which alert; the run then goes without a deadline.
        try:
            return run_deadline(BillingMonth.containing(start), load_config())
        except Exception:
            log.exception("%s %s: no deadline (the run's tasks will report the cause)", dag_id, run_id)
            return None


def month_run_deadline() -> DeadlineAlert | None:
    """The DAG's deadline alert (none under ``airflow dags test``). The interval is zero: the
    reference is the deadline itself, its margin read from the configuration when the run is created."""
    if sys.argv[1:3] == ["dags", "test"]:
        return None
    return DeadlineAlert(
        reference=MonthRunDeadline(),
        interval=timedelta(0),
        callback=SyncCallback(deadline_missed),
        name="month billed",
    )
