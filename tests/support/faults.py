"""Ways to break things on purpose, with real parts: a TCP proxy that drops connections, an SMTP
server that refuses, drops or stalls in the middle of a batch, and whole runs in a subprocess
that can be killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import PROJECT
from tools.outbox_smtp import Outbox, OutboxHandler

HOST = "127.0.0.1"


class TcpProxy:
    """Forwards a local port to ``target``; can drop every connection (``cut``), refuse new ones
    (``stop``) and drop them by itself once ``cut_after_bytes`` bytes came back from the server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.cut_after_bytes: int | None = None
        self.downstream_bytes = 0
        self.cuts = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        try:
            while data := src.recv(65536):
                if downstream:
                    with self._lock:
                        self.downstream_bytes += len(data)
                        over = self.cut_after_bytes is not None and self.downstream_bytes > self.cut_after_bytes
                    if over:
                        self.cut()
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                _close(sock)

    def cut(self) -> None:
        """Drop every open connection at once (the listener stays)."""
        with self._lock:
            sockets, self._sockets = self._sockets, set()
            self.cuts += 1
        for sock in sockets:
            _close(sock)

    def stop(self) -> None:
        """Refuse new connections and drop the open ones: the server is unreachable."""
        if self._listener is not None:
            _close(self._listener)
            self._listener = None
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class FaultySmtpHandler(OutboxHandler):
    """An outbox that, after ``accept`` messages, refuses each further one (``fault="refuse"``,
    a 451 reply), drops the connection in the middle of the DATA exchange (``"drop"``), or
    stalls without answering until ``release`` is set (``"stall"``). ``accept=None``: healthy.
    Whatever ``accept`` says, a recipient in ``unknown`` is refused at RCPT TO (550: no such
    mailbox), as a server refuses an address that does not exist.

    ``on_accept`` runs after a message is stored and before the server says 250: the moment a
    client's message has been accepted but the client does not know it yet.
    """

    def __init__(self, folder: Path | None = None, *, accept: int | None = None, fault: str = "refuse",
                 on_accept: Callable[[int], None] | None = None, unknown: frozenset[str] = frozenset()) -> None:
        super().__init__(folder)
        self.accept, self.fault, self.on_accept, self.unknown = accept, fault, on_accept, unknown
        self.refused = 0
        self.stalled = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        if address.lower() in self.unknown:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.accept is not None and len(self.messages) >= self.accept:
            self.refused += 1
            if self.fault == "drop":
                server.transport.abort()
                return "421 4.4.2 connection dropped"
            if self.fault == "stall":
                self.stalled.set()
                while not self.release.is_set():
                    await _sleep(0.05)
                server.transport.abort()
                return "421 4.4.2 connection dropped"
            return "451 4.3.0 temporarily unable to accept the message, try again later"
        reply = await super().handle_DATA(server, session, envelope)
        if self.on_accept is not None:
            self.on_accept(len(self.messages))
        return reply


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def faulty_outbox(folder: Path | None = None, **faults) -> tuple[Outbox, FaultySmtpHandler]:
    """An ``Outbox`` (not started) whose handler is a ``FaultySmtpHandler``."""
    outbox = Outbox(folder)
    outbox.handler = FaultySmtpHandler(folder, **faults)
    return outbox, outbox.handler


RUNNER = (  # tests.conftest sets up an Airflow home of its own on import: keep the one given
    "import json, os, sys\n"
    "given = {k: v for k, v in os.environ.items() if k.startswith('AIRFLOW')}\n"
    "from tests.integration.conftest import run_dag\n"
    "os.environ.update(given)\n"
    "run = run_dag(json.loads(sys.argv[1]))\n"
    "print('RUN_STATE', run.state, flush=True)\n"
)


def start_run(conf: dict, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A whole ``dms_monthly_billing`` run (``dag.test``, retries off) in its own process group."""
    handle = open(log, "wb")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, json.dumps(conf)], cwd=PROJECT, env={**os.environ, **env},
        stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
    )


def kill_run(process: subprocess.Popen) -> None:
    """SIGKILL the run and everything it started (its own process group), then reap it."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def write_list(dms, job, config):
    """One client's steps up to its list, the steps the DAG's mapped task group calls, in its
    order; what stops a client (its moment's checks, a failed validation) is the steps' own
    doing, as in the DAG. The paths."""
    from include.dms_billing.flows import list_steps, moments
    from include.dms_billing.outputs.paths import client_month_paths

    paths = client_month_paths(job.billing_month, job.client_code)
    moments.month_closes_at(job)
    list_steps.extract_step(dms, job, paths)
    outcome = list_steps.validate_or_stop(job, paths, config)
    list_steps.decide_step(job, paths, config, outcome.report_path)
    return paths
