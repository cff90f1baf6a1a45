"""Reading a rep's mail over IMAP (SPEC §12): ``imaps://user@host[:port]/FOLDER``, incrementally.

:func:`parse_url` checks the URL (a password in it is refused: a URL ends up in shell history, ``ps``
and logs); :func:`credentials` finds the password in ``PIPECTL_IMAP_PASSWORD``, else in ``~/.netrc``
(or the file ``NETRC`` names). :func:`connect` opens a :class:`Session`:

    with connect(url) as session:
        for folder in session.folders(["INBOX", "Sent"], stored_states):
            for record in folder.records():
                ...                        # log it
            ...                            # commit what was logged, then store folder.state

Transport: ``imaps://`` is TLS from the first byte (port 993); ``imap://`` (port 143) upgrades with
STARTTLS, and a server that does not offer it is refused, unless the host is loopback (a local bridge
such as DavMail, or an SSH tunnel: the password never leaves the machine). Certificates are verified
with the default context, so ``SSL_CERT_FILE`` names the trusted CA file for a self-signed server.

Incremental: per folder the server's UIDVALIDITY and the last UID read are kept (:class:`FolderState`);
a run asks only for UIDs above it, so a run with nothing new reads nothing old. A changed UIDVALIDITY
means the server renumbered the folder: everything is read again (the caller dedupes by Message-ID).
Folders are opened read-only (EXAMINE) and fetched with ``BODY.PEEK``, so no message is marked read.
Each record carries only its header block; its ``load`` fetches the whole message when the caller asks
for the body. Every failure (refused login, unreachable host, unknown folder, TLS, a dropped
connection) is a one-line :class:`~pipectl.errors.PipectlError` that never contains the password.
"""

from __future__ import annotations

import imaplib
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC
from email import policy
from email.parser import BytesHeaderParser
from functools import partial
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from pipectl.errors import NotFound, PipectlError
from pipectl.mail import secret
from pipectl.mail.record import MailRecord, record_from_headers

PASSWORD_ENV = "PIPECTL_IMAP_PASSWORD"
PORTS = {"imaps": 993, "imap": 143}
BATCH = 200  # header blocks per FETCH: few round trips, and a dropped connection loses little
TIMEOUT = 60.0  # seconds a connect or a reply may take before the run gives up
URL_FORM = "imaps://user@host[:port]/FOLDER"

_HEADER = b"BODY[HEADER]"
_WHOLE = b"BODY[]"
_PARSER = BytesHeaderParser(policy=policy.default)
_BYTES_REPR = re.compile(r"^b(['\"])(.*)\1$")
T = TypeVar("T")


@dataclass(frozen=True)
class ImapUrl:
    """A checked IMAP URL. ``user`` is empty when the URL names none (``~/.netrc`` then gives it);
    ``folder`` is None when the URL has no path. ``str()`` gives it back without any password."""

    scheme: str
    user: str
    host: str
    port: int
    folder: str | None

    def __str__(self) -> str:
        user = f"{quote(self.user, safe='')}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{user}{host}:{self.port}"

    def with_user(self, user: str) -> ImapUrl:
        return ImapUrl(self.scheme, user, self.host, self.port, self.folder)


@dataclass(frozen=True)
class FolderState:
    """What the caller keeps per account and folder between runs: the folder's UIDVALIDITY and the
    highest UID whose message the caller has finished with."""

    uidvalidity: int
    last_uid: int


