"""``make bench``: a month close at Sokrio's scale, measured against the database's own floor.

1. Loads the local PostgreSQL with the demo generator at scale, one database per client count
   (``dms_bench_100`` and ``dms_bench_1000``): 500,000 users with status histories in either,
   one client of 50,000 users beside many smaller ones (``Spec.client_sizes``), and about 2.5M,
   5M and 25M logins in September, October and November 2023 (November is the benchmark month;
   the other two are its earlier months and the scaling run's smaller points). Bulk COPY, a
   progress bar, indexes built after the load. The spec is kept as the database's comment: a
   database that already holds it is reused.
2. For each month (on the first database; the others: the benchmark month), runs every stage
   over all clients in a child process of its own and reads the child's wall time and peak
   memory: extract, validate, decide, render (invoices: HTML and PDF), deliver (lists and
   invoices to a local SMTP server). Then the references: the floors (hand-written PostgreSQL
   queries for the same billable set, and for the list's facts) and DuckDB computing the
   decision over the same Parquet snapshots.
3. The benchmark month as a whole: through ``airflow dags test``, and through Airflow as a
   service with LocalExecutor (``tools.bench_service``): trigger to success, and per task
   instance the time outside our code, the queue latency, retries, orphans and peak memory.
4. Prints the tables and writes them, with the machine's description and the targets, to
   ``docs/benchmarks.md`` (a smaller try, e.g. ``--clients 20 --users 20000``, writes
   ``<data>/bench/benchmarks.md``); ``--runs`` picks what to measure, keeping what was
   measured before of the rest.

Speed is reported here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tools.bench_service import TIMED_OUT, ServiceRun, p95, peak_task, per_task, service_run

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
BENCH_MONTH = "2023-11"
# month -> logins per user in that month: 2.5M, 5M and 25M logins over 500,000 users
MONTH_LOGINS = {"2023-09": 5.0, "2023-10": 10.0, "2023-11": 50.0}
MIN_CLIENT_USERS = 25  # the planted cases (21) and a few more
STAGES = ("extract", "validate", "decide", "render", "deliver")
DAG_RUN = "whole run: airflow dags test"
FLOOR = "floor (one PostgreSQL query)"
LIST_FLOOR = "floor for the list's facts (one PostgreSQL query)"


@dataclass(frozen=True)
class Spec:
    """What a bench database holds; stored as its comment, so a matching database is reused.

    Clients differ in size, as real ones do: one client of ``largest_client`` users first, the
    others' sizes drawn from a lognormal distribution (``size_sigma``), ``users`` in all.
    """

    clients: int = 100
    users: int = 500_000
    largest_client: int = 50_000
    size_sigma: float = 0.75
    month_logins: dict[str, float] = field(default_factory=lambda: dict(MONTH_LOGINS))
    seed: int = 42

    def client_sizes(self) -> list[int]:
        """Users per client, in client order: the largest first, the rest at least ``MIN_CLIENT_USERS``."""
        rng = random.Random(f"{self.seed}:client-sizes")
        weights = [rng.lognormvariate(0, self.size_sigma) for _ in range(self.clients - 1)]
        spare = self.users - self.largest_client - MIN_CLIENT_USERS * len(weights)
        if spare < 0:
            raise SystemExit(f"{self.users} users cannot fill {self.clients} clients "
                             f"beside one of {self.largest_client}")
        sizes = [MIN_CLIENT_USERS + int(spare * w / sum(weights)) for w in weights]
        sizes[-1] += self.users - self.largest_client - sum(sizes)  # what rounding down left over
        return [self.largest_client, *sizes]

    def database(self) -> str:
        name = f"dms_bench_{self.clients}"
        return name if self.users == Spec.users else f"{name}_{self.users}"

    def text(self) -> str:
        sizes = sorted(self.client_sizes())
        shape = {"smallest": sizes[0], "median": sizes[len(sizes) // 2],
                 "second": sizes[-2], "largest": sizes[-1]}
        return json.dumps({**self.__dict__, "client_sizes": shape}, sort_keys=True)


@dataclass
class Measure:
    name: str
    seconds: float
    peak_mb: float | None = None
    rows: int | None = None
    note: str = ""


# ---------------------------------------------------------------------------------------------
# The bench database


def _server_and_name(url: str):
    import sqlalchemy as sa

    target = sa.make_url(url)
    return sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT"), target.database


def stored_spec(url: str) -> str | None:
    """The spec the database was loaded with (its comment), or None when missing or partial."""
    import sqlalchemy as sa

    server, name = _server_and_name(url)
    try:
        with server.connect() as conn:
            return conn.execute(
                sa.text("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :name"),
                {"name": name},
            ).scalar()
    finally:
        server.dispose()


def load(url: str, spec: Spec) -> float:
    """(Re)create the database and load it with the demo generator; seconds taken."""
    from include.dms_billing.core.billing_month import BillingMonth
    from include.dms_billing.demo.demo_dms import generate

    server, name = _server_and_name(url)
    with server.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    counts = generate(
        url, seed=spec.seed, client_sizes=spec.client_sizes(),
        month_logins={BillingMonth.parse(m): n for m, n in spec.month_logins.items()}, progress=True,
    )
    seconds = time.perf_counter() - started
    with server.connect() as conn:  # written last: a load cut short is never taken as complete
        conn.exec_driver_sql(f"COMMENT ON DATABASE \"{name}\" IS '{spec.text()}'")
    server.dispose()
    print(f"Loaded in {seconds:.0f}s: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True)
    return seconds


def table_sizes(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        sizes = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                 for t in ("clients", "users", "user_status_changes", "user_logins")}
    engine.dispose()
    return sizes


def month_logins(url: str, month: str) -> int:
    """Logins in the month (UTC calendar month: close enough to describe the load)."""
    import sqlalchemy as sa

    from include.dms_billing.core.billing_month import BillingMonth

    start = BillingMonth.parse(month)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT count(*) FROM user_logins WHERE logged_in_at >= :a AND logged_in_at < :b"),
            {"a": f"{start}-01 00:00:00", "b": f"{start.next()}-01 00:00:00"},
        ).scalar()
    engine.dispose()
    return rows


def bench_config(url: str, folder: Path) -> Path:
    """A billing configuration with a plan for every client in the bench database."""
    import sqlalchemy as sa
    import yaml

    from include.dms_billing.source.clients import fetch_clients

    base = yaml.safe_load((PROJECT / "include" / "config" / "billing.yaml").read_text(encoding="utf-8"))
    engine = sa.create_engine(url)
    codes = [c.client_code for c in fetch_clients(engine)]
    engine.dispose()
    plan = {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}
    base["clients"] = {code: {"plan": base["clients"].get(code, {}).get("plan", plan)} for code in codes}
    base["approval"] = {**base.get("approval", {}), "enabled": False}  # nobody answers finance's approval here
    path = folder / "billing.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Stages: each in a child process (python -m tools.bench _stage ...), all clients in turn


def bench_batches() -> int:
    """The batches a run makes on this machine: its ``[core] parallelism`` as the service sizes it
    (``tools.airflow_service.sizing``), for the stages, ``dags test`` and the scheduler alike."""
    from tools.airflow_service import sizing

    return int(sizing()["AIRFLOW__CORE__PARALLELISM"])


def _batches(url: str, month: str):
    """The month's clients in batches, as ``plan_run`` makes them."""
    import sqlalchemy as sa

    from include.dms_billing.core.batches import plan_batches
    from include.dms_billing.core.billing_month import BillingMonth
    from include.dms_billing.core.config import load_config
    from include.dms_billing.core.jobs import plan_clients
    from include.dms_billing.flows.moments import batch_key
    from include.dms_billing.source.clients import fetch_clients, fetch_user_counts

    engine = sa.create_engine(url)
    config = load_config()
    jobs = plan_clients(fetch_clients(engine), [], BillingMonth.parse(month), config)
    users = fetch_user_counts(engine)
    batches = plan_batches(jobs, {job.client_code: batch_key(job, config) for job in jobs},
                           {job.client_code: users.get(job.client_id, 0) for job in jobs}, bench_batches())
    return engine, batches


