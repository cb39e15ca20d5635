"""Objections (contract section 5): validated, then recorded as adjustments for the next invoice.

A month's invoice is never re-issued. An objection to it is accepted only if the invoice is
out, every user was on that month's billed list (its sealed list, checked against the seal), and no user-month is already under an
accepted objection; it is then priced at the objected month's unit price and waits, as a
pending adjustment, for the client's next invoice. Many objections (a CSV) are recorded all
or nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.invoice import month_name
from include.dms_billing.core.jobs import CLIENT_CODE_RE
from include.dms_billing.core.money import round_money
from include.dms_billing.core.objection_form import UserIdsRejected, read_user_ids
from include.dms_billing.ledger.schema import adjustments, invoices, objection_users, objections
from include.dms_billing.ledger.seals import sealed_user_ids
from include.dms_billing.outputs.fingerprints import SealBroken
from include.dms_billing.outputs.paths import client_month_paths
from include.dms_billing.outputs.storage import StoragePath

CREDIT, DEBIT = "credit", "debit"
CSV_COLUMNS = ["client_code", "billing_month", "user_id", "reason", "decided_by", "direction"]


class ObjectionRejected(ValueError):
    """The objection cannot be accepted; nothing was written. The message lists every problem."""


@dataclass(frozen=True)
class ObjectionRequest:
    client_code: str
    billing_month: str
    user_ids: tuple[int, ...]
    reason: str
    decided_by: str
    direction: str = CREDIT

    def label(self) -> str:
        return f"{self.client_code} {self.billing_month}"


@dataclass(frozen=True)
class RecordedObjection:
    objection_id: int
    request: ObjectionRequest
    invoice_number: str
    amount: Decimal  # signed: negative for a credit


def _form_problems(request: ObjectionRequest) -> list[str]:
    problems = []
    if not CLIENT_CODE_RE.fullmatch(request.client_code or ""):
        problems.append(f"client code {request.client_code!r} is not a valid code")
    try:
        BillingMonth.parse(request.billing_month)
    except ValueError as exc:
        problems.append(str(exc))
    if not request.user_ids:
        problems.append("no user ids given")
    if len(set(request.user_ids)) != len(request.user_ids):
        problems.append("a user id is given twice")
    if request.direction not in (CREDIT, DEBIT):
        problems.append(f"direction must be credit or debit, not {request.direction!r}")
    if not request.reason.strip() or not request.decided_by.strip():
        problems.append("reason and decided_by are required")
    return problems


def _check(conn: sa.Connection, request: ObjectionRequest, billed_ids: Callable[[str, str], set[int]]) -> list[str]:
    problems = _form_problems(request)
    if problems:
        return problems
    invoice = conn.execute(sa.select(invoices.c.invoice_number).where(
        invoices.c.client_code == request.client_code, invoices.c.billing_month == request.billing_month)).first()
    if invoice is None:
        return [f"no invoice has been issued for {request.label()}: objections wait until the bill is out"]
    try:
        billed = billed_ids(request.client_code, request.billing_month)
    except SealBroken as exc:
        return [str(exc)]
    not_billed = sorted(set(request.user_ids) - billed)
    if not_billed:
        problems.append(f"users not on the billed list of {request.label()}: {not_billed}")
    taken = sorted(conn.execute(sa.select(objection_users.c.user_id).where(
        objection_users.c.client_code == request.client_code,
        objection_users.c.billing_month == request.billing_month,
        objection_users.c.user_id.in_(request.user_ids))).scalars())
    if taken:
        problems.append(f"users already under an accepted objection for {request.label()}: {taken}")
    return problems


def _record(conn: sa.Connection, request: ObjectionRequest, run_id: str, now: datetime) -> RecordedObjection:
    invoice = conn.execute(sa.select(invoices.c.invoice_number, invoices.c.unit_price, invoices.c.currency).where(
        invoices.c.client_code == request.client_code, invoices.c.billing_month == request.billing_month)).one()
    count = len(request.user_ids)
    sign = -1 if request.direction == CREDIT else 1
    amount = round_money(invoice.unit_price * count * sign, invoice.currency)
    objection_id = conn.execute(objections.insert().values(
        client_code=request.client_code, billing_month=request.billing_month,
        invoice_number=invoice.invoice_number, direction=request.direction, user_count=count,
        unit_price=invoice.unit_price, reason=request.reason, decided_by=request.decided_by,
        recorded_at=now, recorded_by_run=run_id,
    )).inserted_primary_key[0]
    conn.execute(objection_users.insert(), [
        {"objection_id": objection_id, "client_code": request.client_code,
         "billing_month": request.billing_month, "user_id": user_id} for user_id in request.user_ids])
    users = "user" if count == 1 else "users"
    conn.execute(adjustments.insert().values(
        client_code=request.client_code, objection_id=objection_id, after_month=request.billing_month,
        description=f"{request.direction.capitalize()} for {month_name(request.billing_month)}: "
                    f"{count} {users} (objection {objection_id}, invoice {invoice.invoice_number})",
        quantity=count, unit_price=invoice.unit_price * sign, amount=amount,
        applied_invoice_number=None, created_at=now,
    ))
    return RecordedObjection(objection_id, request, invoice.invoice_number, amount)


def sealed_billed_ids(engine: sa.Engine, run_id: str, root: StoragePath | None = None) -> Callable[[str, str], set[int]]:
    """``billed_ids`` for ``record_objections``: the users of each month's sealed list, read only
    once its files match the seal; a list that does not match refuses the objection."""
    def billed_ids(client_code: str, billing_month: str) -> set[int]:
        return sealed_user_ids(engine, client_month_paths(billing_month, client_code, root), run_id)

    return billed_ids


def record_objections(
    engine: sa.Engine, requests: Sequence[ObjectionRequest], billed_ids: Callable[[str, str], set[int]], run_id: str
) -> list[RecordedObjection]:
    """Validate every request, then record them all in one transaction; or raise and write nothing."""
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        problems = [f"{r.label()}: {p}" for r in requests for p in _check(conn, r, billed_ids)]
        seen: set[tuple[str, str, int]] = set()
        for r in requests:  # the same user-month twice within one batch
            for user_id in r.user_ids:
                key = (r.client_code, r.billing_month, user_id)
                if key in seen:
                    problems.append(f"{r.label()}: user {user_id} appears in more than one objection")
                seen.add(key)
        if problems:
            raise ObjectionRejected("objection refused, nothing recorded:\n" + "\n".join(f"  - {p}" for p in problems))
        return [_record(conn, r, run_id, now) for r in requests]


def parse_user_ids(value: str | Iterable[object] | None) -> tuple[int, ...]:
    """The form's ids (one per line) or a CSV group's, as ``objection_form.parse_user_ids``
    reads them; an unreadable one refuses the objection, naming it."""
    try:
        return read_user_ids(value)
    except UserIdsRejected as exc:
        raise ObjectionRejected(str(exc)) from None


def requests_from_csv(text: str) -> list[ObjectionRequest]:
    """One objection per (client, month, reason, decided_by, direction) group of CSV rows."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != CSV_COLUMNS:
        raise ObjectionRejected(f"the CSV's columns must be exactly {CSV_COLUMNS}, not {reader.fieldnames}")
    groups: dict[tuple[str, ...], list[str]] = {}
    for row in reader:
        key = tuple((row[c] or "").strip() for c in CSV_COLUMNS if c != "user_id")
        groups.setdefault(key, []).append(row["user_id"])
    return [
        ObjectionRequest(code, month, parse_user_ids(ids), reason, decided_by, direction.lower())
        for (code, month, reason, decided_by, direction), ids in groups.items()
    ]
