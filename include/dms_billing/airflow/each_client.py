"""Each client of a batch on its own: one client's bad data or failed email stops that client only.

A batch task runs one step for each of its clients. A ``ValueError`` (bad data or configuration)
stops that client at once: it will not mend itself on a retry. Other errors (a mail server or a
database away) are retried with the task when the step retries: every client is tried first, then
the task fails into its retry, which redoes only what is missing (the ledger makes issuing and
sending exactly-once). On the last try they stop their clients too.

A stopped client is alerted to the data team (client, error, report) and recorded in the task's
XCom ``client_failures``, which the run's ``report`` reads to end the run red; the batch carries on
with the others. When every client of the batch stopped, the task fails (``ClientsFailed``), so a
one-client batch shows red in the grid at the step that failed, as an unbatched client did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from include.dms_billing.core.jobs import ClientJob

FAILURES_KEY = "client_failures"  # XCom of a batch task: {client code: "step: error"}
T = TypeVar("T")


class ClientsFailed(AirflowFailException):
    """Every client of the batch stopped at this step; each was alerted already (no retry, no
    second alert from the task's failure callback)."""


def _alert(ti: Any, step: str, job: ClientJob, error: str) -> None:
    from include.dms_billing.airflow.alerts import report_path, send_alert

    send_alert(dag_id=ti.dag_id, task_id=f"{ti.task_id} ({step})", run_id=ti.run_id, client_code=job.client_code,
               billing_month=job.billing_month, error=error,
               report_path=report_path(job.billing_month, job.client_code), log_url=getattr(ti, "log_url", None))


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"


def for_each_client(
    ti: Any, step: str, jobs: Sequence[ClientJob], work: Callable[[ClientJob], T], *, retried: bool
) -> dict[str, T]:
    """``work`` for each client, by client code, for the clients it did not stop.

    ``retried``: other errors than ``ValueError`` are retried with the task (sending); without,
    the first one fails the task at once, into the task's own retries (deciding, which is redone whole).
    """
    done: dict[str, T] = {}
    stopped: dict[str, tuple[ClientJob, BaseException]] = {}
    again: dict[str, tuple[ClientJob, BaseException]] = {}
    for job in jobs:
        try:
            done[job.client_code] = work(job)
        except ValueError as exc:
            stopped[job.client_code] = (job, exc)
        except Exception as exc:
            if not retried:
                raise
            again[job.client_code] = (job, exc)
    if again and ti.try_number <= ti.max_tries:
        lines = "\n".join(f"{code}: {_describe(exc)}" for code, (_, exc) in again.items())
        raise RuntimeError(f"{step}: {len(again)} client(s) to try again (those done are not redone):\n{lines}")
    stopped.update(again)
    if stopped:
        for job, exc in stopped.values():
            _alert(ti, step, job, _describe(exc))
        ti.xcom_push(FAILURES_KEY, {code: f"{step}: {_describe(exc)}" for code, (_, exc) in stopped.items()})
        if not done:
            raise ClientsFailed("; ".join(f"{code}: {_describe(exc)}" for code, (_, exc) in stopped.items()))
    return done
