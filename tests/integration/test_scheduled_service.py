"""A scheduled run sends; a manual run without ``deliver`` keeps its emails (README: "``deliver``
unset: scheduled runs send, manual and backfill runs keep the emails unsent under ``archive/``").

Airflow as a service whose scheduler creates runs (``schedule=True``), on the LocalExecutor and
a PostgreSQL metadata database, the ledger on PostgreSQL, a real SMTP server. The DAG runs at
00:00 Asia/Dhaka on the 1st with catchup off, so on its own the scheduler would make one run,
for the latest closed month (the machine's last month). To have it make May 2023's instead,
the DAG is created paused, the scheduler's bookmark for it (``dag.next_dagrun*``: the run it
makes next, what the dag-processor computes from the schedule) is set to May 2023, as it stood
on 1 June 2023, and the DAG is unpaused: the scheduler then makes that run itself, a
``scheduled`` run with no conf. Once it exists the bookmark is moved past any date, so that
no later month's run follows it. A manual run of June 2023 without ``deliver`` is triggered
beside it through the REST API.

Needs the local PostgreSQL server (skips without it, fails in CI).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from include.dms_billing.demo.demo_dms import generate
from include.dms_billing.ledger.deliveries import delivery_log
from include.dms_billing.ledger.invoices import month_invoices
from include.dms_billing.outputs.paths import client_month_paths
from tests.support.configs import billing_config
from tests.support.servers import POSTGRES_URL, scratch_database
from tests.support.services import assert_nothing_left, clients_of, service_env, tagged
from tools.airflow_service import AirflowService, free_port
from tools.outbox_smtp import Outbox

pytestmark = pytest.mark.airflow

DAG_ID = "dms_monthly_billing"
CLIENTS = ["MEGHNA", "PADMA"]  # demo clients 1 and 2, both with a plan in the shipped billing.yaml
DHAKA = ZoneInfo("Asia/Dhaka")  # the schedule's zone: 00:00 on the 1st starts a month (README)
SCHEDULED_MONTH, MANUAL_MONTH = "2023-05", "2023-06"
MAY_START, JUNE_START = datetime(2023, 5, 1, tzinfo=DHAKA), datetime(2023, 6, 1, tzinfo=DHAKA)
NEVER = datetime(2999, 1, 1, tzinfo=DHAKA)
BOOKMARK = sa.text(
    "UPDATE dag SET next_dagrun = :start, next_dagrun_data_interval_start = :start, "
    "next_dagrun_data_interval_end = :end, next_dagrun_create_after = :after WHERE dag_id = :dag_id")


@dataclass
class Scheduled:
    service: AirflowService
    outbox: Outbox
    ledger: sa.Engine
    data: Path
    run: dict  # the run the scheduler made (REST API)


def _parsed_and_paused(service: AirflowService, timeout: float = 120) -> dict:
    """The DAG as the dag-processor first wrote it: paused (created so), its next run computed."""
    deadline = time.monotonic() + timeout
    while True:
        service.check_alive()
        response = service.api("GET", f"/dags/{DAG_ID}")
        if response.status_code == 200 and response.json()["next_dagrun_run_after"]:
            dag = response.json()
            assert dag["is_paused"], dag
            return dag
        assert time.monotonic() < deadline, f"{DAG_ID} not parsed: {response.text[:1000]}"
        time.sleep(0.5)


def _set_bookmark(metadata: sa.Engine, start: datetime, end: datetime, after: datetime) -> None:
    with metadata.begin() as conn:
        conn.execute(BOOKMARK, {"start": start, "end": end, "after": after, "dag_id": DAG_ID})


def _scheduled_runs(service: AirflowService) -> list[dict]:
    runs = service.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    return [run for run in runs if run["run_type"] == "scheduled"]


def _first_scheduled_run(service: AirflowService, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while not (runs := _scheduled_runs(service)):
        service.check_alive()
        assert time.monotonic() < deadline, "the scheduler made no run"
        time.sleep(0.5)
    [run] = runs
    return run


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduled]:
    """The service, once its scheduler has made May 2023's run (and will make no other); then
    stopped, and nothing of it may be left."""
    tmp_path = tmp_path_factory.mktemp("scheduled")
    dms, data = tmp_path / "dms.sqlite", tmp_path / "data"
    generate(f"sqlite:///{dms}", seed=5, clients=2, users_per_client=40, logins_per_user_month=3)
    with scratch_database(POSTGRES_URL) as metadata_url, scratch_database(POSTGRES_URL) as ledger_url, \
            Outbox(tmp_path / "outbox") as outbox:
        config = billing_config(tmp_path / "billing.yaml", enabled=False)  # approval: its own test
        env = {
            **service_env(dms, ledger_url, outbox.connection_uri(), data, config),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # nothing scheduled before the bookmark is set
            # parsed once: a new parse would compute the bookmark from the schedule again
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        }
        metadata = sa.create_engine(metadata_url)
        ledger = sa.create_engine(ledger_url)
        service = AirflowService(tmp_path / "airflow", metadata_url.render_as_string(hide_password=False), env,
                                 free_port(), schedule=True)
        with service:
            _parsed_and_paused(service)
            _set_bookmark(metadata, MAY_START, JUNE_START, after=JUNE_START)
            dag = service.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}).json()
            assert datetime.fromisoformat(dag["next_dagrun_data_interval_start"]) == MAY_START, dag
            run = _first_scheduled_run(service)
            # May's run counts against max_active_runs=1 until it ends, so nothing else can be
            # made before this: after it, the scheduler would make the latest closed month's run.
            _set_bookmark(metadata, MAY_START, JUNE_START, after=NEVER)
            yield Scheduled(service, outbox, ledger, data, run)
            made = [r["dag_run_id"] for r in _scheduled_runs(service)]
            assert made == [run["dag_run_id"]], made  # and no other, whatever ran in the module
        assert_nothing_left(service)
        metadata.dispose()
        ledger.dispose()


@pytest.fixture(scope="module")
def scheduled_state(scheduled: Scheduled) -> str:
    """The scheduled run, finished: its final state."""
    return scheduled.service.wait(DAG_ID, scheduled.run["dag_run_id"], timeout=600)


@pytest.fixture(scope="module")
def manual_run(scheduled: Scheduled) -> tuple[str, str]:
    """June 2023 triggered by hand without ``deliver``, finished: its run id and final state."""
    run_id = scheduled.service.trigger(DAG_ID, {"billing_month": MANUAL_MONTH})
    return run_id, scheduled.service.wait(DAG_ID, run_id, timeout=600)


def _sent(ledger: sa.Engine, month: str) -> list[tuple[str, str]]:
    """(client, kind) of every email the ledger records as sent for ``month``."""
    return sorted((row["client_code"], row["kind"]) for row in delivery_log(ledger, month) if row["state"] == "sent")


def test_the_scheduler_made_one_run_for_may_without_conf(scheduled: Scheduled, scheduled_state: str) -> None:
    run = scheduled.run
    assert scheduled_state == "success", scheduled.service.task_states(DAG_ID, run["dag_run_id"])
    assert run["run_type"] == "scheduled" and run["triggered_by"] == "timetable", run
    assert run["conf"] in ({}, None), run["conf"]
    assert datetime.fromisoformat(run["data_interval_start"]) == MAY_START, run
    assert datetime.fromisoformat(run["data_interval_end"]) == JUNE_START, run


def test_a_scheduled_run_sends_the_lists_the_invoices_and_the_finance_summary(
    scheduled: Scheduled, scheduled_state: str
) -> None:
    outbox, month = scheduled.outbox, SCHEDULED_MONTH
    assert scheduled_state == "success"
    assert clients_of(tagged(outbox, month, "list")) == CLIENTS
    assert clients_of(tagged(outbox, month, "invoice")) == CLIENTS
    assert len(tagged(outbox, month, "finance")) == 1
    # the ledger says sent: each client's list and invoice, and finance's summary
    sent = _sent(scheduled.ledger, month)
    assert [(client, kind) for client, kind in sent if client in CLIENTS] == \
        [(client, kind) for client in CLIENTS for kind in ("invoice", "list")], sent
    assert [kind for client, kind in sent if client not in CLIENTS] == ["finance_summary"], sent
    assert len(month_invoices(scheduled.ledger, month)) == len(CLIENTS)
    for client in CLIENTS:  # sent, so nothing kept unsent
        paths = client_month_paths(month, client, scheduled.data)
        assert not paths.archived_email("list").exists() and not paths.archived_email("invoice").exists()


def test_a_manual_run_without_deliver_sends_nothing_and_keeps_the_emails(
    scheduled: Scheduled, manual_run: tuple[str, str]
) -> None:
    run_id, state = manual_run
    month = MANUAL_MONTH
    assert state == "success", scheduled.service.task_states(DAG_ID, run_id)
    run = scheduled.service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}").json()
    assert run["run_type"] == "manual", run
    assert [m["Subject"] for m in tagged(scheduled.outbox, month)] == []
    assert _sent(scheduled.ledger, month) == []
    assert len(month_invoices(scheduled.ledger, month)) == len(CLIENTS)  # invoices are still made
    for client in CLIENTS:
        paths = client_month_paths(month, client, scheduled.data)
        assert paths.archived_email("list").exists() and paths.archived_email("invoice").exists(), client
