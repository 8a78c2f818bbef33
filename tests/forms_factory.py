"""Forms and bank documents laid out the way they print identifiers, made on the spot.

A :class:`Form` is rows of cells: labels, boxes (one character each, in groups with
gaps), values in a single box, and ordinary words. The same form renders as text (boxes
apart by spaces, pipes, tabs or one per line), as a PDF drawn with fpdf2, as a Word
table, as a spreadsheet (XLSX or CSV, numbers stored as numbers) and as a scanned
picture. Layouts follow the CERFA forms (sick-leave notice, care sheet, salary
attestation), the main French banks' RIB, and the Belgian and Québec cards.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from docs_factory import make_csv, make_docx, make_xlsx

# --------------------------------------------------------------------------- values

KINDS = ("nir", "rib", "iban", "be_niss", "qc_nam", "ca_sin")

# Valid numbers (the tests check each against its detector). Some have a zero that a
# spreadsheet loses: the RIB's branch 00060, a Belgian number born in 2002.
SAMPLES: dict[str, tuple[str, ...]] = {
    "nir": ("185057800608491", "284052A32102552", "295109912611193", "185057800616609"),
    "rib": ("18206000606507137400155", "20041010050500013M02606", "30006000011234567890189"),
    "iban": ("FR7618206000606507137400155", "FR1420041010050500013M02606", "BE68539007547034"),
    "be_niss": ("85073003328", "02010100147", "17073003384"),
    "qc_nam": ("TREM52112512", "LASF80021411", "TEST54122816"),
    "ca_sin": ("130692544", "923456784", "712345677"),
}

# How each kind's characters are grouped where a form leaves gaps between boxes; the key
# (NIR, RIB) comes after a "Clé" label, in boxes of its own.
GROUPS: dict[str, tuple[int, ...]] = {
    "nir": (1, 2, 2, 2, 3, 3),
    "rib": (5, 5, 11),
    "iban": (4, 4, 4, 4, 4, 4, 4, 4, 4),
    "be_niss": (2, 2, 2, 3, 2),
    "qc_nam": (4, 4, 4),
    "ca_sin": (3, 3, 3),
}
KEYED = {"nir": 13, "rib": 21}


def nir_key(body: str) -> str:
    numeric = body[:5] + {"2A": "19", "2B": "18"}.get(body[5:7], body[5:7]) + body[7:]
    return f"{97 - int(numeric) % 97:02d}"


def rib_key(bank: str, branch: str, account: str) -> str:
    letters = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "12345678912345678923456789")
    acc = int(account.upper().translate(letters))
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * acc) % 97:02d}"


def iban_of(country: str, bban: str) -> str:
    table = {ord(c): str(i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)}
    check = 98 - int((bban + country + "00").translate(table)) % 97
    return f"{country}{check:02d}{bban}"


def niss_key(first9: str, born_2000s: bool) -> str:
    return f"{97 - int(('2' if born_2000s else '') + first9) % 97:02d}"


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def sample(kind: str, i: int) -> str:
    """The ``i``-th of many distinct valid numbers of ``kind`` (distinct for ``i`` below
    100,000; not the samples above)."""
    i %= 100_000
    if kind == "nir":
        birth = f"{1 + i % 2}{60 + i % 40:02d}{1 + i % 12:02d}"
        body = f"{birth}{13 + i % 70:02d}{i // 1000 % 100 + 100:03d}{i % 1000:03d}"
        return body + nir_key(body)
    if kind in ("rib", "iban"):
        bank, branch = f"{10000 + 137 * i % 89_000:05d}", f"{i % 1000:05d}"
        account = f"{4100 + i:011d}"
        rib = bank + branch + account + rib_key(bank, branch, account)
        return rib if kind == "rib" else iban_of("FR", rib)
    if kind == "be_niss":
        first9 = f"{70 + i % 30:02d}{1 + i % 12:02d}{1 + i % 28:02d}{i % 997 + 1:03d}"
        return first9 + niss_key(first9, False)
    if kind == "qc_nam":
        letters = "ABCDEFGHJKLMNPRSTVWZ"[i % 20] + "OUL"
        return f"{letters}{60 + i % 40:02d}{51 + i % 12:02d}{1 + i % 28:02d}{i % 100:02d}"
    if kind == "ca_sin":
        body = f"{1 + i % 7}{1000000 + 7919 * i % 9_000_000:07d}"
        return body + luhn_digit(body)
    raise KeyError(kind)


def sample_with_zeros(kind: str, i: int) -> str:
    """The ``i``-th valid number of ``kind`` with a leading zero a spreadsheet loses: a
    NIR whose key is below 10, a RIB whose branch starts with 0, a Belgian number born
    from 2000 (others: :func:`sample`)."""
    if kind == "nir":
        return next(v for j in range(i * 200, i * 200 + 2000) if (v := sample("nir", j))[13] == "0")
    if kind == "be_niss":
        first9 = f"0{i % 10}{1 + i % 12:02d}{1 + i % 28:02d}{i % 997 + 1:03d}"
        return first9 + niss_key(first9, True)
    return sample(kind, i)


def wrong(kind: str, compact: str) -> str:
    """``compact`` with a wrong key (a NAM, which has none: an impossible birth day)."""
    if kind == "nir":
        return compact[:13] + f"{int(compact[13:]) % 97 + 1:02d}"
    if kind == "rib":
        return compact[:21] + f"{int(compact[21:]) % 97 + 1:02d}"
    if kind == "iban":
        check = int(compact[2:4])
        return compact[:2] + f"{(check - 1) % 96 + 2 if check != 97 else 2:02d}" + compact[4:]
    if kind == "be_niss":
        keys = {niss_key(compact[:9], False), niss_key(compact[:9], True)}
        return compact[:9] + next(f"{k:02d}" for k in range(1, 98) if f"{k:02d}" not in keys)
    if kind == "qc_nam":
        return compact[:8] + "41" + compact[10:]
    if kind == "ca_sin":
        return compact[:8] + str((int(compact[8]) + 1) % 10)
    raise KeyError(kind)


def parts(kind: str, compact: str) -> list[str]:
    """The printed parts of a number: a RIB's four, a NIR's body and key, else whole."""
    if kind == "rib":
        return [compact[:5], compact[5:10], compact[10:21], compact[21:]]
    if kind == "nir":
        return [compact[:13], compact[13:]]
    return [compact]


def lab_table(rows: int) -> str:
    """A number-dense export under identifier labels where no identifier is whole: NIRs
    with a wrong key in the "Clé" column, short record numbers under "NISS", a branch
    column without the rest of a RIB, results and amounts."""
    lines = ["Patient\tNIR\tClé\tGlycémie\tHbA1c\tNISS\tCode guichet\tMontant"]
    for i in range(rows):
        nir = sample("nir", i)
        bad = f"{int(nir[13:]) % 97 + 1:02d}"
        lines.append(
            f"P{i:05d}\t{nir[:13]}\t{bad}\t{i % 9}.{i % 7}\t6,{i % 10}\t{i * 37 % 999_999}"
            f"\t{i % 1000}\t{i % 997},50"
        )
    return "\n".join(lines) + "\n"


def rib_table(rows: int, *, right: bool = True) -> str:
    """A bank export under labelled columns, each branch kept as a number (zeros lost);
    ``right=False``: every key wrong."""
    lines = ["Nom\tCode banque\tCode guichet\tN° compte\tClé RIB\tMontant"]
    for i in range(rows):
        v = sample("rib", i)
        key = v[21:] if right else f"{int(v[21:]) % 97 + 1:02d}"
        lines.append(f"P{i}\t{v[:5]}\t{int(v[5:10])}\t{v[10:21]}\t{key}\t{i % 997},50")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- forms


@dataclass(frozen=True)
class Label:
    text: str


@dataclass(frozen=True)
class Boxes:
    """One character per box; ``groups`` are the sizes of the runs of adjacent boxes."""

    chars: str
    groups: tuple[int, ...] = ()

    def runs(self) -> list[str]:
        if not self.groups:
            return [self.chars]
        out, at = [], 0
        for size in self.groups:
            if at < len(self.chars):
                out.append(self.chars[at : at + size])
            at += size
        if at < len(self.chars):
            out.append(self.chars[at:])
        return out


@dataclass(frozen=True)
class Value:
    """A value printed whole in one box (a table cell)."""

    text: str


@dataclass(frozen=True)
class Words:
    text: str


Cell = Label | Boxes | Value | Words
Row = tuple[Cell, ...]


@dataclass(frozen=True)
class Form:
    """A layout filled with one number; ``spreadsheet`` rows hold numbers as numbers."""

    layout: str
    kind: str
    rows: tuple[Row, ...]
    spreadsheet: tuple[tuple[str | int, ...], ...] = ()

    def __repr__(self) -> str:  # never the number
        return f"Form({self.layout!r}, {self.kind!r})"


# The field label each kind's boxes carry on its usual form.
FIELD_LABEL = {
    "nir": "N° d'immatriculation",
    "iban": "IBAN",
    "be_niss": "Numéro de registre national",
    "qc_nam": "Numéro d'assurance maladie",
    "ca_sin": "Numéro d'assurance sociale",
}
# The labels of a RIB's four parts in the main French banks' documents.
BANKS: dict[str, tuple[str, str, str, str]] = {
    "BNP Paribas": ("Code banque", "Code guichet", "Numéro de compte", "Clé RIB"),
    "Société Générale": ("Banque", "Guichet", "N° compte", "Clé"),
    "Crédit Agricole": ("Etablissement", "Guichet", "N° de compte", "Clé RIB"),
    "La Banque Postale": ("Code établissement", "Code guichet", "N° de compte", "Clé RIB"),
    "LCL": ("Banque", "Guichet", "Compte", "Clé"),
    "Caisse d'Epargne": ("Code Banque", "Code Guichet", "N° de compte", "Clé RIB"),
}
NIR_LABELS = ("N° de sécurité sociale", "Clé")
# The CERFA form each NIR layout comes from: the sick-leave notice prints the number one
# character per box, the care sheet in groups of boxes, the salary attestation in
# label/value boxes.
NIR_TITLES = {
    "boxes": "AVIS D'ARRET DE TRAVAIL",
    "grouped boxes": "FEUILLE DE SOINS",
}
HEAD = {
    "nir": (Words("ATTESTATION DE SALAIRE"), Words("Nom et prénom : DUPONT Jean")),
    "rib": (Words("RELEVE D'IDENTITE BANCAIRE"), Words("Titulaire : M. DUPONT Jean")),
    "iban": (Words("Coordonnées bancaires"), Words("Titulaire : M. DUPONT Jean")),
    "be_niss": (Words("Certificat médical - incapacité de travail"), Words("Nom : PEETERS An")),
    "qc_nam": (Words("Demande de remboursement"), Words("Nom : TREMBLAY Marie")),
    "ca_sin": (Words("Formulaire d'adhésion"), Words("Nom : TREMBLAY Marie")),
}


def head(kind: str, layout: str, bank: str) -> Row:
    """The title row of a layout: its form's title, then the holder."""
    title, holder = HEAD[kind]
    if kind == "nir" and layout in NIR_TITLES:
        title = Words(NIR_TITLES[layout])
    elif kind == "rib":
        title = Words(f"RELEVE D'IDENTITE BANCAIRE - {bank}")
    return (title, holder)


