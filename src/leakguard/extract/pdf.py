"""PDF text with pypdfium2, page by page in the order PDFium reads it, then what a PDF
carries besides its pages: form field values, comments, page labels, attached files,
XFA form data, the bookmarks' titles, the names of its destinations, the document's
properties and XMP metadata, and the pages of its earlier revisions.

A password-protected PDF is reported encrypted, a damaged one corrupt; pages beyond the
limit are reported, not silently dropped. Pages without a text layer (scans) are rendered
and read by OCR when it is installed; without OCR, a PDF with no text at all is reported
``no_ocr``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from leakguard.core import Location
from leakguard.extract._common import Context, Item, Unreadable, inner_items, text_items
from leakguard.extract._pdf_parts import (
    PageParts,
    destination_names,
    document_files,
    metadata_lines,
    outline_lines,
    page_label,
    page_parts,
    xfa_packets,
)
from leakguard.extract._types import Budget, Problem
from leakguard.extract._xml import text_lines
from leakguard.extract.encryption import (
    PDFIUM_LOCK,
    pdf_encryption_covers,
    pdf_error_encrypted,
    pdf_without_encryption,
)
from leakguard.extract.pdf_streams import (
    Oversized,
    PdfStream,
    decode_stream,
    defuse,
    measure,
    streams,
)

__all__ = ["read_pdf"]

# Scanned pages are rendered at this resolution for OCR: that of a fax, enough for
# ordinary print, and half the pixels (and OCR time) of 300 dpi.
_OCR_DPI = 200
# PDFium marks hyphenation points and unknown glyphs with these (removed by a character
# class: ``str.translate`` with a table looks up every character of the page).
_NOISE = re.compile("[\ufffe\x02\r]+")


def read_pdf(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """Every page's text and what the document carries besides; the page count is capped
    by the limits.

    Streams that decode past the caps are dropped before PDFium sees the document (the
    rest is read, and the PDF reported ``too_large``). A PDF whose ``/Encrypt``
    dictionary does not cover its streams is read as clear and reported mislabelled.
    """
    import pypdfium2 as pdfium

    budget = ctx.budget
    data, dropped, metadata = _bounded(data, budget)
    if dropped:
        yield Problem(location, "too_large")
    clear = True
    try:
        doc = _open(data)
    except pdfium.PdfiumError as err:
        if not pdf_error_encrypted(err):
            raise Unreadable("corrupt") from None
        if pdf_encryption_covers(data, expired=budget.expired):
            raise Unreadable("encrypted", "pdf") from None
        yield Problem(location, "mislabelled", "pdf")
        clear = False
        try:
            doc = _open(pdf_without_encryption(data))
        except pdfium.PdfiumError:
            raise Unreadable("corrupt") from None
    yield from _document(doc, location, ctx, budget.limits.max_pdf_pages, files=True)
    if clear:
        lines: list[str] = []
        for raw in metadata:
            try:
                lines += text_lines(raw, skip=_XMP_TECHNICAL)
            except Unreadable:
                # Not well-formed (an undeclared prefix): its text between the tags.
                lines.append(_TAGS.sub(" ", raw.decode("utf-8", "replace")))
        yield from text_items("\n".join(lines), location, budget, "application/pdf")
        yield from _earlier_revisions(data, location, ctx)


# XMP elements that only hold identifiers of the file and its history, not text.
_XMP_TECHNICAL = frozenset(
    {"DocumentID", "InstanceID", "OriginalDocumentID", "History", "DerivedFrom", "Ingredients",
     "Manifest", "VersionID", "RenditionClass", "Thumbnails"}
)  # fmt: skip
_TAGS = re.compile(r"<[^>]{0,4096}>")
# A document made by LaTeX names a destination for every page, section, figure and
# citation (a book, ten thousand): short names, read by the thousand before any is
# said unread.
_NAMES_PER_MEMBER = 50
# Earlier revisions read, newest first: a form saved a few times, a signed document.
_MAX_REVISIONS = 8
_EOF = b"%%EOF"


def _open(data: bytes) -> Any:
    """The document, with its form loaded when it has one (field values are read through
    it, inherited values and all)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as c

    with PDFIUM_LOCK:
        doc = pdfium.PdfDocument(data)
        try:
            # (An XFA form has no AcroForm to load without XFA support in PDFium: its
            # data is read from its packets.)
            if doc.get_formtype() == c.FORMTYPE_ACRO_FORM:
                doc.init_forms()
        except Exception:
            pass  # the pages are read all the same; field values from their dictionaries
    return doc


