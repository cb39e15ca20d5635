"""The history charts in words (issues 18 and 23): the plain-text lines of the emails' bodies, the
text alternative of every chart image (emails and invoice), and the note a chart carries about its
months without data.

Months without data are told once per run, never month by month: a run is one line of the text
("June 2022 to April 2023: no data"), and in the text alternative, which names only the months
with data, one phrase ("no data for the 11 months before May 2023"). The reasons' labels contain
no comma and are parted by semicolons, so a list of them reads as what it is, thousands separators
and all ("active 1,566; inactive but logged in 16").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import groupby

from include.dms_billing.core.history import (
    AMOUNT_EXPECTED,
    NOT_SPLIT,
    ClientHistory,
    FinanceHistory,
    MonthPoint,
)
from include.dms_billing.core.invoice import month_name
from include.dms_billing.core.money import format_money

LABELS = {"active": "Active", "inactive_recent_login": "Inactive but logged in", NOT_SPLIT: "Not split"}
NO_DATA = "no data"
CLIENT_CHART = "Billable users and amount per month"
FINANCE_CHART = "Invoiced per month"


def _runs(known: Sequence[bool]) -> list[tuple[bool, list[int]]]:
    """The months' indexes in runs of the same ``known``, oldest first."""
    return [(has, list(group)) for has, group in groupby(range(len(known)), key=lambda i: known[i])]


def _span(months: Sequence[str], run: list[int]) -> str:
    first, last = month_name(months[run[0]]), month_name(months[run[-1]])
    return first if len(run) == 1 else f"{first} to {last}"


def _listed(parts: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def no_data_phrase(months: Sequence[str], known: Sequence[bool]) -> str | None:
    """The months without data in a few words, e.g. ``no data for the 11 months before May 2023``
    or ``no data for July 2023 and September 2023 to October 2023``; None when none lacks data."""
    gaps = []
    for at, (has, run) in enumerate(_runs(known)):
        if has:
            continue
        leading = at == 0 and len(run) > 1 and run[-1] + 1 < len(months)
        gaps.append(f"the {len(run)} months before {month_name(months[run[-1] + 1])}" if leading
                    else _span(months, run))
    return f"{NO_DATA} for {_listed(gaps)}" if gaps else None


def _lines(months: Sequence[str], known: Sequence[bool], describe: Callable[[int], str]) -> list[str]:
    """One line per month with data, one per run of months without."""
    lines = []
    for has, run in _runs(known):
        if has:
            lines += [f"{month_name(months[i]):<15} {describe(i)}" for i in run]
        elif len(run) == 1:
            lines.append(f"{month_name(months[run[0]]):<15} {NO_DATA}")
        else:
            lines.append(f"{_span(months, run)}: {NO_DATA}")
    return lines


def _alt(what: str, months: Sequence[str], known: Sequence[bool], describe: Callable[[int], str]) -> str:
    """``what``, then each month with data and what it shows, then the months without in a phrase."""
    named = [f"{month_name(months[i])}: {describe(i)}" for i in range(len(months)) if known[i]]
    phrase = no_data_phrase(months, known)
    return f"{what}: " + "; ".join([*named, *([phrase] if phrase else [])])


def _money(amount: Decimal | None, currency: str | None) -> str:
    return "no amount" if amount is None else format_money(amount, currency)


def _client_month(point: MonthPoint, separator: str) -> str:
    """``582 users (active 566; inactive but logged in 16)`` and the amount, and which amount."""
    if point.by_reason is None:
        users = "users not known"
    else:
        counts = "; ".join(f"{LABELS[r].lower()} {n:,}" for r, n in point.by_reason.items())
        users = f"{point.billable:,} users ({counts})"
    kind = "" if point.amount is None else (
        " (not invoiced yet, before VAT)" if point.amount_kind == AMOUNT_EXPECTED else " (invoice total)")
    return f"{users}{separator}{_money(point.amount, point.currency)}{kind}"


def _client(history: ClientHistory) -> tuple[tuple[str, ...], list[bool]]:
    return tuple(p.billing_month for p in history.months), [p.has_data for p in history.months]


def client_history_lines(history: ClientHistory) -> list[str]:
    """The client chart's numbers as plain-text lines (the emails' text bodies)."""
    return _lines(*_client(history), lambda i: _client_month(history.months[i], "; "))


def client_chart_alt(history: ClientHistory) -> str:
    """The client chart's text alternative: the months with data, briefly."""
    return _alt(CLIENT_CHART, *_client(history), lambda i: _client_month(history.months[i], ", "))


def _invoiced(history: FinanceHistory, i: int) -> tuple[str, list[str]]:
    count = history.invoice_counts[i]
    totals = [format_money(history.totals[c][i], c) for c in history.currencies
              if history.totals[c][i] is not None]
    return f"{count:,} invoice{'' if count == 1 else 's'}", totals


def finance_known(history: FinanceHistory) -> list[bool]:
    """Which months have data: an invoice in any currency."""
    return [count > 0 for count in history.invoice_counts]


def finance_history_lines(history: FinanceHistory) -> list[str]:
    """Per month, its invoice count and its total per currency; months without invoices in runs."""
    def describe(i: int) -> str:
        count, totals = _invoiced(history, i)
        return f"{count}: {'; '.join(totals)}"

    return _lines(history.months, finance_known(history), describe)


def finance_chart_alt(history: FinanceHistory) -> str:
    """The finance chart's text alternative: the months with invoices, briefly."""
    def describe(i: int) -> str:
        count, totals = _invoiced(history, i)
        return f"{count}, {_listed(totals)}"

    return _alt(FINANCE_CHART, history.months, finance_known(history), describe)
