"""``python -m tools.bench_billing_page``: how long the billing page of a month of many clients
takes, from the ledger and the stored outputs to the HTML (and to the JSON), in-process.

A scratch ledger (SQLite, or ``--ledger URL``) and data folder get ``--clients`` clients of one
month the way a month close leaves them: a list and its summary per client, last month's list,
a validation verdict (every 50th client failed, with its report), the list and invoice emails in
the ledger (every 20th client held by finance, so no invoice), seals, and an objection now and
then. Then the page is built ``--repeat`` times; the median and the slowest are printed. With
``--service`` the same page is also asked of Airflow's api-server (``tools/airflow_service.py``,
its metadata on the local PostgreSQL), signed in as finance: login check, rendering and transfer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.ledger.db import ledger_engine, migrate
from include.dms_billing.ledger.schema import approval_decisions, deliveries, invoices, objections, sealed_lists
from include.dms_billing.outputs.billable_list import ListSummary
from include.dms_billing.outputs.paths import VALIDATION_SUMMARY, ClientMonthPaths
from include.dms_billing.views.month_board import read_board, select_rows
from include.dms_billing.views.pages import month_page

MONTH = BillingMonth(2023, 5)
NOW = datetime(2023, 6, 4, 3, 0, tzinfo=timezone.utc)
FAILED_EVERY, HELD_EVERY = 50, 20


def _outputs(root: Path, codes: list[str]) -> None:
    for n, code in enumerate(codes):
        for month, billable in ((MONTH, 40 + n % 7), (MONTH.previous(), 38 + n % 5)):
            paths = ClientMonthPaths(root, str(month), code)
            paths.report_dir.mkdir(parents=True, exist_ok=True)
            failed = month == MONTH and n % FAILED_EVERY == 0
            verdict = {"success": not failed, "failures": [{"expectation": "statuses mapped"}] if failed else []}
            (paths.report_dir / VALIDATION_SUMMARY).write_text(json.dumps(verdict))
            if failed:
                continue
            paths.summary.parent.mkdir(parents=True, exist_ok=True)
            summary = ListSummary(code, str(month), billable + 10, billable,
                                  {"active": billable - 3, "inactive_recent_login": 3}, 0,
                                  str(paths.billable_parquet), str(paths.billable_csv), "r", f"{code} Ltd",
                                  "Asia/Dhaka")
            paths.summary.write_text(summary.to_json())


def _ledger(engine: sa.Engine, codes: list[str]) -> None:
    month, rows = str(MONTH), {"invoices": [], "deliveries": [], "seals": [], "objections": []}
    held = [code for n, code in enumerate(codes) if n % HELD_EVERY == 1]
    for n, code in enumerate(codes):
        if n % FAILED_EVERY == 0:
            continue
        sent = {"client_code": code, "billing_month": month, "attempt": 0, "reason": "first",
                "recipients": f"billing@{code.lower()}.example", "state": "sent", "run_id": "bench",
                "claimed_at": NOW, "sent_at": NOW}
        rows["deliveries"].append({**sent, "kind": "list", "message_id": f"<list.{code}@bench>"})
        rows["seals"].append({"client_code": code, "billing_month": month, "csv_sha256": "0" * 64,
                              "parquet_sha256": "0" * 64, "row_count": 40, "sealed_because": "list_sent",
                              "sealed_at": NOW, "sealed_by_run": "bench"})
        if code in held:
            continue
        number, total = f"SOK-2023-{n:05d}", Decimal("6900.00") + n
        rows["invoices"].append({
            "issuer": "SOK", "sequence": n, "invoice_number": number, "client_code": code, "billing_month": month,
            "invoice_date": date(2023, 6, 4), "due_date": date(2023, 6, 19), "currency": "BDT", "billable_count": 40,
            "unit_price": Decimal("150.00"), "vat_rate": Decimal("0.15"), "subscriptions_amount": total,
            "adjustments_amount": Decimal(0), "subtotal": total, "vat_amount": Decimal(0), "total": total,
            "document": "{}", "issued_at": NOW, "issued_by_run": "bench"})
        rows["deliveries"].append({**sent, "kind": "invoice", "message_id": f"<invoice.{code}@bench>"})
        if n % 97 == 0:
            rows["objections"].append({"client_code": code, "billing_month": month, "invoice_number": number,
                                       "direction": "credit", "user_count": 2, "unit_price": Decimal("150.00"),
                                       "reason": "bench", "decided_by": "finance", "recorded_at": NOW,
                                       "recorded_by_run": "bench"})
    with engine.begin() as conn:
        for table, key in ((invoices, "invoices"), (deliveries, "deliveries"), (sealed_lists, "seals"),
                           (objections, "objections")):
            if rows[key]:
                conn.execute(table.insert(), rows[key])
        conn.execute(approval_decisions.insert().values(run_id="bench", billing_month=month, held=json.dumps(held),
                                                        decided_by="finance", asked=True, decided_at=NOW))


def _through_service(scratch: Path, ledger_url: str, repeat: int) -> list[float]:
    import httpx

    from tests.support.servers import POSTGRES_URL, scratch_database
    from tools.airflow_service import AirflowService, free_port

    env = {"AIRFLOW_CONN_BILLING_DB": ledger_url, "DMS_BILLING_DATA": str(scratch / "data")}
    with scratch_database(POSTGRES_URL) as metadata, \
            AirflowService(scratch / "airflow", metadata.render_as_string(hide_password=False), env,
                           free_port()) as service:
        headers = {"Authorization": f"Bearer {service.token('finance')}"}
        url = f"{service.url}/billing/?month={MONTH}"
        httpx.get(url, headers=headers, timeout=60).raise_for_status()  # the app's first import
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            httpx.get(url, headers=headers, timeout=60).raise_for_status()
            times.append(time.perf_counter() - started)
    return times


def measure(clients: int, repeat: int, ledger_url: str | None, service: bool = False) -> dict[str, float]:
    codes = [f"C{n:05d}" for n in range(clients)]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "data"
        ledger_url = ledger_url or f"sqlite:///{scratch}/ledger.sqlite"
        engine = ledger_engine(ledger_url)
        migrate(engine)
        _ledger(engine, codes)
        _outputs(root, codes)
        page, data = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            board = read_board(engine, root, MONTH)
            html = month_page(board, select_rows(board.rows), state=None, sort="client", descending=False,
                              base="", action="")
            page.append(time.perf_counter() - started)
            started = time.perf_counter()
            json.dumps(read_board(engine, root, MONTH).to_data())
            data.append(time.perf_counter() - started)
        assert len(board.rows) == clients and html.count("<tr data-client") == clients
        engine.dispose()
        served = _through_service(Path(scratch), ledger_url, repeat) if service else [float("nan")]
    return {"page_median": statistics.median(page), "page_max": max(page), "json_median": statistics.median(data),
            "json_max": max(data), "bytes": len(html), "served_median": statistics.median(served),
            "served_max": max(served)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ledger", help="a SQLAlchemy URL of an empty database (default: SQLite in a scratch folder)")
    parser.add_argument("--service", action="store_true", help="also through Airflow's api-server, signed in")
    args = parser.parse_args(argv)
    found = measure(args.clients, args.repeat, args.ledger, args.service)
    print("| clients | page: median (s) | page: slowest (s) | JSON: median (s) | page size (KB) "
          "| through the api-server: median (s) | slowest (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.clients:,} | {found['page_median']:.2f} | {found['page_max']:.2f} | {found['json_median']:.2f} "
          f"| {found['bytes'] / 1024:.0f} | {found['served_median']:.2f} | {found['served_max']:.2f} |")


if __name__ == "__main__":
    main()
