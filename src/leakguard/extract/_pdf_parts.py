"""The parts of a PDF that are not its pages' text, read through PDFium: form field
values, the text of comments and text boxes, attached files (of the document and of
its pages), XFA form data, the bookmarks' titles, and the document's properties.

A form filled in a PDF program keeps what was typed in each field's value, not in the
page; a comment's text lives in the annotation; a portfolio's files in its name tree.
Callers hold ``PDFIUM_LOCK`` around every function here.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field
from typing import Any

from leakguard.extract._common import url_text

__all__ = [
    "PageParts",
    "appearance_text",
    "document_files",
    "metadata_lines",
    "outline_lines",
    "page_parts",
    "xfa_packets",
]

# Annotations whose text is no one's content: the pop-up windows that repeat their
# parent's text, and widgets, whose value is read through the form instead. A link's
# text is its address.
_NO_TEXT = frozenset({16})  # FPDF_ANNOT_POPUP
_LINK = 2
_WIDGET = 20
_FILE_ATTACHMENT = 17
# A text a PDF dictionary holds is far shorter than this; a longer one is cut.
_MAX_STRING = 1 << 20
# The document properties a PDF reader shows (File > Properties).
_SHOWN = ("Title", "Author", "Subject", "Keywords")
# Annotations read on one page: more is not a document, and the rest is reported.
_MAX_ANNOTATIONS = 10_000


@dataclass(slots=True)
class PageParts:
    """What one page carries besides its text."""

    texts: list[str] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    more: bool = False
    """More annotations than are read on one page."""


def _wide(call: Any, *args: Any) -> str:
    """A UTF-16 string from one of PDFium's two-call getters (size, then content)."""
    import pypdfium2.raw as c

    size = int(call(*args, None, 0))
    if size <= 2:
        return ""
    size = min(size, _MAX_STRING)
    buffer = ctypes.create_string_buffer(size)
    call(*args, ctypes.cast(buffer, ctypes.POINTER(c.FPDF_WCHAR)), size)
    return buffer.raw[: size - 2].decode("utf-16-le", "replace").split("\x00", 1)[0]


def _attachment(handle: Any, max_bytes: int) -> tuple[str, bytes] | None:
    """An attached file's name and bytes; None when it has none or is over ``max_bytes``
    (an over-sized stream was already emptied before PDFium saw the document)."""
    import pypdfium2.raw as c

    if not handle:
        return None
    name = _wide(c.FPDFAttachment_GetName, handle)
    size = ctypes.c_ulong(0)
    if not c.FPDFAttachment_GetFile(handle, None, 0, ctypes.byref(size)) or not size.value:
        return None
    if size.value > max_bytes:
        return name, b""
    buffer = ctypes.create_string_buffer(size.value)
    if not c.FPDFAttachment_GetFile(handle, buffer, size.value, ctypes.byref(size)):
        return None
    return name, buffer.raw[: size.value]


def _link_address(doc: Any, annot: Any) -> str:
    """The address a link annotation opens (its URI action), URL escapes decoded: it
    leaves with the document, and a query string can carry anything."""
    import pypdfium2.raw as c

    link = c.FPDFAnnot_GetLink(annot)
    return _action_address(doc, c.FPDFLink_GetAction(link) if link else None)


def _action_address(doc: Any, action: Any) -> str:
    """The address a URI action opens, URL escapes decoded ("" for another action)."""
    import pypdfium2.raw as c

    if not action or c.FPDFAction_GetType(action) != c.PDFACTION_URI:
        return ""
    size = int(c.FPDFAction_GetURIPath(doc.raw, action, None, 0))
    if size <= 1:
        return ""
    size = min(size, _MAX_STRING)
    buffer = ctypes.create_string_buffer(size)
    c.FPDFAction_GetURIPath(doc.raw, action, buffer, size)
    uri = buffer.raw[: size - 1].split(b"\x00", 1)[0].decode("latin-1")
    return url_text(uri)


