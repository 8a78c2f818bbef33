"""The texts and files clinics send, generated for the speed benchmarks.

Real clinic attachments are full of digits: phones, dates, amounts, references, account
numbers, lab values, and identifiers with right and wrong keys. Each generator here is
deterministic (a seed) and writes at least the size asked for.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from xml.sax.saxutils import escape

WORDS = (
    "le patient est venu en consultation pour un contrôle de la vue et nous avons "
    "convenu d'un rendez-vous le mardi suivant afin de revoir la correction des verres "
    "la mutuelle prendra en charge une partie du montant restant selon le contrat "
    "merci de nous retourner le formulaire signé avant la fin du mois en cours "
    "bonne journée cordialement le secrétariat du centre facture montant euros le havre"
).split()
MEDICAL = [
    "consultation médicale",
    "ordonnance",
    "arrêt de travail",
    "hospitalisation",
    "diagnostic",
    "compte rendu opératoire",
    "antécédents médicaux",
    "prise en charge ALD",
]
FIRST_NAMES = "Marie Jean Pierre Sophie Luc Claire Paul Anne Louis Camille Hugo Léa".split()
LAST_NAMES = "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau".split()


# ------------------------------------------------------------------ identifiers


def nir(rnd: random.Random, *, right: bool = True) -> str:
    """A NIR, compact: right key, or (``right=False``) a key off by a few."""
    body = (
        f"{rnd.choice('12')}{rnd.randint(30, 99):02d}{rnd.randint(1, 12):02d}"
        f"{rnd.randint(1, 95):02d}{rnd.randint(1, 999):03d}{rnd.randint(1, 999):03d}"
    )
    key = 97 - int(body) % 97
    if not right:
        key = (key + rnd.randint(1, 95)) % 97 + 1
    return f"{body}{key:02d}"


def nir_written(rnd: random.Random, value: str) -> str:
    """``value`` as people write it: in groups, compact, with the key apart."""
    style = rnd.randrange(4)
    if style == 0:
        return value
    if style == 1:
        return f"{value[:13]} {value[13:]}"
    sep = " " if style == 2 else "."
    parts = (value[0], value[1:3], value[3:5], value[5:7], value[7:10], value[10:13], value[13:])
    return sep.join(parts)


def _rib_key(bank: str, branch: str, account: str) -> str:
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97:02d}"


def french_iban(rnd: random.Random) -> str:
    """A valid French IBAN, compact (its RIB key right too)."""
    bank = f"{rnd.randint(10000, 99999)}"
    branch = f"{rnd.randint(0, 99999):05d}"
    account = f"{rnd.randint(0, 10**11 - 1):011d}"
    bban = bank + branch + account + _rib_key(bank, branch, account)
    check = 98 - int(bban + "152700") % 97
    return f"FR{check:02d}{bban}"


def grouped(value: str, size: int = 4, sep: str = " ") -> str:
    return sep.join(value[i : i + size] for i in range(0, len(value), size))


# ------------------------------------------------------------------ ordinary numbers


def phone(rnd: random.Random) -> str:
    digits = [f"{rnd.randint(0, 99):02d}" for _ in range(4)]
    lead = f"0{rnd.choice('1234567')}"
    style = rnd.randrange(3)
    if style == 0:
        return " ".join([lead, *digits])
    if style == 1:
        return ".".join([lead, *digits])
    return "+33 " + lead[1] + " " + " ".join(digits)


def date(rnd: random.Random) -> str:
    d, m, y = rnd.randint(1, 28), rnd.randint(1, 12), rnd.randint(2019, 2025)
    return rnd.choice([f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y}"])


def amount(rnd: random.Random) -> str:
    euros = rnd.randint(1, 25000)
    text = f"{euros:,}".replace(",", " ") if euros >= 1000 else str(euros)
    return f"{text},{rnd.randint(0, 99):02d}"


def reference(rnd: random.Random) -> str:
    y = rnd.randint(2019, 2025)
    day = f"{y}{rnd.randint(1, 12):02d}{rnd.randint(1, 28):02d}"
    postcode = f"{rnd.randint(10, 95)}{rnd.randint(0, 999):03d}"
    return rnd.choice(
        [
            f"Réf. {y}-{rnd.randint(1, 999):03d}-{rnd.randint(1, 99999):05d}",
            f"dossier n° {day}{rnd.randint(1, 999):03d}",
            f"facture F{y}{rnd.randint(0, 999999):06d}",
            f"{rnd.randint(1, 140)} rue de la République {postcode}",
        ]
    )


def digits15(rnd: random.Random) -> str:
    """Fifteen digits as exports write them: account numbers, lot numbers, barcodes."""
    return f"{rnd.randint(10**14, 10**15 - 1)}"


# ------------------------------------------------------------------ the workloads


def _fill(target: int, line: Callable[[], str]) -> str:
    parts: list[str] = []
    size = 0
    while size < target:
        one = line()
        parts.append(one)
        size += len(one.encode("utf-8"))
    return "".join(parts)


def clinic_text(megabytes: float, seed: int = 11) -> str:
    """Clinic mail and letters: French prose, medical words here and there; one line in
    ten carries digits (a phone, date, amount or reference); a NIR on one line in fifty
    (one in five of them with a wrong key)."""
    rnd = random.Random(seed)

    def line() -> str:
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(8, 20))]
        if rnd.random() < 0.3:
            words.insert(rnd.randrange(len(words)), rnd.choice(MEDICAL))
        r = rnd.random()
        if r < 0.02:
            value = nir(rnd, right=rnd.random() < 0.8)
            words.append("n° SS " + nir_written(rnd, value))
        elif r < 0.1:
            maker = rnd.choice([phone, date, amount, reference])
            words.insert(rnd.randrange(len(words)), maker(rnd))
        return " ".join(words) + ".\n"

    return _fill(int(megabytes * 1_000_000), line)


def number_dense_text(megabytes: float, seed: int = 13) -> str:
    """Lab result tables, accounting exports and invoice tables: every line carries
    fifteen-digit groups (account and lot numbers, a few NIR-shaped values with wrong
    keys, a valid NIR now and then), dates and amounts."""
    rnd = random.Random(seed)

    def accounting() -> str:
        return (
            f"{digits15(rnd)};{date(rnd)};F{rnd.randint(0, 999999):06d};"
            f"{rnd.choice(LAST_NAMES).upper()};{amount(rnd)};{amount(rnd)};{digits15(rnd)}\n"
        )

    def lab() -> str:
        return (
            f"{digits15(rnd)}\t{date(rnd)}\tHémoglobine\t{rnd.randint(100, 180) / 10}\tg/dL\t"
            f"12,0-16,0\t{digits15(rnd)}\t{rnd.randint(10**8, 10**9 - 1)}\n"
        )

    def invoice() -> str:
        cells = [digits15(rnd) for _ in range(rnd.randint(2, 5))]
        if rnd.random() < 0.2:
            cells.append(nir_written(rnd, nir(rnd, right=rnd.random() < 0.1)))
        cells.append(amount(rnd))
        return " ".join(cells) + "\n"

    return _fill(int(megabytes * 1_000_000), lambda: rnd.choice([accounting, lab, invoice])())


HEADER = [
    "num_facture",
    "date_soins",
    "nom",
    "prenom",
    "date_naissance",
    "nir",
    "caisse",
    "acte",
    "montant",
    "part_amo",
    "part_amc",
    "iban",
    "code_postal",
    "telephone",
]


def export_rows(rows: int, seed: int = 17) -> list[list[str]]:
    """A third-party-payment export: one distinct person per row (NIR and IBAN columns),
    with the invoice, dates, fund, act, amounts, postcode and phone of each."""
    rnd = random.Random(seed)
    out = [HEADER]
    seen: set[str] = set()
    for i in range(rows):
        value = nir(rnd)
        while value in seen:
            value = nir(rnd)
        seen.add(value)
        out.append(
            [
                f"F{2024_000000 + i}",
                date(rnd),
                rnd.choice(LAST_NAMES).upper(),
                rnd.choice(FIRST_NAMES),
                date(rnd),
                value,
                f"{rnd.randint(11, 976)}",
                rnd.choice(["C", "G", "AMI 4", "AMY 8.5", "K 20"]),
                amount(rnd),
                amount(rnd),
                amount(rnd),
                french_iban(rnd),
                f"{rnd.randint(1000, 97699):05d}",
                phone(rnd),
            ]
        )
    return out


def export_csv(rows: int, seed: int = 17) -> bytes:
    """The export as a spreadsheet saves it: semicolons, CRLF, UTF-8."""
    lines = [";".join(row) for row in export_rows(rows, seed)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


def export_xlsx(rows: int, seed: int = 17) -> bytes:
    """The same export as a workbook the way spreadsheet programs save one: text in the
    shared strings table, each cell pointing to its string; amounts as numbers."""
    table = export_rows(rows, seed)
    strings: dict[str, int] = {}
    sheet: list[str] = []
    numeric = {HEADER.index(c) for c in ("montant", "part_amo", "part_amc")}
    for r, row in enumerate(table, start=1):
        cells: list[str] = []
        for c, value in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if r > 1 and c in numeric:
                cells.append(f'<c r="{ref}"><v>{value.replace(" ", "").replace(",", ".")}</v></c>')
            else:
                index = strings.setdefault(value, len(strings))
                cells.append(f'<c r="{ref}" t="s"><v>{index}</v></c>')
        sheet.append(f'<row r="{r}">{"".join(cells)}</row>')
    shared = "".join(f"<si><t>{escape(value)}</t></si>" for value in strings)
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_NS}" xmlns:r="{_REL}">'
            '<sheets><sheet name="Export" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/sharedStrings.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_NS}" count="{len(strings)}" '
            f'uniqueCount="{len(strings)}">{shared}</sst>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_NS}"><sheetData>'
            + "".join(sheet)
            + "</sheetData></worksheet>"
        ),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return buf.getvalue()
