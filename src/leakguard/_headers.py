"""Reading raw header text in linear time: header blocks, fields, encoded words, address
lists. The one header reader of the package: every other module reads headers here.

The standard library's header parsers are fine on honest headers but can take minutes
on hostile ones (``decode_header`` pops from the front of a list, the modern address
parser backtracks) and raise ``AttributeError`` or ``IndexError`` on some mangled
values. Everything here works on the raw text, one left-to-right pass, never raises,
and says when a value did not follow the grammar so that a caller can report it.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leakguard.core import mask_numbers

if TYPE_CHECKING:
    from email.message import Message

__all__ = [
    "ADDRESS_FIELDS",
    "RECIPIENT_FIELDS",
    "ROUTING_FIELDS",
    "AddressList",
    "HeaderBlock",
    "address_tokens",
    "decode_words",
    "field_name",
    "fields",
    "first_field",
    "header_block",
    "header_text",
    "mask_header",
    "read_address_list",
    "read_as_text",
    "readable_text",
    "sender",
    "unfold",
    "without_blanks_before_colons",
    "without_field",
]

# Mailboxes the message is routed and answered by.
ADDRESS_FIELDS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
    }
)
# Who a message goes to: To, Cc, Bcc, and their Resent- copies (a message sent again, a
# "redirect", goes to those: a script's ``smtplib.send_message`` sends it there).
RECIPIENT_FIELDS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")
# Other fields servers and clients need to route, thread and list the message.
ROUTING_FIELDS = frozenset(
    {
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "received",
        "return-path",
        "resent-date",
        "resent-message-id",
    }
)
# Fields that mail software writes for itself: the way a message went, signatures of
# servers, spam verdicts, the MIME structure, a thread's binary index. Read as text they
# would only cost time (kilobytes of base64 in a message that went through Exchange).
_MACHINE_FIELDS = frozenset(
    {
        "x-received",
        "delivered-to",
        "dkim-signature",
        "domainkey-signature",
        "authentication-results",
        "received-spf",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-id",
        "content-length",
        "content-md5",
        "thread-index",
        "x-ms-tnef-correlator",
        "x-microsoft-antispam",
        "x-microsoft-antispam-message-info",
        "x-forefront-antispam-report",
    }
)
_MACHINE_PREFIXES = ("arc-", "x-ms-exchange-", "x-google-", "x-gm-", "resent-")


def read_as_text(name: str, /) -> bool:
    """Whether a field named ``name`` is text a person wrote or may read, to be read
    for what it says (a custom ``X-Patient``, ``Keywords``, a part's
    ``Content-Description``): not an address field (read as recipients), a routing
    field, or one that mail software writes for itself. (``Subject`` is one.)"""
    lname = name.strip().lower()
    return not (
        lname in ADDRESS_FIELDS
        or lname in ROUTING_FIELDS
        or lname in _MACHINE_FIELDS
        or lname.startswith(_MACHINE_PREFIXES)
    )


_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")
_BLANK = re.compile(r"[ \t\r\n]*")
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def unfold(raw: str, /) -> str:
    """The header value on one line (folding line breaks removed)."""
    return _FOLD.sub("", raw)


def fields(msg: Message, /, *names: str) -> list[tuple[str, str]]:
    """The fields of ``msg`` called one of ``names`` (every field when none is named), as
    ``(lower-case name, raw value)`` in the order of the message.

    The values are the text the parser kept, whatever policy it parsed with (the
    structured header parsers never run); empty when the header cannot be listed.
    """
    wanted = {n.lower() for n in names}
    try:
        return [
            (k.lower(), str(v)) for k, v in msg.raw_items() if not wanted or k.lower() in wanted
        ]
    except Exception:
        return []


def first_field(msg: Message, name: str, /) -> str | None:
    """The raw value of the first field of ``msg`` called ``name``, if any."""
    return next((value for _, value in fields(msg, name)), None)


def field_name(raw: str | bytes, /) -> str:
    """A field's name as mail readers match it: blanks around it dropped, lower-case.

    ``X-Leakguard``, ``x-leakguard`` and ``X-Leakguard `` (the obsolete syntax with a
    blank before the colon, which Postfix and mail clients still accept) are one name.
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return text.strip(" \t\r\n").lower()


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """The header block at the start of a message, split into fields.

    ``fields`` holds each field's name (as :func:`field_name` gives it, empty for a
    line without a colon) and its raw bytes (first line and folded lines, line ends
    included); ``body_at`` is where the body starts (after the blank line), or the
    length of the data when there is no blank line.
    """

    fields: tuple[tuple[str, bytes], ...]
    body_at: int


