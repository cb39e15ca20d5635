"""The demo's documents as a client and finance see them, rendered to PNG for the README.

After ``make demo``: the invoice PDF's first page (pypdfium2, the PDF as a viewer draws it),
and the list email's and finance email's HTML bodies in headless Chromium at 1,000 px wide,
inline images (``cid:``) included, as a mail client shows them. Reads the emails the local SMTP
server kept (``data/outbox/*.eml``), so the pictures are of what was really sent.

``python -m tools.document_screenshots --outbox data/outbox --month 2023-05 --client MEGHNA --out
docs/screenshots`` (``make screenshots``, after ``make demo``; the README's were taken after billing
May, June and July 2023, so the charts have three months) writes ``invoice.png``, ``list_email.png`` and ``finance_email.png``.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import tempfile
from email.message import EmailMessage
from pathlib import Path

from tools.ui_screenshots import browser

WIDTH = 1000
PDF_SCALE = 2  # 144 dpi: A4 at 1,190 x 1,684 px, readable in a README


def _messages(outbox: Path) -> list[EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(outbox.glob("*.eml"))]


def _tags(message: EmailMessage) -> dict[str, str]:
    """Our ``X-Sokrio-Billing`` header as a dict, e.g. {"kind": "list", "client": "MEGHNA", "month": "2023-05"}."""
    kind, *tags = message["X-Sokrio-Billing"].split("; ")
    return {"kind": kind, **dict(tag.split("=", 1) for tag in tags)}


def find(messages: list[EmailMessage], month: str, kind: str, client: str | None = None) -> EmailMessage:
    wanted = {"kind": kind, "month": month, **({"client": client} if client else {})}
    found = [m for m in messages if wanted.items() <= _tags(m).items()]
    if not found:
        raise SystemExit(f"no {kind} email of {month}{' for ' + client if client else ''} in the outbox: "
                         "run `make demo` first")
    return found[-1]


def html_with_inline_images(message: EmailMessage) -> str:
    """The HTML body with each ``cid:`` reference replaced by its part as a data URI."""
    html = message.get_body(("html",)).get_content()
    for part in message.walk():
        cid = part["Content-ID"]
        if cid and part.get_content_maintype() == "image":
            uri = f"data:{part.get_content_type()};base64,{base64.b64encode(part.get_payload(decode=True)).decode()}"
            html = html.replace(f"cid:{cid.strip('<>')}", uri)
    return html


def html_to_png(html: str, out: Path) -> None:
    """The page at ``WIDTH`` px, as tall as its content."""
    with tempfile.TemporaryDirectory() as tmp, browser() as driver:
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        driver.set_window_size(WIDTH, 800)
        driver.get(page.as_uri())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(WIDTH, height + 140)  # the window's frame is not the page's
        driver.save_screenshot(str(out))


def pdf_to_png(pdf: bytes, out: Path) -> None:
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        document[0].render(scale=PDF_SCALE).to_pil().save(out)
    finally:
        document.close()


def pdf_attachment(message: EmailMessage) -> bytes:
    for part in message.iter_attachments():
        if part.get_content_type() == "application/pdf":
            return part.get_payload(decode=True)
    raise SystemExit("the invoice email has no PDF attached")


def take(outbox: Path, month: str, client: str, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    messages = _messages(outbox)
    written = [out_dir / name for name in ("invoice.png", "list_email.png", "finance_email.png")]
    pdf_to_png(pdf_attachment(find(messages, month, "invoice", client)), written[0])
    html_to_png(html_with_inline_images(find(messages, month, "list", client)), written[1])
    html_to_png(html_with_inline_images(find(messages, month, "finance")), written[2])
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outbox", type=Path, default=Path("data/outbox"))
    parser.add_argument("--month", default="2023-05")
    parser.add_argument("--client", default="MEGHNA")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    for path in take(args.outbox, args.month, args.client, args.out):
        print(path)


if __name__ == "__main__":
    main()
