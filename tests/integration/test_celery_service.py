"""Airflow as a service with the CeleryExecutor: two workers, each as if on a host of its own
(its own HOME, working and temporary directories, task log folder and hostname), sharing no disk
with each other or with the scheduler. The outputs go to an S3-compatible object store (moto's
server on loopback, ``DMS_BILLING_DATA=s3://dms_billing_store@<bucket>/billing``), task logs too
(remote logging), the ledger and the demo DMS are PostgreSQL databases, the emails go to a real
SMTP server on loopback.

One delivering month is triggered through the REST API; then every client's list and invoice
must be in the bucket, every email must have arrived once (its attachments the bucket's files),
both workers must have run task instances and left nothing on their own disks but their
configuration and task logs, a task's log must be readable through the API, and every process
must be gone at the end (and this instance's keys gone from Redis).

Needs PostgreSQL, Redis on 127.0.0.1:6379 and moto's server (each skips without it, fails in CI).
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
import redis

from include.dms_billing.demo.demo_dms import generate
from tests.support.object_store import STORE_CONN_ID, ObjectStore, object_store
from tests.support.configs import billing_config
from tests.support.servers import POSTGRES_URL, require_redis, scratch_database
from tests.support.services import assert_nothing_left
from tools.airflow_service import BROKER, AirflowService, free_port
from tools.outbox_smtp import Outbox

pytestmark = pytest.mark.airflow

DAG_ID = "dms_monthly_billing"
MONTH = "2023-05"
CLIENTS = ("MEGHNA", "PADMA")  # demo clients 1 and 2, both with a plan in the default billing.yaml
WORKERS = ("worker-1", "worker-2")
PREFIX = "billing"  # DMS_BILLING_DATA's folder in the bucket


@dataclass
class CeleryRun:
    service: AirflowService
    outbox: Outbox
    run_id: str
    state: str
    outputs: dict[str, bytes]  # every output file, by its path under DMS_BILLING_DATA


def _bucket_outputs(store: ObjectStore) -> dict[str, bytes]:
    return {key.removeprefix(f"{PREFIX}/"): store.read(key) for key in store.keys(f"{PREFIX}/")}


def _remote_logging(store: ObjectStore) -> dict[str, str]:
    """Task logs to the bucket: the API server shares no disk with the workers either."""
    return {
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{store.bucket}/logs",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": STORE_CONN_ID,
    }


@pytest.fixture(scope="module")
def celery_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryRun]:
    """The service with two Celery workers, after one delivering month; then stopped, and
    nothing of it may be left (checked here, whatever test ran last)."""
    require_redis(BROKER)
    tmp_path = tmp_path_factory.mktemp("celery")
    with scratch_database(POSTGRES_URL) as metadata_url, scratch_database(POSTGRES_URL) as ledger_url, \
            scratch_database(POSTGRES_URL) as dms_url, object_store() as store, \
            Outbox(tmp_path / "outbox") as outbox:
        dms = dms_url.render_as_string(hide_password=False)
        generate(dms, seed=5, clients=2, users_per_client=40, logins_per_user_month=3)
        env = {
            "AIRFLOW_CONN_DMS_SOURCE": dms,
            "AIRFLOW_CONN_BILLING_DB": ledger_url.render_as_string(hide_password=False),
            "AIRFLOW_CONN_SMTP_DEFAULT": outbox.connection_uri(),
            "AIRFLOW_CONN_DMS_BILLING_STORE": store.connection(),
            "DMS_BILLING_DATA": store.url(PREFIX),
            "DMS_BILLING_CONFIG": str(billing_config(tmp_path / "billing.yaml", enabled=False)),  # approval: its own test
            **_remote_logging(store),
        }
        service = AirflowService(tmp_path / "airflow", metadata_url.render_as_string(hide_password=False),
                                 env, free_port(), executor="celery", workers=len(WORKERS))
        with service:
            started = time.monotonic()
            run_id = service.trigger(DAG_ID, {"billing_month": MONTH, "deliver": True})
            state = service.wait(DAG_ID, run_id, timeout=600)
            seconds = time.monotonic() - started
            print(f"\na delivering month on {len(WORKERS)} Celery workers: {seconds:.0f} s", flush=True)
            yield CeleryRun(service, outbox, run_id, state, _bucket_outputs(store))
        # every process gone, and this instance's keys gone from the shared Redis
        assert_nothing_left(service)
        client = redis.Redis.from_url(BROKER)
        try:
            assert list(client.scan_iter(match=f"{service.broker_prefix}*")) == []
        finally:
            client.close()


def _kind(message: EmailMessage) -> str:
    return message["X-Sokrio-Billing"].split(";")[0].strip()


def _attachments(message: EmailMessage) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}


def _partition(area: str, client: str) -> str:
    return f"{area}/billing_month={MONTH}/client_code={client}"


def test_the_month_succeeded_on_the_celery_workers(celery_run: CeleryRun) -> None:
    service = celery_run.service
    assert celery_run.state == "success", service.task_states(DAG_ID, celery_run.run_id)
    assert service.env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_both_workers_ran_task_instances(celery_run: CeleryRun) -> None:
    tis = celery_run.service.task_instances(DAG_ID, celery_run.run_id)
    hosts = Counter(ti["hostname"] for ti in tis if ti["state"] == "success")
    assert set(hosts) == set(WORKERS), hosts


def test_every_clients_list_and_invoice_is_in_the_bucket(celery_run: CeleryRun) -> None:
    outputs = celery_run.outputs
    for client in CLIENTS:
        billable = _partition("billable", client)
        rows = list(csv.DictReader(io.StringIO(outputs[f"{billable}/billable_users.csv"].decode("utf-8-sig"))))
        assert rows, client
        assert outputs[f"{billable}/billable_users.parquet"].startswith(b"PAR1"), client
        invoices = _partition("invoices", client)
        pdfs = [path for path in outputs if path.startswith(invoices) and path.endswith(".pdf")]
        assert len(pdfs) == 1, (client, sorted(outputs))
        assert outputs[pdfs[0]].startswith(b"%PDF"), pdfs


def test_every_email_arrived_once_with_the_buckets_files(celery_run: CeleryRun) -> None:
    messages = celery_run.outbox.messages
    headers = [m["X-Sokrio-Billing"] for m in messages]
    assert Counter(_kind(m) for m in messages) == {"list": 2, "invoice": 2, "finance": 1}, headers
    outputs = celery_run.outputs
    for client in CLIENTS:
        mine = {_kind(m): m for m in messages if f"client={client}" in m["X-Sokrio-Billing"]}
        assert set(mine) == {"list", "invoice"}, (client, headers)
        [listed] = [data for name, data in _attachments(mine["list"]).items() if name.endswith(".csv")]
        assert listed == outputs[f"{_partition('billable', client)}/billable_users.csv"], client
        [(pdf_name, pdf)] = _attachments(mine["invoice"]).items()  # Sokrio_invoice_SKR-000001_CODE_MONTH.pdf
        number = pdf_name.split("_")[2]
        assert pdf == outputs[f"{_partition('invoices', client)}/invoice_{number}.pdf"], (client, pdf_name)


def test_the_workers_own_disks_hold_only_their_configuration_and_task_logs(celery_run: CeleryRun) -> None:
    """No output, and no temporary file, was left behind where the other components cannot see it
    (matplotlib's font cache, which it builds under ``~/.cache`` on first use, is no output)."""
    for name in WORKERS:
        home = celery_run.service.worker_home(name)
        left = sorted(str(path.relative_to(home)) for path in home.rglob("*")
                      if path.is_file() and path.relative_to(home).parts[0] != "logs"
                      and path.relative_to(home).parts[:2] != (".cache", "matplotlib"))
        assert left == ["airflow.cfg"], (name, left)


def test_a_task_log_is_read_through_the_api(celery_run: CeleryRun) -> None:
    """Written on a worker, read by the API server: through the bucket, as nothing else is shared."""
    service, run_id = celery_run.service, celery_run.run_id
    log = service.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/plan_run/logs/1",
                      params={"full_content": True})
    assert log.status_code == 200, log.text[:2000]
    assert "Done. Returned value was" in log.text, log.text[-3000:]
