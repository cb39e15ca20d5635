"""Sealed lists (contract section 8): what was billed stays billed.

A month's list is sealed when it is first really sent to the client or when its invoice is
issued, whichever comes first: the ledger (``sealed_lists``) keeps the SHA-256 of the CSV the
client receives and of the Parquet, and the row count. Just before that row is written, a
marker (``sealed.json``) is written beside the files; while it is there no run replaces or
removes them, so a marker left by a sealing that failed keeps the files as they were (the next
seal records them). Whatever acts on the billed list (the invoice, objections, a resend, next
month's comparison) first checks the files against the fingerprint, and refuses if they differ.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from include.dms_billing.outputs.atomic import write_text
from include.dms_billing.outputs.billable_list import read_summary
from include.dms_billing.ledger.schema import invoices, sealed_lists
from include.dms_billing.outputs.paths import ClientMonthPaths

LIST_SENT, INVOICE, LEGACY = "list_sent", "invoice", "legacy"  # why a list was sealed


class SealBroken(ValueError):
    """The sealed list on disk is missing or is not the list that was sealed: nothing may use it."""


@dataclass(frozen=True)
class Fingerprint:
    csv_sha256: str
    parquet_sha256: str
    row_count: int


@dataclass(frozen=True)
class Seal:
    client_code: str
    billing_month: str
    fingerprint: Fingerprint
    sealed_because: str
    invoice_number: str | None


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _label(paths: ClientMonthPaths) -> str:
    return f"{paths.client_code} {paths.billing_month}"


def _files_missing(paths: ClientMonthPaths) -> SealBroken | None:
    if all(p.exists() for p in (paths.summary, paths.billable_csv, paths.billable_parquet)):
        return None
    return SealBroken(f"no complete list of {_label(paths)} under {paths.billable_csv.parent}")


def fingerprint(paths: ClientMonthPaths) -> Fingerprint:
    """The fingerprint of the complete list on disk (its summary written, counts agreeing)."""
    missing = _files_missing(paths)
    if missing:
        raise missing
    rows = pq.ParquetFile(paths.billable_parquet).metadata.num_rows
    if read_summary(paths).billable != rows:
        raise SealBroken(f"the list of {_label(paths)} has {rows} rows but its summary counts another number")
    return Fingerprint(_sha256(paths.billable_csv), _sha256(paths.billable_parquet), rows)


def verify(paths: ClientMonthPaths, sealed: Fingerprint) -> None:
    """Refuse, clearly, unless the files on disk are the list that was sealed (the hashes decide;
    a Parquet file with the sealed hash has the sealed rows)."""
    if _files_missing(paths):
        raise SealBroken(f"the sealed list of {_label(paths)} is missing or incomplete under "
                         f"{paths.billable_csv.parent}; restore the sealed files, nothing was done with them")
    actual = (_sha256(paths.billable_csv), _sha256(paths.billable_parquet))
    if actual != (sealed.csv_sha256, sealed.parquet_sha256):
        raise SealBroken(
            f"the list of {_label(paths)} on disk is not the sealed list: CSV SHA-256 {actual[0][:12]}…, "
            f"Parquet {actual[1][:12]}…; sealed {sealed.csv_sha256[:12]}…, {sealed.parquet_sha256[:12]}…, "
            f"{sealed.row_count} rows. Restore the sealed files; nothing was done with them")


def read_marker(paths: ClientMonthPaths) -> Fingerprint | None:
    """The fingerprint the marker beside the files holds: the list is sealed or being sealed."""
    if not paths.seal_marker.exists():
        return None
    data = json.loads(paths.seal_marker.read_text(encoding="utf-8"))
    return Fingerprint(data["csv_sha256"], data["parquet_sha256"], data["row_count"])


def _write_marker(paths: ClientMonthPaths, sealed: Fingerprint, because: str) -> None:
    write_text(paths.seal_marker, json.dumps({**asdict(sealed), "sealed_because": because}, indent=2))


def find_seal(conn: sa.Connection, client_code: str, billing_month: str) -> Seal | None:
    row = conn.execute(sa.select(sealed_lists).where(
        sealed_lists.c.client_code == client_code, sealed_lists.c.billing_month == billing_month)).one_or_none()
    if row is None:
        return None
    return Seal(client_code, billing_month, Fingerprint(row.csv_sha256, row.parquet_sha256, row.row_count),
                row.sealed_because, row.invoice_number)


def _insert(conn: sa.Connection, paths: ClientMonthPaths, sealed: Fingerprint, because: str,
            invoice_number: str | None, run_id: str) -> None:
    _write_marker(paths, sealed, because)  # first: files are kept from here on, even if the insert fails
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
        raise SealBroken(f"invoice {invoice.invoice_number} of {_label(paths)} counts {invoice.billable_count} users "
                         f"but the list on disk has {found.row_count}: it is not the list billed")
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
        raise SealBroken(f"the invoice of {_label(paths)} was built from a list other than the sealed one")
    conn.execute(sealed_lists.update().where(
        sealed_lists.c.client_code == paths.client_code, sealed_lists.c.billing_month == paths.billing_month,
        sealed_lists.c.invoice_number.is_(None)).values(invoice_number=invoice_number))


def sealed_user_ids(engine: sa.Engine, paths: ClientMonthPaths, run_id: str) -> set[int]:
    """The users on the month's sealed list, read only after the files are checked against the seal."""
    seal = recorded_seal(engine, paths, run_id)
    if seal is None:
        raise SealBroken(f"the list of {_label(paths)} is not sealed: no invoice issued and no list sent")
    verify(paths, seal.fingerprint)
    return set(pd.read_parquet(paths.billable_parquet, columns=["user_id"])["user_id"].astype(int))
