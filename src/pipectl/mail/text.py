"""The new text of a message: what its writer typed, without the quoted history or the signature.

:func:`body_text` picks the text of a parsed message (text/plain, else HTML turned into text) and
decodes it by its charset (:mod:`pipectl.mail.charsets`);
:func:`new_text` cuts quoted lines, the attribution and reply-header blocks that start the quoted history
(English and Japanese clients, Outlook's header block), and the signature; :func:`snippet` is its first
characters on one line, for a touchpoint's note.
"""

from __future__ import annotations

import re
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from pipectl.mail.charsets import decode_bytes


def _part_text(part: Message) -> str:
    """A text part's content, decoded from its transfer encoding and charset."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def body_text(message: EmailMessage) -> str:
    """The text of ``message``: its text/plain body, else its HTML body as text, else ``""``; lines end
    with ``\\n`` whatever the message used."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _part_text(part)
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return _lines(text)


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BLOCKS = frozenset(
    {"address", "article", "aside", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4", "h5", "h6"}
    | {"header", "hr", "li", "ol", "p", "pre", "section", "table", "tr", "ul"}
)
_HIDDEN = frozenset({"head", "script", "style", "title", "template"})


class _TextParser(HTMLParser):
    """HTML as lines of text; a blockquote's content comes out as ``> `` lines, as a plain-text client
    would have written it, so the cutter treats it as quoted history."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.hidden = 0
        self.quoted = 0

    def _break(self) -> None:
        line = re.sub(r"\s+", " ", "".join(self.current)).strip()
        if line:
            self.lines.append("> " + line if self.quoted else line)
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "blockquote":
            self._break()
            self.quoted += 1
        elif tag in _BLOCKS:
            self._break()
        elif tag in ("td", "th"):
            self.current.append(" ")  # cells of a row (signatures, Outlook layouts) stay apart

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "blockquote":
            self._break()
            self.quoted = max(0, self.quoted - 1)
        elif tag in _BLOCKS:
            self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.current.append(data)

    def close(self) -> None:
        super().close()
        self._break()


def html_to_text(html: str) -> str:
    """HTML as plain text: one line per block, scripts and styles dropped, entities decoded."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return "\n".join(parser.lines)


# A line after which everything is someone else's text: a forwarded or original message follows.
_SEPARATOR = re.compile(
    r"""^(?:
        -{2,}\s*(?:Original\ Message|Forwarded\ message|Forwarded\ Message|元のメッセージ|転送メッセージ)\s*-{2,}
      | _{10,}                                            # Outlook 365 rule above the header block
      | Begin\ forwarded\ message:                        # Apple Mail
    )$""",
    re.VERBOSE,
)
# A line that introduces a quotation ("On ... wrote:"), in the languages reps and their leads write.
_ATTRIBUTION = re.compile(
    r"""^(?:
        On\ .{1,300}\bwrote:                              # Thunderbird, Gmail, Apple Mail, mutt
      | (?:Le|Am|El|Il|Op)\ .{1,300}(?:a\ écrit|schrieb|escribió|ha\ scritto|schreef).{0,80}:
      | .{0,100}\d{4}[年/.-]\s?\d{1,2}[月/.-]\s?\d{1,2}.{0,200}       # Japanese Gmail, Apple Mail, Thunderbird
        (?:<[^<>@\s]+@[^<>\s]+>|さんは書きました|のメール|wrote)\s?[:\uff1a]
      | .{1,100}(?:さんは書きました|さんが書きました)\s?[:\uff1a]
    )$""",
    re.VERBOSE,
)
# Outlook's reply header: "From: ..." followed by "Sent: ..."/"Date: ..." (or their Japanese labels).
_FROM_LINE = re.compile(r"^\*?(?:From|差出人|送信者)\s?\*?\s?[:\uff1a]")
_SENT_LINE = re.compile(r"^\*?(?:Sent|Date|送信日時|日付)\s?\*?\s?[:\uff1a]")
_SIGNATURE = re.compile(
    r"""^(?:--                                          # "-- " (clients often drop its space)
      | Sent\ from\ (?:my\ .{1,40}|Mail\ for\ Windows.*|Yahoo\ Mail.*|Outlook.*)
      | Get\ Outlook\ for\ (?:iOS|Android)
      | (?:iPhone|iPad|Android|Outlook\ for\ iOS|Outlook\ for\ Android)\ ?から送信
    )$""",
    re.VERBOSE | re.IGNORECASE,
)


def _ends_new_text(lines: list[str], index: int) -> bool:
    """Whether the writer's own text ends before line ``index``: a separator, a signature, a reply header."""
    line = lines[index].strip()
    if _SEPARATOR.match(line) or _SIGNATURE.match(line):
        return True
    following = lines[index + 1 : index + 4]
    return bool(_FROM_LINE.match(line)) and any(_SENT_LINE.match(later.strip()) for later in following)


def _attribution(lines: list[str], index: int) -> int:
    """How many lines the attribution starting at line ``index`` takes (0 when there is none there)."""
    line = lines[index].strip()
    if _ATTRIBUTION.match(line):
        return 1
    following = lines[index + 1].strip() if index + 1 < len(lines) else ""
    # Gmail wraps a long attribution: "On Mon, ... <a@b.c>" / "wrote:"
    return 2 if line.startswith("On ") and following and _ATTRIBUTION.match(f"{line} {following}") else 0


def new_text(text: str) -> str:
    """What the writer of a message typed: ``text`` without quoted lines (``>``) and their attribution,
    without the history under a separator or reply header, without the signature; blank-line runs made one.
    Answers written between quoted lines (mutt, bottom posting) are kept."""
    lines = _lines(text).split("\n")
    kept: list[str] = []
    index = 0
    while index < len(lines) and not _ends_new_text(lines, index):
        span = _attribution(lines, index)
        if span:
            after = next((line.strip() for line in lines[index + span :] if line.strip()), ">")
            if not after.startswith(">"):
                break  # the history follows unquoted (a client that does not quote)
            index += span
            continue
        if not lines[index].lstrip().startswith(">"):
            kept.append(lines[index].rstrip())
        index += 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def snippet(text: str, limit: int = 200) -> str:
    """The first ``limit`` characters of ``text`` with whitespace runs (newlines too) made one space."""
    return re.sub(r"\s+", " ", text).strip()[:limit].rstrip()
