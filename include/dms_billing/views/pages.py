"""The billing page's HTML: the month's board and a client's 12 months, rendered from the
project's templates (autoescaped: client names come from the DMS)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.columns import BILLABLE_REASONS
from include.dms_billing.core.history import ClientHistory, client_history
from include.dms_billing.core.money import format_amount
from include.dms_billing.outputs.render import render_template
from include.dms_billing.outputs.storage import StoragePath
from include.dms_billing.views.month_board import STATES, ClientRow, MonthBoard

COLUMNS = (  # (sort key or None, heading)
    ("client", "Client"), ("billable", "Billable users"), ("change", "Change"), ("list", "List"),
    (None, "Approval"), ("invoice", "Invoice"), ("total", "Total"), ("due", "Dated / due"),
    (None, "Objections"), ("state", "State"), (None, "Files"),
)


def _show_amount(text: str, currency: str) -> str:
    return f"{format_amount(Decimal(text), currency)} {currency}"


def month_page(board: MonthBoard, rows: list[ClientRow], *, state: str | None, sort: str, descending: bool,
               base: str, action: str, run: dict | None = None) -> str:
    """The month's board; ``base`` leads back to the plugin's root from this page's URL, ``action``
    is this page's own URL (relative), ``run``: the run's id and a note when shown as a run's tab."""
    month = BillingMonth.parse(board.billing_month)

    def query(**changes: object) -> str:
        values = {"month": board.billing_month if run is None else None, "state": state, "sort": sort,
                  "desc": "1" if descending else None}
        values.update({key: ("1" if value is True else None if value is False else value)
                       for key, value in changes.items()})
        return urlencode({key: value for key, value in values.items() if value})

    return render_template(
        "billing_month.html.j2", board=board, rows=rows, state=state, states=STATES, sort=sort,
        descending=descending, base=base, action=action, run=run, columns=COLUMNS, query=query,
        previous=str(month.previous()), following=str(month.next()), reasons=BILLABLE_REASONS,
        show_amount=_show_amount,
    )


def client_year(engine: sa.Engine, root: StoragePath, month: BillingMonth, client_code: str) -> ClientHistory:
    """The client's 12 months ending at ``month``, as its list email's chart shows them."""
    from include.dms_billing.ledger.history import client_months

    return client_history(client_code, str(month), client_months(engine, client_code, str(month), root))


def client_page(history: ClientHistory, base: str) -> str:
    return render_template("billing_client.html.j2", history=history, base=base, reasons=BILLABLE_REASONS)
