"""The files the billing page offers, found from a month and a client code only.

Every request names a month and a client code; both are checked here (``BillingMonth.parse``,
``CLIENT_CODE_RE``) before any path is built, and a validation report's inner path is accepted
only as plain names inside the client's report folder. Files are read through the storage layer,
so a bucket serves them as a folder does; nothing outside the data root can be named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.config import BillingConfig
from include.dms_billing.core.jobs import CLIENT_CODE_RE
from include.dms_billing.core.list_terms import list_terms
from include.dms_billing.outputs.paths import VALIDATION_DOCS, ClientMonthPaths
from include.dms_billing.outputs.storage import StoragePath

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"
REPORT_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".css": "text/css",
                ".js": "text/javascript", ".png": "image/png", ".svg": "image/svg+xml"}
_REPORT_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class NotFound(LookupError):
    """The month, client or file asked for does not exist (or is not a name the page serves)."""


@dataclass(frozen=True)
class Download:
    content: bytes
    media_type: str
    filename: str | None  # None: shown in the browser (a report page), else saved under this name


def client_paths(root: StoragePath, month: str, code: str) -> ClientMonthPaths:
    """The client's month folder, once ``month`` and ``code`` are checked; a bad value is NotFound."""
    try:
        parsed = BillingMonth.parse(month)
    except ValueError as exc:
        raise NotFound(str(exc)) from None
    if not CLIENT_CODE_RE.fullmatch(code):
        raise NotFound("a client code is letters, digits, '-' and '_'")
    return ClientMonthPaths(root, str(parsed), code)


def _read(path: StoragePath) -> bytes:
    if not path.is_file():
        raise NotFound("no such file")
    return path.read_bytes()


def list_csv(paths: ClientMonthPaths) -> Download:
    """The list's CSV, byte for byte as stored (and as the client received it when it was sent)."""
    return Download(_read(paths.billable_csv), CSV_TYPE,
                    f"billable_users_{paths.client_code}_{paths.billing_month}.csv")


def list_xlsx(paths: ClientMonthPaths, config: BillingConfig) -> Download:
    """The list's workbook, built from the stored list as the list email builds it."""
    from include.dms_billing.outputs.billable_list import read_local_list, read_summary
    from include.dms_billing.outputs.list_changes import read_changes
    from include.dms_billing.outputs.spreadsheets import list_xlsx_bytes

    if not paths.summary.exists():
        raise NotFound("no list")
    summary = read_summary(paths)
    billed = read_local_list(paths, summary.timezone or "UTC")
    terms = list_terms(paths.client_code, paths.billing_month, summary.by_reason, config)
    name = summary.client_name or paths.client_code
    workbook = list_xlsx_bytes(billed, f"{paths.client_code} {paths.billing_month}", read_changes(paths.changes),
                               terms=terms, client_name=name)
    return Download(workbook, XLSX_TYPE, f"billable_users_{paths.client_code}_{paths.billing_month}.xlsx")


def invoice_pdf(engine: sa.Engine, paths: ClientMonthPaths) -> Download:
    """The month's invoice PDF as stored beside the list (the ledger keeps the same bytes)."""
    from include.dms_billing.ledger.invoices import find_invoice

    with engine.connect() as conn:
        issued = find_invoice(conn, paths.client_code, paths.billing_month)
    if issued is None:
        raise NotFound("no invoice")
    number = issued.invoice.invoice_number
    return Download(_read(paths.invoice_file(number, ".pdf")), PDF_TYPE, f"invoice_{number}.pdf")


def report_file(paths: ClientMonthPaths, inner: str = "index.html") -> Download:
    """A page of the client's validation report (Data Docs), or one of its assets: ``inner`` is a
    relative path of plain names, never ``..``, never absolute."""
    parts = inner.split("/")
    if not all(_REPORT_PART.fullmatch(part) and ".." not in part for part in parts):
        raise NotFound("not a report file")
    suffix = "." + parts[-1].rpartition(".")[2]
    if suffix not in REPORT_TYPES:
        raise NotFound("not a report file")
    path = paths.report_dir / VALIDATION_DOCS
    for part in parts:
        path = path / part
    return Download(_read(path), REPORT_TYPES[suffix], None)
