"""Parse an e-mail and walk everything it carries: subject, body, attachments, forwarded
messages, archives. Each part becomes text chunks at its location, or a problem saying
why it could not be read; a bad part never stops the rest of the message being read.
"""

from __future__ import annotations

import binascii
import email.errors
import email.header
import email.message
import email.utils
import functools
import os
import re
import sys
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, BinaryIO, cast

from leakguard.core import Location
from leakguard.errors import InputError
from leakguard.extract import extract, sniff
from leakguard.extract._common import Item, Unreadable, text_items
from leakguard.extract._types import Budget, Limits, Problem, TextChunk
from leakguard.extract.encryption import PGP_BEGIN
from leakguard.extract.html import html_to_text
from leakguard.extract.pkcs7 import cms_kind, signed_content
from leakguard.extract.text import decode_text

__all__ = ["document_content", "iter_content", "iter_embedded", "load_message"]

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
_BODY_TYPES = frozenset({"text/plain", "text/html"})
# What the bytes of a text part must not be for it to count as the body: a real document
# sent as text/plain (a DOCX, a PDF) is an attachment whatever its label says.
_DOCUMENT_FAMILIES = frozenset(
    {"pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp", "zip", "rtf", "ole", "gzip", "image",
     "msg", "tnef"}
)  # fmt: skip
_EXTENSIONS = {
    "pdf": ".pdf", "docx": ".docx", "xlsx": ".xlsx", "pptx": ".pptx", "odt": ".odt",
    "ods": ".ods", "odp": ".odp", "zip": ".zip", "rtf": ".rtf", "html": ".html", "csv": ".csv",
    "text": ".txt", "eml": ".eml", "gzip": ".gz", "image": ".img", "ole": ".ole",
    "msg": ".msg", "tnef": ".dat",
}  # fmt: skip
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=\-_\s]")
_B64_KEEP = re.compile(rb"[^A-Za-z0-9+/=]")
_PADDING = re.compile(rb"=+")
_MAX_NAME = 200
_MAX_HEADER = 128 * 1024
_MIME_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=4096)
def _parsed_header(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


class _ParsePolicy(policy.EmailPolicy):
    """The default policy, with parsed header values shared.

    The email package parses a header again each time it is read, and the inspectors
    read the same Content-Type several times per part; parsed headers are immutable,
    so equal raw values can share one parsed object (this halves the time of a check).
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name") or len(value) > 1024:
            return super().header_fetch_parse(name, value)
        return _parsed_header(name, value)


_POLICY = _ParsePolicy()


class UnparsedStructure(email.errors.MessageDefect):
    """The MIME structure could not be parsed (nested too deeply, or broken beyond what
    the parser copes with): the message is read as headers plus one plain-text body."""


# More multipart containers than any real message holds: the structure is hostile (the
# parser would recurse once per level) and the message is read flat straight away.
_MAX_MULTIPARTS = 256


def _parse(data: bytes) -> EmailMessage:
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

    An :class:`~email.message.EmailMessage` is returned as is; an old-style
    :class:`~email.message.Message` is re-read with the modern policy. Malformed MIME
    never raises (what can be parsed is parsed, defects are recorded on the parts); a
    path that cannot be read raises :class:`~leakguard.errors.InputError`.
    """
    if isinstance(source, EmailMessage):
        return source
    if isinstance(source, email.message.Message):
        try:
            raw = source.as_bytes(policy=policy.compat32)
        except Exception:
            raw = source.as_string(policy=policy.compat32).encode("utf-8", "surrogateescape")
        return _parse(raw)
    if isinstance(source, bytes | bytearray | memoryview):
        return _parse(bytes(source))
    if isinstance(source, str) and source == "-":
        return _parse(_read_stream(sys.stdin.buffer, "standard input"))
    if isinstance(source, str | os.PathLike):
        return _parse(_read_path(os.fspath(source)))
    if hasattr(source, "read"):
        return _parse(_read_stream(source, getattr(source, "name", "the input stream")))
    raise TypeError(f"cannot read a message from {type(source).__name__}")


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
        yield from extract(data, location, budget=budget, filename=name)
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
    for key, value in msg.raw_items():
        if key.lower() == "subject":
            yield from text_items(_header_text(str(value)), location, budget)


def _header_text(raw: str) -> str:
    """A header's text with encoded words decoded; raw text when they are broken."""
    raw = re.sub(r"\r?\n(?=[ \t])", "", raw)
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        # Unencoded 8-bit bytes in the header, kept by the parser as surrogates.
        return decode_text(raw.encode("utf-8", "surrogateescape"))
    if "=?" not in raw:
        return raw
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except Exception:
        return raw


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
            text = re.sub(r"\r?\n(?=[ \t])", "", str(value))
            shadow[key] = text[:_MAX_HEADER]
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
    name = _header_text(str(name))
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
        yield Problem(here, "encrypted", "pgp")
        return
    if ctype == "message/external-body":
        # The content lives elsewhere (a cloud link): nothing of it could be read here.
        counter[0] += 1
        elsewhere = _filename(part) or f"part-{counter[0]}"
        yield Problem(_attachment_location(base, elsewhere), "unsupported")
        return
    payload = part.get_payload()
    if part.is_multipart() and isinstance(payload, list) and ctype not in _MESSAGE_TYPES:
        for child in payload:
            if isinstance(child, email.message.Message):
                yield from _safe(_part_items(child, base, budget, depth, counter), here)
        return
    counter[0] += 1
    index = counter[0]
    if ctype in _NO_CONTENT:
        return
    name = _filename(part)
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
        return
    where = _attachment_location(base, name or f"part-{index}{_EXTENSIONS.get(family, '.bin')}")
    if not budget.take_bytes(len(data)):
        yield Problem(where, "too_large")
        return
    if damaged:
        yield Problem(where, "corrupt")
    if family == "image" and disposition != "attachment":
        # Pictures shown inside the message (logos, signatures) are not documents sent.
        return
    charset = _param(part, "charset")
    declared = f"{ctype}; charset={charset}" if charset else ctype
    for item in extract(
        data, where, budget=budget, filename=name, declared_type=declared, depth=depth
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
    """An ``application/pkcs7-mime`` part: encrypted (reported), opaque-signed (its
    content read like the rest of the message), or certificates only (nothing to read)."""
    smime = _param(part, "smime-type")
    name = _filename(part)
    where = (
        (base or Location.body())
        if root
        else _attachment_location(base, name or f"part-{index}.p7m")
    )
    if smime == "certs-only":
        return
    if smime in _SMIME_ENCRYPTED:
        yield Problem(where, "encrypted", "smime")
        return
    data, _ = _payload(part)
    kind = cms_kind(data)
    if kind == "signed":
        content = signed_content(data)
        if content is None:
            yield Problem(where, "unsupported")
            return
        yield from _part_items(_parse(content), base, budget, depth, counter, root=root)
        return
    if kind == "encrypted" or smime is None:
        yield Problem(where, "encrypted", "smime")
        return
    yield Problem(where, "unsupported")


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
    if PGP_BEGIN in text:
        # Part of the body could not be read, whatever clear text surrounds it.
        yield Problem(where, "encrypted", "pgp")


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
