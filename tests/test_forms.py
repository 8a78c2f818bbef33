"""Identifiers as forms print them: one character per box, label/value boxes in any
reading order, spreadsheet columns that lost their leading zeros, and the same forms
scanned and read by OCR.

Every kind × every layout, as text, PDF, Word table, spreadsheet and scan: a valid
number is found with its kind and value; the same number with a wrong key, a phone
number or a date in boxes, gives nothing. Values are compared by fingerprint and
printed masked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import forms_factory as ff
from docs_factory import Attachment, make_eml, make_xlsx, mask
from leakguard.content import scan_text
from leakguard.core import Deadline, DeadlineExceeded, Fingerprinter, Location
from leakguard.detectors import find_identifiers, forms, naive_find_identifiers
from leakguard.extract import ocr
from leakguard.extract._boxes import without_box_lines
from leakguard.extract._types import TextChunk
from leakguard.guard import scan
from leakguard.message import document_content
from scan_factory import encode, image_pdf

FP = Fingerprinter(b"forms-tests")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

needs_ocr = pytest.mark.skipif(
    not ocr.available() and not os.environ.get("CI"),
    reason="OCR not installed: pip install -e '.[test]' and apt-get install tesseract-ocr "
    "tesseract-ocr-fra",
)


def found_in(text: str) -> list[tuple[str, str]]:
    """(kind, fingerprint) of what the detectors find in ``text``."""
    found = find_identifiers(text)
    assert found == naive_find_identifiers(text)
    return [(m.kind, FP(m.kind, m.compact)) for m in found]


def texts_of(data: bytes, name: str) -> list[str]:
    return [c.text for c in document_content(data, name=name) if isinstance(c, TextChunk)]


def found_in_document(data: bytes, name: str) -> set[tuple[str, str]]:
    return {f for text in texts_of(data, name) for f in found_in(text)}


def expect(kind: str, value: str) -> tuple[str, str]:
    return kind, FP(kind, value)


# --------------------------------------------------------------------------- the issue's table
# The text the PDF reader gives for each layout users met, as a function of the number.
NIR = "185057800608491"
RIB = "18206000606507137400155"
IBAN = "FR7618206000606507137400155"


def _spaced(chars: str) -> str:
    return " ".join(chars)


ISSUE_LAYOUTS: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "NIR in 13 + 2 boxes (sick-leave notice)": (
        "nir",
        NIR,
        lambda v: f"N° d'immatriculation {_spaced(v[:13])} Clé {_spaced(v[13:])}",
    ),
    "the same with a gap between groups (care sheet)": (
        "nir",
        NIR,
        lambda v: (
            "Numéro de sécurité sociale "
            + "   ".join(_spaced(g) for g in (v[0], v[1:3], v[3:5], v[5:7], v[7:10], v[10:13]))
            + f"   Clé {_spaced(v[13:])}"
        ),
    ),
    "NIR in pipes (a form saved as text)": (
        "nir",
        NIR,
        lambda v: f"N° de sécurité sociale |{'|'.join(v[:13])}| Clé |{'|'.join(v[13:])}|",
    ),
    "NIR one digit per line": ("nir", NIR, lambda v: "Numéro d'immatriculation\n" + "\n".join(v)),
    "NIR after a label in capitals (CERFA)": (
        "nir",
        NIR,
        lambda v: f"N° D'IMMATRICULATION DE L'ASSURÉ(E) {_spaced(v[:13])} CLÉ {_spaced(v[13:])}",
    ),
    "NAM in boxes after a label in capitals": (
        "qc_nam",
        "TREM52112512",
        lambda v: f"NUMÉRO D'ASSURANCE MALADIE : {'|'.join(v)}",
    ),
    "RIB in label/value boxes, one per line": (
        "rib",
        RIB,
        lambda v: f"Banque\n{v[:5]}\nGuichet\n{v[5:10]}\nN° compte\n{v[10:21]}\nClé\n{v[21:]}",
    ),
    "RIB as a table (labels row, values row)": (
        "rib",
        RIB,
        lambda v: (
            f"Code banque Code guichet N° de compte Clé RIB\n{v[:5]} {v[5:10]} {v[10:21]} {v[21:]}"
        ),
    ),
    "RIB in an Excel export, the branch kept as the number 60": (
        "rib",
        RIB,
        lambda v: (
            "Code banque\tCode guichet\tN° compte\tClé RIB\n"
            + "\t".join(str(int(p)) for p in (v[:5], v[5:10], v[10:21], v[21:]))
        ),
    ),
    "IBAN in groups of four boxes": (
        "iban",
        IBAN,
        lambda v: "IBAN " + " ".join(v[i : i + 4] for i in range(0, len(v), 4)),
    ),
    "NIR with its key labelled apart": (
        "nir",
        NIR,
        lambda v: f"{v[0]} {v[1:3]} {v[3:5]} {v[5:7]} {v[7:10]} {v[10:13]}   Clé : {v[13:]}",
    ),
    "NIR with its key labelled apart, after its label": (
        "nir",
        NIR,
        lambda v: (
            f"N° SS : {v[0]} {v[1:3]} {v[3:5]} {v[5:7]} {v[7:10]} {v[10:13]}   Clé : {v[13:]}"
        ),
    ),
    "RIB labels then values, one per line": (
        "rib",
        RIB,
        lambda v: f"Banque\nGuichet\nN° compte\nClé\n{v[:5]}\n{v[5:10]}\n{v[10:21]}\n{v[21:]}",
    ),
    "IBAN boxes under an IBAN | BIC header": (
        "iban",
        IBAN,
        lambda v: f"IBAN\tBIC\n{' '.join(v)}\tAGRIFRPP",
    ),
    "RIB interleaved pairs": (
        "rib",
        RIB,
        lambda v: f"Banque Guichet\n{v[:5]} {v[5:10]}\nN° compte Clé\n{v[10:21]} {v[21:]}",
    ),
}


@pytest.mark.parametrize("layout", ISSUE_LAYOUTS)
def test_layouts_users_met_are_found(layout: str) -> None:
    kind, value, write = ISSUE_LAYOUTS[layout]
    assert found_in(write(value)) == [expect(kind, value)], layout


@pytest.mark.parametrize("layout", ISSUE_LAYOUTS)
def test_the_same_layouts_with_a_wrong_key_give_nothing(layout: str) -> None:
    kind, value, write = ISSUE_LAYOUTS[layout]
    assert found_in(write(ff.wrong(kind, value))) == [], layout


# --------------------------------------------------------------------------- traps

TRAPS = {
    "a phone number in boxes after a NIR label": "N° SS 0 6 1 2 3 4 5 6 7 8",
    "a phone number in boxes": "Téléphone |0|6|1|2|3|4|5|6|7|8|",
    "a date of birth in boxes": "N° d'immatriculation\nDate de naissance 0 1 0 5 1 9 8 5",
    "a postcode and a file number after RIB labels": (
        "Code banque Code guichet\n76600 12345\nN° de dossier 2024-118"
    ),
    "an amount table under a NIR header": (
        "NIR\tClé\tMontant\n1850578006084\t12\t145,50\n2850399123081\t45\t32,00\n"
    ),
    "a key with nothing before it": "Clé 91 du coffre, casier 1 8 5 0",
    "the health fund's name in prose": (
        "La sécurité sociale rembourse 70 % de 25 euros, soit 17,50 euros, sous 5 jours."
    ),
    "a NAS label before a phone number": "NAS : 514 123 4567",
    "an IBAN cut short by its BIC": "IBAN F R 7 6 1 8 2 0 6 0 0 0 BIC AGRIFRPP 88 23 41 55 1",
    "boxes of a number longer than a NIR": (
        "N° d'immatriculation 1 8 5 0 5 7 8 0 0 6 0 8 4 9 1 3 7 2"
    ),
}


@pytest.mark.parametrize("trap", TRAPS)
def test_traps_give_nothing(trap: str) -> None:
    assert found_in(TRAPS[trap]) == [], trap


def test_number_dense_table_with_labels_stays_quiet() -> None:
    assert found_in(ff.lab_table(2000)) == []
    assert found_in(ff.rib_table(500, right=False)) == []
    assert len(found_in(ff.rib_table(500))) == 500


# --------------------------------------------------------------------------- layouts


class Case:
    """A kind, a layout and a number; its repr (which hypothesis prints) never shows the
    number."""

    __slots__ = ("bank", "kind", "layout", "value")

    def __init__(self, kind: str, layout: str, value: str, bank: str = "BNP Paribas") -> None:
        self.kind, self.layout, self.value, self.bank = kind, layout, value, bank

    def __repr__(self) -> str:
        return f"Case({self.kind}, {self.layout}, {self.bank}, {mask(self.value)})"


COMBOS = [(k, lay) for k in ff.KINDS for lay in ff.layouts_for(k)]


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


@st.composite
def values(draw: st.DrawFn, kind: str) -> str:
    """A valid number of ``kind`` built from its rules."""
    if kind == "nir":
        place = draw(
            st.one_of(
                st.builds(lambda c: "75" + c, _digits(3)),
                st.builds(lambda d, c: d + c, st.sampled_from(["2A", "2B"]), _digits(3)),
                st.builds(lambda c: "974" + c, _digits(2)),
                st.builds(lambda c: "99" + c, _digits(3)),
            )
        )
        month = f"{draw(st.integers(1, 12)):02d}"
        body = draw(st.sampled_from("12")) + draw(_digits(2)) + month + place + draw(_digits(3))
        return body + ff.nir_key(body)
    if kind in ("rib", "iban"):
        # Bank codes start at 10000; an account holds letters only among digits, and
        # more than a few digits (as banks print them).
        bank = f"{draw(st.integers(10000, 99999))}"
        branch = draw(st.one_of(_digits(5), st.integers(0, 999).map(lambda n: f"{n:05d}")))
        account = draw(
            st.text("0123456789" * 3 + "ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=11, max_size=11).filter(
                lambda a: sum(c.isdigit() for c in a) >= 6 and len(a.lstrip("0")) >= 4
            )
        )
        rib = bank + branch + account + ff.rib_key(bank, branch, account)
        return rib if kind == "rib" else ff.iban_of("FR", rib)
    if kind == "be_niss":
        born_2000s = draw(st.booleans())
        year = draw(st.integers(0, 24)) if born_2000s else draw(st.integers(30, 99))
        first9 = f"{year:02d}{draw(st.integers(1, 12)):02d}{draw(st.integers(1, 28)):02d}"
        first9 += f"{draw(st.integers(1, 997)):03d}"
        return first9 + ff.niss_key(first9, born_2000s)
    if kind == "qc_nam":
        letters = draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4))
        month = draw(st.integers(1, 12)) + draw(st.sampled_from([0, 50]))
        day = draw(st.integers(1, 28))
        return f"{letters}{draw(_digits(2))}{month:02d}{day:02d}{draw(_digits(2))}"
    body = draw(st.sampled_from("1234567")) + draw(_digits(7))
    return body + ff.luhn_digit(body)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    kind, layout = draw(st.sampled_from(COMBOS))
    bank = draw(st.sampled_from(sorted(ff.BANKS))) if kind == "rib" else "BNP Paribas"
    return Case(kind, layout, draw(values(kind)), bank)


@SETTINGS
@given(cases(), st.sampled_from(ff.BOX_STYLES))
def test_every_kind_and_layout_as_text(case: Case, style: str) -> None:
    form = ff.build(case.layout, case.kind, case.value, case.bank)
    assert found_in(ff.as_text(form, style)) == [expect(case.kind, case.value)], case
    wrong = ff.build(case.layout, case.kind, ff.wrong(case.kind, case.value), case.bank)
    assert found_in(ff.as_text(wrong, style)) == [], case


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(["pdf", "docx"]))
def test_every_kind_and_layout_as_a_document(case: Case, fmt: str) -> None:
    render = ff.as_pdf if fmt == "pdf" else ff.as_docx
    name = f"form.{fmt}"
    form = ff.build(case.layout, case.kind, case.value, case.bank)
    assert found_in_document(render(form), name) == {expect(case.kind, case.value)}, case
    wrong = ff.build(case.layout, case.kind, ff.wrong(case.kind, case.value), case.bank)
    assert found_in_document(render(wrong), name) == set(), case


FORMATS = ["pdf", "docx", "spaces", "pipes", "tabs", "lines"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("kind", "layout"), COMBOS, ids=[f"{k}-{lay}" for k, lay in COMBOS])
def test_each_layout_in_each_format(kind: str, layout: str, fmt: str) -> None:
    """The table of docs/content.md: each layout, each kind, each format, the checked
    examples (some with a leading zero a spreadsheet loses) and their wrong keys."""
    for value in ff.SAMPLES[kind]:
        for w in (False, True):
            number = ff.wrong(kind, value) if w else value
            form = ff.build(layout, kind, number)
            if fmt == "pdf":
                got = found_in_document(ff.as_pdf(form), "form.pdf")
            elif fmt == "docx":
                got = found_in_document(ff.as_docx(form), "form.docx")
            else:
                got = set(found_in(ff.as_text(form, fmt)))
            want = set() if w else {expect(kind, value)}
            assert got == want, (layout, kind, fmt, mask(number), "wrong" if w else "valid")


SHEETS = [c for c in COMBOS if c[1] == "spreadsheet columns, zeros lost"]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
@pytest.mark.parametrize(("kind", "layout"), SHEETS, ids=[k for k, _ in SHEETS])
def test_spreadsheets_that_lost_leading_zeros(kind: str, layout: str, fmt: str) -> None:
    for value in ff.SAMPLES[kind]:
        form = ff.build(layout, kind, value)
        data = ff.as_xlsx(form) if fmt == "xlsx" else ff.as_csv(form)
        # Both rows of the sheet hold the number; it is found once per value.
        assert found_in_document(data, f"export.{fmt}") == {expect(kind, value)}, mask(value)
        wrong = ff.build(layout, kind, ff.wrong(kind, value))
        data = ff.as_xlsx(wrong) if fmt == "xlsx" else ff.as_csv(wrong)
        assert found_in_document(data, f"export.{fmt}") == set(), mask(value)


def test_leading_zeros_are_really_lost_in_the_fixtures() -> None:
    # The guichet 00060 and a Belgian number born in 2002 come out of the sheet short.
    rib = ff.build("spreadsheet columns, zeros lost", "rib", RIB)
    assert "\t60\t" in "\n".join(texts_of(ff.as_xlsx(rib), "a.xlsx"))
    niss = ff.build("spreadsheet columns, zeros lost", "be_niss", "02010100147")
    assert "\t2010100147\t" in "\n".join(texts_of(ff.as_csv(niss), "a.csv"))


@pytest.mark.parametrize("inline", [False, True])
def test_a_sheet_row_with_empty_cells_keeps_its_columns(inline: bool) -> None:
    # Empty cells are not written in a sheet; each number stays under "NISS".
    numbers = [ff.sample("be_niss", i) for i in range(4)] + ["02010100147"]
    rows: list[list[str | int | None]] = [["Nom", "NISS", "Date"]]
    rows += [
        ["X" if i % 2 else None, int(v), None if i % 3 else "2024"] for i, v in enumerate(numbers)
    ]
    data = make_xlsx(rows, inline_strings=inline)
    assert found_in_document(data, "a.xlsx") == {expect("be_niss", v) for v in numbers}


def test_a_vertical_spreadsheet_form_pads_its_cells() -> None:
    text = "Code guichet\t60\nCode banque\t18206\nN° de compte\t65071374001\nClé RIB\t55\n"
    assert found_in(text) == [expect("rib", RIB)]


def test_every_row_of_a_labelled_table_is_read() -> None:
    rows = ["Nom\tCode banque\tCode guichet\tN° compte\tClé RIB"]
    values = [ff.sample("rib", i) for i in range(50)]
    for n, v in enumerate(values):
        rows.append(f"P{n}\t{int(v[:5])}\t{int(v[5:10])}\t{int(v[10:21])}\t{int(v[21:])}")
    got = set(found_in("\n".join(rows)))
    assert got == {expect("rib", v) for v in values}


# --------------------------------------------------------------------------- through a message


def test_a_sick_leave_form_attached_is_found() -> None:
    form = ff.build("boxes", "nir", NIR)
    pdf = Attachment(ff.as_pdf(form), "arret-de-travail.pdf", "application/pdf")
    raw = make_eml(attachments=[pdf])
    findings = [f for f in scan(raw, fingerprinter=FP) if f.kind == "nir"]
    assert [(f.fingerprint, str(f.location)) for f in findings] == [
        (FP("nir", NIR), "attachment:arret-de-travail.pdf")
    ]
    assert findings[0].masked == "1 ** ** ** *** *84 91"


def test_deadline_is_honoured() -> None:
    text = ff.as_text(ff.build("boxes", "nir", NIR)) * 50
    with pytest.raises(DeadlineExceeded):
        forms.find(text, deadline=Deadline(0.0))
    found = scan_text(text, Location.body(), fingerprinter=FP, deadline=Deadline(0.0))
    assert [(f.kind, f.detail) for f in found] == [("unscannable_attachment", "timeout")]
    # A long labelled table is read row by row and stops when the time is up.
    rows = "Nom\tNISS\tDate\n" + "".join(f"X\t{2010100147 + i}\t2024\n" for i in range(20000))
    with pytest.raises(DeadlineExceeded):
        forms.find(rows, deadline=Deadline.after(0.01))


# --------------------------------------------------------------------------- the cheap test


@SETTINGS
@given(
    st.lists(
        st.sampled_from(
            [
                "ss",
                "nir",
                "NIR",
                "cle",
                "Clé",
                "guichet",
                "iban",
                "sin",
                " ",
                "\n",
                "°",
                "é",
                "1",
                "a",
                "N° SS",
                "Liban",
                "fournir",
                "assurance",
                "x",
                "\t",
                "_",
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_compiled_and_pure_label_search_agree(text: str) -> None:
    from leakguard.detectors import one_byte_copies

    folded = one_byte_copies(text)[1]
    saved = forms.COMPILED
    try:
        forms.COMPILED = True
        compiled = forms.label_places(folded)
        forms.COMPILED = False
        pure = forms.label_places(folded)
    finally:
        forms.COMPILED = saved
    assert compiled == pure
    # Each place starts a word with a stem.
    for p in pure:
        assert p == 0 or not folded[p - 1 : p].isalnum()
        assert any(folded.startswith(s, p) for s in forms.STEMS)


@pytest.mark.skipif(not forms.COMPILED, reason="the compiled engine (fast extra) is missing")
def test_both_paths_give_the_same_fields() -> None:
    text = "\n".join(
        ff.as_text(ff.build(lay, k, ff.sample(k, i))) for i, (k, lay) in enumerate(COMBOS)
    )
    saved = forms.COMPILED
    try:
        forms.COMPILED = False
        pure = forms.find(text)
    finally:
        forms.COMPILED = saved
    assert pure == forms.find(text)
    assert len({(m.kind, m.compact) for m in pure}) == len(COMBOS)


def test_label_search_from_several_threads() -> None:
    # A mail server checks several messages at once; the compiled engine's scratch space
    # serves one scan at a time.
    text = ("N° SS 1 8 5 0 5 7 8 0 0 6 0 8 4 Clé 9 1 et le guichet. " * 20_000).encode()
    from leakguard.detectors import one_byte_copies

    folded = one_byte_copies(text.decode())[1]
    want = forms.label_places(folded)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: forms.label_places(folded), range(12)))
    assert all(g == want for g in got) and len(want) == 60_000


def test_no_label_no_cost() -> None:
    assert forms.label_places(b"le patient est venu 12 34 56 78 90 pour un controle") == []


# --------------------------------------------------------------------------- OCR


def test_box_lines_are_taken_out_and_letters_kept() -> None:
    from PIL import Image, ImageDraw, ImageFont

    from scan_factory import FONT

    font = ImageFont.truetype(str(FONT), 40)
    page = Image.new("L", (1200, 300), 255)
    draw = ImageDraw.Draw(page)
    for i in range(6):  # six boxes with a digit each
        draw.rectangle((100 + 50 * i, 50, 150 + 50 * i, 110), outline=0, width=2)
        draw.text((125 + 50 * i, 80), str(i), font=font, fill=0, anchor="mm")
    draw.rectangle((600, 40, 1100, 120), fill=0)  # a filled banner stays
    draw.text((100, 200), "TEFZ Hello", font=font, fill=0)  # letters with bars stay
    cleaned = without_box_lines(page)
    px = cleaned.load()
    assert all(px[100 + 50 * i, 52] == 255 for i in range(6))  # the frame's top is gone
    assert all(px[100 + 50 * i + 1, 80] == 255 for i in range(6))  # and its sides
    assert px[850, 80] == 0  # the banner is kept
    assert cleaned.crop((90, 180, 600, 260)).tobytes() == page.crop((90, 180, 600, 260)).tobytes()
    blank = Image.new("L", (400, 200), 255)
    assert without_box_lines(blank) is blank


def test_copies_added_by_ocr_are_read_once() -> None:
    text = ocr.normalise("Banque Guichet\n18206 00060\nN° compte Clé\n65071374001 55\n")
    assert ocr.COPY + "1820600060" in text
    assert found_in(text) == [expect("rib", RIB)]
    assert forms._COPY == ocr.COPY


def test_ocr_borders_and_zeros_inside_a_labelled_field() -> None:
    # What Tesseract gives for framed digits: borders read as [ ] | I l, a zero as o or O0.
    for text in (
        "N° d'immatriculation\n\n1[8[5][0[5[7[8[0]o[6[0[8]4\n\nClé\n\n9]1\n",
        "N° d'immatriculation I1I8I5I0I5I7I8I0I0I6I0I8I4I Clé I9I1I",
        "N° d'immatriculation 1 8 5 O0 5 7 8 0 O 6 0 8 4 cé 9 1",
        "N° d'immatriculation 18 50578006084 cé 91",
    ):
        assert found_in(text) == [expect("nir", NIR)], text[:24]
    # Outside a labelled field an "l" stays a letter and nothing is rebuilt.
    assert found_in("le 1l8l5l0l5l7l8l0l0l6l0l8l4l9l1") == []


def _scan_found(data: bytes, name: str) -> set[tuple[str, str]]:
    return found_in_document(data, name)


# A handful of scanned pages (OCR takes about a second a page): narrow layouts stacked,
# the wide rows of boxes one kind under the other.
SCANS = {
    "NIR label/value layouts (PNG)": (
        [("nir", lay) for lay in ff.layouts_for("nir") if "boxes" not in lay],
        "PNG",
        0.0,
    ),
    "RIB label/value layouts (PNG)": (
        [("rib", lay) for lay in ff.layouts_for("rib") if "boxes" not in lay],
        "PNG",
        0.0,
    ),
    "boxes, five kinds (TIFF)": (
        [(k, "boxes") for k in ff.KINDS if k != "rib"],
        "TIFF",
        0.0,
    ),
    "grouped boxes, five kinds (image-only PDF)": (
        [(k, "grouped boxes") for k in ff.KINDS if k != "rib"],
        "PDF",
        0.0,
    ),
    "RIB boxes (PNG)": ([("rib", "boxes")], "PNG", 0.0),
    "RIB grouped boxes, a little askew (PNG)": ([("rib", "grouped boxes")], "PNG", 1.0),
}


@needs_ocr
@pytest.mark.parametrize("page", SCANS)
def test_scanned_forms(page: str) -> None:
    combos, fmt, angle = SCANS[page]
    values = [ff.sample(k, 3 + n) for n, (k, _) in enumerate(combos)]
    built = [ff.build(lay, k, v) for (k, lay), v in zip(combos, values, strict=True)]
    picture = ff.pages(built, angle=angle)
    if fmt == "PDF":
        data, name = image_pdf([picture]), "scan.pdf"  # type: ignore[list-item]
    else:
        data, name = encode(picture, fmt), f"scan.{fmt.lower()}"  # type: ignore[arg-type]
    got = _scan_found(data, name)
    for (kind, layout), value in zip(combos, values, strict=True):
        assert expect(kind, value) in got, (page, kind, layout, mask(value))
    assert {k for k, _ in got} <= {k for k, _ in combos}


@needs_ocr
def test_a_scanned_form_with_a_wrong_key_gives_nothing() -> None:
    combos = [(k, "boxes") for k in ff.KINDS if k != "rib"]
    built = [
        ff.build(lay, k, ff.wrong(k, ff.sample(k, 3 + n))) for n, (k, lay) in enumerate(combos)
    ]
    got = _scan_found(encode(ff.pages(built), "PNG"), "scan.png")  # type: ignore[arg-type]
    assert got == set()


def _label_at_every_word(text: str, place: int) -> object:
    """The label holding ``place`` found by looking up every word of the window (what
    ``forms._label_at`` answers while looking up only the words that may begin one)."""
    n = len(text)
    for m in forms._WORD_RE.finditer(text, max(0, place - 48), min(n, place + 16)):
        if m.start() > place:
            break
        first = forms._label_first(m.group())
        if first:
            label = forms._label_from(text, first, m.start(), min(n, m.start() + 80))
            if label is not None and label.end > place:
                return label
    return None


_LABEL_WORDS = [
    "N°",
    "nº",
    "no",
    "Numéro",
    "NUMÉRO",
    "de",
    "sécurité",
    "sociale",
    "SS",
    "NIR",
    "IBAN",
    "Clé",
    "RIB",
    "code",
    "guichet",
    "İban",
    "ſécurité",
    "x",
    "12",
    "_",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.sampled_from(_LABEL_WORDS), st.text(max_size=6)),
        max_size=14,
    ).map(" ".join),
    st.data(),
)
def test_label_lookup_reads_the_words_that_may_begin_a_label(
    text: str, data: st.DataObject
) -> None:
    places = sorted({m.start() for m in forms._WORD_RE.finditer(text)} | {0, len(text) // 2})
    place = data.draw(st.sampled_from(places))
    assert forms._label_at(text, place) == _label_at_every_word(text, place)
