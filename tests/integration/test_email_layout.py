"""Emails laid out as people read them, in headless Chromium (Debian's ``chromium`` and
``chromium-driver``; skips without them, fails in CI):

- finance's summary table fits a 1,000 px window, *Due date* included, whether the reader's
  mail client sets it in DejaVu Sans (a common Linux fallback, wider than most) or in Noto Sans;
- the list email has nothing to scroll sideways on a phone (375 px).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from include.dms_billing.mail.messages import finance_email, list_email
from include.dms_billing.outputs.fonts import font_face_css
from tests.support.samples import make_billed, make_invoice, make_terms
from tests.support.servers import in_ci
from tests.unit.mail.test_messages import ENVELOPE, summary_of
from tools import ui_screenshots

# The reader's font: forced on every element, as a mail client's own font would be.
FACES = {
    "DejaVu Sans": "",
    "Sokrio Noto Sans": f"<style>{font_face_css()}</style>",  # the Noto we ship
}
# True when the page's text is set in the face: a face the browser lacks falls back to monospace.
IN_FACE = """
const face = arguments[0], probe = document.createElement('canvas').getContext('2d'), text = 'Invoice 0123456789';
probe.font = `12px '${face}', monospace`; const wide = probe.measureText(text).width;
probe.font = '12px monospace'; return wide !== probe.measureText(text).width;
"""
LONG_NAMES = ("Jamuna Consumer Products Ltd", "মেঘনা ফুডস লিমিটেড", "Karnaphuli Traders Ltd",
              "Padma Distribution and Logistics (Rajshahi Division) Ltd")


@pytest.fixture(scope="module")
def driver():
    if reason := ui_screenshots.missing():
        if in_ci():
            pytest.fail(f"CI=true, so the layout check must run: {reason}")
        pytest.skip(reason)
    with ui_screenshots.browser() as browser:
        yield browser


def _open(driver, tmp_path: Path, html: str, face: str, width: int) -> None:
    forced = f"{FACES[face]}<style>* {{ font-family: '{face}' !important; }}</style>"
    page = tmp_path / f"{face.replace(' ', '_')}_{width}.html"
    page.write_text(html.replace("</head>", f"{forced}</head>", 1), encoding="utf-8")
    driver.set_window_size(width, 900)
    driver.get(page.as_uri())
    driver.execute_async_script("document.fonts.load(`12px '${arguments[0]}'`).then(arguments[1])", face)
    assert driver.execute_script(IN_FACE, face), f"{face} is not available to the browser"


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


@pytest.mark.parametrize("face", list(FACES))
def test_the_finance_table_fits_1000_px_with_its_due_dates(driver, tmp_path: Path, face: str) -> None:
    """A month of 40 invoices with long names and seven-figure totals (the widest numbers a
    client's month gives) in a 1,000 px window: no horizontal scrolling, every due date seen."""
    invoices = [
        replace(make_invoice(client_name=LONG_NAMES[n % len(LONG_NAMES)], number=f"SKR-{n:06d}"),
                billable_count=52_000, total=Decimal("8970000.00"), subtotal=Decimal("7800000.00"))
        for n in range(1, 41)
    ]
    _open(driver, tmp_path, _html(finance_email(ENVELOPE, "2023-05", invoices)), face, 1000)
    visible = driver.execute_script("return document.documentElement.clientWidth")
    table = driver.execute_script("return document.querySelector('table').getBoundingClientRect().right")
    due = driver.execute_script(
        "return [...document.querySelectorAll('th')].find(th => th.textContent.trim() === 'Due date')"
        ".getBoundingClientRect().right")
    scrolled = driver.execute_script("return document.documentElement.scrollWidth")
    assert table <= 1000 and due <= visible and scrolled <= visible, (table, due, scrolled, visible)


@pytest.mark.parametrize("face", list(FACES))
def test_the_list_email_reads_on_a_phone(driver, tmp_path: Path, face: str) -> None:
    billed = make_billed()
    message = list_email(ENVELOPE, LONG_NAMES[3], "MEGHNA", "2023-05", summary_of(billed, "2023-05"), billed,
                         terms=make_terms(billed))
    _open(driver, tmp_path, _html(message), face, 375)
    visible = driver.execute_script("return document.documentElement.clientWidth")
    scrolled = driver.execute_script("return document.documentElement.scrollWidth")
    assert scrolled <= visible, f"the list email is {scrolled} px wide on a {visible} px phone"
