"""Hostile data: SQL in codes and names, header injection, markup, spreadsheet formulas, and
secrets. Every case goes through the real part (the DMS database, the SMTP server, the PDF
renderer, a spreadsheet parser) and checks what comes out."""

from __future__ import annotations

import csv
import io
import logging
import stat
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pypdf
import pytest
import sqlalchemy as sa

from include.dms_billing.airflow.smtp import send_message
from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.jobs import ClientJob, RunRequestError, plan_clients, requested_codes
from include.dms_billing.flows import delivery_steps, moments
from include.dms_billing.ledger.db import default_ledger_url, ledger_engine, migrate
from include.dms_billing.outputs.billable_list import to_csv_text
from include.dms_billing.outputs.render import render_invoice_html, render_invoice_pdf
from include.dms_billing.source.clients import fetch_clients
from include.dms_billing.source.extraction import extract_user_facts
from tests.support.faults import write_list
from tests.support.samples import make_billed, make_invoice
from tests.support.scenarios import Source
from tests.support.servers import POSTGRES_URL, scratch_database

MAY = BillingMonth(2023, 5)
WINDOW = billing_window(MAY, "Asia/Dhaka")
OLD = WINDOW.start - timedelta(days=60)
SQL_CODE = "x' OR '1'='1"
SQL_NAME = "Robert'); DROP TABLE users;--"
HEADER_NAME = "Evil\r\nBcc: attacker@evil.example"
MARKUP = '<script>alert(1)</script><img src="http://evil.example/x.png">'
PASSWORD = "s3cret-Pa55word-never-shown"


def _source() -> Source:
    src = Source()
    src.client(1, "GOOD", "Asia/Dhaka")
    src.clients[0]["name"] = f"Good {MARKUP} Ltd"
    for name in (SQL_NAME, HEADER_NAME, "=HYPERLINK(\"http://evil.example\")", "+880 1711", "-1+1", "@SUM(A1)"):
        src.user(1, "active", OLD, history=[("active", OLD)], logins=[WINDOW.start], name=name)
    src.users[-1]["role"] = "=cmd|' /C calc'!A0"
    return src


def test_a_client_code_with_sql_is_refused() -> None:
    with pytest.raises(RunRequestError, match="invalid client codes"):
        requested_codes([SQL_CODE])
    with pytest.raises(RunRequestError):
        requested_codes(SQL_CODE)
    job = ClientJob(1, SQL_CODE, "x", "Asia/Dhaka", BillingMonth(2023, 5), "a@x.example", None)
    with pytest.raises(moments.ClientDataError, match="not a plain code"):
        moments.month_closes_at(job)


