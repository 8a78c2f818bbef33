"""Every checked vector of the identifier rules, in every layout they are seen in.

Failure messages show masked values only: an identifier never appears in test output.
"""

from __future__ import annotations

import pytest

from leakguard.detectors import (
    be_niss,
    ca_sin,
    find_identifiers,
    iban,
    naive_find_identifiers,
    nir,
    qc_nam,
    rib,
)
from leakguard.detectors._base import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    Match,
    ValidationError,
)


def _hide(value: str) -> str:
    """What a failure message may show of a value: its length and a few characters."""
    return f"<{len(value)} chars, ends {value[-2:]}>"


def _found(text: str) -> list[Match]:
    found = find_identifiers(text)
    assert found == naive_find_identifiers(text), "fast and naive paths disagree"
    return found


def _kinds(text: str) -> list[str]:
    """The kinds found (never the values, which a failing assert would print)."""
    return [m.kind for m in _found(text)]


def _found_once(text: str, kind: str, compact: str) -> bool:
    return [(m.kind, m.compact) for m in _found(text)] == [(kind, compact)]


PROSE = "Bonjour, veuillez trouver {} pour le dossier de Mme Martin. Cordialement."

NIR_VALID = [
    "295109912611193",
    "253072B07300470",
    "253072A07300443",
    "284052A32102552",
    "284202B32102528",
    "185057511234529",
    "185052A01234579",
    "185052B01234509",
    "178039741104203",
    "185309912345619",
]
NIR_INVALID = ["295109912611199", "253072C07300443", "255081416802500", "185057511234500"]
NIR_LAYOUTS = [
    "185057511234529",
    "1 85 05 75 112 345 29",
    "1850575112345 29",
    "1.85.05.75.112.345.29",
    "1-85-05-75-112-345-29",
    "1 85 05 75 112 345 / 29",
    "1\u00a085\u00a005\u00a075\u00a0112\u00a0345\u00a029",
    "1\u202f85\u202f05\u202f75\u202f112\u202f345\u202f29",
    "1 85 05 75 112\n345 29",
    "1\t85\t05\t75\t112\t345\t29",
]


@pytest.mark.parametrize("value", NIR_VALID)
def test_nir_valid_vectors(value: str) -> None:
    assert nir.is_valid(value), _hide(value)
    same = nir.validate(value) == value.upper()
    assert same, _hide(value)
    text = PROSE.format(f"le NIR {value}")
    assert _found_once(text, "nir", value), _hide(value)


@pytest.mark.parametrize("layout", NIR_LAYOUTS)
def test_nir_layouts(layout: str) -> None:
    assert _found_once(PROSE.format(layout), "nir", "185057511234529"), repr(len(layout))


@pytest.mark.parametrize(
    "layout", ["2 95 10 99 126 111 93", "2 84 05 2A 321 025 52", "2 84 20 2B 321 025 28"]
)
def test_nir_spaced_vectors(layout: str) -> None:
    compact = layout.replace(" ", "")
    assert _found_once(PROSE.format(layout), "nir", compact), _hide(compact)


@pytest.mark.parametrize("value", NIR_INVALID)
def test_nir_invalid_vectors(value: str) -> None:
    assert not nir.is_valid(value)
    assert _kinds(PROSE.format(value)) == []


def test_nir_errors() -> None:
    with pytest.raises(InvalidChecksum):
        nir.validate("185057511234500")
    with pytest.raises(InvalidFormat):
        nir.validate("253072C07300443")
    with pytest.raises(InvalidLength):
        nir.validate("18505751123452")
    with pytest.raises(InvalidComponent):
        nir.validate("585057511234529")  # sex digit 5
    with pytest.raises(InvalidComponent):
        nir.validate("185157511234529")  # month 15


def test_nir_short_form_needs_context() -> None:
    with_word = "Numéro de sécurité sociale : 1 85 05 75 112 345, merci."
    found = find_identifiers(with_word)
    assert [m.kind for m in found] == ["nir"]
    assert found[0].confidence < 1.0
    assert find_identifiers("Référence commande 1 85 05 75 112 345, merci.") == []
    # Whole words only: "INSEE" inside a longer word does not count.
    assert find_identifiers("XINSEEX 1850575112345 lorem") == []


@pytest.mark.parametrize(
    "layout",
    [
        "30006 00001 12345678901 89",
        "30006000011234567890189",
        "30006-00001-12345678901-89",
        "30006 00001 12345678901 / 89",
        "30006\t00001\t12345678901\t89",
    ],
)
def test_rib_layouts(layout: str) -> None:
    assert _found_once(PROSE.format(layout), "rib", "30006000011234567890189")


