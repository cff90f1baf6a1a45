"""Bytes of mail as text, the way real mail needs it: labels are often wrong or too narrow.

Windows writes cp932 under the Shift_JIS label and NEC characters (①, ㈱) inside ISO-2022-JP, which
the strict codecs refuse; 8-bit UTF-8 comes labelled us-ascii; labels Python does not know turn up.
:func:`decode_bytes` tries the label's superset, the label, then the usual guesses, and never raises.
:func:`decode_words` applies the same to a header's RFC 2047 encoded words.
"""

from __future__ import annotations

import base64
import binascii
import re
from email import quoprimime

# Labels real mail uses for a charset whose superset is what the sender's software wrote.
_SUPERSETS = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
}
# Tried, in order, on bytes whose label is missing or wrong: most unlabelled 8-bit mail is one of these.
_GUESSES = ("utf-8", "cp932", "euc-jp")
_JIS_ESCAPE = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B)")


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """``data`` as text: ISO-2022-JP when it is 7-bit with JIS escapes (whatever the label says), else by ``charset``'s
    superset, ``charset``, the usual guesses, and at last with what does not decode replaced."""
    if data.isascii() and _JIS_ESCAPE.search(data):  # ISO-2022-JP is 7-bit; its codecs misread 8-bit bytes
        text = _iso2022jp(data)
        if text is not None:
            return text
    names: list[str] = []
    if charset:
        label = charset.strip().strip('"').lower()
        names += [_SUPERSETS.get(label, label), label]
    names += _GUESSES
    for errors in ("strict", "replace"):
        for name in names:
            try:
                return data.decode(name, errors)
            except (LookupError, UnicodeDecodeError):  # unknown label, or a codec that is not for text
                continue
    raise AssertionError("utf-8 with errors='replace' decodes any bytes")


def _iso2022jp(data: bytes) -> str | None:
    """ISO-2022-JP as Windows writes it (CP50220: NEC row 13 included), or None when ``data`` is not that."""
    try:
        return data.decode("iso2022_jp_ext")
    except UnicodeDecodeError:
        pass
    sjis = bytearray()
    mode = b"(B"
    for index, piece in enumerate(_JIS_ESCAPE.split(data)):
        if index % 2:
            mode = piece
        elif mode in (b"$B", b"$@"):
            sjis += _jis_to_sjis(piece)
        elif mode == b"(I":
            sjis += bytes(byte + 0x80 if 0x21 <= byte <= 0x5F else byte for byte in piece)
        else:
            sjis += piece
    if b"\x1b" in sjis:  # an escape this reading does not know (JIS X 0212...)
        return None
    try:
        return bytes(sjis).decode("cp932")
    except UnicodeDecodeError:
        return None


def _jis_to_sjis(piece: bytes) -> bytes:
    """Two-byte JIS X 0208 codes as Shift_JIS (the same table, rearranged); other bytes as they are."""
    out = bytearray()
    index = 0
    while index < len(piece):
        first = piece[index]
        second = piece[index + 1] if index + 1 < len(piece) else 0
        if not (0x21 <= first <= 0x7E and 0x21 <= second <= 0x7E):
            out.append(first)
            index += 1
            continue
        lead = ((first - 0x21) >> 1) + 0x81
        lead += 0x40 if lead > 0x9F else 0
        trail = second + (0x1F + (second >= 0x60) if first & 1 else 0x7E)
        out += bytes((lead, trail))
        index += 2
    return bytes(out)


_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(?<=\?=)[ \t\r\n]+(?==\?[^?\s]+\?[bBqQ]\?)")


_UNDECODED = re.compile(r"[\udc80-\udcff\x1b]")


def raw_header_text(value: str) -> str:
    """A header value as the email package hands it over, as text: raw 8-bit (Shift_JIS, UTF-8) and raw
    ISO-2022-JP bytes, which Japanese mailers still send, decoded; RFC 2047 encoded words left as they are."""
    return decode_bytes(value.encode("ascii", "surrogateescape")) if _UNDECODED.search(value) else value


def decode_words(value: str) -> str:
    """``value`` (a subject, a display name) with its RFC 2047 encoded words decoded by :func:`decode_bytes`, so
    Shift_JIS, ISO-2022-JP with NEC characters and unknown labels read right; the white space between two
    encoded words is dropped (RFC 2047 §6.2), and a word that is not valid base64 or Q reads as written."""

    def decode(word: re.Match[str]) -> str:
        charset, encoding, payload = word.groups()
        try:
            if encoding in "bB":
                data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
            else:
                data = quoprimime.header_decode(payload).encode("latin-1")
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return word.group(0)
        return decode_bytes(data, charset.split("*", 1)[0])  # RFC 2231 adds "*language" to the charset

    return _WORD.sub(decode, _BETWEEN_WORDS.sub("", value))