# The first empty line (CRLF or bare LF) ends the header block.
_EMPTY_LINE = re.compile(rb"^\r?$", re.MULTILINE)
# One field: a line, then every line that begins with a blank (its folded lines).
_FIELD = re.compile(rb"[^\n]*\n?(?:[ \t][^\n]*\n?)*")


def header_block(data: bytes, /) -> HeaderBlock:
    """Split the header block of ``data`` into fields, in linear time.

    Lines may end in CRLF or a bare LF; the block ends at the first empty line. A line
    that begins with a blank continues the field before it.
    """
    empty = _EMPTY_LINE.search(data)
    if empty is None or empty.start() >= len(data):
        head_end = body_at = len(data)
    else:
        head_end = empty.start()
        body_at = min(len(data), empty.end() + 1)
    fields: list[tuple[str, bytes]] = []
    for m in _FIELD.finditer(data, 0, head_end):
        raw = m.group()
        if not raw:
            continue
        name, colon, _ = raw.partition(b":")
        fields.append((field_name(name) if colon and b"\n" not in name else "", raw))
    return HeaderBlock(tuple(fields), body_at)


def without_field(data: bytes, name: str, /) -> bytes:
    """``data`` with every field called ``name`` (in any spelling :func:`field_name`
    reads as that name, folded lines included) removed from its header block."""
    wanted = field_name(name)
    empty = _EMPTY_LINE.search(data)
    head_end = len(data) if empty is None else empty.start()
    # Most messages carry no such field: one search in C says so.
    if not re.search(
        rb"(?im)^[ \t]*" + re.escape(wanted.encode("latin-1")) + rb"[ \t]*:", data[:head_end]
    ):
        return data

    def keep(m: re.Match[bytes]) -> bytes:
        head, colon, _ = m.group().partition(b":")
        return b"" if colon and b"\n" not in head and field_name(head) == wanted else m.group()

    return _FIELD.sub(keep, data[:head_end]) + data[head_end:]


# A line the standard library's parser takes for a field or its continuation, and a
# field whose name has blanks before its colon: RFC 5322's obsolete syntax, which Postfix
# and mail clients read as a field and that parser as the start of the body.
_NOT_A_FIELD = re.compile(rb"(?m)^(?![!-9;-~]*:|[ \t]|[!-9;-~]+[ \t]+:)")
_BLANKS_BEFORE_COLON = re.compile(rb"(?m)^([!-9;-~]+)[ \t]+:")


def without_blanks_before_colons(data: bytes, /) -> bytes:
    """``data`` with the blanks between a field's name and its colon removed from its
    header block (``Subject : x`` becomes ``Subject: x``), in linear time.

    The standard library's parser takes such a field for the first line of the body:
    the fields after it, and every MIME part, would be read as one plain text where
    mail clients show headers and attachments. The block is read as that parser reads
    it, up to the first line that is not a field.
    """
    empty = _EMPTY_LINE.search(data)
    head_end = len(data) if empty is None else empty.start()
    if not _BLANKS_BEFORE_COLON.search(data, 0, head_end):
        return data  # nearly every message: one search in C says so
    start = 0
    if data.startswith(b"From ") and not _BLANKS_BEFORE_COLON.match(data):
        start = data.find(b"\n") + 1 or head_end  # the separator line of an mbox file
    stop = _NOT_A_FIELD.search(data, start, head_end)
    end = head_end if stop is None else stop.start()
    return _BLANKS_BEFORE_COLON.sub(rb"\1:", data[:end]) + data[end:]


