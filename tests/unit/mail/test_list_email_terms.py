"""The list email says what is true when it is read (no bill exists yet): the invoice it becomes,
its date, the objection deadline and reference for the configured days, and carries the FAQ."""

from __future__ import annotations

import io
import re

import pypdf
import pytest

from include.dms_billing.core.config import parse_config
from include.dms_billing.core.list_terms import ListTerms, list_terms
from include.dms_billing.mail.faq import faq_pdf
from include.dms_billing.mail.messages import column_meanings, list_email
from tests.support.samples import make_billed
from tests.unit.mail.test_messages import ENVELOPE, attachments, bodies, parse, summary_of

PLAN = {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}
# Ten days to object and a five-day preview: not the defaults (7, 3), so the wording must read them.
CONFIG = parse_config({
    "objections": {"days_after_invoice": 10},
    "defaults": {"preview": {"days_before": 5}},
    "clients": {"MEGHNA": PLAN},
})


def _faq_name(month: str = "2023-05") -> str:
    """Whose, what, for whom and which month: one client's FAQ is never mistaken for another's."""
    return f"Sokrio_billing_FAQ_MEGHNA_{month}.pdf"


def _terms(month: str = "2023-05", config=CONFIG) -> ListTerms:
    by_reason = make_billed()["billable_reason"].value_counts()
    return list_terms("MEGHNA", month, {str(k): int(v) for k, v in by_reason.items()}, config)


def _email(month: str = "2023-05"):
    billed = make_billed().assign(billing_month=month)
    return parse(list_email(ENVELOPE, "Meghna Foods Ltd", "MEGHNA", month, summary_of(billed, month), billed,
                            terms=_terms(month)))


def _flat(text: str) -> str:
    """Words as read, whatever the line breaks (email wrapping, PDF lines)."""
    return re.sub(r"\s+", " ", text.replace("&ldquo;", '"').replace("&rdquo;", '"'))


@pytest.mark.parametrize(
    ("month", "invoice_day", "deadline"),
    [
        ("2023-05", "1 June 2023", "11 June 2023"),  # 1 June + 10 = 11 June, a Sunday: a working day
        ("2023-04", "2 May 2023", "14 May 2023"),  # 1 May is May Day; 2 May + 10 = Friday 12 May -> Sunday 14
    ],
)
def test_the_body_states_the_invoice_date_deadline_and_reference(month: str, invoice_day: str, deadline: str):
    name = "May" if month == "2023-05" else "April"
    for body in map(_flat, bodies(_email(month))):
        assert f"This is the list your {name} 2023 invoice will be built from" in body
        assert invoice_day in body and "the first working day of" in body
        assert deadline in body and "10 days after the invoice date, moved to the next working day" in body
        assert f"MEGHNA/{month}" in body and "the user ids concerned" in body
        assert '"no adjustments will be done"' in body and "a credit on your next invoice" in body
        assert "responsibility of your system administrators" in body
        assert "deactivate it before the month ends (by its last day, your local time)" in body
        # the rule in full: deactivating is not enough for a user who logged in that month
        assert "a user who logs in during a month is billed for that month even if it is inactive" in body
        assert f"see the attached FAQ, {_faq_name(month)}" in body
        assert "final" not in body.lower()


def test_the_default_gives_seven_days() -> None:
    terms = _terms(config=parse_config({"clients": {"MEGHNA": PLAN}}))
    assert (terms.objection_days, terms.preview_days_before) == (7, 3)
    assert str(terms.objection_deadline) == "2023-06-08"


def test_the_list_email_carries_csv_xlsx_and_the_faq_pdf() -> None:
    files = attachments(_email())
    assert list(files) == ["Sokrio_billable_users_MEGHNA_2023-05.csv", "Sokrio_billable_users_MEGHNA_2023-05.xlsx",
                           _faq_name()]
    content_type, pdf = files[_faq_name()]
    assert content_type == "application/pdf" and pdf.startswith(b"%PDF-")


def _faq_text(pdf: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return len(reader.pages), _flat(" ".join(page.extract_text() for page in reader.pages))


def _faq(terms: ListTerms, logins_from: str | None = None) -> bytes:
    columns = column_meanings("Asia/Dhaka", logins_from)
    return faq_pdf(terms, "মেঘনা Foods Ltd", "Asia/Dhaka", logins_from, columns)


def test_the_faq_is_one_page_with_this_months_dates_and_the_configured_days() -> None:
    pages, text = _faq_text(attachments(_email())[_faq_name()][1])
    assert pages == 1
    assert "Meghna Foods Ltd (MEGHNA)" in text and "May 2023" in text
    assert "two reasons" in text and "inactive_recent_login" in text
    assert "1st calendar day" in text and "1 June 2023" in text  # the list, then the invoice
    assert "first working day" in text and "Friday and Saturday" in text and "Bangladesh" in text
    assert "Until 11 June 2023: 10 days after the invoice date" in text
    assert "MEGHNA/2023-05" in text and "credit on your next invoice" in text and "not changed" in text
    assert "5 days before each month ends" in text and "from 26 June 2023" in text  # June closes 1 July
    assert "by 30 June 2023" in text and "last day of the month" in text and "Bangladesh time" in text and "Asia/Dhaka" not in text
    assert all(column in text for column, _ in column_meanings("Asia/Dhaka", None))
    assert "final" not in text.lower()


def test_the_faq_of_the_transition_month_names_16_april_and_stays_one_page() -> None:
    pages, text = _faq_text(_faq(_terms("2023-04"), "16 April 2023"))
    assert pages == 1
    assert "only logins from 16 April 2023 count" in text and "14 May 2023" in text and "2 May 2023" in text


def test_without_a_preview_the_faq_says_so() -> None:
    config = parse_config({"clients": {"MEGHNA": {**PLAN, "preview": {"enabled": False}}}})
    _, text = _faq_text(_faq(_terms(config=config)))
    assert "Not for your account" in text and "days before each month ends we email" not in text


def test_every_faq_shares_the_process_font_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every list email renders one: WeasyPrint's font set-up is paid once per process, as for the
    invoices (``render._font_config``), not per FAQ. (A wall-clock limit would flake on a shared box;
    the timings are in docs/decisions.md.)"""
    import weasyprint

    fonts = []
    write_pdf = weasyprint.HTML.write_pdf

    def spy(self, *args, **kwargs):
        fonts.append(kwargs["font_config"])
        return write_pdf(self, *args, **kwargs)

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", spy)
    _faq(_terms())
    _faq(_terms("2023-04"), "16 April 2023")
    assert len(fonts) == 2 and fonts[0] is fonts[1] is not None
