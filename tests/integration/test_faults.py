"""Faults on purpose: the mail server, the DMS database and the ledger going away, tasks and
whole runs killed, two runs at once. Each ends with every list and invoice sent exactly once
and the same outputs as an undisturbed run.

Steps are called directly where a fault concerns one step; whole runs (``dag.test`` in a
subprocess, killed with SIGKILL) only where the fault needs them.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pypdf
import pytest
import sqlalchemy as sa

from include.dms_billing.airflow.smtp import send_message
from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.config import BillingConfig, parse_config
from include.dms_billing.core.jobs import ClientJob, plan_clients
from include.dms_billing.flows import delivery_steps
from include.dms_billing.ledger.db import ledger_engine as make_ledger
from include.dms_billing.ledger.db import migrate
from include.dms_billing.ledger.deliveries import CLAIM_LEASE, FINANCE, FIRST, SENDING, SENT, UPDATE, delivery_log
from include.dms_billing.ledger.invoices import month_invoices
from include.dms_billing.ledger.schema import deliveries
from include.dms_billing.outputs.paths import client_month_paths, delivery_receipts
from include.dms_billing.source.clients import fetch_clients
from include.dms_billing.source.extraction import extract_user_facts
from tests.conftest import PROJECT
from tests.support.faults import TcpProxy, faulty_outbox, kill_run, start_run, write_list
from tests.support.scenarios import Source, section2_cases
from tests.support.servers import POSTGRES_URL, scratch_database

MAY = BillingMonth(2023, 5)
CODES = {1: ("DHAKA1", "Asia/Dhaka"), 2: ("KOLKATA1", "Asia/Kolkata"), 3: ("LONDON1", "Europe/London")}
PLAN = {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}


def _source(extra_users: int = 0) -> Source:
    src = Source()
    for client_id, (code, tz) in CODES.items():
        src.client(client_id, code, tz)
        section2_cases(src, client_id, billing_window(MAY, tz))
    window = billing_window(MAY, "Asia/Dhaka")
    for n in range(extra_users):  # bulk for the extraction faults
        src.user(1, "active", window.start - timedelta(days=30), history=[("active", window.start)],
                 logins=[window.start + timedelta(hours=n % 500)], expect="active")
    return src


def _config() -> BillingConfig:
    return parse_config({"clients": {code: PLAN for code, _ in CODES.values()}})


@pytest.fixture
def dms(tmp_path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    _source().load(engine)
    return engine


def _prepare(dms: sa.Engine, config: BillingConfig) -> list[ClientJob]:
    """Every client's list, as the DAG's steps before delivery write it."""
    jobs = plan_clients(fetch_clients(dms), [], MAY, config)
    for job in jobs:
        write_list(dms, job, config)
    return jobs


def _deliver_batch(ledger: sa.Engine, jobs: list[ClientJob], config: BillingConfig, run_id: str) -> list[str]:
    """Each client's list and invoice, then the finance summary, as the DAG's send tasks do:
    each one independently (a failed send does not stop the others); the failures, by name."""
    failures = []
    for job in jobs:
        paths = client_month_paths(job.billing_month, job.client_code)
        delivery_steps.issue_invoice_step(ledger, job, paths, config, run_id)  # no mail: no fault
        for step in (delivery_steps.send_list_step, delivery_steps.send_invoice_step):
            try:
                step(ledger, job, paths, config, run_id, False, send_message)
            except Exception as exc:  # noqa: BLE001 - a failed task; the run goes on
                failures.append(f"{step.__name__} {job.client_code}: {type(exc).__name__}")
    try:
        delivery_steps.finance_summary_step(ledger, str(MAY), config, deliver=True, run_id=run_id, resend=False,
                                            send=send_message)
    except Exception as exc:  # noqa: BLE001
        failures.append(f"finance_summary: {type(exc).__name__}")
    return failures


def _key(message) -> tuple[str, str]:
    tags = dict(part.split("=", 1) for part in message["X-Sokrio-Billing"].split("; ")[1:])
    return message["X-Sokrio-Billing"].split(";")[0], tags.get("client", "*")


NUMBER = re.compile(r"SKR-\d{6}")
# An invoice's time of issue (Mushak-6.3) is when its run numbered it, and a late run says the day too.
ISSUED = re.compile(r"(\d{1,2} [A-Z][a-z]+ \d{4},(<br>|\s)*)?\d\d:\d\d \(UTC[+-]\d\d:\d\d\)")


def _content(message) -> dict:
    """What a recipient gets, without what legitimately differs per sending: the Date, the XLSX
    zip's timestamps, invoice numbers, given in the order invoices are issued (which client's
    task issues first is up to the scheduler), and an invoice's time of issue."""
    def same(text: str) -> str:
        return ISSUED.sub("TIME", NUMBER.sub("SKR-N", text))

    files = {}
    for part in message.iter_attachments():
        data, name = part.get_payload(decode=True), same(part.get_filename())
        if name.endswith(".xlsx"):  # every sheet (the list's Summary, list and Changes; finance's rows)
            data = {sheet.title: [tuple(same(v) if isinstance(v, str) else v for v in row)
                                  for row in sheet.iter_rows(values_only=True)]
                    for sheet in openpyxl.load_workbook(io.BytesIO(data)).worksheets}
            if name.startswith("finance"):  # rows in number order
                data = {title: sorted(rows, key=repr) for title, rows in data.items()}
        elif name.endswith(".pdf"):
            data = same("".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages))
        elif name.startswith("finance"):
            data = sorted(same(data.decode("utf-8-sig")).splitlines())
        files[name] = data
    text, html = (same(message.get_body((kind,)).get_content()) for kind in ("plain", "html"))
    if _key(message)[0] == "finance":  # a table in number order
        text, html = sorted(text.splitlines()), sorted(html.splitlines())
    return {"subject": same(message["Subject"]), "to": message["To"], "cc": message["Cc"],
            "message_id": message["Message-ID"], "text": text, "html": html, "files": files}


