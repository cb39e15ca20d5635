"""The billing configuration (``DMS_BILLING_CONFIG``, default ``include/config/billing.yaml``).

Validated on load with pydantic; an error names the bad key by its path, e.g.
``clients.MEGHNA.plan.prices.0.unit_price: Input should be a valid decimal``.
Per-client settings fall back to ``defaults`` key by key.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, ValidationError, model_validator

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.money import minor_units
from include.dms_billing.core.parties import Bin, IssuerConfig, Text
from include.dms_billing.core.parties import Strict as _Strict

CONFIG_ENV = "DMS_BILLING_CONFIG"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "billing.yaml"

ACTIVE = "active"
INACTIVE = "inactive"


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message names every bad key."""


# ``YYYY-MM`` in the file, a BillingMonth from here on (parsed once, when the configuration loads).
Month = Annotated[BillingMonth, BeforeValidator(BillingMonth.parse), PlainSerializer(str)]


def _known_currency(code: str) -> str:
    minor_units(code)  # refuses a code whose decimals we cannot know
    return code


Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]




class StatusMap(_Strict):
    """Which raw ``users.status`` values mean active and which mean not active."""

    active: tuple[str, ...] = (ACTIVE,)
    inactive: tuple[str, ...] = (INACTIVE,)

    @model_validator(mode="after")
    def _disjoint(self) -> StatusMap:
        both = set(self.active) & set(self.inactive)
        if both:
            raise ValueError(f"status values mapped both active and inactive: {sorted(both)}")
        return self

    def lookup(self) -> dict[str, str]:
        """Raw value -> ``active`` / ``inactive``."""
        return {**{v: INACTIVE for v in self.inactive}, **{v: ACTIVE for v in self.active}}


class Price(_Strict):
    from_month: Month = Field(alias="from")
    unit_price: Decimal = Field(ge=0)


# Bangladesh's standard VAT rate and the law that sets it: an invoice at this rate says so; any
# other rate prints the plan's own ``vat_basis`` (a reduced rate, a truncated base, an exemption).
STANDARD_VAT_RATE = Decimal("0.15")
STANDARD_VAT_BASIS = "standard rate, section 15 of the Value Added Tax and Supplementary Duty Act, 2012"


