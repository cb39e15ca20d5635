"""``python -m tools.bench_parts``: each part of delivering a large client's list email, and of
rendering one invoice, timed alone in one process, with the real functions from ``include/``.

``make bench`` measures whole stages over a whole month; this measures the parts inside one
delivery, so that a change to one of them can be judged in seconds. The list is synthetic but
shaped like a real one (read back from Parquet, so the dtypes are those the delivery step
sees): Bengali and Latin full names, usernames, aware local times (some missing), and a few
hostile values (formulas, numbers, links). The SMTP server is aiosmtpd on loopback, accepting
and discarding, so only our side of the conversation is timed.

``--profile PART`` prints where one part spends its time (pyinstrument if installed, else
cProfile). Speed is reported here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import io
import logging
import multiprocessing
import os
import random
import socket
import statistics
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from include.dms_billing.core.columns import BILLABLE_COLUMNS, CHANGE_NEW, CHANGE_UNCHANGED
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.invoice import BillTo, Invoice, Issuer, build_invoice
from include.dms_billing.core.list_terms import list_terms
from include.dms_billing.mail.headers import Envelope
from include.dms_billing.outputs.billable_list import ListSummary
from include.dms_billing.outputs.list_changes import ChangedUser, ListChanges

MONTH, CODE, TZ = "2023-11", "MEGHNA", "Asia/Dhaka"
HOSTILE = ('=HYPERLINK("http://x")', "+8801712345678", "-karim", "@manager", "https://example.com", "00123")
ENVELOPE = Envelope(sender="Sokrio Billing <billing@sokrio.example>", reply_to="billing@sokrio.example",
                    to=("billing@meghna-foods.example",), cc=("farhana.akter@sokrio.example",),
                    message_id="<list.MEGHNA.2023-11.0@billing.sokrio.example>")


def _names(rng: random.Random) -> tuple[list[str], list[str]]:
    """Pools of Latin-script and Bengali-script full names (Faker, as the demo DMS makes them)."""
    from faker import Faker

    latin, bengali = Faker("en_IN"), Faker("bn_BD")
    latin.seed_instance(rng.random())
    bengali.seed_instance(rng.random())
    return ([f"{latin.first_name()} {latin.last_name()}" for _ in range(2_000)],
            [bengali.name() for _ in range(500)])


def synthetic_list(rows: int, seed: int = 7) -> pd.DataFrame:
    """A billable list of ``rows`` users as the delivery step reads it (Parquet, local times)."""
    rng = random.Random(seed)
    latin, bengali = _names(rng)
    roles = ["SR"] * 55 + ["DSR"] * 25 + ["Distributor"] * 8 + ["Supervisor"] * 8 + ["Admin"] * 4
    month_start = pd.Timestamp("2023-11-01", tz="UTC").value // 1000
    names, logins, set_at = [], [], []
    for _ in range(rows):
        names.append(rng.choice(bengali) if rng.random() < 0.12 else rng.choice(latin))
        logins.append(None if rng.random() < 0.05 else month_start - rng.randrange(0, 90 * 86_400_000_000))
        set_at.append(None if rng.random() < 0.1 else month_start - rng.randrange(0, 900 * 86_400_000_000))
    for k, value in enumerate(HOSTILE[:rows]):  # spread through the list
        names[k * (rows // len(HOSTILE))] = value
    ids = list(range(500_001, 500_001 + rows))
    active = [rng.random() < 0.8 for _ in range(rows)]
    table = pa.table({
        "client_code": [CODE] * rows,
        "billing_month": [MONTH] * rows,
        "user_id": pa.array(ids, pa.int64()),
        "username": [f"{name.lower().replace(' ', '.')}.{uid}" for name, uid in zip(names, ids)],
        "full_name": names,
        "role": [rng.choice(roles) for _ in range(rows)],
        "status_at_month_end": ["active" if a else "inactive" for a in active],
        "billable_reason": ["active" if a else "inactive_recent_login" for a in active],
        "last_login_at": pa.array(logins, pa.timestamp("us", tz="UTC")),
        "logins_in_month": pa.array([rng.randrange(0, 120) for _ in range(rows)], pa.int64()),
        "status_source": [rng.choice(("history", "history", "current", "deleted")) for _ in range(rows)],
        "status_set_at": pa.array(set_at, pa.timestamp("us", tz="UTC")),
        "change_since_last_month": [CHANGE_NEW if rng.random() < 0.04 else CHANGE_UNCHANGED
                                    for _ in range(rows)],
    })
    buffer = io.BytesIO()
    pq.write_table(table.select(BILLABLE_COLUMNS), buffer)
    billed = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    for column in ("last_login_at", "status_set_at"):  # as delivery_steps._list_message does
        billed[column] = billed[column].dt.tz_convert(TZ)
    return billed


def synthetic_changes(billed: pd.DataFrame, left: int = 1_500) -> ListChanges:
    """The users marked new, and ``left`` users who left, as ``compare_with_previous`` gives them."""
    new = billed[billed["change_since_last_month"] == CHANGE_NEW]
    newly = [ChangedUser(int(r.user_id), r.username, r.full_name, r.billable_reason)
             for r in new.itertuples(index=False)]
    gone = [ChangedUser(900_000 + i, f"gone.{i}", f"Gone User {i}",
                        "inactive since 2023-10-03T10:00:00+06:00; no login in the month", "active")
            for i in range(left)]
    return ListChanges(MONTH, "2023-10", len(billed) - len(newly) + left, len(billed), newly, gone)


def summary_of(billed: pd.DataFrame) -> ListSummary:
    counts = billed["billable_reason"].value_counts()
    by_reason = {reason: int(count) for reason, count in counts.items()}
    return ListSummary(CODE, MONTH, len(billed), len(billed), by_reason, 0,
                       "billable_users.parquet", "billable_users.csv", "validation.json")


def sample_invoice() -> Invoice:
    issuer = Issuer("Sokrio Technologies Ltd", ("House 12, Road 5, Gulshan 1", "Dhaka 1212, Bangladesh"),
                    "billing@sokrio.example", "000123456-0101", "SKR")
    return build_invoice(invoice_number="SKR-000001", issuer=issuer,
                         bill_to=BillTo(CODE, "মেঘনা ফুডস লিমিটেড", "accounts@meghna.example"),
                         billing_month=MONTH, invoice_date=date(2023, 12, 3), due_date=date(2023, 12, 18),
                         currency="BDT", billable_count=50_000, unit_price=Decimal("150.00"),
                         vat_rate=Decimal("0.15"), adjustments=())


def parts(rows: int) -> dict[str, Callable[[], object]]:
    """Each part, named, ready to call; later parts reuse what earlier ones built."""
    from include.dms_billing.mail.messages import list_email
    from include.dms_billing.outputs.billable_list import to_csv_bytes
    from include.dms_billing.outputs.render import render_invoice_html, render_invoice_pdf
    from include.dms_billing.outputs.spreadsheets import Workbook, changes_sheet, list_xlsx_bytes

    for noisy in ("weasyprint", "fontTools"):  # a glyph warning per Bengali letter where no Bengali font is
        logging.getLogger(noisy).setLevel(logging.ERROR)
    billed, invoice = synthetic_list(rows), sample_invoice()
    changes, summary = synthetic_changes(billed), summary_of(billed)
    plan = {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}
    terms = list_terms(CODE, MONTH, summary.by_reason, parse_config({"clients": {CODE: plan}}))
    built: dict[str, object] = {}

    def changes_only() -> bytes:
        workbook = Workbook()
        changes_sheet(workbook, changes)
        return workbook.to_bytes()

    def message() -> object:
        built["message"] = list_email(ENVELOPE, "Meghna Foods Ltd", CODE, MONTH, summary, billed, changes,
                                       terms=terms)
        return built["message"]

    def invoice_html() -> str:
        built["html"] = render_invoice_html(invoice)
        return built["html"]

    return {
        "CSV bytes (UTF-8 with a BOM)": lambda: to_csv_bytes(billed),
        "XLSX bytes (Summary, list and Changes sheets)": lambda: list_xlsx_bytes(billed, f"{CODE} {MONTH}", changes,
                                                                          terms=terms, client_name="Meghna Foods Ltd"),
        "Changes sheet alone": changes_only,
        "list email built (CSV, XLSX, MIME)": message,
        "as_bytes": lambda: built["message"].as_bytes(),
        "SMTP send to loopback": lambda: smtp_send(built["message"]),
        "invoice HTML": invoice_html,
        "invoice PDF (WeasyPrint)": lambda: render_invoice_pdf(built["html"]),
    }


def _discarding_server(port: int) -> None:
    """aiosmtpd on loopback, accepting and discarding; in a process of its own, as a real
    server would be, so that its parsing is not timed as ours."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
            return "250 accepted"

    Controller(Discard(), hostname="127.0.0.1", port=port).start()
    time.sleep(3600)