def test_params_are_bound_never_formatted_into_sql(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    _source().load(engine)

    # A client id carrying SQL is compared as a value: no user matches, none of another client leaks.
    assert extract_user_facts(engine, "1 OR 1=1", WINDOW, tmp_path / "none.parquet") == 0  # type: ignore[arg-type]
    assert extract_user_facts(engine, 1, WINDOW, tmp_path / "all.parquet") == 6
    import pyarrow.parquet as pq

    names = set(pq.read_table(tmp_path / "all.parquet").column("full_name").to_pylist())
    assert SQL_NAME in names  # read back verbatim
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar() == 6  # nothing was dropped


def _bill(tmp_path: Path, dms: sa.Engine, ledger: sa.Engine, outbox) -> ClientJob:
    config = parse_config({"clients": {"GOOD": {"plan": {"prices": [{"from": "2023-04", "unit_price": "10"}]}}}})
    [job] = plan_clients(fetch_clients(dms), [], MAY, config)
    paths = write_list(dms, job, config)
    delivery_steps.send_list_step(ledger, job, paths, config, "run-1", False, send_message)
    delivery_steps.issue_invoice_step(ledger, job, paths, config, "run-1")
    delivery_steps.send_invoice_step(ledger, job, paths, config, "run-1", False, send_message)
    delivery_steps.archive_step(ledger, job, paths, config, "list", "run-1")
    delivery_steps.finance_summary_step(ledger, "2023-05", config, deliver=True, run_id="run-1", resend=False,
                                        send=send_message)
    return job


@pytest.fixture
def delivered(tmp_path: Path, data_root: Path, outbox, caplog: pytest.LogCaptureFixture):
    """GOOD billed and delivered from a DMS on PostgreSQL reached with a password, ledger in the data root."""
    with scratch_database(POSTGRES_URL) as url:
        secret_url = url.set(password=PASSWORD)  # the local server trusts loopback: any password works
        dms = sa.create_engine(secret_url)
        _source().load(dms)
        ledger = ledger_engine(default_ledger_url())
        migrate(ledger)
        with caplog.at_level(logging.DEBUG):
            job = _bill(tmp_path, dms, ledger, outbox)
            with pytest.raises(sa.exc.OperationalError) as unreachable:  # and an error that names the URL
                sa.create_engine(secret_url.set(port=1)).connect()
        dms.dispose()
        ledger.dispose()
        yield {"job": job, "outbox": outbox, "error": str(unreachable.value), "log": caplog.text}


def test_header_injection_in_names_adds_no_recipient_or_header(delivered) -> None:
    outbox = delivered["outbox"]
    listed = next(m for m in outbox.messages if m["X-Sokrio-Billing"].startswith("list"))
    recipients = {tuple(rcpts) for _, rcpts in outbox.handler.envelopes}
    assert all("attacker@evil.example" not in r for rs in recipients for r in rs)
    assert "Bcc" not in listed and "attacker" not in str(listed["Cc"]) + str(listed["To"])
    rows = list(csv.DictReader(io.StringIO(next(
        p for p in listed.iter_attachments() if p.get_filename().endswith(".csv")).get_payload(decode=True).decode("utf-8-sig"))))
    assert HEADER_NAME in {r["full_name"] for r in rows}  # the name is data, kept whole, in the attachment only


def test_markup_in_a_client_name_is_escaped_in_html_emails_and_shown_as_text_in_the_pdf(delivered) -> None:
    for message in delivered["outbox"].messages:
        html = message.get_body(("html",)).get_content()
        assert "<script>" not in html and "<img src=\"http://evil" not in html
    invoice = next(m for m in delivered["outbox"].messages if m["X-Sokrio-Billing"].startswith("invoice"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in invoice.get_body(("html",)).get_content()
    pdf = next(invoice.iter_attachments()).get_payload(decode=True)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "<script>alert(1)</script>" in "".join(text.split("\n"))


def test_the_pdf_of_an_invoice_with_markup_shows_it_as_text() -> None:
    pdf = render_invoice_pdf(render_invoice_html(make_invoice(client_name=f"A {MARKUP}")))
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "<script>alert(1)</script>" in text.replace("\n", "")


def test_formula_cells_are_neutralised_in_the_csv() -> None:
    billed = make_billed()
    rows = list(csv.DictReader(io.StringIO(to_csv_text(billed))))
    assert rows[3]["full_name"].startswith("'=") and rows[1]["username"] == "'-karim"
    assert rows[1]["role"] == "'+DSR" and rows[2]["role"] == "'@manager"
    assert rows[0]["full_name"] == "রহিম উদ্দিন"  # nothing else is touched
    firsts = {cell[0] for row in rows for column, cell in row.items()
              if cell and column in ("username", "full_name", "role")}
    assert not firsts & set("=+-@")


def test_formula_cells_are_neutralised_in_what_the_client_receives(delivered) -> None:
    import openpyxl

    listed = next(m for m in delivered["outbox"].messages if m["X-Sokrio-Billing"].startswith("list"))
    files = {p.get_filename()[-4:]: p.get_payload(decode=True) for p in listed.iter_attachments()}
    rows = list(csv.DictReader(io.StringIO(files[".csv"].decode("utf-8-sig"))))
    book = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))
    assert book.sheetnames[0] == "Summary" and len(book.sheetnames) >= 2  # the list's sheet too
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows(min_row=2) for c in row]
    text = [r[c] for r in rows for c in ("username", "full_name", "role")] + [c.value for c in cells
                                                                            if isinstance(c.value, str)]
    assert not [t for t in text if t and t[0] in "=+-@"]
    assert not [c for c in cells if c.data_type == "f"]
    assert "'=cmd|' /C calc'!A0" in {r["role"] for r in rows}


def test_no_password_in_logs_outputs_emails_or_errors(delivered, data_root: Path) -> None:
    assert PASSWORD not in delivered["error"]
    assert PASSWORD not in delivered["log"]
    for message in delivered["outbox"].messages:
        assert PASSWORD.encode() not in message.as_bytes()
    files = [p for p in data_root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pdf" for p in files) and any(p.name == "ledger.sqlite" for p in files)
    assert [p for p in files if PASSWORD.encode() in p.read_bytes()] == []


def test_no_output_file_is_world_readable(delivered, data_root: Path) -> None:
    files = [p for p in data_root.rglob("*") if p.is_file()]
    assert any(p.name == "validation.json" for p in files) and any(p.suffix == ".eml" for p in files)
    readable = [str(p.relative_to(data_root)) for p in files if p.stat().st_mode & stat.S_IROTH]
    assert readable == []


@pytest.mark.parametrize("brk", ["\r", "\n", "\r\n", "\n\r"])
def test_a_line_break_in_any_text_field_stays_inside_its_csv_row(brk: str) -> None:
    billed = make_billed()
    billed["full_name"] = [f"Line one{brk}line two", *billed["full_name"][1:]]
    billed["username"] = [billed["username"][0], f'say "hi"{brk}', *billed["username"][2:]]
    billed["role"] = [*billed["role"][:-1], f"SR{brk}"]
    text = to_csv_text(billed)
    for parse in (lambda t: list(csv.DictReader(io.StringIO(t, newline=""))),
                  lambda t: pd.read_csv(io.StringIO(t), dtype=str, keep_default_na=False).to_dict("records")):
        rows = parse(text)
        assert [int(r["user_id"]) for r in rows] == list(billed["user_id"])
        assert rows[0]["full_name"] == f"Line one{brk}line two"
        assert rows[1]["username"] == f'say "hi"{brk}' and rows[-1]["role"] == f"SR{brk}"
