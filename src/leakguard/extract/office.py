"""Office Open XML (DOCX, XLSX, PPTX) read as zipped XML, and OLE compound files
(password-protected Office documents, legacy .doc/.xls/.ppt).

Reading order is kept; a table row comes out as its cells joined by a tab, one row per
line, and the paragraphs of one cell are joined by a space.
"""

from __future__ import annotations

import html
import re
import zipfile
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

from leakguard.core import DeadlineExceeded, Location
from leakguard.extract._common import (
    EDGE,
    HIDE,
    SHOW,
    Context,
    Item,
    Unreadable,
    inner_items,
    text_items,
    url_text,
    without_marks,
)
from leakguard.extract._package import leftover_items
from leakguard.extract._sheet_quick import quick_rows, quick_shared_strings
from leakguard.extract._types import Budget, Problem
from leakguard.extract._xml import MAX_NESTING, attr, element_lines, iter_end, local, parse
from leakguard.extract.archive import open_zip, read_member
from leakguard.extract.encryption import ole_clear_content, ole_encrypted
from leakguard.extract.text import decode_text

__all__ = ["ooxml_lines", "read_docx", "read_ole", "read_pptx", "read_xlsx"]

# Property and layout elements carry no readable text (a ``w:tab`` inside ``w:pPr`` is a
# tab stop, not a tab character). The legacy copy of a drawing (``mc:Fallback``) is read
# too: a liar may put text there alone, and a repeated line costs little.
_SKIP = frozenset({"tblGrid", "lstStyle", "rPh"})
_NESTED = frozenset({"txbxContent", "p", "tbl"})
# Field codes (``QUOTE "…"``, ``MERGEFIELD``): shown with Alt+F9, read on a line of their own.
_CODES = frozenset({"instrText", "delInstrText"})


# Run properties that hide a run's text on screen (hidden text, a hidden paragraph mark,
# text hidden in web layout), as the ends of their tags.
_HIDDEN = ("}vanish", "}specVanish", "}webHidden")
_OFF = frozenset({"0", "false", "off"})


def _hidden_run(run: Element) -> bool:
    """Whether a run's properties (its first child, when it has them) hide its text."""
    props = run[0] if len(run) else None
    if props is None or not props.tag.endswith("}rPr"):
        return False
    return any(
        prop.tag.endswith(_HIDDEN) and (attr(prop, "val") or "true") not in _OFF for prop in props
    )


def _skipped(name: str) -> bool:
    return name in _SKIP or name.endswith("Pr")


