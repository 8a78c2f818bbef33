"""A workbook's sheets and shared strings read by the quick expressions give what the
element tree gives, for the parts written as spreadsheet programs write them and for
those they were not made for (handed to the tree, or refused as damaged alike)."""

from __future__ import annotations

import io
import os
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from child_helpers import watched_children
from docs_factory import make_xlsx
from helpers import NIR
from leakguard.extract import Limits, TextChunk
from leakguard.extract._common import Unreadable
from leakguard.extract._sheet_quick import (
    _PREFIXED,
    _prefixed_at_colons,
    quick_rows,
    quick_shared_strings,
)
from leakguard.extract._types import Budget
from leakguard.extract.office import (
    _cell_value,
    _column,
    _row_values,
    _shared_strings,
    _SharedStrings,
    _sheet_rows,
    _tree_shared_strings,
    _tree_sheet_rows,
)
from leakguard.message import document_content

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"

TEXTS = st.text(alphabet="aé 1-&<>\"'\t\n\u00a0", max_size=12).map(
    lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
)
REFS = st.sampled_from(["A1", "B1", "C7", "AA3", "ZZZ9", "", "a1", "A", "1A", "XFD1048576"])
KINDS = st.sampled_from([None, "s", "n", "str", "b", "e", "inlineStr", "weird"])
VALUES = st.sampled_from(
    ["0", "1", "2", " 3 ", "1.85057511234529E+14", "12", "x", "", "-1", "\u0663", "\u00b2", "1e3"]
)


@st.composite
def cells(draw: st.DrawFn) -> str:
    ref, kind, value = draw(REFS), draw(KINDS), draw(VALUES)
    quote = draw(st.sampled_from(['"', "'"]))
    attrs = f" r={quote}{ref}{quote}" if ref or draw(st.booleans()) else ""
    if draw(st.booleans()):
        attrs += ' s="3"'
    if kind is not None:
        attrs += f' t="{kind}"'
    if draw(st.integers(0, 9)) == 0:
        attrs = attrs.replace("=", " = ")
    body = draw(
        st.sampled_from(
            [
                f"<v>{value}</v>",
                f"<f>SUM(A1)</f><v>{value}</v>",
                f"<is><t>{draw(TEXTS)}</t></is>",
                f'<is><r><t xml:space="preserve">{draw(TEXTS)}</t></r><rPh><t>x</t></rPh></is>',
                f"<is><t>{draw(TEXTS)}</t></is><v>{value}</v>",
                f"<extLst><v>9</v></extLst><v>{value}</v>",
                "",
                "<v/>",
                f"<v>{draw(TEXTS)}</v>",
            ]
        )
    )
    return f"<c{attrs}/>" if not body and draw(st.booleans()) else f"<c{attrs}>{body}</c>"


FOOTER = "<headerFooter><oddFooter>&amp;P page &amp;&amp; x</oddFooter></headerFooter>"


@st.composite
def sheets(draw: st.DrawFn) -> bytes:
    rows = []
    for n in range(draw(st.integers(0, 5))):
        inner = "".join(draw(st.lists(cells(), max_size=6)))
        rows.append(f'<row r="{n + 1}">{inner}</row>' if inner else f'<row r="{n + 1}"/>')
    footer = draw(st.sampled_from(["", FOOTER]))
    data = "<sheetData>" + "".join(rows) + "</sheetData>" + footer
    xml = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}">{data}</worksheet>'
    if draw(st.integers(0, 5)) == 0:
        xml = (
            xml.replace("<c", "<x:c")
            .replace("</c>", "</x:c>")
            .replace(f'xmlns="{NS}"', f'xmlns:x="{NS}"')
        )
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(xml)))
        xml = (
            xml[:at]
            + draw(st.sampled_from(["<", "&", "<!-- c -->", "\r\n", "&#233;", ""]))
            + xml[at:]
        )
    return xml.encode("utf-8")


SHARED = ["zéro", "un\tdeux", " trois  quatre ", NIR]


