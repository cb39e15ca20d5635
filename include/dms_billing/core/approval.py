"""Finance's approval of a month's invoices, as data: what finance is shown, and what an answer means.

Light at import time (the DAG file imports the options). One approval per delivering run, after the lists are decided and before any invoice is issued.
Finance approves all, or holds chosen clients (no invoice this run); nobody answering by the
first invoice moment applies the configured default (``approval.on_timeout``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit


APPROVE = "Approve"  # every client, except those listed under ``hold``
HOLD_ALL = "Hold all"
OPTIONS = [APPROVE, HOLD_ALL]
HOLD_PARAM = "hold"
HOLD_TITLE = "Clients to hold"
HOLD_HELP = "The clients whose invoice is not issued in this run, with Approve. None chosen: all are issued."
TIMEOUT = "timeout"  # who decided, when nobody answered in time
NO_PLAN = "no plan: no invoice"  # a client with a list but no plan configured (clients.CODE.plan)


@dataclass(frozen=True)
class ApprovalRow:
    """One client as finance sees it before approving: the list's counts and the invoice it would get."""

    client_code: str
    client_name: str
    billable: int | None  # None: no list this run (its data failed, or it was not decided)
    by_reason: Mapping[str, int] = field(default_factory=dict)
    change: str = ""  # the count against last month, in words
    amount: Decimal | None = None  # the invoice total it would issue (credits included); None: no plan
    currency: str = ""
    issued: str | None = None  # the invoice number, when it was issued already


@dataclass(frozen=True)
class ApprovalDecision:
    billing_month: str
    run_id: str
    held: tuple[str, ...]
    decided_by: str  # a user id, ``timeout``, or ``not asked: <why>``
    asked: bool

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "held": list(self.held)}

    def summary(self) -> str:
        held = ", ".join(self.held) if self.held else "none"
        return f"{self.billing_month}: invoices approved by {self.decided_by}; held: {held}"


@dataclass(frozen=True)
class ListsLocation:
    """Where finance finds the month's lists, worded to read right on any deployment: the folder
    under the billing data root, and the object store holding that root. A local root is a path on
    the workers' disk (a container's mount, a test's temporary folder) that means nothing to
    finance, so it is named by its setting instead."""

    folder: str  # under the data root, e.g. ``billable/billing_month=2023-05/``
    setting: str  # the variable naming the data root, ``DMS_BILLING_DATA``
    store: str | None = None  # e.g. ``s3://dms-billing/data``; None: a local folder

    @classmethod
    def under(cls, folder: str, data_root: str, setting: str) -> ListsLocation:
        """``folder`` in ``data_root``; an object store's URL without its Airflow connection id."""
        if "://" not in data_root:
            return cls(folder, setting)
        url = urlsplit(data_root)
        return cls(folder, setting, urlunsplit(url._replace(netloc=url.netloc.rpartition("@")[2])))

    def markdown(self) -> str:
        where = f"`{self.store}`" if self.store else "the billing data folder"
        return f"`{self.folder}` in {where} (`{self.setting}`)"


def hold_schema(rows: Sequence[ApprovalRow] = ()) -> dict[str, Any]:
    """The JSON schema of finance's *hold* field. Its type admits null: Airflow's form marks a field
    required unless it does, and an empty answer approves every client. The run's clients with a
    list are offered as choices (a list box shown by code and name: no typing, no stray blank
    line); the codes themselves are checked by ``decide``, which names any it does not know."""
    choices = {row.client_code: f"{row.client_code} {row.client_name}"
               for row in rows if row.billable is not None}
    offered = {"examples": list(choices), "values_display": choices} if choices else {}
    return {"type": ["array", "null"], "items": {"type": "string"}, "title": HOLD_TITLE, **offered}


def _markdown_cell(text: str) -> str:
    """Client names come from the DMS: keep them from breaking the table or becoming markup."""
    return "".join("\\" + c if c in "\\`*_{}[]<>()#+-.!|" else c for c in " ".join(text.split()))


def approval_body(billing_month: str, rows: Sequence[ApprovalRow], lists: ListsLocation) -> str:
    """The Markdown finance reads in the UI's required actions: one line per client."""
    from include.dms_billing.core.columns import REASON_ACTIVE, REASON_RECENT_LOGIN  # pyarrow: not at parse time
    from include.dms_billing.core.money import format_money

    lines = [
        f"Invoices for **{billing_month}** are ready to issue. **{APPROVE}** issues every client's invoice "
        f"but those chosen under *{HOLD_TITLE}*; **{HOLD_ALL}** issues none. Held clients get no invoice "
        "in this run.",
        "",
        "| client | billable | active | inactive, logged in | against last month | invoice |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        name = _markdown_cell(f"{row.client_code} {row.client_name}")
        if row.billable is None:
            lines.append(f"| {name} | no list |  |  |  | no invoice |")
            continue
        invoice = format_money(row.amount, row.currency) if row.amount is not None else NO_PLAN
        if row.issued:
            invoice += f" (issued: {row.issued})"
        lines.append(
            f"| {name} | {row.billable:,} | {row.by_reason.get(REASON_ACTIVE, 0):,} "
            f"| {row.by_reason.get(REASON_RECENT_LOGIN, 0):,} | {_markdown_cell(row.change)} | {invoice} |"
        )
    lines += ["", f"The lists: {lists.markdown()}"]
    return "\n".join(lines)


def decide(
    chosen: Sequence[str], params_input: Mapping[str, Any], responded_by: Mapping[str, str] | None,
    codes: Iterable[str], *, billing_month: str, run_id: str,
) -> ApprovalDecision:
    """The decision an answer (or the timeout's default) makes; unknown client codes are refused."""
    codes = list(codes)
    if chosen == [HOLD_ALL]:
        held = codes
    elif chosen == [APPROVE]:
        held = sorted({str(c).strip() for c in params_input.get(HOLD_PARAM) or [] if str(c).strip()})
        unknown = sorted(set(held) - set(codes))
        if unknown:
            raise ValueError(f"held client(s) {', '.join(unknown)} are not billed in this run ({', '.join(codes)})")
    else:
        raise ValueError(f"unexpected answer {list(chosen)}: choose one of {OPTIONS}")
    by = (responded_by or {}).get("id") or TIMEOUT
    return ApprovalDecision(billing_month, run_id, tuple(c for c in codes if c in held), by, asked=True)


def not_asked(billing_month: str, run_id: str, why: str) -> ApprovalDecision:
    """A run that does not wait for finance (it does not deliver, approval is off, nobody can answer)."""
    return ApprovalDecision(billing_month, run_id, (), f"not asked: {why}", asked=False)