class _Lines:
    """Collects the lines of an OOXML part, walking its tree in document order."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        # Paragraphs read again as shown (without their hidden runs) and with a space
        # between runs when an edge lies between a digit and a letter or digit: a
        # hidden run must not glue itself to a number (``without_marks``).
        self.glued: list[str] = []

    def block(self, elem: Element, depth: int) -> None:
        if depth > MAX_NESTING:
            raise Unreadable("corrupt")
        name = local(elem.tag)
        if name == "p":
            self.paragraph(elem, depth)
        elif name == "tbl":
            self.lines.extend(self.rows(elem, depth))
        elif not _skipped(name):
            for child in elem:
                self.block(child, depth + 1)

    def paragraph(self, para: Element, depth: int) -> None:
        parts: list[str] = []
        nested: list[Element] = []
        codes: list[str] = []
        self.runs(para, parts, nested, depth + 1, codes)
        text, others = without_marks("".join(parts))
        self.lines.extend(text.split("\n"))
        for other in others:
            self.glued.extend(other.split("\n"))
        if codes:
            self.lines.append("".join(codes))
        for elem in nested:
            self.block(elem, depth + 1)

    def runs(
        self,
        elem: Element,
        parts: list[str],
        nested: list[Element],
        depth: int,
        codes: list[str] | None = None,
    ) -> None:
        if depth > MAX_NESTING:
            raise Unreadable("corrupt")
        for child in elem:
            name = local(child.tag)
            if name in ("t", "delText"):
                parts.append(child.text or "")
            elif name in _CODES:
                if codes is not None:
                    codes.append(child.text or "")
            elif name in ("tab", "ptab"):
                parts.append("\t")
            elif name in ("br", "cr"):
                parts.append("\n")
            elif name == "noBreakHyphen":
                parts.append("-")
            elif name in _NESTED:
                # A text box or a table anchored in the paragraph: its own lines, after.
                nested.append(child)
            elif name == "r":
                hidden = _hidden_run(child)
                parts.append(HIDE if hidden else EDGE)
                self.runs(child, parts, nested, depth + 1, codes)
                parts.append(SHOW if hidden else EDGE)
            elif not _skipped(name):
                self.runs(child, parts, nested, depth + 1, codes)

    def rows(self, table: Element, depth: int) -> Iterator[str]:
        for child in table:
            name = local(child.tag)
            if name == "tr":
                yield "\t".join(self.cells(child, depth + 1))
            elif not _skipped(name) and name != "tbl":
                # Rows wrapped in content controls or custom XML.
                yield from self.rows(child, depth + 1)

    def cells(self, row: Element, depth: int) -> Iterator[str]:
        if depth > MAX_NESTING:
            raise Unreadable("corrupt")
        for child in row:
            name = local(child.tag)
            if name == "tc":
                inner = _Lines()
                for elem in child:
                    inner.block(elem, depth + 1)
                self.glued += inner.glued
                yield " ".join(" ".join(line.split()) for line in inner.lines if line.strip())
            elif not _skipped(name):
                yield from self.cells(child, depth + 1)


def ooxml_lines(xml: bytes) -> list[str]:
    """The text lines of one WordprocessingML or DrawingML part, in reading order, then
    the texts shown on hover or read aloud: pictures' and shapes' alternative texts and
    links' tooltips."""
    root = parse(xml)
    return _tree_lines(root) + _hover_texts(root)


# Elements whose attributes hold a text a person sees, hears or finds in a dialog: a
# picture's or shape's alternative text and title (``docPr``, ``cNvPr``), a link's
# tooltip, a simple field's code (as ``instrText`` is read), a content control's title
# and tag, a legacy form field's default text, list entries, status bar and help texts,
# and a bookmark's name (those Word makes for itself start with "_": left).
_HOVER = {
    "docPr": ("descr", "title"),
    "cNvPr": ("descr", "title"),
    "hyperlink": ("tooltip",),
    "fldSimple": ("instr",),
    "alias": ("val",),
    "tag": ("val",),
    "default": ("val",),
    "listEntry": ("val",),
    "statusText": ("val",),
    "helpText": ("val",),
    "bookmarkStart": ("name",),
}


def _hover_texts(root: Element) -> list[str]:
    out: list[str] = []
    for elem in root.iter():
        names = _HOVER.get(local(elem.tag)) if elem.attrib else None
        if names:
            out.extend(
                value
                for key, value in elem.attrib.items()
                if local(key) in names and value.strip() and not value.startswith("_")
            )
    return out


def _tree_lines(root: Element) -> list[str]:
    walker = _Lines()
    walker.block(root, 0)
    return [line for line in walker.lines + walker.glued if line.strip()]


def _numbered(names: list[str], pattern: str) -> list[str]:
    regex = re.compile(pattern, re.IGNORECASE)
    found = []
    for name in names:
        m = regex.fullmatch(name)
        if m:
            found.append((int(m.group(1) or 0), name))
    return [name for _, name in sorted(found)]


def _member(zf: zipfile.ZipFile, name: str, budget: Budget) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise Unreadable("corrupt") from None
    return read_member(zf, info, budget)


def _read_parts(
    data: bytes, location: Location, ctx: Context, main: str, extra: list[str], kind: str
) -> Iterator[Item]:
    budget = ctx.budget
    with open_zip(data, budget) as zf:
        names = zf.namelist()
        if main not in names:
            raise Unreadable("corrupt")
        for name in [main, *extra]:
            if budget.expired():
                yield Problem(location, "timeout")
                return
            lines = ooxml_lines(_member(zf, name, budget))
            yield from text_items("\n".join(lines), location, budget, kind)
        yield from _leftovers(zf, {main, *extra}, location, ctx, kind)


