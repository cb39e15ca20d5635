"""Whole runs of ``dms_monthly_billing`` through ``dag.test()``: a small DMS, a real SMTP server.

Each test proves something only a whole run can: the branches, the deferrable waits, the
mapped clients failing independently, and exactly-once delivery across re-runs. Task retries
are switched off so a failure shows at once; "a retry" is a second run of the same month.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pypdf
import pytest
import sqlalchemy as sa

from include.dms_billing.core.columns import BILLABLE_COLUMNS
from include.dms_billing.ledger.approvals import run_decision
from include.dms_billing.ledger.db import default_ledger_url, ledger_engine
from include.dms_billing.ledger.deliveries import delivery_log
from include.dms_billing.ledger.invoices import month_invoices
from include.dms_billing.outputs.paths import client_month_paths
from include.dms_billing.outputs.run_report import collect
from tests.integration.conftest import MAY
from tests.integration.conftest import run_dag as _run
from tests.support.contract import ATTACHMENT_COLUMNS, FINANCE_COLUMNS
from tests.support.scenarios import Source

GOOD = {1: "DHAKA1", 2: "KOLKATA1"}
pytestmark = pytest.mark.airflow


def _states(run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}


def _ledger() -> sa.Engine:
    return ledger_engine(default_ledger_url())


def _kind(message) -> str:
    return message["X-Sokrio-Billing"].split(";")[0]


def _attachments(message) -> dict[str, bytes]:
    """Attachments by file name, as bytes (text parts are decoded by their charset)."""
    return {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}


def _expected(source: Source, client_id: int) -> dict[int, str]:
    return {uid: reason for uid, reason in source.expected.items()
            if reason and source.users[uid - 1]["client_id"] == client_id}


def test_manual_runs_of_three_months_bill_without_sending(
    airflow_db, source: Source, outbox, data_root: Path
) -> None:
    """Three manual runs, one after the other, without ``deliver``: right lists, invoices dated by
    each month's calendar and numbered in order, nothing sent. A real backfill (``airflow backfill
    create``, its runs at once and the last month first) is ``test_backfill_service.py``'s."""
    for month in ("2023-04", "2023-05", "2023-06"):
        run = _run({"billing_month": month, "clients": list(GOOD.values())})
        assert run.state == "success", _states(run)

    assert outbox.messages == []
    for client_id, code in GOOD.items():
        paths = client_month_paths(str(MAY), code, data_root)
        parquet = pd.read_parquet(paths.billable_parquet)
        rows = pd.read_csv(paths.billable_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        assert list(parquet.columns) == BILLABLE_COLUMNS and list(rows.columns) == ATTACHMENT_COLUMNS
        assert dict(zip(parquet["user_id"], parquet["billable_reason"])) == _expected(source, client_id)
        offset = "+06:00" if code == "DHAKA1" else "+05:30"
        stamps = [s for s in rows["last_login_at"] if s]
        assert stamps and all(s.endswith(offset) for s in stamps)
        assert paths.archived_email("list").exists() and paths.archived_email("invoice").exists()
    engine = _ledger()
    dates = {m: {i.invoice_date for i in month_invoices(engine, m)} for m in ("2023-04", "2023-05", "2023-06")}
    assert dates == {"2023-04": {date(2023, 5, 2)}, "2023-05": {date(2023, 6, 1)}, "2023-06": {date(2023, 7, 2)}}
    numbers = [i.invoice_number for m in ("2023-04", "2023-05", "2023-06") for i in month_invoices(engine, m)]
    assert numbers == [f"SKR-{n:06d}" for n in range(1, 7)]
    assert delivery_log(engine, "2023-05") == []
    assert not client_month_paths(str(MAY), "BROKEN", data_root).snapshot.exists()


def test_delivery_sends_each_email_once_and_bad_data_stops_only_its_client(
    airflow_db, source: Source, outbox, data_root: Path
) -> None:
    run = _run({"billing_month": str(MAY), "deliver": True})

    states = _states(run)
    assert run.state == "failed"
    assert states[("bill_batch.decide_lists", 0)] == "failed"  # BROKEN sorts first
    # In-process (airflow dags test), nobody could answer finance's approval: not asked, recorded.
    assert states[("approve_invoices", -1)] == "success"
    decision = run_decision(_ledger(), run.run_id)
    assert decision.held == () and decision.decided_by.startswith("not asked: an in-process run")
    # Every client task that ran, the waits included, is labelled with its client in the UI.
    labels = {(ti.task_id, ti.map_index): ti.rendered_map_index for ti in run.get_task_instances()
              if ti.task_id.startswith("bill_batch.") and ti.state not in ("upstream_failed", "skipped")}
    assert {label for (task_id, index), label in labels.items() if index == 0} == {"BROKEN"}
    invoices = "bill_batch.issue_and_deliver_invoices"
    assert labels[("bill_batch.wait_for_month_close", 1)] == labels[(invoices, 1)] == "DHAKA1"
    assert {labels[(task, 2)] for task in ("bill_batch.wait_for_invoice_day", invoices, "bill_batch.deliver_lists",
                                           "bill_batch.decide_lists")} == {"KOLKATA1"}
    assert states[(invoices, 1)] == states[(invoices, 2)] == "success"
    broken = client_month_paths(str(MAY), "BROKEN", data_root)
    assert not broken.billable_csv.exists()
    problem = {o.client_code: o for o in collect(str(MAY), ["BROKEN"], data_root)}["BROKEN"].problem
    assert "validation failed" in problem and Path(problem.rsplit("report: ", 1)[1]).exists()

    by_kind: dict[str, list] = {}
    for message in outbox.messages:
        by_kind.setdefault(_kind(message), []).append(message)
    assert sorted((k, len(v)) for k, v in by_kind.items()) == [
        ("alert", 2), ("finance", 1), ("invoice", 2), ("list", 2)]  # alerts: validate and report
    assert all("BROKEN" not in m["Subject"] for m in by_kind["list"] + by_kind["invoice"])
    alert = next(m for m in by_kind["alert"] if "validate" in m["Subject"])
    alert_text = alert.get_body(("plain",)).get_content()
    assert "BROKEN" in alert_text and str(broken.report_dir) in alert_text

    invoices = {i.bill_to.client_code: i for i in month_invoices(_ledger(), str(MAY))}
    for client_id, code in GOOD.items():
        expected = _expected(source, client_id)
        [listed] = [m for m in by_kind["list"] if f"({code})" in m["Subject"]]
        assert listed["To"] == f"billing@{code.lower()}.example" and "am@sokrio.example" in listed["Cc"]
        files = _attachments(listed)
        rows = list(csv.DictReader(io.StringIO(files[f"Sokrio_billable_users_{code}_2023-05.csv"].decode("utf-8-sig"))))
        assert {int(r["user_id"]): r["billable_reason"] for r in rows} == expected
        sheet = openpyxl.load_workbook(io.BytesIO(files[f"Sokrio_billable_users_{code}_2023-05.xlsx"]))[f"{code} 2023-05"]
        values = list(sheet.values)
        assert [name.split(" (")[0] for name in values[0]] == ATTACHMENT_COLUMNS  # times name their zone
        assert {row[0]: row[5] for row in values[1:]} == expected

        invoice = invoices[code]
        assert invoice.billable_count == len(expected)
        assert invoice.total == (Decimal("150.00") * len(expected) * Decimal("1.15")).quantize(Decimal("0.01"))
        [billed] = [m for m in by_kind["invoice"] if invoice.invoice_number in m["Subject"]]
        pdf = _attachments(billed)[f"Sokrio_invoice_{invoice.invoice_number}_{code}_2023-05.pdf"]
        text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
        assert invoice.invoice_number in text and f"{invoice.total:,.2f}" in text
    finance = _attachments(by_kind["finance"][0])["finance_summary_2023-05.csv"].decode("utf-8-sig")
    finance_rows = list(csv.DictReader(io.StringIO(finance)))
    assert list(finance_rows[0]) == FINANCE_COLUMNS
    assert {r["invoice_number"] for r in finance_rows} == {i.invoice_number for i in invoices.values()}

    # The same month again: nothing new reaches a client or finance, no new invoice number.
    sent_before = len(outbox.messages)
    _run({"billing_month": str(MAY), "deliver": True})
    new = [_kind(m) for m in outbox.messages[sent_before:]]
    assert set(new) <= {"alert"}
    assert {i.invoice_number for i in month_invoices(_ledger(), str(MAY))} == {
        i.invoice_number for i in invoices.values()}

    # A resend on purpose goes out again, and the ledger says so.
    sent_before = len(outbox.messages)
    run = _run({"billing_month": str(MAY), "clients": ["DHAKA1"], "deliver": True, "resend": True})
    assert run.state == "success", _states(run)
    assert sorted(_kind(m) for m in outbox.messages[sent_before:]) == ["finance", "invoice", "list"]
    log = [(r["client_code"], r["kind"], r["reason"]) for r in delivery_log(_ledger(), str(MAY))]
    assert ("DHAKA1", "list", "resend") in log and ("DHAKA1", "invoice", "resend") in log
    assert ("KOLKATA1", "list", "resend") not in log


def test_a_mail_server_outage_fails_the_run_and_the_rerun_sends_what_is_missing(
    airflow_db, source: Source, outbox, data_root: Path
) -> None:
    conf = {"billing_month": str(MAY), "clients": ["DHAKA1"], "deliver": True}
    outbox.stop()
    failed = _run(conf)
    assert failed.state == "failed"
    assert _states(failed)[("bill_batch.deliver_lists", 0)] == "failed"
    assert {r["state"] for r in delivery_log(_ledger(), str(MAY))} == {"failed"}

    outbox.start()
    run = _run(conf)
    again = _run(conf)

    assert run.state == again.state == "success", _states(run)
    assert sorted(_kind(m) for m in outbox.messages) == ["finance", "invoice", "list"]
    assert {r["state"] for r in delivery_log(_ledger(), str(MAY))} == {"sent"}
