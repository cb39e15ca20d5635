"""Bad input from the DMS: each case is a clear failure for that client only, and the other
clients are billed and delivered. Names in any script are valid and come out intact in the
CSV, the XLSX, the HTML and the PDF.

One DMS holds a good client and one client per kind of bad input; every client goes through
the steps the DAG's mapped task group runs (a real SMTP server, a real SQLite ledger).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pypdf
import pytest
import sqlalchemy as sa

from include.dms_billing.airflow.smtp import send_message
from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.jobs import plan_clients
from include.dms_billing.flows import delivery_steps
from include.dms_billing.flows.list_steps import ValidationFailed
from include.dms_billing.flows.moments import ClientDataError
from include.dms_billing.ledger.invoices import month_invoices
from include.dms_billing.outputs.paths import client_month_paths
from include.dms_billing.source.clients import fetch_clients
from tests.support.faults import write_list
from tests.support.scenarios import Source, create_relaxed_schema, naive, section2_cases

MAY = BillingMonth(2023, 5)
WINDOW = billing_window(MAY, "Asia/Dhaka")
OLD = WINDOW.start - timedelta(days=60)
TOMORROW = datetime.now(timezone.utc) + timedelta(days=1)


def _long(text: str) -> str:
    """``text`` repeated to exactly 255 characters, the DMS's limit, ending on a letter."""
    name = (text * 255)[:254].rstrip() + "Z"
    return name + "Z" * (255 - len(name))


CLIENT_NAME = _long("মেঘনা ফুডস লিমিটেড 😀 شركة النور חברת אור ")
USER_NAMES = {
    "bengali": "রহিম উদ্দিন",
    "emoji": "Happy 😀 Seller 🇧🇩",
    "arabic": "محمد عبد الله",
    "hebrew": "דוד לוי",
    "mixed": "Karim كريم (SR) ✓",
    "long": _long("আব্দুর রহমান Abdur 😀 عبد "),
}
# Each bad client: what is wrong with it, and what the failure must say.
BAD = {
    "DUPID": "expect_column_values_to_be_unique on user_id",
    "NULLID": "expect_column_values_to_not_be_null on user_id",
    "UNMAPPED": "expect_column_values_to_be_in_set on current_status: 1 row(s), e.g. on_leave",
    "FUTLOGIN": "expect_column_values_to_be_between on newest_login_at",
    "FUTCHANGE": "expect_column_values_to_be_between on newest_status_change_at",
    "LOGINFIRST": "expect_column_pair_values_a_to_be_greater_than_b on first_login_at",
    "NOUSERS": "expect_table_row_count_to_be_between",
    "BADTZ": "unknown timezone 'Mars/Olympus_Mons'",
    "NOADDR": "correspondence_email is missing",
    "BADADDR": "correspondence_email entry must be one email address: 'accounts at example'",
    "TWOADDR": "correspondence_email entry must be one email address: 'a@x.example, evil@y.example'",
    "CRLFADDR": "correspondence_email must not contain a line break",
    "CRLFNAME": "client name must not contain a line break",
    "BADAM": "account_manager_email entry must be one email address: '@nobody'",
}


def _relaxed_schema(engine: sa.Engine) -> None:
    """The contract's tables, but ``users.id`` without its primary key, so duplicate and null ids
    can reach us."""
    create_relaxed_schema(engine, "id          BIGINT       NOT NULL PRIMARY KEY,\n    client_id", "id BIGINT,\n    client_id")


