"""Parse an e-mail and walk everything it carries: subject, body, attachments, forwarded
messages, archives. Each part becomes text chunks at its location, or a problem saying
why it could not be read; a bad part never stops the rest of the message being read.
"""

from __future__ import annotations

import binascii
import contextlib
import email.errors
import email.header
import email.headerregistry
import email.message
import email.utils
import functools
import io
import os
import re
import sys
from collections.abc import Iterator
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, BinaryIO, cast

from leakguard._headers import header_text, unfold, without_blanks_before_colons
from leakguard.core import Location
from leakguard.errors import InputError
from leakguard.extract import extract, sniff
from leakguard.extract._common import Item, Unreadable, text_items
from leakguard.extract._types import Budget, Limits, Problem, TextChunk
from leakguard.extract.encoded import encoded_files
from leakguard.extract.encryption import control_part_honest, pgp_mime_encrypted
from leakguard.extract.html import html_to_text
from leakguard.extract.openpgp import PGP_BEGIN, read_openpgp
from leakguard.extract.pkcs7 import cms_kind, signed_content
from leakguard.extract.sniff import document_sized
from leakguard.extract.text import decode_text

__all__ = [
    "document_content",
    "is_message",
    "iter_content",
    "iter_embedded",
    "load_message",
    "require_message",
]

_SMIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_SMIME_ENCRYPTED = frozenset({"enveloped-data", "authenveloped-data"})
# Parts that only sign, or describe, another part: nothing of the message is in them.
_NO_CONTENT = frozenset(
    {
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
        "application/pgp-encrypted",
        "application/pgp-keys",
    }
)
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
# Reports that quote header fields (a bounce, a read receipt, the headers of a message):
# read as the header text they are, encoded words decoded.
_REPORT_TYPES = frozenset(
    {"message/delivery-status", "message/global-delivery-status",
     "message/disposition-notification", "message/global-disposition-notification",
     "text/rfc822-headers", "message/global-headers"}
)  # fmt: skip
_BODY_TYPES = frozenset({"text/plain", "text/html"})
# What the bytes of a text part must not be for it to count as the body: a real document
# sent as text/plain (a DOCX, a PDF) is an attachment whatever its label says.
_DOCUMENT_FAMILIES = frozenset(
    {"pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp", "zip", "rtf", "ole", "gzip", "image",
     "msg", "tnef", "bzip2", "xz", "tar"}
)  # fmt: skip
_EXTENSIONS = {
    "pdf": ".pdf", "docx": ".docx", "xlsx": ".xlsx", "pptx": ".pptx", "odt": ".odt",
    "ods": ".ods", "odp": ".odp", "zip": ".zip", "rtf": ".rtf", "html": ".html", "csv": ".csv",
    "text": ".txt", "eml": ".eml", "gzip": ".gz", "image": ".img", "ole": ".ole",
    "msg": ".msg", "tnef": ".dat", "bzip2": ".bz2", "xz": ".xz", "tar": ".tar",
}  # fmt: skip
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=\-_\s]")
_B64_KEEP = re.compile(rb"[^A-Za-z0-9+/=]")
_PADDING = re.compile(rb"=+")
_B64_SPACE = b" \t\r\n\v\f"
_B64_USUAL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=" + _B64_SPACE
_MAX_NAME = 200
# Longer than any honest MIME header (a 255-character file name, percent-encoded in RFC
# 2231 sections, takes about 2 KB); the parsers are quadratic in its parameters.
_MAX_HEADER = 4096
_MIME_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=4096)
def _parsed_header(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


@functools.lru_cache(maxsize=32)
def _parsed_long_header(name: str, value: str) -> Any:
    # Few entries: a long header's parse tree is large.
    return policy.default.header_fetch_parse(name, value)


# Parameters a reader needs, kept from past the cut: without the boundary a multipart's
# attachments would be read as one text, so padding the header must not hide it.
_KEY_PARAMS = frozenset(
    {"boundary", "charset", "name", "filename", "smime-type", "protocol", "type", "format",
     "delsp", "report-type", "micalg"}
)  # fmt: skip
_MAX_KEY_PARAMS = 64
_MAX_KEY_CHARS = 128 * 1024


def _mime_cut(value: str) -> str:
    """A MIME header cut to a length no honest one needs, at parameter boundaries, with
    the parameters readers need still kept from the rest (a few, each short)."""
    if len(value) <= _MAX_HEADER:
        return value
    pieces = value.split(";")
    # The type itself (``multipart/mixed``) holds no meaningful white space: folding
    # lines padded before it must not push it past the cut.
    kept = [" ".join(pieces[0].split())[:_MAX_HEADER]]
    size = len(kept[0])
    extra = extra_size = 0
    for piece in pieces[1:]:
        if size + len(piece) < _MAX_HEADER:
            kept.append(piece)
            size += len(piece) + 1
            continue
        name = piece.partition("=")[0].strip().lower().partition("*")[0]
        # One long value (a file name of 50,000 characters) costs little to parse; many
        # parameters are what the parsers are quadratic in.
        if (
            name in _KEY_PARAMS
            and extra < _MAX_KEY_PARAMS
            and extra_size + len(piece) <= _MAX_KEY_CHARS
        ):
            kept.append(piece)
            extra += 1
            extra_size += len(piece)
    return ";".join(kept)


_UNSTRUCTURED = email.headerregistry.HeaderRegistry(use_default_map=False)


def _unparsed(name: str, value: str) -> Any:
    """A header the structured parser refused, as plain text."""
    try:
        return _UNSTRUCTURED(name, "".join(value.splitlines()))
    except Exception:
        return value


class _ParsePolicy(policy.EmailPolicy):
    """The default policy, with parsed header values shared, and never failing.

    The email package parses a header again each time it is read, and the inspectors
    read the same Content-Type several times per part; parsed headers are immutable,
    so equal raw values can share one parsed object (this halves the time of a check).
    A value the structured parser cannot read (it raises ``AttributeError`` on some
    groups, ``IndexError`` on some local parts) is returned as unstructured text, and
    a MIME header is parsed only up to a length no honest one needs (the parser is
    quadratic in the number of RFC 2231 parameters). What is sent is not affected:
    generating the message uses the raw values.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value
        mime = name.lower() in _MIME_HEADERS
        if mime:
            value = _mime_cut(value)
        try:
            if len(value) <= 1024:
                return _parsed_header(name, value)
            if mime:
                return _parsed_long_header(name, value)
            return super().header_fetch_parse(name, value)
        except Exception:
            return _unparsed(name, value)


_POLICY = _ParsePolicy()


class UnparsedStructure(email.errors.MessageDefect):
    """The MIME structure could not be parsed (nested too deeply, or broken beyond what
    the parser copes with): the message is read as headers plus one plain-text body."""


# More multipart containers than any real message holds: the structure is hostile (the
# parser would recurse once per level) and the message is read flat straight away.
_MAX_MULTIPARTS = 256


def _parse(data: bytes) -> EmailMessage:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a byte-order mark written by some editors before the headers
    start = _leading_blank_end(data)
    if 0 < start < len(data) and _header_block(data, start) is True:
        # Lines of spaces or blank lines before the headers: mail readers skip them, and
        # so does this reader (the parser would take the whole message for its body).
        data = data[start:]
    # "Subject : x" is a field to mail servers and clients; to the parser, the body.
    data = without_blanks_before_colons(data)
    try:
        if data.count(b"ultipart/") + data.count(b"ULTIPART/") > _MAX_MULTIPARTS:
            raise RecursionError("too many nested multipart containers")
        return cast(EmailMessage, BytesParser(policy=_POLICY).parsebytes(data))
    except Exception:
        # The parser is tolerant by design; should it still fail, keep the headers (the
        # recipients must still be checked) and the bytes readable as a plain body.
        try:
            msg = cast(EmailMessage, BytesParser(policy=_POLICY).parsebytes(data, headersonly=True))
            body = msg.get_payload()
        except Exception:
            msg, body = EmailMessage(), None
        for name in _MIME_HEADERS:
            del msg[name]
        text = body if isinstance(body, str) else data.decode("utf-8", "surrogateescape")
        msg.set_payload(text)
        msg.defects.append(UnparsedStructure())
        return msg


def load_message(
    source: bytes | str | os.PathLike[str] | email.message.Message | BinaryIO, /
) -> EmailMessage:
    """Parse a message from bytes, a path, ``"-"`` (standard input) or a binary file.

    A message this function returned is returned as is; any other message object
    (``compat32`` or ``email.policy.default``, parsed or built by a program) is written
    back as it was read and parsed again, so it is judged as its bytes are. Malformed MIME
    never raises (what can be parsed is parsed, defects are recorded on the parts); a
    path that cannot be read raises :class:`~leakguard.errors.InputError`.
    """
    if isinstance(source, EmailMessage) and isinstance(source.policy, _ParsePolicy):
        return source
    if isinstance(source, email.message.Message):
        # Whatever policy it was parsed with, the message is read from the bytes it stands
        # for, so that it gets the verdict those bytes get (the policies disagree on
        # broken MIME parameters, hence on where the parts are).
        try:
            return _parse(_raw_bytes(_rehome(source, 0, rebuilt=True)))
        except Exception:
            pass
        try:
            return _rehome(source, 0)
        except Exception:
            return _parse(b"")
    if isinstance(source, bytes | bytearray | memoryview):
        return _parse(bytes(source))
    if isinstance(source, str) and source == "-":
        return _parse(_read_stream(sys.stdin.buffer, "standard input"))
    if isinstance(source, str | os.PathLike):
        return _parse(_read_path(os.fspath(source)))
    if hasattr(source, "read"):
        return _parse(_read_stream(source, getattr(source, "name", "the input stream")))
    raise TypeError(f"cannot read a message from {type(source).__name__}")


class _RawGenerator(BytesGenerator):
    """Writes a message back as it was read: header values as they came (folding, broken
    syntax and all), parts split where the parser that built them split them.

    The standard generator would refold long headers through the structured parser,
    which can raise or take minutes on a hostile value.
    """

    def _write_headers(self, msg: email.message.Message) -> None:
        newline = self._NL  # type: ignore[attr-defined]
        for name, value in msg.raw_items():
            if isinstance(value, email.header.Header):
                text = f"{name}: {value.encode(linesep=newline)}"
            elif hasattr(value, "fold") and hasattr(value, "name"):
                # A header object a program made (already parsed when it was set).
                try:
                    text = value.fold(policy=_WRITE_POLICY).rstrip("\r\n")
                except Exception:
                    text = f"{name}: {value}"
            else:
                text = f"{name}: {value}"
            self._fp.write(text.encode("utf-8", "surrogateescape"))  # type: ignore[attr-defined]
            self._fp.write(newline.encode("ascii"))  # type: ignore[attr-defined]
        self._fp.write(newline.encode("ascii"))  # type: ignore[attr-defined]

    def _handle_multipart(self, msg: email.message.Message) -> None:
        payload = vars(msg).get("_payload")
        if isinstance(payload, str):
            # A multipart whose parts could not be found: its text as it was read (the
            # standard generator decodes it first and then cannot write 8-bit bytes).
            self._fp.write(payload.encode("utf-8", "surrogateescape"))  # type: ignore[attr-defined]
            return
        super()._handle_multipart(msg)  # type: ignore[misc]


_WRITE_POLICY = policy.default.clone(linesep="\n")


def _raw_bytes(msg: email.message.Message) -> bytes:
    out = io.BytesIO()
    _RawGenerator(out, mangle_from_=False, policy=_WRITE_POLICY).flatten(msg, linesep="\n")
    return out.getvalue()


_MAX_REHOME_DEPTH = 64


class _Rebuilt(EmailMessage):
    """A part of a message parsed by someone else, read under the reading policy, that
    still answers the two questions which decided how its parser split it (the content
    type and the boundary) as that parser's policy answers them, from the header cut to
    a length no honest one needs. The generator then writes the parts back between the
    very delimiter lines they were found between."""

    _origin: policy.Policy

    def _origin_view(self) -> email.message.Message:
        view = email.message.Message(policy=self._origin)
        view.set_default_type(self.get_default_type())
        for key, value in self.raw_items():
            if key.lower() == "content-type":
                # A value that policy refuses to hold is read as text/plain.
                with contextlib.suppress(Exception):
                    view[key] = unfold(_mime_cut(str(value)))
                break
        return view

    def get_content_type(self) -> str:
        return self._origin_view().get_content_type()

    def get_boundary(self, failobj: Any = None) -> Any:
        return self._origin_view().get_boundary(failobj)


def _rehome(msg: email.message.Message, depth: int, *, rebuilt: bool = False) -> EmailMessage:
    """The same tree of parts under the reading policy, without generating the message
    and parsing it again (which would run the generator on hostile headers).

    The email package keeps a part's state in a handful of attributes that every policy
    shares; headers stay as they are (raw text, or header objects the program made).
    """
    if depth > _MAX_REHOME_DEPTH:
        raise RecursionError("parts nested too deeply")
    state = dict(vars(msg))
    state["policy"] = _POLICY
    if rebuilt:
        state["_origin"] = msg.policy
    state["_headers"] = [
        (key, value if isinstance(value, str) else str(value))
        for key, value in state.get("_headers", [])
    ]
    state["defects"] = list(state.get("defects", []))
    payload = state.get("_payload")
    if isinstance(payload, list):
        state["_payload"] = [
            _rehome(part, depth + 1, rebuilt=rebuilt)
            if isinstance(part, email.message.Message)
            else part
            for part in payload
        ]
    out = _Rebuilt.__new__(_Rebuilt) if rebuilt else EmailMessage.__new__(EmailMessage)
    vars(out).update(state)
    return out


def _read_stream(stream: BinaryIO, what: object) -> bytes:
    try:
        data: bytes | str = stream.read()
    except OSError as err:
        raise InputError(
            f"Cannot read the message from {what}: {err.strerror or err}.",
            fr=f"Impossible de lire le message depuis {what}.",
        ) from err
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape")
    return bytes(data)


def _read_path(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:  # noqa: PTH123 - a plain path string is the input here
            return fh.read()
    except FileNotFoundError:
        why, pourquoi = "there is no such file", "ce fichier n'existe pas"
    except IsADirectoryError:
        why, pourquoi = "it is a folder, not a file", "c'est un dossier, pas un fichier"
    except PermissionError:
        why, pourquoi = "permission denied", "accès refusé"
    except OSError as err:
        why, pourquoi = (err.strerror or "read error").lower(), "erreur de lecture"
    raise InputError(
        f"Cannot read the message file {path!r}: {why}.",
        fr=f"Impossible de lire le fichier de message {path!r} : {pourquoi}.",
    )


# --------------------------------------------------------------------------- is it mail?

# A header field line: a name of printable ASCII without a colon or a space, then ":".
_FIELD = re.compile(rb"[!-9;-~]{1,76}[ \t]*:")
# Fields that only mail carries: one of them must open the message.
_MAIL_FIELDS = frozenset(
    {b"from", b"to", b"cc", b"bcc", b"subject", b"date", b"message-id", b"mime-version",
     b"received", b"return-path", b"content-type", b"reply-to", b"sender", b"delivered-to",
     b"x-mailer", b"user-agent", b"in-reply-to", b"references", b"dkim-signature",
     b"authentication-results", b"arc-seal", b"x-original-to", b"envelope-to", b"resent-to",
     b"resent-from", b"x-sender", b"x-receiver", b"thread-topic", b"importance"}
)  # fmt: skip
_MAX_HEAD_LINES = 200
# What a document given to `check` is, said to its owner (English, French).
_DOCUMENT_NAMES = {
    "pdf": ("a PDF document", "un document PDF"),
    "docx": ("a Word document", "un document Word"),
    "xlsx": ("an Excel workbook", "un classeur Excel"),
    "pptx": ("a PowerPoint presentation", "une présentation PowerPoint"),
    "odt": ("an OpenDocument file", "un fichier OpenDocument"),
    "ods": ("an OpenDocument file", "un fichier OpenDocument"),
    "odp": ("an OpenDocument file", "un fichier OpenDocument"),
    "zip": ("a ZIP archive", "une archive ZIP"),
    "gzip": ("a gzip archive", "une archive gzip"),
    "bzip2": ("a bzip2 archive", "une archive bzip2"),
    "xz": ("an xz archive", "une archive xz"),
    "tar": ("a tar archive", "une archive tar"),
    "rtf": ("an RTF document", "un document RTF"),
    "ole": ("an Office document", "un document Office"),
    "msg": ("an Outlook item (.msg)", "un élément Outlook (.msg)"),
    "tnef": ("a winmail.dat attachment", "une pièce jointe winmail.dat"),
    "image": ("a picture", "une image"),
}
_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _not_message_reason(data: bytes) -> tuple[str, str] | None:
    """Why ``data`` is not an e-mail message (English, French), or None when it is one.

    A block of header fields read as mail readers read it decides first: lines of
    spaces or blank lines before it are skipped, a header line longer than any limit is
    still one field, and binary data after the headers (a UTF-16 or binary part) is the
    message's content. Only without such a block is the file named for what it is.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    start = _leading_blank_end(data)
    if start >= len(data):
        return "it is empty", "il est vide"
    found = _header_block(data, start)
    if found is True:
        return None
    head = data[start : start + 65536]
    family = sniff(head)
    if family in _DOCUMENT_NAMES:
        what, quoi = _DOCUMENT_NAMES[family]
        return f"it is {what}", f"c'est {quoi}"
    if found == "binary" or family == "binary" or b"\x00" in head:
        return "it holds binary data", "il contient des données binaires"
    return (
        "it does not start with mail headers (From:, To:, Subject:…)",
        "il ne commence pas par des en-têtes de message (From:, To:, Subject:…)",
    )


# What a header line is judged on: its first 64 KB (a name, a colon, no control bytes);
# how far into the file the header block is read to find a field only mail carries.
_LINE_LOOK = 65536
_HEAD_BYTES = 1 << 20
_BLANK_LINES = re.compile(rb"(?:[ \t]*\r?\n)+")
_SPACES_TO_END = re.compile(rb"[ \t\r\n]*\Z")


def _leading_blank_end(data: bytes) -> int:
    """Where the first line holding something other than spaces starts (the lines of
    spaces and blank lines some writers put before the headers are skipped)."""
    m = _BLANK_LINES.match(data, 0, min(len(data), 1 << 20))
    end = m.end() if m else 0
    return len(data) if _SPACES_TO_END.match(data, end) else end


def _header_block(data: bytes, start: int) -> bool | str:
    """True when ``data`` opens at ``start`` with header fields, one of them a field only
    mail carries; "binary" when a field holds control bytes; else False. Reads at most
    ``_MAX_HEAD_LINES`` fields within the first ``_HEAD_BYTES``, each line judged on its
    first ``_LINE_LOOK`` bytes (folded continuation lines are part of their field)."""
    pos, mail_field, size = start, False, len(data)
    fields, number = 0, -1
    while pos < size and pos - start < _HEAD_BYTES and fields < _MAX_HEAD_LINES:
        number += 1
        end = data.find(b"\n", pos)
        end = size if end < 0 else end
        line = data[pos : min(end, pos + _LINE_LOOK)].rstrip(b"\r")
        pos = end + 1
        if number == 0 and line.startswith(b"From "):
            continue  # the separator line of an mbox file
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and number:
            continue  # a folded continuation of the field above
        m = _FIELD.match(line)
        if m is None:
            break  # the body starts without a blank line: the parser copes
        if _CONTROLS.search(line):
            return "binary"
        fields += 1
        name = line[: m.end()].rstrip(b": \t").lower()
        mail_field = mail_field or name in _MAIL_FIELDS
    return mail_field


def is_message(data: bytes, /) -> bool:
    """Whether ``data`` is an e-mail message: a block of header fields at the start, one of
    them a field only mail carries (From, To, Subject, Received…), not binary, not a
    document. Looks at the first 64 KB only; never raises."""
    try:
        return _not_message_reason(bytes(data)) is None
    except Exception:
        return False


def require_message(data: bytes, /) -> None:
    """Raise :class:`~leakguard.errors.InputError` with a sentence saying why ``data`` is
    not an e-mail message (see :func:`is_message`); return when it is one."""
    try:
        reason = _not_message_reason(bytes(data))
    except Exception:
        reason = ("it cannot be read", "il est illisible")
    if reason is None:
        return
    why, pourquoi = reason
    raise InputError(
        f"not an e-mail message: {why}. To look for identifiers in a document, use "
        "`leakguard scan`.",
        fr=f"ce n'est pas un message électronique : {pourquoi}. Pour chercher des "
        "identifiants dans un document, utilisez `leakguard scan`.",
    )


# --------------------------------------------------------------------------- walking


def iter_content(
    msg: email.message.Message,
    /,
    *,
    limits: Limits | None = None,
    budget: Budget | None = None,
) -> Iterator[TextChunk | Problem]:
    """Every piece of text a message carries, with its location, or why a part was unread.

    Subject → ``subject``; text and HTML bodies → ``body``; every other part (attachment,
    inline or unnamed) → ``attachment:<name>``; a forwarded message's parts →
    ``attachment:<forwarded name>/...``. Encrypted S/MIME and PGP/MIME content is
    reported ``encrypted``. Never raises.
    """
    if budget is None:
        budget = Budget(limits if limits is not None else Limits())
    if any(isinstance(d, UnparsedStructure) for d in msg.defects):
        # Its attachments could not be told apart: say so, then read what text there is.
        yield Problem(Location.body(), "too_deep")
    yield from _message_items(msg, None, budget, 0)


def iter_embedded(
    data: bytes, location: Location, /, *, budget: Budget, depth: int = 0
) -> Iterator[TextChunk | Problem]:
    """A message found inside another document (an ``.eml`` in a ZIP): its parts sit
    under ``location``."""
    if depth + 1 > budget.limits.max_depth:
        yield Problem(location, "too_deep")
        return
    yield from _message_items(_parse(data), location, budget, depth + 1)


def document_content(
    data: bytes, /, *, name: str, limits: Limits | None = None
) -> Iterator[TextChunk | Problem]:
    """A single document given on its own, read at ``attachment:<name>``.

    When the bytes are an RFC 822 message they are read as a message instead (subject,
    body, attachments). Never raises.
    """
    budget = Budget(limits if limits is not None else Limits())
    location = Location.attachment(name)
    try:
        if not budget.take_bytes(len(data)):
            yield Problem(location, "too_large")
            return
        if sniff(data, filename=name) == "eml":
            yield from _message_items(_parse(data), None, budget, 0)
            return
        yield from extract(data, location, budget=budget, filename=name, messages=iter_embedded)
    except Exception:
        yield Problem(location, "corrupt")


def _safe(items: Iterator[Item], location: Location) -> Iterator[Item]:
    """Run one part's reading; an unexpected failure becomes ``corrupt`` for that part."""
    try:
        yield from items
    except Unreadable as err:
        yield Problem(location, err.reason, err.container)
    except Exception:
        yield Problem(location, "corrupt")


def _message_items(
    msg: email.message.Message, base: Location | None, budget: Budget, depth: int
) -> Iterator[Item]:
    yield from _safe(_subject_items(msg, base, budget), base or Location.subject())
    counter = [0]
    yield from _safe(
        _part_items(msg, base, budget, depth, counter, root=True), base or Location.body()
    )


def _subject_items(
    msg: email.message.Message, base: Location | None, budget: Budget
) -> Iterator[Item]:
    location = base or Location.subject()
    room = budget.limits.max_header_chars
    for key, value in msg.raw_items():
        if key.lower() != "subject":
            continue
        raw = str(value)
        if len(raw) > room:
            # Read up to the limit and say the rest was not.
            yield from text_items(header_text(raw[:room]), location, budget)
            yield Problem(location, "too_large")
            return
        room -= len(raw)
        yield from text_items(header_text(raw), location, budget)


def _shadow(part: email.message.Message) -> email.message.Message:
    """The part's MIME headers in a lightweight copy, read with the old, fast rules.

    The modern header parser walks values character by character in Python, again on
    every read; a hostile 100 KB parameter read a dozen times would cost seconds. The
    values are also cut to a length no honest header needs.
    """
    shadow = email.message.Message()
    shadow.set_default_type(part.get_default_type())
    for key, value in part.raw_items():
        if key.lower() in _MIME_HEADERS:
            shadow[key] = unfold(_mime_cut(str(value)))
    return shadow


def _content_type(part: email.message.Message) -> str:
    try:
        return _shadow(part).get_content_type()
    except Exception:
        return "application/octet-stream"


def _param(part: email.message.Message, name: str) -> str | None:
    try:
        value = _shadow(part).get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):
        value = email.utils.collapse_rfc2231_value(value)
    return str(value).strip().lower() if value else None