def parse_url(text: str) -> ImapUrl:
    """``text`` as an :class:`ImapUrl`; a PipectlError that never repeats ``text`` (it may hold a
    password) when it is not ``imaps://`` or ``imap://`` with a host, or when it holds a password."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
        if port == 0:
            raise ValueError(port)
    except ValueError:
        raise PipectlError(f"the IMAP URL has a bad port or host; expected {URL_FORM}") from None
    scheme = parts.scheme.lower()
    if scheme not in PORTS or not text.strip()[len(scheme) :].startswith("://"):
        raise PipectlError(f"the IMAP URL must start with imaps:// or imap://; expected {URL_FORM}")
    if parts.password is not None:
        raise PipectlError(
            f"the IMAP URL holds a password: remove it (a URL is seen in shell history and process lists) "
            f"and set {PASSWORD_ENV} or put it in ~/.netrc"
        )
    if not parts.hostname:
        raise PipectlError(f"the IMAP URL names no host; expected {URL_FORM}")
    if parts.query or parts.fragment:
        raise PipectlError(f"the IMAP URL has a ?query or #fragment; expected {URL_FORM} (write # as %23)")
    folder = unquote(parts.path.lstrip("/"))
    return ImapUrl(scheme, unquote(parts.username or ""), parts.hostname, port or PORTS[scheme], folder or None)


def credentials(url: ImapUrl) -> tuple[str, str]:
    """The user and password for ``url``: ``PIPECTL_IMAP_PASSWORD`` with the URL's user, else the
    ``~/.netrc`` entry for the host (``NETRC`` names another file) whose login is the URL's user (any
    login when the URL names none)."""
    return secret.credentials(str(url), url.host, url.user, PASSWORD_ENV, f"the URL as {URL_FORM}")


def connect(url: ImapUrl, timeout: float = TIMEOUT) -> Session:
    """A logged-in session with the server ``url`` names (see the module docstring for TLS)."""
    from imapclient import IMAPClient
    from imapclient.exceptions import LoginError

    user, password = credentials(url)
    url = url.with_user(user)
    context = ssl.create_default_context()
    fail = _Failure(url, password)
    try:
        client = IMAPClient(url.host, url.port, ssl=url.scheme == "imaps", ssl_context=context, timeout=timeout)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise fail.connecting(exc) from None
    session = Session(url, client, fail)
    try:
        try:
            if url.scheme == "imap":
                if client.has_capability("STARTTLS"):
                    client.starttls(context)
                elif not _loopback(url.host):
                    raise fail(
                        "the server offers no STARTTLS, so the password would cross the network unencrypted; use imaps://"
                    )
            client.login(user, password)
        except LoginError as exc:
            raise fail(f"login refused for {user} ({_detail(exc)}); check the password") from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise fail.connecting(exc) from None
    except PipectlError:
        session.close()
        raise
    client.normalise_times = False  # INTERNALDATE with its zone, for a UTC fallback date
    return session


class Session:
    """A logged-in connection; a context manager that logs out. Folders are read one after the other."""

    def __init__(self, url: ImapUrl, client: Any, fail: _Failure) -> None:
        self.url = url
        self._client = client
        self._fail = fail
        self._selected: tuple[str, int] | None = None

    @property
    def account(self) -> str:
        """The account as text, to key stored folder states by (user, host and port; no password)."""
        return str(self.url)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Log out; a connection that is already gone is simply dropped."""
        try:
            self._client.logout()
        except (imaplib.IMAP4.error, OSError):
            with suppress(OSError):  # the socket may be closed already
                self._client.shutdown()

    def folders(self, names: Iterable[str], state: Mapping[str, FolderState], batch: int = BATCH) -> Iterator[Folder]:
        """Each folder of ``names`` opened read-only, with what ``state`` (folder name -> the state stored
        after the previous run) says was read. All the names are checked before the first is opened, so a
        mistyped one stops the run before anything is read."""
        wanted = list(dict.fromkeys(names))
        listed = self._call(lambda: self._client.list_folders(), "listing the folders")
        there = sorted(name for flags, _, name in listed if b"\\noselect" not in {flag.lower() for flag in flags})
        unknown = [name for name in wanted if name not in there and not _inbox(name, there)]
        if unknown:
            raise NotFound(f"{self.url}: no folder {unknown[0]!r}; its folders: {', '.join(there)}")
        for name in wanted:
            status = self._call(partial(self._client.select_folder, name, readonly=True), f"opening {name}")
            self._selected = (name, int(status[b"UIDVALIDITY"]))
            yield Folder(self, name, status, state.get(name), batch)

    def _open(self, name: str, uidvalidity: int, doing: str) -> None:
        """Make ``name`` the selected folder again if another one was opened since (a body asked for after
        the next folder was opened); a PipectlError if the server renumbered it meanwhile."""
        if self._selected == (name, uidvalidity):
            return
        status = self._call(partial(self._client.select_folder, name, readonly=True), doing)
        self._selected = (name, int(status[b"UIDVALIDITY"]))
        if self._selected[1] != uidvalidity:
            raise self._fail(f"{name} was renumbered on the server while it was read; run the sync again")

    def _load(self, name: str, uidvalidity: int, uid: int) -> bytes:
        """The whole message ``uid`` of folder ``name``, fetched now."""
        doing = f"reading message {uid} of {name}"
        self._open(name, uidvalidity, doing)
        fetched = self._call(partial(self._client.fetch, [uid], ["BODY.PEEK[]"]), doing)
        if _WHOLE not in fetched.get(uid, {}):
            raise self._fail(f"message {uid} of {name} was deleted on the server while it was read")
        data: bytes = fetched[uid][_WHOLE]
        return data

    def _call(self, command: Callable[[], T], doing: str) -> T:
        """``command``, with the errors of a command on an open connection as one-line PipectlErrors."""
        try:
            return command()
        except imaplib.IMAP4.abort as exc:
            raise self._fail(f"the connection was lost while {doing} ({_detail(exc)})") from None
        except imaplib.IMAP4.error as exc:
            raise self._fail(f"the server refused {doing} ({_detail(exc)})") from None
        except OSError as exc:
            raise self._fail(f"the connection was lost while {doing} ({_detail(exc)})") from None