def _dms(path: Path) -> tuple[sa.Engine, Source]:
    src = Source()
    src.client(1, "GOOD", "Asia/Dhaka")
    src.clients[0]["name"] = CLIENT_NAME
    section2_cases(src, 1, WINDOW)
    for name in USER_NAMES.values():
        src.user(1, "active", OLD, history=[("active", OLD)], name=name, expect="active")
    src.logins.append({"id": 10_000, "user_id": 999_999, "logged_in_at": naive(WINDOW.start), "channel": "app"})
    for client_id, code in enumerate(BAD, start=2):
        src.client(client_id, code, "Asia/Dhaka")
        if code != "NOUSERS":
            src.user(client_id, "active", OLD, history=[("active", OLD)], logins=[WINDOW.start + timedelta(days=1)])
    by_code = {c["code"]: c for c in src.clients}

    def bad_user(code: str, **kw) -> dict:
        return src.users[src.user(by_code[code]["id"], "active", OLD, **kw) - 1]

    [first] = [u for u in src.users if u["client_id"] == by_code["DUPID"]["id"]]
    bad_user("DUPID", history=[("active", OLD)])["id"] = first["id"]  # the client's other user's id
    bad_user("NULLID", history=[("active", OLD)])["id"] = None
    bad_user("UNMAPPED")["status"] = "on_leave"
    bad_user("FUTLOGIN", history=[("active", OLD)], logins=[TOMORROW])
    bad_user("FUTCHANGE", history=[("active", OLD), ("inactive", TOMORROW)])
    bad_user("LOGINFIRST", history=[("active", OLD)], logins=[OLD - timedelta(days=1)])
    by_code["BADTZ"]["timezone"] = "Mars/Olympus_Mons"
    by_code["NOADDR"]["correspondence_email"] = ""
    by_code["BADADDR"]["correspondence_email"] = "accounts at example"
    by_code["TWOADDR"]["correspondence_email"] = "a@x.example, evil@y.example"
    by_code["CRLFADDR"]["correspondence_email"] = "a@x.example\r\nBcc: evil@y.example"
    by_code["BADAM"]["account_manager_email"] = "@nobody"
    by_code["CRLFNAME"]["name"] = "Evil Ltd\r\nBcc: evil@y.example"
    engine = sa.create_engine(f"sqlite:///{path}")
    _relaxed_schema(engine)
    src.load(engine, create_schema=False)
    return engine, src


def _bill_client(dms: sa.Engine, ledger: sa.Engine, job, config) -> None:
    """One client's mapped task group, in order, as the DAG runs it (delivering)."""
    paths = write_list(dms, job, config)
    delivery_steps.send_list_step(ledger, job, paths, config, "run-1", False, send_message)
    delivery_steps.issue_invoice_step(ledger, job, paths, config, "run-1")
    delivery_steps.send_invoice_step(ledger, job, paths, config, "run-1", False, send_message)


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory):
    """Every client billed once; what failed, what was sent, and the DMS rows."""
    from include.dms_billing.ledger.db import ledger_engine, migrate
    from tools.outbox_smtp import Outbox

    folder = tmp_path_factory.mktemp("bad_input")
    dms, src = _dms(folder / "dms.sqlite")
    ledger = ledger_engine(f"sqlite:///{folder / 'ledger.sqlite'}")
    migrate(ledger)
    plan = {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}
    config = parse_config({"clients": {code: plan for code in ("GOOD", *BAD)}})
    failures = {}
    with Outbox() as outbox, pytest.MonkeyPatch.context() as patch:
        patch.setenv("DMS_BILLING_DATA", str(folder / "data"))
        patch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", outbox.connection_uri())
        for job in plan_clients(fetch_clients(dms), [], MAY, config):
            try:
                _bill_client(dms, ledger, job, config)
            except ValueError as exc:  # the steps' ClientDataError or ValidationFailed: no retry
                failures[job.client_code] = exc
        delivery_steps.finance_summary_step(ledger, str(MAY), config, deliver=True, run_id="run-1",
                                            resend=False, send=send_message)
        yield {"failures": failures, "messages": list(outbox.messages), "src": src, "ledger": ledger,
               "root": folder / "data"}


@pytest.mark.parametrize("code", BAD)
def test_bad_input_fails_its_client_clearly(billed, code: str) -> None:
    """The product's steps stop the client (the first task's checks, or the validate step), not
    a helper of this test, and no list is left for it."""
    failure = billed["failures"].get(code)
    assert failure is not None, f"{code} was billed despite its bad input"
    assert isinstance(failure, ValidationFailed if "expect_" in BAD[code] else ClientDataError), repr(failure)
    message = str(failure)
    assert BAD[code] in message and code in message
    paths = client_month_paths(str(MAY), code, billed["root"])
    assert not paths.summary.exists() and not paths.billable_csv.exists()
    if "expect_" in BAD[code]:  # a validation failure names the report the data team opens
        assert "Validation report:" in message and paths.report_dir.joinpath("data_docs", "index.html").exists()