def _filename(part: email.message.Message) -> str | None:
    try:
        name = _shadow(part).get_filename()
    except Exception:
        name = None
    if not name:
        return None
    name = header_text(str(name))
    # A path sent by some clients ("C:\\Users\\...\\scan.pdf"): the last component names it.
    name = re.split(r"[\\/]", name)[-1].strip()
    if len(name) > _MAX_NAME:
        # Keep the extension: it tells a person what the file was.
        stem, dot, ext = name.rpartition(".")
        ext = dot + ext if stem and len(ext) <= 16 else ""
        name = name[: _MAX_NAME - len(ext)] + ext
    return name or None


def _disposition(part: email.message.Message) -> str | None:
    try:
        return _shadow(part).get_content_disposition()
    except Exception:
        return None


def _transfer_encoding(part: email.message.Message) -> str:
    try:
        return str(_shadow(part).get("content-transfer-encoding", "")).strip().lower()
    except Exception:
        return ""


def _b64decode(raw: bytes) -> tuple[bytes, bool]:
    """Decode base64 as far as it goes; the flag says the text was damaged."""
    if not raw.translate(None, _B64_USUAL):
        # The usual case at C speed (a large attachment): the standard alphabet in lines,
        # padding only at the end and as long as it should be.
        clean = raw.translate(None, _B64_SPACE)
        body = clean.rstrip(b"=")
        if b"=" not in body and clean == body + b"=" * (-len(body) % 4) and len(body) % 4 != 1:
            return binascii.a2b_base64(clean), False
    return _b64_segments(raw)


