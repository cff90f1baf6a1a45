"""Mail out (SPEC §13): the message, the templates, and the three ways of handing it to the rep's account.

:func:`build` makes a well-formed plain-text message (``email.message.EmailMessage``: UTF-8 headers
encoded per RFC 2047 by :mod:`pipectl.mail.headers`, a Date, a Message-ID on the sender's domain), with an
HTML alternative when the template has one (``NAME.html`` beside ``NAME.txt``).
:func:`method` gives the configured hand-over, one of three small classes behind :class:`Method`:
:class:`Smtp` (submission on 587 with STARTTLS, or 465 with TLS; the password from ``PIPECTL_SMTP_PASSWORD``
or ``~/.netrc``), :class:`Sendmail` (any sendmail-compatible command, ``msmtp -t``), :class:`Drafts` (a
Maildir the mail client shows as Drafts). A hand-over that certainly did not happen raises :class:`NotSent`
(``temporary``: a 4xx, to try again on a later run; ``fatal``: the account itself failed, so the run
stops); a connection that breaks during it raises :class:`Lost`; that and anything else that stops it (a
kill, Ctrl-C) leaves the caller not knowing whether the message went, which the caller's outbox keeps.
The module knows nothing of leads or the database.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import os
import shlex
import socket
import string
import subprocess
import time
from datetime import datetime
from email import quoprimime
from email.errors import HeaderParseError
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipectl.errors import ConfigError, NotFound, PipectlError
from pipectl.mail import headers, secret

if TYPE_CHECKING:
    import smtplib

PASSWORD_ENV = "PIPECTL_SMTP_PASSWORD"
TIMEOUT = 30.0  # seconds for the server to answer
TEMPLATE_SUFFIX = ".txt"
HTML_SUFFIX = ".html"
MAX_LINE = 998  # RFC 5322: longer lines need an encoding


class NotSent(PipectlError):
    """The message was certainly not handed over."""

    def __init__(self, message: str, *, temporary: bool = False, fatal: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.fatal = fatal


class Lost(PipectlError):
    """The connection broke during the hand-over: whether the message went cannot be known."""


# --- templates -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Template:
    name: str
    subject: str
    body: str
    html: str | None = None  # the HTML part, from NAME.html beside NAME.txt: only a template that has one sends one

    @property
    def placeholders(self) -> list[str]:
        """The fields it uses, in order of first use."""
        found: list[str] = []
        for text in (self.subject, self.body, self.html or ""):
            for name in string.Template(text).get_identifiers():
                if name not in found:
                    found.append(name)
        return found

    def fill(self, fields: dict[str, str]) -> tuple[str, str]:
        """(subject, body) with ``fields`` in; a placeholder ``fields`` lacks is an error naming it."""
        subject, body = (self._substitute(text, fields) for text in (self.subject, self.body))
        return subject, body

    def fill_html(self, fields: dict[str, str]) -> str | None:
        """The HTML part with ``fields`` in, each escaped (a company "Smith & Sons" stays text); None
        without one."""
        if self.html is None:
            return None
        return self._substitute(self.html, {key: html.escape(value) for key, value in fields.items()})

    def _substitute(self, text: str, fields: dict[str, str]) -> str:
        missing = [name for name in self.placeholders if name not in fields]
        if missing:
            raise PipectlError(
                f"template {self.name!r}: ${missing[0]} cannot be filled (fields: {', '.join(sorted(fields))});"
                " nothing was sent"
            )
        try:
            return string.Template(text).substitute(fields).strip()
        except ValueError as exc:  # a lone $ not followed by a name: write $$
            raise PipectlError(f"template {self.name!r}: {exc} (write $$ for a dollar sign)") from None


def parse_template(name: str, text: str) -> Template:
    """A template file: a ``Subject:`` line, a blank line, the body."""
    head, blank, body = text.replace("\r\n", "\n").lstrip("\ufeff").partition("\n\n")
    key, colon, subject = head.partition(":")
    if not colon or key.strip().lower() != "subject" or "\n" in head.strip() or not subject.strip() or not blank:
        raise ConfigError(f"template {name!r}: it must start with a 'Subject: ...' line, then a blank line, the body")
    return Template(name, subject.strip(), body.strip())


def load_template(folder: Path, name: str) -> Template:
    """``NAME.txt`` of ``folder``, and ``NAME.html`` beside it when there is one (the message's HTML part:
    the same placeholders, filled with escaped values)."""
    path = folder / f"{name}{TEMPLATE_SUFFIX}"
    if "/" in name or not path.is_file():
        names = ", ".join(template_names(folder)) or "none yet"
        raise NotFound(f"no template {name!r}: {path} does not exist (templates: {names})")
    template = parse_template(name, _read(path))
    html_path = path.with_suffix(HTML_SUFFIX)
    if not html_path.is_file():
        return template
    return dataclasses.replace(template, html=_read(html_path).lstrip("\ufeff").strip())


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"template {path}: cannot read it ({exc})") from None


def template_names(folder: Path) -> list[str]:
    return sorted(path.stem for path in folder.glob(f"*{TEMPLATE_SUFFIX}") if path.is_file())


# --- the message ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def address(sender: str) -> str:
    """The bare address of a ``Name <address>`` sender."""
    return parseaddr(sender)[1]


class _Registry(HeaderRegistry):
    """The standard header registry, but a header's class is made once: the standard one makes a new
    class at every lookup, and an EmailMessage looks one up for each header set."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        if key not in self._classes:
            self._classes[key] = super().__getitem__(name)
        return self._classes[key]