def run_stage(stage: str, url: str, month: str) -> int:
    """One stage for every client, batch by batch as the DAG's tasks do it; returns the rows it handled."""
    import pyarrow.parquet as pq

    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.core.config import load_config
    from include.dms_billing.flows import delivery_steps, list_steps
    from include.dms_billing.ledger.db import default_ledger_url, ledger_engine, migrate
    from include.dms_billing.outputs.paths import client_month_paths

    engine, batches = _batches(url, month)
    config = load_config()
    ledger = ledger_engine(default_ledger_url())
    migrate(ledger)
    rows = 0
    run_id = f"bench__{month}"
    for batch in batches:
        clients = [(job, client_month_paths(job.billing_month, job.client_code)) for job in batch.jobs]
        if stage == "extract":
            rows += sum(list_steps.extract_batch_step(engine, clients).values())
        elif stage == "validate":
            for code, outcome in list_steps.validate_batch_step(clients, config).items():
                if not outcome.success:
                    raise SystemExit(f"{code}: {outcome.message}")
            rows += sum(pq.read_metadata(paths.snapshot).num_rows for _, paths in clients)
        for job, paths in clients:
            if stage == "decide":
                rows += list_steps.decide_step(job, paths, config, paths.report_dir).billable
            elif stage == "render":
                issued = delivery_steps.issue_invoice_step(ledger, job, paths, config, run_id)
                rows += issued.invoice.billable_count
            elif stage == "deliver":  # after "render", which issued the invoices
                for step in (delivery_steps.send_list_step, delivery_steps.send_invoice_step):
                    step(ledger, job, paths, config, run_id, False, send_message)
                    rows += 1
    engine.dispose()
    return rows