def _b64_segments(raw: bytes) -> tuple[bytes, bool]:
    """Base64 decoded segment by segment as far as it goes, whatever the damage."""
    damaged = _B64_JUNK.search(raw) is not None
    clean = _B64_KEEP.sub(b"", raw.replace(b"-", b"+").replace(b"_", b"/"))
    out: list[bytes] = []
    for segment in _PADDING.split(clean):
        rest = len(segment) % 4
        if rest == 1:
            # One lone character cannot encode anything: a damaged stream.
            segment = segment[:-1]
            damaged = True
        elif rest:
            segment += b"=" * (4 - rest)
        if segment:
            try:
                out.append(binascii.a2b_base64(segment))
            except binascii.Error:
                damaged = True
    return b"".join(out), damaged


def _payload(part: email.message.Message) -> tuple[bytes, bool]:
    """The decoded bytes of a leaf part and whether its transfer encoding was damaged."""
    raw = part.get_payload(decode=False)
    if isinstance(raw, list):
        return b"", False
    text = raw if isinstance(raw, str) else str(raw)
    cte = _transfer_encoding(part)
    if cte == "base64":
        return _b64decode(text.encode("utf-8", "surrogateescape"))
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data, False
    return text.encode("utf-8", "surrogateescape"), False


def _attachment_location(base: Location | None, name: str) -> Location:
    return base.child(name) if base is not None else Location.attachment(name)


