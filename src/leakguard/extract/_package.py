"""The members of an Office or OpenDocument package that its own reader does not lay out:
document properties, custom XML data, chart caches, SmartArt, drawings, masters,
comments of every kind, embedded documents and pictures. Each is read by what it is,
so that nothing a person could open in the file goes unread.

XML members give their text (paragraph-aware, then every other element's text);
embedded files are read as the documents they are, under the package's location;
pictures by OCR when it is installed.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator

from leakguard.core import Location
from leakguard.extract._common import Context, Item, Unreadable, inner_items, text_items
from leakguard.extract._types import Problem
from leakguard.extract.archive import read_member
from leakguard.extract.text import decode_text

__all__ = ["leftover_items"]

_PICTURES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
# Vector drawings and fonts: no text a reader can take out (an EMF's text records are
# drawn glyph by glyph).
_DRAWINGS = frozenset(
    {".emf", ".wmf", ".emz", ".wmz", ".svg", ".odttf", ".ttf", ".otf", ".fntdata"}
)
_XML = frozenset({".xml", ".vml"})
_TAGS = re.compile(r"<[^>]{0,4096}>")


def leftover_items(
    zf: zipfile.ZipFile,
    done: set[str],
    location: Location,
    ctx: Context,
    *,
    structural: re.Pattern[str],
    lines_of: Callable[[bytes], list[str]],
    kind: str,
) -> Iterator[Item]:
    """Every member not in ``done`` and not matching ``structural`` (styles, themes,
    settings, relationships: no text of anyone's), read by what it is.

    ``lines_of`` lays out an XML member's text. Past ``max_members`` members or the
    deadline, the rest is reported.
    """

    budget = ctx.budget
    count = 0
    for info in zf.infolist():
        name = info.filename
        if info.is_dir() or name in done or structural.search(name):
            continue
        ext = posixpath.splitext(name)[1].lower()
        if ext in _DRAWINGS:
            continue
        count += 1
        if count > budget.limits.max_members:
            yield Problem(location, "too_many_members")
            return
        if budget.expired():
            yield Problem(location, "timeout")
            return
        base = posixpath.basename(name)
        if ext in _PICTURES:
            yield from _picture(zf, info, location.child(base), ctx)
            continue
        try:
            content = read_member(zf, info, budget)
        except Unreadable as err:
            where = location if ext in _XML else location.child(base)
            yield Problem(where, err.reason, err.container)
            continue
        if ext in _XML:
            try:
                lines = lines_of(content)
            except Unreadable:
                # Not well-formed (legacy VML often is not): its text between the tags.
                text = decode_text(content)
                lines = [" ".join(_TAGS.sub(" ", text).split())]
            yield from text_items("\n".join(lines), location, budget, kind)
            continue
        yield from inner_items(content, location.child(base), ctx, base)


def _picture(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: Location, ctx: Context
) -> Iterator[Item]:
    """A picture placed in the document, read by OCR when it is installed. Without OCR
    one the size of a document (a scanned form, a photographed card) is reported unread
    (``no_ocr``); a logo or a signature is left."""
    from leakguard.extract import ocr

    try:
        content = read_member(zf, info, ctx.budget)
    except Unreadable as err:
        yield Problem(where, err.reason, err.container)
        return
    yield from ocr.placed_picture(content, where, ctx)
