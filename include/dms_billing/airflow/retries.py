"""How the billing DAGs retry their tasks: one place for every DAG, light enough to import
while a DAG file is parsed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

# A send killed half-way leaves its claim for 15 minutes (delivery.CLAIM_LEASE): the retries of
# the tasks that send outlast it, so a killed send is retried after the claim has lapsed.
SEND_RETRIES: dict[str, Any] = dict(retries=4, retry_delay=timedelta(minutes=5))


def default_args() -> dict[str, Any]:
    """Every task: two retries two minutes apart, and the data team alerted after the last."""
    from include.dms_billing.airflow.alerts import BillingAlertNotifier

    return {"retries": 2, "retry_delay": timedelta(minutes=2), "on_failure_callback": BillingAlertNotifier()}