def _codec(charset: str) -> str:
    # RFC 2231 lets an encoded word carry a language: "utf-8*fr".
    name = charset.partition("*")[0].strip().lower()
    try:
        return codecs.lookup(name).name
    except (LookupError, UnicodeError):  # unknown, or a name with bytes no codec name has
        return "utf-8"


def _decode_payload(encoding: str, text: str) -> bytes:
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate the parser did not make
        data = text.encode("utf-8", "replace")
    if encoding in "bB":
        data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
        data += b"=" * (-len(data) % 4)
        try:
            return binascii.a2b_base64(data)
        except binascii.Error:
            return b""
    data = data.replace(b"_", b" ")
    return _Q_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def _word_text(data: bytes, codec: str | None) -> str:
    """An encoded word's bytes in its charset when they decode in it; else as UTF-8 when
    they are UTF-8 and as Windows-1252 otherwise (a Latin-1 word labelled ``utf-8`` or
    ``us-ascii`` keeps its non-breaking spaces)."""
    for name in (codec, "utf-8"):
        if name is not None:
            try:
                return data.decode(name)
            except UnicodeDecodeError:
                pass
    return data.decode("cp1252", "replace")


def decode_words(raw: str, /, *, western: bool = False) -> str:
    """A header's text with RFC 2047 encoded words decoded, in one pass.

    Blanks between two encoded words are dropped, adjacent words of one charset are
    joined before decoding (a character may be split across them), bytes that do not
    decode in the charset named are read as UTF-8 or Windows-1252. With ``western`` the
    charset named is ignored: the bytes are read that way whatever the label (nearly
    any bytes decode in GB18030 or KOI8-R, turning a French text into other letters).
    Text that is not an encoded word is kept as it is.
    """
    if "=?" not in raw:
        return raw
    out: list[str] = []
    pending: list[bytes] = []
    pending_codec = ""
    pos = 0

    def flush() -> None:
        if pending:
            out.append(_word_text(b"".join(pending), None if western else pending_codec))
            pending.clear()

    for m in _ENCODED_WORD.finditer(raw):
        gap = raw[pos : m.start()]
        codec = _codec(m.group(1))
        if gap and not (pending and _BLANK.fullmatch(gap)):
            flush()
            out.append(gap)
        elif pending and codec != pending_codec:
            flush()
        pending_codec = codec
        pending.append(_decode_payload(m.group(2), m.group(3)))
        pos = m.end()
    flush()
    out.append(raw[pos:])
    return "".join(out)


_EIGHT_BIT = re.compile("[\udc80-\udcff]")


def header_text(raw: object, /, *, western: bool = False) -> str:
    """A header value as a reader sees it: on one line, unencoded 8-bit bytes read as
    UTF-8 when they are UTF-8 and as Windows-1252 otherwise (what older French mail
    clients write), encoded words decoded (``western``: see :func:`decode_words`).
    Linear in the length of the value."""
    text = unfold(str(raw))
    if _EIGHT_BIT.search(text):
        try:
            data = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate the parser did not make
            text = _SURROGATE.sub("\ufffd", text)
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("cp1252", "replace")
    return decode_words(text, western=western)


# --------------------------------------------------------------------------- addresses

# One lexical token of an address list: blanks, a quoted string, a domain literal, one
# special character, or a run of other characters (an atom). Comments are handled apart
# (they nest). Each alternative is a plain character class: no backtracking.
_LEX = re.compile(
    r"""(?P<ws>[ \t\r\n]+)"""
    r"""|(?P<q>"(?:[^"\\]|\\.)*")"""
    r"""|(?P<lit>\[(?:[^\[\]\\]|\\.)*\])"""
    r"""|(?P<sp>[<>,:;@.\[\]"\\])"""
    r"""|(?P<atom>[^ \t\r\n<>,:;@.()\[\]"\\]+)""",
    re.DOTALL,
)
_SEPARATORS = re.compile(r"""[\s<>,;:"'()\[\]\\]+""")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class AddressList:
    """What one recipient header holds.

    ``mailboxes`` are the ``(display name, address)`` pairs read by the grammar;
    ``clean`` is False when some of the text did not follow it (then ``tokens`` holds
    every address-like word of the raw text, so that nothing is left unchecked);
    ``truncated`` says the value was longer than the limit and only its beginning read.
    """

    mailboxes: tuple[tuple[str, str], ...]
    clean: bool
    truncated: bool = False
    tokens: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address read: the mailboxes' first, then the address-like words."""
        return tuple(address for _, address in self.mailboxes) + self.tokens


