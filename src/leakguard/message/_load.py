"""Loading a message: bytes, a path, standard input or a message object parsed under one
policy that never fails, header blocks (the message's and every part's) read as mail
clients read them, and a message object written back as the bytes it stands for.
"""

from __future__ import annotations

import contextlib
import email.errors
import email.header
import email.headerregistry
import email.message
import functools
import io
import os
import sys
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, BinaryIO, cast

from leakguard._headers import unfold, without_blanks_before_colons
from leakguard.errors import InputError
from leakguard.message._mail import _header_block, _leading_blank_end

# Longer than any honest MIME header (a 255-character file name, percent-encoded in RFC
# 2231 sections, takes about 2 KB); the parsers are quadratic in its parameters.
_MAX_HEADER = 4096
_MIME_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
# Fields recovered from a part's text that are not read as its content: how it is
# written, the subject of a forwarded message (read as such), and generated routing
# fields (an ID's digits can form a number that checks, as they do in top-level ones).
_UNREAD_FIELDS = _MIME_HEADERS | {
    "mime-version", "subject", "message-id", "in-reply-to", "references", "date", "received",
    "dkim-signature", "arc-seal", "arc-message-signature",
}  # fmt: skip


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
    """The MIME structure could not be parsed (nested too deeply, more parts than
    :data:`MAX_PARTS`, or broken beyond what the parser copes with): the message is read
    as headers plus one plain-text body. ``reason`` is what the reader reports for its
    parts: ``too_deep`` or ``too_large``."""

    def __init__(self, reason: str = "too_deep") -> None:
        super().__init__(reason)  # kept in ``args``: a copy or a pickle keeps the reason
        self.reason = reason


# More multipart containers than any real message holds: the structure is hostile (the
# parser would recurse once per level) and the message is read flat straight away.
_MAX_MULTIPARTS = 256

#: Most parts one parse builds (the message, its parts, the parts of the messages it
#: forwards). Real mail holds tens; a message of a million empty parts (36 MB) took the
#: parser 24 s and 760 MiB, in one step no deadline can stop. Past it, the message is
#: read flat and its parts are reported ``too_large``.
MAX_PARTS = 10_000


class TooManyParts(Exception):
    """Raised inside the parser by :func:`bounded_parser` past :data:`MAX_PARTS`."""


class _Counted:
    """The parser's maker of message objects, stopping the parse past a count."""

    __slots__ = ("_left", "_make")

    def __init__(self, make: Any, limit: int) -> None:
        self._make = make
        self._left = limit + 1  # the parser makes one on starting, to learn how to call it

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._left -= 1
        if self._left < 0:
            raise TooManyParts
        return self._make(*args, **kwargs)


def bounded_parser(parse_policy: policy.Policy = policy.compat32, /) -> BytesParser:
    """A bytes parser under ``parse_policy`` that raises :class:`TooManyParts` once it has
    built :data:`MAX_PARTS` message objects. One parser per message: the count is its."""
    make = getattr(parse_policy, "message_factory", None) or email.message.Message
    return BytesParser(_Counted(make, MAX_PARTS), policy=parse_policy)


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
        msg = cast(EmailMessage, bounded_parser(_POLICY).parsebytes(data))
        _repair_parts(msg, len(data))
        return msg
    except Exception as exc:
        reason = "too_large" if isinstance(exc, TooManyParts) else "too_deep"
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
        msg.defects.append(UnparsedStructure(reason))
        return msg


class RecoveredFields(email.errors.MessageDefect):
    """Lines the parser took for a part's text that mail clients read as its header
    fields (a blank before the colon). Their text travels all the same: it is read."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("fields with a blank before the colon")
        self.lines = lines


class UnrepairedPart(email.errors.MessageDefect):
    """A part whose header block needed the repair above after the message had already
    cost more re-parsing than its size allows (parts nested in parts, each hiding the
    next): it is read as the parser left it and reported ``corrupt``."""


# Re-parsing a repaired part parses the parts nested in it again: on top of the message
# itself, at most this many times its size (honest messages need one repair or two; a
# chain of parts each hiding the next would otherwise cost the square of its size).
_REPAIR_FACTOR = 4
_REPAIR_FLOOR = 1 << 20


def _repair_parts(msg: EmailMessage, size: int) -> None:
    """Every part's header block read as mail clients read it, at any depth.

    The parser ends a part's header block at a field written with a blank before its
    colon (``Content-Transfer-Encoding : base64``) and reads the rest as the part's
    text, where Thunderbird and Outlook see the field, decode the part, and find the
    parts nested in it. Such a part is written back as its bytes, repaired by the same
    reader as the message's own header block, and parsed again in its place.
    """
    room = _REPAIR_FACTOR * size + _REPAIR_FLOOR
    stack: list[email.message.Message] = [msg]
    while stack:
        payload = vars(stack.pop()).get("_payload")
        if not isinstance(payload, list):
            continue
        for i, child in enumerate(payload):
            if not isinstance(child, email.message.Message):
                continue
            raw = _needs_repair(child)
            if raw is not None and len(raw) > room:
                child.defects.append(UnrepairedPart())
            elif raw is not None:
                room -= len(raw)
                fixed = _reparsed(child, raw)
                if fixed is not None:
                    payload[i] = child = fixed
            stack.append(child)


def _needs_repair(part: email.message.Message) -> bytes | None:
    """The bytes of ``part`` with its header block repaired, or None when it needs none."""
    if not any(isinstance(d, email.errors.MissingHeaderBodySeparatorDefect) for d in part.defects):
        return None
    body = vars(part).get("_payload")
    if not isinstance(body, str):
        return None
    # The parser stopped at the first line that is not a field and kept it as the text:
    # the part's bytes are its fields, then that text, with no blank line between.
    raw = "".join(f"{name}: {value}\n" for name, value in part.raw_items()) + body
    data = raw.encode("utf-8", "surrogateescape")
    repaired = without_blanks_before_colons(data)
    return None if repaired is data else repaired


def _reparsed(part: email.message.Message, raw: bytes) -> EmailMessage | None:
    """``raw`` (``part`` repaired) parsed in its place; None when the parser fails."""
    try:
        fixed = cast(EmailMessage, bounded_parser(_POLICY).parsebytes(raw))
    except Exception:
        return None
    fixed.set_default_type(part.get_default_type())
    known = len(part.keys())
    recovered = [
        f"{name}: {value}"
        for name, value in list(fixed.raw_items())[known:]
        if name.lower() not in _UNREAD_FIELDS
    ]
    if recovered:
        fixed.defects.append(RecoveredFields(recovered))
    return fixed


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