# A date of birth in boxes below the number: digits in boxes that are no identifier.
BIRTH = (Label("Date de naissance"), Boxes("01051985", (2, 2, 4)))


def _keyed_boxes(kind: str, compact: str, grouped: bool) -> Row:
    if kind == "rib":
        bank, branch, account, key = parts(kind, compact)
        labels = BANKS["BNP Paribas"]
        return (
            Label(labels[0]),
            Boxes(bank),
            Label(labels[1]),
            Boxes(branch),
            Label(labels[2]),
            Boxes(account, (11,) if not grouped else (3, 4, 4)),
            Label(labels[3]),
            Boxes(key),
        )
    label = Label(FIELD_LABEL[kind])
    groups = GROUPS[kind] if grouped else ()
    if kind == "nir":
        return (label, Boxes(compact[:13], groups), Label("Clé"), Boxes(compact[13:]))
    return (label, Boxes(compact, groups))


def boxes(kind: str, compact: str, bank: str = "BNP Paribas") -> Form:
    """One character per box after the label, the key after "Clé" (sick-leave notice)."""
    rows = (head(kind, "boxes", bank), _keyed_boxes(kind, compact, False), BIRTH)
    return Form("boxes", kind, rows)


def grouped(kind: str, compact: str, bank: str = "BNP Paribas") -> Form:
    """Boxes in groups with gaps between them (care sheet)."""
    rows = (head(kind, "grouped boxes", bank), _keyed_boxes(kind, compact, True), BIRTH)
    return Form("grouped boxes", kind, rows)


