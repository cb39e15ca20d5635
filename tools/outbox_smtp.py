"""A local SMTP server that keeps every message it receives as an ``.eml`` file.

For the demo and the tests: nothing leaves the machine. ``make demo`` runs
``python -m tools.outbox_smtp --dir data/outbox --port 8025`` in the background; tests start
``Outbox`` on a free port and read what it received.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import re
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"


def _file_name(number: int, message: EmailMessage) -> str:
    kind = re.sub(r"[^A-Za-z0-9_.-]+", "_", (message["Message-ID"] or "no-id").strip("<>"))[:120]
    return f"{number:04d}_{kind}.eml"


class OutboxHandler:
    """Stores each message (bytes as received) in ``folder`` and in ``messages``."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.files: list[Path] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
                path = self.folder / _file_name(len(self.messages), message)
                path.write_bytes(envelope.original_content)
                self.files.append(path)
        return "250 Message accepted for delivery"


class Outbox:
    """The server on loopback; a context manager. ``port=0`` picks a free port.

    It can be stopped and started again on the same port (to test a mail server outage);
    what it received survives the restart.
    """

    def __init__(self, folder: Path | None = None, port: int = 0) -> None:
        self.handler = OutboxHandler(folder)
        self.port = port or _free_port()
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def connection_uri(self) -> str:
        """An Airflow connection URI for ``smtp_default`` pointing here (no TLS, no login)."""
        return f"smtp://{HOST}:{self.port}?disable_tls=true&disable_ssl=true&timeout=10"

    def start(self) -> Outbox:
        self.controller = Controller(self.handler, hostname=HOST, port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> Outbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="folder for the .eml files")
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    with Outbox(args.dir, args.port) as outbox:
        print(f"SMTP outbox listening on {HOST}:{outbox.port}, writing to {args.dir}", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
