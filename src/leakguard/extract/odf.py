"""OpenDocument text, spreadsheet and presentation files (ODT, ODS, ODP) read as zipped
XML: paragraphs in order, table rows as tab-joined cells, repeated cells and rows capped,
form controls' values, then the package's other members.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from leakguard.core import Location
from leakguard.extract._common import EDGE, Context, Item, Unreadable, text_items, without_marks
from leakguard.extract._package import leftover_items
from leakguard.extract._types import Problem
from leakguard.extract._xml import MAX_NESTING, attr, element_lines, local, parse
from leakguard.extract.archive import open_zip, read_member
from leakguard.extract.encryption import odf_content_clear, odf_encrypted

__all__ = ["odf_lines", "read_odf"]

# A spreadsheet may say "this cell repeats 16384 times": beyond a few copies, a repeat
# brings nothing new to read.
_MAX_REPEAT = 20
_MAX_SPACES = 8
# Elements whose content is not text a reader sees (embedded pictures, scripts).
_SKIP = frozenset({"binary-data", "note-citation", "sequence-decls", "script"})
# What a form control shows: the value typed in, its label, the entries of a list.
_CONTROL_VALUES = frozenset({"current-value", "value", "string-value", "label"})
_NESTED = frozenset({"p", "h", "table", "frame", "note-body", "annotation", "list"})
# A cell's stored value and formula (attributes of ``table-cell``).
_STORED = ("value", "string-value", "formula")


def _repeat(elem: Element, name: str) -> int:
    value = attr(elem, name)
    try:
        return max(1, min(int(value or 1), _MAX_REPEAT))
    except ValueError:
        return 1


class _Lines:
    """Collects the lines of an ODF XML part in document order."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        # Paragraphs read again with a space at each span's edge, when one lies between
        # a digit and a letter or digit (a hidden span may glue them).
        self.glued: list[str] = []

    def block(self, elem: Element, depth: int) -> None:
        if depth > MAX_NESTING:
            raise Unreadable("corrupt")
        name = local(elem.tag)
        if name in ("p", "h"):
            parts: list[str] = []
            nested: list[Element] = []
            self.inline(elem, parts, nested, depth + 1)
            text, others = without_marks("".join(parts))
            self.lines.extend(text.split("\n"))
            for other in others:
                self.glued.extend(other.split("\n"))
            for child in nested:
                self.block(child, depth + 1)
        elif name == "table":
            self.lines.extend(self.rows(elem, depth + 1))
        elif name == "forms":
            self.lines.extend(
                value
                for control in elem.iter()
                for key, value in control.attrib.items()
                if local(key) in _CONTROL_VALUES and value.strip()
            )
        elif name not in _SKIP:
            for child in elem:
                self.block(child, depth + 1)

    def inline(self, elem: Element, parts: list[str], nested: list[Element], depth: int) -> None:
        if depth > MAX_NESTING:
            raise Unreadable("corrupt")
        if elem.text:
            parts.append(elem.text)
        for child in elem:
            name = local(child.tag)
            if name == "tab":
                parts.append("\t")
            elif name == "s":
                parts.append(" " * min(_repeat(child, "c"), _MAX_SPACES))
            elif name == "line-break":
                parts.append("\n")
            elif name in _NESTED:
                nested.append(child)
            elif name == "span":
                parts.append(EDGE)
                self.inline(child, parts, nested, depth + 1)
                parts.append(EDGE)
            elif name not in _SKIP:
                self.inline(child, parts, nested, depth + 1)
            if child.tail:
                parts.append(child.tail)

    def rows(self, table: Element, depth: int) -> Iterator[str]:
        if depth > MAX_NESTING:
            raise Unreadable("corrupt")
        for child in table:
            name = local(child.tag)
            if name == "table-row":
                line = "\t".join(self.cells(child, depth + 1))
                if line:
                    for _ in range(_repeat(child, "number-rows-repeated")):
                        yield line
            elif name in ("table-header-rows", "table-rows", "table-row-group"):
                yield from self.rows(child, depth + 1)

    def cells(self, row: Element, depth: int) -> Iterator[str]:
        for cell in row:
            if local(cell.tag) != "table-cell":
                continue
            inner = _Lines()
            for child in cell:
                inner.block(child, depth + 1)
            self.glued += inner.glued
            text = " ".join(" ".join(line.split()) for line in inner.lines if line.strip())
            # The cell's value as stored, when the paragraph shows something else (a
            # number in exponent form, a currency; some writers omit the paragraph), and
            # its formula, whose strings leave with the file: after what is shown.
            for name in _STORED:
                value = " ".join((attr(cell, name) or "").split())
                if value and value not in text:
                    text = f"{text} {value}" if text else value
            if text:
                for _ in range(_repeat(cell, "number-columns-repeated")):
                    yield text


def odf_lines(xml: bytes) -> list[str]:
    """The text lines of one ODF XML part (``content.xml``, ``styles.xml``)."""
    walker = _Lines()
    walker.block(parse(xml), 0)
    return [line for line in walker.lines + walker.glued if line.strip()]


def read_odf(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """An ODT/ODS/ODP document: body text, then headers and footers from the styles, then
    every other member (properties, embedded objects and documents, pictures by OCR)."""
    budget = ctx.budget
    with open_zip(data, budget) as zf:
        names = zf.namelist()
        if odf_encrypted(zf):
            raise Unreadable("encrypted", "office")
        if odf_content_clear(zf):
            # Its manifest says encrypted, its text is not: read as clear.
            yield Problem(location, "mislabelled", "office")
        if "content.xml" not in names:
            raise Unreadable("corrupt")
        for name in ("content.xml", "styles.xml"):
            if name not in names:
                continue
            if budget.expired():
                yield Problem(location, "timeout")
                return
            lines = odf_lines(read_member(zf, zf.getinfo(name), budget))
            yield from text_items("\n".join(lines), location, budget, _KIND)
        yield from leftover_items(
            zf,
            {"content.xml", "styles.xml"},
            location,
            ctx,
            structural=_STRUCTURAL,
            lines_of=_part_lines,
            kind=_KIND,
        )


_KIND = "application/vnd.oasis.opendocument"
# Members with no one's text: the type, the manifest and signatures, settings, the
# first page's thumbnail, the previews of embedded objects, the user interface layout.
_STRUCTURAL = re.compile(
    r"^(?:mimetype|settings\.xml|manifest\.rdf|layout-cache)$|^(?:META-INF|Thumbnails"
    r"|Configurations2|ObjectReplacements)/|(?:^|/)(?:settings|styles)\.xml$"
)


def _part_lines(xml: bytes) -> list[str]:
    """Another part's text: an embedded object's paragraphs and tables, then every other
    element's text (the document's properties, a chart's values)."""
    root = parse(xml)
    walker = _Lines()
    walker.block(root, 0)
    lines = [line for line in walker.lines if line.strip()]
    return lines + element_lines(root, skip=_LAID_OUT, attributes=_VALUES)


_LAID_OUT = frozenset({"p", "h", "table"})
_VALUES = frozenset({"value", "string-value"})
