"""``python -m tools.bench_tasks``: what the cheap tasks of ``dms_monthly_billing`` cost in a
process of their own, as a deployed worker runs each task, and what they import.

Each task runs in a fresh interpreter that first parses the DAG file, as Airflow's task runner
does, so Airflow and the DAG's own imports are already there; then the task's code runs for
real, with the same call its ``@task`` makes, against a small demo DMS and a scratch ledger
(SQLite, in a temporary folder). The child reports the task's wall and CPU time and which of
the heavy libraries (pandas, pyarrow, Great Expectations, WeasyPrint, XlsxWriter, babel,
Alembic) the task loaded. ``--repeat N`` keeps the best of N fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "pyarrow", "great_expectations", "weasyprint", "xlsxwriter", "babel", "alembic", "jinja2")
MONTH = "2023-05"  # past: both waits pass at once
# A batch of one client and the run's facts, as plan_run hands them to the batch's tasks.
PLANNED = {"batch": {"label": "MEGHNA", "users": 30, "month_closes_at": None, "invoice_day": None,
                     "jobs": [{"client_id": 1, "client_code": "MEGHNA", "client_name": "Meghna Foods Ltd",
                               "timezone": "Asia/Dhaka", "correspondence_email": "billing@meghna-foods.example",
                               "account_manager_email": "farhana.akter@sokrio.example"}]},
           "run": {"billing_month": MONTH, "intent": {"deliver": False, "resend": False}}}

# What each task's @task body does (dags/dms_monthly_billing.py), with fakes for Airflow's ti and dag_run.
TASKS = {
    "import monthly_tasks": "from include.dms_billing.airflow import monthly_tasks",
    "plan_run": "from include.dms_billing.airflow import monthly_tasks\n"
                f"monthly_tasks.plan({MONTH!r}, None, None, 'manual', None, False, TI)",
    "wait_for_turn": "from include.dms_billing.airflow import monthly_tasks\n"
                     "monthly_tasks.wait_for_turn([{'batch': PLANNED['batch']}], PLANNED['run'], TI, DAG_RUN)",
    "release_turn": "from include.dms_billing.airflow import monthly_tasks\n"
                    "monthly_tasks.release_turn('bench')",
    "wait_for_month_close": "WaitForBatchMoment(task_id='w', **PLANNED, moment='month_closes_at').execute({})",
    "wait_for_invoice_day": "WaitForBatchMoment(task_id='w', **PLANNED, moment='invoice_day').execute({})",
}

CHILD = """
import json, sys, time, types
import dms_monthly_billing  # the DAG file, parsed first as the task runner does
from billing_sensors import WaitForBatchMoment
PLANNED = json.loads(sys.argv[1])
TI = types.SimpleNamespace(get_dr_count=lambda **kw: 0, get_previous_dagrun=lambda **kw: None,
                           xcom_push=lambda key, value: None)
DAG_RUN = types.SimpleNamespace(dag_id="dms_monthly_billing", run_id="bench", run_type="manual",
                                triggering_user_name="bench")
before = set(sys.modules)
wall, cpu = time.perf_counter(), time.process_time()
exec(compile(sys.argv[2], "task", "exec"))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
loaded = sorted(m for m in json.loads(sys.argv[3]) if m in sys.modules and m not in before)
print(json.dumps({"wall": wall, "cpu": cpu, "modules": len(set(sys.modules) - before), "heavy": loaded}))
"""


def environment(scratch: Path) -> dict[str, str]:
    """The Makefile's exports, a demo DMS and a scratch ledger under ``scratch``."""
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": f"{PROJECT}:{PROJECT / 'plugins'}:{PROJECT / 'dags'}",
        "AIRFLOW_HOME": str(scratch / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "GX_ANALYTICS_ENABLED": "false",
        "DMS_BILLING_DATA": str(scratch / "data"),
        "AIRFLOW_CONN_DMS_SOURCE": f"sqlite:///{scratch / 'dms.sqlite'}",
    })
    demo = ["--url", env["AIRFLOW_CONN_DMS_SOURCE"], "--clients", "2", "--users-per-client", "30",
            "--months", MONTH]
    subprocess.run([sys.executable, "-m", "include.dms_billing.demo.demo_dms", *demo],
                   env=env, cwd=PROJECT, check=True, capture_output=True)
    return env


def run_task(name: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(PLANNED), TASKS[name], json.dumps(HEAVY)],
                          env=env, cwd=PROJECT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per task; the best is kept")
    parser.add_argument("tasks", nargs="*", help=f"some of: {', '.join(TASKS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.tasks) - set(TASKS)
    if unknown:
        parser.error(f"unknown tasks: {sorted(unknown)}")
    with tempfile.TemporaryDirectory() as scratch:
        env = environment(Path(scratch))
        run_task("plan_run", env)  # the ledger's schema, once, so that each plan_run below finds it current
        print("| task, after the DAG is parsed | wall (s) | CPU (s) | modules imported | heavy libraries |")
        print("|---|---:|---:|---:|---|")
        for name in args.tasks or TASKS:
            runs = [run_task(name, env) for _ in range(args.repeat)]
            best = min(runs, key=lambda run: run["cpu"])
            wall, heavy = min(run["wall"] for run in runs), ", ".join(best["heavy"]) or "none"
            print(f"| {name} | {wall:.3f} | {best['cpu']:.3f} | {best['modules']} | {heavy} |", flush=True)


if __name__ == "__main__":
    main()
