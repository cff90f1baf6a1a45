"""A real SMTP submission server for the sending tests (aiosmtpd), on 127.0.0.1, recording what it gets.

:func:`running` starts it in a thread of the test run on a free loopback port: STARTTLS required (a
throwaway self-signed certificate for 127.0.0.1 made by the openssl CLI, as for Dovecot; tests trust it
through ``SSL_CERT_FILE``), AUTH required after it with the user :data:`USER` and :data:`PASSWORD`.
A recipient whose address starts with ``reject`` gets a 550, with ``later`` a 451 while ``busy``; a message to
one with ``drop`` is recorded, then the connection is closed without an answer. ``on_message`` (set
by a test) runs after each message is recorded, before the server says 250: a test kills the campaign
there, so the message is received but the client never hears it was.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from dovecot import HOST, certificate, free_ports

USER = "taro@example.co.jp"
PASSWORD = "s3cret-Smtp-pw"


@dataclass
class Received:
    """What one message's envelope and content were (``raw``: the bytes as they came)."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class Server:
    port: int
    cert: Path
    received: list[Received] = field(default_factory=list)
    logins: int = 0
    busy: bool = True  # whether a ``later...`` recipient gets a 451
    on_message: Callable[[Received], None] | None = None

    def to(self) -> list[str]:
        return [address for item in self.received for address in item.recipients]


class _Handler:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("reject"):
            return "550 5.1.1 no such user here"
        if address.startswith("later") and self.server.busy:
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        item = Received(envelope.mail_from, list(envelope.rcpt_tos), message, envelope.original_content)  # type: ignore[arg-type]
        self.server.received.append(item)
        if self.server.on_message is not None:
            self.server.on_message(item)
        if any(address.startswith("drop") for address in item.recipients):
            server.transport.close()
        return "250 Message accepted for delivery"


@contextmanager
def running() -> Iterator[Server]:
    pytest.importorskip("aiosmtpd", reason="SMTP tests: aiosmtpd is not installed (pip install -e '.[test]')")
    if shutil.which("openssl") is None:
        pytest.skip("SMTP tests: the openssl command is not installed (it makes the test certificate)")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    folder = Path(tempfile.mkdtemp(prefix="pipectl-smtpd-"))
    certificate(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server = Server(free_ports(1)[0], folder / "cert.pem")

    def authenticate(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
        server.logins += good
        return AuthResult(success=good, handled=False)  # handled=True would leave the client waiting for a reply

    controller = Controller(
        _Handler(server),
        hostname=HOST,
        port=server.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
        shutil.rmtree(folder, ignore_errors=True)