def _document(
    doc: Any, location: Location, ctx: Context, max_pages: int, *, files: bool
) -> Iterator[Item]:
    """The pages of an opened document (closed at the end), each with its form values
    and comments; with ``files``, the files attached to pages and to the document, the
    XFA form data, the bookmarks' titles and the document's properties."""
    budget = ctx.budget
    attached: list[tuple[str, bytes]] = []
    try:
        with PDFIUM_LOCK:
            pages = len(doc)
        readable = min(pages, max_pages)
        scanned: list[int] = []
        for index in range(readable):
            if budget.expired():
                yield Problem(location, "timeout")
                return
            text, parts = _page_text(doc, index, budget.limits.max_part_bytes)
            extra = parts.texts
            attached += parts.files
            if parts.more:
                yield Problem(location, "too_many_members")
            if text.strip():
                yield from text_items(text, location, budget, "application/pdf")
            else:
                scanned.append(index)
            if extra:
                yield from text_items("\n".join(extra), location, budget, "application/pdf")
        if scanned:
            yield from _scanned_pages(doc, scanned, readable, location, ctx)
        if pages > readable:
            yield Problem(location, "too_large")
        if not files:
            return
        with PDFIUM_LOCK:
            documents, more = document_files(
                doc, budget.limits.max_members, budget.limits.max_part_bytes
            )
            packets = xfa_packets(doc, budget.limits.max_part_bytes)
            properties = metadata_lines(doc)
            outline, more_marks = outline_lines(doc, budget.limits.max_members)
            destinations, more_names = destination_names(
                doc, _NAMES_PER_MEMBER * budget.limits.max_members
            )
        attached += documents
        if more or more_marks or more_names:
            yield Problem(location, "too_many_members")
        for packet in packets:
            try:
                lines = text_lines(packet, skip=frozenset({"script", "config"}))
            except Unreadable:
                yield Problem(location, "corrupt")
                continue
            yield from text_items("\n".join(lines), location, budget, "application/pdf")
        yield from text_items("\n".join(properties), location, budget, "application/pdf")
        yield from text_items("\n".join(outline), location, budget, "application/pdf")
        yield from text_items("\n".join(destinations), location, budget, "application/pdf")
    finally:
        with PDFIUM_LOCK:
            doc.close()
    yield from _attached_files(attached, location, ctx)


def _attached_files(
    files: list[tuple[str, bytes]], location: Location, ctx: Context
) -> Iterator[Item]:
    """Files attached to the PDF, each read as the document it is, under the PDF."""

    budget = ctx.budget
    for count, (name, content) in enumerate(files):
        where = location.child(name or f"attachment-{count + 1}")
        if count >= budget.limits.max_members:
            yield Problem(location, "too_many_members")
            return
        if not content:
            yield Problem(where, "too_large")
            continue
        yield from inner_items(content, where, ctx, name or None)


