"""What the tests of Airflow as a service share: the emails of one month, and a service that must
stop leaving nothing behind.

Service tests share one service per module, so each must look only at its own run's emails
(``tagged``), and the stop check runs as the module fixture's teardown, not as a test that
has to come last.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa

from tools.airflow_service import AirflowService
from tools.outbox_smtp import Outbox

STOP_GRACE = 10  # seconds for reparented strays to be reaped by init after the service stopped


def tags(message: EmailMessage) -> list[str]:
    """``X-Sokrio-Billing``'s parts: ``["invoice", "client=MEGHNA", "month=2023-05"]``."""
    return [part.strip() for part in (message["X-Sokrio-Billing"] or "").split(";") if part.strip()]


def tagged(outbox: Outbox, month: str, kind: str | None = None) -> list[EmailMessage]:
    """The messages of ``month`` (of ``kind``: ``list``, ``invoice``, ``finance``, ``alert``)."""
    return [m for m in outbox.messages
            if f"month={month}" in tags(m) and (kind is None or tags(m)[0] == kind)]


def clients_of(messages: list[EmailMessage]) -> list[str]:
    """The client each message is about, sorted (one entry per message)."""
    return sorted(t.removeprefix("client=") for m in messages for t in tags(m) if t.startswith("client="))


def assert_nothing_left(service: AirflowService) -> None:
    """After ``service`` stopped: none of its processes is left, every component has exited."""
    deadline = time.monotonic() + STOP_GRACE
    while service.alive_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert service.alive_pids() == set(), "processes left running"
    for name, process in service.processes.items():
        assert process.returncode is not None, name


def wait_for_task(service: AirflowService, dag_id: str, run_id: str, task_id: str, states: set[str],
                  timeout: float = 300) -> None:
    """Until the task (``task_id[map_index]`` for a mapped one) is in one of ``states``."""
    deadline = time.monotonic() + timeout
    while (found := service.task_states(dag_id, run_id).get(task_id)) not in states:
        service.check_alive()
        assert time.monotonic() < deadline, f"{task_id} of {run_id} is {found}, not one of {sorted(states)}"
        time.sleep(1)


def wait_for_parked(service: AirflowService, run_id: str, task_id: str, timeout: float = 120) -> None:
    """Until the scheduler has seen the task's process end parked (``awaiting_input``), as it is
    long before a person reads the request and answers it. An answer that lands before that loses
    a race in Airflow 3.3: the scheduler, seeing the ended process of a task already resumed, takes
    it for killed externally and retries it, and the retry asks again."""
    deadline = time.monotonic() + timeout
    wanted = f"task_id={task_id}, run_id={run_id},"
    while not any(wanted in line and "state=awaiting_input" in line
                  for line in service.log_path("scheduler").read_text(encoding="utf-8").splitlines()
                  if "TaskInstance Finished" in line):
        service.check_alive()
        assert time.monotonic() < deadline, f"the scheduler never saw {task_id} of {run_id} parked"
        time.sleep(0.5)


def service_env(dms: Path, ledger: sa.URL, smtp: str, data: Path, config: Path) -> dict[str, str]:
    """The billing environment of a service test's Airflow: its DMS (a SQLite file), its ledger,
    its mail server, where outputs go and which configuration it reads."""
    return {
        "AIRFLOW_CONN_DMS_SOURCE": f"sqlite:///{dms}",
        "AIRFLOW_CONN_BILLING_DB": ledger.render_as_string(hide_password=False),
        "AIRFLOW_CONN_SMTP_DEFAULT": smtp,
        "DMS_BILLING_DATA": str(data),
        "DMS_BILLING_CONFIG": str(config),
    }