def _part_items(
    part: email.message.Message,
    base: Location | None,
    budget: Budget,
    depth: int,
    counter: list[int],
    *,
    root: bool = False,
) -> Iterator[Item]:
    here = base or Location.body()
    if budget.expired():
        yield Problem(here, "timeout")
        return
    ctype = _content_type(part)
    if ctype == "multipart/encrypted":
        if _pgp_mime_encrypted(part):
            yield Problem(here, "encrypted", "pgp")
            return
        # An envelope whose content is not encrypted: what it holds is read as clear.
        yield Problem(here, "mislabelled", "pgp")
    if ctype == "message/external-body":
        # The content lives elsewhere (a cloud link): nothing of it could be read here.
        counter[0] += 1
        elsewhere = _filename(part) or f"part-{counter[0]}"
        yield Problem(_attachment_location(base, elsewhere), "unsupported")
        return
    if ctype in _REPORT_TYPES or ctype == "message/partial":
        yield from _quoted_items(part, ctype, base, budget, counter)
        return
    payload = part.get_payload()
    if part.is_multipart() and isinstance(payload, list) and ctype not in _MESSAGE_TYPES:
        for child in payload:
            if isinstance(child, email.message.Message):
                yield from _safe(_part_items(child, base, budget, depth, counter), here)
        return
    if ctype.startswith("multipart/") and not isinstance(payload, list):
        # Its parts could not be found (no boundary, or no line with it): what it holds
        # is read as text, and its attachments are said to be unreadable.
        yield Problem(here, "corrupt")
    counter[0] += 1
    index = counter[0]
    name = _filename(part)
    if ctype in _NO_CONTENT:
        data, _ = _payload(part)
        if control_part_honest(ctype, data):
            return
        # A signature, key or version line that is none: its bytes are read like any
        # attachment's, and the label reported.
        where = _attachment_location(base, name or f"part-{index}.bin")
        yield Problem(where, "mislabelled", "smime" if "pkcs7" in ctype else "pgp")
        yield from _clear_items(data, where, name, budget, depth)
        return
    if ctype in _MESSAGE_TYPES:
        where = _attachment_location(base, name or f"part-{index}.eml")
        if depth + 1 > budget.limits.max_depth:
            yield Problem(where, "too_deep")
            return
        inner = _inner_message(part)
        yield from _message_items(inner, where, budget, depth + 1)
        return
    if ctype in _SMIME_TYPES:
        yield from _smime_items(part, base, budget, depth, counter, root=root, index=index)
        return
    data, damaged = _payload(part)
    disposition = _disposition(part)
    family = sniff(data, filename=name, declared_type=ctype)
    if (
        name is None
        and disposition != "attachment"
        and ctype in _BODY_TYPES
        and family not in _DOCUMENT_FAMILIES
    ):
        yield from _body_items(part, data, damaged, ctype, here, budget)
        yield from _relabelled_items(part, here, None, budget, depth)
        return
    where = _attachment_location(base, name or f"part-{index}{_EXTENSIONS.get(family, '.bin')}")
    if not budget.take_bytes(len(data)):
        yield Problem(where, "too_large")
        return
    if damaged:
        yield Problem(where, "corrupt")
    if family == "image" and disposition != "attachment" and not document_sized(data):
        # Pictures shown inside the message the size of a logo or a signature are not
        # documents sent; a photo or a screenshot pasted in the text is read by OCR, or
        # reported unread (no_ocr) where OCR is not installed.
        return
    charset = _param(part, "charset")
    declared = f"{ctype}; charset={charset}" if charset else ctype
    for item in extract(
        data,
        where,
        budget=budget,
        filename=name,
        declared_type=declared,
        depth=depth,
        messages=iter_embedded,
    ):
        if (
            damaged
            and isinstance(item, Problem)
            and (item.location, item.reason)
            == (
                where,
                "corrupt",
            )
        ):
            # Already said above.
            continue
        yield item
    yield from _relabelled_items(part, where, name, budget, depth)


