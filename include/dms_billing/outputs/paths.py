"""Where every output lives under the data root (``DMS_BILLING_DATA``, default ``./data``).

Hive-style folders (``billing_month=YYYY-MM/client_code=CODE``) so that any Parquet reader
(pandas, DuckDB, Spark) sees month and client as partition columns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.outputs.storage import StoragePath, storage_path

DATA_ENV = "DMS_BILLING_DATA"
DEFAULT_DATA_ROOT = "data"
# Inside a client's report folder: the validation's verdict, and the Data Docs of a failed one.
VALIDATION_SUMMARY = "validation.json"
VALIDATION_DOCS = "data_docs"
MONTH_KEY, CLIENT_KEY = "billing_month=", "client_code="  # the Hive-style partition folders' prefixes
CLIENT_AREAS = ("snapshots", "reports", "billable")  # a client's month leaves a folder in each as it goes


def data_root() -> StoragePath:
    """The data root: a local folder (made absolute) or an object-store URL (``storage.py``)."""
    root = storage_path(os.environ.get(DATA_ENV) or DEFAULT_DATA_ROOT)
    return root.resolve() if isinstance(root, Path) else root


@dataclass(frozen=True)
class ClientMonthPaths:
    """The files of one client's billing month."""

    root: StoragePath
    billing_month: str
    client_code: str

    def _partition(self, area: str) -> StoragePath:
        return month_folder(self.root, area, self.billing_month) / f"{CLIENT_KEY}{self.client_code}"

    @property
    def snapshot(self) -> StoragePath:
        return self._partition("snapshots") / "user_facts.parquet"

    @property
    def source_checks(self) -> StoragePath:
        """The timestamp audit and reconciliation made with the snapshot (source_checks.py)."""
        return self._partition("snapshots") / "source_checks.json"

    @property
    def report_dir(self) -> StoragePath:
        return self._partition("reports")

    @property
    def billable_parquet(self) -> StoragePath:
        return self._partition("billable") / "billable_users.parquet"

    @property
    def billable_csv(self) -> StoragePath:
        return self._partition("billable") / "billable_users.csv"

    @property
    def summary(self) -> StoragePath:
        return self._partition("billable") / "summary.json"

    @property
    def changes(self) -> StoragePath:
        """What changed since the previous month's list (``list_changes.ListChanges`` as JSON)."""
        return self._partition("billable") / "changes.json"

    @property
    def seal_marker(self) -> StoragePath:
        """Written just before the list is sealed in the ledger: while it exists the list's files
        are never replaced or removed (``sealed_lists``)."""
        return self._partition("billable") / "sealed.json"

    @property
    def revisions(self) -> StoragePath:
        """The later recomputations that differ from the sealed list, each a folder (``revisions``)."""
        return self._partition("billable") / "revisions"

    def revision_dir(self, revision: str) -> StoragePath:
        """A later recomputation that differs from the sealed list, kept beside it."""
        return self.revisions / revision

    @property
    def last_check(self) -> StoragePath:
        """This run's comparison of the recomputed list with the sealed one (removed at extract)."""
        return self.revisions / "last_check.json"

    def invoice_file(self, invoice_number: str, suffix: str) -> StoragePath:
        """The invoice's rendering on disk (``.pdf`` or ``.html``); the ledger holds the same."""
        return self._partition("invoices") / f"invoice_{invoice_number}{suffix}"

    def archived_email(self, kind: DeliveryKind) -> StoragePath:
        """An email that a run without delivery built but did not send, for review."""
        return self._partition("archive") / f"{kind}.eml"


@dataclass(frozen=True)
class PreviewPaths:
    """The files of one client's preview: ``previews/billing_month=YYYY-MM/client_code=CODE/``."""

    root: StoragePath
    billing_month: str
    client_code: str

    @property
    def folder(self) -> StoragePath:
        return self.root / "previews" / f"billing_month={self.billing_month}" / f"client_code={self.client_code}"

    @property
    def snapshot(self) -> StoragePath:
        return self.folder / "user_facts.parquet"

    @property
    def source_checks(self) -> StoragePath:
        """The timestamp audit and reconciliation made with the snapshot, as for the month's list."""
        return self.folder / "source_checks.json"

    @property
    def report_dir(self) -> StoragePath:
        """The snapshot's validation report, as for the month's list."""
        return self.folder / "validation"

    @property
    def projected(self) -> StoragePath:
        return self.folder / "projected_users.parquet"

    @property
    def projected_csv(self) -> StoragePath:
        return self.folder / "projected_users.csv"

    @property
    def summary(self) -> StoragePath:
        return self.folder / "preview.json"

    @property
    def archived_email(self) -> StoragePath:
        return self.folder / f"{DeliveryKind.PREVIEW}.eml"


def month_folder(root: StoragePath, area: str, billing_month: str) -> StoragePath:
    """One area's folder of a month, holding a ``client_code=CODE`` folder per client."""
    return root / area / f"{MONTH_KEY}{billing_month}"


def client_month_paths(billing_month: str, client_code: str, root: StoragePath | None = None) -> ClientMonthPaths:
    return ClientMonthPaths(root or data_root(), billing_month, client_code)


def finance_summary_csv(billing_month: str, root: StoragePath | None = None) -> StoragePath:
    return (root or data_root()) / "finance" / f"billing_month={billing_month}" / "finance_summary.csv"


def delivery_receipts(root: StoragePath | None = None) -> StoragePath:
    """Receipts of emails the mail server accepted while the ledger could not record them."""
    return (root or data_root()) / "deliveries" / "receipts"
