"""The month close through Airflow as a service, for ``make bench``: trigger to success, per task.

``service_run`` starts :class:`tools.airflow_service.AirflowService` (a fresh PostgreSQL
metadata database and ledger), triggers ``dms_monthly_billing`` for one month with delivery to
the bench's SMTP outbox, and waits for the run to finish. While it runs, every task process
(its title is ``airflow worker -- <task instance id>``) among the service's descendants is
sampled for its peak resident memory and CPU time. Afterwards it reads every task instance
from the REST API and, from each one's log, when our code started and ended.

What is *ours* and what is *Airflow's*, per task instance:

- **our code**: from the log line that ends the task runner's "Pre Execute" group (just before
  the operator's ``execute``) to the line that opens its "Post Execute" group (just after
  ``execute`` returns). It includes the imports our task function does inside itself, which a
  single process pays once.
- **outside our code**: the task instance's ``end_date - start_date`` minus our code's time:
  starting the task process, parsing the DAG file, fetching the context, pushing XComs,
  reporting the state.
- **queue latency**: ``start_date - queued_when``.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from tools.airflow_service import FINISHED, AirflowService, AirflowServiceError, free_port

DAG_ID = "dms_monthly_billing"
TASK_TITLE = "airflow worker -- "
EXECUTE_STARTS = "::endgroup::"
# The task runner's next group after ``execute`` returns, or what it logs instead when it fails
# or defers: the end of our code's time.
EXECUTE_ENDS = ("::group::Post Execute", "Task failed with exception", "Pausing task as DEFERRED",
                "Rescheduling task")
ORPHAN_MARKS = ("orphan", "Reset the following", "adopt")
ROUTINE = "Adopting or resetting orphaned tasks for active dag runs"  # the periodic check itself
RESET = re.compile(r"Reset the following (\d+) orphaned")
LAG = re.compile(r"Heartbeat recovered after ([\d.]+) seconds")
PAGE = 500
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TIMED_OUT = "timed out"
DONE_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}


@dataclass
class TaskTimes:
    """One task instance as the REST API and its log tell it (seconds)."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    hostname: str | None
    duration: float
    queue: float | None
    ours: float | None
    peak_mb: float | None
    cpu: float | None = None  # the task process's CPU seconds, as last sampled

    @property
    def outside(self) -> float | None:
        return None if self.ours is None else self.duration - self.ours


@dataclass
class ServiceRun:
    """A month through the scheduler: what ``make bench`` reports of it."""

    executor: str
    state: str
    wall_seconds: float
    task_instances: int
    retries: int
    orphan_lines: list[str]
    tasks: list[TaskTimes] = field(default_factory=list)
    load_average: list[float] = field(default_factory=list)  # 1 and 5 minutes, at the end
    heartbeat_lags: list[float] = field(default_factory=list)  # the scheduler's late heartbeats, s
    api_errors: int = 0  # the REST API failing to tell the run's state while it ran

    @property
    def orphans(self) -> int:
        """Task instances reset as orphans (or adopted): what the orphan lines name."""
        return sum(int(m.group(1)) if (m := RESET.search(line)) else 1 for line in self.orphan_lines)

    @property
    def finished(self) -> int:
        """Task instances done (all of them, unless the run timed out)."""
        return sum(t.state in DONE_STATES for t in self.tasks)

    def extrapolated_seconds(self) -> float:
        """The wall time, or for a run stopped at the timeout, that time scaled to all its TIs."""
        done = self.finished
        if self.state != TIMED_OUT or not done:
            return self.wall_seconds
        return self.wall_seconds * len(self.tasks) / done

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ServiceRun:
        return cls(**{**data, "tasks": [TaskTimes(**t) for t in data["tasks"]]})


# ---------------------------------------------------------------------------------------------
# Fresh PostgreSQL databases


def fresh_database(server: str, name: str) -> str:
    """Drop and create ``name`` on the server; its URL."""
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return f"{server}/{name}"


