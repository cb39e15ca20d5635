"""The preview's calendar (the local preview day and deadline), who is due, and its email."""

from __future__ import annotations

import email
import email.policy
import io
import json
from datetime import datetime, timezone

import openpyxl
import pytest

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.jobs import ClientJob, RunIntent, SourceClient
from include.dms_billing.flows.preview import (
    PreviewRequestError,
    parse_as_of,
    plan_previews,
    preview_opens_at,
    preview_window,
    previews_due,
)
from include.dms_billing.mail.headers import Envelope
from include.dms_billing.mail.preview_email import deadline_text, preview_email
from tests.support.samples import make_billed

NOV = BillingMonth(2023, 11)
DHAKA = SourceClient(1, "DHAKA1", "Dhaka Ltd", "billing@dhaka.example", None, "Asia/Dhaka")
LONDON = SourceClient(2, "LONDON1", "London Ltd", "billing@london.example", "am@sokrio.example", "Europe/London")
CONFIG = parse_config({})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_preview_day_and_deadline_are_local() -> None:
    dhaka, london = billing_window(NOV, "Asia/Dhaka"), billing_window(NOV, "Europe/London")
    assert preview_opens_at(dhaka, 3) == utc("2023-11-27 18:00")  # 28 November 00:00 in Dhaka
    assert preview_opens_at(london, 3) == utc("2023-11-28 00:00")
    assert preview_opens_at(billing_window(BillingMonth(2023, 5), "Europe/London"), 3) == utc("2023-05-28 23:00")
    assert deadline_text(dhaka) == "23:59:59 on 30 November 2023 (Bangladesh time)"
    assert deadline_text(london) == "23:59:59 on 30 November 2023 (United Kingdom time)"


def _due(as_of: str, config=CONFIG, sent=frozenset()) -> list[str]:
    return [j.client_code for j in plan_previews([DHAKA, LONDON], [], utc(as_of), config, set(sent))]


@pytest.mark.parametrize(
    ("as_of", "due"),
    [
        ("2023-11-27 17:59:59", []),  # 27 November 23:59:59 in Dhaka
        ("2023-11-27 18:00:00", ["DHAKA1"]),  # 28 November in Dhaka, still the 27th in London
        ("2023-11-28 00:00:00", ["DHAKA1", "LONDON1"]),
        ("2023-11-30 17:59:59", ["DHAKA1", "LONDON1"]),  # the last second of Dhaka's month
        ("2023-11-30 18:00:00", ["LONDON1"]),  # Dhaka's month has closed; December is not due yet
        ("2023-12-01 00:00:00", []),
    ],
)
def test_due_from_the_local_preview_day_until_the_month_closes(as_of: str, due: list[str]) -> None:
    assert _due(as_of) == due


def test_once_per_month_turned_off_per_client_and_days_configurable() -> None:
    assert _due("2023-11-29 12:00", sent={("DHAKA1", "2023-11")}) == ["LONDON1"]
    assert _due("2023-11-29 12:00", sent={("DHAKA1", "2023-10")}) == ["DHAKA1", "LONDON1"]
    off = parse_config({"clients": {"LONDON1": {"preview": {"enabled": False}}}})
    assert _due("2023-11-29 12:00", off) == ["DHAKA1"]
    early = parse_config({"clients": {"LONDON1": {"preview": {"days_before": 10}}}})
    assert _due("2023-11-21 12:00", early) == ["LONDON1"]


def test_before_the_policy_and_bad_timezones_are_skipped_with_a_reason() -> None:
    bad = SourceClient(3, "BAD", "Bad", "b@bad.example", None, "Mars/Olympus")
    due = previews_due([bad, DHAKA], utc("2023-03-30 12:00"), CONFIG, set())
    assert "bad timezone" in due[0].skipped and "before the billing policy" in due[1].skipped


def test_as_of_needs_an_offset() -> None:
    assert parse_as_of("2023-11-27T18:00:00Z", None) == utc("2023-11-27 18:00")
    assert parse_as_of("2023-11-28T00:00:00+06:00", None) == utc("2023-11-27 18:00")
    assert parse_as_of(None, utc("2023-11-01 00:00")) == utc("2023-11-01 00:00")
    with pytest.raises(PreviewRequestError, match="offset"):
        parse_as_of("2023-11-27T18:00:00", None)
    with pytest.raises(PreviewRequestError, match="unknown client codes"):
        plan_previews([DHAKA], ["NOPE"], utc("2023-11-28 00:00"), CONFIG, set())


