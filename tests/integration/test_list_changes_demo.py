"""Three consecutive months of the demo data, billed step by step as the DAG does, each day-1
email parsed back: the changes since last month (body, column, Changes sheet) and every line's
evidence agree with an independent reading of the source rows (``tests/support/reference_rule.py``)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.invoice import month_name
from include.dms_billing.core.jobs import plan_clients
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.demo.demo_dms import generate
from include.dms_billing.flows.delivery_steps import archive_step
from include.dms_billing.flows.list_steps import decide_step, extract_step
from include.dms_billing.ledger.db import ledger_engine, migrate
from include.dms_billing.outputs.paths import client_month_paths
from include.dms_billing.source.clients import fetch_clients
from tests.support import reference_rule
from tests.unit.demo.test_demo_dms import read_rows

MONTHS = [BillingMonth(2023, m) for m in (5, 6, 7)]
LOOKUP = {"active": "active", "inactive": "inactive"}


def _local(naive: datetime | None, tz: str) -> str:
    return "" if naive is None else pd.Timestamp(naive, tz="UTC").tz_convert(tz).isoformat()


def _status_set_at(user: dict, changes: list[dict], end: datetime, tz: str) -> tuple[str, str]:
    """(status_source, status_set_at) read straight from the rows, ``end`` naive UTC."""
    if user["deleted_at"] is not None and user["deleted_at"] < end:
        return "deleted", _local(user["deleted_at"], tz)
    before = [c for c in changes if c["user_id"] == user["id"] and c["changed_at"] < end]
    if before:
        return "history", _local(max(before, key=lambda c: (c["changed_at"], c["id"]))["changed_at"], tz)
    return "current", ""


@pytest.fixture(scope="module")
def billed_months(tmp_path_factory: pytest.TempPathFactory):
    """May, June and July 2023 billed for two demo clients; the list emails as they would go out."""
    folder = tmp_path_factory.mktemp("demo")
    engine = sa.create_engine(f"sqlite:///{folder / 'dms.sqlite'}")
    generate(engine.url, seed=11, clients=2, users_per_client=60, logins_per_user_month=3)
    config, root = parse_config({}), folder / "data"
    ledger = ledger_engine(f"sqlite:///{folder / 'ledger.sqlite'}")  # the list email's chart reads it
    migrate(ledger)
    emails = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DMS_BILLING_DATA", str(root))
        for month in MONTHS:
            for job in plan_clients(fetch_clients(engine), [], month, config):
                paths = client_month_paths(str(month), job.client_code, root)
                extract_step(engine, job, paths)
                decide_step(job, paths, config, Path("report"))
                eml = Path(archive_step(ledger, job, paths, config, DeliveryKind.LIST, "test"))
                emails[(job.client_code, str(month))] = email.message_from_bytes(
                    eml.read_bytes(), policy=email.policy.default)
    return read_rows(engine), {c.client_code: c for c in fetch_clients(engine)}, emails


def _same(cell: object, text: str) -> bool:
    """An XLSX cell says what the CSV's text does: a time as the same local wall time (Excel keeps
    it as a fraction of a day: within a millisecond), a number as its digits, empty as None."""
    if cell is None:
        return text == ""
    if isinstance(cell, datetime):
        return abs(cell - datetime.fromisoformat(text).replace(tzinfo=None)).total_seconds() < 0.001
    return str(cell) == text


def _parts(message) -> tuple[str, list[dict], openpyxl.Workbook]:
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    files = {p.get_filename(): p.get_payload(decode=True) for p in message.iter_attachments()}
    rows = list(csv.DictReader(io.StringIO(next(v for k, v in files.items() if k.endswith(".csv")).decode("utf-8-sig"))))
    book = openpyxl.load_workbook(io.BytesIO(next(v for k, v in files.items() if k.endswith(".xlsx"))))
    return text, rows, book


@pytest.mark.parametrize("code", ["MEGHNA", "PADMA"])
def test_changes_since_last_month_across_three_months(billed_months, code: str) -> None:
    rows, clients, emails = billed_months
    client = clients[code]
    expected = {
        month: reference_rule.billable_users(rows["users"], rows["user_status_changes"], rows["user_logins"],
                                             client.client_id, billing_window(month, client.timezone), LOOKUP)
        for month in MONTHS
    }
    moved_in, moved_out = set(), set()
    for index, month in enumerate(MONTHS):
        text, lines, book = _parts(emails[(code, str(month))])
        ids = {int(line["user_id"]) for line in lines}
        assert ids == set(expected[month])
        changes_sheet = list(book["Changes"].iter_rows(min_row=2, values_only=True))
        if index == 0:
            assert "There is no list for April 2023 to compare with." in text
            assert {line["change_since_last_month"] for line in lines} == {""}
            assert changes_sheet == [("no list for 2023-04 to compare with", None, None, None, None, None)]
            continue
        before, now = set(expected[MONTHS[index - 1]]), set(expected[month])
        newly, gone = now - before, before - now
        moved_in, moved_out = moved_in | newly, moved_out | gone
        assert {int(line["user_id"]) for line in lines if line["change_since_last_month"] == "new"} == newly
        assert {line["change_since_last_month"] for line in lines} <= {"new", "unchanged"}
        assert {r[1] for r in changes_sheet if r[0] == "newly billable"} == newly
        assert {r[1] for r in changes_sheet if r[0] == "no longer billable"} == gone
        previous_name, name = month_name(str(MONTHS[index - 1])), month_name(str(month))
        assert f"  Billable users in {previous_name}:".ljust(50) + f"{len(before):>7,}" in text
        assert f"  Billable users in {name}:".ljust(50) + f"{len(now):>7,} ({len(now) - len(before):+,})" in text
        assert "  Newly billable:".ljust(50) + f"{len(newly):>7,}" in text
        assert "  No longer billable:".ljust(50) + f"{len(gone):>7,}" in text
        # Why each user left, checked against the rows: deleted or deactivated, and when, locally.
        end = billing_window(month, client.timezone).end.replace(tzinfo=None)
        users = {u["id"]: u for u in rows["users"]}
        for change, user_id, _, _, why, previous_reason in changes_sheet:
            if change != "no longer billable":
                continue
            source, set_at = _status_set_at(users[user_id], rows["user_status_changes"], end, client.timezone)
            word = {"deleted": "deleted at", "history": "inactive since"}.get(source)
            assert why == (f"{word} {set_at}; no login in the month" if word
                           else "inactive (current status, no status history); no login in the month")
            assert previous_reason == expected[MONTHS[index - 1]][user_id].billable_reason
    assert moved_in and moved_out, "the demo data should move users in and out of the list"


@pytest.mark.parametrize("code", ["MEGHNA", "PADMA"])
def test_every_lines_evidence_agrees_with_the_source(billed_months, code: str) -> None:
    rows, clients, emails = billed_months
    client, users = clients[code], {u["id"]: u for u in rows["users"]}
    sources = set()
    for month in MONTHS:
        window = billing_window(month, client.timezone)
        expected = reference_rule.billable_users(rows["users"], rows["user_status_changes"], rows["user_logins"],
                                                 client.client_id, window, LOOKUP)
        _, lines, book = _parts(emails[(code, str(month))])
        sheet = list(book.worksheets[1].iter_rows(values_only=True))  # after the Summary
        assert len(lines) == len(expected) == len(sheet) - 1
        for line, cells in zip(lines, sheet[1:]):
            user_id = int(line["user_id"])
            want = expected[user_id]
            last_login = None if want.last_login_at is None else want.last_login_at.replace(tzinfo=None)
            source, set_at = _status_set_at(users[user_id], rows["user_status_changes"],
                                            window.end.replace(tzinfo=None), client.timezone)
            assert line == line | {
                "status_at_month_end": want.status_at_month_end, "billable_reason": want.billable_reason,
                "last_login_at": _local(last_login, client.timezone), "logins_in_month": str(want.logins_in_month),
                "status_source": source, "status_set_at": set_at,
            }, user_id
            assert source == want.status_source
            assert len(cells) == len(line) and all(map(_same, cells, line.values())), user_id  # the XLSX says the same
            sources.add(source)
    assert sources >= {"history", "current"}  # both kinds of evidence were checked
