"""Layouts users met that the detectors missed or misread: RIB cells on one line of a
text that is not CSV, lower-case Corsican NIR, numbers inside a mistyped account."""

from __future__ import annotations

from helpers import message
from leakguard.detectors import find_identifiers, naive_find_identifiers
from leakguard.detectors import rib as rib_module
from leakguard.guard import scan
from leakguard.message import TextChunk, document_content

# The row a user's bank-details document carried (the key is right).
RIB_CELLS = "12506;69891;17883976074;44"
BANK_DETAILS = (
    "Coordonnées bancaires pour le remboursement\n"
    "Titulaire : Jean Dupont, 12 rue des Lilas, Le Havre\n"
    "\n"
    f"banque;guichet;compte;clé\n{RIB_CELLS}\n"
)


def _kinds(text: str) -> list[str]:
    found = find_identifiers(text)
    assert found == naive_find_identifiers(text)
    return [m.kind for m in found]


def test_rib_cells_joined_by_semicolons_or_tabs() -> None:
    assert rib_module.is_valid(RIB_CELLS)
    assert _kinds(BANK_DETAILS) == ["rib"]
    assert _kinds(f"RIB : {RIB_CELLS.replace(';', chr(9))}") == ["rib"]
    assert _kinds(f"RIB : {RIB_CELLS.replace(';', ' ; ')}") == ["rib"]
    assert _kinds(f"RIB : {RIB_CELLS[:-2]}45") == []  # wrong key


def test_rib_cells_in_a_csv_document_and_attachment() -> None:
    chunks = document_content(BANK_DETAILS.encode("utf-8"), name="coordonnees.csv")
    texts = [c.text for c in chunks if isinstance(c, TextChunk)]
    assert any("rib" in _kinds(t) for t in texts)
    msg = message(extra=[(BANK_DETAILS.encode("utf-8"), "text", "csv", "coordonnees.csv")])
    ribs = [f for f in scan(msg) if f.kind == "rib"]
    assert [str(f.location) for f in ribs] == ["attachment:coordonnees.csv"]
    assert ribs[0].masked == "***** ***** *********74 44"


def test_lower_case_corsican_nir() -> None:
    for written in ("2 84 05 2a 321 025 52", "284052a32102552", "1 85 05 2b 012 345 / 09"):
        found = find_identifiers(f"NIR : {written}")
        assert [m.kind for m in found] == ["nir"], written
        assert found[0].compact == written.replace(" ", "").replace("/", "").upper()
    # The key-less form, next to a NIR word.
    found = find_identifiers("numéro de sécurité sociale : 2 84 05 2a 321 025")
    assert [(m.kind, m.compact) for m in found] == [("nir", "284052A321025")]
    assert found == naive_find_identifiers("numéro de sécurité sociale : 2 84 05 2a 321 025")


def test_nothing_reported_inside_a_rib_with_a_wrong_key() -> None:
    niss = "85073003328"  # a valid Belgian national number
    right = rib_module.calc_key("99999", "99999", niss)
    wrong = f"{int(right) % 97 + 1:02d}"
    assert _kinds(f"NISS {niss}") == ["be_niss"]
    assert _kinds(f"Virement sur le compte 99999 99999 {niss} {wrong}.") == []
    assert _kinds(f"Virement sur le compte 99999.99999.{niss}.{wrong}.") == []
    assert _kinds(f"Virement sur le compte 99999 99999 {niss} {right}.") == ["rib"]
    # Cells of a table row are separate values: a person's number in the third cell of a
    # row shaped like a RIB is still that person's number.
    for cell in ("\t", ";"):
        row = cell.join(("76600", "12345", niss, "42"))
        assert rib_module.calc_key("76600", "12345", niss) != "42"
        assert _kinds(f"code postal;dossier;NISS;âge\n{row}\n") == ["be_niss"]


def test_nothing_reported_inside_an_iban_with_a_wrong_check() -> None:
    assert _kinds("RAMQ TREM 5211 2512") == ["qc_nam"]
    # NL + check + TREM5211251200: the right check is 77.
    assert _kinds("IBAN NL77 TREM 5211 2512 00") == ["iban"]
    assert _kinds("IBAN NL78 TREM 5211 2512 00") == []
    assert _kinds("IBAN GB15 TREM 5211 2512 3456 78") == []
    # Not laid out as an IBAN (the Dutch length is not met): the NAM stands.
    assert _kinds("NL78 TREM 5211 2512") == ["qc_nam"]