class Folder:
    """One opened folder. :meth:`records` yields the messages new since the stored state; :attr:`state`
    is what to store once the caller has committed what it did with them."""

    def __init__(
        self, session: Session, name: str, status: Mapping[bytes, Any], previous: FolderState | None, batch: int
    ) -> None:
        self.name = name
        self._session = session
        self._batch = batch
        self._uidvalidity = int(status[b"UIDVALIDITY"])
        self._uidnext = int(status.get(b"UIDNEXT", 0))
        #: True when the server renumbered the folder since the stored state: it is read from the start.
        self.resync = previous is not None and previous.uidvalidity != self._uidvalidity
        self._last_uid = previous.last_uid if previous is not None and not self.resync else 0

    @property
    def state(self) -> FolderState:
        """The folder's UIDVALIDITY and the last UID the caller has finished with. A record counts as finished
        when the caller asks for the next one or the iteration ends; so after an error (the caller's or the
        connection's) the state does not cover the record being handled, and a later run reads it again."""
        return FolderState(self._uidvalidity, self._last_uid)

    def records(self) -> Iterator[MailRecord]:
        """The messages with a UID above the state's, oldest first, their header blocks fetched ``batch``
        at a time."""
        session, client = self._session, self._session._client
        first = self._last_uid + 1
        if self._uidnext and self._uidnext <= first:
            return  # nothing new: no SEARCH at all
        doing = f"reading {self.name}"
        session._open(self.name, self._uidvalidity, doing)
        # "N:*" always matches the highest UID, even one below N: filter.
        found = session._call(partial(client.search, ["UID", f"{first}:*"]), doing)
        uids = sorted(uid for uid in found if uid >= first)
        for start in range(0, len(uids), self._batch):
            chunk = uids[start : start + self._batch]
            session._open(self.name, self._uidvalidity, doing)
            fetched = session._call(partial(client.fetch, chunk, ["BODY.PEEK[HEADER]", "INTERNALDATE"]), doing)
            for uid in chunk:
                item = fetched.get(uid)
                if item is None or _HEADER not in item:
                    continue  # deleted on the server since the SEARCH
                yield self._record(uid, item)
                self._last_uid = uid
        # Every UID below UIDNEXT at the SELECT existed then: those not yielded were deleted since.
        self._last_uid = max(self._last_uid, self._uidnext - 1)

    def _record(self, uid: int, item: Mapping[bytes, Any]) -> MailRecord:
        name, uidvalidity = self.name, self._uidvalidity
        arrived = item.get(b"INTERNALDATE")
        when = arrived.astimezone(UTC) if arrived is not None and arrived.tzinfo else None
        source = f"{self._session.url}/{quote(name, safe='')};UIDVALIDITY={uidvalidity}/;UID={uid}"
        return record_from_headers(
            _PARSER.parsebytes(item[_HEADER]),
            lambda: self._session._load(name, uidvalidity, uid),
            source,
            None,
            lambda: when,
        )


class _Failure:
    """Builds the one-line errors of a connection: the URL first, and the password, should a server or
    the operating system ever echo it, blanked out."""

    def __init__(self, url: ImapUrl, password: str) -> None:
        self.url = url
        self.password = password

    def __call__(self, message: str) -> PipectlError:
        text = " ".join(f"{self.url}: {message}".split())
        return PipectlError(text.replace(self.password, "***") if self.password else text)

    def connecting(self, exc: OSError | imaplib.IMAP4.error) -> PipectlError:
        """The error of a connection that could not be opened or secured."""
        if isinstance(exc, ssl.SSLCertVerificationError):
            return self(
                f"the server's TLS certificate is not trusted ({exc.verify_message}); "
                "for a server with its own certificate authority, set SSL_CERT_FILE to its CA file"
            )
        if isinstance(exc, ssl.SSLError):
            return self(
                f"TLS failed ({exc.reason or _detail(exc)}); imaps:// is TLS from the start (port 993), "
                "imap:// starts plain and upgrades with STARTTLS (port 143)"
            )
        if isinstance(exc, socket.gaierror):
            return self(f"cannot find the host ({exc.strerror})")
        if isinstance(exc, TimeoutError):
            return self("cannot connect (no answer in time)")
        if isinstance(exc, OSError):
            return self(f"cannot connect ({exc.strerror or _detail(exc)})")
        return self(f"not an IMAP server pipectl can use ({_detail(exc)})")


def _detail(exc: BaseException) -> str:
    """An exception's text, without the ``b'...'`` imaplib wraps server replies in."""
    text = str(exc)
    match = _BYTES_REPR.match(text)
    return match.group(2) if match else text


def _inbox(name: str, there: Iterable[str]) -> bool:
    """Whether ``name`` is the inbox, which IMAP names without regard to case, and the server has one."""
    return name.upper() == "INBOX" and any(other.upper() == "INBOX" for other in there)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
