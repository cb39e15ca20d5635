"""``make bench``: a month close at Sokrio's scale, measured against the database's own floor.

1. Loads the local PostgreSQL (database ``dms_bench``) with the demo generator at scale: 100
   clients, 500,000 users with status histories, and login traffic of about 5M, 10M and 20M
   logins in September, October and November 2023 (November is the benchmark month; the other
   two are its earlier months and the scaling run's smaller points). Bulk COPY, a progress bar,
   indexes built after the load. The spec is kept as the database's comment: a database that
   already holds it is reused.
2. For each month, runs every stage over all clients in a child process of its own and reads
   the child's wall time and peak memory (``ru_maxrss``): extract, validate, decide, render
   (invoices: HTML and PDF), deliver (lists and invoices to a local SMTP server). Then the two
   references: the floor (one hand-written PostgreSQL query for the same billable set) and
   DuckDB computing the decision over the same Parquet snapshots; and, for the benchmark month,
   the whole run through ``airflow dags test``.
3. Prints the tables and writes them, with the machine's description, to ``docs/benchmarks.md``.

Speed is reported here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgresql+psycopg2://postgres@127.0.0.1:5432/dms_bench"
BENCH_MONTH = "2023-11"
# month -> logins per user in that month: 5M, 10M and 20M logins over 500,000 users
MONTH_LOGINS = {"2023-09": 10.0, "2023-10": 20.0, "2023-11": 40.0}
STAGES = ("extract", "validate", "decide", "render", "deliver")
DAG_RUN = "whole run: airflow dags test"
FLOOR = "floor (one PostgreSQL query)"
LIST_FLOOR = "floor for the list's facts (one PostgreSQL query)"


@dataclass(frozen=True)
class Spec:
    """What the bench database holds; stored as its comment, so a matching database is reused."""

    clients: int = 100
    users_per_client: int = 5_000
    month_logins: dict[str, float] = field(default_factory=lambda: dict(MONTH_LOGINS))
    seed: int = 42

    def text(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


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
        url, seed=spec.seed, clients=spec.clients, users_per_client=spec.users_per_client,
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
    path = folder / "billing.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Stages: each in a child process (python -m tools.bench _stage ...), all clients in turn


def _jobs(url: str, month: str):
    import sqlalchemy as sa

    from include.dms_billing.core.billing_month import BillingMonth
    from include.dms_billing.core.jobs import plan_clients
    from include.dms_billing.source.clients import fetch_clients

    engine = sa.create_engine(url)
    jobs = plan_clients(fetch_clients(engine), [], BillingMonth.parse(month))
    return engine, jobs


def run_stage(stage: str, url: str, month: str) -> int:
    """One stage for every client, as the DAG's tasks do it; returns the rows it handled."""
    import pyarrow.parquet as pq

    from include.dms_billing.airflow.smtp import send_message
    from include.dms_billing.core.config import load_config
    from include.dms_billing.flows import delivery_steps, list_steps
    from include.dms_billing.ledger.db import default_ledger_url, ledger_engine, migrate
    from include.dms_billing.outputs.paths import client_month_paths

    engine, jobs = _jobs(url, month)
    config = load_config()
    ledger = ledger_engine(default_ledger_url())
    migrate(ledger)
    rows = 0
    for job in jobs:
        paths = client_month_paths(job.billing_month, job.client_code)
        run_id = f"bench__{month}"
        if stage == "extract":
            rows += list_steps.extract_step(engine, job, paths)
        elif stage == "validate":
            outcome = list_steps.validate_step(job, paths, config)
            if not outcome.success:
                raise SystemExit(f"{job.client_code}: {outcome.message}")
            rows += pq.read_metadata(paths.snapshot).num_rows
        elif stage == "decide":
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

    engine, jobs = _jobs(url, month)
    engine.dispose()
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


def dag_run(url: str, month: str, data: Path, config: Path, smtp_uri: str, log: Path) -> Measure:
    """The whole month through ``airflow dags test`` (a fresh metadata DB and ledger)."""
    home = data / "airflow"
    env = _child_env(data, config, url, smtp_uri)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    })
    airflow = [sys.executable, "-m", "airflow"]
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    conf = json.dumps({"billing_month": month, "deliver": True})
    return measure_child(DAG_RUN, [*airflow, "dags", "test", "dms_monthly_billing",
                                                          "-c", conf], env, log)


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