def test_the_good_client_is_billed_and_nothing_goes_to_a_bad_one(billed) -> None:
    assert set(billed["failures"]) == set(BAD)
    kinds = Counter(m["X-Sokrio-Billing"] for m in billed["messages"])
    assert kinds == {"list; client=GOOD; month=2023-05": 1, "invoice; client=GOOD; month=2023-05": 1,
                     "finance; month=2023-05": 1}
    [invoice] = month_invoices(billed["ledger"], str(MAY))
    src = billed["src"]
    expected = [uid for uid, reason in src.expected.items() if reason and src.users[uid - 1]["client_id"] == 1]
    assert invoice.bill_to.client_code == "GOOD" and invoice.billable_count == len(expected)


def test_logins_of_no_user_and_of_another_clients_user_bill_nobody_else(billed) -> None:
    """A login belongs to the user it names: one of no user (999999) counts for no client, and
    each bad client's own logged-in user is on no one else's list."""
    rows = _attachment_rows(billed, "csv")
    src = billed["src"]
    assert {int(r["user_id"]) for r in rows} == {
        uid for uid, reason in src.expected.items() if reason and src.users[uid - 1]["client_id"] == 1}


def _message(billed, kind: str):
    return next(m for m in billed["messages"] if m["X-Sokrio-Billing"].startswith(kind))


def _attachment_rows(billed, ext: str) -> list:
    part = next(p for p in _message(billed, "list").iter_attachments() if p.get_filename().endswith(ext))
    data = part.get_payload(decode=True)
    if ext == "csv":
        return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[1]  # the list's, after the Summary
    header, *rows = sheet.iter_rows(values_only=True)
    return [dict(zip(header, row)) for row in rows]


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_names_in_any_script_come_out_intact_in_the_list(billed, ext: str) -> None:
    names = {row["full_name"] for row in _attachment_rows(billed, ext)}
    assert set(USER_NAMES.values()) <= names
    assert len(USER_NAMES["long"]) == 255


def test_the_client_name_in_any_script_is_intact_in_subjects_and_html(billed) -> None:
    assert len(CLIENT_NAME) == 255
    for kind in ("list", "invoice"):
        message = _message(billed, kind)
        assert CLIENT_NAME in message["Subject"]
        assert CLIENT_NAME in message.get_body(("html",)).get_content()
        assert CLIENT_NAME in message.get_body(("plain",)).get_content() or kind == "invoice"


def test_the_client_name_in_any_script_is_in_the_invoice_pdf(billed) -> None:
    """On any machine: the PDFs are set in the Noto fonts the product ships (include/fonts/)."""
    part = next(_message(billed, "invoice").iter_attachments())
    reader = pypdf.PdfReader(io.BytesIO(part.get_payload(decode=True)))
    text = "".join(page.extract_text() for page in reader.pages)
    fonts = {str(font.get_object()["/BaseFont"]) for page in reader.pages
             for font in page["/Resources"]["/Font"].values()}
    assert any("Bengali" in font for font in fonts), fonts
    # Bengali vowel signs are shaped with their consonant (a glyph for both, drawn in visual
    # order), so text extraction cannot give them back as typed: every letter must be there;
    # the scripts without such shaping read back as written.
    def letters(value: str) -> Counter:
        return Counter(ch for ch in value if unicodedata.category(ch) == "Lo")

    assert letters(CLIENT_NAME) <= letters(text)
    flat = "".join(text.split())
    for fragment in ("شركةالنور", "חברתאור", "😀"):
        assert fragment in flat


@pytest.mark.parametrize("code", ["ACME\n", "ACME\r\n", " ACME", "ACME/.."])
def test_a_client_code_is_matched_whole(code: str) -> None:
    """A trailing newline passes ``re.match`` with ``$``; it must not become a folder name."""
    from dataclasses import replace

    from include.dms_billing.core.jobs import RunRequestError, requested_codes
    from include.dms_billing.flows.moments import ClientDataError, month_closes_at

    with pytest.raises(RunRequestError, match="invalid client codes"):
        requested_codes([code])
    [job] = plan_clients(fetch_clients(_one_client_dms()), [], MAY, parse_config({}))
    with pytest.raises(ClientDataError, match="is not a plain code"):
        month_closes_at(replace(job, client_code=code))


def _one_client_dms() -> sa.Engine:
    src = Source()
    src.client(1, "ACME", "Asia/Dhaka")
    engine = sa.create_engine("sqlite://")
    src.load(engine)
    return engine
