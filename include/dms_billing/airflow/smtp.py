"""Sending a ready-made email through the Airflow SMTP provider's ``smtp_default`` connection.

The provider's hook opens the connection (host, port, TLS, credentials from the Airflow
connection), but its ``send_email_smtp`` builds its own message (no plain-text alternative,
no Message-ID) and retries ``sendmail`` by itself, which could send twice. Here we send our
own message exactly once per call; retrying is the ledger's decision (``delivery.py``).
"""

from __future__ import annotations

from email.message import EmailMessage

from airflow.providers.smtp.hooks.smtp import SmtpHook

SMTP_CONN_ID = "smtp_default"


class MessageSmtpHook(SmtpHook):
    """The provider's hook, plus sending a complete ``EmailMessage`` as it is.

    When every recipient is refused smtplib raises; when only some are, the message went out
    and is recorded as sent, with a warning naming the refused addresses.
    """

    def send_message(self, message: EmailMessage) -> None:
        if self._smtp_client is None:
            raise RuntimeError("the SMTP connection is not open; use the hook as a context manager")
        refused = self._smtp_client.send_message(message)
        if refused:  # some recipients accepted it: it was sent, so it must not be retried
            self.log.warning("%s: the server refused %s", message["Message-ID"], sorted(refused))


def send_message(message: EmailMessage, conn_id: str = SMTP_CONN_ID) -> None:
    """Send ``message`` to all its To and Cc recipients through ``conn_id``."""
    with MessageSmtpHook(smtp_conn_id=conn_id) as hook:
        hook.send_message(message)