@st.composite
def ordered_sheets(draw: st.DrawFn) -> bytes:
    """Rows as spreadsheet programs write them: cells in columns A, B, C… (the quick
    reader's shortest path), now and then one written otherwise or out of order."""
    rows = []
    for n in range(draw(st.integers(1, 4))):
        row = []
        for col in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: draw(st.integers(0, 8))]:
            kind = draw(st.sampled_from([None, "s", "n", "str", "b", "weird"]))
            value = draw(st.one_of(VALUES, TEXTS))
            typed = f' t="{kind}"' if kind is not None else ""
            styled = ' s="2"' if draw(st.booleans()) else ""
            body = f"<v>{value}</v>" if draw(st.integers(0, 5)) else ""
            row.append(f'<c r="{col}{n + 1}"{styled}{typed}>{body}</c>')
        if row and draw(st.integers(0, 4)) == 0:
            at = draw(st.integers(0, len(row) - 1))
            row[at] = draw(cells())
        rows.append(f'<row r="{n + 1}">{"".join(row)}</row>')
    data = "<sheetData>" + "".join(rows) + "</sheetData>"
    xml = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}">{data}</worksheet>'
    return xml.encode("utf-8")


def _read(read: object, *args: object) -> object:
    assert callable(read)
    try:
        return list(read(*args))
    except Unreadable as exc:
        return exc.reason


@given(sheets())
@settings(max_examples=500, deadline=None)
def test_quick_sheet_rows_are_the_tree_rows(xml: bytes) -> None:
    budget = Budget(Limits())
    assert _read(_sheet_rows, xml, SHARED, budget) == _read(_tree_sheet_rows, xml, SHARED, budget)


@given(ordered_sheets())
@settings(max_examples=150, deadline=None)
def test_quick_rows_in_column_order_are_the_tree_rows(xml: bytes) -> None:
    budget = Budget(Limits())
    assert _read(_sheet_rows, xml, SHARED, budget) == _read(_tree_sheet_rows, xml, SHARED, budget)


@st.composite
def shared_parts(draw: st.DrawFn) -> bytes:
    items = []
    for _ in range(draw(st.integers(0, 6))):
        items.append(
            draw(
                st.sampled_from(
                    [
                        f"<si><t>{draw(TEXTS)}</t></si>",
                        f"<si><t>{draw(TEXTS)}</t></si>",
                        f'<si><t xml:space="preserve">{draw(TEXTS)}</t></si>',
                        f'<si><r><rPr><b/></rPr><t xml:space="preserve">{draw(TEXTS)}</t></r>'
                        f"<r><t>{draw(TEXTS)}</t></r></si>",
                        f"<si><t>{draw(TEXTS)}</t><rPh sb='0' eb='1'><t>ルビ</t></rPh></si>",
                        "<si/>",
                        "<si><t/></si>",
                    ]
                )
            )
        )
    xml = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{NS}">{"".join(items)}</sst>'
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(xml)))
        xml = (
            xml[:at] + draw(st.sampled_from(["<", "&", "<![CDATA[x]]>", "\r", "&#x41;"])) + xml[at:]
        )
    return xml.encode("utf-8")


@given(shared_parts())
@settings(max_examples=300, deadline=None)
def test_quick_shared_strings_are_the_tree_strings(xml: bytes) -> None:
    assert _read(_shared_strings, xml) == _read(_tree_shared_strings, xml)


@pytest.mark.parametrize("inline", [False, True])
def test_a_workbook_read_quickly_keeps_its_numbers(inline: bool) -> None:
    data = make_xlsx(
        [["nom", "nir"], ["Durand", NIR], ["x", 185057511234529]], inline_strings=inline
    )
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        # The parts a spreadsheet program writes are read by the expressions.
        sheet = zf.read("xl/worksheets/sheet1.xml")
        names = zf.namelist()
        shared = zf.read("xl/sharedStrings.xml") if "xl/sharedStrings.xml" in names else b""
    quick = quick_rows(
        sheet,
        [],
        header=str,
        cell=_cell_value,
        column=_column,
        max_skip=4,
        check=lambda: None,
        row=_row_values,
    )
    assert quick is not None
    assert not shared or quick_shared_strings(shared) is not None
    items = document_content(data, name="export.xlsx", limits=Limits())
    text = "\n".join(i.text for i in items if isinstance(i, TextChunk))
    assert "Durand\t" + NIR in text.splitlines()