def main() -> None:
    parser = argparse.ArgumentParser(description="make bench: a month close at scale, measured")
    parser.add_argument("--db", default=os.environ.get("DMS_BENCH_DB", DEFAULT_DB))
    parser.add_argument("--reload", action="store_true", help="load the database again even if it matches")
    parser.add_argument("--months", default=",".join(MONTH_LOGINS), help="months to measure (comma-separated)")
    parser.add_argument("--no-dag", action="store_true", help="skip the whole run through airflow dags test")
    parser.add_argument("--only-dag", action="store_true",
                        help=f"measure only the whole run of {BENCH_MONTH} (keeping the stored stage results)")
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "benchmarks.md")
    parser.add_argument("--clients", type=int, default=Spec.clients, help="a smaller load, to try the bench")
    parser.add_argument("--users-per-client", type=int, default=Spec.users_per_client)
    parser.add_argument("--login-scale", type=float, default=1.0, help="multiplies every month's logins")
    args = parser.parse_args()

    from include.dms_billing.outputs.paths import data_root
    from tools.outbox_smtp import Outbox

    spec = Spec(args.clients, args.users_per_client,
                {month: logins * args.login_scale for month, logins in MONTH_LOGINS.items()})
    if args.reload or stored_spec(args.db) != spec.text():
        print(f"Loading {args.db} with {spec.text()} ...", flush=True)
        load(args.db, spec)
    else:
        print(f"Reusing {args.db} (already loaded with {spec.text()})", flush=True)
    sizes = table_sizes(args.db)
    root = data_root() / "bench"
    root.mkdir(parents=True, exist_ok=True)
    config = bench_config(args.db, root)
    log = root / "bench.log"
    results: dict[str, list[Measure]] = {}
    with Outbox(None) as outbox:
        for month in args.months.split(","):
            if args.only_dag:
                measures = [m for m in stored_results(root / "results.json").get(month, []) if m.name != DAG_RUN]
            else:
                data = root / month
                shutil.rmtree(data, ignore_errors=True)
                data.mkdir(parents=True)
                measures = stage_measures(args.db, month, data, config, outbox.connection_uri(), log)
                measures += [floor(args.db, month), floor(args.db, month, LIST_FLOOR, LIST_FLOOR_SQL),
                             *decision_references(args.db, month, data, config)]
            if month == BENCH_MONTH and not args.no_dag:
                dag_data = root / f"{month}-dag"
                shutil.rmtree(dag_data, ignore_errors=True)
                print(f"  {month} whole run through the DAG ...", flush=True)
                measures.append(dag_run(args.db, month, dag_data, config, outbox.connection_uri(), log))
            results[month] = measures
            print(table(measures, _floor_of(measures)), flush=True)
    results = save_results(root / "results.json", results)
    logins = {month: month_logins(args.db, month) for month in results}
    args.out.write_text(render_report(results, sizes, logins, kept_analysis(args.out)), encoding="utf-8")
    print(f"Written to {args.out}")


PIPELINE = ("extract", "validate", "decide")
ANALYSIS_MARK = "<!-- analysis: kept by make bench -->"
TARGETS = "Targets of issue 6 on this 2-core machine"


def _floor_of(measures: list[Measure]) -> Measure:
    return next(m for m in measures if m.name == FLOOR)


def _by_name(measures: list[Measure]) -> dict[str, Measure]:
    return {m.name: m for m in measures}


