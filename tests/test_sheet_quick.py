"""A workbook's sheets and shared strings read by the quick expressions give what the
element tree gives, for the parts written as spreadsheet programs write them and for
those they were not made for (handed to the tree, or refused as damaged alike)."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
