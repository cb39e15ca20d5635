"""What was billed stays billed (contract section 8): a month run again after its invoice, with
source data that changed since, keeps the sealed list byte for byte, keeps the recomputation
beside it as a revision with the difference, tells the data team and finance once per revision,
and changes no invoice; objections and resends use the sealed list.

The whole run goes through ``dag.test()`` (a real SMTP server on loopback, a real SQLite ledger
and DMS); the checks of one step (objections, a resend, a backfill's kept emails) call the step.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.dms_billing.airflow.smtp import send_message
from include.dms_billing.core.billing_month import billing_window
from include.dms_billing.core.config import load_config
from include.dms_billing.core.jobs import plan_clients
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.flows import delivery_steps
from include.dms_billing.ledger.db import default_ledger_url, ledger_engine, migrate
from include.dms_billing.ledger.objections import (
    ObjectionRejected,
    ObjectionRequest,
    record_objections,
    sealed_billed_ids,
)
from include.dms_billing.ledger.schema import invoices
from include.dms_billing.ledger.seals import INVOICE, LIST_SENT, find_seal
from include.dms_billing.outputs.fingerprints import SealBroken
from include.dms_billing.outputs.paths import client_month_paths
from include.dms_billing.outputs.revisions import Recheck, read_last_check
from include.dms_billing.outputs.run_report import collect
from include.dms_billing.source.clients import fetch_clients
from tests.integration.conftest import MAY, run_dag
from tests.support.faults import write_list
from tests.support.scenarios import Source, naive

WINDOW = billing_window(MAY, "Asia/Dhaka")
MID = WINDOW.start + timedelta(days=10)
DEACTIVATED, LATE_LOGIN, NOW_BY_LOGIN = 1, 3, 10  # DHAKA1's users: active; not billed; active
CONF = {"billing_month": str(MAY), "clients": ["DHAKA1"], "deliver": True}


def _late_data(source: Source) -> None:
    """After May was billed: user 1 deactivated in May (backdated), a late May login of user 3,
    and user 10 deactivated in May after logging in (billed for the login instead)."""
    changes = [(DEACTIVATED, "inactive", MID), (NOW_BY_LOGIN, "inactive", MID + timedelta(hours=1))]
    logins = [(LATE_LOGIN, MID), (NOW_BY_LOGIN, MID + timedelta(minutes=30))]
    with sa.create_engine(os.environ["AIRFLOW_CONN_DMS_SOURCE"]).begin() as conn:
        for n, (uid, status, at) in enumerate(changes, start=len(source.changes) + 1):
            conn.execute(sa.text("INSERT INTO user_status_changes (id, user_id, status, changed_at, changed_by) "
                                 "VALUES (:id, :uid, :status, :at, 'late')"), dict(id=n, uid=uid, status=status, at=naive(at)))
        for n, (uid, at) in enumerate(logins, start=len(source.logins) + 1):
            conn.execute(sa.text("INSERT INTO user_logins (id, user_id, logged_in_at, channel) VALUES (:id, :uid, :at, 'app')"),
                         dict(id=n, uid=uid, at=naive(at)))


def _billed_files(code: str = "DHAKA1") -> dict[str, bytes]:
    paths = client_month_paths(str(MAY), code)
    files = [paths.billable_csv, paths.billable_parquet, paths.summary, paths.changes, paths.seal_marker]
    return {p.name: p.read_bytes() for p in files}


def _invoice_row(engine: sa.Engine, code: str = "DHAKA1") -> tuple[str, bytes]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(invoices.c.invoice_number, invoices.c.pdf).where(
            invoices.c.client_code == code, invoices.c.billing_month == str(MAY))).one()
    return row.invoice_number, row.pdf


def _kinds(messages) -> list[str]:
    return sorted(m["X-Sokrio-Billing"].split(";")[0] for m in messages)


def _job(code: str = "DHAKA1"):
    [job] = plan_clients(fetch_clients(sa.create_engine(os.environ["AIRFLOW_CONN_DMS_SOURCE"])), [code], MAY, load_config())
    return job


def _object(engine: sa.Engine, *user_ids: int) -> None:
    request = ObjectionRequest("DHAKA1", str(MAY), user_ids, "left in April", "finance@sokrio.example")
    record_objections(engine, [request], sealed_billed_ids(engine, "objection-run"), "objection-run")


@pytest.mark.airflow
def test_a_rerun_after_the_invoice_with_late_data_keeps_the_billed_list_and_tells_once(
    airflow_db, source: Source, outbox, data_root: Path
) -> None:
    assert run_dag(CONF).state == "success"
    engine = ledger_engine(default_ledger_url())
    billed, invoice = _billed_files(), _invoice_row(engine)
    paths = client_month_paths(str(MAY), "DHAKA1")
    pdf_on_disk = paths.invoice_file(invoice[0], ".pdf").read_bytes()
    sent_before = len(outbox.messages)

    _late_data(source)
    rerun = run_dag(CONF)

    assert rerun.state == "success"
    assert _billed_files() == billed  # byte for byte
    assert _invoice_row(engine) == invoice and paths.invoice_file(invoice[0], ".pdf").read_bytes() == pdf_on_disk
    [alert] = outbox.messages[sent_before:]  # no list, invoice or finance email again
    assert _kinds([alert]) == ["list_revision"]
    assert "data-team@sokrio.example" in alert["To"] and "finance@sokrio.example" in alert["To"]
    assert "1 added, 1 removed, 1 reason changed" in alert["Subject"] and "invoice unchanged" in alert["Subject"]
    text = alert.get_body(("plain",)).get_content()
    assert invoice[0] in text and "objection" in text
    [revision] = [p for p in (paths.billable_csv.parent / "revisions").iterdir() if p.is_dir()]
    found = Recheck.from_json((revision / "difference.json").read_text(encoding="utf-8"))
    diff = found.difference
    assert [u.user_id for u in diff.added] == [LATE_LOGIN] and diff.added[0].billable_reason == "inactive_recent_login"
    assert [(u.user_id, u.sealed_reason) for u in diff.removed] == [(DEACTIVATED, "active")]
    assert [(u.user_id, u.sealed_reason, u.billable_reason) for u in diff.reason_changed] == [
        (NOW_BY_LOGIN, "active", "inactive_recent_login")]
    assert found.recomputed_count == found.sealed_count  # one added, one removed
    revised_ids = {int(line.split(",")[0]) for line in (revision / "billable_users.csv").read_text(encoding="utf-8-sig").splitlines()[1:]}
    assert LATE_LOGIN in revised_ids and DEACTIVATED not in revised_ids
    [report] = collect(str(MAY), ["DHAKA1"], data_root)
    assert f"revision {found.revision} (1 added, 1 removed, 1 reason changed)" in report.result()

    # The same data again: nothing new is written or sent.
    again = run_dag(CONF)
    assert again.state == "success" and len(outbox.messages) == sent_before + 1
    assert [p.name for p in (paths.billable_csv.parent / "revisions").iterdir() if p.is_dir()] == [revision.name]
    assert _billed_files() == billed and _invoice_row(engine) == invoice

    # Objections are checked against the sealed list: user 3 was not billed, user 1 was.
    with pytest.raises(ObjectionRejected, match=f"not on the billed list of DHAKA1 2023-05: \\[{LATE_LOGIN}\\]"):
        _object(engine, LATE_LOGIN)
    _object(engine, DEACTIVATED)

    # A resend sends the sealed list, byte for byte.
    job, config = _job(), load_config()
    sent_before = len(outbox.messages)
    delivery_steps.send_list_step(engine, job, paths, config, "resend-run", True, send_message)
    [resent] = outbox.messages[sent_before:]
    attached = {part.get_filename(): part.get_payload(decode=True) for part in resent.iter_attachments()}
    assert attached["Sokrio_billable_users_DHAKA1_2023-05.csv"] == billed["billable_users.csv"]


def test_a_sealed_list_altered_on_disk_is_neither_resent_nor_objected_to(source: Source, outbox, data_root) -> None:
    engine = ledger_engine(default_ledger_url())
    migrate(engine)
    job, config = _job(), load_config()
    paths = write_list(sa.create_engine(os.environ["AIRFLOW_CONN_DMS_SOURCE"]), job, config)
    delivery_steps.send_list_step(engine, job, paths, config, "run-1", False, send_message)
    delivery_steps.issue_invoice_step(engine, job, paths, config, "run-1")
    sent = len(outbox.messages)

    paths.billable_csv.write_text(paths.billable_csv.read_text() + "999,intruder,,,active,active,,0,,,\n")

    with pytest.raises(SealBroken, match="not the sealed list"):
        delivery_steps.send_list_step(engine, job, paths, config, "resend-run", True, send_message)
    with pytest.raises(ObjectionRejected, match="not the sealed list"):
        _object(engine, DEACTIVATED)
    assert len(outbox.messages) == sent


def test_the_list_is_sealed_when_first_sent_and_the_invoice_is_built_from_it(source, outbox, data_root) -> None:
    engine = ledger_engine(default_ledger_url())
    migrate(engine)
    job, config = _job(), load_config()
    dms = sa.create_engine(os.environ["AIRFLOW_CONN_DMS_SOURCE"])
    paths = write_list(dms, job, config)
    delivery_steps.send_list_step(engine, job, paths, config, "run-1", False, send_message)
    with engine.connect() as conn:
        sealed = find_seal(conn, "DHAKA1", str(MAY))
    assert sealed.sealed_because == LIST_SENT and sealed.invoice_number is None
    sent_list = paths.billable_csv.read_bytes()

    _late_data(source)  # before the invoice day: a retry of the month recomputes
    write_list(dms, job, config)  # extract, validate, decide: the sealed list is rechecked, not rewritten
    issued = delivery_steps.issue_invoice_step(engine, job, paths, config, "run-2")

    assert paths.billable_csv.read_bytes() == sent_list
    assert read_last_check(paths).difference.counts() == {"added": 1, "removed": 1, "reason_changed": 1}
    assert issued.invoice.billable_count == sealed.fingerprint.row_count
    with engine.connect() as conn:
        assert find_seal(conn, "DHAKA1", str(MAY)).invoice_number == issued.invoice.invoice_number


def test_a_backfill_seals_at_the_invoice_and_keeps_its_kept_emails(source, data_root) -> None:
    engine = ledger_engine(default_ledger_url())
    migrate(engine)
    job, config = _job(), load_config()
    dms = sa.create_engine(os.environ["AIRFLOW_CONN_DMS_SOURCE"])
    paths = write_list(dms, job, config)
    delivery_steps.archive_step(engine, job, paths, config, DeliveryKind.LIST, "backfill-1")
    with engine.connect() as conn:
        assert find_seal(conn, "DHAKA1", str(MAY)) is None  # kept unsent: nobody received it
    delivery_steps.issue_invoice_step(engine, job, paths, config, "backfill-1")
    delivery_steps.archive_step(engine, job, paths, config, DeliveryKind.INVOICE, "backfill-1")
    with engine.connect() as conn:
        assert find_seal(conn, "DHAKA1", str(MAY)).sealed_because == INVOICE
    kept = {kind: paths.archived_email(kind).read_bytes() for kind in ("list", "invoice")}
    marker = json.loads(paths.seal_marker.read_text())

    _late_data(source)
    write_list(dms, job, config)  # extract, validate, decide of a later backfill
    delivery_steps.archive_step(engine, job, paths, config, DeliveryKind.LIST, "backfill-2")
    delivery_steps.issue_invoice_step(engine, job, paths, config, "backfill-2")
    delivery_steps.archive_step(engine, job, paths, config, DeliveryKind.INVOICE, "backfill-2")

    assert {kind: paths.archived_email(kind).read_bytes() for kind in ("list", "invoice")} == kept
    assert json.loads(paths.seal_marker.read_text()) == marker
    assert read_last_check(paths).revision is not None  # the late data is a revision beside the sealed list
