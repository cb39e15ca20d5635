"""A billed list's files and their fingerprint: what the ledger seals (``ledger/seals.py``).

The fingerprint is the SHA-256 of the CSV the client receives and of the Parquet, and the row
count. When a list is sealed, a marker (``sealed.json``) holding it is written beside the files;
while it is there no run replaces or removes them. Whatever acts on a billed list first checks
the files against the fingerprint (``verify``) and refuses if they differ.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from include.dms_billing.outputs.atomic import write_text
from include.dms_billing.outputs.billable_list import read_summary
from include.dms_billing.outputs.paths import ClientMonthPaths
from include.dms_billing.outputs.storage import StoragePath, parquet_rows


class SealBroken(ValueError):
    """The sealed list on disk is missing or is not the list that was sealed: nothing may use it."""


@dataclass(frozen=True)
class Fingerprint:
    csv_sha256: str
    parquet_sha256: str
    row_count: int


def _sha256(path: StoragePath) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def list_label(paths: ClientMonthPaths) -> str:
    """``CODE YYYY-MM``: how messages name a client's month."""
    return f"{paths.client_code} {paths.billing_month}"


def _files_missing(paths: ClientMonthPaths) -> SealBroken | None:
    if all(p.exists() for p in (paths.summary, paths.billable_csv, paths.billable_parquet)):
        return None
    return SealBroken(f"no complete list of {list_label(paths)} under {paths.billable_csv.parent}")


def fingerprint(paths: ClientMonthPaths) -> Fingerprint:
    """The fingerprint of the complete list on disk (its summary written, counts agreeing)."""
    missing = _files_missing(paths)
    if missing:
        raise missing
    rows = parquet_rows(paths.billable_parquet)
    if read_summary(paths).billable != rows:
        raise SealBroken(f"the list of {list_label(paths)} has {rows} rows "
                         "but its summary counts another number")
    return Fingerprint(_sha256(paths.billable_csv), _sha256(paths.billable_parquet), rows)


def verify(paths: ClientMonthPaths, sealed: Fingerprint) -> None:
    """Refuse, clearly, unless the files on disk are the list that was sealed (the hashes decide;
    a Parquet file with the sealed hash has the sealed rows)."""
    if _files_missing(paths):
        raise SealBroken(f"the sealed list of {list_label(paths)} is missing or incomplete under "
                         f"{paths.billable_csv.parent}; restore the sealed files, nothing was done with them")
    actual = (_sha256(paths.billable_csv), _sha256(paths.billable_parquet))
    if actual != (sealed.csv_sha256, sealed.parquet_sha256):
        raise SealBroken(
            f"the list of {list_label(paths)} on disk is not the sealed list: CSV SHA-256 {actual[0][:12]}…, "
            f"Parquet {actual[1][:12]}…; sealed {sealed.csv_sha256[:12]}…, {sealed.parquet_sha256[:12]}…, "
            f"{sealed.row_count} rows. Restore the sealed files; nothing was done with them")


def read_marker(paths: ClientMonthPaths) -> Fingerprint | None:
    """The fingerprint the marker beside the files holds: the list is sealed or being sealed."""
    if not paths.seal_marker.exists():
        return None
    data = json.loads(paths.seal_marker.read_text(encoding="utf-8"))
    return Fingerprint(data["csv_sha256"], data["parquet_sha256"], data["row_count"])


def write_marker(paths: ClientMonthPaths, sealed: Fingerprint, because: str) -> None:
    """The marker beside the files: from here on no run replaces or removes them."""
    write_text(paths.seal_marker, json.dumps({**asdict(sealed), "sealed_because": because}, indent=2))