def _quoted_items(
    part: email.message.Message,
    ctype: str,
    base: Location | None,
    budget: Budget,
    counter: list[int],
) -> Iterator[Item]:
    """A delivery report, read receipt or copy of a message's headers: its fields read as
    text, encoded words decoded. A fragment of a message (``message/partial``) is read
    for what text it shows and reported ``unsupported``: the message it belongs to is
    whole only with the other fragments, sent apart."""
    counter[0] += 1
    where = _attachment_location(base, _filename(part) or f"part-{counter[0]}.txt")
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else [payload]
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, email.message.Message):
            lines += [f"{key}: {header_text(str(value))}" for key, value in block.raw_items()]
            body = block.get_payload()
            if isinstance(body, str):
                lines.append(header_text(body))
        elif isinstance(block, str):
            data, _ = _payload(part)
            lines.append(header_text(decode_text(data, _param(part, "charset"))))
    text = "\n".join(lines)
    if len(text) > budget.limits.max_part_bytes or not budget.take_bytes(len(text)):
        yield Problem(where, "too_large")
        return
    yield from text_items(text, where, budget)
    if ctype == "message/partial":
        yield Problem(where, "unsupported")


def _relabelled_items(
    part: email.message.Message,
    where: Location,
    name: str | None,
    budget: Budget,
    depth: int,
) -> Iterator[Item]:
    """A part whose transfer encoding lies about its bytes, read as they really are as
    well: ``base64`` over text that is not base64 (quoted-printable or plain), or another
    label over lines that are all base64 (mail programs show the decoded garbage, or the
    code; the content is one decoding away)."""
    raw = part.get_payload(decode=False)
    if not isinstance(raw, str) or len(raw) < _RELABEL_MIN:
        return
    cte = _transfer_encoding(part)
    text = raw.encode("utf-8", "surrogateescape")
    if cte == "base64":
        if _as_labelled(text):
            return
        alternative = binascii.a2b_qp(text) if _QP_ESCAPE.search(text) else text
    elif _written_in_base64(text):
        alternative, _ = _b64decode(text)
    else:
        return
    yield from _clear_items(alternative, where, name, budget, depth)