class Plan(_Strict):
    """What a client pays: effective-dated unit prices per billable subscription per month."""

    currency: Currency = "BDT"
    vat_rate: Decimal = Field(default=STANDARD_VAT_RATE, ge=0, le=1)
    vat_basis: Text | None = None  # why ``vat_rate`` applies, printed on the invoice beside it
    payment_terms_days: int = Field(default=15, ge=0)
    prices: tuple[Price, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _prices_in_minor_units(self) -> Plan:
        """A price finer than the currency's minor unit is refused, so that every line's amount
        (count x price) is exact and the lines per reason add up to the subscriptions amount."""
        digits = minor_units(self.currency)
        fine = [f"prices.{n}.unit_price {p.unit_price}" for n, p in enumerate(self.prices)
                if p.unit_price != p.unit_price.quantize(Decimal(1).scaleb(-digits))]
        if fine:
            raise ValueError(f"finer than {self.currency}'s minor unit ({digits} decimals): {', '.join(fine)}")
        return self

    def vat_basis_text(self) -> str:
        """What the invoice prints as the VAT rate's basis: the plan's own, else the standard
        rate's law when the rate is the standard one, else nothing."""
        if self.vat_basis:
            return self.vat_basis
        return STANDARD_VAT_BASIS if self.vat_rate == STANDARD_VAT_RATE else ""

    def unit_price(self, month: BillingMonth) -> Decimal:
        """The price in force for ``month``: the latest price whose ``from`` is not after it."""
        in_force = [p for p in self.prices if p.from_month <= month]
        if not in_force:
            raise ConfigError(f"no price in force for {month}: the earliest starts {self.prices[0].from_month}")
        return max(in_force, key=lambda p: p.from_month).unit_price


class Calendar(_Strict):
    """Working days: a country's weekend and public holidays from the ``holidays`` library,
    plus closures of our own (e.g. an office closure the library cannot know)."""

    country: str = "BD"
    extra_closures: tuple[date, ...] = ()


class RunDeadline(_Strict):
    """When the data team hears that a scheduled month's run is late: ``after_invoice_day_hours``
    after the latest invoice day any client can have that month begins (``work_calendar.run_deadline``)."""

    after_invoice_day_hours: int = Field(default=12, ge=1, le=7 * 24)


PreviewDays = Annotated[int, Field(ge=1, le=27)]


class Preview(_Strict):
    """The preview of the month's list, emailed ``days_before`` days before the month closes
    (from local midnight, in the client's timezone), so the administrator can deactivate in time."""

    enabled: bool = True
    days_before: PreviewDays = 3


class ClientPreview(_Strict):
    """A client's preview settings; a key left out falls back to ``defaults.preview``."""

    enabled: bool | None = None
    days_before: PreviewDays | None = None


class ClientConfig(_Strict):
    """A client's own settings. ``legal_name``, ``address`` and ``bin`` are printed on its tax
    invoice as the buyer (Mushak-6.3); ``legal_name``, when set, is the client's name in every
    document and email (``BillingConfig.client_name``), else the DMS ``clients.name`` is."""

    legal_name: Text | None = None
    address: tuple[Text, ...] = ()
    bin: Bin | None = None
    plan: Plan | None = None
    calendar: Calendar | None = None
    status_map: StatusMap | None = None
    preview: ClientPreview | None = None
    cc: tuple[str, ...] = ()  # extra copies of this client's emails


class Defaults(_Strict):
    calendar: Calendar = Calendar()
    status_map: StatusMap = StatusMap()
    preview: Preview = Preview()


class Objections(_Strict):
    """How long a client has to object to a month's bill: ``days_after_invoice`` calendar days
    after the invoice date, moved to the next working day if that is a day off."""

    days_after_invoice: int = Field(default=7, ge=1, le=60)


class Delivery(_Strict):
    sender: str = "Sokrio Billing <billing@sokrio.example>"
    reply_to: str = "billing@sokrio.example"
    finance: tuple[str, ...] = ("finance@sokrio.example",)
    data_team: tuple[str, ...] = ("data-team@sokrio.example",)

    def message_id_domain(self) -> str:
        """The domain of our Message-IDs: the sender's."""
        return parseaddr(self.sender)[1].rpartition("@")[2] or "billing.invalid"


class Approval(_Strict):
    """Finance's approval of a delivering run's invoices (``airflow/approval.py``).

    ``on_timeout``: what applies when nobody answers by the first invoice moment (at least
    ``min_wait_minutes`` after the request): ``approve`` (the draft is finalized, as billing
    systems do after a grace period) or ``hold`` (no invoice until someone approves by re-running).
    ``respondents``: the Airflow user ids who may answer.
    """

    enabled: bool = True
    on_timeout: Literal["approve", "hold"] = "approve"
    respondents: tuple[str, ...] = Field(default=("finance",), min_length=1)
    min_wait_minutes: int = Field(default=60, ge=0)


class BillingConfig(_Strict):
    issuer: IssuerConfig = IssuerConfig()
    delivery: Delivery = Delivery()
    approval: Approval = Approval()
    defaults: Defaults = Defaults()
    clients: dict[str, ClientConfig] = {}
    deadline: RunDeadline = RunDeadline()
    objections: Objections = Objections()

    def client(self, client_code: str) -> ClientConfig:
        """The client's own settings (all defaults for a client the configuration does not name)."""
        return self.clients.get(client_code) or ClientConfig()

    def client_name(self, client_code: str, dms_name: str) -> str:
        """The one name a client reads in every email, sheet and PDF: its configured legal name,
        else its name in the DMS. A client reading two names reads two companies."""
        return self.client(client_code).legal_name or dms_name

    def status_map(self, client_code: str) -> StatusMap:
        client = self.clients.get(client_code)
        return (client and client.status_map) or self.defaults.status_map

    def calendar(self, client_code: str) -> Calendar:
        client = self.clients.get(client_code)
        return (client and client.calendar) or self.defaults.calendar

    def calendars(self) -> list[Calendar]:
        """Every calendar a client can have: the default (any client without its own) and each client's."""
        own = [c.calendar for c in self.clients.values() if c.calendar]
        return list(dict.fromkeys([self.defaults.calendar, *own]))

    def plan(self, client_code: str) -> Plan:
        """The client's plan; a client without one cannot be invoiced (no guessing on money)."""
        client = self.clients.get(client_code)
        if client is None or client.plan is None:
            raise ConfigError(f"client {client_code} has no plan (clients.{client_code}.plan) in the configuration")
        return client.plan

    def preview(self, client_code: str) -> Preview:
        client = self.clients.get(client_code)
        own = client.preview if client and client.preview else ClientPreview()
        return self.defaults.preview.model_copy(update=own.model_dump(exclude_none=True))

    def client_cc(self, client_code: str) -> tuple[str, ...]:
        client = self.clients.get(client_code)
        return client.cc if client else ()


def _describe(error: ValidationError) -> str:
    lines = [f"  {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in error.errors()]
    return "\n".join(lines)


def parse_config(data: object, source: str = "configuration") -> BillingConfig:
    try:
        return BillingConfig.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(f"invalid billing configuration in {source}:\n{_describe(exc)}") from None


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: Path | None = None) -> BillingConfig:
    """Load and validate the YAML file at ``path`` (default: ``DMS_BILLING_CONFIG``)."""
    path = path or config_path()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read billing configuration {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"billing configuration {path} is not valid YAML: {exc}") from None
    return parse_config(data, str(path))
