"""Walking a parsed message: every part (bodies, attachments, forwarded messages,
signed and encrypted envelopes, reports) turned into text chunks at its location, or
a problem saying why it could not be read.
"""

from __future__ import annotations

import binascii
import email.message
import re
from collections.abc import Iterator
from email import policy

from leakguard._headers import ADDRESS_FIELDS, header_text, read_as_text
from leakguard.core import Location
from leakguard.extract import extract, sniff
from leakguard.extract._common import Item, Unreadable, name_items, text_items
from leakguard.extract._types import Budget, Limits, Problem, TextChunk
from leakguard.extract.encoded import encoded_files
from leakguard.extract.encryption import control_part_honest, pgp_mime_encrypted
from leakguard.extract.html import html_items
from leakguard.extract.openpgp import PGP_BEGIN, read_openpgp
from leakguard.extract.pkcs7 import cms_kind, signed_content
from leakguard.extract.sniff import document_sized
from leakguard.extract.text import decode_text, readings
from leakguard.message._load import RecoveredFields, UnparsedStructure, UnrepairedPart, _parse
from leakguard.message._part import (
    _b64decode,
    _content_type,
    _disposition,
    _filename,
    _names,
    _param,
    _payload,
    _transfer_encoding,
)

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
    yield from _unparsed(msg, Location.body())
    yield from _message_items(msg, None, budget, 0)


def _unparsed(msg: email.message.Message, location: Location) -> Iterator[Problem]:
    """A message read flat: its attachments could not be told apart. Said once, before
    what text there is is read."""
    for defect in msg.defects:
        if isinstance(defect, UnparsedStructure):
            yield Problem(location, defect.reason)
            return


def iter_embedded(
    data: bytes, location: Location, /, *, budget: Budget, depth: int = 0
) -> Iterator[TextChunk | Problem]:
    """A message found inside another document (an ``.eml`` in a ZIP): its parts sit
    under ``location``."""
    if depth + 1 > budget.limits.max_depth:
        yield Problem(location, "too_deep")
        return
    msg = _parse(data)
    yield from _unparsed(msg, location)
    yield from _message_items(msg, location, budget, depth + 1)


def document_message(data: bytes, location: Location, budget: Budget) -> Iterator[Item]:
    """A document whose bytes are a message, read as one: subject, body, attachments
    (:func:`leakguard.message._document.document_content`)."""
    msg = _parse(data)
    yield from _unparsed(msg, location)
    yield from _message_items(msg, None, budget, 0)


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
    yield from _safe(_field_items(msg, base, budget), base or Location.body())
    yield from _safe(_address_items(msg, base, budget), base or Location.body())
    counter = [0]
    yield from _safe(
        _part_items(msg, base, budget, depth, counter, root=True), base or Location.body()
    )


def _subject_items(
    msg: email.message.Message, base: Location | None, budget: Budget
) -> Iterator[Item]:
    location = base or Location.subject()
    subjects = ((location, str(v)) for k, v in msg.raw_items() if k.lower() == "subject")
    yield from _fields_within_room(subjects, budget)


def _field_items(
    part: email.message.Message, base: Location | None, budget: Budget
) -> Iterator[Item]:
    """The fields of a message or part that carry text (a custom ``X-Patient``,
    ``Keywords``, ``Content-Description``), each read at ``base`` or, in the message
    itself, at ``header:<name>``: they leave with the mail whether or not a reader
    shows them. The subject, the addresses and the fields mail software writes for
    itself are not among them (:func:`read_as_text`)."""

    def texts() -> Iterator[tuple[Location, str]]:
        for key, value in part.raw_items():
            if key.lower() == "subject" or not read_as_text(key):
                continue
            # A name is read with its value when it holds digits ("X-1 85 05 …").
            raw = f"{key}: {value}" if any(c.isdigit() for c in key) else str(value)
            yield base or Location.header(key.strip()), raw

    yield from _fields_within_room(texts(), budget)


