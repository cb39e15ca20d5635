"""Airflow as a real service on loopback, without Docker.

``AirflowService`` migrates a metadata database (PostgreSQL in practice: LocalExecutor runs tasks
in parallel), then starts ``airflow api-server``, ``scheduler``, ``dag-processor`` and
``triggerer`` as separate processes (each in its own process group, logging to
``<home>/logs/<component>.log``), waits until the API server answers, and stops every process it
started on exit. Nothing is written into the repository: everything goes under ``home``.

Runs are triggered and followed through the REST API (``/api/v2``) with a token of a named user of
the simple auth manager (``POST /auth/token``), so the UI and the REST API say who triggered a run
or answered an approval. Users and roles (:data:`USERS`): ``datateam`` is ``admin`` (runs,
backfills, clears, connections); ``finance`` is ``user``, the lowest role allowed to answer a
human-in-the-loop task (``PUT`` on a DAG's HITL detail), which in the simple auth manager also
lets it trigger and clear runs (it has no finer role). Their passwords are in a JSON file
(``{"datateam": "...", "finance": "..."}``): the ``passwords_file`` given (``make service``: the
file ``$AIRFLOW_SERVICE_PASSWORDS_FILE`` names, kept outside git), or ``<home>/passwords.json``,
where a random password is generated at first start for every user without one.

The scheduler does not create scheduled runs (``[scheduler] use_job_schedule = False``, unless
``schedule=True``): the monthly DAG would otherwise start, and deliver, a run for the last month
at once. Manual runs (the API, the UI's *Trigger*) run as usual.

With ``executor="celery"`` the scheduler hands tasks to ``workers`` Celery workers instead
(``airflow celery worker``; Redis on 127.0.0.1:6379 as the broker, under a key prefix of this
instance's own, so that parallel test sessions never see each other's tasks; the Celery result
backend on the metadata database). Each worker behaves as if it ran on a host of its own: its own
``HOME``, ``AIRFLOW_HOME``, working directory, temporary directory and task log folder under
``<home>/workers/<name>``, and its own hostname (Celery's, and the task instances' ``hostname``
that the REST API shows). Nothing on disk is shared with the other components but the code:
outputs go wherever ``DMS_BILLING_DATA`` says (an object store, for workers on other hosts).

How much runs at once is sized for the machine (:func:`sizing`): Airflow's defaults (32 tasks at
once) starve the scheduler of a small machine; see docs/containers.md, "Sizing for the machine".

``python -m tools.airflow_service`` starts it with the demo data (like ``make demo``: the demo
DMS in ``$DMS_BILLING_DATA/demo_dms.sqlite``, created when missing, and a local SMTP outbox
under ``$DMS_BILLING_DATA/outbox``), prints the UI's URL and stays up until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx
import psutil

PROJECT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Task logs are files under <home>/logs that the API server reads itself, so the scheduler and
# the triggerer need not serve them (their log servers would listen on every interface).
COMMANDS = {
    "api-server": ["api-server", "--host", HOST],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
COMPONENTS = tuple(COMMANDS)
FINISHED = {"success", "failed"}
PAGE = 100  # the REST API's largest page ([api] maximum_page_limit)
DEFAULT_DB = "postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_service"
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
BROKER = os.environ.get("AIRFLOW_SERVICE_BROKER", "redis://127.0.0.1:6379/0")
WORKER_NAME = "AIRFLOW_SERVICE_WORKER"  # the variable that tells a worker its hostname
TASKS_PER_CPU = 4  # preloaded tasks are light and wait on the databases, SMTP and the scheduler's loop (docs/containers.md)
SCHEDULER_GRACE = 120  # seconds a scheduler heartbeat may be late before its tasks are reset as orphans
# The simple auth manager's named users and their roles (viewer < user < op < admin).
USERS = {"datateam": "admin", "finance": "user"}
ROLES = ("viewer", "user", "op", "admin")
API_USER = "datateam"  # whom the service's own REST calls act as
# The billing DAG's pools (include/dms_billing/airflow/params.py) and their slots: extractions that
# may query the DMS at once, and tasks that may send through the mail relay at once.
POOLS = {"dms_source": 2, "smtp": 4}
PASSWORDS_ENV = "AIRFLOW_SERVICE_PASSWORDS_FILE"


class AirflowServiceError(RuntimeError):
    """A component did not start, died, or the API refused a request."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def worker_hostname() -> str:
    """``[core] hostname_callable`` of a worker: its own name, as if it had a host of its own."""
    return os.environ[WORKER_NAME]


