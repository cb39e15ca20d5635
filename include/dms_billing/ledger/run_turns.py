"""Runs take turns: two runs of the billing DAG never bill at the same time.

A backfill runs its months at once (``airflow backfill create`` has its own
``--max-active-runs``, default 10, and ignores the DAG's ``max_active_runs=1``); they would race
for the previous month's list, the invoice numbers and the objection credits. So every run
takes a turn in the ledger before its clients start, and gives it back when it ends.

Whole runs are serialized, not client-months: the invoice numbers are one sequence for the
issuer across clients, so only one run at a time keeps them in month order.

A run may take the turn when, in one transaction serialized by the one-row ``run_turn_mutex``
(``ledger/mutex.py``: an UPDATE of it row-locks on PostgreSQL and MySQL and write-locks SQLite):

- no other live run holds it;
- no other live run waits for a turn with an earlier month (or the same month, queued earlier):
  a backfill's months go in month order whatever order their runs reach the gate;
- no run named in ``wait_for`` (the earlier runs of the same backfill that Airflow knows are
  running) is still to reach the gate.

The turn is given back at the end of the run (the DAG's teardown, which runs whatever happened);
the row stays ``done`` until the run ends. Clearing a task of a run clears the gate too (it is
the teardown's setup), so the re-run queues for a turn again, last in its month.

"Live" is the caller's ``is_live(run_id)`` (in the DAG: the run's Airflow state is queued or
running), and, for a run executed in-process by ``airflow dags test`` (``process`` recorded),
that its process still exists on this host. A failed, killed or deleted holder therefore never
blocks anyone: its row is dropped by the next run that looks.

Plain functions over the ledger engine: Airflow appears only in the task that calls them.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from include.dms_billing.ledger.mutex import hold
from include.dms_billing.ledger.schema import run_turn_mutex, run_turns

log = logging.getLogger(__name__)

WAITING, HOLDING, DONE = "waiting", "holding", "done"


@dataclass(frozen=True)
class Turn:
    run_id: str
    billing_month: str
    state: str
    queued_at: datetime
    process: str | None = None

    def order(self) -> tuple[str, datetime, str]:
        """Who goes first among the waiting: the earliest month, then the first to ask."""
        return self.billing_month, _aware(self.queued_at), self.run_id


@dataclass(frozen=True)
class TurnDecision:
    granted: bool
    reason: str  # who or what this run waits for, or why it may go


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite gives naive UTC


def this_process() -> str:
    """``host:pid:start`` of the calling process (what an in-process run records)."""
    import psutil

    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.3f}"


def process_alive(process: str | None) -> bool:
    """False only when ``process`` names a process of this host that no longer exists (or whose
    pid now belongs to another process); True when nothing is recorded or it is another host's."""
    if not process:
        return True
    import psutil

    host, pid, started = process.rsplit(":", 2)
    if host != socket.gethostname():
        return True
    try:
        return f"{psutil.Process(int(pid)).create_time():.3f}" == started
    except (psutil.NoSuchProcess, ValueError):
        return False


def turns(engine: sa.Engine) -> list[Turn]:
    """Every run waiting or holding, the holder first, then in the order they go."""
    with engine.connect() as conn:
        query = sa.select(run_turns).where(run_turns.c.state != DONE)
        rows = [Turn(**row._mapping) for row in conn.execute(query)]
    return sorted(rows, key=lambda t: (t.state != HOLDING, t.order()))


def take_turn(
    engine: sa.Engine,
    run_id: str,
    billing_month: str,
    is_live: Callable[[str], bool],
    *,
    process: str | None = None,
    wait_for: Iterable[str] = (),
    now: datetime | None = None,
) -> TurnDecision:
    """Take the turn for ``run_id`` if it is this run's; otherwise join (or stay in) the queue."""
    now = now or datetime.now(timezone.utc)
    with engine.begin() as conn:
        hold(conn, run_turn_mutex, now)
        rows = {row.run_id: Turn(**row._mapping) for row in conn.execute(sa.select(run_turns))}
        mine = rows.pop(run_id, None)
        if mine is None:
            mine = Turn(run_id, billing_month, WAITING, now, process)
            conn.execute(run_turns.insert().values(**mine.__dict__))
        elif mine.state == DONE:  # a task of a finished run cleared: it queues again, last
            mine = Turn(run_id, billing_month, WAITING, now, process)
            conn.execute(run_turns.update().where(run_turns.c.run_id == run_id).values(**mine.__dict__))
        if mine.state == HOLDING:
            return TurnDecision(True, "this run holds the turn already")
        others, dropped = {}, []
        for other in rows.values():
            if is_live(other.run_id) and process_alive(other.process):
                if other.state != DONE:
                    others[other.run_id] = other
                continue
            if other.state != DONE:  # told in the decision: the task's log is where people look
                dropped.append(f"run {other.run_id} ({other.billing_month}) is no longer live: "
                               f"its turn ({other.state}) is dropped")
                log.warning("%s", dropped[-1])
            conn.execute(run_turns.delete().where(run_turns.c.run_id == other.run_id))
        decision = _decide(mine, others, set(wait_for) - set(rows) - {run_id})  # done or dead: in ``rows``
        if decision.granted:
            conn.execute(run_turns.update().where(run_turns.c.run_id == run_id).values(state=HOLDING))
    return TurnDecision(decision.granted, "; ".join([decision.reason, *dropped]))


def _decide(mine: Turn, others: dict[str, Turn], unseen: set[str]) -> TurnDecision:
    """Whether ``mine`` goes, among the live ``others`` and the backfill's runs not seen yet."""
    holder = next((t for t in others.values() if t.state == HOLDING), None)
    if holder is not None:
        return TurnDecision(False, f"run {holder.run_id} ({holder.billing_month}) holds the turn")
    earlier = sorted((t for t in others.values() if t.order() < mine.order()), key=Turn.order)
    if earlier:
        first = earlier[0]
        return TurnDecision(False, f"run {first.run_id} bills {first.billing_month} first")
    if unseen:
        return TurnDecision(False, f"run {sorted(unseen)[0]}, an earlier month of this backfill, "
                                   "has not asked yet")
    return TurnDecision(True, f"this run ({mine.billing_month}) takes the turn")


def release_turn(engine: sa.Engine, run_id: str) -> bool:
    """Give the turn back (or leave the queue); True if this run was waiting or holding.

    The row stays, ``done``, while the run is live, so that the next month of a backfill knows
    this one has had its turn; the next run that looks drops it once the run has ended."""
    with engine.begin() as conn:
        hold(conn, run_turn_mutex)
        return conn.execute(
            run_turns.update()
            .where(run_turns.c.run_id == run_id, run_turns.c.state != DONE)
            .values(state=DONE)
        ).rowcount > 0
