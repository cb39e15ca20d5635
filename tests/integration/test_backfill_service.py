"""A real backfill through Airflow as a service: ``airflow backfill create --run-backwards`` for
May to July 2023 with the default ``--max-active-runs`` (10: the three runs start at once, July's
first), on the LocalExecutor and a PostgreSQL metadata database, with the ledger on PostgreSQL too.

The runs take turns (``wait_for_turn``): each month's list is right and compared with the month
before, invoice numbers follow month order, the billing tasks of two months never overlap, and
nothing is sent. A backfill whose conf names a billing month is refused with how to backfill.

Needs the local PostgreSQL server (skips without it, fails in CI).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.demo.demo_dms import generate
from include.dms_billing.ledger.deliveries import SENT, delivery_log
from include.dms_billing.ledger.invoices import month_invoices
from include.dms_billing.outputs.list_changes import read_changes
from include.dms_billing.outputs.paths import client_month_paths
from include.dms_billing.source.clients import fetch_clients
from tests.conftest import PROJECT
from tests.support import reference_rule
from tests.support.servers import POSTGRES_URL, scratch_database
from tests.support.services import service_env
from tests.unit.demo.test_demo_dms import read_rows
from tools.airflow_service import AirflowService, free_port
from tools.outbox_smtp import Outbox

pytestmark = pytest.mark.airflow

DAG_ID = "dms_monthly_billing"
MONTHS = ["2023-05", "2023-06", "2023-07"]
# The 1sts of the first and last month, 00:00 in Dhaka (the schedule's zone): the README's command.
FROM_DATE, TO_DATE = "2023-05-01T00:00:00+06:00", "2023-07-01T00:00:00+06:00"
GATED = ("bill_batch.", "finance_summary", "report")  # the tasks that bill: inside the turn


@dataclass
class Backfill:
    service: AirflowService
    data: Path
    dms: sa.Engine
    ledger: sa.Engine
    runs: dict[str, dict]  # billing month -> the run (REST API)
    states: dict[str, str]  # billing month -> final state
    seconds: float
    backfills: list[dict]  # the backfills when its runs had finished (REST API): this one alone
    sent: list[EmailMessage]  # what the outbox had received by then: what the backfill sent


def _airflow_cli(service: AirflowService, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow", *args], env=service.env, cwd=service.home,
                          capture_output=True, text=True, timeout=120)


def _month_of(run: dict) -> str:
    """The month a backfill run bills: its data interval's, read in Dhaka."""
    return pd.Timestamp(run["data_interval_start"]).tz_convert("Asia/Dhaka").strftime("%Y-%m")


def _backfill_runs(service: AirflowService, expected: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        response = service.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})
        runs = [r for r in response.json()["dag_runs"] if r["run_type"] == "backfill"]
        if len(runs) >= expected or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def _wait_backfills_complete(service: AirflowService, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backfills = service.api("GET", "/backfills", params={"dag_id": DAG_ID}).json()["backfills"]
        if all(b["completed_at"] for b in backfills):
            return
        time.sleep(1)
    raise AssertionError(f"backfills not completed: {backfills}")


@pytest.fixture(scope="module")
def backfill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfill]:
    """The service, after a three-month backfill created with the CLI has finished; then stopped."""
    tmp_path = tmp_path_factory.mktemp("backfill")
    dms_path = tmp_path / "dms.sqlite"
    generate(f"sqlite:///{dms_path}", seed=5, clients=2, users_per_client=40, logins_per_user_month=3)
    with scratch_database(POSTGRES_URL) as metadata_url, scratch_database(POSTGRES_URL) as ledger_url, \
            Outbox(tmp_path / "outbox") as outbox:
        ledger = sa.create_engine(ledger_url)
        env = service_env(dms_path, ledger_url, outbox.connection_uri(), tmp_path / "data",
                          PROJECT / "include" / "config" / "billing.yaml")
        service = AirflowService(tmp_path / "airflow", metadata_url.render_as_string(hide_password=False),
                                 env, free_port())
        with service:
            service.wait_for_dag(DAG_ID)
            started = time.monotonic()
            created = _airflow_cli(service, "backfill", "create", "--dag-id", DAG_ID, "--run-backwards",
                                   "--from-date", FROM_DATE, "--to-date", TO_DATE)
            assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-3000:]
            runs = {_month_of(r): r for r in _backfill_runs(service, 3)}
            states = {m: service.wait(DAG_ID, r["dag_run_id"], timeout=600) for m, r in runs.items()}
            seconds = time.monotonic() - started
            runs = {_month_of(r): r for r in _backfill_runs(service, 3)}  # with their start and end
            backfills = service.api("GET", "/backfills", params={"dag_id": DAG_ID}).json()["backfills"]
            print(f"\nbackfill of {len(runs)} months: {seconds:.0f} s", flush=True)
            yield Backfill(service, tmp_path / "data", sa.create_engine(f"sqlite:///{dms_path}"),
                           ledger, runs, states, seconds, backfills, list(outbox.messages))
        ledger.dispose()