def test_rib_with_letter() -> None:
    assert rib.is_valid("20041 01005 0500013M026 06")
    assert _found_once(PROSE.format("20041 01005 0500013M026 06"), "rib", "20041010050500013M02606")
    assert not rib.is_valid("20041 01005 0500013M026 07")
    assert rib.calc_key("30006", "00001", "12345678901") == "89"


def test_rib_table_labels_then_values() -> None:
    text = (
        "Relevé d'identité bancaire\n"
        "Code banque\tCode guichet\tN° de compte\tClé RIB\tDomiciliation\n"
        "30006\t00001\t12345678901\t89\tPARIS CENTRE\n"
    )
    assert _found_once(text, "rib", "30006000011234567890189")


@pytest.mark.parametrize(
    "text",
    [
        "Code banque\t30006\nCode guichet\t00001\nN° de compte\t12345678901\nClé RIB\t89\n",
        "Code banque : 30006\nCode guichet : 00001\nNuméro de compte : 12345678901\nClé : 89",
        "CODE BANQUE\t30006\tCODE GUICHET\t00001\tN° DE COMPTE\t12345678901\tCLÉ RIB\t89",
    ],
)
def test_rib_table_label_value_pairs(text: str) -> None:
    assert _found_once(text, "rib", "30006000011234567890189")


def test_rib_table_wrong_key() -> None:
    text = "Code banque\t30006\nCode guichet\t00001\nN° de compte\t12345678901\nClé RIB\t88\n"
    assert _kinds(text) == []


IBAN_VALID = [
    "FR76 3000 6000 0112 3456 7890 189",
    "FR14 2004 1010 0505 0001 3M02 606",
    "FR70 3000 2005 5000 0015 7845 Z02",
    "MC58 1122 2000 0101 2345 6789 030",
    "BE68 5390 0754 7034",
]


@pytest.mark.parametrize("value", IBAN_VALID)
def test_iban_valid_vectors(value: str) -> None:
    compact = value.replace(" ", "")
    assert iban.is_valid(value)
    assert _found_once(PROSE.format(value), "iban", compact), _hide(compact)


@pytest.mark.parametrize(
    "layout",
    [
        "FR76 3000 6000 0112 3456 7890 189",
        "FR7630006000011234567890189",
        "FR 76 3000 6000 0112 3456 7890 189",
        "FR76 30006 00001 12345678901 89",
        "FR76.3000.6000.0112.3456.7890.189",
        "FR76-3000-6000-0112-3456-7890-189",
        "IBAN: FR76 3000 6000 0112 3456 7890 189",
        "IBAN:FR7630006000011234567890189",
        "fr76 3000 6000 0112 3456 7890 189",
        "FR76\u00a03000\u00a06000\u00a00112\u00a03456\u00a07890\u00a0189",
    ],
)
def test_iban_layouts(layout: str) -> None:
    assert _found_once(PROSE.format(layout), "iban", "FR7630006000011234567890189")


@pytest.mark.parametrize(
    "value", ["FR14 2004 1010 0505 0001 3M02 607", "FR7630006000011234567890188"]
)
def test_iban_invalid_vectors(value: str) -> None:
    assert not iban.is_valid(value)
    assert _kinds(PROSE.format(value)) == []


def test_iban_with_wrong_rib_key_is_rejected() -> None:
    # Mod 97 right, embedded RIB key wrong: made by fixing the check digits of a
    # French account whose RIB key is off by one.
    bban = "30006000011234567890188"
    check = 98 - int((bban + "FR00").translate({ord("F"): "15", ord("R"): "27"})) % 97
    number = f"FR{check:02d}{bban}"
    assert int((bban + number[:4]).translate({ord("F"): "15", ord("R"): "27"})) % 97 == 1
    assert not iban.is_valid(number)
    with pytest.raises(InvalidChecksum):
        iban.validate(number)


def test_rib_inside_iban_is_one_finding() -> None:
    text = PROSE.format("FR76 30006 00001 12345678901 89")
    assert [m.kind for m in find_identifiers(text)] == ["iban"]


def test_iban_followed_by_words_and_another_iban() -> None:
    text = "IBAN FR76 3000 6000 0112 3456 7890 189 puis BE68 5390 0754 7034 Pour info."
    found = [(m.kind, m.compact) for m in _found(text)]
    expected = [("iban", "FR7630006000011234567890189"), ("iban", "BE68539007547034")]
    assert found == expected, f"kinds {[k for k, _ in found]}"


NISS_VALID = [
    "85073003328",
    "17073003384",
    "17073003355",
    "02010100147",
    "98472899765",
    "01490700185",
    "85473003317",
    "85273003470",
]


@pytest.mark.parametrize("value", NISS_VALID)
def test_niss_valid_vectors(value: str) -> None:
    assert be_niss.is_valid(value)
    assert _found_once(PROSE.format(f"NISS {value}"), "be_niss", value)