def _part_labels(kind: str, bank: str) -> tuple[str, ...]:
    return BANKS[bank] if kind == "rib" else NIR_LABELS


def label_value(kind: str, compact: str, bank: str = "BNP Paribas") -> Form:
    """Each label above its value, one per line (label/value boxes)."""
    rows: list[Row] = [head(kind, "label above value", bank)]
    for label, value in zip(_part_labels(kind, bank), parts(kind, compact), strict=True):
        rows += [(Label(label),), (Value(value),)]
    return Form("label above value", kind, tuple(rows))


def table(kind: str, compact: str, bank: str = "BNP Paribas") -> Form:
    """A row of labels, then a row of values (a bank's RIB table)."""
    labels = tuple(Label(t) for t in _part_labels(kind, bank))
    values = tuple(Value(v) for v in parts(kind, compact))
    return Form("labels row, values row", kind, (head(kind, "table", bank), labels, values))


def column(kind: str, compact: str, bank: str = "BNP Paribas") -> Form:
    """All labels one per line, then all values one per line (a two-column box as the
    PDF reader returns it)."""
    rows: list[Row] = [head(kind, "column", bank)]
    rows += [(Label(t),) for t in _part_labels(kind, bank)]
    rows += [(Value(v),) for v in parts(kind, compact)]
    return Form("all labels then all values", kind, tuple(rows))


