"""What one run bills and does: the billing month, the clients, and whether it delivers or resends.

The month comes from the ``billing_month`` param when given, else from the run's data interval
(read in Asia/Dhaka, the schedule's zone), never from ``ds``/``logical_date``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime

from include.dms_billing.core.billing_month import (
    BillingMonth,
    BillingWindow,
    billing_window,
    check_policy_applies,
)
from include.dms_billing.core.config import BillingConfig

# Matched with ``fullmatch`` only: ``$`` alone would let a trailing newline through into folder names.
CLIENT_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


class RunRequestError(ValueError):
    """The run's params ask for something that cannot be billed; nothing is done."""


@dataclass(frozen=True)
class SourceClient:
    """A client as the DMS ``clients`` table describes it."""

    client_id: int
    client_code: str
    client_name: str
    correspondence_email: str
    account_manager_email: str | None
    timezone: str


@dataclass(frozen=True)
class RunIntent:
    """What the run does, decided once when it is planned: mapped tasks read it, not the run."""

    deliver: bool = False
    resend: bool = False

    @classmethod
    def of(cls, deliver: bool | None, resend: bool, run_type: str | None) -> RunIntent:
        """The ``deliver`` param if set; otherwise scheduled runs deliver, manual and backfill runs don't."""
        return cls(deliver if deliver is not None else run_type == "scheduled", bool(resend))


@dataclass(frozen=True)
class RunFacts:
    """What holds for every client of a run, decided once when it is planned and passed to each
    task beside its batch (``to_dict``), never copied into each client's job."""

    month: BillingMonth
    intent: RunIntent = RunIntent()

    def to_dict(self) -> dict:
        return {"billing_month": str(self.month), "intent": asdict(self.intent)}

    @classmethod
    def from_dict(cls, data: dict) -> RunFacts:
        return cls(BillingMonth.parse(data["billing_month"]), RunIntent(**data["intent"]))


@dataclass(frozen=True)
class ClientJob:
    """One client's share of a run: the client as the documents show it, with the run's facts."""

    client_id: int
    client_code: str
    client_name: str
    timezone: str
    month: BillingMonth
    correspondence_email: str
    account_manager_email: str | None
    intent: RunIntent = RunIntent()

    @classmethod
    def of(cls, client: SourceClient, month: BillingMonth, intent: RunIntent, config: BillingConfig) -> ClientJob:
        """The job's ``client_name`` is the name every document shows (``BillingConfig.client_name``)."""
        return cls(client.client_id, client.client_code, config.client_name(client.client_code, client.client_name),
                   client.timezone, month, client.correspondence_email, client.account_manager_email, intent)

    @property
    def billing_month(self) -> str:
        """The month as paths, the ledger and the documents spell it (``YYYY-MM``)."""
        return str(self.month)

    @property
    def run(self) -> RunFacts:
        return RunFacts(self.month, self.intent)

    def window(self) -> BillingWindow:
        return billing_window(self.month, self.timezone)

    def client_dict(self) -> dict:
        """The client's own values, JSON-able: a batch carries these, the run's facts travel once."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _RUN_FIELDS}

    def to_dict(self) -> dict:
        """The job alone (a preview's mapped task): the client's values and the run's facts."""
        return {**self.client_dict(), **self.run.to_dict()}

    @classmethod
    def from_dict(cls, data: dict, run: RunFacts | None = None) -> ClientJob:
        """From :meth:`client_dict` and the run's facts, or from :meth:`to_dict` alone."""
        run = run or RunFacts.from_dict(data)
        client = {key: value for key, value in data.items() if key not in ("billing_month", "intent")}
        return cls(**client, month=run.month, intent=run.intent)


_RUN_FIELDS = ("month", "intent")


def resolve_billing_month(param: str | None, data_interval_start: datetime | None) -> BillingMonth:
    """The month to bill: the param if set, else the data interval's month; policy checked."""
    if param:
        month = BillingMonth.parse(param)
    elif data_interval_start is not None:
        month = BillingMonth.containing(data_interval_start)
    else:
        raise RunRequestError("no billing_month param and no data interval: cannot tell which month to bill")
    check_policy_applies(month)
    return month


BACKFILL_HOW = (
    "a backfill bills each run's own month: a billing_month in its conf would make every run of the "
    "backfill bill that one month, so it is refused. Backfill by dates instead; each run bills the month "
    "its data interval covers (runs start at 00:00 Asia/Dhaka on the 1st of a month). From the CLI:\n"
    "  airflow backfill create --dag-id dms_monthly_billing "
    "--from-date 2023-05-01T00:00:00+06:00 --to-date 2023-07-01T00:00:00+06:00\n"
    "bills May, June and July 2023 (the dates are the 1sts of the first and last month, 00:00 in Dhaka; "
    "a plain 2023-05-01 means 00:00 UTC, after May's start, and would leave May out). "
    "In the UI: the DAG's Backfill dialog (Trigger, then Backfill) with the same first and last dates. "
    "clients and deliver may still be given in the conf. "
    "One month by hand: trigger a run with billing_month."
)


def check_backfill_conf(param: str | None, run_type: str | None) -> None:
    """A backfill run may not name a billing month (every run of the backfill would bill it)."""
    if run_type == "backfill" and param:
        raise RunRequestError(f"billing_month {param!r} refused: {BACKFILL_HOW}")


def requested_codes(param: Iterable[str] | str | None) -> list[str]:
    """Client codes asked for (empty = all); anything that is not a plain code is refused."""
    if param is None or param == "":
        return []
    codes = [param] if isinstance(param, str) else list(param)
    bad = [c for c in codes if not isinstance(c, str) or not CLIENT_CODE_RE.fullmatch(c)]
    if bad:
        raise RunRequestError(f"invalid client codes (letters, digits, '-' and '_' only): {bad!r}")
    return sorted(set(codes))


def select_clients(
    clients: Sequence[SourceClient], codes: Sequence[str], error: type[ValueError] = RunRequestError
) -> list[SourceClient]:
    """The requested clients (all when no codes) by code; every requested code must exist in the DMS."""
    known = {c.client_code for c in clients}
    unknown = sorted(set(codes) - known)
    if unknown:
        raise error(f"unknown client codes: {unknown} (known: {sorted(known)})")
    return sorted((c for c in clients if not codes or c.client_code in codes), key=lambda c: c.client_code)


def plan_clients(
    clients: Sequence[SourceClient], codes: Sequence[str], month: BillingMonth, config: BillingConfig,
    intent: RunIntent = RunIntent(),
) -> list[ClientJob]:
    """One job per client to bill."""
    return [ClientJob.of(c, month, intent, config) for c in select_clients(clients, codes)]
