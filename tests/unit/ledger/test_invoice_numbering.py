"""Invoice numbering under load: many clients issued at once, from threads on their own connections.

On a SQLite file, PostgreSQL and MariaDB (the ``engine`` fixture, conftest.py). Each call must
succeed at its first attempt (one build per invoice: a retry would build again), the numbers
must be gapless and in order, each client-month invoiced once, its adjustments applied once,
its seal written with it, and renders must overlap (no lock held while the PDF renders).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from include.dms_billing.core.invoice import ADJUSTMENT, BillTo, Invoice, InvoiceLine, build_invoice
from include.dms_billing.ledger.invoices import IssuedInvoice, find_invoice, issue_invoice
from include.dms_billing.ledger.schema import adjustments, invoices, sealed_lists
from tests.support.samples import ISSUER

MONTH = "2023-05"
CLIENTS = [f"C{i:02d}" for i in range(1, 21)]
THREADS = 8
RENDER_SECONDS = 0.1  # the real PDF render takes 0.1 to 0.5 s


class Issuing:
    """Calls ``issue_invoice`` and counts, per client, what it did: builds, renders, seals."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.builds: Counter[str] = Counter()
        self.renders: Counter[str] = Counter()
        self.seals: Counter[str] = Counter()
        self.rendering = 0
        self.most_rendering_at_once = 0
        self._count = threading.Lock()

    def build(self, code: str):
        def build(number: str, lines: list[InvoiceLine]) -> Invoice:
            self._tally(self.builds, code)
            bill_to = BillTo(code, f"{code} Ltd", f"b@{code}.example")
            return build_invoice(
                invoice_number=number, issuer=ISSUER, bill_to=bill_to, billing_month=MONTH,
                invoice_date=date(2023, 6, 1), due_date=date(2023, 6, 16), currency="BDT", billable_count=10,
                unit_price=Decimal("150.00"), vat_rate=Decimal("0.15"), adjustments=lines)

        return build

    def _tally(self, counter: Counter[str], code: str) -> None:
        with self._count:
            counter[code] += 1

    def render(self, invoice: Invoice) -> tuple[str, bytes]:
        self._tally(self.renders, invoice.bill_to.client_code)
        with self._count:
            self.rendering += 1
            self.most_rendering_at_once = max(self.most_rendering_at_once, self.rendering)
        time.sleep(RENDER_SECONDS)
        with self._count:
            self.rendering -= 1
        return f"<p>{invoice.invoice_number}</p>", f"%PDF {invoice.invoice_number} {time.time_ns()}".encode()

    def seal(self, conn: sa.Connection, invoice: Invoice) -> None:
        code = invoice.bill_to.client_code
        self._tally(self.seals, code)
        conn.execute(sealed_lists.insert().values(
            client_code=code, billing_month=MONTH, csv_sha256="c" * 64, parquet_sha256="p" * 64, row_count=10,
            sealed_because="invoice", invoice_number=invoice.invoice_number,
            sealed_at=datetime.now(timezone.utc), sealed_by_run="run"))

    def issue(self, code: str) -> IssuedInvoice:
        return issue_invoice(self.engine, client_code=code, billing_month=MONTH, prefix="SKR",
                             build=self.build(code), render=self.render, run_id="run", on_issue=self.seal)

    def all_at_once(self, codes: list[str]) -> list[IssuedInvoice]:
        """Every call of ``codes`` from ``THREADS`` threads, let go at the same moment."""
        start = threading.Event()

        def issue(code: str) -> IssuedInvoice:
            start.wait(timeout=60)
            return self.issue(code)

        with ThreadPoolExecutor(THREADS) as pool:
            calls = [pool.submit(issue, code) for code in codes]
            start.set()
            return [call.result(timeout=120) for call in calls]


def _credit(engine: sa.Engine, code: str) -> None:
    with engine.begin() as conn:
        conn.execute(adjustments.insert().values(
            client_code=code, objection_id=None, after_month="2023-04", description=f"credit for {code}",
            quantity=1, unit_price=Decimal("-100.00"), amount=Decimal("-100.00"), applied_invoice_number=None,
            created_at=datetime.now(timezone.utc)))