# Package members that hold no one's text: relationships, content types, styles, themes,
# settings, fonts, printer settings, calculation order, the IDs of custom XML parts, the
# first page's thumbnail, and macros (compiled, compressed VBA).
_STRUCTURAL = re.compile(
    r"(?i)(?:^\[Content_Types\]\.xml$|\.rels$|(?:^|/)(?:theme|fonts|printerSettings)/"
    r"|(?:^|/)(?:styles|stylesWithEffects|settings|webSettings|fontTable|numbering|presProps"
    r"|viewProps|tableStyles|calcChain|commentAuthors|vbaData)\.xml$|(?:^|/)itemProps\d*\.xml$"
    r"|^docProps/thumbnail\.|(?:^|/)vbaProject\.bin$)"
)


def _part_lines(xml: bytes) -> list[str]:
    """An extra part's text: its paragraphs as the body's are laid out, then the text of
    every other element (a chart's cached labels, a property, a pivot cache's values),
    then the alternative texts and tooltips (a workbook's drawing)."""
    root = parse(xml)
    return (
        _tree_lines(root)
        + element_lines(root, skip=_PARAGRAPH, attributes=_VALUE)
        + _hover_texts(root)
    )


_PARAGRAPH = frozenset({"p"})
_VALUE = frozenset({"v"})


def _leftovers(
    zf: zipfile.ZipFile, done: set[str], location: Location, ctx: Context, kind: str
) -> Iterator[Item]:
    yield from leftover_items(
        zf, done, location, ctx, structural=_STRUCTURAL, lines_of=_part_lines, kind=kind
    )
    yield from _external_targets(zf, location, ctx.budget, kind)


def _external_targets(
    zf: zipfile.ZipFile, location: Location, budget: Budget, kind: str
) -> Iterator[Item]:
    """The addresses the package's relationships point to outside it (hyperlinks, linked
    pictures and workbooks), URL escapes decoded: the relationships are otherwise
    structure, but such an address leaves with the document. A relationships part that
    cannot be read is reported as any part."""
    targets: list[str] = []
    for name in zf.namelist():
        if not name.lower().endswith(".rels"):
            continue
        if budget.expired():
            yield Problem(location, "timeout")
            break
        try:
            root = parse(_member(zf, name, budget))
        except Unreadable as err:
            yield Problem(location, err.reason, err.container)
            continue
        for rel in root.iter():
            target = rel.get("Target", "")
            if rel.get("TargetMode", "").lower() == "external" and target.strip():
                targets.append(url_text(target))
    yield from text_items("\n".join(targets), location, budget, kind)