def test_the_backfill_made_one_run_per_month_and_all_succeeded(backfill: Backfill) -> None:
    assert sorted(backfill.runs) == MONTHS
    for month, run in backfill.runs.items():
        states = backfill.service.task_states(DAG_ID, run["dag_run_id"])
        assert backfill.states[month] == "success", (month, states)
        assert run["conf"] in ({}, None)
    assert [b["max_active_runs"] for b in backfill.backfills] == [10]  # the default: the three started at once


def test_each_months_list_is_right_and_compared_with_the_month_before(backfill: Backfill) -> None:
    rows = read_rows(backfill.dms)
    lookup = {"active": "active", "inactive": "inactive"}  # billing.yaml's status map
    for client in fetch_clients(backfill.dms):
        expected = {
            month: set(reference_rule.billable_users(
                rows["users"], rows["user_status_changes"], rows["user_logins"], client.client_id,
                billing_window(BillingMonth.parse(month), client.timezone), lookup))
            for month in MONTHS
        }
        for index, month in enumerate(MONTHS):
            paths = client_month_paths(month, client.client_code, backfill.data)
            billed = set(pd.read_parquet(paths.billable_parquet)["user_id"])
            assert billed == expected[month], (client.client_code, month)
            changes = read_changes(paths.changes)
            assert changes.previous_month == str(BillingMonth.parse(month).previous())
            assert changes.current_count == len(expected[month])
            # The month before was billed (and its list complete) before this month decided:
            # never "no list to compare with" except for May, whose April was never billed.
            want = None if index == 0 else len(expected[MONTHS[index - 1]])
            assert changes.previous_count == want, (client.client_code, month, changes)


def test_invoice_numbers_follow_month_order(backfill: Backfill) -> None:
    numbers = [[i.invoice_number for i in month_invoices(backfill.ledger, m)] for m in MONTHS]
    assert numbers == [["SKR-000001", "SKR-000002"], ["SKR-000003", "SKR-000004"],
                       ["SKR-000005", "SKR-000006"]]


def _task_instances(backfill: Backfill, month: str) -> list[dict]:
    run_id = backfill.runs[month]["dag_run_id"]
    response = backfill.service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                                    params={"limit": 1000})
    return response.json()["task_instances"]


def test_the_months_took_turns_in_month_order_and_never_overlapped(backfill: Backfill) -> None:
    spans = {}
    for month in MONTHS:
        tis = [ti for ti in _task_instances(backfill, month) if ti["task_id"].startswith(GATED)]
        assert len(tis) == 2 * 5 + 2, [ti["task_id"] for ti in tis]  # two one-client batches of five tasks
        spans[month] = (min(datetime.fromisoformat(ti["start_date"]) for ti in tis),
                        max(datetime.fromisoformat(ti["end_date"]) for ti in tis))
    for month, (start, end) in spans.items():
        seconds = (end - start).total_seconds()
        print(f"\n{month}: billing tasks from {start:%H:%M:%S} to {end:%H:%M:%S} ({seconds:.0f} s)")
    for before, after in zip(MONTHS, MONTHS[1:]):
        assert spans[after][0] > spans[before][1], (before, spans[before], after, spans[after])
    # The three runs were live at once (the default --max-active-runs): the later months waited.
    run_starts = [datetime.fromisoformat(backfill.runs[m]["start_date"]) for m in MONTHS]
    assert max(run_starts) < spans[MONTHS[0]][1]
    queued = [datetime.fromisoformat(backfill.runs[m]["queued_at"]) for m in MONTHS]
    assert queued[2] < queued[0], queued  # --run-backwards: July's run was queued before May's


def test_nothing_was_sent(backfill: Backfill) -> None:
    """What the outbox had when the backfill's runs finished: the module's other runs email too."""
    assert backfill.sent == [], [m["Subject"] for m in backfill.sent]
    for month in MONTHS:
        assert [d for d in delivery_log(backfill.ledger, month) if d["state"] == SENT] == []
        for client in ("MEGHNA", "PADMA"):
            paths = client_month_paths(month, client, backfill.data)
            assert paths.archived_email("list").exists() and paths.archived_email("invoice").exists()


def test_a_backfill_naming_a_billing_month_is_refused_with_how_to_backfill(backfill: Backfill) -> None:
    service = backfill.service
    _wait_backfills_complete(service)  # one backfill at a time per DAG
    conf = json.dumps({"billing_month": "2023-05"})
    created = _airflow_cli(service, "backfill", "create", "--dag-id", DAG_ID, "--from-date",
                           "2023-08-01T00:00:00+06:00", "--to-date", "2023-08-01T00:00:00+06:00",
                           "--dag-run-conf", conf)
    assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-3000:]
    run = next(r for r in _backfill_runs(service, 4) if _month_of(r) == "2023-08")
    assert service.wait(DAG_ID, run["dag_run_id"], timeout=300) == "failed"
    plan = next(ti for ti in service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances")
                .json()["task_instances"] if ti["task_id"] == "plan_run")
    assert plan["state"] == "failed" and plan["try_number"] == 1  # refused, not retried
    log = service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/plan_run/logs/1",
                      params={"full_content": True}).text
    for words in ("billing_month '2023-05' refused", "airflow backfill create", "--from-date", "--to-date",
                  "Backfill dialog"):
        assert words in log, (words, log[-3000:])
    assert month_invoices(backfill.ledger, "2023-08") == []