def interleaved(kind: str, compact: str, bank: str = "BNP Paribas") -> Form:
    """Two labels, their two values, the next two labels, their values."""
    labels = _part_labels(kind, bank)
    values = parts(kind, compact)
    rows: list[Row] = [head(kind, "interleaved", bank)]
    for at in range(0, len(labels), 2):
        rows.append(tuple(Label(t) for t in labels[at : at + 2]))
        rows.append(tuple(Value(v) for v in values[at : at + 2]))
    return Form("interleaved pairs", kind, tuple(rows))


def key_apart(kind: str, compact: str, bank: str = "BNP Paribas") -> Form:
    """The number grouped, then its key after a "Clé" label of its own."""
    body, key = compact[: KEYED[kind]], compact[KEYED[kind] :]
    groups = GROUPS[kind]
    runs, at = [], 0
    for size in groups:
        runs.append(body[at : at + size])
        at += size
    label = "Clé RIB" if kind == "rib" else "Clé"
    row: Row = (Value(" ".join(r for r in runs if r)), Label(label), Value(key))
    return Form("key labelled apart", kind, (head(kind, "key apart", bank), row))


# Spreadsheet headers: the columns a bank export or a patient list names.
SHEET_HEADERS = {
    "rib": ("Nom", "Code banque", "Code guichet", "N° compte", "Clé RIB"),
    "nir": ("Nom", "NIR", "Clé"),
    "be_niss": ("Nom", "NISS", "Date"),
}