MARKUP = st.lists(
    st.sampled_from(["<", "</", "a", "x1", ":", "_", ".", "-", " ", '"', "é", ">", "=", "b:c"]),
    max_size=12,
).map("".join)


@given(MARKUP)
@settings(max_examples=500, deadline=None)
def test_prefixed_names_are_found_by_their_colons(text: str) -> None:
    # The look before each colon answers as the expression over the whole part.
    assert _prefixed_at_colons(text) == (_PREFIXED.search(text) is not None)


def _shared_workbook(strings: list[str], cells: list[str]) -> bytes:
    """A workbook as spreadsheet programs write one: ``strings`` in the shared strings
    part, a sheet of one column whose cells name them by the indexes ``cells``."""
    ws = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="s"><v>{index}</v></c></row>'
        for n, index in enumerate(cells, start=1)
    )
    items = "".join(f"<si><t>{s}</t></si>" for s in strings)
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.'
        'openxmlformats.org/package/2006/content-types"><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sheet.main+xml"/></Types>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{NS}" xmlns:r="{ws}">'
        '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://'
        'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{ws}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/sharedStrings.xml": f'<?xml version="1.0"?><sst xmlns="{NS}">{items}</sst>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0"?><worksheet xmlns="{NS}">'
        f"<sheetData>{rows}</sheetData></worksheet>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return out.getvalue()


def _workbook_text(data: bytes) -> list[str]:
    items = document_content(data, name="export.xlsx", limits=Limits())
    return "\n".join(i.text for i in items if isinstance(i, TextChunk)).splitlines()


def test_a_shared_string_no_cell_shows_is_read_too() -> None:
    # A spreadsheet program shows only the strings its cells name; the others still
    # leave with the file.
    lines = _workbook_text(_shared_workbook(["nom", "Durand", "n° SS " + NIR], ["0", "1"]))
    assert "n° SS " + NIR in lines, "a shared string no cell shows was not read"
    # What the cells show is read once, not again with the unshown strings.
    assert lines.count("Durand") == 1


@pytest.mark.parametrize("index", ["\u00b2", "\u0663", "x", "9", "1" * 5000])
def test_a_cell_naming_no_shared_string_shows_nothing_and_the_string_is_read(
    index: str,
) -> None:
    # "²" and "٣" pass str.isdigit(), and int() refuses thousands of digits: an index is
    # a few ASCII digits, or the cell shows nothing (the workbook is not given up as
    # damaged), and the string it meant is read anyway.
    lines = _workbook_text(_shared_workbook(["nom", NIR], ["0", index]))
    assert lines[0] == "nom" and NIR in lines, "the unshown string was not read"


# ------------------------------------------------------- a long sheet read by two processes


@contextmanager
def _rows_split(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every sheet read by two processes where a row ends and the next begins past its
    middle; gives what became of each child's answer."""
    from leakguard.extract import _sheet_quick

    monkeypatch.setattr(_sheet_quick, "LONG_TEXT", 0)
    with watched_children() as seen:
        yield seen


def _rows_and_shown(xml: bytes, strings: list[str]) -> tuple[object, bytes]:
    shared = _SharedStrings(strings)
    return _read(_sheet_rows, xml, shared, Budget(Limits())), bytes(shared.used)


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
@given(st.one_of(sheets(), ordered_sheets()))
@settings(max_examples=80, deadline=None)
def test_a_sheet_read_by_two_processes_gives_what_one_reading_gives(xml: bytes) -> None:
    alone = _rows_and_shown(xml, SHARED)
    with pytest.MonkeyPatch.context() as mp, _rows_split(mp):
        split = _rows_and_shown(xml, SHARED)
    assert split == alone


def _long_sheet(rows: int, nested: bool = False) -> bytes:
    body = []
    for n in range(1, rows + 1):
        shown = n % 5 if n < rows - 10 else 5  # the last string: on the last rows only
        cells = f'<c r="A{n}" t="s"><v>{shown}</v></c><c r="B{n}"><v>{n}</v></c>'
        if nested and n % 7 == 0:
            # A row inside a row: well formed, not what a spreadsheet program writes.
            cells += f'<row r="{n}"><c r="C{n}" t="s"><v>4</v></c></row>'
        body.append(f'<row r="{n}">{cells}</row>')
    data = "<sheetData>" + "".join(body) + "</sheetData>" + FOOTER
    xml = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}">{data}</worksheet>'
    return xml.encode("utf-8")