def _earlier_revisions(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """The pages of each earlier revision of a PDF edited in place (an incremental
    update appends the changes and leaves what was there before in the file): what the
    document showed before it was edited can still be recovered, so it is read too.

    A linearized file's first end marker closes its first-page section, not a revision.
    An earlier revision PDFium cannot open is reported ``corrupt``.
    """
    import pypdfium2 as pdfium

    ends: list[int] = []
    pos = data.find(_EOF)
    while pos >= 0:
        ends.append(pos + len(_EOF))
        pos = data.find(_EOF, pos + len(_EOF))
    if ends and b"/Linearized" in data[:1024]:
        ends = ends[1:]
    # The last marker ends the current revision (a few bytes of padding may follow it).
    earlier = [end for end in ends[:-1] if data[end:].strip(b"\r\n\x00 ") != b""]
    budget = ctx.budget
    pages = budget.limits.max_pdf_pages
    for end in reversed(earlier[-_MAX_REVISIONS:]):
        if budget.expired():
            yield Problem(location, "timeout")
            return
        try:
            doc = _open(data[:end])
        except pdfium.PdfiumError:
            yield Problem(location, "corrupt")
            continue
        with PDFIUM_LOCK:
            count = len(doc)
        yield from _document(doc, location, ctx, pages, files=False)
        pages = max(0, pages - count)


def _bounded(data: bytes, budget: Budget) -> tuple[bytes, bool, list[bytes]]:
    """The document with every stream that decodes past the caps replaced by an empty
    one, whether any was (a stream is measured as it inflates, never in full), and the
    decoded XMP metadata packets.

    Images are left to the OCR limits (PDFium decodes them only to render a page);
    every other stream counts against the message's total of decoded bytes.
    """
    limits = budget.limits
    room = max(0, limits.max_total_bytes - budget.bytes_used)
    used = 0
    dropped: list[PdfStream] = []
    metadata: list[PdfStream] = []
    for stream in streams(data):
        if budget.expired():
            raise Unreadable("timeout")
        image = stream.kind == b"Image"
        cap = limits.max_part_bytes if image else min(limits.max_part_bytes, room - used)
        try:
            size = measure(data, stream, cap, budget.expired)
        except Oversized:
            dropped.append(stream)
            continue
        except TimeoutError:
            raise Unreadable("timeout") from None
        if not image:
            used += size
        if stream.kind == b"Metadata":
            metadata.append(stream)
    budget.take_bytes(min(used, room))
    packets = [decode_stream(data, stream, limits.max_part_bytes) for stream in metadata]
    packets = [packet for packet in packets if packet]
    return (defuse(data, dropped), True, packets) if dropped else (data, False, packets)


def _scanned_pages(
    doc: Any, scanned: list[int], readable: int, location: Location, ctx: Context
) -> Iterator[Item]:
    """Pages without a text layer, read by OCR; without OCR, only a PDF that has no text
    at all is reported (a blank back page in a typed letter is no cause for alarm)."""
    from leakguard.extract import ocr

    if not ocr.available():
        if len(scanned) == readable:
            yield Problem(location, "no_ocr")
        return
    budget = ctx.budget
    for index in scanned:
        if budget.expired():
            yield Problem(location, "timeout")
            return
        try:
            picture = _render(doc, index, budget.limits.max_ocr_pixels)
            text = ocr.ocr_picture(picture, budget)
        except Unreadable as err:
            yield Problem(location, err.reason, err.container)
            return
        yield from text_items(text, location, budget, "application/pdf")


def _render(doc: Any, index: int, max_pixels: int) -> Any:
    """One page as a gray Pillow picture, at 200 dpi or less to stay within ``max_pixels``."""
    with PDFIUM_LOCK:
        page = doc[index]
        try:
            width, height = page.get_size()
            scale = min(_OCR_DPI / 72, (max_pixels / max(width * height, 1.0)) ** 0.5)
            bitmap = page.render(scale=scale, grayscale=True)
            try:
                return bitmap.to_pil().copy()
            finally:
                bitmap.close()
        finally:
            page.close()


def _page_text(doc: Any, index: int, max_bytes: int) -> tuple[str, PageParts]:
    """A page's text, the values and comments of its annotations, and its attached
    files."""
    # The lock is never held across a yield: a slow reader must not stall other threads.
    with PDFIUM_LOCK:
        page = doc[index]
        try:
            textpage = page.get_textpage()
            try:
                text = str(textpage.get_text_range())
            finally:
                textpage.close()
            parts = page_parts(doc, page, max_bytes)
            label = page_label(doc, index)
            if label.strip():
                parts.texts.append(label)
        finally:
            page.close()
    return _NOISE.sub("", text), parts
