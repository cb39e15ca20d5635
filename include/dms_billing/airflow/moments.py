"""The moments of a batch's month the wait sensor can wait for, by name.

Light to import (the sensor checks names against ``MOMENTS`` when the DAG is parsed); each
function imports what it needs when the task runs. A batch's clients share their moments
(``core/batches.py``); each client is checked again here, and the batch waits for the latest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from include.dms_billing.core.batches import ClientBatch
from include.dms_billing.core.jobs import RunFacts


def month_closes_at(batch: dict, run: dict) -> str:
    """The clients' local month end (ISO, UTC); each client's code, timezone and addresses checked first."""
    from include.dms_billing.airflow.resources import fail_without_retry
    from include.dms_billing.flows import moments

    closes, refused = [], []
    with fail_without_retry():
        for job in ClientBatch.from_dict(batch, RunFacts.from_dict(run)).jobs:
            try:
                closes.append(moments.month_closes_at(job))
            except moments.ClientDataError as exc:
                refused.append(str(exc))
        if refused:  # such clients share a batch of their own (core/batches.py): each is named
            raise moments.ClientDataError("; ".join(refused))
    return max(closes)


def invoice_day(batch: dict, run: dict) -> str:
    """00:00 local on the clients' first working day after the month (ISO)."""
    from datetime import datetime

    from include.dms_billing.airflow.resources import fail_without_retry
    from include.dms_billing.core.config import load_config
    from include.dms_billing.flows import moments

    config = load_config()
    with fail_without_retry():
        days = [moments.invoice_day(job, config) for job in ClientBatch.from_dict(batch, RunFacts.from_dict(run)).jobs]
    return max(days, key=datetime.fromisoformat)


MOMENTS: Mapping[str, Callable[[dict, dict], str]] = {"month_closes_at": month_closes_at, "invoice_day": invoice_day}