STRINGS = ["zéro", "un", "deux", "trois", "quatre", "à la fin", "jamais montré"]


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
@pytest.mark.parametrize("nested", [False, True], ids=["rows", "rows-inside-rows"])
def test_the_childs_rows_and_shown_strings_join_this_process_rows(
    monkeypatch: pytest.MonkeyPatch, nested: bool
) -> None:
    xml = _long_sheet(3000, nested)
    alone = _rows_and_shown(xml, STRINGS)
    with _rows_split(monkeypatch) as seen:
        split = _rows_and_shown(xml, STRINGS)
    assert seen == ["answered"]
    assert split == alone
    # The strings shown only by rows the child read are marked shown here.
    assert split[1] == b"\x01" * 6 + b"\x00"


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_a_child_that_fails_has_this_process_read_the_rest_of_the_sheet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from leakguard.extract import _sheet_quick

    xml = _long_sheet(2000)
    alone = _rows_and_shown(xml, STRINGS)
    parent = os.getpid()
    far = _sheet_quick._far_rows

    def fails_in_the_child(*args: Any) -> Any:
        if os.getpid() != parent:
            os._exit(3)
        return far(*args)

    with _rows_split(monkeypatch) as seen:
        monkeypatch.setattr(_sheet_quick, "_far_rows", fails_in_the_child)
        split = _rows_and_shown(xml, STRINGS)
    assert seen == ["failed"]
    assert split == alone


@st.composite
def nested_rows(draw: st.DrawFn) -> str:
    """Rows, some holding rows of their own (well formed, not what a spreadsheet
    program writes), some self-closing, with white space or nothing between them."""

    def row(depth: int) -> str:
        inner = "".join(
            draw(st.sampled_from(['<c r="A1"><v>1</v></c>', "<c/>", "x", ""]))
            for _ in range(draw(st.integers(0, 2)))
        )
        if depth < 2 and draw(st.booleans()):
            inner += "".join(row(depth + 1) for _ in range(draw(st.integers(1, 2))))
        tag = draw(st.sampled_from(["<row", '<row r="1"', "<row\t"]))
        if not inner and draw(st.booleans()):
            return tag + "/>"
        return f"{tag}>{inner}</row>" + draw(st.sampled_from(["", "", " ", "\n"]))

    return "<sheetData>" + "".join(row(0) for _ in range(draw(st.integers(1, 12)))) + "</sheetData>"


@given(nested_rows())
@settings(max_examples=400, deadline=None)
def test_a_sheet_is_cut_only_where_one_reading_ends_a_row(text: str) -> None:
    from leakguard.extract._sheet_quick import _ROW_OR_HEADER, _row_cut

    cut = _row_cut(text)
    if cut is None:
        return
    whole = [(m.start(), m.end()) for m in _ROW_OR_HEADER.finditer(text)]
    assert not any(start < cut < end for start, end in whole)
    parts = [(m.start(), m.end()) for m in _ROW_OR_HEADER.finditer(text, 0, cut)]
    parts += [(m.start(), m.end()) for m in _ROW_OR_HEADER.finditer(text, cut)]
    assert parts == whole


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
@pytest.mark.parametrize("where", [0.1, 0.9], ids=["damage-before-the-cut", "damage-after-it"])
def test_a_long_sheet_damaged_anywhere_is_corrupt_when_two_processes_read_it(
    monkeypatch: pytest.MonkeyPatch, where: float
) -> None:
    # The child checks the whole part while this process reads the rows before the cut:
    # the damage is told after them, and nothing of the sheet is given.
    xml = _long_sheet(3000)
    at = xml.index(b"<row", int(len(xml) * where))
    damaged = xml[:at] + b"<c>" + xml[at:]  # an element never closed
    assert _rows_and_shown(damaged, STRINGS)[0] == "corrupt"
    with _rows_split(monkeypatch) as seen:
        assert _rows_and_shown(damaged, STRINGS)[0] == "corrupt"
    assert seen == ["answered"]