def write_missing_passwords(path: Path, users: list[str]) -> None:
    """Give every user without a password in ``path`` a random one (the file kept private).

    Done before Airflow starts: the simple auth manager would otherwise generate them itself and
    print them into the API server's log.
    """
    passwords = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    new = [user for user in users if user not in passwords]
    if new:
        passwords.update({user: secrets.token_urlsafe(18) for user in new})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(passwords, indent=2) + "\n", encoding="utf-8")


def sizing(workers: int = 0, parallelism: int | None = None, cpus: int | None = None) -> dict[str, str]:
    """How much runs at once on a machine of ``cpus`` cores (default: this one's), as settings.

    ``workers`` Celery workers on the same machine share its ``parallelism``.
    """
    cpus = cpus or os.cpu_count() or 1
    parallelism = parallelism or TASKS_PER_CPU * cpus
    settings = {
        # Task instances running at once, in all; the LocalExecutor also starts this many worker
        # processes (there is no [local_executor] section in 3.3). Airflow's default, 32, on two
        # cores left the scheduler's loop stalled for 30 to 41 s.
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        # One run may use every slot (the default, 16, would mean nothing below parallelism).
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        # adopt_or_reset_orphaned_tasks marks a scheduler whose heartbeat is older than this as
        # failed and resets the tasks it queued (default 30 s): a scheduler slowed by load, not
        # dead, must keep its running tasks.
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": str(SCHEDULER_GRACE),
    }
    if workers:
        # Tasks each Celery worker runs at once: the workers share this machine's parallelism.
        settings["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(math.ceil(parallelism / workers))
    return settings


PRELOAD = "include.dms_billing.airflow.preload"


def preloading(executor: str) -> dict[str, str]:
    """Settings that let every task process inherit what it imports (``airflow/preload.py``).

    Airflow forks each task from an executor worker; what that worker imported costs the task
    nothing.
    """
    if executor == "celery":  # a Celery worker imports them before it starts its pool
        return {"AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "include.dms_billing.airflow.celery_config.CELERY_CONFIG"}
    return {  # the LocalExecutor's workers come from a forkserver that imported them first
        "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
        "AIRFLOW__CORE__MP_FORKSERVER_PRELOAD": f"airflow,airflow.executors.local_executor,{PRELOAD}",
    }


class AirflowService:
    """The four Airflow components on ``127.0.0.1:port`` (and the Celery workers); a context manager.

    ``env`` is added to every process's environment last (connections, ``DMS_BILLING_DATA``,
    ``DMS_BILLING_CONFIG``, extra ``AIRFLOW__...`` options), so it can override any default here.
    ``parallelism`` overrides the one :func:`sizing` derives from the number of cores.
    ``users`` (name to role) are added to :data:`USERS`. ``passwords_file`` is used as it is and
    must hold a password for every user (Airflow would otherwise write new ones into it, printing
    them in its log); without it the service keeps its own in ``<home>/passwords.json``.
    """

    def __init__(
        self,
        home: Path,
        sql_alchemy_conn: str,
        env: dict[str, str] | None = None,
        port: int = 8080,
        *,
        schedule: bool = False,
        executor: str = "local",
        workers: int = 2,
        parallelism: int | None = None,
        users: dict[str, str] | None = None,
        passwords_file: Path | None = None,
        start_timeout: float = 120,
        stop_timeout: float = 20,
        pools: dict[str, int] | None = None,
    ) -> None:
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {sorted(EXECUTORS)}, not {executor!r}")
        if executor == "celery" and workers < 1:
            raise ValueError("the CeleryExecutor needs at least one worker")
        self.home = Path(home).resolve()
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.workers = [f"worker-{n}" for n in range(1, workers + 1)] if executor == "celery" else []
        self.broker_prefix = f"airflow-service-{secrets.token_hex(6)}:"
        self.processes: dict[str, subprocess.Popen] = {}
        self.seen_pids: set[int] = set()
        self.users = {**USERS, **(users or {})}
        self.passwords_file = self._passwords_file(passwords_file)
        self._tokens: dict[str, str] = {}
        self._logs: list = []
        self.env = self._environment(sql_alchemy_conn, env or {}, schedule, executor, parallelism)
        self.pools = {**POOLS, **(pools or {})}

    # -----------------------------------------------------------------------------------------
    # Environment

    def _fernet_key(self) -> str:
        """Kept in ``<home>/fernet.key``: what is encrypted in the database survives a restart."""
        from cryptography.fernet import Fernet

        path = self.home / "fernet.key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_bytes(Fernet.generate_key())
            path.chmod(0o600)
        return path.read_text(encoding="ascii").strip()

    def _passwords_file(self, given: Path | None) -> Path:
        """The passwords file, checked to cover every user (a given one), or the service's own."""
        if given is None:
            path = self.home / "passwords.json"
            write_missing_passwords(path, list(self.users))
            return path
        path = Path(given).resolve()
        passwords = json.loads(path.read_text(encoding="utf-8"))
        if missing := sorted(set(self.users) - set(passwords)):
            raise AirflowServiceError(f"{path} has no password for {', '.join(missing)}")
        return path

    def _environment(
        self, conn: str, extra: dict[str, str], schedule: bool, executor: str, parallelism: int | None
    ) -> dict[str, str]:
        base = {
            key: value for key, value in os.environ.items()
            # never inherit another Airflow's settings (the test session sets its own)
            if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and key != "AIRFLOW_HOME"
        }
        base.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conn,
                "AIRFLOW__CORE__EXECUTOR": EXECUTORS[executor],
                "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__FERNET_KEY": self._fernet_key(),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(map(":".join, self.users.items())),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API__HOST": HOST,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                # quick: look for DAG files every few seconds, schedule and heartbeat often
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(schedule),
                "PYTHONPATH": os.pathsep.join([str(PROJECT), str(PROJECT / "plugins")]),
                "GX_ANALYTICS_ENABLED": "false",
                **sizing(len(self.workers), parallelism),
                **preloading(executor),
                **(self._celery_environment(conn) if self.workers else {}),
            }
        )
        base.update(extra)
        return base

    def _celery_environment(self, conn: str) -> dict[str, str]:
        return {
            "AIRFLOW__CELERY__BROKER_URL": BROKER,
            # every key and channel of this instance under its own prefix: parallel sessions share Redis
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.broker_prefix,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{conn}",
        }

    def worker_home(self, name: str) -> Path:
        """What stands for the worker's own host: its HOME, AIRFLOW_HOME, cwd, TMPDIR and task logs."""
        return self.home / "workers" / name

    def _worker_environment(self, name: str) -> dict[str, str]:
        home = self.worker_home(name)
        return {
            **self.env,
            "HOME": str(home),
            "AIRFLOW_HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tools.airflow_service.worker_hostname",
            WORKER_NAME: name,
        }

    def _airflow(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    # -----------------------------------------------------------------------------------------
    # Start and stop

    def __enter__(self) -> AirflowService:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def log_path(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.log"

    def start(self) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        migrate = subprocess.run(
            self._airflow("db", "migrate"), env=self.env, cwd=self.home,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.log_path("db-migrate").write_text(migrate.stdout, encoding="utf-8")
        if migrate.returncode != 0:
            raise AirflowServiceError(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}")
        for component in COMPONENTS:
            args = COMMANDS[component] + (["--port", str(self.port)] if component == "api-server" else [])
            self._spawn(component, args, self.env, self.home)
        for name in self.workers:
            (self.worker_home(name) / "tmp").mkdir(parents=True, exist_ok=True)
            # task logs stay on the worker, like on a host of its own; its log server would listen
            # on every interface, on one port for all workers
            args = ["celery", "worker", "--celery-hostname", name, "--skip-serve-logs"]
            self._spawn(name, args, self._worker_environment(name), self.worker_home(name))
        self._wait_healthy()
        self._set_pools()
        for name in self.workers:
            self._wait_for_log(name, f"celery@{name} ready.")

    def _set_pools(self) -> None:
        """The billing DAG's pools, with their slots (an existing pool is resized)."""
        for name, slots in self.pools.items():
            body = {"name": name, "slots": slots, "include_deferred": False,
                    "description": f"billing: at most {slots} such tasks at once"}
            response = self.api("PATCH", f"/pools/{name}", json=body)
            if response.status_code == 404:
                response = self.api("POST", "/pools", json=body)
            _raise_for(response)

    def _spawn(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        log = open(self.log_path(name), "ab")  # noqa: SIM115 (closed in stop())
        self._logs.append(log)
        self.processes[name] = subprocess.Popen(
            self._airflow(*args), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,  # its own process group
        )
        self.seen_pids.add(self.processes[name].pid)

    def _wait_for_log(self, name: str, line: str) -> None:
        """Until ``line`` is in the process's log: a worker that is not consuming yet gets no task."""
        deadline = time.monotonic() + self.start_timeout
        while line not in self.log_path(name).read_text(encoding="utf-8", errors="replace"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise AirflowServiceError(f"{name} not ready within {self.start_timeout}s; "
                                          f"see {self.log_path(name)}")
            time.sleep(0.5)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AirflowServiceError(f"the API server did not answer within {self.start_timeout}s; "
                                  f"see {self.log_path('api-server')}")

    def check_alive(self) -> None:
        """Raise, with the end of its log, if a component has exited."""
        for component, process in self.processes.items():
            if process.poll() is not None:
                tail = self.log_path(component).read_text(encoding="utf-8", errors="replace")[-3000:]
                raise AirflowServiceError(f"airflow {component} exited with {process.returncode}:\n{tail}")

    def all_pids(self) -> set[int]:
        """Every process started so far: the components and all their descendants."""
        for process in self.processes.values():
            try:
                children = psutil.Process(process.pid).children(recursive=True)
                self.seen_pids.update(child.pid for child in children)
            except psutil.NoSuchProcess:
                pass
        return set(self.seen_pids)

    def alive_pids(self) -> set[int]:
        """The processes of :meth:`all_pids` still running (zombies count as gone)."""
        alive = set()
        for pid in self.all_pids():
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.add(pid)
            except psutil.NoSuchProcess:
                pass
        return alive

    def stop(self) -> None:
        """SIGTERM every component's process group and each worker (then any stray descendant);
        SIGKILL after a timeout. A Celery worker stops its own pool: a SIGTERM to the pool's
        processes as well would only have the worker replace them while it shuts down."""
        descendants = self.all_pids()
        for name, process in self.processes.items():
            if name in self.workers:
                process.terminate()
            else:
                _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGKILL)  # whatever is left in the group
            if process.poll() is None:
                process.kill()
            process.wait()
        # descendants that left the process group (a new session): terminate, then kill
        strays = []
        for pid in descendants - {p.pid for p in self.processes.values()}:
            try:
                strays.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        for stray in strays:
            try:
                stray.terminate()
            except psutil.NoSuchProcess:
                pass
        _, left = psutil.wait_procs(strays, timeout=5)
        for stray in left:
            try:
                stray.kill()
            except psutil.NoSuchProcess:
                pass
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self.workers:
            _forget_broker_keys(BROKER, self.broker_prefix)

    # -----------------------------------------------------------------------------------------
    # REST API

    def password(self, user: str) -> str:
        """``user``'s password, read when needed: the file may be edited while the service runs."""
        passwords = json.loads(self.passwords_file.read_text(encoding="utf-8"))
        if user not in passwords:
            raise AirflowServiceError(f"no password for {user!r} in {self.passwords_file}")
        return passwords[user]

    def token(self, user: str = API_USER) -> str:
        """A JWT of ``user``, logged in with its password: ``POST /auth/token``."""
        if user not in self._tokens:
            body = {"username": user, "password": self.password(user)}
            response = httpx.post(f"{self.url}/auth/token", json=body, timeout=10)
            _raise_for(response)
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def api(self, method: str, path: str, *, user: str = API_USER, **kwargs) -> httpx.Response:
        """A REST API (``/api/v2``) request as ``user``."""
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        return httpx.request(method, f"{self.url}/api/v2{path}", headers=headers, timeout=30, **kwargs)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        """The DAG once the dag-processor has parsed it (and it is not paused)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            response = self.api("GET", f"/dags/{dag_id}")
            if response.status_code == 200:
                dag = response.json()
                if dag.get("is_paused"):
                    _raise_for(self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}))
                return dag
            if response.status_code != 404:
                _raise_for(response)
            if time.monotonic() > deadline:
                errors = self.api("GET", "/importErrors").text
                raise AirflowServiceError(f"DAG {dag_id} not parsed within {timeout}s; import errors: "
                                          f"{errors}; see {self.log_path('dag-processor')}")
            time.sleep(0.5)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Trigger a manual run (waiting for the DAG to be parsed first); returns its run id."""
        self.wait_for_dag(dag_id)
        body = {"logical_date": None, "conf": conf or {}}
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
        _raise_for(response)
        return response.json()["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        _raise_for(response)
        return response.json()["state"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        """The run's final state (``success`` or ``failed``); raises after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            state = self.run_state(dag_id, run_id)
            if state in FINISHED:
                return state
            if time.monotonic() > deadline:
                states = self.task_states(dag_id, run_id)
                raise AirflowServiceError(f"run {run_id} still {state} after {timeout}s: {states}")
            time.sleep(1)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """The run's task instances as the REST API gives them (``hostname``: the worker that ran it),
        page by page: the API gives at most ``[api] maximum_page_limit`` (100) at a time."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        instances: list[dict] = []
        while True:
            response = self.api("GET", path, params={"limit": PAGE, "offset": len(instances)})
            _raise_for(response)
            page = response.json()
            instances += page["task_instances"]
            if not page["task_instances"] or len(instances) >= page["total_entries"]:
                return instances

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``task_id`` (``task_id[map_index]`` for mapped tasks) to state."""
        states = {}
        for ti in self.task_instances(dag_id, run_id):
            key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            states[key] = ti["state"]
        return states


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _forget_broker_keys(broker: str, prefix: str) -> None:
    """Drop this instance's queues and bindings from the shared Redis (if it still answers)."""
    import redis

    client = redis.Redis.from_url(broker, socket_timeout=5)
    try:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    except redis.RedisError:
        pass
    finally:
        client.close()


def _raise_for(response: httpx.Response) -> None:
    if response.is_error:
        raise AirflowServiceError(f"{response.request.method} {response.request.url}: "
                                  f"{response.status_code} {response.text[:2000]}")


# ---------------------------------------------------------------------------------------------
# python -m tools.airflow_service


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor, or Celery "
                    "workers) on loopback with the demo data, until Ctrl-C.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_SERVICE_PORT", 8080)))
    parser.add_argument("--smtp-port", type=int, default=int(os.environ.get("SMTP_PORT", 8025)))
    parser.add_argument("--data", type=Path, help="DMS_BILLING_DATA (default ./data)",
                        default=Path(os.environ.get("DMS_BILLING_DATA", PROJECT / "data")))
    parser.add_argument("--home", type=Path, default=None,
                        help="Airflow home (default: <data>/airflow-service)")
    parser.add_argument("--db", default=os.environ.get("AIRFLOW_SERVICE_DB", DEFAULT_DB),
                        help="metadata database URL; a PostgreSQL database is created when missing")
    parser.add_argument("--schedule", action="store_true", help="let the scheduler create scheduled runs too")
    parser.add_argument("--celery-workers", type=int, default=0, metavar="N",
                        help=f"N Celery workers (broker {BROKER}) instead of the LocalExecutor")
    parser.add_argument("--parallelism", type=int, default=None,
                        help=f"task instances at once (default: {TASKS_PER_CPU} per core)")
    parser.add_argument("--pool", type=_pool_slots, action="append", default=[], metavar="NAME:SLOTS",
                        help=f"slots of a pool (default: {', '.join(f'{n}:{s}' for n, s in POOLS.items())}); repeatable")
    parser.add_argument("--user", type=_user_role, action="append", default=[], metavar="NAME:ROLE",
                        help=f"one more user of the UI and API (role: {', '.join(ROLES)}); repeatable")
    args = parser.parse_args()

    from tools.outbox_smtp import Outbox

    data = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    demo_db = data / "demo_dms.sqlite"
    if not demo_db.exists():
        from include.dms_billing.demo.demo_dms import generate

        print(f"Creating the demo DMS database {demo_db} ...", flush=True)
        generate(f"sqlite:///{demo_db}")
    _ensure_database(args.db)
    home = (args.home or data / "airflow-service").resolve()
    with Outbox(data / "outbox", args.smtp_port) as outbox:
        env = {
            "DMS_BILLING_DATA": str(data),
            "AIRFLOW_CONN_DMS_SOURCE": f"sqlite:///{demo_db}",
            "AIRFLOW_CONN_SMTP_DEFAULT": outbox.connection_uri(),
        }
        if os.environ.get("DMS_BILLING_CONFIG"):
            env["DMS_BILLING_CONFIG"] = os.environ["DMS_BILLING_CONFIG"]
        print(f"Starting Airflow (logs under {home / 'logs'}) ...", flush=True)
        executor = "celery" if args.celery_workers else "local"
        passwords = Path(os.environ[PASSWORDS_ENV]) if os.environ.get(PASSWORDS_ENV) else None
        with AirflowService(home, args.db, env, args.port, schedule=args.schedule, executor=executor,
                            workers=args.celery_workers, parallelism=args.parallelism,
                            users=dict(args.user), passwords_file=passwords, pools=dict(args.pool)) as service:
            service.wait_for_dag("dms_monthly_billing")
            users = ", ".join(f"{name} ({role})" for name, role in service.users.items())
            print(f"Airflow UI: {service.url}/  log in as {users}", flush=True)
            print(f"Passwords: {service.passwords_file}", flush=True)
            print(f"SMTP outbox on {HOST}:{outbox.port}, emails in {data / 'outbox'}", flush=True)
            print('Trigger dms_monthly_billing with e.g. {"billing_month": "2023-05", "deliver": true}. '
                  "Ctrl-C stops everything.", flush=True)
            try:
                while True:
                    service.check_alive()
                    time.sleep(2)
            except KeyboardInterrupt:
                print("\nStopping ...", flush=True)
    print("Stopped.")


def _pool_slots(text: str) -> tuple[str, int]:
    """``NAME:SLOTS`` from the command line."""
    name, _, slots = text.partition(":")
    if name not in POOLS or not slots.isdigit() or int(slots) < 1:
        raise argparse.ArgumentTypeError(f"expected NAME:SLOTS with NAME one of {', '.join(POOLS)}: {text!r}")
    return name, int(slots)


def _user_role(text: str) -> tuple[str, str]:
    """``NAME:ROLE`` from the command line, the role one of the simple auth manager's."""
    name, _, role = text.partition(":")
    if not name or "," in name or role.lower() not in ROLES:
        raise argparse.ArgumentTypeError(f"expected NAME:ROLE with ROLE one of {', '.join(ROLES)}: {text!r}")
    return name, role.lower()


def _ensure_database(url: str) -> None:
    import sqlalchemy as sa

    target = sa.make_url(url)
    if target.get_backend_name() != "postgresql":
        return
    engine = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT 1 FROM pg_database WHERE datname = :n")
            exists = conn.execute(query, {"n": target.database}).first()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    finally:
        engine.dispose()


if __name__ == "__main__":
    def _interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C, and `kill`, stop everything (SIGINT explicitly: a background job may inherit it ignored)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    main()
