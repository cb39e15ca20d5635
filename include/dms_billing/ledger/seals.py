"""Sealed lists (contract section 8): what was billed stays billed.

A month's list is sealed when it is first really sent to the client or when its invoice is
issued, whichever comes first: the ledger (``sealed_lists``) keeps the SHA-256 of the CSV the
client receives and of the Parquet, and the row count. Just before that row is written, a
marker (``sealed.json``) is written beside the files; while it is there no run replaces or
removes them, so a marker left by a sealing that failed keeps the files as they were (the next
seal records them). Whatever acts on the billed list (the invoice, objections, a resend, next
month's comparison) first checks the files against the fingerprint, and refuses if they differ.

The fingerprint, the marker and the check are file-level (``outputs/fingerprints.py``); this
module keeps the ledger's rows of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from include.dms_billing.ledger.schema import invoices, sealed_lists
from include.dms_billing.outputs.fingerprints import (
    Fingerprint,
    SealBroken,
    fingerprint,
    list_label,
    verify,
    write_marker,
)
from include.dms_billing.outputs.paths import ClientMonthPaths
from include.dms_billing.outputs.storage import read_frame

LIST_SENT, INVOICE, LEGACY = "list_sent", "invoice", "legacy"  # why a list was sealed


@dataclass(frozen=True)
class Seal:
    client_code: str
    billing_month: str
    fingerprint: Fingerprint
    sealed_because: str
    invoice_number: str | None


def find_seal(conn: sa.Connection, client_code: str, billing_month: str) -> Seal | None:
    row = conn.execute(sa.select(sealed_lists).where(
        sealed_lists.c.client_code == client_code, sealed_lists.c.billing_month == billing_month)).one_or_none()
    if row is None:
        return None
    return Seal(client_code, billing_month, Fingerprint(row.csv_sha256, row.parquet_sha256, row.row_count),
                row.sealed_because, row.invoice_number)


def _insert(conn: sa.Connection, paths: ClientMonthPaths, sealed: Fingerprint, because: str,
            invoice_number: str | None, run_id: str) -> None:
    write_marker(paths, sealed, because)  # first: files are kept from here on, even if the insert fails
    conn.execute(sealed_lists.insert().values(
        client_code=paths.client_code, billing_month=paths.billing_month, **asdict(sealed),
        sealed_because=because, invoice_number=invoice_number, sealed_at=datetime.now(timezone.utc),
        sealed_by_run=run_id))


def _insert_once(engine: sa.Engine, paths: ClientMonthPaths, sealed: Fingerprint, because: str,
                 invoice_number: str | None, run_id: str) -> Seal:
    """Seal, or (another run sealed it at the same moment) read back that run's seal."""
    try:
        with engine.begin() as conn:
            _insert(conn, paths, sealed, because, invoice_number, run_id)
    except sa.exc.IntegrityError:
        pass
    with engine.connect() as conn:
        return find_seal(conn, paths.client_code, paths.billing_month)


def recorded_seal(engine: sa.Engine, paths: ClientMonthPaths, run_id: str) -> Seal | None:
    """The month's seal, or None. An invoice issued before lists were sealed (ledger revision
    0003) seals the list on disk now, if it has the invoice's count; otherwise this refuses."""
    with engine.connect() as conn:
        seal = find_seal(conn, paths.client_code, paths.billing_month)
        invoice = None if seal else conn.execute(sa.select(invoices.c.invoice_number, invoices.c.billable_count).where(
            invoices.c.client_code == paths.client_code, invoices.c.billing_month == paths.billing_month)).first()
    if seal is not None or invoice is None:
        return seal
    found = fingerprint(paths)
    if found.row_count != invoice.billable_count:
        raise SealBroken(f"invoice {invoice.invoice_number} of {list_label(paths)} counts "
                         f"{invoice.billable_count} users but the list on disk has {found.row_count}: "
                         "it is not the list billed")
    return _insert_once(engine, paths, found, LEGACY, invoice.invoice_number, run_id)


def seal_list(engine: sa.Engine, paths: ClientMonthPaths, run_id: str) -> Seal:
    """Before the list is really sent: seal it (the client receives it), or check it is the sealed one."""
    seal = recorded_seal(engine, paths, run_id) or _insert_once(engine, paths, fingerprint(paths), LIST_SENT, None,
                                                                run_id)
    verify(paths, seal.fingerprint)
    return seal


def seal_with_invoice(conn: sa.Connection, paths: ClientMonthPaths, sealed: Fingerprint, invoice_number: str,
                      run_id: str) -> None:
    """In the transaction that issues the invoice: the list it was built from is sealed with it."""
    existing = find_seal(conn, paths.client_code, paths.billing_month)
    if existing is None:
        _insert(conn, paths, sealed, INVOICE, invoice_number, run_id)
        return
    if existing.fingerprint != sealed:
        raise SealBroken(f"the invoice of {list_label(paths)} was built from a list other than "
                         "the sealed one")
    conn.execute(sealed_lists.update().where(
        sealed_lists.c.client_code == paths.client_code, sealed_lists.c.billing_month == paths.billing_month,
        sealed_lists.c.invoice_number.is_(None)).values(invoice_number=invoice_number))


def sealed_user_ids(engine: sa.Engine, paths: ClientMonthPaths, run_id: str) -> set[int]:
    """The users on the month's sealed list, read only after the files are checked against the seal."""
    seal = recorded_seal(engine, paths, run_id)
    if seal is None:
        raise SealBroken(f"the list of {list_label(paths)} is not sealed: no invoice issued and no list sent")
    verify(paths, seal.fingerprint)
    return set(read_frame(paths.billable_parquet, columns=["user_id"])["user_id"].astype(int))