def _child_env(data: Path, config: Path, url: str, smtp_uri: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__DATABASE"))}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(PROJECT), str(PROJECT / "plugins")]),
        "DMS_BILLING_DATA": str(data),
        "DMS_BILLING_CONFIG": str(config),
        "AIRFLOW_CONN_DMS_SOURCE": url,
        "GX_ANALYTICS_ENABLED": "false",
        "AIRFLOW__DMS_BILLING__MAX_BATCHES": str(bench_batches()),
    })
    if smtp_uri:
        env["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_uri
    return env


def _high_water_mb(pid: int) -> float | None:
    """The process's peak resident memory since it started its program (``VmHWM``), in MB.

    Not ``ru_maxrss``: Linux carries the forking parent's size over into the child's, so a
    child of a large bench process would report at least the parent's memory.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure_child(name: str, args: list[str], env: dict[str, str], log: Path) -> Measure:
    """Run a child process; its wall time, peak resident memory and (last stdout line) rows.

    The peak is read from ``/proc`` every 0.2 s while the child runs: it only grows, so the
    last reading is the peak, short of the child's final 0.2 s.
    """
    started = time.perf_counter()
    peak_mb = 0.0
    with log.open("ab") as err, tempfile.TemporaryFile() as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=err, cwd=PROJECT)
        while process.poll() is None:
            peak_mb = max(peak_mb, _high_water_mb(process.pid) or 0.0)
            time.sleep(0.2)
        out.seek(0)
        stdout = out.read()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{name} failed ({process.returncode}); see {log}")
    last = (stdout.decode().strip().splitlines() or [""])[-1].split()
    if len(last) == 2:  # a stage: "rows work_seconds" (its own time, without starting Python)
        rows, work = int(last[0]), float(last[1])
        return Measure(name, work, peak_mb, rows, f"{seconds - work:.1f}s more to start the process")
    return Measure(name, seconds, peak_mb)


def stage_measures(url: str, month: str, data: Path, config: Path, smtp_uri: str, log: Path) -> list[Measure]:
    env = _child_env(data, config, url, smtp_uri)
    measures = []
    for stage in STAGES:
        print(f"  {month} {stage} ...", flush=True)
        args = [sys.executable, "-m", "tools.bench", "_stage", stage, "--db", url, "--month", month]
        measures.append(measure_child(stage, args, env, log))
        print(f"    {measures[-1].seconds:.1f}s, {measures[-1].peak_mb:.0f} MB", flush=True)
    return measures


# ---------------------------------------------------------------------------------------------
# References


FLOOR_SQL = """
-- The billable set of every client in one query: the floor the pipeline is compared with.
-- Per user: the status at month end is one index probe on the status history (LATERAL ...
-- LIMIT 1), and "logged in during the month" one index-only probe on the logins (EXISTS).
WITH bounds AS (
    SELECT id AS client_id,
           (CAST(:month_start AS timestamp) AT TIME ZONE timezone) AT TIME ZONE 'UTC' AS period_start,
           (CAST(:month_end AS timestamp) AT TIME ZONE timezone) AT TIME ZONE 'UTC' AS period_end
      FROM clients
)
SELECT u.client_id, u.id AS user_id
  FROM users u
  JOIN bounds b ON b.client_id = u.client_id
  LEFT JOIN LATERAL (
        SELECT sc.status
          FROM user_status_changes sc
         WHERE sc.user_id = u.id AND sc.changed_at < b.period_end
         ORDER BY sc.changed_at DESC, sc.id DESC
         LIMIT 1) s ON true
 WHERE u.created_at < b.period_end
   AND (((u.deleted_at IS NULL OR u.deleted_at >= b.period_end) AND COALESCE(s.status, u.status) = 'active')
        OR EXISTS (SELECT 1
                     FROM user_logins l
                    WHERE l.user_id = u.id
                      AND l.logged_in_at >= b.period_start
                      AND l.logged_in_at < b.period_end))
"""


# The same billable set with what the list says of each user: the status and when it was set,
# the latest login and the number of logins in the month (which reads every login of the month).
LIST_FLOOR_SQL = """
WITH bounds AS (
    SELECT id AS client_id,
           (CAST(:month_start AS timestamp) AT TIME ZONE timezone) AT TIME ZONE 'UTC' AS period_start,
           (CAST(:month_end AS timestamp) AT TIME ZONE timezone) AT TIME ZONE 'UTC' AS period_end
      FROM clients
)
SELECT u.client_id, u.id AS user_id, u.username, u.full_name, u.role,
       s.status, s.changed_at, last_login.at AS last_login_at, month_logins.n AS logins_in_month
  FROM users u
  JOIN bounds b ON b.client_id = u.client_id
  LEFT JOIN LATERAL (
        SELECT sc.status, sc.changed_at
          FROM user_status_changes sc
         WHERE sc.user_id = u.id AND sc.changed_at < b.period_end
         ORDER BY sc.changed_at DESC, sc.id DESC
         LIMIT 1) s ON true
  CROSS JOIN LATERAL (
        SELECT MAX(l.logged_in_at) AS at
          FROM user_logins l
         WHERE l.user_id = u.id AND l.logged_in_at < b.period_end) last_login
  CROSS JOIN LATERAL (
        SELECT COUNT(*) AS n
          FROM user_logins l
         WHERE l.user_id = u.id AND l.logged_in_at >= b.period_start AND l.logged_in_at < b.period_end) month_logins
 WHERE u.created_at < b.period_end
   AND (((u.deleted_at IS NULL OR u.deleted_at >= b.period_end) AND COALESCE(s.status, u.status) = 'active')
        OR month_logins.n > 0)
"""


def floor(url: str, month: str, name: str = FLOOR, sql: str = FLOOR_SQL) -> Measure:
    """A hand-written query, rows fetched to the client (as extraction fetches its rows)."""
    import sqlalchemy as sa

    from include.dms_billing.core.billing_month import BillingMonth

    start = BillingMonth.parse(month)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        started = time.perf_counter()
        rows = conn.execute(sa.text(sql), {"month_start": f"{start}-01 00:00:00",
                                           "month_end": f"{start.next()}-01 00:00:00"}).fetchall()
        seconds = time.perf_counter() - started
    engine.dispose()
    return Measure(name, seconds, rows=len(rows))


DUCKDB_DECISION = """
-- The billable list as our rule writes it (same columns, same order), from the same snapshots.
WITH facts AS (
    SELECT s.*,
           COALESCE(s.deleted_at < e.period_end, false) AS deleted,
           CASE WHEN COALESCE(s.deleted_at < e.period_end, false) THEN 'inactive'
                ELSE COALESCE(s.history_status, s.current_status) END AS status_at_month_end
      FROM read_parquet(?, hive_partitioning = true) s
      JOIN ends e USING (client_id)
     WHERE s.created_at < e.period_end
)
SELECT client_code, billing_month, user_id, username, full_name, role, status_at_month_end,
       CASE WHEN status_at_month_end = 'active' THEN 'active' ELSE 'inactive_recent_login' END AS billable_reason,
       last_login_at, logins_in_month,
       CASE WHEN deleted THEN 'deleted' WHEN history_status IS NOT NULL THEN 'history' ELSE 'current' END
           AS status_source,
       CASE WHEN deleted THEN deleted_at WHEN history_status IS NOT NULL THEN history_changed_at END AS status_set_at,
       '' AS change_since_last_month
  FROM facts
 WHERE status_at_month_end = 'active' OR logins_in_month > 0
 ORDER BY client_code, user_id
"""


def decision_references(url: str, month: str, data: Path, config_path: Path) -> list[Measure]:
    """The decision over the same snapshots: our rule (read + decide, client by client, as the
    DAG does) against DuckDB's, in one query over all snapshots and in one query per client.
    Each side returns the same billable list as a pandas frame."""
    import duckdb
    import pandas as pd
    import pyarrow.parquet as pq

    from include.dms_billing.core.config import load_config
    from include.dms_billing.core.rule import decide
    from include.dms_billing.outputs.paths import client_month_paths

    engine, batches = _batches(url, month)
    engine.dispose()
    jobs = [job for batch in batches for job in batch.jobs]
    config = load_config(config_path)
    started = time.perf_counter()
    ours = 0
    for job in jobs:
        snapshot = pq.read_table(client_month_paths(month, job.client_code, data).snapshot)
        ours += len(decide(snapshot, job.window(), config.status_map(job.client_code), job.client_code))
    ours_seconds = time.perf_counter() - started

    ends = pd.DataFrame({"client_id": [j.client_id for j in jobs],
                         "period_end": [pd.Timestamp(j.window().end) for j in jobs]})
    pattern = str(data / "snapshots" / f"billing_month={month}" / "client_code=*" / "user_facts.parquet")
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.register("ends", ends)
    started = time.perf_counter()
    theirs = len(con.execute(DUCKDB_DECISION, [pattern]).df())
    duck_seconds = time.perf_counter() - started
    started = time.perf_counter()
    per_client = sum(
        len(con.execute(DUCKDB_DECISION, [str(client_month_paths(month, job.client_code, data).snapshot)]).df())
        for job in jobs
    )
    per_client_seconds = time.perf_counter() - started
    con.close()
    if not ours == theirs == per_client:
        raise SystemExit(f"{month}: our rule bills {ours} users, DuckDB's {theirs} (per client: {per_client})")
    return [Measure("decision: our rule (read + decide)", ours_seconds, rows=ours),
            Measure("decision: DuckDB over the same Parquet", duck_seconds, rows=theirs),
            Measure("decision: DuckDB, one query per client", per_client_seconds, rows=per_client)]


def dag_run(url: str, month: str, data: Path, config: Path, smtp_uri: str, log: Path, server: str) -> Measure:
    """The whole month through ``airflow dags test``: fresh PostgreSQL metadata DB and ledger,
    as the runs through the scheduler have."""
    from tools.bench_service import airflow_conn_uri, fresh_database

    home = data / "airflow"
    env = _child_env(data, config, url, smtp_uri)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": fresh_database(server, "dms_bench_airflow"),
        "AIRFLOW_CONN_BILLING_DB": airflow_conn_uri(fresh_database(server, "dms_bench_ledger")),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    })
    airflow = [sys.executable, "-m", "airflow"]
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    conf = json.dumps({"billing_month": month, "deliver": True})
    measure = measure_child(DAG_RUN, [*airflow, "dags", "test", "dms_monthly_billing", "-c", conf], env, log)
    measure.note = load_note()
    return measure


def service_measure(executor: str, url: str, month: str, data: Path, config: Path, smtp_uri: str,
                    server: str, timeout: float) -> ServiceRun:
    """The whole month through Airflow as a service (``tools.bench_service``)."""
    env = _child_env(data, config, url, smtp_uri)
    run = service_run(executor, month, data / "airflow", env, server, timeout)
    run.load_average = os.getloadavg()[:2]
    return run


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) at the end"


# ---------------------------------------------------------------------------------------------
# Report


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def _fmt_rate(m: Measure) -> str:
    return f"{m.rows / m.seconds:,.0f}" if m.rows and m.seconds else ""


def table(measures: list[Measure], reference: Measure | None = None) -> str:
    lines = ["| step | seconds | x floor | peak MB | rows | rows/s | note |", "|---|---:|---:|---:|---:|---:|---|"]
    for m in measures:
        ratio = f"{m.seconds / reference.seconds:.2f}" if reference else ""
        peak = f"{m.peak_mb:,.0f}" if m.peak_mb else ""
        rows = f"{m.rows:,}" if m.rows is not None else ""
        lines.append(f"| {m.name} | {m.seconds:.1f} | {ratio} | {peak} | {rows} | {_fmt_rate(m)} | {m.note} |")
    return "\n".join(lines)


# Through the scheduler: tools/airflow_service.py's executors (Celery: two workers on this machine).
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
RUNS = ("stages", "dags-test", *EXECUTORS)


@dataclass
class SpecResults:
    """Everything measured on one bench database, kept in ``<data>/bench/<database>/results.json``."""

    spec: str
    sizes: dict[str, int] = field(default_factory=dict)
    logins: dict[str, int] = field(default_factory=dict)
    months: dict[str, list[Measure]] = field(default_factory=dict)
    service: dict[str, ServiceRun] = field(default_factory=dict)
    load_seconds: float | None = None

    def to_json(self) -> dict:
        return {**self.__dict__, "months": {m: [x.__dict__ for x in ms] for m, ms in self.months.items()},
                "service": {e: run.to_json() for e, run in self.service.items()}}

    @classmethod
    def from_json(cls, data: dict) -> SpecResults:
        return cls(**{**data, "months": {m: [Measure(**x) for x in ms] for m, ms in data["months"].items()},
                      "service": {e: ServiceRun.from_json(r) for e, r in data["service"].items()}})


def results_path(root: Path, spec: Spec) -> Path:
    return root / spec.database() / "results.json"


def stored_results(root: Path, spec: Spec) -> SpecResults:
    """What was measured on this spec's database before (nothing, if it held another spec)."""
    path = results_path(root, spec)
    stored = SpecResults.from_json(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None
    return stored if stored is not None and stored.spec == spec.text() else SpecResults(spec.text())


def save_results(root: Path, spec: Spec, results: SpecResults) -> None:
    path = results_path(root, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results.to_json(), indent=2), encoding="utf-8")


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def measure_month(
    url: str, month: str, folder: Path, config: Path, smtp_uri: str, log: Path
) -> list[Measure]:
    """The stages one after another over all clients, then the references."""
    data = _fresh(folder / month)
    measures = stage_measures(url, month, data, config, smtp_uri, log)
    return measures + [floor(url, month), floor(url, month, LIST_FLOOR, LIST_FLOOR_SQL),
                       *decision_references(url, month, data, config)]


def measure_spec(
    spec: Spec, months: list[str], runs: set[str], args: argparse.Namespace, smtp_uri: str
) -> None:
    """Load (or reuse) the spec's database and make the runs asked for; the results are saved."""
    url = f"{args.server}/{spec.database()}"
    results = stored_results(args.root, spec)
    if args.reload or stored_spec(url) != spec.text():
        print(f"Loading {url} with {spec.text()} ...", flush=True)
        results = SpecResults(spec.text(), load_seconds=load(url, spec))
    else:
        print(f"Reusing {url} (already loaded with {spec.text()})", flush=True)
    folder = args.root / spec.database()
    folder.mkdir(parents=True, exist_ok=True)
    results.sizes = table_sizes(url)
    config, log = bench_config(url, folder), folder / "bench.log"
    for month in months:
        results.logins[month] = month_logins(url, month)
        measures = results.months.get(month, [])
        if "stages" in runs:
            kept = [m for m in measures if m.name == DAG_RUN]
            measures = measure_month(url, month, folder, config, smtp_uri, log) + kept
        if month == BENCH_MONTH and "dags-test" in runs:
            print(f"  {spec.database()} {month} whole run through airflow dags test ...", flush=True)
            data = _fresh(folder / f"{month}-dags-test")
            dag = dag_run(url, month, data, config, smtp_uri, log, args.server)
            measures = [m for m in measures if m.name != DAG_RUN] + [dag]
        results.months[month] = measures
        save_results(args.root, spec, results)
        if measures:
            print(table(measures, _floor_of(measures) if "stages" in runs else None), flush=True)
    for executor in EXECUTORS:
        if executor in runs:
            print(f"  {spec.database()} {BENCH_MONTH} through the scheduler ({EXECUTORS[executor]}) ...",
                  flush=True)
            data = _fresh(folder / f"{BENCH_MONTH}-{executor}")
            run = service_measure(executor, url, BENCH_MONTH, data, config, smtp_uri, args.server,
                                  args.timeout)
            results.service[executor] = run
            save_results(args.root, spec, results)
            print(f"    {run.state} in {run.wall_seconds:.1f}s, {run.task_instances} task instances, "
                  f"{run.retries} retries, {run.orphans} orphans", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="make bench: a month close at scale, measured")
    parser.add_argument("--server", default=os.environ.get("DMS_BENCH_SERVER", DEFAULT_SERVER),
                        help="PostgreSQL server URL (the bench databases are dms_bench_<clients>...)")
    parser.add_argument("--clients", default="100,1000",
                        help="client counts, comma-separated: one database each, the same users in all")
    parser.add_argument("--users", type=int, default=Spec.users, help="users in all, over every client")
    parser.add_argument("--largest", type=int, default=None,
                        help=f"users of the largest client (default {Spec.largest_client:,}, "
                             "or a tenth of --users)")
    parser.add_argument("--login-scale", type=float, default=1.0, help="multiplies every month's logins")
    parser.add_argument("--reload", action="store_true", help="load the databases again even if they match")
    parser.add_argument("--months", default=",".join(MONTH_LOGINS),
                        help="months whose stages are measured on the first database "
                             f"(the others: {BENCH_MONTH})")
    parser.add_argument("--runs", default=",".join(RUNS),
                        help=f"what to measure, comma-separated, of {', '.join(RUNS)} "
                             "(keeps the stored results of the rest)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds a run through the scheduler may take (then stopped, and extrapolated)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the report (default docs/benchmarks.md at the full scale, "
                             "else <data>/bench/benchmarks.md)")
    args = parser.parse_args()
    args.runs = {run for run in args.runs.split(",") if run}  # none: only write the report again
    unknown = args.runs - set(RUNS)
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    return args


def specs_of(args: argparse.Namespace) -> list[Spec]:
    largest = args.largest or (Spec.largest_client if args.users == Spec.users else args.users // 10)
    logins = {month: n * args.login_scale for month, n in MONTH_LOGINS.items()}
    return [Spec(int(c), args.users, largest, month_logins=logins) for c in args.clients.split(",")]


def main() -> None:
    args = parse_args()
    from include.dms_billing.outputs.paths import data_root
    from tools.outbox_smtp import Outbox

    args.root = data_root() / "bench"
    specs = specs_of(args)
    full = specs == specs_of(argparse.Namespace(**{**vars(args), "clients": "100,1000", "users": Spec.users,
                                                   "largest": None, "login_scale": 1.0}))
    out = args.out or (PROJECT / "docs" / "benchmarks.md" if full else args.root / "benchmarks.md")
    with Outbox(None) as outbox:
        for i, spec in enumerate(specs):
            months = args.months.split(",") if i == 0 else [BENCH_MONTH]
            measure_spec(spec, months, args.runs, args, outbox.connection_uri())
    results = [(spec, stored_results(args.root, spec)) for spec in specs]
    out.write_text(render_report(results, kept_analysis(out)), encoding="utf-8")
    print(f"Written to {out}")


PIPELINE = ("extract", "validate", "decide")
ANALYSIS_MARK = "<!-- analysis: kept by make bench -->"
TARGETS = "Targets on this 2-core machine"
LOCAL_LIMIT = 5 * 60


def _floor_of(measures: list[Measure]) -> Measure:
    return next(m for m in measures if m.name == FLOOR)


def _by_name(measures: list[Measure]) -> dict[str, Measure]:
    return {m.name: m for m in measures}


def _verdict(ok: bool, by: str) -> str:
    return "met" if ok else f"**missed** by {by}"


def _row(target: str, measured: str, ok: bool, by: str) -> str:
    return f"| {target} | {measured} | {_verdict(ok, by)} |"


def issue6_targets(months: dict[str, list[Measure]]) -> list[str]:
    """Issue 6's targets, on the first database (100 clients)."""
    lines = []
    if BENCH_MONTH in months and any(m.name == FLOOR for m in months[BENCH_MONTH]):
        m = _by_name(months[BENCH_MONTH])
        floor_s = m[FLOOR].seconds
        pipeline = sum(m[name].seconds for name in PIPELINE)
        ratio = pipeline / floor_s
        lines.append(_row("6: extract + validate + decide <= 2x the SQL floor",
                          f"{pipeline:.1f}s = {ratio:.1f}x ({floor_s:.1f}s floor)", ratio <= 2,
                          f"{pipeline - 2 * floor_s:.0f}s ({ratio / 2:.1f}x)"))
        ours = m["decision: our rule (read + decide)"].seconds
        duck = m["decision: DuckDB over the same Parquet"].seconds
        lines.append(_row("6: decision no slower than DuckDB (the same list, same snapshots)",
                          f"{ours:.2f}s vs {duck:.2f}s", ours <= duck,
                          f"{ours - duck:.2f}s ({ours / duck:.1f}x)"))
        if DAG_RUN in m:
            whole = m[DAG_RUN].seconds
            lines.append(_row("6: whole month through the DAG (dags test) < 10 minutes",
                              f"{whole / 60:.1f} min", whole < 600, f"{(whole - 600) / 60:.1f} min"))
    staged = sorted(month for month, ms in months.items() if any(x.name == "extract" for x in ms))
    if len(staged) > 1:
        first, last = _by_name(months[staged[0]]), _by_name(months[staged[-1]])
        growth = max((last[s].peak_mb / first[s].peak_mb - 1, s) for s in STAGES if s in first and s in last)
        lines.append(_row(f"6: peak memory flat (within 10%) from {staged[0]} to {staged[-1]}",
                          f"largest growth {growth[0]:+.0%} ({growth[1]})", growth[0] <= 0.10,
                          f"{growth[0] - 0.10:.0%}"))
    return lines


def _whole(results: SpecResults | None, run: str, extrapolate: bool = False) -> float | None:
    """The whole month's wall time: ``dags-test`` or an executor's run through the scheduler
    (with ``extrapolate``, a run stopped at the timeout counts as its time scaled to all TIs)."""
    if results is None:
        return None
    if run == "dags-test":
        dag = _by_name(results.months.get(BENCH_MONTH, [])).get(DAG_RUN)
        return dag.seconds if dag else None
    service = results.service.get(run)
    if service and service.state == "success":
        return service.wall_seconds
    return service.extrapolated_seconds() if service and extrapolate and service.state == TIMED_OUT else None


def _times_row(target: str, value: float, base: float, limit: float) -> str:
    """A target of at most ``limit`` times a reference: ``value`` against ``base`` seconds."""
    ratio = value / base
    return _row(target, f"{value:.0f}s vs {base:.0f}s = {ratio:.2f}x", ratio <= limit,
                f"{value - limit * base:.0f}s ({ratio / limit:.2f}x the limit)")


def _pipeline_row(target: str, m: dict[str, Measure]) -> list[str]:
    """Extract + validate + decide against at most 3x the floor for the list's facts, when measured."""
    if LIST_FLOOR not in m or not all(name in m for name in PIPELINE):
        return []
    pipeline, list_floor = sum(m[name].seconds for name in PIPELINE), m[LIST_FLOOR].seconds
    ratio = pipeline / list_floor
    return [_row(target, f"{pipeline:.1f}s = {ratio:.1f}x ({list_floor:.1f}s floor)", ratio <= 3,
                 f"{pipeline - 3 * list_floor:.0f}s ({ratio / 3:.1f}x the limit)")]


def issue16_targets(small: SpecResults, large: SpecResults | None) -> list[str]:
    """Issue 16's targets: 100 clients through the scheduler, the list's floor, 1,000 clients, memory."""
    lines = []
    clients = json.loads(small.spec)["clients"]
    local, dags = _whole(small, "local"), _whole(small, "dags-test")
    if local and dags:
        lines.append(_times_row(f"16: whole month, {clients:,} clients, scheduler (LocalExecutor) <= 1.5x dags test",
                                local, dags, 1.5))
    if local:
        lines.append(_row("16: ... and under 5 minutes", f"{local / 60:.1f} min", local < LOCAL_LIMIT,
                          f"{(local - LOCAL_LIMIT) / 60:.1f} min"))
    if "local" in small.service:
        run = small.service["local"]
        faults = run.retries + run.orphans
        lines.append(_row("16: ... with zero retries and zero orphans",
                          f"{run.retries} retries, {run.orphans} orphans", faults == 0,
                          f"{faults}"))
    m = _by_name(small.months.get(BENCH_MONTH, []))
    lines += _pipeline_row("16: extract + validate + decide <= 3x the floor for the list's facts", m)
    for run in (*EXECUTORS, "dags-test"):
        base, grown = _whole(small, run), _whole(large, run, extrapolate=True)
        if base and grown:
            ratio = grown / base
            how = " (extrapolated: stopped at the timeout)" if _whole(large, run) is None else ""
            lines.append(_row(f"16: {json.loads(large.spec)['clients']:,} clients < 3x the time of {clients:,} ({run})",
                              f"{grown:.0f}s{how} vs {base:.0f}s = {ratio:.2f}x", ratio < 3,
                              f"{grown - 3 * base:.0f}s ({ratio / 3:.2f}x the limit)"))
    peak = peak_memory([small, *([large] if large else [])])
    if peak:
        mb, what = peak
        lines.append(_row("16: peak memory of any task < 1 GB (with the 50,000-user client)",
                          f"{mb:,.0f} MB ({what})", mb < 1024, f"{mb - 1024:,.0f} MB"))
    return lines


def _outside_share(run: ServiceRun) -> float | None:
    """The share of the summed task time spent outside our code (process start, Airflow's
    bookkeeping), from the task instances that finished."""
    rows = per_task(run)
    total, ours = sum(r["duration"] for r in rows), sum(r["ours"] for r in rows)
    return 1 - ours / total if total and ours else None


def issue25_targets(small: SpecResults, large: SpecResults | None) -> list[str]:
    """Issue 25's targets: batches through the scheduler at 100 and 1,000 clients, the documents'
    cost per client, the data stages against the list's floor, Celery against the LocalExecutor."""
    lines = []
    clients = json.loads(small.spec)["clients"]
    local, dags = _whole(small, "local"), _whole(small, "dags-test")
    if local and dags:
        lines.append(_times_row(f"25: {clients:,} clients through the scheduler (LocalExecutor) <= 1.2x dags test",
                                local, dags, 1.2))
    if local:
        lines.append(_row("25: ... and under 3 minutes", f"{local / 60:.1f} min", local < 180,
                          f"{(local - 180) / 60:.1f} min"))
    if large is not None:
        many = json.loads(large.spec)["clients"]
        grown = _whole(large, "local", extrapolate=True)
        if grown:
            how = " (extrapolated: stopped at the timeout)" if _whole(large, "local") is None else ""
            lines.append(_row(f"25: {many:,} clients through the scheduler under 10 minutes",
                              f"{grown / 60:.1f} min{how}", grown < 600, f"{(grown - 600) / 60:.1f} min"))
        run = large.service.get("local")
        if run is not None:
            share = _outside_share(run)
            if share is not None:
                lines.append(_row("25: ... time outside our code < 20% of the summed task time",
                                  f"{share:.0%}", share < 0.2, f"{share - 0.2:.0%}"))
            lines.append(_row(f"25: task instances of a {many:,}-client run < 300", f"{run.task_instances:,}",
                              run.task_instances < 300, f"{run.task_instances - 300:,}"))
    for results in (r for r in (small, large) if r is not None):
        m = _by_name(results.months.get(BENCH_MONTH, []))
        count = json.loads(results.spec)["clients"]
        if "render" in m and "deliver" in m:
            per_client = (m["render"].seconds + m["deliver"].seconds) / count
            lines.append(_row(f"25: a client's list email, invoice PDF and invoice email <= 0.5 s ({count:,} clients)",
                              f"{per_client:.2f} s on average (render + deliver over {count:,})",
                              per_client <= 0.5, f"{per_client - 0.5:.2f} s"))
        lines += _pipeline_row(f"25: extract + validate + decide <= 3x the list's floor ({count:,} clients)", m)
    celery = _whole(small, "celery")
    if celery and local:
        lines.append(_row(f"25: Celery, two workers, no slower than the LocalExecutor ({clients:,} clients)",
                          f"{celery:.0f}s vs {local:.0f}s", celery <= local, f"{celery - local:.0f}s"))
    return lines


def peak_memory(results: list[SpecResults]) -> tuple[float, str] | None:
    """The largest peak of a task process (through the scheduler) or of a stage's process (which
    does one task's work for every client in turn); not dags test's, which runs every task."""
    peaks = []
    for r in results:
        clients = json.loads(r.spec)["clients"]
        for executor, run in r.service.items():
            top = peak_task(run)
            if top:
                where = top.task_id if top.map_index < 0 else f"{top.task_id}[{top.map_index}]"
                peaks.append((top.peak_mb, f"task {where}, {executor}, {clients} clients"))
        for month, measures in r.months.items():
            peaks += [(x.peak_mb, f"{x.name}, {month}, {clients} clients, one process")
                      for x in measures if x.peak_mb and x.name != DAG_RUN]
    return max(peaks) if peaks else None


def scaling(months: dict[str, list[Measure]], logins: dict[str, int]) -> list[str]:
    header = " | ".join([*(f"{s} s / MB" for s in STAGES), "floor s"])
    lines = [f"| month | logins | {header} |", "|---|---:|" + "---:|" * (len(STAGES) + 1)]
    for month in sorted(months):
        m = _by_name(months[month])
        if FLOOR not in m:
            continue
        cells = [f"{m[s].seconds:.1f} / {m[s].peak_mb:,.0f}" for s in STAGES if s in m]
        cells.append(f"{m[FLOOR].seconds:.1f}")
        lines.append(f"| {month} | {logins[month]:,} | " + " | ".join(cells) + " |")
    return lines


def describe(spec: Spec, results: SpecResults) -> str:
    shape = json.loads(results.spec)["client_sizes"]
    loaded = f" Loaded in {results.load_seconds:.0f} s." if results.load_seconds else ""
    return (f"`{spec.database()}`: " + ", ".join(f"{t} {n:,}" for t, n in results.sizes.items())
            + f"; client sizes: largest {shape['largest']:,}, second {shape['second']:,}, median "
            f"{shape['median']:,}, smallest {shape['smallest']:,} users.{loaded}")


def render_report(results: list[tuple[Spec, SpecResults]], analysis: str) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    specs = [spec for spec, _ in results]
    small = results[0][1]
    large = results[1][1] if len(results) > 1 else None
    parts = [
        "# Benchmarks", "",
        f"Measured by `make bench` on {now}: {machine()}; PostgreSQL 15 on the same machine, default "
        "settings. Each stage runs over all clients in a child process of its own: *seconds* is its "
        "work, the note says what starting Python and importing took on top; *peak MB* is the "
        "child's maximum resident memory. Ratios are to the floor: one hand-written PostgreSQL "
        "query computing the same billable set (its rows fetched), which the bench checks gives "
        "the same count as the pipeline. A second floor computes what the list says of each billable "
        "user (status and when it was set, latest login, logins in the month) in one query. The "
        f"whole month ({BENCH_MONTH}, delivering to a local SMTP server, the ledger on PostgreSQL) "
        "runs through `airflow dags test` and through Airflow as a service on loopback "
        "(`tools/bench_service.py`: api-server, scheduler, dag-processor, triggerer, the "
        "parallelism `tools/airflow_service.py` sizes for the machine; Celery with two workers on "
        "this machine), timed from the trigger to the run's success.", "",
        *(f"- {describe(spec, r)}" for spec, r in results), "",
        f"## {TARGETS}", "", "| target | measured | verdict |", "|---|---|---|",
        *issue25_targets(small, large), *issue16_targets(small, large), *issue6_targets(small.months), "",
        "## The whole month: dags test and through the scheduler", "",
        *whole_month_table(results), "",
        service_explained(), "",
    ]
    for spec, r in results:
        for executor, run in r.service.items():
            stages = _by_name(r.months.get(BENCH_MONTH, []))
            parts += [f"### {spec.clients:,} clients, {EXECUTORS[executor]}: per task", "",
                      *per_task_table(run, {s: stages[s].seconds for s in STAGES if s in stages}), ""]
            if run.orphan_lines:
                parts += ["Scheduler log lines about orphans or adoption:", "", "```",
                          *run.orphan_lines[:10], "```", ""]
    if large:
        parts += [f"## From {specs[0].clients:,} to {specs[1].clients:,} clients, the same "
                  f"{specs[0].users:,} users", "", *growth_table(small, large), ""]
    parts += ["## Scaling: time (s) and peak memory (MB) per stage as the month's logins grow "
              f"({specs[0].clients} clients)", "", *scaling(small.months, small.logins), ""]
    for spec, r in results:
        for month in sorted(r.months):
            measures = r.months[month]
            if any(m.name == FLOOR for m in measures):
                parts += [f"## {spec.clients:,} clients, {month} ({r.logins[month]:,} logins in the month)",
                          "", table(measures, _floor_of(measures)), ""]
    return "\n".join(parts) + "\n" + ANALYSIS_MARK + "\n" + analysis


def whole_month_table(results: list[tuple[Spec, SpecResults]]) -> list[str]:
    lines = ["| clients | run | wall s | x dags test | task instances | retries | orphans reset "
             "| scheduler heartbeat late (times, longest s) | "
             "outside our code, s per TI (mean) | queue latency s (mean / p95) | peak task MB "
             "| API errors while polling | load average |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for spec, r in results:
        dags = _whole(r, "dags-test")
        if dags:
            dag = _by_name(r.months[BENCH_MONTH])[DAG_RUN]
            lines.append(f"| {spec.clients:,} | airflow dags test | {dags:.0f} | 1.00 |  |  |  |  |  |  | "
                         f"{dag.peak_mb:,.0f} (one process) |  | {dag.note} |")
        for executor, run in r.service.items():
            s = run_summary(run)
            ratio = f"{run.wall_seconds / dags:.2f}" if dags else ""
            load = f"{run.load_average[0]:.1f} / {run.load_average[1]:.1f}" if run.load_average else ""
            wall = f"{run.wall_seconds:.0f}"
            if run.state == TIMED_OUT:
                wall += (f" (stopped: {run.finished:,} of {run.task_instances:,} TIs done; "
                         f"about {run.extrapolated_seconds():.0f} for all)")
            lines.append(f"| {spec.clients:,} | {EXECUTORS[executor]} ({run.state}) | {wall} | {ratio} "
                         f"| {run.task_instances:,} | {run.retries} | {run.orphans} | {_lags(run)} "
                         f"| {s['outside']:.2f} | "
                         f"{s['queue']:.2f} / {s['queue_p95']:.2f} | {s['peak']} | {run.api_errors} "
                         f"| {load} (1 / 5 min) |")
    return lines


def _lags(run: ServiceRun) -> str:
    return f"{len(run.heartbeat_lags)}, {max(run.heartbeat_lags):.0f}" if run.heartbeat_lags else "0"


def run_summary(run: ServiceRun) -> dict:
    timed = [t for t in run.tasks if t.outside is not None]
    queued = [t.queue for t in run.tasks if t.queue is not None]
    top = peak_task(run)
    return {"outside": statistics.fmean(t.outside for t in timed) if timed else float("nan"),
            "queue": statistics.fmean(queued) if queued else float("nan"),
            "queue_p95": p95(queued) if queued else float("nan"),
            "peak": f"{top.peak_mb:,.0f}" if top else ""}


def service_explained() -> str:
    return ("Per task instance (TI), from the REST API and the TI's log: *outside our code* is the TI's "
            "duration (start to end) less the time from the log line just before the operator's "
            "`execute` to the line just after it returns (our task function, with the imports it "
            "does inside itself): starting the task process, parsing the DAG file, getting the "
            "context, XComs, reporting the state. *Queue latency* is `start_date - queued_when`. "
            "*Σ CPU* is the task processes' CPU time (user + system, sampled; empty where a run "
            "predates the sampling). *In-process* is the same stage over all clients in one "
            "process (the stage tables "
            "below); Σ ours minus in-process is what running the stage as separate tasks costs "
            "inside our code (per-process imports, connections, sharing 2 cores). *Peak task MB*: "
            "`VmHWM` of each task process (title `airflow worker -- <TI id>`), sampled every 0.25 s. "
            "Retries are TIs with `try_number > 1`; orphans are the task instances the scheduler log "
            "says it reset as orphaned (or adopted). Targets: none of either. A late heartbeat is "
            "the scheduler's `Heartbeat recovered after N seconds`: past "
            "`scheduler_health_check_threshold` (30 s) the scheduler's orphan check takes its own "
            "running tasks for a dead scheduler's and resets them.")


def per_task_table(run: ServiceRun, in_process: dict[str, float]) -> list[str]:
    stages_of = {"decide_lists": PIPELINE, "issue_and_deliver_invoices": ("render",), "deliver_lists": ("deliver",)}
    lines = ["| task | TIs | Σ duration s | Σ ours s | Σ CPU s | in-process stage s "
             "| outside our code s per TI (mean / p95) | queue s (mean / p95) | peak MB (TIs sampled) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in per_task(run):
        stages = stages_of.get(row["task"].rpartition(".")[2], ())  # bill_batch.decide_lists: three stages
        inproc = f"{sum(in_process[s] for s in stages):.1f}" + (" (both emails)" if stages == ("deliver",) else "") \
            if stages and all(s in in_process for s in stages) else ""
        outside = (f"{row['outside_mean']:.2f} / {row['outside_p95']:.2f}"
                   if row["outside_mean"] is not None else "")
        queue = f"{row['queue_mean']:.2f} / {row['queue_p95']:.2f}" if row["queue_mean"] is not None else ""
        peak = f"{row['peak_mb']:,.0f} ({row['sampled']})" if row["peak_mb"] else ""
        cpu = f"{row['cpu']:.1f}" if row["cpu"] else ""
        lines.append(f"| {row['task']} | {row['n']:,} | {row['duration']:.1f} | {row['ours']:.1f} | {cpu} "
                     f"| {inproc} | {outside} | {queue} | {peak} |")
    return lines


def growth_table(small: SpecResults, large: SpecResults) -> list[str]:
    counts = [f"{json.loads(r.spec)['clients']:,} clients" for r in (small, large)]
    lines = [f"| measure | {counts[0]} | {counts[1]} | ratio |", "|---|---:|---:|---:|"]

    def add(name: str, a: float | None, b: float | None, unit: str = " s") -> None:
        if a and b:
            digits = 2 if unit else 0
            lines.append(f"| {name} | {a:,.{digits}f}{unit} | {b:,.{digits}f}{unit} | {b / a:.2f} |")

    for run in ("dags-test", *EXECUTORS):
        grown = _whole(large, run)
        label = f"whole month, {run}" if grown else f"whole month, {run} (extrapolated)"
        add(label, _whole(small, run), grown or _whole(large, run, extrapolate=True))
    for executor in EXECUTORS:
        if executor in small.service and executor in large.service:
            a, b = small.service[executor], large.service[executor]
            add(f"task instances, {executor}", a.task_instances, b.task_instances, "")
            add(f"task instances finished, {executor}", a.finished, b.finished, "")
            add(f"outside our code per TI, {executor}", run_summary(a)["outside"], run_summary(b)["outside"])
            add(f"queue latency per TI, {executor}", run_summary(a)["queue"], run_summary(b)["queue"])
    a, b = _by_name(small.months.get(BENCH_MONTH, [])), _by_name(large.months.get(BENCH_MONTH, []))
    for name in (*STAGES, FLOOR, LIST_FLOOR):
        if name in a and name in b:
            add(f"{name} (in-process, all clients)", a[name].seconds, b[name].seconds)
    return lines


def kept_analysis(path: Path) -> str:
    """The hand-written analysis below the mark in the current report (kept across runs)."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    return text.split(ANALYSIS_MARK, 1)[1].lstrip("\n") if ANALYSIS_MARK in text else ""


def _stage_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--db", required=True)
    parser.add_argument("--month", required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run_stage(args.stage, args.db, args.month)
    print(rows, f"{time.perf_counter() - started:.3f}", flush=True)  # the parent reads our ru_maxrss


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_stage":
        _stage_main(sys.argv[2:])
    else:
        main()