_BASE64_LINE = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
# What base64 holds: its alphabet (URL-safe too), padding, line ends and blanks.
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_\r\n\t "
_INNER_BLANK = re.compile(rb"[^\s][ \t]+[^\s]")
_PADDING_INSIDE = re.compile(rb"=[A-Za-z0-9+/]")


def _as_labelled(text: bytes) -> bool:
    """Whether a part labelled base64 is written in it: nothing outside its alphabet, no
    blank between two characters of a line, no padding followed by more (a
    quoted-printable escape). In C-speed passes: a large attachment is checked in a few
    milliseconds per megabyte."""
    if text.translate(None, _BASE64_BYTES):
        return False
    if (b" " in text or b"\t" in text) and _INNER_BLANK.search(text):
        return False
    return _PADDING_INSIDE.search(text) is None


_QP_ESCAPE = re.compile(rb"=[0-9A-F]{2}|=\r?\n")
_RELABEL_MIN = 16
_FULL_LINE = 32


def _written_in_base64(text: bytes) -> bool:
    """Whether a part labelled otherwise is written in base64: lines of its alphabet,
    padding only at the end, whole groups of four and one full line, so that a short
    word or quoted-printable text is never taken for it. Stops at the first line that
    is not (an ordinary text's first)."""
    lines: list[bytes] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not _BASE64_LINE.fullmatch(line) or (lines and b"=" in lines[-1]):
            return False
        lines.append(line)
    return sum(map(len, lines)) % 4 == 0 and any(len(line) >= _FULL_LINE for line in lines)


