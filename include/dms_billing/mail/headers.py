"""The parts every email shares: its envelope's headers, refused when data would add a header,
the text/HTML alternative and the attachments.

Header values that come from data (client names, codes) are refused if they hold a line break: a
name must never be able to add a header such as Bcc. Bodies are quoted-printable so that a message
is 7-bit clean for any mail relay.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, getaddresses

from include.dms_billing.core.kinds import DeliveryKind

KIND_HEADER = "X-Sokrio-Billing"
# Every file a client receives is named for who sent it, then what it is, the client and the month
# (``Sokrio_invoice_SKR-000001_MEGHNA_2023-05.pdf``): saved beside other suppliers' files, it says whose it is.
ISSUER_TAG = "Sokrio"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
_MESSAGE_ID_RE = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
_ADDRESS_RE = re.compile(r"[^@\s]+@[^@\s]+")  # local@domain, nothing else


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, and its Message-ID (chosen by the caller, so that a
    resend can be recognised)."""

    sender: str  # "Sokrio Billing <billing@sokrio.example>"
    reply_to: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    message_id: str  # e.g. "<list.MEGHNA.2023-05.0@billing.sokrio.example>", set verbatim

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone the message is sent to (To and Cc), as the delivery ledger records them."""
        return (*self.to, *self.cc)


def attachment_name(what: str, client_code: str, billing_month: str, suffix: str) -> str:
    """``Sokrio_{what}_{client}_{month}{suffix}``: an attachment's file name."""
    return f"{ISSUER_TAG}_{what}_{client_code}_{billing_month}{suffix}"


def header_value(name: str, value: str) -> str:
    """``value`` if it is safe as one header line; a line break could start a new header."""
    if "".join(value.splitlines()) != value:
        raise ValueError(f"{name} must not contain a line break: {value!r}")
    return value


def _set_subject(msg: EmailMessage, subject: str) -> None:
    """Set Subject folded and RFC 2047-encoded by ``email.header.Header``, stored as is.

    The modern policy's own folding (Python 3.11) drops the space between two encoded words
    ("মেঘনা ফুডস" arrives as "মেঘনাফুডস") and can fold a short ASCII subject right after
    "Subject:"; the older encoder round-trips exactly, and its lines are short enough that
    the policy emits them unchanged.
    """
    charset = "us-ascii" if subject.isascii() else "utf-8"
    msg.set_raw("Subject", Header(header_value("Subject", subject), charset, header_name="Subject").encode())


def address_header(name: str, addresses: Sequence[str]) -> str:
    """The addresses as one header value; each entry must be exactly one address."""
    for address in addresses:
        header_value(name, address)
        parsed = getaddresses([address])
        if len(parsed) != 1 or not _ADDRESS_RE.fullmatch(parsed[0][1]):
            raise ValueError(f"{name} entry must be one email address: {address!r}")
    return ", ".join(addresses)


def new_message(
    envelope: Envelope,
    kind: DeliveryKind,
    subject: str,
    text: str,
    html: str,
    client_code: str | None = None,
    billing_month: str | None = None,
) -> EmailMessage:
    """Headers and the text/HTML alternative; ``X-Sokrio-Billing`` lets a mailbox rule or the
    delivery ledger tell kinds, clients and months apart without reading the subject."""
    if not envelope.to:
        raise ValueError(f"a {kind.tag} email needs at least one recipient")
    if not _MESSAGE_ID_RE.fullmatch(envelope.message_id):
        raise ValueError(f"Message-ID must look like <local@domain>: {envelope.message_id!r}")
    tags = [kind.tag]
    tags += [f"client={client_code}"] if client_code else []
    tags += [f"month={billing_month}"] if billing_month else []
    msg = EmailMessage(policy=SMTP)
    msg["From"] = address_header("From", [envelope.sender])
    msg["To"] = address_header("To", envelope.to)
    if envelope.cc:
        msg["Cc"] = address_header("Cc", envelope.cc)
    msg["Reply-To"] = address_header("Reply-To", [envelope.reply_to])
    _set_subject(msg, subject)
    msg["Message-ID"] = envelope.message_id
    msg["Date"] = formatdate(localtime=False)
    msg[KIND_HEADER] = header_value(KIND_HEADER, "; ".join(tags))
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg


def attach(msg: EmailMessage, data: bytes, mime_type: tuple[str, str], filename: str, **params: str) -> None:
    """Attach as base64, so the recipient gets exactly these bytes (CSV line ends included)."""
    maintype, subtype = mime_type
    msg.add_attachment(
        data, maintype=maintype, subtype=subtype, filename=header_value("filename", filename), params=params
    )


def content_id(envelope: Envelope, data: bytes, name: str = "chart") -> str:
    """A Content-ID for an inline part: from its bytes and the Message-ID's domain, so the same
    message built again is the same bytes (``make_msgid`` would add the time and a random part)."""
    domain = envelope.message_id.strip("<>").rpartition("@")[2]
    return f"{name}.{hashlib.sha256(data).hexdigest()[:16]}@{domain}"


def inline_image(msg: EmailMessage, png: bytes, cid: str) -> None:
    """Put ``png`` beside the HTML body in a multipart/related part, where ``cid:`` finds it; it is
    not an attachment (``iter_attachments`` still gives only the attached files)."""
    html = msg.get_body(("html",))
    if html is None or f"cid:{cid}" not in html.get_content():
        raise ValueError(f"the HTML body does not show cid:{cid}")
    html.add_related(png, maintype="image", subtype="png", cid=f"<{header_value('Content-ID', cid)}>")