def _by_key(messages) -> dict[tuple[str, str], dict]:
    counts = Counter(_key(m) for m in messages)
    assert all(n == 1 for n in counts.values()), f"sent more than once: {counts}"
    return {_key(m): _content(m) for m in messages}


def _assert_same(actual: dict, expected: dict) -> None:
    """Every email as the undisturbed run sent it, field by field (so a failure names the field)."""
    assert sorted(actual) == sorted(expected)
    for key, fields in expected.items():
        for field, value in fields.items():
            assert actual[key][field] == value, (key, field)


def _undisturbed(tmp_path: Path, jobs: list[ClientJob], config: BillingConfig) -> dict[tuple[str, str], dict]:
    """The same batch with nothing broken: a fresh ledger and a healthy server."""
    from tools.outbox_smtp import Outbox

    ledger = make_ledger(f"sqlite:///{tmp_path / 'undisturbed.sqlite'}")
    migrate(ledger)
    with Outbox() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.connection_uri())
        assert _deliver_batch(ledger, jobs, config, "undisturbed") == []
        return _by_key(server.messages)


# --- The mail server refuses or drops the connection in the middle of a batch -----------------

@pytest.mark.parametrize("fault", ["refuse", "drop"])
def test_mail_server_fails_mid_batch_then_the_retry_sends_the_rest_once(
    fault: str, dms: sa.Engine, ledger_engine: sa.Engine, data_root: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _config()
    jobs = _prepare(dms, config)
    expected = _undisturbed(tmp_path, jobs, config)
    outbox, handler = faulty_outbox(accept=3, fault=fault)
    with outbox:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", outbox.connection_uri())
        failures = _deliver_batch(ledger_engine, jobs, config, "run-1")
        assert len(outbox.messages) == 3 and len(failures) == 4 and handler.refused == 4, failures
        assert Counter(r["state"] for r in delivery_log(ledger_engine, str(MAY))) == {"sent": 3, "failed": 4}

        handler.accept = None  # the server is back: the retries
        assert _deliver_batch(ledger_engine, jobs, config, "run-1") == []
        assert _deliver_batch(ledger_engine, jobs, config, "run-2") == []  # and a later run sends nothing

    assert len(outbox.messages) == 7 == len(expected)
    _assert_same(_by_key(outbox.messages), expected)
    assert {r["state"] for r in delivery_log(ledger_engine, str(MAY))} == {SENT}


# --- The DMS database is unreachable, or drops the connection mid-extraction -----------------

@pytest.fixture
def pg_dms(tmp_path: Path):
    """The DMS on the local PostgreSQL, with 3,000 more users for client 1 (a long stream)."""
    with scratch_database(POSTGRES_URL) as url:
        engine = sa.create_engine(url)
        _source(extra_users=3000).load(engine)
        engine.dispose()
        yield url


def _snapshot(engine: sa.Engine, target: Path, chunk_rows: int = 100) -> int:
    return extract_user_facts(engine, 1, billing_window(MAY, "Asia/Dhaka"), target, chunk_rows=chunk_rows)


def test_dms_unreachable_or_dropped_mid_extraction_leaves_the_last_snapshot_whole(
    pg_dms: sa.URL, tmp_path: Path
) -> None:
    clean = tmp_path / "clean.parquet"
    rows = _snapshot(sa.create_engine(pg_dms), clean)
    target = tmp_path / "snapshots" / "user_facts.parquet"
    target.parent.mkdir()
    shutil.copyfile(clean, target)  # the last good snapshot
    before = target.read_bytes()

    with TcpProxy(pg_dms.host, pg_dms.port) as proxy:
        engine = sa.create_engine(pg_dms.set(port=proxy.port), pool_pre_ping=True)
        proxy.cut_after_bytes = 60_000  # a few chunks into a result of about 600 kB
        with pytest.raises(sa.exc.OperationalError) as dropped:
            _snapshot(engine, target)
        assert proxy.cuts == 1 and not isinstance(dropped.value, ValueError)  # not a data error: retried
        assert target.read_bytes() == before, "a half-read snapshot must never replace the last one"

        proxy.stop()  # the database is unreachable
        with pytest.raises(sa.exc.OperationalError):
            _snapshot(engine, target)
        assert target.read_bytes() == before

        proxy.cut_after_bytes = None
        proxy.start()  # back: the retry
        engine.dispose()
        assert _snapshot(engine, target) == rows

    assert list(target.parent.iterdir()) == [target], "no temporary file is left behind"
    assert pq.read_table(target).equals(pq.read_table(clean))


def test_extraction_is_retried_and_data_errors_are_not(airflow_db) -> None:
    """A database that is away comes back: extraction retries; bad data will not mend itself."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_monthly_billing"]
    assert dag.get_task("bill_batch.decide_lists").retries >= 2
    for task_id in ("bill_batch.deliver_lists", "bill_batch.issue_and_deliver_invoices", "finance_summary"):
        task = dag.get_task(task_id)  # a stale claim blocks a send for the lease: the retries outlast it
        assert task.retries * task.retry_delay > CLAIM_LEASE, task_id


# --- A task killed while writing a snapshot or a PDF -----------------------------------------

KILL_MID_EXTRACT = """
import sys
from pathlib import Path
import sqlalchemy as sa
from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.source.extraction import extract_user_facts
engine = sa.create_engine(sys.argv[1])
extract_user_facts(engine, 1, billing_window(BillingMonth(2023, 5), "Asia/Dhaka"), Path(sys.argv[2]), chunk_rows=50)
print("FINISHED", flush=True)
"""

SLOW_ATOMIC_WRITE = """
import sys, time
from pathlib import Path
from include.dms_billing.outputs.atomic import atomic_path
data = Path(sys.argv[1]).read_bytes()
with atomic_path(Path(sys.argv[2])) as tmp, open(tmp, "wb") as out:
    out.write(data[: len(data) // 2]); out.flush()
    print("HALF", flush=True)
    time.sleep(60)
    out.write(data[len(data) // 2:])
"""


def _kill_when(process: subprocess.Popen, ready) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, "the process ended before it could be killed"
        assert time.monotonic() < deadline, "the process never got there"
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=30)


def test_a_task_killed_while_writing_a_snapshot_leaves_no_partial_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dms.sqlite'}"
    _source(extra_users=20_000).load(sa.create_engine(url))
    target = tmp_path / "out" / "user_facts.parquet"
    process = subprocess.Popen([sys.executable, "-c", KILL_MID_EXTRACT, url, str(target)], cwd=PROJECT,
                               stdout=subprocess.PIPE)

    def writing() -> bool:
        return any(p.stat().st_size > 0 for p in target.parent.glob(".user_facts.parquet.*.tmp"))

    _kill_when(process, writing)

    assert process.returncode == -9 and b"FINISHED" not in process.stdout.read()
    assert not target.exists(), "a partial snapshot must never be at the path readers read"
    [leftover] = target.parent.glob(".*.tmp")
    assert leftover.stat().st_mode & 0o077 == 0  # the half-written leftover is private too
    assert _snapshot(sa.create_engine(url), target) > 20_000  # the retry writes it whole
    assert [p.name for p in target.parent.iterdir() if not p.name.startswith(".")] == [target.name]


def test_a_task_killed_while_writing_a_pdf_leaves_the_previous_file(tmp_path: Path) -> None:
    from include.dms_billing.outputs.render import render_invoice_html, render_invoice_pdf
    from tests.support.samples import make_invoice

    pdf = render_invoice_pdf(render_invoice_html(make_invoice()))
    source, target = tmp_path / "rendered.pdf", tmp_path / "invoices" / "invoice_SKR-000001.pdf"
    source.write_bytes(pdf)
    target.parent.mkdir()
    target.write_bytes(b"%PDF- the previous run's file")
    process = subprocess.Popen([sys.executable, "-c", SLOW_ATOMIC_WRITE, str(source), str(target)], cwd=PROJECT,
                               stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"HALF\n"
    process.kill()
    process.wait(timeout=30)

    assert target.read_bytes() == b"%PDF- the previous run's file"
    [leftover] = target.parent.glob(".*.tmp")
    assert 0 < leftover.stat().st_size < len(pdf)  # the half-written file never took the real name


def _age_claims(ledger: sa.Engine) -> None:
    """Time passes: every claim becomes older than the lease."""
    with ledger.begin() as conn:
        for row in conn.execute(sa.select(deliveries.c.id, deliveries.c.claimed_at)).all():
            conn.execute(deliveries.update().where(deliveries.c.id == row.id)
                         .values(claimed_at=row.claimed_at - CLAIM_LEASE - timedelta(seconds=1)))


# --- The ledger is away after the server accepted an email -----------------------------------

@pytest.fixture
def pg_ledger():
    with scratch_database(POSTGRES_URL) as url:
        engine = make_ledger(url)
        migrate(engine)
        engine.dispose()
        yield url


def test_ledger_down_after_the_server_accepted_an_email_is_not_sent_twice(
    pg_ledger: sa.URL, dms: sa.Engine, data_root: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = _config()
    [job, *_] = _prepare(dms, config)
    paths = client_month_paths(job.billing_month, job.client_code)
    with TcpProxy(pg_ledger.host, pg_ledger.port) as proxy:
        ledger = make_ledger(pg_ledger.set(port=proxy.port))
        outbox, handler = faulty_outbox(on_accept=lambda n: proxy.stop())  # accepted, then the ledger goes
        with outbox:
            monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", outbox.connection_uri())
            with pytest.raises(sa.exc.OperationalError):
                delivery_steps.send_list_step(ledger, job, paths, config, "run-1", False, send_message)
            assert len(outbox.messages) == 1
            [receipt] = delivery_receipts().iterdir()
            assert receipt.stat().st_mode & 0o077 == 0o040  # 0640: not world-readable

            handler.on_accept = None
            proxy.start()  # the ledger is back: the task's retry
            with caplog.at_level(logging.WARNING, logger="include.dms_billing.ledger.deliveries"):
                retried = delivery_steps.send_list_step(ledger, job, paths, config, "run-1", False, send_message)
            again = delivery_steps.send_list_step(ledger, job, paths, config, "run-2", False, send_message)
        ledger.dispose()

    assert not retried.sent and not again.sent
    assert len(outbox.messages) == 1, "the client must get the list once"
    assert retried.message_id == outbox.messages[0]["Message-ID"] == "<list.DHAKA1.2023-05.0@sokrio.example>"
    assert "recorded now from its receipt, not sent again" in caplog.text
    assert not receipt.exists()
    [row] = delivery_log(make_ledger(pg_ledger), str(MAY))
    assert row["state"] == SENT and row["sent_at"] is not None


def test_a_crash_after_the_server_accepted_resends_with_the_same_message_id_after_the_lease(
    dms: sa.Engine, ledger_engine: sa.Engine, data_root: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The window no ledger closes: the process dies between the server's 250 and any record.

    Played by a row left ``sending`` by a run that is gone and a message the server holds.
    Within the lease nothing is sent over; after it, the same Message-ID is sent again, so the
    client's mail system can recognise the duplicate, and a warning says so.
    """
    from include.dms_billing.ledger.deliveries import DeliveryInProgress
    from tools.outbox_smtp import Outbox

    config = _config()
    [job, *_] = _prepare(dms, config)
    paths = client_month_paths(job.billing_month, job.client_code)
    with Outbox() as outbox:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", outbox.connection_uri())
        first = delivery_steps.send_list_step(ledger_engine, job, paths, config, "dead-run", False, send_message)
        with ledger_engine.begin() as conn:  # the dead run never recorded it
            conn.execute(deliveries.update().values(state=SENDING, sent_at=None))
        with pytest.raises(DeliveryInProgress, match="dead-run"):
            delivery_steps.send_list_step(ledger_engine, job, paths, config, "run-2", False, send_message)
        assert len(outbox.messages) == 1

        _age_claims(ledger_engine)
        with caplog.at_level(logging.WARNING, logger="include.dms_billing.ledger.deliveries"):
            again = delivery_steps.send_list_step(ledger_engine, job, paths, config, "run-3", False, send_message)

    assert again.sent and again.message_id == first.message_id
    assert [m["Message-ID"] for m in outbox.messages] == [first.message_id] * 2
    assert "may have reached the server; sending again with the same Message-ID" in caplog.text
    assert [r["state"] for r in delivery_log(ledger_engine, str(MAY))] == [SENT]


# --- Whole runs: killed half-way, and two at once ---------------------------------------------

WHOLE_RUN = {"billing_month": str(MAY), "clients": ["DHAKA1", "KOLKATA1"], "deliver": True}


def _delivered(messages) -> dict[tuple[str, str], dict]:
    """Lists, invoices and the finance summary by kind and client, each exactly once (alerts aside).

    A run whose task lost a race to the other run still sends finance the invoices issued so far
    (its ``finance_summary`` runs whatever happened), and the re-run sends the update that the
    contract allows: each earlier summary must then hold fewer invoices than the next, and only
    the last, complete one is compared (its Message-ID as if it were the first).
    """
    finance = [m for m in messages if _key(m)[0] == "finance"]
    numbers = [set(NUMBER.findall(m.get_body(("plain",)).get_content())) for m in finance]
    assert all(earlier < later for earlier, later in zip(numbers, numbers[1:])), numbers
    delivered = _by_key([m for m in messages if _key(m)[0] not in ("alert", "finance")] + finance[-1:])
    for key, fields in delivered.items():
        if key[0] == "finance":  # each update is a new email: its Message-ID counts the summaries
            revision = re.search(r"\.(\d+)@", fields["message_id"])
            assert revision and int(revision[1]) == len(finance) - 1, (fields["message_id"], len(finance))
            fields["message_id"] = fields["message_id"].replace(revision[0], ".0@")
    return delivered


def _reference_run(tmp_path: Path) -> dict[tuple[str, str], dict]:
    """The same run, undisturbed, in its own data root and ledger."""
    from tests.integration.conftest import run_dag
    from tools.outbox_smtp import Outbox

    with Outbox() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("DMS_BILLING_DATA", str(tmp_path / "reference"))
        patch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.connection_uri())
        run = run_dag(WHOLE_RUN)
        assert run.state == "success"
        return _delivered(server.messages)


def _default_ledger() -> sa.Engine:
    from include.dms_billing.ledger.db import default_ledger_url

    return make_ledger(default_ledger_url())


@pytest.mark.airflow
def test_a_run_killed_half_way_then_run_again_sends_everything_once(
    airflow_db, source: Source, data_root: Path, tmp_path: Path
) -> None:
    from tests.integration.conftest import run_dag

    expected = _reference_run(tmp_path)
    outbox, handler = faulty_outbox(accept=2, fault="stall")  # the third email hangs: the run is killed there
    with outbox, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", outbox.connection_uri())
        process = start_run(WHOLE_RUN, {}, tmp_path / "killed-run.log")
        deadline = time.monotonic() + 300
        while not handler.stalled.wait(0.1):
            assert process.poll() is None, (tmp_path / "killed-run.log").read_text()[-3000:]
            assert time.monotonic() < deadline
        kill_run(process)
        handler.release.set()
        ledger = _default_ledger()
        assert Counter(r["state"] for r in delivery_log(ledger, str(MAY))) == {SENT: 2, SENDING: 1}
        assert len(outbox.messages) == 2

        handler.accept = None
        at_once = run_dag(WHOLE_RUN)  # within the lease the dead run's claim is not sent over
        assert at_once.state == "failed"
        _age_claims(ledger)  # the retries come after the lease
        final = run_dag(WHOLE_RUN)
        assert final.state == "success"

    _assert_same(_delivered(outbox.messages), expected)
    assert {r["state"] for r in delivery_log(ledger, str(MAY))} == {SENT}
    assert [i.invoice_number for i in month_invoices(ledger, str(MAY))] == ["SKR-000001", "SKR-000002"]
    for code in ("DHAKA1", "KOLKATA1"):
        mine, theirs = (client_month_paths(str(MAY), code, root) for root in (data_root, tmp_path / "reference"))
        assert mine.billable_csv.read_bytes() == theirs.billable_csv.read_bytes()
        assert pq.read_table(mine.billable_parquet).equals(pq.read_table(theirs.billable_parquet))


def _client_task_spans(metadata: Path) -> list[tuple[datetime, datetime]]:
    """When each client task of the run in ``metadata`` (an Airflow SQLite database) ran."""
    engine = sa.create_engine(f"sqlite:///{metadata}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT start_date, end_date FROM task_instance "
            "WHERE task_id LIKE 'bill_batch.%' AND start_date IS NOT NULL AND end_date IS NOT NULL"
        )).all()
    engine.dispose()
    assert rows, f"no client task ran in {metadata}"
    return [(datetime.fromisoformat(str(start)), datetime.fromisoformat(str(end))) for start, end in rows]


@pytest.mark.airflow
def test_two_runs_of_the_same_month_at_once_issue_and_send_once(
    airflow_db: Path, source: Source, data_root: Path, tmp_path: Path
) -> None:
    from tests.integration.conftest import run_dag
    from tools.outbox_smtp import Outbox

    expected = _reference_run(tmp_path)
    migrate(_default_ledger())  # the ledger exists before the runs, as in production
    with Outbox() as outbox, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", outbox.connection_uri())
        runs = []
        for name in ("scheduled", "manual"):  # each its own Airflow metadata database, one ledger
            metadata = tmp_path / f"airflow-{name}.db"
            shutil.copyfile(airflow_db / "airflow.db", metadata)
            env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{metadata}"}
            runs.append((name, start_run(WHOLE_RUN, env, tmp_path / f"{name}.log")))
        for name, process in runs:
            assert process.wait(timeout=600) == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
        # at once: a billing task of one run was running while one of the other was
        spans = [_client_task_spans(tmp_path / f"airflow-{name}.db") for name, _ in runs]
        assert any(a0 < b1 and b0 < a1 for a0, a1 in spans[0] for b0, b1 in spans[1]), spans
        ledger = _default_ledger()
        assert len(month_invoices(ledger, str(MAY))) == 2
        run_dag(WHOLE_RUN)  # a re-run sends whatever a task that lost a race left unsent

    _assert_same(_delivered(outbox.messages), expected)
    assert [i.invoice_number for i in month_invoices(ledger, str(MAY))] == ["SKR-000001", "SKR-000002"]
    log = delivery_log(ledger, str(MAY))
    to_clients = [r for r in log if r["client_code"] != FINANCE]
    assert {(r["state"], r["attempt"]) for r in to_clients} == {(SENT, 0)} and len(to_clients) == 4
    # finance: the first summary, then one update per run that saw more invoices (see _delivered)
    summaries = [(r["state"], r["attempt"], r["reason"]) for r in log if r["client_code"] == FINANCE]
    assert summaries == [(SENT, 0, FIRST)] + [(SENT, n, UPDATE) for n in range(1, len(summaries))]
