"""PDF text with pypdfium2, page by page in the order PDFium reads it.

A password-protected PDF is reported encrypted, a damaged one corrupt, one without any
text (a scan) ``no_text``; pages beyond the limit are reported, not silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from leakguard.core import Location
from leakguard.extract._common import Context, Item, Unreadable, text_items
from leakguard.extract._types import Problem
from leakguard.extract.encryption import PDFIUM_LOCK, pdf_error_encrypted

__all__ = ["read_pdf"]

# PDFium marks hyphenation points and unknown glyphs with these.
_NOISE = str.maketrans({"\ufffe": "", "\x02": "", "\r": None})


def read_pdf(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """Every page's text; the page count is capped by the limits."""
    import pypdfium2 as pdfium

    budget = ctx.budget
    try:
        with PDFIUM_LOCK:
            doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        if pdf_error_encrypted(err):
            raise Unreadable("encrypted", "pdf") from None
        raise Unreadable("corrupt") from None
    try:
        with PDFIUM_LOCK:
            pages = len(doc)
        readable = min(pages, budget.limits.max_pdf_pages)
        found_text = False
        for index in range(readable):
            if budget.expired():
                yield Problem(location, "timeout")
                return
            text = _page_text(doc, index)
            if text.strip():
                found_text = True
                yield from text_items(text, location, budget, "application/pdf")
        if pages > readable:
            yield Problem(location, "too_large")
        elif not found_text:
            yield Problem(location, "no_text")
    finally:
        with PDFIUM_LOCK:
            doc.close()


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
