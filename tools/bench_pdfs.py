"""``python -m tools.bench_pdfs``: what a client's two PDFs cost to render, the invoice (with its
12-month chart) and the billing FAQ, with our shipped fonts and tags against the plain baseline.

- ``shipped``: ``render_pdf`` as a run calls it (our fonts in ``include/fonts/``, read once per
  process; tagged PDF/UA-1).
- ``baseline``: the same HTML through WeasyPrint as ``render_pdf`` called it before issue 23
  (the machine's fonts, untagged, one shared ``FontConfiguration``): what the fonts and the tags
  cost, on this machine.

Each of ``--processes`` fresh interpreters per renderer, alternated, times the first invoice and
FAQ of the process (WeasyPrint imported; its font set-up, C declarations and our fonts loaded),
then the median of ``--repeat`` renders of each after a warm-up. CPU seconds hold steady on a
shared machine where wall time does not. The client's and the signatory's names are Bengali.
Speed is reported here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from functools import cache

RENDERERS = ("shipped", "baseline")
CLIENT, SIGNATORY = "মেঘনা ফুডস লিমিটেড", "ফারহানা হক"


def documents() -> dict[str, str]:
    """MEGHNA's May 2023 invoice, from the real configuration, and its FAQ, as HTML."""
    from include.dms_billing.core.billing_month import BillingMonth
    from include.dms_billing.core.config import DEFAULT_CONFIG, load_config
    from include.dms_billing.core.history import AMOUNT_INVOICED, MonthPoint, client_history, window
    from include.dms_billing.core.jobs import ClientJob, RunIntent, SourceClient
    from include.dms_billing.core.list_terms import list_terms
    from include.dms_billing.flows.delivery_steps import draft_invoice
    from include.dms_billing.mail.faq import faq_html
    from include.dms_billing.mail.messages import column_meanings
    from include.dms_billing.outputs.chart_text import client_chart_alt
    from include.dms_billing.outputs.charts import client_chart_png, data_uri
    from include.dms_billing.outputs.render import render_invoice_html

    config, month = load_config(DEFAULT_CONFIG), "2023-05"
    by_reason = {"active": 540, "inactive_recent_login": 18}
    source = SourceClient(1, "MEGHNA", CLIENT, "accounts@meghna.example", None, "Asia/Dhaka")
    job = ClientJob.of(source, BillingMonth.parse(month), RunIntent(), config)
    invoice = draft_invoice(job, by_reason, config)("SKR-000001", [])
    invoice = dataclasses.replace(invoice, bill_to=dataclasses.replace(invoice.bill_to, client_name=CLIENT),
                                  issuer=dataclasses.replace(invoice.issuer, signatory_name=SIGNATORY))
    history = client_history("MEGHNA", month, [
        MonthPoint(m, {"active": 500 + 5 * i, "inactive_recent_login": 10 + i}, Decimal(90_000 + 900 * i),
                   "BDT", AMOUNT_INVOICED) for i, m in enumerate(window(month))])
    terms = list_terms("MEGHNA", month, by_reason, config)
    return {
        "invoice": render_invoice_html(invoice, chart=data_uri(client_chart_png(history)),
                                       chart_alt=client_chart_alt(history)),
        "FAQ": faq_html(terms, CLIENT, "Asia/Dhaka", None, column_meanings("Asia/Dhaka", None)),
    }


@cache
def _baseline_fonts():
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def baseline_pdf(html: str) -> bytes:
    import weasyprint

    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=("data",))
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(font_config=_baseline_fonts())


def _cpu(render: Callable[[], object]) -> float:
    start = time.process_time()
    render()
    return time.process_time() - start


def child(renderer: str, repeat: int) -> dict[str, float]:
    """One process's figures, CPU seconds."""
    from include.dms_billing.outputs.render import render_pdf

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # a warning per glyph the machine lacks
    pdf = render_pdf if renderer == "shipped" else baseline_pdf
    html = documents()
    found = {"import weasyprint": _cpu(lambda: __import__("weasyprint"))}
    found.update({f"{name}, first": _cpu(lambda: pdf(page)) for name, page in html.items()})
    for name, page in html.items():
        pdf(page)
        times = [_cpu(lambda: pdf(page)) for _ in range(repeat)]
        found[f"{name}, median of {repeat}"] = statistics.median(times)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=5, help="fresh processes per renderer")
    parser.add_argument("--repeat", type=int, default=20, help="renders per document after the first")
    parser.add_argument("--child", choices=RENDERERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat)))
        return
    runs: dict[str, list[dict[str, float]]] = {renderer: [] for renderer in RENDERERS}
    for _ in range(args.processes):
        for renderer in RENDERERS:
            command = [sys.executable, "-m", "tools.bench_pdfs", "--child", renderer,
                       "--repeat", str(args.repeat)]
            runs[renderer].append(json.loads(subprocess.run(command, check=True, capture_output=True).stdout))
    print(f"CPU seconds, median of {args.processes} processes each")
    print(f"{'':28}" + "".join(f"{renderer:>10}" for renderer in RENDERERS))
    for part in runs["shipped"][0]:
        medians = (statistics.median(run[part] for run in runs[renderer]) for renderer in RENDERERS)
        print(f"{part:28}" + "".join(f"{median:10.3f}" for median in medians))


if __name__ == "__main__":
    main()