def test_the_window_of_a_preview_ends_at_as_of_and_must_be_in_its_month() -> None:
    job = ClientJob(1, "DHAKA1", "Dhaka Ltd", "Asia/Dhaka", BillingMonth(2023, 11), "billing@dhaka.example", None)
    window = preview_window(job, utc("2023-11-28 06:00"))
    assert (window.start, window.end) == (utc("2023-10-31 18:00"), utc("2023-11-28 06:00"))
    with pytest.raises(PreviewRequestError):
        preview_window(job, utc("2023-11-30 18:00"))


def test_preview_email_names_the_deadline_and_the_candidates_to_deactivate() -> None:
    projected = make_billed().assign(billing_month="2023-11")  # 103 is active and has not logged in
    job = ClientJob(1, "MEGHNA", "Meghna Foods Ltd", "Asia/Dhaka", BillingMonth(2023, 11), "accounts@meghna.example", None)
    summary = {"client_code": "MEGHNA", "billing_month": "2023-11", "as_of": "2023-11-27T18:00:00+00:00",
               "projected": 4, "active": 3, "inactive_recent_login": 1, "compared_with": "no list for 2023-10"}
    envelope = Envelope("Sokrio Billing <billing@sokrio.example>", "billing@sokrio.example",
                        ("accounts@meghna.example",), (), "<preview.MEGHNA.2023-11.0@sokrio.example>")
    msg = email.message_from_bytes(preview_email(envelope, job, summary, projected).as_bytes(),
                                   policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    assert msg["X-Sokrio-Billing"] == "preview; client=MEGHNA; month=2023-11"
    assert "Changes count until 23:59:59 on 30 November 2023 (Bangladesh time)." in text
    assert "00:00 on 28 November 2023 (Bangladesh time)" in text and "00:00 on 1 December 2023" in text
    assert "Candidates to deactivate: 1 active user" in text
    assert "103, sales😀, Happy 😀 Seller (@manager), last login: never" in text
    files = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    workbook = openpyxl.load_workbook(io.BytesIO(files["Sokrio_preview_MEGHNA_2023-11.xlsx"]))
    assert workbook.sheetnames == ["Projected list", "Active, not logged in"]
    # printed, every page says whose preview it is (a lone "&" would be an Excel header code)
    assert workbook["Projected list"].oddHeader.left.text == (
        "Sokrio DMS billing preview, November 2023: Meghna Foods Ltd (MEGHNA)")
    assert [row[0] for row in workbook["Active, not logged in"].iter_rows(min_row=2, values_only=True)] == [103]
    assert files["Sokrio_preview_MEGHNA_2023-11.csv"].decode("utf-8-sig").count("\n") == 5
    with pytest.raises(ValueError, match="does not match"):
        preview_email(envelope, job, json.loads(json.dumps({**summary, "projected": 3})), projected)


def test_a_preview_of_a_client_with_an_unreadable_timestamp_reports_it_instead_of_a_list(data_root, tmp_path) -> None:
    """The preview extracts, audits and validates as the month's run does: a login stored as text
    that names no instant stops the preview, naming table, column, user and value."""
    import sqlalchemy as sa

    from include.dms_billing.flows.list_steps import ValidationFailed
    from include.dms_billing.flows.preview import preview_paths, project_step
    from tests.support.scenarios import Source

    window = billing_window(NOV, "Asia/Dhaka")
    src = Source()
    src.client(1, "DHAKA1", "Asia/Dhaka")
    src.user(1, "active", datetime(2023, 1, 5), history=[("active", datetime(2023, 1, 5))],
             logins=[window.start + (window.end - window.start) / 4])
    src.user(1, "active", datetime(2023, 1, 5), history=[("active", datetime(2023, 1, 5))],
             logins=[datetime(2023, 11, 3, 9)])
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    src.load(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE user_logins SET logged_in_at = '03/11/2023 09:00' WHERE user_id = 2"))
    job = ClientJob.of(DHAKA, NOV, RunIntent(), CONFIG)

    with pytest.raises(ValidationFailed) as failed:
        project_step(engine, job, utc("2023-11-27T12:00:00+00:00"), CONFIG)

    assert "user_logins.logged_in_at" in str(failed.value) and "user 2: '03/11/2023 09:00'" in str(failed.value)
    paths = preview_paths(job)
    assert not paths.summary.exists() and not paths.projected_csv.exists()
    assert (paths.report_dir / "validation.json").exists()