def targets(results: dict[str, list[Measure]]) -> list[str]:
    """One line per target: met or missed, and by how much."""
    lines = ["| target | measured | verdict |", "|---|---|---|"]

    def verdict(ok: bool, by: str) -> str:
        return "met" if ok else f"**missed** by {by}"

    if BENCH_MONTH in results:
        m = _by_name(results[BENCH_MONTH])
        floor_s = _floor_of(results[BENCH_MONTH]).seconds
        pipeline = sum(m[name].seconds for name in PIPELINE)
        ratio = pipeline / floor_s
        lines.append(f"| extract + validate + decide <= 2x the SQL floor | {pipeline:.1f}s = {ratio:.1f}x "
                     f"({floor_s:.1f}s floor) | {verdict(ratio <= 2, f'{pipeline - 2 * floor_s:.0f}s ({ratio / 2:.1f}x)')} |")
        ours = m["decision: our rule (read + decide)"].seconds
        duck = m["decision: DuckDB over the same Parquet"].seconds
        lines.append(f"| decision no slower than DuckDB (the same list, same snapshots) | {ours:.2f}s vs {duck:.2f}s | "
                     f"{verdict(ours <= duck, f'{ours - duck:.2f}s ({ours / duck:.1f}x)')} |")
        if DAG_RUN in m:
            whole = m[DAG_RUN].seconds
            lines.append(f"| whole month through the DAG < 10 minutes | {whole / 60:.1f} min | "
                         f"{verdict(whole < 600, f'{(whole - 600) / 60:.1f} min')} |")
    peaks = [(month, x.name, x.peak_mb) for month, ms in results.items() for x in ms if x.peak_mb]
    if peaks:
        month, name, peak = max(peaks, key=lambda p: p[2])
        lines.append(f"| peak memory of any task < 1.5 GB | {peak:,.0f} MB ({name}, {month}) | "
                     f"{verdict(peak < 1536, f'{peak - 1536:,.0f} MB')} |")
    months = sorted(results)
    if len(months) > 1:
        first, last = _by_name(results[months[0]]), _by_name(results[months[-1]])
        growth = max((last[s].peak_mb / first[s].peak_mb - 1, s) for s in STAGES if s in first and s in last)
        lines.append(f"| peak memory flat (within 10%) from {months[0]} to {months[-1]} | largest growth "
                     f"{growth[0]:+.0%} ({growth[1]}) | {verdict(growth[0] <= 0.10, f'{growth[0] - 0.10:.0%}')} |")
    return lines


def scaling(results: dict[str, list[Measure]], logins: dict[str, int]) -> list[str]:
    header = " | ".join([*(f"{s} s / MB" for s in STAGES), "floor s"])
    lines = [f"| month | logins | {header} |", "|---|---:|" + "---:|" * (len(STAGES) + 1)]
    for month in sorted(results):
        m = _by_name(results[month])
        cells = [f"{m[s].seconds:.1f} / {m[s].peak_mb:,.0f}" for s in STAGES if s in m]
        cells.append(f"{_floor_of(results[month]).seconds:.1f}")
        lines.append(f"| {month} | {logins[month]:,} | " + " | ".join(cells) + " |")
    return lines


def render_report(
    results: dict[str, list[Measure]], sizes: dict[str, int], logins: dict[str, int], analysis: str
) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmarks", "",
        f"Measured by `make bench` on {now}: {machine()}; PostgreSQL 15 on the same machine, default "
        "settings. Each stage runs over all clients in a child process of its own: *seconds* is its "
        "work, the note says what starting Python and importing took on top; *peak MB* is the "
        "child's maximum resident memory. Ratios are to the floor: one hand-written PostgreSQL "
        "query computing the same billable set (its rows fetched), which the bench checks gives "
        "the same count as the pipeline. A second floor computes what the list says of each billable "
        "user (status and when it was set, latest login, logins in the month) in one query.", "",
        "Database: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()) + ".", "",
        f"## {TARGETS}", "", *targets(results), "",
        "## Scaling: time (s) and peak memory (MB) per stage as the month's logins grow", "",
        *scaling(results, logins), "",
    ]
    for month in sorted(results):
        measures = results[month]
        parts += [f"## {month} ({logins[month]:,} logins in the month)", "", table(measures, _floor_of(measures)), ""]
    return "\n".join(parts) + "\n" + ANALYSIS_MARK + "\n" + analysis


def kept_analysis(path: Path) -> str:
    """The hand-written analysis below the mark in the current report (kept across runs)."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    return text.split(ANALYSIS_MARK, 1)[1].lstrip("\n") if ANALYSIS_MARK in text else ""


def stored_results(path: Path) -> dict[str, list[Measure]]:
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {month: [Measure(**m) for m in measures] for month, measures in stored.items()}


def save_results(path: Path, results: dict[str, list[Measure]]) -> dict[str, list[Measure]]:
    """Merge this run's months into the stored results (so one month can be measured again alone)."""
    merged = {**stored_results(path), **results}
    path.write_text(json.dumps({m: [x.__dict__ for x in ms] for m, ms in merged.items()}, indent=2), encoding="utf-8")
    return merged


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