def page_parts(doc: Any, page: Any, max_bytes: int) -> PageParts:
    """The values of the page's form fields, the text of its comments and text boxes,
    the addresses of its links, and the files attached to it."""
    import pypdfium2.raw as c

    parts = PageParts()
    count = c.FPDFPage_GetAnnotCount(page.raw)
    if count > _MAX_ANNOTATIONS:
        parts.more = True
        count = _MAX_ANNOTATIONS
    form = getattr(doc, "formenv", None)
    for index in range(count):
        annot = c.FPDFPage_GetAnnot(page.raw, index)
        if not annot:
            continue
        try:
            subtype = c.FPDFAnnot_GetSubtype(annot)
            if subtype in _NO_TEXT:
                continue
            if subtype == _LINK:
                parts.texts.append(_link_address(doc, annot))
                continue
            if subtype == _WIDGET:
                if form is not None:
                    parts.texts.append(_wide(c.FPDFAnnot_GetFormFieldValue, form.raw, annot))
                else:
                    parts.texts.append(_wide(c.FPDFAnnot_GetStringValue, annot, b"V"))
            parts.texts.append(_wide(c.FPDFAnnot_GetStringValue, annot, b"Contents"))
            # What the annotation draws, which a liar may make differ from its value.
            normal = c.FPDF_ANNOT_APPEARANCEMODE_NORMAL
            parts.texts.append(appearance_text(_wide(c.FPDFAnnot_GetAP, annot, normal)))
            if subtype == _FILE_ATTACHMENT:
                found = _attachment(c.FPDFAnnot_GetFileAttachment(annot), max_bytes)
                if found is not None:
                    parts.files.append(found)
        finally:
            c.FPDFPage_CloseAnnot(annot)
    parts.texts = [text for text in parts.texts if text.strip()]
    return parts


def document_files(
    doc: Any, max_files: int, max_bytes: int
) -> tuple[list[tuple[str, bytes]], bool]:
    """The files in the document's ``/EmbeddedFiles`` (a portfolio, an invoice's data),
    at most ``max_files``; the flag says there were more."""
    import pypdfium2.raw as c

    count = c.FPDFDoc_GetAttachmentCount(doc.raw)
    files: list[tuple[str, bytes]] = []
    for index in range(min(count, max_files)):
        found = _attachment(c.FPDFDoc_GetAttachment(doc.raw, index), max_bytes)
        if found is not None:
            files.append(found)
    return files, count > max_files


def outline_lines(doc: Any, max_items: int) -> tuple[list[str], bool]:
    """The titles of the document's bookmarks (the outline a reader shows beside the
    pages), each with the address it opens if any, in reading order: at most
    ``max_items``; the flag says there were more. A bookmark met twice (an outline made
    into a loop) is read once."""
    import pypdfium2.raw as c

    lines: list[str] = []
    seen: set[int] = set()
    # Depth first: a bookmark, its children, then its next sibling.
    stack = [c.FPDFBookmark_GetFirstChild(doc.raw, None)]
    while stack:
        mark = stack.pop()
        if not mark:
            continue
        address = ctypes.addressof(mark.contents)
        if address in seen:
            continue
        seen.add(address)
        if len(lines) >= max_items:
            return lines, True
        title = _wide(c.FPDFBookmark_GetTitle, mark)
        target = _action_address(doc, c.FPDFBookmark_GetAction(mark))
        line = " ".join(part for part in (title, target) if part.strip())
        if line:
            lines.append(line)
        stack.append(c.FPDFBookmark_GetNextSibling(doc.raw, mark))
        stack.append(c.FPDFBookmark_GetFirstChild(doc.raw, mark))
    return lines, False


def page_label(doc: Any, index: int) -> str:
    """The label a reader shows for page ``index`` in its page box ("iv", "A-3", or any
    text the document gives), or "" when the document gives none."""
    import pypdfium2.raw as c

    return _wide(c.FPDF_GetPageLabel, doc.raw, index)


