"""The kinds of email the pipeline sends: one name per kind, for the delivery ledger, the
``X-Sokrio-Billing`` header, Message-IDs and the kept (archived) email files."""

from __future__ import annotations

from enum import StrEnum


class DeliveryKind(StrEnum):
    """A kind of email; the value is what the ledger stores and Message-IDs and file names start with."""

    LIST = "list"
    INVOICE = "invoice"
    FINANCE_SUMMARY = "finance_summary"
    LIST_REVISION = "list_revision"
    PREVIEW = "preview"
    ALERT = "alert"  # not in the ledger: every failure is worth its own email

    @property
    def tag(self) -> str:
        """The kind in ``X-Sokrio-Billing``: ``finance`` for the summary (mailbox rules match it)."""
        return "finance" if self is DeliveryKind.FINANCE_SUMMARY else self.value

    @property
    def to_client(self) -> bool:
        """Whether the client receives it (so its account manager and configured CCs do too)."""
        return self in (DeliveryKind.LIST, DeliveryKind.INVOICE, DeliveryKind.PREVIEW)
