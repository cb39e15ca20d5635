"""Sending a ready-made email through the Airflow SMTP provider's ``smtp_default`` connection.

The provider's hook opens the connection (host, port, TLS, credentials from the Airflow
connection), but its ``send_email_smtp`` builds its own message (no plain-text alternative,
no Message-ID) and retries ``sendmail`` by itself, which could send twice. Here we send our
own message exactly once per call; retrying is the ledger's decision (``delivery.py``).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import getaddresses

from airflow.providers.smtp.hooks.smtp import SmtpHook

SMTP_CONN_ID = "smtp_default"


class AddresseeRefused(ValueError):
    """The server refused whom the email is addressed to (To) while taking it for its copies:
    the client did not get it. Not retried (a retry would only copy the others again), the
    delivery is recorded as failed, and what depends on it (the invoice after the list) waits."""


class MessageSmtpHook(SmtpHook):
    """The provider's hook, plus sending a complete ``EmailMessage`` as it is.

    When every recipient is refused smtplib raises. When only copies (Cc) are refused, the
    message reached whom it is for: it is sent, with a warning naming the refused addresses. When
    an addressee (To) is refused, it did not: ``AddresseeRefused``.
    """

    def send_message(self, message: EmailMessage) -> None:
        if self._smtp_client is None:
            raise RuntimeError("the SMTP connection is not open; use the hook as a context manager")
        refused = self._smtp_client.send_message(message)
        addressees = {address.lower() for _, address in getaddresses(message.get_all("To", []))}
        missed = sorted(address for address in refused if address.lower() in addressees)
        if missed:
            raise AddresseeRefused(f"{message['Message-ID']}: the mail server refused the addressee {missed} "
                                   f"({refused}); only the copies went out")
        if refused:  # only copies were refused: it was sent, so it must not be retried
            self.log.warning("%s: the server refused %s", message["Message-ID"], sorted(refused))


def send_message(message: EmailMessage, conn_id: str = SMTP_CONN_ID) -> None:
    """Send ``message`` to all its To and Cc recipients through ``conn_id``."""
    with MessageSmtpHook(smtp_conn_id=conn_id) as hook:
        hook.send_message(message)
