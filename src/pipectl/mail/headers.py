"""The header lines of the messages pipectl writes (SPEC §13): encoded per RFC 2047 and folded here.

The email package's own folder changes what a rep wrote: at a fold between a Latin and a Japanese word
it can lose the space between them, and a word longer than a line can leave a line of only whitespace,
which ends the header block for readers. So :func:`text` (a Subject), :func:`mailbox` (From, To) and
:func:`verbatim` (the rest) make a :class:`Header`: a ``str`` holding the decoded text, which an
``EmailMessage`` stores and writes as it is (``name`` and ``fold`` are what the email package asks of a
header).

Text that is printable ASCII and fits is written as it is, folded at its spaces (before a run of them, so
no line is only whitespace); other text as encoded-words of at most 75 characters, cut between characters,
never inside one's UTF-8 bytes, and folded between encoded-words (whose whitespace readers drop), spaces
inside them. A display name is one encoded-word, however long: Python without the fix of gh-128110 reads the
space between two encoded-words of a name as a space, where mail readers read nothing, so a name is never
cut in two. A header is one line, so a line break is written as a space, and a display name has its
whitespace as a phrase reads it (:func:`display_name`); nothing else is changed. The lines are ASCII, for
7-bit and SMTPUTF8 mail alike (the email package reads raw UTF-8 in a display name as undecodable bytes).
"""

from __future__ import annotations

import base64
import re
from email.policy import Policy

from pipectl.errors import PipectlError

LINE = 78  # RFC 5322: lines should be at most this long
MAX_LINE = 998  # RFC 5322: lines must be at most this long (in octets)
WORD = 75  # RFC 2047: the longest encoded-word
_WRAP = len("=?utf-8?b??=")
# The bytes an encoded-word in Q may hold as they are anywhere, a display name included (RFC 2047 §5).
_Q_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/")
_Q_COST = [1 if byte in _Q_SAFE or byte == 0x20 else 3 for byte in range(256)]
_Q_CHAR = [chr(byte) if byte in _Q_SAFE else "_" if byte == 0x20 else f"={byte:02X}" for byte in range(256)]
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
_WORDS = re.compile(r" *[^ ]+")
_SPACES = re.compile(r"[ \t]\s*")
_BREAKS = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")  # what str.splitlines breaks at


class Header(str):
    """A header as pipectl writes it: the ``str`` is its decoded text, ``lines`` its lines (ASCII, valid in
    7-bit and SMTPUTF8 mail alike)."""

    name: str
    lines: tuple[str, ...]

    def __new__(cls, name: str, value: str, lines: list[str]) -> Header:
        if any(len(line) > MAX_LINE for line in lines):
            raise PipectlError(f"the {name} header cannot be written: {value[:40]!r}... is too long for a line")
        header = super().__new__(cls, value)
        header.name, header.lines = name, tuple(lines)
        return header

    def fold(self, *, policy: Policy) -> str:
        return policy.linesep.join(self.lines) + policy.linesep


def one_line(value: str) -> str:
    """A header is one line: each line break in ``value`` becomes a space (the only change made to it)."""
    return _BREAKS.sub(" ", value)


def verbatim(name: str, value: str) -> Header:
    """A header of short ASCII written as it is: a Date, a Message-ID, the MIME headers."""
    return Header(name, value, [f"{name}: {value}"])


def text(name: str, value: str) -> Header:
    """An unstructured header (a Subject) that readers decode to exactly ``one_line(value)``."""
    value = one_line(value)
    if not value:
        return Header(name, value, [f"{name}:"])
    head = len(name) + 2
    return Header(name, value, _fold(name, _plain(value, head) or _encoded(value, LINE - head)))


def display_name(display: str) -> str:
    """A display name as a phrase carries it: with its whitespace as one space from a space or a tab on,
    none at the ends (RFC 5322 reads whitespace in a phrase so, and the email package even inside an
    encoded-word); all else as it is."""
    return _SPACES.sub(" ", one_line(display)).strip(" ")


def mailbox(name: str, display: str, addr: str) -> Header:
    """``display <addr>`` (From, To), ``addr`` in ASCII, that readers decode to exactly ``display_name(display)``."""
    display = display_name(display)
    if not display:
        return Header(name, addr, [f"{name}: {addr}"])
    return Header(name, f"{display} <{addr}>", _fold(name, [*_phrase(display), f" <{addr}>"]))


def _fold(name: str, words: list[str]) -> list[str]:
    """The lines of header ``name`` with ``words`` (each after the first begins with the whitespace before
    it): as many on a line as fit; a line begins a word, so none is only whitespace."""
    lines = [f"{name}: {words[0]}"]
    for word in words[1:]:
        if len(lines[-1]) + len(word) <= LINE:
            lines[-1] += word
        else:
            lines.append(word)
    return lines


def _printable(value: str) -> bool:
    """Whether ``value`` may be written as it is: printable ASCII (no control characters, no whitespace but
    the space), not read as an encoded-word."""
    return value.isascii() and value.isprintable() and "=?" not in value


def _plain(value: str, head: int) -> list[str] | None:
    """``value`` as it is, in words to fold at its spaces, if it can be (a reader drops leading spaces,
    a transport may drop trailing ones) and each word fits on a line."""
    if value[0] == " " or value[-1] == " " or not _printable(value):
        return None
    words = _WORDS.findall(value)
    fits = head + len(words[0]) <= LINE and all(len(word) <= LINE for word in words[1:])
    return words if fits else None


def _phrase(display: str) -> list[str]:
    """A display name as words: atoms as they are, other printable ASCII one quoted-string (folded at its
    spaces), anything else one encoded-word (see the module docstring)."""
    if _printable(display):
        words = display.split(" ")
        if all(word and all(char in _ATEXT for char in word) for word in words):
            return [words[0], *(" " + word for word in words[1:])]
        quoted = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return _WORDS.findall(quoted)
    return [_encode(display, _shorter_is_b(display))]


def _shorter_is_b(value: str) -> bool:
    data = value.encode("utf-8")
    return 4 * -(-len(data) // 3) < sum(_Q_COST[byte] for byte in data)


def _encode(value: str, b: bool) -> str:
    data = value.encode("utf-8")
    if b:
        return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="
    return f"=?utf-8?q?{''.join(_Q_CHAR[byte] for byte in data)}?="


def _encoded(value: str, first: int) -> list[str]:
    """``value`` as encoded-words of at most :data:`WORD` characters (the first at most ``first``), cut
    between characters; each after the first begins with the space that folds before it."""
    b = _shorter_is_b(value)
    words: list[str] = []
    start = size = 0
    budget = min(first, WORD) - _WRAP
    for at, char in enumerate(value):
        data = char.encode("utf-8")
        cost = len(data) if b else sum(_Q_COST[byte] for byte in data)
        grown = size + cost
        if at > start and (4 * -(-grown // 3) if b else grown) > budget:
            words.append(_encode(value[start:at], b))
            start, grown, budget = at, cost, WORD - _WRAP
        size = grown
    words.append(_encode(value[start:], b))
    return [words[0], *(" " + word for word in words[1:])]