def _comment_end(text: str, start: int) -> int:
    """The index after the comment opening at ``start``, or -1 when it never closes."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _lex(text: str) -> tuple[list[tuple[str, str]], bool]:
    """Tokens (kind, text) without blanks or comments, and whether the lexing was clean."""
    tokens: list[tuple[str, str]] = []
    clean = True
    pos = 0
    n = len(text)
    while pos < n:
        if text[pos] == "(":
            end = _comment_end(text, pos)
            if end < 0:
                return tokens, False
            pos = end
            continue
        if text[pos] == ")":
            clean = False
            pos += 1
            continue
        m = _LEX.match(text, pos)
        if m is None:  # pragma: no cover - every character matches one alternative
            clean = False
            pos += 1
            continue
        kind = m.lastgroup or "sp"
        if kind == "sp" and m.group() in '"[':
            # An unclosed quote or literal: what follows cannot be split into tokens
            # reliably (and trying again at each quote would be quadratic).
            return tokens, False
        if kind == "sp" and m.group() in "]\\":
            clean = False
        elif kind != "ws":
            tokens.append((kind, m.group()))
        pos = m.end()
    return tokens, clean


def _unquote(word: str) -> str:
    return re.sub(r"\\(.)", r"\1", word[1:-1], flags=re.DOTALL)


def _phrase(tokens: list[tuple[str, str]]) -> str | None:
    """A display name from its words (``None`` when it is not made of words)."""
    words: list[str] = []
    for kind, text in tokens:
        if kind == "atom":
            words.append(text)
        elif kind == "q":
            words.append(_unquote(text))
        elif text == ".":  # obsolete syntax, common in practice: "J. Durand"
            if words:
                words[-1] += "."
            else:
                words.append(".")
        else:
            return None
    return decode_words(" ".join(words))


def _addr_spec(tokens: list[tuple[str, str]]) -> str | None:
    """``local@domain`` from its tokens, or ``None`` when they are not one address."""
    ats = [i for i, (_, text) in enumerate(tokens) if text == "@"]
    if len(ats) != 1:
        return None
    local, domain = tokens[: ats[0]], tokens[ats[0] + 1 :]
    local_text = _dotted(local, quoted_ok=True)
    if not local_text:
        return None
    if len(domain) == 1 and domain[0][0] == "lit":
        return f"{local_text}@{domain[0][1]}"
    domain_text = _dotted(domain, quoted_ok=False)
    if not domain_text:
        return None
    return f"{local_text}@{domain_text}"


def _dotted(tokens: list[tuple[str, str]], *, quoted_ok: bool) -> str | None:
    """Words separated by single dots (``dot-atom``), joined; ``None`` otherwise."""
    if not tokens or len(tokens) % 2 == 0:
        return None
    parts: list[str] = []
    for i, (kind, text) in enumerate(tokens):
        if i % 2:
            if text != ".":
                return None
        elif kind == "atom" or (quoted_ok and kind == "q"):
            parts.append(text)
        else:
            return None
    return ".".join(parts)


def _mailbox(tokens: list[tuple[str, str]]) -> tuple[str, str] | None:
    """One mailbox: ``[phrase] <addr-spec>`` or a bare ``addr-spec``."""
    opens = [i for i, (_, text) in enumerate(tokens) if text == "<"]
    closes = [i for i, (_, text) in enumerate(tokens) if text == ">"]
    if not opens and not closes:
        spec = _addr_spec(tokens)
        return None if spec is None else ("", spec)
    if len(opens) != 1 or len(closes) != 1 or closes[0] != len(tokens) - 1:
        return None
    start = opens[0]
    name = _phrase(tokens[:start])
    inner = tokens[start + 1 : -1]
    # An obsolete source route ("<@relay.example:user@host>") precedes the address.
    colons = [i for i, (_, text) in enumerate(inner) if text == ":"]
    if colons and inner[0][1] == "@":
        inner = inner[colons[-1] + 1 :]
    spec = _addr_spec(inner)
    if name is None or spec is None:
        return None
    return name, spec


def read_address_list(raw: str, /, *, max_chars: int) -> AddressList:
    """The mailboxes of a To/Cc/Bcc value, read by the RFC 5322 grammar.

    At most ``max_chars`` characters of the unfolded value are read. Groups
    (``name: a@x, b@y;``) give their members; an empty group is clean and gives none.
    Linear in the length read, never raises.
    """
    try:
        return _read_address_list(raw, max_chars)
    except Exception:  # a defect here must never stop a check
        text = readable_text(unfold(raw)[:max_chars])
        return AddressList((), False, len(raw) > max_chars, tuple(address_tokens(text)))


def _read_address_list(raw: str, max_chars: int) -> AddressList:
    text = unfold(raw)
    truncated = len(text) > max_chars
    if truncated:
        text = text[:max_chars]
    text = readable_text(text)
    tokens, clean = _lex(text)
    mailboxes: list[tuple[str, str]] = []
    item: list[tuple[str, str]] = []
    in_group = False
    in_angle = False

    def finish() -> None:
        nonlocal clean
        if item:
            found = _mailbox(item)
            if found is None:
                clean = False
            else:
                mailboxes.append(found)
            item.clear()

    for kind, tok in tokens:
        if kind == "sp" and not in_angle:
            if tok == ",":
                finish()
                continue
            if tok == ":" and not in_group:
                if _phrase(item) is None or not item:
                    clean = False
                item.clear()
                in_group = True
                continue
            if tok == ";" and in_group:
                finish()
                in_group = False
                continue
            if tok in ":;":
                clean = False
                item.clear()
                continue
        if tok == "<":
            if in_angle:
                clean = False
            in_angle = True
        elif tok == ">":
            in_angle = False
        item.append((kind, tok))
    finish()
    if in_group or in_angle:
        clean = False
    if clean and not truncated:
        return AddressList(tuple(mailboxes), True)
    known = {address.lower() for _, address in mailboxes}
    extra = tuple(t for t in address_tokens(text) if t.lower() not in known)
    return AddressList(tuple(mailboxes), clean, truncated, extra)


# A From header is read this far: a sender's address sits at its start, and a hostile
# header must not cost time.
_SENDER_CHARS = 4096


def sender(msg: Message, /) -> str | None:
    """The address of the first From field, read by the grammar; ``None`` when there is
    no From or it does not follow the grammar (a header that does not parse names no
    sender)."""
    value = first_field(msg, "from")
    if value is None:
        return None
    found = read_address_list(value, max_chars=_SENDER_CHARS)
    return found.mailboxes[0][1] if found.clean and found.mailboxes else None


def address_tokens(text: str, /) -> list[str]:
    """Every word of ``text`` that looks like an address (``something@something``)."""
    out: list[str] = []
    seen: set[str] = set()
    for word in _SEPARATORS.split(text):
        word = word.strip(".")
        local, at, domain = word.rpartition("@")
        if not at or not local.strip("@") or not domain:
            continue
        key = word.lower()
        if key not in seen:
            seen.add(key)
            out.append(word)
    return out


def readable_text(raw: str, /) -> str:
    """Header text with unencoded 8-bit bytes (kept by the parser as surrogates) read as
    UTF-8, and anything undecodable replaced."""
    if not _SURROGATE.search(raw):
        return raw
    try:
        return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", raw)


def mask_header(raw: str, /, *, width: int = 80) -> str:
    """A short, printable form of a raw header value for a finding: folded on one line,
    control characters removed, long numbers (possible identifiers) starred, cut."""
    text = _CONTROL.sub(" ", readable_text(unfold(raw[: width * 8])))
    text = " ".join(text.split())
    text = mask_numbers(text)
    return text if len(text) <= width else text[: width - 1] + "…"