_POLICY = EmailPolicy(header_factory=_Registry())
_LINESEP = {linesep: _POLICY.clone(linesep=linesep) for linesep in ("\n", "\r\n")}
# The headers every message of a run shares (the From, the Date, the MIME headers): made once a run.
_shared = functools.cache(headers.verbatim)


def _ascii(mail: str) -> str:
    """``mail`` as 7-bit mail carries it: its domain in IDNA (a non-ASCII local part is refused before)."""
    local, at, domain = mail.rpartition("@")
    if domain.isascii():
        return mail
    try:
        return f"{local}{at}{domain.encode('idna').decode('ascii')}"
    except UnicodeError as exc:
        raise PipectlError(f"cannot address a message to {mail!r}: its domain is not a valid name ({exc})") from None


def _checked(mail: str) -> str:
    """``mail`` if it is one address (the email package's own check), else a PipectlError."""
    try:
        Address(addr_spec=mail)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise PipectlError(f"cannot address a message to {mail!r}: {exc}") from None
    return mail


@functools.lru_cache(maxsize=8)
def _from(sender: str) -> headers.Header:
    name, mail = parseaddr(sender)
    return headers.mailbox("From", name, _ascii(_checked(mail)))


def build(
    sender: str,
    to: tuple[str, str],
    subject: str,
    body: str,
    now: datetime,
    unsubscribe: bool = False,
    html_body: str | None = None,
) -> EmailMessage:
    """A plain-text message from ``sender`` to ``to`` (name, address), its Message-ID on the sender's
    domain; ``unsubscribe`` adds List-Unsubscribe (a mailto: to the sender, SPEC §13); with ``html_body``,
    the text and that HTML as alternatives (multipart/alternative, the text first). Readers decode its name
    and subject to exactly what was given, a line break read as a space (:mod:`pipectl.mail.headers`)."""
    name, mail = to
    own = _ascii(address(sender))
    message = EmailMessage(policy=_POLICY)
    message["From"] = _from(sender)
    message["To"] = headers.mailbox("To", name, _ascii(_checked(mail)))
    message["Subject"] = headers.text("Subject", subject)
    message["Date"] = _shared("Date", format_datetime(now))
    message["Message-ID"] = headers.verbatim("Message-ID", make_msgid(domain=own.rpartition("@")[2]))
    if unsubscribe:
        message["List-Unsubscribe"] = _shared("List-Unsubscribe", f"<mailto:{own}?subject=unsubscribe>")
    if html_body is not None:
        message.set_content(body + "\n")
        message.add_alternative(html_body + "\n", subtype="html")
        return message
    # What set_content would write, its headers made once a run rather than parsed once a message.
    text = body + "\n"
    plain = text.isascii() and all(len(line) <= MAX_LINE for line in text.splitlines())
    message["MIME-Version"] = _shared("MIME-Version", "1.0")
    message["Content-Type"] = _shared("Content-Type", 'text/plain; charset="utf-8"')
    message["Content-Transfer-Encoding"] = _shared("Content-Transfer-Encoding", "7bit" if plain else "quoted-printable")
    message.set_payload(text if plain else quoprimime.body_encode(text.encode("utf-8").decode("latin-1")))
    return message


def preview(message: EmailMessage) -> str:
    """A message :func:`build` made as the rep reads it: its headers decoded, then the text (and the
    HTML part's, if it has one)."""
    head = "".join(f"{name}: {value}\n" for name, value in message.items())
    parts = [part.get_content().rstrip() for part in message.walk() if not part.is_multipart()]
    return head + "".join(f"\n{text}\n" for text in parts).rstrip("\n")


def as_bytes(message: EmailMessage, linesep: str = "\n") -> bytes:
    """``message.as_bytes()`` with lines ending in ``linesep``, for a message :func:`build` made."""
    return message.as_bytes(policy=_LINESEP[linesep])


# --- the three methods ---------------------------------------------------------------------------


class Method(Protocol):
    """How a message reaches the rep's account."""

    name: str

    def hand_over(self, message: EmailMessage, sender: str, to: str) -> None: ...

    def close(self) -> None: ...


