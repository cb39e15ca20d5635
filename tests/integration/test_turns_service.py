"""Runs take turns, checked against Airflow's own run states (LocalExecutor, REST API).

README: a failed, killed or deleted run stops holding the turn, and clearing a task of a run
takes the turn again. Here the liveness check is the product's (the run's state read through the
Task SDK), not a stand-in. A manual run holds the turn while it waits for its month to close (a
month that has not ended); a backfill's run, which the DAG's ``max_active_runs=1`` does not hold
back, waits behind it. The data team marks runs failed or success through the REST API, as the UI
does. Airflow runs the teardown (``release_turn``) of a run marked failed or success once its
gate had succeeded, but not of a run whose gate never did: that run's place in the queue stays in
the ledger, and only the next gate's look at Airflow's state drops it. Airflow refuses to delete
a running run (409). A run killed under ``airflow dags test``, whose state stays "running", is
``test_faults.py``'s.

Needs the local PostgreSQL (skips without it, fails in CI).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
import sqlalchemy as sa

from include.dms_billing.demo.demo_dms import generate
from include.dms_billing.ledger.run_turns import HOLDING, WAITING, turns
from tests.conftest import PROJECT
from tests.support.servers import POSTGRES_URL, scratch_database
from tests.support.services import assert_nothing_left, service_env, wait_for_task
from tools.airflow_service import AirflowService, free_port

pytestmark = pytest.mark.airflow

DAG_ID = "dms_monthly_billing"
GATE = "wait_for_turn"
CLIENT = ["MEGHNA"]  # demo client 1
# Months that have not ended: their runs hold the turn while they wait for the month to close,
# without billing anything.
OPEN_MONTHS = ["2030-01", "2030-02"]
# Backfills of one month each: the month's 1st, 00:00 in Dhaka.
MAY, JUNE = "2023-05-01T00:00:00+06:00", "2023-06-01T00:00:00+06:00"
ENDED = {"success", "failed", "skipped", "upstream_failed", "removed"}


@dataclass
class Turns:
    service: AirflowService
    ledger: sa.Engine


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Turns]:
    """The service over one small demo client, the shipped configuration; stopped at the end."""
    tmp_path = tmp_path_factory.mktemp("turns")
    dms = tmp_path / "dms.sqlite"
    generate(f"sqlite:///{dms}", seed=5, clients=1, users_per_client=25, logins_per_user_month=2)
    with scratch_database(POSTGRES_URL) as metadata_url, scratch_database(POSTGRES_URL) as ledger_url:
        nowhere = "smtp://127.0.0.1:9?disable_tls=true&disable_ssl=true"  # manual and backfill runs send nothing
        shipped = PROJECT / "include" / "config" / "billing.yaml"
        env = service_env(dms, ledger_url, nowhere, tmp_path / "data", shipped)
        ledger = sa.create_engine(ledger_url)
        with AirflowService(tmp_path / "airflow", metadata_url.render_as_string(hide_password=False), env,
                            free_port()) as service:
            yield Turns(service, ledger)
        assert_nothing_left(service)
        ledger.dispose()


def _trigger(service: AirflowService, month: str) -> str:
    return service.trigger(DAG_ID, {"billing_month": month, "clients": CLIENT})


def _backfill(service: AirflowService, first_day: str, timeout: float = 120) -> str:
    """``airflow backfill create`` of one month, through the REST API (once the DAG's previous
    backfill is complete: one at a time); its run's id."""
    body = {"dag_id": DAG_ID, "from_date": first_day, "to_date": first_day,
            "dag_run_conf": {"clients": CLIENT}}
    deadline = time.monotonic() + timeout
    while (response := service.api("POST", "/backfills", json=body)).status_code == 409:
        assert time.monotonic() < deadline, response.text
        time.sleep(2)
    assert response.status_code == 200, response.text
    while True:
        runs = service.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100}).json()["dag_runs"]
        mine = [r["dag_run_id"] for r in runs if r["run_type"] == "backfill"
                and datetime.fromisoformat(r["logical_date"]) == datetime.fromisoformat(first_day)]
        if mine:
            return mine[0]
        assert time.monotonic() < deadline, f"the backfill of {first_day} made no run: {runs}"
        time.sleep(0.5)


