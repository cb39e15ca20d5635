"""A client whose plan is not configured yet still gets its list on day 1 (the contract's list
needs no price): its terms carry the dates and the reference, no money."""

from __future__ import annotations

import io
from datetime import date

import openpyxl

from include.dms_billing.core.config import parse_config
from include.dms_billing.core.list_terms import list_terms
from include.dms_billing.outputs.spreadsheets import list_xlsx_bytes
from tests.support.samples import make_billed


def test_terms_without_a_plan_have_dates_and_counts_but_no_price() -> None:
    terms = list_terms("NEWCO", "2023-05", {"active": 3, "inactive_recent_login": 1}, parse_config({}))
    assert (terms.invoice_date, terms.objection_deadline, terms.reference) == (
        date(2023, 6, 1), date(2023, 6, 8), "NEWCO/2023-05")
    assert (terms.billable, terms.currency, terms.unit_price, terms.lines, terms.subscriptions_amount) == (
        4, None, None, (), None)


def test_the_summary_sheet_of_a_client_without_a_plan_states_counts_and_dates_only() -> None:
    billed = make_billed()
    by_reason = {str(k): int(v) for k, v in billed["billable_reason"].value_counts().items()}
    terms = list_terms("MEGHNA", "2023-05", by_reason, parse_config({}))
    book = openpyxl.load_workbook(io.BytesIO(list_xlsx_bytes(billed, "MEGHNA 2023-05", None, terms=terms)))
    cells = dict(book["Summary"].iter_rows(values_only=True))
    assert cells["Users: total"] == 4 and cells["Users: active"] == 3
    assert cells["Price"].startswith("not configured yet")
    assert cells["Invoice date"].date() == date(2023, 6, 1)