def destination_names(doc: Any, max_items: int) -> tuple[list[str], bool]:
    """The names of the document's named destinations (places a link or another
    document can open by name; some readers list them): at most ``max_items``, the flag
    saying there were more."""
    import pypdfium2.raw as c

    count = int(c.FPDF_CountNamedDests(doc.raw))
    names: list[str] = []
    for index in range(min(count, max_items)):
        size = ctypes.c_long(0)
        c.FPDF_GetNamedDest(doc.raw, index, None, ctypes.byref(size))
        if size.value <= 2:
            continue
        size.value = min(size.value, _MAX_STRING)
        buffer = ctypes.create_string_buffer(size.value)
        if not c.FPDF_GetNamedDest(doc.raw, index, buffer, ctypes.byref(size)):
            continue
        name = buffer.raw[: max(0, size.value - 2)].decode("utf-16-le", "replace")
        name = name.split("\x00", 1)[0]
        if name.strip():
            names.append(name)
    return names, count > max_items


def xfa_packets(doc: Any, max_bytes: int) -> list[bytes]:
    """The XML packets of an XFA form (its template, with the static text printed on the
    form, and its datasets, with what was typed in); the configuration is left out."""
    import pypdfium2.raw as c

    packets: list[bytes] = []
    for index in range(c.FPDF_GetXFAPacketCount(doc.raw)):
        size = c.FPDF_GetXFAPacketName(doc.raw, index, None, 0)
        name_buffer = ctypes.create_string_buffer(max(size, 1))
        c.FPDF_GetXFAPacketName(doc.raw, index, name_buffer, size)
        name = name_buffer.value.decode("latin-1")
        if name in ("config", "localeSet", "xdp:xdp", "preamble", "postamble", "connectionSet"):
            continue
        length = ctypes.c_ulong(0)
        c.FPDF_GetXFAPacketContent(doc.raw, index, None, 0, ctypes.byref(length))
        if not 0 < length.value <= max_bytes:
            continue
        buffer = ctypes.create_string_buffer(length.value)
        if c.FPDF_GetXFAPacketContent(doc.raw, index, buffer, length.value, ctypes.byref(length)):
            packets.append(buffer.raw[: length.value])
    return packets


def metadata_lines(doc: Any) -> list[str]:
    """The document properties a reader shows: title, author, subject, keywords."""
    lines: list[str] = []
    for key in _SHOWN:
        try:
            value = str(doc.get_metadata_value(key))
        except Exception:
            continue
        if value.strip():
            lines.append(value)
    return lines


# Text blocks of a content stream, the strings written in them, and their escapes.
_TEXT_BLOCK = re.compile(r"\bBT\b(.*?)\bET\b", re.DOTALL)
_LITERAL = re.compile(r"\((?:\\[\s\S]|[^\\()])*\)")
_HEX = re.compile(r"<([0-9A-Fa-f\s]+)>")
_ESCAPE = re.compile(r"\\([nrtbf()\\]|[0-7]{1,3}|\r?\n)")
_ESCAPED = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "(": "(", ")": ")", "\\": "\\"}
_MAX_APPEARANCE = 1 << 20


def appearance_text(content: str) -> str:
    """The strings an appearance stream writes (``(…) Tj``, ``[(…) -20 (…)] TJ``, hex
    strings), one line per text block. Fonts with simple encodings, as form fields and
    text boxes use, give their text this way."""
    lines: list[str] = []
    for block in _TEXT_BLOCK.finditer(content[:_MAX_APPEARANCE]):
        body = block.group(1)
        pieces = [_unescape(m.group()[1:-1]) for m in _LITERAL.finditer(body)]
        pieces += [_unhex(m.group(1)) for m in _HEX.finditer(_LITERAL.sub("", body))]
        line = "".join(pieces)
        if line.strip():
            lines.append(line)
    return "\n".join(lines)


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code[0] in "\r\n":
            return ""  # a line continuation
        if code[0].isdigit():
            return chr(int(code, 8) & 0xFF)
        return _ESCAPED[code]

    return _ESCAPE.sub(one, text)


def _unhex(digits: str) -> str:
    clean = "".join(digits.split())
    if len(clean) % 2:
        clean += "0"
    raw = bytes.fromhex(clean)
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", "replace")
    return raw.decode("latin-1")