def _state_in_ledger(gate: Turns, run_id: str) -> str | None:
    return {t.run_id: t.state for t in turns(gate.ledger)}.get(run_id)


def _holds(gate: Turns, run_id: str) -> None:
    """``run_id`` took the turn and now waits for its month to close, holding it."""
    wait_for_task(gate.service, DAG_ID, run_id, GATE, {"success"})
    wait_for_task(gate.service, DAG_ID, run_id, "bill_batch.wait_for_month_close[0]", {"deferred"})
    assert _state_in_ledger(gate, run_id) == HOLDING


def _waits(gate: Turns, run_id: str, behind: str) -> None:
    """``run_id`` asked for the turn and was told to wait for ``behind``."""
    wait_for_task(gate.service, DAG_ID, run_id, GATE, {"up_for_reschedule"})
    assert _state_in_ledger(gate, run_id) == WAITING
    assert f"run {behind} " in _log(gate.service, run_id, GATE)


def _mark(service: AirflowService, run_id: str, state: str) -> None:
    """What the UI's "Mark as failed" / "Mark as success" does; then until the run has ended.

    Airflow 3.3 stops the run's tasks but leaves its teardown to the scheduler, which then sets
    the run's final state itself (a run marked failed while its gate waited ends "success")."""
    response = service.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", json={"state": state})
    assert response.status_code == 200, response.text
    service.wait(DAG_ID, run_id)


def _log(service: AirflowService, run_id: str, task_id: str) -> str:
    """Every try's log of a task (the sensor's pokes are one try, rescheduled)."""
    instance = service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}").json()
    return "".join(
        service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{attempt}",
                    params={"full_content": True}).text
        for attempt in range(1, max(instance["try_number"], 1) + 1)
    )


def test_failed_runs_stop_counting_and_a_cleared_task_takes_the_turn_again(gate: Turns) -> None:
    service = gate.service
    holder = _trigger(service, OPEN_MONTHS[0])
    _holds(gate, holder)
    may = _backfill(service, MAY)
    _waits(gate, may, holder)

    # May's run, failed while waiting: its gate never succeeded, so its teardown does not run and
    # its place in the queue (an earlier month than June's) stays in the ledger.
    _mark(service, may, "failed")
    wait_for_task(service, DAG_ID, may, "release_turn", ENDED)
    assert service.task_states(DAG_ID, may)["release_turn"] != "success"
    assert _state_in_ledger(gate, may) == WAITING
    # The holder, failed: Airflow still runs its teardown, which gives the turn back.
    _mark(service, holder, "failed")
    wait_for_task(service, DAG_ID, holder, "release_turn", {"success"})

    june = _backfill(service, JUNE)
    assert service.wait(DAG_ID, june) == "success", service.task_states(DAG_ID, june)
    dropped = f"run {may} (2023-05) is no longer live: its turn (waiting) is dropped"
    assert dropped in _log(service, june, GATE)

    # Clearing a task of the billed month (its report) clears its gate with it: it waits its turn.
    ended = _trigger(service, OPEN_MONTHS[1])
    _holds(gate, ended)
    cleared = service.api("POST", f"/dags/{DAG_ID}/clearTaskInstances", json={
        "dry_run": False, "dag_run_id": june, "task_ids": ["report"], "only_failed": False,
    })
    assert cleared.status_code == 200, cleared.text
    assert GATE in {ti["task_id"] for ti in cleared.json()["task_instances"]}
    _waits(gate, june, ended)
    time.sleep(12)  # more than a poke of the gate: the report does not run while the other run holds
    report = service.api("GET", f"/dags/{DAG_ID}/dagRuns/{june}/taskInstances/report").json()
    assert report["state"] in (None, "scheduled"), report

    _mark(service, ended, "success")  # Airflow runs its teardown: the turn is given back
    assert service.wait(DAG_ID, june) == "success", service.task_states(DAG_ID, june)
    assert _log(service, june, GATE).count("takes the turn") == 2
    assert turns(gate.ledger) == []  # the cleared run gave the turn back again