def _address_items(
    msg: email.message.Message, base: Location | None, budget: Budget
) -> Iterator[Item]:
    """The address fields (display names and addresses, encoded words decoded), read
    for identifiers only at ``header:<name>``: a mail merge can put a patient's number
    in a recipient's name, whereas a service's name ("Cardiologie") is no health data."""
    addresses = (
        (base or Location.header(key.strip()), str(value))
        for key, value in msg.raw_items()
        if key.strip().lower() in ADDRESS_FIELDS
    )
    yield from _fields_within_room(addresses, budget, identifiers_only=True)


def _fields_within_room(
    fields: Iterator[tuple[Location, str]], budget: Budget, *, identifiers_only: bool = False
) -> Iterator[Item]:
    """Each field's raw text read at its place, up to ``max_header_chars`` together:
    the one that crosses the limit is read up to it, and said not read whole."""
    room = budget.limits.max_header_chars
    for location, raw in fields:
        if len(raw) > room:
            yield from _header_items(raw[:room], location, budget, identifiers_only)
            yield Problem(location, "too_large")
            return
        room -= len(raw)
        yield from _header_items(raw, location, budget, identifiers_only)


def _header_items(
    raw: str, location: Location, budget: Budget, identifiers_only: bool = False
) -> Iterator[Item]:
    """A header's text, and its encoded words read as Western text as well when their
    charset reads them otherwise (a label that hides what the bytes say)."""
    text = header_text(raw)
    yield from text_items(text, location, budget, identifiers_only=identifiers_only)
    if "=?" in raw:
        other = header_text(raw, western=True)
        if other != text:
            yield from text_items(other, location, budget, identifiers_only=identifiers_only)


def _name_items(names: list[str], where: Location, budget: Budget) -> Iterator[Item]:
    """Every name a part gives its file (:func:`_names`), read as text at ``where``."""
    for name in names:
        yield from name_items(name, where, budget)


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
    for defect in part.defects:
        if isinstance(defect, RecoveredFields):
            yield from text_items(header_text("\n".join(defect.lines)), here, budget)
        elif isinstance(defect, UnrepairedPart):
            yield Problem(here, "corrupt")
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
        names = _names(part)
        where = _attachment_location(base, names[0] if names else f"part-{counter[0]}")
        yield from _name_items(names, where, budget)
        yield Problem(where, "unsupported")
        return
    if ctype in _REPORT_TYPES or ctype == "message/partial":
        yield from _quoted_items(part, ctype, base, budget, counter)
        return
    payload = part.get_payload()
    if part.is_multipart() and isinstance(payload, list) and ctype not in _MESSAGE_TYPES:
        # The text before the first boundary and after the last: mail programs do not
        # show it, but it leaves with the message.
        for around in (part.preamble, part.epilogue):
            if around:
                yield from text_items(around, here, budget)
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
    names = _names(part)
    name = names[0] if names else None
    if name is not None:
        yield from _name_items(names, _attachment_location(base, name), budget)
    if not root:
        # A part's own fields (its description), at the part's place.
        at = _attachment_location(base, name) if name is not None else here
        yield from _field_items(part, at, budget)
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
    names = _names(part)
    where = _attachment_location(base, names[0] if names else f"part-{counter[0]}.txt")
    yield from _name_items(names, where, budget)
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
    charset = _param(part, "charset")
    text, other = readings(data, charset)
    if ctype == "text/html":
        yield from html_items(text, where, budget)
    else:
        yield from text_items(text, where, budget, ctype)
    if other is not None:
        # A charset that hides what the bytes say in Western text: read that way too.
        if ctype == "text/html":
            yield from html_items(other, where, budget)
        else:
            yield from text_items(other, where, budget, ctype)
    html = ctype == "text/html"
    for written in encoded_files(text, budget.limits.max_part_bytes, base64=not html):
        # A file uuencoded (yEnc, BinHex) into the text: mail programs show it as an
        # attachment, and it is read as one.
        inside = where.child(written.name)
        yield from name_items(written.name, inside, budget)
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