@pytest.mark.parametrize(
    "layout", ["85.07.30-033.28", "85.07.30-033 28", "85 07 30 033 28", "85073003328"]
)
def test_niss_layouts(layout: str) -> None:
    assert _found_once(PROSE.format(layout), "be_niss", "85073003328")


@pytest.mark.parametrize("value", ["12345678901", "85073003329", "85133000105"])
def test_niss_invalid_vectors(value: str) -> None:
    assert not be_niss.is_valid(value)
    assert _kinds(PROSE.format(value)) == []


def test_niss_context_raises_confidence() -> None:
    (bare,) = find_identifiers(PROSE.format("85073003328"))
    (sure,) = find_identifiers("Rijksregisternummer: 85073003328")
    assert bare.confidence < sure.confidence == 1.0


@pytest.mark.parametrize("value", ["LASF 8002 1411", "TREM 8052 1417", "TEST 5412 2816"])
def test_nam_valid_vectors(value: str) -> None:
    compact = value.replace(" ", "")
    assert qc_nam.is_valid(value)
    assert _found_once(PROSE.format(f"carte RAMQ {value}"), "qc_nam", compact), _hide(compact)


def test_nam_invalid() -> None:
    assert not qc_nam.is_valid("AAAA 0101 4110")  # day 41
    assert not qc_nam.is_valid("TREM 0230 1417")  # 30 February
    assert qc_nam.is_valid("TREM 0052 2917")  # 29 February 2000, a woman
    assert _kinds(PROSE.format("AAAA 0101 4110")) == []
    with pytest.raises(InvalidComponent):
        qc_nam.validate("AAAA 0101 4110")


@pytest.mark.parametrize("value", ["130 692 544", "923 456 784", "712 345 677", "123-456-782"])
def test_sin_valid_vectors(value: str) -> None:
    compact = value.replace(" ", "").replace("-", "")
    assert ca_sin.is_valid(value)
    assert _found_once(f"Votre NAS : {value}.", "ca_sin", compact)
    assert _found_once(f"Social insurance number {value}", "ca_sin", compact)


def test_sin_needs_context() -> None:
    assert _kinds("Commande 130 692 544 expédiée.") == []
    # Whole words only: "SIN" inside "SINGAPORE" is not a context word.
    assert _kinds("SINGAPORE 130 692 544") == []


@pytest.mark.parametrize("value", ["130 692 545", "046 454 286", "823456785"])
def test_sin_invalid_vectors(value: str) -> None:
    assert not ca_sin.is_valid(value)
    assert _kinds(f"NAS {value}") == []


@pytest.mark.parametrize(
    "glued",
    [
        "X185057511234529",
        "185057511234529X",
        "9185057511234529",
        "1850575112345299",
        "a30006 00001 12345678901 89",
        "30006 00001 12345678901 89b",
        "XFR7630006000011234567890189",
        "FR7630006000011234567890189X",
        "x85073003328",
        "850730033281",
        "NAS 1130 692 544",
        "XTREM 8052 1417",
    ],
)
def test_glued_is_not_a_match(glued: str) -> None:
    assert _kinds(PROSE.format(glued)) == []


@pytest.mark.parametrize(
    ("module", "compact", "masked"),
    [
        (nir, "185057511234529", "1 ** ** ** *** *45 29"),
        (iban, "FR7630006000011234567890189", "FR76 **** **** **** **** ***0 189"),
        (rib, "30006000011234567890189", "***** ***** *********01 89"),
        (be_niss, "85073003328", "** ** ** **3 28"),
        (qc_nam, "TREM80521417", "**** **** **17"),
        (ca_sin, "130692544", "*** *** 544"),
    ],
)
def test_masks(module: object, compact: str, masked: str) -> None:
    same = module.mask(compact) == masked  # type: ignore[attr-defined]
    assert same, f"mask of a {len(compact)}-character value differs from {masked!r}"


def test_match_repr_hides_value() -> None:
    m = Match("nir", 0, 15, "185057511234529")
    hidden = "185057511234529" not in repr(m) and "185057511234529" not in str(m)
    assert hidden, "Match shows its value"


def test_error_tree() -> None:
    for cls in (InvalidFormat, InvalidLength, InvalidChecksum, InvalidComponent):
        assert issubclass(cls, ValidationError)
    assert issubclass(ValidationError, ValueError)


def test_several_kinds_in_one_text() -> None:
    text = (
        "Patient : NIR 1 85 05 75 112 345 29, IBAN FR76 3000 6000 0112 3456 7890 189,\n"
        "RIB 20041 01005 0500013M026 06, NISS 85.07.30-033.28, RAMQ TREM 8052 1417,\n"
        "NAS 130 692 544."
    )
    assert _kinds(text) == ["nir", "iban", "rib", "be_niss", "qc_nam", "ca_sin"]
