"""PDF text with pypdfium2, page by page in the order PDFium reads it.

A password-protected PDF is reported encrypted, a damaged one corrupt; pages beyond the
limit are reported, not silently dropped. Pages without a text layer (scans) are rendered
and read by OCR when it is installed; without OCR, a PDF with no text at all is reported
``no_ocr``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from leakguard.core import Location
from leakguard.extract._common import Context, Item, Unreadable, text_items
from leakguard.extract._types import Budget, Problem
from leakguard.extract.encryption import (
    PDFIUM_LOCK,
    pdf_encryption_covers,
    pdf_error_encrypted,
    pdf_without_encryption,
)
from leakguard.extract.pdf_streams import Oversized, PdfStream, defuse, measure, streams

__all__ = ["read_pdf"]

# Scanned pages are rendered at this resolution for OCR: that of a fax, enough for
# ordinary print, and half the pixels (and OCR time) of 300 dpi.
_OCR_DPI = 200
# PDFium marks hyphenation points and unknown glyphs with these.
_NOISE = str.maketrans({"\ufffe": "", "\x02": "", "\r": None})


def read_pdf(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """Every page's text; the page count is capped by the limits.

    Streams that decode past the caps are dropped before PDFium sees the document (the
    rest is read, and the PDF reported ``too_large``). A PDF whose ``/Encrypt``
    dictionary does not cover its streams is read as clear and reported mislabelled.
    """
    import pypdfium2 as pdfium

    budget = ctx.budget
    data, dropped = _bounded(data, budget)
    if dropped:
        yield Problem(location, "too_large")
    try:
        with PDFIUM_LOCK:
            doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        if not pdf_error_encrypted(err):
            raise Unreadable("corrupt") from None
        if pdf_encryption_covers(data, expired=budget.expired):
            raise Unreadable("encrypted", "pdf") from None
        yield Problem(location, "mislabelled", "pdf")
        try:
            with PDFIUM_LOCK:
                doc = pdfium.PdfDocument(pdf_without_encryption(data))
        except pdfium.PdfiumError:
            raise Unreadable("corrupt") from None
    try:
        with PDFIUM_LOCK:
            pages = len(doc)
        readable = min(pages, budget.limits.max_pdf_pages)
        scanned: list[int] = []
        for index in range(readable):
            if budget.expired():
                yield Problem(location, "timeout")
                return
            text = _page_text(doc, index)
            if text.strip():
                yield from text_items(text, location, budget, "application/pdf")
            else:
                scanned.append(index)
        if scanned:
            yield from _scanned_pages(doc, scanned, readable, location, ctx)
        if pages > readable:
            yield Problem(location, "too_large")
    finally:
        with PDFIUM_LOCK:
            doc.close()


def _bounded(data: bytes, budget: Budget) -> tuple[bytes, bool]:
    """The document with every stream that decodes past the caps replaced by an empty
    one, and whether any was: a stream is measured as it inflates, never in full.

    Images are left to the OCR limits (PDFium decodes them only to render a page);
    every other stream counts against the message's total of decoded bytes.
    """
    limits = budget.limits
    room = max(0, limits.max_total_bytes - budget.bytes_used)
    used = 0
    dropped: list[PdfStream] = []
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
    budget.take_bytes(min(used, room))
    return (defuse(data, dropped), True) if dropped else (data, False)


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


def _page_text(doc: Any, index: int) -> str:
    # The lock is never held across a yield: a slow reader must not stall other threads.
    with PDFIUM_LOCK:
        page = doc[index]
        try:
            textpage = page.get_textpage()
            try:
                text = str(textpage.get_text_range())
            finally:
                textpage.close()
        finally:
            page.close()
    return text.translate(_NOISE)