def spreadsheet(kind: str, compact: str, bank: str = "BNP Paribas") -> Form:
    """A table whose numeric columns lost their leading zeros (an Excel export)."""
    cells: tuple[str | int, ...]
    if kind == "rib":
        bank_code, branch, account, key = parts(kind, compact)
        number: str | int = int(account) if account.isdigit() else account
        cells = ("DUPONT", int(bank_code), int(branch), number, int(key))
    elif kind == "nir":
        cells = ("DUPONT", compact[:13] if not compact[:13].isdigit() else int(compact[:13]))
        cells += (int(compact[13:]),)
    else:
        cells = ("PEETERS", int(compact), "2024-03-12")
    header = SHEET_HEADERS[kind]
    other = ("MARTIN", *cells[1:])
    return Form(
        "spreadsheet columns, zeros lost",
        kind,
        (tuple(Label(h) for h in header), tuple(Value(str(c)) for c in cells)),
        spreadsheet=(header, cells, other),
    )


Layout = Callable[..., Form]
LAYOUTS: dict[str, tuple[Layout, tuple[str, ...]]] = {
    "boxes": (boxes, KINDS),
    "grouped boxes": (grouped, KINDS),
    "label above value": (label_value, ("nir", "rib")),
    "labels row, values row": (table, ("nir", "rib")),
    "all labels then all values": (column, ("nir", "rib")),
    "interleaved pairs": (interleaved, ("rib",)),
    "key labelled apart": (key_apart, ("nir", "rib")),
    "spreadsheet columns, zeros lost": (spreadsheet, ("nir", "rib", "be_niss")),
}


def layouts_for(kind: str) -> list[str]:
    return [name for name, (_, kinds) in LAYOUTS.items() if kind in kinds]


def build(layout: str, kind: str, compact: str, bank: str = "BNP Paribas") -> Form:
    return LAYOUTS[layout][0](kind, compact, bank)


# --------------------------------------------------------------------------- text

BOX_STYLES = ("spaces", "pipes", "tabs", "lines")


def _boxes_text(cell: Boxes, style: str) -> str:
    runs = cell.runs()
    if style == "pipes":
        return " ".join("|" + "|".join(run) + "|" for run in runs)
    if style == "tabs":
        return "\t\t".join("\t".join(run) for run in runs)
    if style == "lines":
        return "\n" + "\n".join(ch for run in runs for ch in run) + "\n"
    return "   ".join(" ".join(run) for run in runs)


def as_text(form: Form, style: str = "spaces") -> str:
    """The form as a text: cells of a row apart by two spaces (a tab in a spreadsheet),
    rows one per line, boxes in ``style``."""
    lines = []
    joiner = "\t" if form.spreadsheet else "  "
    for row in form.rows:
        out = []
        for cell in row:
            out.append(_boxes_text(cell, style) if isinstance(cell, Boxes) else cell.text)
        lines.append(joiner.join(out))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- documents

_BOX_MM = (5.0, 7.0)


