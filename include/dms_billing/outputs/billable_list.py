"""The billable list on disk: Parquet for machines, CSV for people, and a summary of counts.

The CSV has the contract's columns (section 6) first and in order, then the evidence columns
(``columns.EVIDENCE_COLUMNS``); it is UTF-8 with a byte-order mark (``to_csv_bytes``), so Excel
on Windows reads Bengali names as Bengali, not as mojibake; times are the client's local time in ISO 8601 with the offset,
empty when unknown (never logged in; status taken from users.status without history).
Beside the list, ``changes.json`` says what changed since the previous month's list.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from include.dms_billing.core.columns import ATTACHMENT_COLUMNS, BILLABLE_REASONS
from include.dms_billing.outputs.atomic import atomic_path, write_bytes, write_text
from include.dms_billing.outputs.paths import ClientMonthPaths
from include.dms_billing.outputs.spreadsheets import list_cells
from include.dms_billing.outputs.storage import StoragePath, read_frame

if TYPE_CHECKING:
    from include.dms_billing.outputs.list_changes import ListChanges


@dataclass(frozen=True)
class ListSummary:
    """What the run reports per client: counts by reason and the data-quality count."""

    client_code: str
    billing_month: str
    users_in_snapshot: int
    billable: int
    by_reason: dict[str, int]
    status_from_current: int  # users (billable or not) whose status came from users.status (no history)
    billable_parquet: str
    billable_csv: str
    validation_report: str
    # The client as the list's documents name it, and its timezone (the list's local times); empty
    # in summaries written before they were kept.
    client_name: str = ""
    timezone: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ListSummary:
        return cls(**json.loads(text))


def to_csv_text(billed: pd.DataFrame) -> str:
    """The list as people read it: the contract's columns, local ISO times, one line a row.

    Text cells that a spreadsheet would run as a formula are neutralised. A field holding any
    line break (``\\n``, ``\\r`` or both) is quoted, so it stays one field of one row.
    """
    cells = list_cells(billed, ATTACHMENT_COLUMNS)
    text = cells.to_csv(index=False, lineterminator="\n")  # quotes a field holding "\n"
    if "\r" not in text:  # the usual list: no field holds a carriage return, so nothing more to quote
        return text
    # Python's csv quotes a field holding a character of the line terminator, so "\r\n" quotes
    # both kinds of break; the rows are then ended with "\n" alone, outside the quotes.
    return lf_row_ends(cells.to_csv(index=False, lineterminator="\r\n"))


CSV_ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark: what Excel needs to read it as UTF-8


def to_csv_bytes(billed: pd.DataFrame) -> bytes:
    """The list's CSV as written to disk and attached: :func:`to_csv_text` in UTF-8 with a BOM
    (read it back with ``utf-8-sig``)."""
    return to_csv_text(billed).encode(CSV_ENCODING)


def lf_row_ends(csv_text: str) -> str:
    """``\\r\\n`` row ends as ``\\n``, leaving quoted fields as they are: text outside quotes is
    every other piece between double quotes (an escaped ``""`` leaves an empty piece)."""
    pieces = csv_text.split('"')
    pieces[::2] = [piece.replace("\r\n", "\n") for piece in pieces[::2]]
    return '"'.join(pieces)


def summarise(
    billed: pd.DataFrame, users_in_snapshot: int, status_from_current: int, paths: ClientMonthPaths, report: StoragePath,
    client_name: str = "", timezone: str = "",
) -> ListSummary:
    counts = billed["billable_reason"].value_counts()
    return ListSummary(
        client_code=paths.client_code,
        billing_month=paths.billing_month,
        users_in_snapshot=users_in_snapshot,
        billable=len(billed),
        by_reason={reason: int(counts.get(reason, 0)) for reason in BILLABLE_REASONS},
        status_from_current=status_from_current,
        billable_parquet=str(paths.billable_parquet),
        billable_csv=str(paths.billable_csv),
        validation_report=str(report),
        client_name=client_name,
        timezone=timezone,
    )


def write_billable_list(
    billed: pd.DataFrame, users_in_snapshot: int, status_from_current: int, paths: ClientMonthPaths,
    report: StoragePath, changes: ListChanges | None = None, client_name: str = "", timezone: str = "",
) -> ListSummary:
    """Write Parquet, CSV, changes and summary, each atomically; the summary last, as the 'done' mark.

    Never over a sealed list (contract section 8): a later run's list is a revision beside it.
    """
    if paths.seal_marker.exists():
        raise ValueError(f"the list of {paths.client_code} {paths.billing_month} is sealed (billed); "
                         "it is not rewritten")
    with atomic_path(paths.billable_parquet) as tmp:
        pq.write_table(pa.Table.from_pandas(billed, preserve_index=False), tmp)
    write_bytes(paths.billable_csv, to_csv_bytes(billed))
    if changes is not None:
        write_text(paths.changes, changes.to_json())
    summary = summarise(billed, users_in_snapshot, status_from_current, paths, report, client_name, timezone)
    write_text(paths.summary, summary.to_json())
    return summary


def read_local_list(paths: ClientMonthPaths, timezone: str) -> pd.DataFrame:
    """The stored list with its times in the client's ``timezone``, as the client reads them."""
    billed = read_frame(paths.billable_parquet)
    for column in ("last_login_at", "status_set_at"):
        billed[column] = billed[column].dt.tz_convert(timezone)
    return billed


def read_summary(paths: ClientMonthPaths) -> ListSummary:
    return ListSummary.from_json(paths.summary.read_text(encoding="utf-8"))