def _smime_items(
    part: email.message.Message,
    base: Location | None,
    budget: Budget,
    depth: int,
    counter: list[int],
    *,
    root: bool,
    index: int,
) -> Iterator[Item]:
    """An ``application/pkcs7-mime`` part, judged by what its bytes are, not its label:
    enveloped data for real (reported encrypted), opaque-signed (its content read like
    the rest of the message), certificates only (nothing to read), or anything else,
    which is read as clear content and reported mislabelled."""
    smime = _param(part, "smime-type")
    name = _filename(part)
    where = (
        (base or Location.body())
        if root
        else _attachment_location(base, name or f"part-{index}.p7m")
    )
    data, _ = _payload(part)
    kind = cms_kind(data)
    if kind == "encrypted":
        yield Problem(where, "encrypted", "smime")
        return
    if kind == "signed":
        if smime in _SMIME_ENCRYPTED:
            yield Problem(where, "mislabelled", "smime")
        content = signed_content(data)
        if content is None:
            if smime != "certs-only":
                yield Problem(where, "unsupported")
            return
        yield from _part_items(_parse(content), base, budget, depth, counter, root=root)
        return
    yield from _clear_items(data, where, name, budget, depth, declared=_content_type(part))


def _clear_items(
    data: bytes,
    where: Location,
    name: str | None,
    budget: Budget,
    depth: int,
    *,
    declared: str | None = None,
) -> Iterator[Item]:
    """A part whose label said it held nothing readable, read as the document it is."""
    if not budget.take_bytes(len(data)):
        yield Problem(where, "too_large")
        return
    yield from extract(
        data,
        where,
        budget=budget,
        filename=name,
        declared_type=declared,
        depth=depth,
        messages=iter_embedded,
    )


def _pgp_mime_encrypted(part: email.message.Message) -> bool:
    """Whether a ``multipart/encrypted`` part is PGP/MIME for real."""
    return pgp_mime_encrypted(
        _param(part, "protocol") or "", part.get_payload(), lambda p: _payload(p)[0]
    )


def _body_items(
    part: email.message.Message,
    data: bytes,
    damaged: bool,
    ctype: str,
    where: Location,
    budget: Budget,
) -> Iterator[Item]:
    if len(data) > budget.limits.max_part_bytes or not budget.take_bytes(len(data)):
        yield Problem(where, "too_large")
        return
    if damaged:
        yield Problem(where, "corrupt")
    text = decode_text(data, _param(part, "charset"))
    if ctype == "text/html":
        text = html_to_text(text, expired=budget.expired)
    yield from text_items(text, where, budget, ctype)
    for written in encoded_files(text, budget.limits.max_part_bytes):
        # A file uuencoded (yEnc, BinHex) into the text: mail programs show it as an
        # attachment, and it is read as one.
        inside = where.child(written.name)
        if written.damaged:
            yield Problem(inside, "corrupt")
        yield from _clear_items(written.data, inside, written.name, budget, 0)
    if PGP_BEGIN in text:
        found = read_openpgp(text, limit=budget.limits.max_part_bytes)
        if found is not None and found.encrypted:
            # Part of the body could not be read, whatever clear text surrounds it.
            yield Problem(where, "encrypted", "pgp")
        elif found is not None:
            # Armour that is no encrypted message: what it decodes to is read too.
            yield Problem(where, "mislabelled", "pgp")
            if found.clear:
                yield from _clear_items(found.clear, where, None, budget, 0)


def _inner_message(part: email.message.Message) -> email.message.Message:
    """The message held by a ``message/rfc822`` part, however it was encoded."""
    payload = part.get_payload()
    cte = _transfer_encoding(part)
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, email.message.Message) and cte not in ("base64", "quoted-printable"):
        return inner
    # Encoded forwarded messages are kept by the parser as text: decode, then parse.
    if isinstance(inner, email.message.Message):
        try:
            raw = inner.as_bytes(policy=policy.compat32)
        except Exception:
            raw = b""
    elif isinstance(payload, str):
        raw = payload.encode("utf-8", "surrogateescape")
    else:
        raw = b""
    if cte == "base64":
        raw, _ = _b64decode(raw)
    elif cte == "quoted-printable":
        raw = binascii.a2b_qp(raw)
    return _parse(raw)