def airflow_conn_uri(url: str) -> str:
    """An Airflow connection URI for a SQLAlchemy PostgreSQL URL (no driver suffix)."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


# ---------------------------------------------------------------------------------------------
# Peak memory of every task process, sampled while the run goes on


class TaskSampler:
    """Samples the service's task processes every ``interval`` seconds in a thread.

    Reads ``VmHWM`` (the peak resident memory the kernel kept), so a peak between two samples
    is not missed, and the CPU time so far (user + system), which misses at most the last
    ``interval``. A task process shorter than ``interval`` may be missed altogether.
    """

    def __init__(self, service: AirflowService, interval: float = 0.25) -> None:
        self.service, self.interval = service, interval
        self.peaks: dict[str, float] = {}  # task instance id -> MB
        self.cpu: dict[str, float] = {}  # task instance id -> CPU seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TaskSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for ti_id, mb, cpu in _task_processes(self.service):
                self.peaks[ti_id] = max(mb, self.peaks.get(ti_id, 0.0))
                self.cpu[ti_id] = max(cpu, self.cpu.get(ti_id, 0.0))


def _task_processes(service: AirflowService) -> Iterator[tuple[str, float, float]]:
    """(task instance id, peak MB, CPU seconds) of every task process running now."""
    for pid in service.all_pids():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            if not title.startswith(TASK_TITLE):
                continue
            status = Path(f"/proc/{pid}/status").read_text()
            stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        cpu = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS  # utime + stime
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                yield title[len(TASK_TITLE):].strip(), int(line.split()[1]) / 1024, cpu


# ---------------------------------------------------------------------------------------------
# After the run: the REST API, the task logs, the scheduler's log


def task_instances(service: AirflowService, run_id: str) -> list[dict]:
    """Every task instance of the run, page by page."""
    found: list[dict] = []
    while True:
        response = service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                               params={"limit": PAGE, "offset": len(found), "order_by": "id"})
        response.raise_for_status()
        page = response.json()["task_instances"]
        found += page
        if len(page) < PAGE:
            return found


def _instant(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def log_path(home: Path, run_id: str, ti: dict) -> Path:
    """Airflow's default task log layout (``[logging] log_filename_template``)."""
    folder = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={ti['task_id']}"
    if ti["map_index"] >= 0:
        folder /= f"map_index={ti['map_index']}"
    return folder / f"attempt={ti['try_number']}.log"


