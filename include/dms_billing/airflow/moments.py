"""The moments of a client's month the wait sensor can wait for, by name.

Light to import (the sensor checks names against ``MOMENTS`` when the DAG is parsed); each
function imports what it needs when the task runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from include.dms_billing.core.jobs import ClientJob


def month_closes_at(job: dict) -> str:
    """The client's local month end (ISO, UTC); its code, timezone and addresses checked first."""
    from include.dms_billing.airflow.resources import fail_without_retry
    from include.dms_billing.flows import moments

    with fail_without_retry():
        return moments.month_closes_at(ClientJob.from_dict(job))


def invoice_day(job: dict) -> str:
    """00:00 local on the client's first working day after the month (ISO)."""
    from include.dms_billing.airflow.resources import fail_without_retry
    from include.dms_billing.core.config import load_config
    from include.dms_billing.flows import moments

    with fail_without_retry():
        return moments.invoice_day(ClientJob.from_dict(job), load_config())


MOMENTS: Mapping[str, Callable[[dict], str]] = {"month_closes_at": month_closes_at, "invoice_day": invoice_day}
