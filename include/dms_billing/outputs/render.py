"""Rendering people's documents: one Jinja2 environment over ``include/templates/``, the
invoice as HTML and as PDF.

HTML templates (``*.html.j2``) are autoescaped because client and user names come from the
DMS; text templates (``*.txt.j2``) are not, since they are plain email bodies. A missing
variable is an error, never an empty string on an invoice.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.invoice import Invoice, month_name
from include.dms_billing.core.list_terms import objection_reference
from include.dms_billing.core.tax_lines import SUPPLEMENTARY_DUTY_RATE, taxed_lines
from include.dms_billing.core.money import amount_in_words, format_amount, format_money

if TYPE_CHECKING:
    from weasyprint.text.fonts import FontConfiguration

TEMPLATES = Path(__file__).parents[2] / "templates"


def long_date(day: date) -> str:
    """``2023-06-01`` -> ``1 June 2023``: unambiguous for readers on either side of the Atlantic."""
    return f"{day.day} {day:%B %Y}"


def percent(rate: Decimal) -> str:
    """``0.15`` -> ``15%``, ``0.075`` -> ``7.5%``: the VAT rate as printed on the invoice."""
    return f"{(rate * 100).normalize():f}%"


def zone_name(timezone: str) -> str:
    """``Asia/Dhaka`` -> ``Bangladesh time``: a client's zone as its people say it (CLDR's
    location names, through babel); a zone with no country (``UTC``) keeps its own name."""
    from babel.dates import get_timezone_location

    location = get_timezone_location(timezone, locale="en").removesuffix(" Time")
    return timezone if location.startswith("Unknown Region") else f"{location} time"


def clock(moment: datetime, timezone: str) -> str:
    """``10:05 (UTC+06:00)``: the moment's time of day in ``timezone``, with its offset."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%H:%M} (UTC{local.isoformat(timespec='minutes')[-6:]})"


def local_day(moment: datetime, timezone: str) -> date:
    """The moment's calendar day in ``timezone``."""
    return moment.astimezone(ZoneInfo(timezone)).date()


@cache
def environment() -> Environment:
    """The one environment, built on first use (the DAG parser never pays for it)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # ".html.j2" must win over ".txt.j2": select_autoescape matches name endings.
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(money=format_money, amount=format_amount, month=month_name, long_date=long_date, percent=percent,
                       zone=zone_name, clock=clock, local_day=local_day, in_words=amount_in_words)
    return env


def render_template(name: str, **context: object) -> str:
    """Render one of the project's templates; emails and the invoice all go through here."""
    return environment().get_template(name).render(**context)


def list_date(billing_month: str) -> date:
    """When the month's list is sent: the 1st calendar day of the next month (contract 3)."""
    return BillingMonth.parse(billing_month).next().first_day


def invoice_context(invoice: Invoice) -> dict[str, object]:
    """What the invoice's templates (the document and the email's text) are given besides the invoice."""
    return {
        "invoice": invoice,
        "lines": taxed_lines(invoice),
        "sd_rate": SUPPLEMENTARY_DUTY_RATE,
        "list_date": list_date(invoice.billing_month),
        "reference": objection_reference(invoice.bill_to.client_code, invoice.billing_month),
    }


def render_invoice_html(invoice: Invoice, *, chart: str | None = None, chart_alt: str | None = None) -> str:
    """The printable A4 invoice (Mushak-6.3's fields); the same HTML is the invoice email's body.
    ``chart``: the client's history chart as a ``data:image/png;base64,`` URI (``charts.data_uri``),
    shown near the end, or none; ``chart_alt``, required with it, its text alternative
    (``chart_text.client_chart_alt``): the image's alt, the tagged PDF's figure text."""
    if chart is not None and not chart.startswith("data:image/png;base64,"):
        raise ValueError("the invoice's chart must be a data: URI of a PNG: nothing is fetched")
    if chart is not None and not chart_alt:
        raise ValueError("the invoice's chart needs its text alternative")
    return render_template("invoice.html.j2", **invoice_context(invoice), chart=chart, chart_alt=chart_alt)


def render_invoice_pdf(invoice_html: str) -> bytes:
    """The invoice HTML as PDF."""
    return render_pdf(invoice_html)


def render_pdf(html: str) -> bytes:
    """Self-contained HTML (the invoice, the billing FAQ) as a tagged PDF (PDF/UA-1: structure,
    the ``<title>`` and ``lang`` of the HTML, images' alt text), set in our own fonts
    (``outputs/fonts.py``).

    Nothing is fetched: the HTML is self-contained by design, and a renderer that follows URLs
    found in client data would be a way into our network. Only ``data:`` URIs are read (the
    chart, embedded in the HTML itself)."""
    import weasyprint  # slow to import; only the tasks that render PDFs need it

    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=("data",))
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(
        font_config=_font_config(), pdf_variant="pdf/ua-1")


@cache
def _font_config() -> FontConfiguration:
    """One font configuration for every PDF a process renders (a run renders all its invoices and
    FAQs in one when tested), our fonts read once into it: WeasyPrint would build one per
    document, 15% of an invoice's PDF time."""
    from include.dms_billing.outputs.fonts import font_configuration

    return font_configuration()
