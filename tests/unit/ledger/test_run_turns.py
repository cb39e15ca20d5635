"""Runs take turns (``run_turns``): one holder at a time, months in order, dead holders dropped.

On a real SQLite file, PostgreSQL and MariaDB (the ``engine`` fixture, conftest.py); the race
runs the check-and-set from several threads, each on its own connection, at once.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.dms_billing.ledger.run_turns import (
    HOLDING,
    WAITING,
    process_alive,
    release_turn,
    take_turn,
    this_process,
    turns,
)


def live(*dead: str):
    return lambda run_id: run_id not in dead


def _states(engine: sa.Engine) -> dict[str, str]:
    return {t.run_id: t.state for t in turns(engine)}


def test_a_single_run_takes_the_turn_at_once_and_gives_it_back(engine: sa.Engine) -> None:
    decision = take_turn(engine, "scheduled__2023-05", "2023-05", live())
    assert decision.granted, decision
    assert take_turn(engine, "scheduled__2023-05", "2023-05", live()).granted  # a poke again, a retry
    assert _states(engine) == {"scheduled__2023-05": HOLDING}
    assert release_turn(engine, "scheduled__2023-05") is True
    assert turns(engine) == [] and release_turn(engine, "scheduled__2023-05") is False


def test_a_second_run_waits_while_the_first_holds_then_goes(engine: sa.Engine) -> None:
    assert take_turn(engine, "a", "2023-05", live()).granted
    waiting = take_turn(engine, "b", "2023-06", live())
    assert not waiting.granted and waiting.reason == "run a (2023-05) holds the turn"
    assert not take_turn(engine, "b", "2023-06", live()).granted
    assert _states(engine) == {"a": HOLDING, "b": WAITING}
    release_turn(engine, "a")
    assert take_turn(engine, "b", "2023-06", live()).granted


@pytest.mark.parametrize("months", [("2023-05",) * 5,
                                    ("2023-07", "2023-05", "2023-06", "2023-05", "2023-08")])
def test_runs_racing_for_the_turn_get_it_one_at_a_time(engine: sa.Engine, months: tuple[str, ...]) -> None:
    """Every run pokes at the same moment, round after round (a slow liveness check widens the
    window between the read and the write). Never two holders; nobody takes over a live holder;
    once all have asked, the turn passes in month order (then the order they asked)."""
    runs = dict(zip((f"backfill__{i}" for i in range(len(months))), months))
    holders: list[list[str]] = []

    def slow_live(run_id: str) -> bool:
        time.sleep(0.01)
        return True

    def race(waiting: dict[str, str]) -> None:
        barrier = threading.Barrier(len(waiting))
        errors: list[BaseException] = []

        def poke(run_id: str, month: str) -> None:
            try:
                barrier.wait(timeout=60)
                take_turn(engine, run_id, month, slow_live)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=poke, args=item) for item in waiting.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        holders.append([t.run_id for t in turns(engine) if t.state == HOLDING])

    for _ in range(3):
        race(runs)
    assert all(h == holders[0] for h in holders) and len(holders[0]) == 1, holders
    order = [holders[0][0]]
    left = {r: m for r, m in runs.items() if r != order[0]}
    while left:
        asked = {t.run_id: t.queued_at for t in turns(engine)}
        release_turn(engine, order[-1])
        race(left)
        assert len(holders[-1]) == 1, holders[-1]
        holder = holders[-1][0]
        # the earliest month waiting goes next; of runs for the same month, the one that asked first
        assert runs[holder] == min(left.values()), (holder, runs[holder], left)
        assert asked[holder] == min(asked[r] for r in left if runs[r] == runs[holder]), (holder, asked)
        order.append(holder)
        left.pop(holder)
    assert [runs[r] for r in order[1:]] == sorted(runs[r] for r in order[1:])


def test_a_backfills_months_go_in_month_order_whatever_order_their_runs_ask(engine: sa.Engine) -> None:
    for run_id, month in (("jul", "2023-07"), ("may", "2023-05"), ("jun", "2023-06")):
        take_turn(engine, run_id, month, live())
    # July asked first, with nobody holding: it took the turn before May and June had asked.
    assert _states(engine)["jul"] == HOLDING
    release_turn(engine, "jul")
    order = []
    for _ in range(3):
        for run_id, month in (("jun", "2023-06"), ("may", "2023-05"), ("aug", "2023-08")):
            if run_id not in order and take_turn(engine, run_id, month, live()).granted:
                order.append(run_id)
                release_turn(engine, run_id)
    assert order == ["may", "jun", "aug"]
    assert not take_turn(engine, "sep", "2023-09", live(), wait_for=["jul2"]).granted


def test_the_earlier_run_of_a_backfill_goes_first_even_before_it_asks(engine: sa.Engine) -> None:
    """June's run reaches the gate before May's (``wait_for``: Airflow has May's run running)."""
    waiting = take_turn(engine, "jun", "2023-06", live(), wait_for=["may"])
    assert not waiting.granted and "run may" in waiting.reason
    assert take_turn(engine, "may", "2023-05", live()).granted
    release_turn(engine, "may")
    assert take_turn(engine, "jun", "2023-06", live(), wait_for=["may"]).granted  # May asked, and is done


def test_a_dead_or_failed_holder_blocks_nobody(engine: sa.Engine) -> None:
    assert take_turn(engine, "killed", "2023-05", live()).granted
    assert not take_turn(engine, "june", "2023-06", live()).granted
    assert not take_turn(engine, "earlier", "2023-04", live()).granted
    decision = take_turn(engine, "june", "2023-06", live("killed", "earlier"))  # both failed meanwhile
    assert decision.granted, decision
    assert "run killed (2023-05) is no longer live: its turn (holding) is dropped" in decision.reason  # the log
    assert _states(engine) == {"june": HOLDING}
    # a dead run named in wait_for was seen and dropped: it is not waited for either
    assert take_turn(engine, "x", "2023-07", live("june"), wait_for=["june"]).granted


def test_a_killed_in_process_run_blocks_nobody_though_airflow_still_says_running(engine: sa.Engine) -> None:
    """``airflow dags test`` killed: its run stays "running" in Airflow; its process is gone."""
    child = subprocess.run(
        [sys.executable, "-c",
         "from include.dms_billing.ledger.run_turns import this_process; print(this_process())"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[3],
    ).stdout.strip()
    assert process_alive(this_process()) and not process_alive(child)
    assert process_alive("another-host:1:0.000") and process_alive(None)
    assert take_turn(engine, "killed", "2023-05", live(), process=child).granted
    assert take_turn(engine, "again", "2023-05", live(), process=this_process()).granted
    assert _states(engine) == {"again": HOLDING}
    assert not take_turn(engine, "other", "2023-05", live()).granted  # this process is alive: it holds
