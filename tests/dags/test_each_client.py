"""Each client of a batch on its own: what stops one client, what retries the task, what is alerted."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.dms_billing.airflow.each_client import FAILURES_KEY, ClientsFailed, for_each_client
from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.jobs import ClientJob


@dataclass
class TaskInstance:
    """What ``for_each_client`` reads of the running task instance."""

    try_number: int = 1
    max_tries: int = 4
    dag_id: str = "dms_monthly_billing"
    task_id: str = "bill_batch.deliver_lists"
    run_id: str = "manual__test"
    pushed: dict = field(default_factory=dict)

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def _jobs(*codes: str) -> list[ClientJob]:
    return [ClientJob(n, code, f"{code} Ltd", "Asia/Dhaka", BillingMonth(2023, 5), f"{code.lower()}@example.com", None)
            for n, code in enumerate(codes, start=1)]


def _alerts(outbox) -> list[str]:
    return [m["Subject"] for m in outbox.messages if m["X-Sokrio-Billing"].startswith("alert")]


def test_bad_data_stops_its_client_alone_and_is_alerted_once(outbox, data_root) -> None:
    ti = TaskInstance()

    def work(job: ClientJob) -> str:
        if job.client_code == "BAD":
            raise ValueError("an unmapped status")
        return job.client_code.lower()

    assert for_each_client(ti, "validate and decide", _jobs("ONE", "BAD", "TWO"), work, retried=True) == {
        "ONE": "one", "TWO": "two"}
    assert ti.pushed == {FAILURES_KEY: {"BAD": "validate and decide: an unmapped status"}}
    [alert] = _alerts(outbox)
    assert "BAD" in alert and "validate and decide" in alert


def test_a_send_that_fails_retries_the_task_without_alerting_and_stops_its_client_on_the_last_try(
    outbox, data_root
) -> None:
    done: list[str] = []

    def work(job: ClientJob) -> str:
        if job.client_code == "AWAY":
            raise ConnectionRefusedError("the mail relay is away")
        done.append(job.client_code)
        return "sent"

    with pytest.raises(RuntimeError, match="AWAY: ConnectionRefusedError"):
        for_each_client(TaskInstance(try_number=1), "deliver the list", _jobs("ONE", "AWAY"), work, retried=True)
    assert done == ["ONE"] and _alerts(outbox) == []  # tried every client first; nobody alerted yet

    last = TaskInstance(try_number=5)
    assert for_each_client(last, "deliver the list", _jobs("ONE", "AWAY"), work, retried=True) == {"ONE": "sent"}
    assert last.pushed[FAILURES_KEY] == {"AWAY": "deliver the list: ConnectionRefusedError: the mail relay is away"}
    assert len(_alerts(outbox)) == 1


def test_deciding_is_not_retried_client_by_client_the_task_retries_whole(outbox, data_root) -> None:
    def work(job: ClientJob) -> str:
        raise ConnectionError("the DMS is away")

    with pytest.raises(ConnectionError):
        for_each_client(TaskInstance(try_number=1), "validate and decide", _jobs("ONE"), work, retried=False)
    assert _alerts(outbox) == []


def test_a_batch_whose_every_client_stopped_fails_without_retry(outbox, data_root) -> None:
    def work(job: ClientJob) -> str:
        raise ValueError(f"{job.client_code}: no plan")

    with pytest.raises(ClientsFailed) as failed:
        for_each_client(TaskInstance(), "issue and deliver the invoice", _jobs("ONE", "TWO"), work, retried=True)
    assert isinstance(failed.value, AirflowFailException)
    assert "ONE: ONE: no plan" in str(failed.value) and len(_alerts(outbox)) == 2


def test_the_failure_callback_does_not_alert_a_batch_whose_clients_were_each_alerted(outbox, data_root) -> None:
    from include.dms_billing.airflow.alerts import BillingAlertNotifier

    ti = TaskInstance()
    BillingAlertNotifier().notify({"ti": ti, "exception": ClientsFailed("ONE: no plan")})
    assert _alerts(outbox) == []
    BillingAlertNotifier().notify({"ti": ti, "exception": RuntimeError("the worker died")})
    assert len(_alerts(outbox)) == 1
