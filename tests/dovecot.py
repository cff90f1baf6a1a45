"""A real, throwaway Dovecot IMAP server for the IMAP tests, on 127.0.0.1, in a folder of its own.

:func:`running` starts ``dovecot -F`` (in the foreground, so the process is this test run's child and is
stopped by its id) with a generated configuration: an ``imap`` listener offering STARTTLS and an
``imaps`` one, both on free loopback ports; a self-signed certificate for 127.0.0.1 made by the openssl
CLI (tests trust it through ``SSL_CERT_FILE``); a passwd-file with the user :data:`USER`; Maildirs; a
logout line per session that counts the header and body FETCHes the server answered; no delay after
a failed login (the wrong-password test would slow every later login down). No system
configuration is read or touched. Without dovecot or openssl the tests are skipped, saying why
(``.ci/dovecot`` installs it).

Dovecot refuses to run its login process as root and to deliver mail as UID 0, so as root it uses the
distribution's ``dovenull`` and ``dovecot`` users, which must reach the folder: it is made with
``tempfile.mkdtemp`` and opened to others (it holds only test mail), rather than inside pytest's private
temporary folder. As a normal user everything runs as that user.

Its fixtures (a plugin of conftest.py): ``dovecot_server``, one server per test module, and
``imap_server``, that server as a user reaches it: its certificate trusted, the password given the
documented way, ~/.netrc kept out.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

USER = "taro"
PASSWORD = "s3cret-Dove-pw"
HOST = "127.0.0.1"
_START_WITHIN = 15.0  # seconds; Dovecot is usually up in a fraction of one
_DISCONNECTED = re.compile(r"imap\(" + USER + r"\).*Disconnected.* fetch_hdr=(\d+) fetch_body=(\d+)")


class Dovecot:
    """The running server: its ports, its certificate, and helpers to set up and inspect its mail."""

    def __init__(self, folder: Path, imap_port: int, imaps_port: int, process: subprocess.Popen[bytes]) -> None:
        self.folder = folder
        self.imap_port = imap_port
        self.imaps_port = imaps_port
        self.process = process
        self.cert = folder / "cert.pem"
        self.log = folder / "dovecot.log"

    def url(self, folder: str = "INBOX", scheme: str = "imaps") -> str:
        port = self.imaps_port if scheme == "imaps" else self.imap_port
        return f"{scheme}://{USER}@{HOST}:{port}/{folder}"

    def client(self) -> Any:
        """A logged-in IMAPClient (over TLS) to put mail in place and look at it, as another mail program would."""
        from imapclient import IMAPClient

        client = IMAPClient(HOST, self.imaps_port, ssl_context=ssl.create_default_context(cafile=str(self.cert)))
        client.login(USER, PASSWORD)
        return client

    def kick(self) -> None:
        """Drop every connection of :data:`USER` now, as a server restart or a network cut would."""
        subprocess.run(
            ["doveadm", "-c", str(self.folder / "dovecot.conf"), "kick", USER], check=True, capture_output=True
        )

    def log_offset(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        return self.log.read_bytes()[offset:].decode("utf-8", "replace")

    def sessions_after(self, offset: int, count: int) -> list[tuple[int, int]]:
        """(header FETCHes, body FETCHes) of the first ``count`` sessions of :data:`USER` that ended after
        ``offset`` in the log; the log process writes asynchronously, so this waits for them (bounded)."""
        deadline = time.monotonic() + _START_WITHIN
        while True:
            found = [(int(header), int(body)) for header, body in _DISCONNECTED.findall(self.log_since(offset))]
            if len(found) >= count or time.monotonic() > deadline:
                return found[:count]
            time.sleep(0.01)


@pytest.fixture(scope="module")
def dovecot_server() -> Iterator[Dovecot]:
    with running() as started:
        yield started


@pytest.fixture
def imap_server(dovecot_server: Dovecot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Dovecot:
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot_server.cert))
    monkeypatch.setenv("PIPECTL_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    return dovecot_server


@contextmanager
def running() -> Iterator[Dovecot]:
    """A started Dovecot, stopped (and its folder removed) on exit; skips the test when it cannot run."""
    dovecot = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if dovecot is None or shutil.which("doveadm") is None:
        pytest.skip("IMAP tests: Dovecot is not installed (apt-get install dovecot-imapd; see .ci/dovecot)")
    if shutil.which("openssl") is None:
        pytest.skip("IMAP tests: the openssl command is not installed (it makes the test certificate)")
    folder = Path(tempfile.mkdtemp(prefix="pipectl-dovecot-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        folder.chmod(0o755)
        imap_port, imaps_port = free_ports(2)
        certificate(folder)
        (folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::\n", encoding="utf-8")
        (folder / "dovecot.conf").write_text(_config(folder, imap_port, imaps_port), encoding="utf-8")
        with (folder / "dovecot.log").open("ab") as log:
            process = subprocess.Popen([dovecot, "-F", "-c", str(folder / "dovecot.conf")], stdout=log, stderr=log)
        _wait_for(imaps_port, process, folder)
        yield Dovecot(folder, imap_port, imaps_port, process)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=_START_WITHIN)
        shutil.rmtree(folder, ignore_errors=True)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def certificate(folder: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"), "-days", "2",
         "-subj", "/CN=localhost", "-addext", f"subjectAltName=DNS:localhost,IP:{HOST}"],
        check=True, capture_output=True,
    )  # fmt: skip


def _accounts(home: Path) -> dict[str, str]:
    """Who runs what: as root the packaged service users (the mail home handed to ``dovecot``), else ourselves."""
    if os.getuid() != 0:
        me = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(me.pw_gid).gr_name
        return {"internal": me.pw_name, "group": group, "login": me.pw_name, "uid": str(me.pw_uid),
                "gid": str(me.pw_gid)}  # fmt: skip
    try:
        internal, login = pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull")
    except KeyError:
        pytest.skip("IMAP tests as root need the dovecot and dovenull users (apt-get install dovecot-imapd)")
    os.chown(home, internal.pw_uid, internal.pw_gid)
    return {"internal": internal.pw_name, "group": grp.getgrgid(internal.pw_gid).gr_name, "login": login.pw_name,
            "uid": str(internal.pw_uid), "gid": str(internal.pw_gid)}  # fmt: skip


def _config(folder: Path, imap_port: int, imaps_port: int) -> str:
    (folder / "home").mkdir()
    users = _accounts(folder / "home")
    return f"""\
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = {HOST}
default_internal_user = {users["internal"]}
default_internal_group = {users["group"]}
default_login_user = {users["login"]}
first_valid_uid = 1
ssl = yes
ssl_cert = <{folder}/cert.pem
ssl_key = <{folder}/key.pem
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_fsync = never
imap_logout_format = fetch_hdr=%{{fetch_hdr_count}} fetch_body=%{{fetch_body_count}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={users["uid"]} gid={users["gid"]} home={folder}/home/%u
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {imaps_port}
    ssl = yes
  }}
}}
"""


def _wait_for(port: int, process: subprocess.Popen[bytes], folder: Path) -> None:
    """Return once the server accepts connections; fail with its log when it exits or does not come up."""
    deadline = time.monotonic() + _START_WITHIN
    while True:
        if process.poll() is not None:
            log = (folder / "dovecot.log").read_text(encoding="utf-8", errors="replace")
            pytest.fail(f"Dovecot did not start (exit {process.returncode}):\n{log}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"Dovecot did not listen on {HOST}:{port} within {_START_WITHIN:.0f} s")
            time.sleep(0.01)