def our_seconds(path: Path) -> float | None:
    """Our code's time in one attempt's log (JSON lines), or None when the log does not say."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    started = None
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event, at = str(record.get("event", "")), record.get("timestamp")
        if event == EXECUTE_STARTS and started is None:
            started = _instant(at)
        elif started is not None and event.startswith(EXECUTE_ENDS):
            return _instant(at) - started
    return None


def task_times(ti: dict, home: Path, run_id: str, sampler: TaskSampler) -> TaskTimes:
    start, end, queued = _instant(ti["start_date"]), _instant(ti["end_date"]), _instant(ti["queued_when"])
    return TaskTimes(
        task_id=ti["task_id"], map_index=ti["map_index"], state=ti["state"], try_number=ti["try_number"],
        hostname=ti["hostname"], duration=(end - start) if start and end else 0.0,
        queue=(start - queued) if start and queued else None,
        ours=our_seconds(log_path(home, run_id, ti)), peak_mb=sampler.peaks.get(ti["id"]),
        cpu=sampler.cpu.get(ti["id"]),
    )


def orphan_lines(scheduler_log: Path) -> list[str]:
    """Scheduler log lines about orphaned or adopted task instances (the target is none)."""
    text = scheduler_log.read_text(encoding="utf-8", errors="replace")
    marks = [m.lower() for m in ORPHAN_MARKS]
    return [line.strip()[:300] for line in text.splitlines()
            if any(m in line.lower() for m in marks) and ROUTINE not in line]


def heartbeat_lags(scheduler_log: Path) -> list[float]:
    """How late the scheduler's own heartbeat came, each time it was late: past
    ``scheduler_health_check_threshold`` (30 s) the scheduler takes its own tasks for orphans."""
    text = scheduler_log.read_text(encoding="utf-8", errors="replace")
    return [float(m.group(1)) for m in LAG.finditer(text)]


# ---------------------------------------------------------------------------------------------
# The run


CELERY_WORKERS = 2  # as a deployment with two worker hosts; here both on this machine


def service_run(
    executor: str, month: str, home: Path, env: dict[str, str], server: str, timeout: float
) -> ServiceRun:
    """Trigger the month through the service, wait for it, and read what each task took.

    ``env`` holds the run's connections and paths; the metadata database and the ledger are
    made fresh here, on ``server`` (PostgreSQL).
    """
    metadata = fresh_database(server, "dms_bench_airflow")
    ledger = fresh_database(server, "dms_bench_ledger")
    env = {**env, "AIRFLOW_CONN_BILLING_DB": airflow_conn_uri(ledger),
           "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": str(PAGE)}
    with AirflowService(home, metadata, env, free_port(), executor=executor, workers=CELERY_WORKERS) as service:
        service.wait_for_dag(DAG_ID)
        with TaskSampler(service) as sampler:
            started = time.perf_counter()
            run_id = service.trigger(DAG_ID, {"billing_month": month, "deliver": True})
            state, api_errors = wait_for_run(service, run_id, timeout)
            wall = time.perf_counter() - started
        tis = task_instances(service, run_id)
        tasks = [task_times(ti, service.home, run_id, sampler) for ti in tis]
        log = service.log_path("scheduler")
    retries = sum(t.try_number > 1 for t in tasks)
    return ServiceRun(executor, state, wall, len(tasks), retries, orphan_lines(log), tasks,
                      heartbeat_lags=heartbeat_lags(log), api_errors=api_errors)


def wait_for_run(service: AirflowService, run_id: str, timeout: float) -> tuple[str, int]:
    """The run's final state, or ``TIMED_OUT`` (what it did by then is measured still), and how
    often the API server failed to answer: a busy one runs out of database connections (HTTP
    500 after 30 s), which is worth counting, not a reason to stop the measurement."""
    deadline, errors = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        service.check_alive()
        try:
            state = service.run_state(DAG_ID, run_id)
        except (AirflowServiceError, httpx.HTTPError):
            errors += 1
            continue
        if state in FINISHED:
            return state, errors
        time.sleep(1)
    return TIMED_OUT, errors


# ---------------------------------------------------------------------------------------------
# Summaries


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else (values[0] if values else 0.0)


def per_task(run: ServiceRun) -> list[dict]:
    """One row per task id: how many finished, and the mean and 95th percentile of each time."""
    rows = []
    for task_id in dict.fromkeys(t.task_id for t in run.tasks):
        group = [t for t in run.tasks if t.task_id == task_id and t.state in DONE_STATES]
        if not group:
            continue
        outside = [t.outside for t in group if t.outside is not None]
        queue = [t.queue for t in group if t.queue is not None]
        peaks = [t.peak_mb for t in group if t.peak_mb]
        rows.append({
            "task": task_id, "n": len(group), "duration": sum(t.duration for t in group),
            "ours": sum(t.ours for t in group if t.ours is not None),
            "outside_mean": statistics.fmean(outside) if outside else None,
            "outside_p95": p95(outside) if outside else None,
            "queue_mean": statistics.fmean(queue) if queue else None,
            "queue_p95": p95(queue) if queue else None,
            "peak_mb": max(peaks) if peaks else None, "sampled": len(peaks),
            "cpu": sum(t.cpu for t in group if t.cpu is not None),
        })
    return rows


def peak_task(run: ServiceRun) -> TaskTimes | None:
    sampled = [t for t in run.tasks if t.peak_mb]
    return max(sampled, key=lambda t: t.peak_mb) if sampled else None