def as_pdf(form: Form) -> bytes:
    """The form drawn with fpdf2: labels as text, each box a frame with its character."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    pdf.add_page()
    y = 20.0
    for row in form.rows:
        x = 12.0
        for cell in row:
            if isinstance(cell, Boxes):
                for run in cell.runs():
                    for ch in run:
                        pdf.rect(x, y, *_BOX_MM)
                        pdf.set_xy(x, y)
                        pdf.cell(_BOX_MM[0], _BOX_MM[1], ch, align="C")
                        x += _BOX_MM[0]
                    x += 3.0
            else:
                text = _latin1(cell.text)
                width = pdf.get_string_width(text) + 4
                pdf.set_xy(x, y)
                pdf.cell(width, _BOX_MM[1], text, border=1 if isinstance(cell, Value) else 0)
                x += width + 3
        y += 11.0
    return bytes(pdf.output())


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def as_docx(form: Form) -> bytes:
    """The form as a Word table: one cell per label, value and box (a gap between groups
    of boxes is an empty cell)."""
    rows: list[list[str]] = []
    for row in form.rows:
        cells: list[str] = []
        for cell in row:
            if isinstance(cell, Boxes):
                for n, run in enumerate(cell.runs()):
                    if n:
                        cells.append("")
                    cells.extend(run)
            else:
                cells.append(cell.text)
        rows.append(cells)
    return make_docx([], table=rows)


def as_xlsx(form: Form) -> bytes:
    """A spreadsheet layout as a workbook: numbers stored as numbers."""
    return make_xlsx([list(r) for r in form.spreadsheet])


def as_csv(form: Form) -> bytes:
    """A spreadsheet layout as a CSV export (numbers written without their zeros)."""
    return make_csv([[str(c) for c in r] for r in form.spreadsheet])


# --------------------------------------------------------------------------- scans


def as_image(form: Form, *, angle: float = 0.0, noise: float = 0.0, seed: int = 0) -> object:
    """The form as a scanned picture (Pillow, mode ``L``): framed boxes, DejaVu Sans."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    from scan_factory import FONT

    size = 26
    box = int(size * 1.4)
    font = ImageFont.truetype(str(FONT), size)
    step = box + 28
    sheet = Image.new("L", (2400, 60 + step * len(form.rows)), 255)
    draw = ImageDraw.Draw(sheet)
    right = 0
    for r, row in enumerate(form.rows):
        y = 40 + step * r
        x = 40
        for cell in row:
            if isinstance(cell, Boxes):
                for run in cell.runs():
                    for ch in run:
                        draw.rectangle((x, y, x + box, y + box), outline=40, width=2)
                        draw.text((x + box // 2, y + box // 2), ch, font=font, fill=20, anchor="mm")
                        x += box
                    x += 18
            else:
                text_width = int(font.getlength(cell.text))
                if isinstance(cell, Value):
                    draw.rectangle((x, y, x + text_width + 24, y + box), outline=40, width=2)
                    x += 12
                draw.text((x, y + box // 2), cell.text, font=font, fill=20, anchor="lm")
                x += text_width + (36 if isinstance(cell, Value) else 30)
            right = max(right, x)
    # As wide as the writing: a page shrunk to fit a PDF keeps its boxes' size.
    sheet = sheet.crop((0, 0, right + 40, sheet.height))
    if angle:
        sheet = sheet.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
    if noise:
        rnd = random.Random(seed)
        pixels = sheet.load()
        assert pixels is not None
        for _ in range(int(sheet.width * sheet.height * noise)):
            pixels[rnd.randrange(sheet.width), rnd.randrange(sheet.height)] = rnd.choice(
                (0, 80, 160, 255)
            )
        sheet = sheet.filter(ImageFilter.GaussianBlur(0.5))
    return sheet


def as_png(form: Form, **kwargs: float) -> bytes:
    buf = io.BytesIO()
    as_image(form, **kwargs).save(buf, format="PNG")  # type: ignore[attr-defined]
    return buf.getvalue()


def pages(forms: Sequence[Form], **kwargs: float) -> object:
    """Several forms stacked on one scanned page (one OCR run reads them all)."""
    from PIL import Image

    images = [as_image(f) for f in forms]
    width = max(i.width for i in images)  # type: ignore[attr-defined]
    height = sum(i.height for i in images)  # type: ignore[attr-defined]
    page = Image.new("L", (width, height), 255)
    y = 0
    for image in images:
        page.paste(image, (0, y))  # type: ignore[arg-type]
        y += image.height  # type: ignore[attr-defined]
    angle = float(kwargs.get("angle", 0.0))
    if angle:
        page = page.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
    return page
