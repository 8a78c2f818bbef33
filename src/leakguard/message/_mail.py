"""Whether bytes are an e-mail message: a block of header fields at the start, one of
them a field only mail carries; and, when they are not, why, said to a person.
"""

from __future__ import annotations

import re

from leakguard.errors import InputError
from leakguard.extract import sniff

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
# A lone CR ends a line too, as the standard library's parser reads it.
_BLANK_LINES = re.compile(rb"(?:[ \t]*(?:\r\n|\n|\r))+")
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