def start_server() -> multiprocessing.Process:
    """The discarding server on a free loopback port, named by the ``bench_smtp`` connection."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spawn = multiprocessing.get_context("spawn")
    server = spawn.Process(target=_discarding_server, args=(port,), daemon=True)
    server.start()
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    os.environ["AIRFLOW_CONN_BENCH_SMTP"] = f"smtp://127.0.0.1:{port}?disable_tls=true&disable_ssl=true"
    return server


def smtp_send(message: object) -> None:
    """Through the task's own ``send_message`` and the Airflow SMTP hook."""
    from include.dms_billing.airflow.smtp import send_message

    send_message(message, conn_id="bench_smtp")


def measure(part: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each call; CPU time is steadier on a machine shared with others."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        part()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def profile(part: Callable[[], object]) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(part)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        return
    profiler = Profiler()
    with profiler:
        part()
    print(profiler.output_text(unicode=True, color=False))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", metavar="PART", help="profile the part whose name starts with this")
    args = parser.parse_args(argv)
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # Airflow's SMTP hook logs at INFO
    started = time.perf_counter()
    server = start_server()
    try:
        named = parts(args.rows)
        print(f"{args.rows:,}-row list and one invoice made in {time.perf_counter() - started:.1f} s")
        if args.profile:
            chosen = next(name for name in named if name.lower().startswith(args.profile.lower()))
            for name in list(named)[:list(named).index(chosen)]:
                named[name]()  # what the profiled part builds on
            profile(named[chosen])
            return
        print(f"\n| part | first call (s) | best of {args.repeat} (s) | median (s) | best CPU (s) |")
        print("|---|---:|---:|---:|---:|")
        for name, part in named.items():
            first = measure(part, 1)[0][0]
            walls, cpus = measure(part, args.repeat)
            median = statistics.median(walls)
            print(f"| {name} | {first:.3f} | {min(walls):.3f} | {median:.3f} | {min(cpus):.3f} |", flush=True)
    finally:
        server.terminate()

if __name__ == "__main__":
    main()