class Smtp:
    """SMTP submission: 465 is TLS from the first byte, any other port upgrades with STARTTLS (a server
    that does not offer it is refused, as the password would cross in clear). Connected on first use."""

    name = "smtp"

    def __init__(self, host: str, port: int, user: str, timeout: float = TIMEOUT) -> None:
        self.host, self.port, self.user, self.timeout = host, port, user, timeout
        self._client: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        import smtplib
        import ssl

        where = f"SMTP server {self.host}:{self.port}"
        user, password = secret.credentials(where, self.host, self.user, PASSWORD_ENV, '[send] user = "..."')
        context = ssl.create_default_context()
        try:
            if self.port == 465:
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                client.ehlo()
                if not client.has_extn("starttls"):
                    client.close()
                    raise NotSent(f"{where} does not offer STARTTLS: the password would cross in clear", fatal=True)
                client.starttls(context=context)
                client.ehlo()
            client.login(user, password)
        except smtplib.SMTPAuthenticationError:
            raise NotSent(f"{where} refused the login of {user!r}", fatal=True) from None
        except ssl.SSLError as exc:
            raise NotSent(f"{where}: TLS failed ({exc.reason or exc})", fatal=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotSent(f"{where} cannot be reached ({exc.__class__.__name__}: {exc})", fatal=True) from None
        return client

    def hand_over(self, message: EmailMessage, sender: str, to: str) -> None:
        import smtplib

        if self._client is None:
            self._client = self._connect()
        try:
            if (sender + to).isascii():
                self._client.sendmail(sender, [to], as_bytes(message, "\r\n"))
            else:  # an address in UTF-8: send_message asks the server for SMTPUTF8
                self._client.send_message(message, from_addr=sender, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _answer(f"the server refused {to}", code, text) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _answer(f"the server refused the message to {to}", exc.smtp_code, exc.smtp_error) from None
        except OSError as exc:  # smtplib's errors are OSErrors too: only a dropped connection is lost
            if isinstance(exc, smtplib.SMTPException) and not isinstance(exc, smtplib.SMTPServerDisconnected):
                raise
            self._client.close()
            self._client = None
            raise Lost(
                f"the connection to SMTP server {self.host}:{self.port} broke while handing over the message to"
                f" {to} ({exc.__class__.__name__}: {exc})"
            ) from None

    def close(self) -> None:
        if self._client is not None:
            import smtplib

            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                self._client.close()
            self._client = None


def _answer(what: str, code: int, text: bytes | str) -> NotSent:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    temporary = 400 <= code < 500
    later = "; it is tried again on the next run" if temporary else ""
    return NotSent(f"{what}: {code} {' '.join(said.split())}{later}", temporary=temporary)


class Sendmail:
    """A sendmail-compatible command that reads the recipients from the headers (``msmtp -t``)."""

    name = "sendmail"
    TEMPFAIL = 75  # sendmail's EX_TEMPFAIL: try again later

    def __init__(self, command: str) -> None:
        self.argv = shlex.split(command)

    def hand_over(self, message: EmailMessage, sender: str, to: str) -> None:
        try:
            done = subprocess.run(self.argv, input=as_bytes(message), capture_output=True, timeout=TIMEOUT * 4)
        except subprocess.TimeoutExpired:  # killed after it had the message: it may have sent it
            raise Lost(
                f"[send] command {self.argv[0]!r} did not finish in {TIMEOUT * 4:g} s with the message to {to}"
                " and was stopped"
            ) from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise NotSent(f"[send] command {self.argv[0]!r} cannot run ({exc})", fatal=True) from None
        if done.returncode:
            said = " ".join(done.stderr.decode("utf-8", "replace").split())[:300]
            raise NotSent(
                f"[send] command {self.argv[0]!r} exited with {done.returncode} for {to}{': ' + said if said else ''}",
                temporary=done.returncode == self.TEMPFAIL,
                fatal=done.returncode != self.TEMPFAIL,
            )

    def close(self) -> None:
        return None


class Drafts:
    """A Maildir: each message becomes a draft (flag D, in ``cur``) for the rep to read and send."""

    name = "drafts"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        if not all((folder / part).is_dir() for part in ("cur", "new", "tmp")):
            raise NotSent(f"[send] folder {folder} is not a Maildir (it needs cur, new and tmp)", fatal=True)
        self._count = 0

    def hand_over(self, message: EmailMessage, sender: str, to: str) -> None:
        self._count += 1
        unique = f"{time.time_ns()}.P{os.getpid()}Q{self._count}.{socket.gethostname().replace('/', '_')}"
        temporary = self.folder / "tmp" / unique
        try:
            with temporary.open("xb") as file:
                file.write(as_bytes(message))
                file.flush()
                os.fsync(file.fileno())
            temporary.rename(self.folder / "cur" / f"{unique}:2,D")
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise NotSent(f"cannot write the draft in {self.folder} ({exc.strerror})", fatal=True) from None

    def close(self) -> None:
        return None


def method(send: dict[str, Any], sender: str) -> Method | None:
    """The configured method (``[send]``), or None when none is set."""
    if send["method"] == "smtp":
        return Smtp(send["host"].strip(), send["port"], send["user"].strip() or address(sender))
    if send["method"] == "sendmail":
        return Sendmail(send["command"])
    if send["method"] == "drafts":
        return Drafts(Path(send["folder"]).expanduser())
    return None