_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def read_docx(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """A Word document: body, then headers, footers, notes and comments, then every other
    part (properties, text boxes' legacy copies, charts, SmartArt, embedded documents,
    pictures by OCR)."""
    with open_zip(data, ctx.budget) as zf:
        names = zf.namelist()
    extra = [
        *_numbered(names, r"word/header(\d*)\.xml"),
        *_numbered(names, r"word/footer(\d*)\.xml"),
        *[
            n
            for n in ("word/footnotes.xml", "word/endnotes.xml", "word/comments.xml")
            if n in names
        ],
    ]
    yield from _read_parts(data, location, ctx, "word/document.xml", extra, _DOCX)


def read_pptx(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """A presentation: slides in order, then speaker notes, then every other part
    (masters and layouts, comments, charts, SmartArt, embedded documents, pictures)."""
    with open_zip(data, ctx.budget) as zf:
        names = zf.namelist()
    slides = _numbered(names, r"ppt/slides/slide(\d+)\.xml")
    notes = _numbered(names, r"ppt/notesSlides/notesSlide(\d+)\.xml")
    if not slides:
        if "ppt/presentation.xml" not in names:
            raise Unreadable("corrupt")
        with open_zip(data, ctx.budget) as zf:
            yield from _leftovers(zf, set(), location, ctx, _PPTX)
        return
    yield from _read_parts(data, location, ctx, slides[0], [*slides[1:], *notes], _PPTX)


# --------------------------------------------------------------------------- spreadsheets


def _cell_number(value: str) -> str:
    """Spreadsheets store long numbers in exponent form; write integral ones out in full."""
    if "E" not in value and "e" not in value:
        return value
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    if number.is_finite() and number == number.to_integral_value() and abs(number) < 10**22:
        return str(int(number))
    return value


def _text_of(elem: Element) -> str:
    """Concatenated ``t`` texts under ``elem``, leaving out phonetic guides."""
    parts: list[str] = []
    stack = [elem]
    while stack:
        node = stack.pop()
        name = local(node.tag)
        if name == "rPh":
            continue
        if name == "t":
            parts.append(node.text or "")
        stack.extend(reversed(list(node)))
    return "".join(parts)


def _phonetic_lines(xml: bytes) -> list[str]:
    """The texts of the phonetic guides (``rPh``, a reading aid over East Asian text that
    a spreadsheet shows on demand) in a part: cells, shared strings and comments are read
    without them, as they show; the guides are read apart, since a liar may write a
    number there alone."""
    if b"rPh" not in xml:
        return []
    lines: list[str] = []
    for guide in iter_end(xml, frozenset({"rPh"})):
        text = "".join(_text_of(node) for node in guide)
        if text.strip():
            lines.append(" ".join(text.split()))
    return lines


def _shared_strings(xml: bytes) -> list[str]:
    try:
        quick = quick_shared_strings(xml)
    except ValueError:
        raise Unreadable("corrupt") from None
    if quick is not None:
        return quick
    return _tree_shared_strings(xml)


def _tree_shared_strings(xml: bytes) -> list[str]:
    return [_text_of(si) for si in iter_end(xml, frozenset({"si"}))]


# A cell reference: column letters, then the row number.
_CELL_REF = re.compile(r"([A-Z]{1,3})[0-9]*")
# At most this many empty cells are put back before a cell (a reference far to the right
# must not make a long run of tabs).
_MAX_SKIP = 64


def _column(ref: str) -> int | None:
    """The column index (0 for A) of a cell reference such as ``C5``, or None."""
    m = _CELL_REF.fullmatch(ref)
    if m is None:
        return None
    index = 0
    for letter in m.group(1):
        index = index * 26 + ord(letter) - 64
    return index - 1


# The headers and footers printed on every page of a sheet.
_HEADERS = frozenset(
    {"oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter"}
)
# Their formatting codes: a section (&L, &C, &R), a font, a size, a field (&P, &D…).
_HEADER_CODES = re.compile(r'&(?:"[^"]*"|\d+|[A-Za-z])')


def _header_line(text: str) -> str | None:
    """A header or footer's text without its formatting codes, on one line."""
    text = _HEADER_CODES.sub(" ", text).replace("&&", "&")
    return " ".join(text.split()) if text.strip() else None


class _SharedStrings(list[str]):
    """A workbook's shared strings, and which of them a cell has shown (``used``): the
    others are read after the sheets, since a string no cell shows still leaves with
    the file."""

    def __init__(self, strings: list[str]) -> None:
        super().__init__(strings)
        self.used = bytearray(len(strings))
        self._lines: list[str] | None = None

    def unused(self) -> list[str]:
        """The strings no cell has shown."""
        return [s for s, u in zip(self, self.used, strict=True) if not u]

    def lines(self) -> list[str]:
        """Each string on one line, as a cell shows it (white space made one space),
        made once for the workbook: a string is often shown by many cells."""
        if self._lines is None:
            self._lines = [" ".join(s.split()) for s in self]
        return self._lines


def _shown(shared: list[str], index: int) -> str:
    """Shared string ``index`` (an index no string has shows nothing), noted as shown."""
    if not 0 <= index < len(shared):
        return ""
    used = getattr(shared, "used", None)
    if used is not None:
        used[index] = 1
    return shared[index]


def _is_index(text: str) -> bool:
    """Whether ``text`` is a shared string's index: ASCII digits, at most ten (a part
    holds fewer than 2**31 strings; a longer run would only be a lie, and ``int`` refuses
    one of thousands of digits)."""
    return text.isascii() and text.isdigit() and len(text) <= 10


def _cell_value(kind: str | None, raw: str, inline: str | None, shared: list[str]) -> str:
    """What a cell shows, on one line: from its type, its ``v`` text and its inline text.
    A shared string's index is written in ASCII digits (anything else shows nothing)."""
    if kind == "inlineStr":
        value = inline or ""
    elif kind == "s":
        index = raw.strip()
        value = _shown(shared, int(index) if _is_index(index) else -1)
    elif kind is None or kind == "n":
        value = _cell_number(raw.strip())
    else:
        value = raw
    return " ".join(value.split())


def _row_values(types: Sequence[str], texts: Sequence[str], shared: list[str]) -> list[str]:
    """:func:`_cell_value` of each cell of a row written plainly (types as written, ""
    for none; no inline text), a row at a time: a shared string named by its index in
    ASCII digits and a number without an exponent are read here, anything else there.
    An export has millions of cells: the usual ones take a few steps each."""
    if isinstance(shared, _SharedStrings):
        lines = shared.lines()
    else:
        lines = [" ".join(s.split()) for s in shared]
    n = len(lines)
    used = getattr(shared, "used", None)
    out: list[str] = []
    append = out.append
    for kind, raw in zip(types, texts, strict=True):
        if kind == "s":
            if raw.isdigit() and raw.isascii() and len(raw) <= 10:
                index = int(raw)
                if index < n:
                    append(lines[index])
                    if used is not None:
                        used[index] = 1
                else:
                    append("")
                continue
        elif not kind or kind == "n":
            if raw.isdigit():
                # Digits hold no white space: the value as it is.
                append(raw)
                continue
            if "E" not in raw and "e" not in raw:
                append(" ".join(raw.split()))
                continue
        append(_cell_value(kind or None, raw, None, shared))
    return out


def _sheet_rows(xml: bytes, shared: list[str], budget: Budget) -> Iterator[str]:
    def check() -> None:
        if budget.expired():
            raise Unreadable("timeout")

    try:
        quick = quick_rows(
            xml,
            shared,
            header=_header_line,
            cell=_cell_value,
            row=_row_values,
            column=_column,
            max_skip=_MAX_SKIP,
            check=check,
            deadline=budget.until,
        )
    except ValueError:
        raise Unreadable("corrupt") from None
    return _timed(quick) if quick is not None else _tree_sheet_rows(xml, shared, budget)


def _timed(lines: Iterator[str]) -> Iterator[str]:
    """``lines``, the deadline passing while a child reads some of them told as the
    reader's ``timeout``, and a part found damaged after the first lines (a child
    checks a long sheet while this process reads it) as ``corrupt``."""
    try:
        yield from lines
    except DeadlineExceeded:
        raise Unreadable("timeout") from None
    except ValueError:
        raise Unreadable("corrupt") from None


def _tree_sheet_rows(xml: bytes, shared: list[str], budget: Budget) -> Iterator[str]:
    for n, row in enumerate(iter_end(xml, frozenset({"row"}) | _HEADERS)):
        if n % 1000 == 0 and budget.expired():
            raise Unreadable("timeout")
        if local(row.tag) != "row":
            line = _header_line(row.text or "")
            if line:
                yield line
            continue
        cells: list[str] = []
        for cell in row:
            if local(cell.tag) != "c":
                continue
            # Empty cells are not written: the next one's reference puts it back in its
            # column, so that a row's cells stay under their header.
            column = _column(cell.get("r", ""))
            if column is not None and len(cells) < column <= len(cells) + _MAX_SKIP:
                cells.extend([""] * (column - len(cells)))
            kind = cell.get("t")
            v = next((child for child in cell if local(child.tag) == "v"), None)
            raw = (v.text or "") if v is not None else ""
            inline = _text_of(cell) if kind == "inlineStr" else None
            cells.append(_cell_value(kind, raw, inline, shared))
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            yield "\t".join(cells)


def _sheet_order(zf: zipfile.ZipFile, names: list[str], budget: Budget) -> list[str]:
    """Worksheets in the workbook's tab order, from the workbook and its relationships."""
    fallback = _numbered(names, r"xl/worksheets/sheet(\d+)\.xml")
    if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
        return fallback
    try:
        targets = {
            rel.get("Id"): rel.get("Target", "")
            for rel in parse(_member(zf, "xl/_rels/workbook.xml.rels", budget)).iter()
            if local(rel.tag) == "Relationship"
        }
        order: list[str] = []
        for sheet in parse(_member(zf, "xl/workbook.xml", budget)).iter():
            if local(sheet.tag) != "sheet":
                continue
            rid = next((v for k, v in sheet.attrib.items() if local(k) == "id"), None)
            target = targets.get(rid, "")
            path = target.lstrip("/") if target.startswith("/") else "xl/" + target
            if path in names and path not in order:
                order.append(path)
    except Unreadable:
        return fallback
    return order + [n for n in fallback if n not in order]


# A cell's formula, a conditional format's or a validation rule's (``formula``,
# ``formula1``, ``formula2``): the element's text up to the next tag (a self-closing one,
# a shared formula's copy, has none).
_FORMULA = re.compile(r"<(?:[A-Za-z_][\w.\-]*:)?(?:f|formula[12]?)(?=[\s/>])[^>]*(?<!/)>([^<]+)")
_FORMULA_NAME = re.compile(rb"f(?:ormula[12]?)?[\s/>]")
_UTF16 = (b"\xff\xfe", b"\xfe\xff")


def _formula_lines(xml: bytes) -> list[str]:
    """The formulas of a sheet, one a line. A formula's strings and numbers leave with
    the workbook even when no value was worked out for its cell (a workbook a script
    wrote has none until a spreadsheet program opens it)."""
    # A sheet without formulas (an export) is tens of megabytes: one look for the names'
    # ends, which starts at each "f" (rare in a sheet) where "<" is everywhere.
    if _FORMULA_NAME.search(xml) is None and not xml.startswith(_UTF16):
        return []
    lines = (
        " ".join(html.unescape(m.group(1)).split()) for m in _FORMULA.finditer(decode_text(xml))
    )
    return [line for line in lines if line]


def read_xlsx(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """A workbook: each sheet's rows (shared and inline strings resolved) and its headers
    and footers, then its formulas' text, then comments, then every other part (sheet and
    defined names, threaded comments, drawings, charts, pivot and external-link caches,
    embedded documents)."""
    budget = ctx.budget
    with open_zip(data, budget) as zf:
        names = zf.namelist()
        if "xl/workbook.xml" not in names and not any(
            n.startswith("xl/worksheets/") for n in names
        ):
            raise Unreadable("corrupt")
        shared = _SharedStrings([])
        guides: list[str] = []
        if "xl/sharedStrings.xml" in names:
            xml = _member(zf, "xl/sharedStrings.xml", budget)
            shared = _SharedStrings(_shared_strings(xml))
            guides = _phonetic_lines(xml)
        order = _sheet_order(zf, names, budget)
        for sheet in order:
            if budget.expired():
                yield Problem(location, "timeout")
                return
            xml = _member(zf, sheet, budget)
            rows = "\n".join(_sheet_rows(xml, shared, budget))
            yield from text_items(rows, location, budget, _XLSX)
            formulas = _formula_lines(xml)
            if formulas:
                yield from text_items("\n".join(formulas), location, budget, _XLSX)
            guides += _phonetic_lines(xml)  # an inline string's
        unused = shared.unused()
        if unused:
            yield from text_items("\n".join(unused), location, budget, _XLSX)
        comments = _numbered(names, r"xl/comments(\d*)\.xml")
        for name in comments:
            xml = _member(zf, name, budget)
            text = "\n".join(_text_of(c) for c in iter_end(xml, frozenset({"comment"})))
            yield from text_items(text, location, budget, _XLSX)
            guides += _phonetic_lines(xml)
        if guides:
            yield from text_items("\n".join(guides), location, budget, _XLSX)
        # The workbook part itself is read with the rest: its sheet names and defined names.
        done = {"xl/sharedStrings.xml", *order, *comments}
        yield from _leftovers(zf, done, location, ctx, _XLSX)


# --------------------------------------------------------------------------- OLE

_ASCII_RUN = re.compile(rb"[\x20-\x7e\xa0-\xff\t]{6,}")
_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e\xa0-\xff]\x00){6,}")


def read_ole(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """An OLE compound file.

    A password-protected document is reported encrypted: a DOCX/XLSX/PPTX held in an
    ``EncryptedPackage`` stream, or a legacy Word, Excel or PowerPoint file whose own
    records say it is encrypted. Other legacy binary Office files are only skimmed for
    text runs and reported ``unsupported``, so nobody takes them as checked.
    """
    if ole_encrypted(data):
        raise Unreadable("encrypted", "office")
    clear = ole_clear_content(data)
    if clear is not None:
        # It says encrypted and is not: read as the clear document it is.
        yield Problem(location, "mislabelled", "office")
        if clear is not data:
            yield from inner_items(clear, location, ctx)
            return
    embedded = _embedded_file(data, ctx.budget.limits.max_part_bytes)
    if embedded is not None:
        # An embedded object (a file dropped into a document, an Acrobat PDF, an Office
        # document inside another): the file it holds, read as what it is.
        name, content = embedded
        yield from inner_items(content, location.child(name) if name else location, ctx, name)
        return
    runs = [m.group().decode("cp1252", errors="replace") for m in _ASCII_RUN.finditer(data)]
    runs += [m.group().decode("utf-16-le", errors="replace") for m in _UTF16_RUN.finditer(data)]
    yield from text_items("\n".join(runs), location, ctx.budget, "application/x-ole-storage")
    yield Problem(location, "unsupported")


# Streams in which an OLE object keeps the file it embeds: a packaged file (any file
# dropped into a document), an Office document, an Acrobat PDF.
_NATIVE = "\x01Ole10Native"
_OBJECT_STREAMS = ("Package", "CONTENTS")


def _embedded_file(data: bytes, max_bytes: int) -> tuple[str | None, bytes] | None:
    """The file an OLE object embeds and its name, or None when it embeds none."""
    import io

    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception:
        return None
    with ole:
        for name in (_NATIVE, *_OBJECT_STREAMS):
            if not ole.exists(name) or ole.get_type(name) != olefile.STGTY_STREAM:
                continue
            if ole.get_size(name) > max_bytes:
                raise Unreadable("too_large")
            raw: bytes = ole.openstream(name).read()
            return _native(raw) if name == _NATIVE else (None, raw)
    return None


def _native(raw: bytes) -> tuple[str | None, bytes]:
    """An ``Ole10Native`` stream: its size, then for a packaged file a header (label,
    file name, temporary path) before the file's bytes; other objects keep their data
    right after the size."""
    body = raw[4 : 4 + int.from_bytes(raw[:4], "little")] if len(raw) >= 4 else b""
    return package_native(body)


def package_native(body: bytes) -> tuple[str | None, bytes]:
    """A packaged file as the Packager writes it (a header with its label, file name and
    temporary path, then its bytes); anything else is taken as the file itself."""
    import struct

    try:
        pos = 2
        label_end = body.index(b"\0", pos)
        pos = body.index(b"\0", label_end + 1) + 1  # the original file name
        pos += 4  # two reserved words
        (path_size,) = struct.unpack_from("<I", body, pos)
        pos += 4 + path_size
        (size,) = struct.unpack_from("<I", body, pos)
        pos += 4
        if pos + size > len(body):
            raise ValueError
        label = body[2:label_end].decode("cp1252", "replace").strip() or None
        return label, body[pos : pos + size]
    except (ValueError, struct.error):
        return None, body
