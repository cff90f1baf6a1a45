"""Streaming readers: the messages of a Maildir folder, an mbox file, an .eml file, a folder of .eml files
or stdin (``-``), as records (:class:`~pipectl.mail.record.MailRecord`).

:func:`read` tells the kinds apart (:func:`kind_of`) and yields one record per message, reading only
its header block; the body stays on disk until a record is asked for it. An mbox is read in one pass
(a separator is a ``From `` line after a blank line, or one in the strict ``From sender date`` form),
keeping the offsets of each message; ``>From`` lines are unquoted as mboxrd writes them, which also
undoes the mboxo quoting Thunderbird, mutt and Gmail Takeout use. A Maildir's files are read from
``new/`` and ``cur/`` in delivery order, skipping the base names the caller already has.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from functools import partial
from pathlib import Path
from typing import BinaryIO, Literal

from pipectl.errors import NotFound, PipectlError
from pipectl.mail.record import MailRecord, parse_date, record_from_headers

Kind = Literal["maildir", "mbox", "eml", "eml-folder", "stdin"]
KINDS = "a Maildir folder (with cur/ and new/), an mbox file, an .eml file, a folder of .eml files or - (stdin)"

_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_STRICT_SEPARATOR = re.compile(rb"^From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +[A-Z][a-z]{2} +\d{1,2} \d\d?:\d\d")
_FROM_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)
_DELIVERED_AT = re.compile(r"^(\d{9,10})\.")
# The header scan reads raw header lines only (the record decodes the few it keeps): compat32 spares
# it policy.default's header objects, which cost more than the rest of the read together.
_PARSER = BytesHeaderParser(policy=policy.compat32)


def kind_of(path: str) -> Kind:
    """What ``path`` is; a PipectlError naming it when it is none of :data:`KINDS` or cannot be read."""
    if path == "-":
        return "stdin"
    target = Path(path)
    try:
        if target.is_dir():
            return "maildir" if (target / "cur").is_dir() and (target / "new").is_dir() else "eml-folder"
        if not target.exists():
            raise NotFound(f"{path}: no such file or folder; expected {KINDS}")
        if target.suffix.lower() == ".eml":
            return "eml"
        with target.open("rb") as file:
            head = file.read(1024)
    except OSError as exc:
        raise PipectlError(f"{path}: cannot read it ({exc.strerror})") from None
    if not head or head.startswith(b"From "):
        return "mbox"  # an empty file is an empty mbox, as Thunderbird keeps an empty folder
    if _HEADER_LINE.match(head):
        return "eml"
    raise PipectlError(f"{path}: not a mailbox; expected {KINDS}")


def read(path: str, skip_names: Container[str] = frozenset(), stdin: BinaryIO | None = None) -> Iterator[MailRecord]:
    """The messages at ``path`` (one of :data:`KINDS`), as records, in the order they are stored. A Maildir
    file whose base name is in ``skip_names`` is not opened. ``stdin`` is read for ``-`` (default: the
    process's standard input). The kind is checked now; a file that cannot be read raises a PipectlError
    when the iteration reaches it."""
    kind = kind_of(path)
    if kind == "stdin":
        return _stdin(stdin or sys.stdin.buffer)
    if kind == "maildir":
        return _maildir(Path(path), skip_names)
    if kind == "mbox":
        return _mbox(Path(path))
    if kind == "eml":
        return iter([_file(Path(path))])
    return _eml_folder(Path(path))


def _headers(file: BinaryIO) -> Message:
    """The header block of the message ``file`` is at: read up to the blank line, and no further."""
    lines = []
    for line in file:
        if line in (b"\n", b"\r\n"):
            break
        lines.append(line)
    return _PARSER.parsebytes(b"".join(lines))


def _reader(path: Path, start: int = 0, size: int = -1, unquote: bool = False) -> Callable[[], bytes]:
    def load() -> bytes:
        with _open(path) as file:
            file.seek(start)
            data = file.read(size)
        return _FROM_QUOTED.sub(rb"\1", data) if unquote else data

    return load


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise PipectlError(f"{path}: cannot read it ({exc.strerror})") from None


def _file(path: Path, name: str | None = None, fallback: Callable[[], datetime | None] | None = None) -> MailRecord:
    with _open(path) as file:
        headers = _headers(file)
    return record_from_headers(headers, _reader(path), str(path), name, fallback)


def _stdin(stream: BinaryIO) -> Iterator[MailRecord]:
    data = stream.read()
    if not data.strip():
        raise PipectlError("-: nothing on stdin; expected one message")
    yield record_from_headers(_headers(io.BytesIO(data)), lambda: data, "-")


def _eml_folder(folder: Path) -> Iterator[MailRecord]:
    found = False
    for root, dirs, files in os.walk(folder, onerror=_walk_error):
        dirs.sort()
        for file in sorted(files):
            if file.lower().endswith(".eml"):
                found = True
                yield _file(Path(root) / file)
    if not found:
        raise PipectlError(f"{folder}: no .eml files in it, and not a Maildir (no cur/ and new/); expected {KINDS}")


def _walk_error(exc: OSError) -> None:
    raise PipectlError(f"{exc.filename}: cannot read it ({exc.strerror})")


def _delivered(name: str, path: Path) -> datetime:
    """When a Maildir file was delivered: the time its name starts with, else its modification time."""
    match = _DELIVERED_AT.match(name)
    seconds = int(match.group(1)) if match else path.stat().st_mtime
    return datetime.fromtimestamp(seconds, UTC)


def _maildir(folder: Path, skip_names: Container[str]) -> Iterator[MailRecord]:
    # (base name, folder, file name): a path is made only for a file that is read, so a run over
    # 100,000 files it already has costs a listing and a sort (measured: 0.5 s of paths at 100,000).
    entries: list[tuple[str, str, str]] = []
    for sub in ("new", "cur"):
        try:
            names = os.listdir(folder / sub)
        except OSError as exc:
            raise PipectlError(f"{folder / sub}: cannot read it ({exc.strerror})") from None
        entries += [(name.split(":", 1)[0], sub, name) for name in names if not name.startswith(".")]
    entries.sort()
    for name, sub, file in entries:
        if name in skip_names:
            continue
        path = folder / sub / file
        if path.is_file():
            yield _file(path, name, partial(_delivered, name, path))


@dataclass
class _Pending:
    """An mbox message being read: where its bytes start, its separator line and its header lines."""

    start: int
    separator: bytes
    header: list[bytes]
    in_header: bool = True


def _separator_date(line: bytes) -> datetime | None:
    words = line.decode("ascii", "replace").split(None, 2)
    return parse_date(words[2]) if len(words) == 3 else None


def _mbox(path: Path) -> Iterator[MailRecord]:
    count = 0

    def finish(pending: _Pending, end: int) -> MailRecord:
        nonlocal count
        count += 1
        headers = _PARSER.parsebytes(b"".join(pending.header))
        load = _reader(path, pending.start, end - pending.start, unquote=True)
        when = partial(_separator_date, pending.separator)
        return record_from_headers(headers, load, f"{path}#{count}", None, when)

    with _open(path) as file:
        pending: _Pending | None = None
        offset = 0
        blank = 0  # the length of the previous line when it was blank (it belongs to the separator), else 0
        at_start = True
        for line in file:
            if line.startswith(b"From ") and (at_start or blank or _STRICT_SEPARATOR.match(line)):
                if pending is not None:
                    yield finish(pending, offset - blank)
                pending = _Pending(offset + len(line), line, [])
            elif pending is not None and pending.in_header:
                if line in (b"\n", b"\r\n"):
                    pending.in_header = False
                else:
                    pending.header.append(line)
            at_start = False
            blank = len(line) if line in (b"\n", b"\r\n") else 0
            offset += len(line)
        if pending is not None:
            yield finish(pending, offset - blank)