def _rows(engine: sa.Engine, table: sa.Table, *columns: str) -> list[tuple]:
    with engine.connect() as conn:
        query = sa.select(*(table.c[c] for c in columns)).order_by(columns[0])
        return [tuple(row) for row in conn.execute(query)]


def test_invoices_issued_at_once_are_numbered_in_one_go_without_gaps(engine: sa.Engine) -> None:
    credited = CLIENTS[::4]
    for code in credited:
        _credit(engine, code)
    issuing = Issuing(engine)
    began = time.perf_counter()
    issued = issuing.all_at_once(CLIENTS)
    took = time.perf_counter() - began

    assert all(i.newly_issued for i in issued)
    assert issuing.builds == Counter(CLIENTS) == issuing.renders == issuing.seals  # each once: no retry
    assert issuing.most_rendering_at_once > 1  # renders overlap: no lock is held while one renders
    numbers = _rows(engine, invoices, "sequence", "invoice_number", "client_code", "pdf")
    assert [(s, n) for s, n, _, _ in numbers] == [(s, f"SKR-{s:06d}") for s in range(1, len(CLIENTS) + 1)]
    assert sorted(code for _, _, code, _ in numbers) == CLIENTS
    by_client = {i.invoice.bill_to.client_code: i for i in issued}
    assert {code: pdf for _, _, code, pdf in numbers} == {code: i.pdf for code, i in by_client.items()}
    assert _rows(engine, sealed_lists, "client_code", "invoice_number") == [
        (code, by_client[code].invoice.invoice_number) for code in CLIENTS]
    assert _rows(engine, adjustments, "client_code", "applied_invoice_number") == [
        (code, by_client[code].invoice.invoice_number) for code in credited]
    for code, one in by_client.items():
        assert [line.kind for line in one.invoice.lines].count(ADJUSTMENT) == (code in credited)
    print(f"\n{engine.dialect.name}: {len(CLIENTS)} invoices from {THREADS} threads in {took:.2f} s")


@pytest.mark.parametrize("calls", [2, THREADS])
def test_calls_at_once_for_the_same_client_month_get_the_one_invoice(engine: sa.Engine, calls: int) -> None:
    _credit(engine, "C01")
    issuing = Issuing(engine)
    issued = issuing.all_at_once(["C01"] * calls)

    first = issued[0]
    assert all((i.invoice, i.html, i.pdf) == (first.invoice, first.html, first.pdf) for i in issued)
    assert [i.newly_issued for i in issued].count(True) == 1
    assert issuing.builds == issuing.seals == Counter({"C01": 1})
    assert _rows(engine, invoices, "invoice_number", "pdf") == [("SKR-000001", first.pdf)]
    assert _rows(engine, adjustments, "applied_invoice_number") == [("SKR-000001",)]


class BrokenRenderer(Issuing):
    def render(self, invoice: Invoice) -> tuple[str, bytes]:
        raise OSError("the renderer died")


def test_an_invoice_whose_render_failed_keeps_its_number_and_the_retry_renders_it(engine: sa.Engine) -> None:
    issuing = Issuing(engine)
    failing = BrokenRenderer(engine)

    with pytest.raises(OSError):
        failing.issue("C01")
    with engine.connect() as conn:
        assert find_invoice(conn, "C01", MONTH) is None  # numbered and sealed, not yet deliverable
    later = issuing.issue("C02")
    retried = issuing.issue("C01")

    assert (retried.invoice.invoice_number, later.invoice.invoice_number) == ("SKR-000001", "SKR-000002")
    assert not retried.newly_issued and failing.builds == failing.seals == Counter({"C01": 1})
    assert _rows(engine, invoices, "invoice_number", "pdf") == [
        ("SKR-000001", retried.pdf), ("SKR-000002", later.pdf)]
