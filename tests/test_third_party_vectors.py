"""Vectors published by other projects, run through the whole detector pipeline.

IBAN registry samples of every country, and mangled ones, from python-stdnum's tests;
French IBANs as people really type them (spaces in odd places, dots, dashes, an
``IBAN:`` prefix, mixed case), from php-iban's example list; NIR cases from the
national health-insurance fund's validator specification. Numbers are facts.
"""

from __future__ import annotations

import pytest

from leakguard.detectors import be_niss, find_identifiers

MESSY_FRENCH_IBANS = [
    "FR1420041010050500013M02606",
    "FR76 3043 8000 0837 6490 3000 526",
    "FR76 30003 00119 00020212266 43",
    "FR7630027175330002005370159",
    "FR76 1832 9000 0110 1111 2000 191",
    "FR.98.20041.01016.0994845V037.34",
    "FR 23 2004 1000 0127 4847 3B02 035",
    "FR 7630 0040 2569 0000 0294 37103",
    "FR 76 1007 1750 0000 0010 0035 291",
    "FR 76 3006 6109 4000 0100 3080 193",
    "FR 10 2004 1000 0102 8489 4Y02 027",
    "FR 76 30003 02360 00150017186 72",
    "FR76 3006 6108 7300 01024260 178",
    "FR 57 2004 1000 0123 2068 7S02 079",
    "FR 76 10071760 00 00 0010 00 38 624",
    "FR 12 3000 2085 7100 0006 0353 S04",
    "FR 45 2004 1000 0115 37 359Y02097",
    "FR 17 3000 1004 9700 00Q0 5050 089",
    "FR 6820041010090469926K03088",
    "FR 76 1450 6005 4472. 8200 4676 641",
    "FR 76 1009 6181 0200 0242. 0040 136",
    "IBAN: FR 26 4097 8000 4801 2567 0B00 101",
    "FR 05 20041 01007 0006761X038 53",
    "FR 76-1007-1490-0000-0010-0020-607",
    "FR 23 2004 1000 0114 69184V02 032",
    "FR 30 3000 1008 39C3 7800 0000 051",
    "FR 96 20041 01010 0044826B031 51",
    "FR 76 1007 19 10 0000 0010 0177471",
    "FR 02 20041 00001 5192606T020 73",
    "FR-76-1007-1490-0000-0010-0020-607",
    "Fr 76 30004 01692 000202 4109 661",
    "FR 76 3000 1000 6400 0000. 9018 227",
    "FR 76 3000 4008 5900. 0100 2278663",
]

REGISTRY_IBANS = [
    "AD12 0001 2030 2003 5910 0100",
    "AE070331234567890123456",
    "AL47 2121 1009 0000 0002 3569 8741",
    "AT61 1904 3002 3457 3201",
    "AZ21NABZ00000000137010001944",
    "BA39 1290 0794 0102 8494",
    "BG80 BNBG 9661 1020 3456 78",
    "BH67BMAG00001299123456",
    "BR1800000000141455123924100C2",
    "CH93 0076 2011 6238 5295 7",
    "CY17 0020 0128 0000 0012 0052 7600",
    "CZ65 0800 0000 1920 0014 5399",
    "DE89 3704 0044 0532 0130 00",
    "DK50 0040 0440 1162 43",
    "DO28BAGR00000001212453611324",
    "EE38 2200 2210 2014 5685",
    "ES 58 0049 0290 3424 1352 8341",
    "ES10 0075 0080 11 0600658108",
    "ES15-0049-1806-9121-1186-9374",
    "ES72 2013-0692-81-0201150993",
    "FI21 1234 5600 0007 85",
    "FO62 6460 0001 6316 34",
    "GB29 NWBK 6016 1331 9268 19",
    "GE29 NB00 0000 0101 9049 17",
    "GI75 NWBK 0000 0000 7099 453",
    "GL89 6471 0001 0002 06",
    "GR16 0110 1250 0000 0001 2300 695",
    "GT82TRAJ01020000001210029690",
    "HR12 1001 0051 8630 0016 0",
    "HU42 1177 3016 1111 1018 0000 0000",
    "IE29 AIBK 9311 5212 3456 78",
    "IL62 0108 0000 0009 9999 999",
    "IS14 0159 2600 7654 5510 7303 39",
    "IT60 X054 2811 1010 0000 0123 456",
    "JO94CBJO0010000000000131000302",
    "KZ86125KZT5004100100",
    "LB62 0999 0000 0001 0019 0122 9114",
    "LI21 0881 0000 2324 013A A",
    "LT12 1000 0111 0100 1000",
    "LU28 0019 4006 4475 0000",
    "LV80 BANK 0000 4351 9500 1",
    "MC11 1273 9000 7000 1111 1000 h79",
    "MD24AG000225100013104168",
    "ME25 5050 0001 2345 6789 51",
    "MK07250120000058984",
    "MR13 0002 0001 0100 0012 3456 753",
    "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
    "MU17 BOMM 0101 1010 3030 0200 000M UR",
    "NL91 ABNA 0417 1643 00",
    "NO 21 650 405 251 19",
    "NO 44 1850.05.14562",
    "NO07.8380.08.06006",
    "PK36SCBL0000001123456702",
    "PL61 1090 1014 0000 0712 1981 2874",
    "PS92PALS000000000400123456702",
    "PT50 0002 0123 1234 5678 9015 4",
    "QA58DOHB00001234567890ABCDEFG",
    "RO49 AAAA 1B31 0075 9384 0000",
    "RS35 2600 0560 1001 6113 79",
    "SA03 8000 0000 6080 1016 7519",
    "SE45 5000 0000 0583 9825 7466",
    "SI56 1910 0000 0123 438",
    "SK31 1200 0000 1987 4263 7541",
    "SM86 U032 2509 8000 0000 0270 100",
    "TL 38 008 00123456789101 57",
    "TN59 1000 6035 1835 9847 8831",
    "TR33 0006 1005 1978 6457 8413 26",
    "VG96VPVG0000012345678901",
    "XK051212012345678906",
]

# Broken checksums, wrong lengths, letters where digits belong, unknown country.
MANGLED_IBANS = [
    "AL48212110090000000235698741",
    "AD1210012030200359100100",
    "AT611804300234573201",
    "BE68530907547034",
    "BA391290709401028494",
    "BG80BNBG99611020345678",
    "HR1210010052863000160",
    "CY17002001281000001200527600",
    "CZ6508000000129000145399",
    "CZ9455000000000101038930",
    "DK5000400440116342",
    "AD48 0001 2030 2003 5910 01",
    "AT93 1904 3002 3457 3201 99",
    "BE36 5390 0754 7034 1234",
    "BA30 1290 0794 0102 84",
    "BG93 BNBG 9661 1A20 3456 78",
    "GI22 NW3K 0000 0000 7099 453",
    "NL56 3003 0A17 1643 00",
    "QQ93 1234 5678",
]


# Valid under the NIR rules (docs/content.md): Corsica with 2A/2B (either case) and the
# official key, a 13-character form next to a NIR word, a temporary-number sex digit.
NIR_VALID = [
    "255081416802538",
    "2 84 05 88 321 025 32",
    "2 84 05 2A 321 025 52",
    "2 84 05 2a 321 025 52",
    "2 84 05 2B 321 025 79",
    "8 84 05 88 321 025 23",
]
NIR_INVALID = ["2 55 08 14 168 025 00", "2 84 05 88 321 30"]


@pytest.mark.parametrize("written", MESSY_FRENCH_IBANS, ids=range(len(MESSY_FRENCH_IBANS)))
def test_messy_french_iban_is_found_once(written: str) -> None:
    found = find_identifiers(f"Merci de faire le virement sur le compte {written} avant lundi.")
    kinds = [m.kind for m in found]
    assert kinds == ["iban"], f"expected one IBAN, got {kinds}"


@pytest.mark.parametrize("written", NIR_VALID, ids=range(len(NIR_VALID)))
def test_fund_validator_valid_nirs(written: str) -> None:
    kinds = [m.kind for m in find_identifiers(f"NIR de l'assuré : {written}.")]
    assert kinds == ["nir"], f"expected one NIR, got {kinds}"


@pytest.mark.parametrize("written", NIR_INVALID, ids=range(len(NIR_INVALID)))
def test_fund_validator_invalid_nirs(written: str) -> None:
    kinds = [m.kind for m in find_identifiers(f"NIR de l'assuré : {written}.")]
    assert "nir" not in kinds


def test_short_form_needs_a_nir_word() -> None:
    with_word = find_identifiers("numéro de sécurité sociale : 2840588321025")
    without = find_identifiers("commande 2840588321025 expédiée")
    assert [m.kind for m in with_word] == ["nir"] and with_word[0].confidence < 1.0
    assert without == []


@pytest.mark.parametrize("written", REGISTRY_IBANS, ids=range(len(REGISTRY_IBANS)))
def test_registry_iban_of_every_country_is_found_once(written: str) -> None:
    kinds = [m.kind for m in find_identifiers(f"Veuillez virer sur {written} merci.")]
    assert kinds == ["iban"], f"expected one IBAN, got {kinds}"


@pytest.mark.parametrize("written", MANGLED_IBANS, ids=range(len(MANGLED_IBANS)))
def test_mangled_iban_is_not_found(written: str) -> None:
    kinds = [m.kind for m in find_identifiers(f"Veuillez virer sur {written} merci.")]
    assert "iban" not in kinds


# python-stdnum's Belgian national number cases: unknown dates (month or day 00, day
# 35) are real numbers; a month 13 or a wrong check is not.
NISS_VALID = [
    "85.07.30-033 28",
    "17 07 30 033 84",
    "00000100166",
    "00000100195",
    "00000000128",
    "00010000135",
    "85073500107",
    "75.06.08-980.09",
]


@pytest.mark.parametrize("written", NISS_VALID, ids=range(len(NISS_VALID)))
def test_belgian_national_numbers_with_unknown_dates(written: str) -> None:
    kinds = [m.kind for m in find_identifiers(f"numéro national : {written}.")]
    assert kinds == ["be_niss"], f"expected one NISS, got {kinds}"


@pytest.mark.parametrize("written", ["12345678901", "85133000105"])
def test_belgian_numbers_that_are_not(written: str) -> None:
    assert find_identifiers(f"numéro national : {written}.") == []


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_professional_and_order_numbers_are_not_people() -> None:
    # An RPPS number (doctor) that happens to pass the Belgian NISS check, an INAMI
    # number, an order number that passes the NIR key: labelled, they are nobody's.
    rpps = next(
        f"10{n:09d}"
        for n in range(10**6)
        if _luhn_ok(f"10{n:09d}") and be_niss.is_valid(f"10{n:09d}")
    )
    assert [m.kind for m in find_identifiers(f"Dr Martin, RPPS {rpps}")] == []
    assert [m.kind for m in find_identifiers(f"Dr Peeters, INAMI : {rpps}")] == []
    assert [m.kind for m in find_identifiers(f"N° de commande {NIR_VALID[0]} expédiée")] == []
    assert [m.kind for m in find_identifiers(f"SIRET {NIR_VALID[0]}")] == []
    # With an identifier word near, the label does not hide the number.
    assert [m.kind for m in find_identifiers(f"Assuré : n° de facture {NIR_VALID[0]}")] == ["nir"]
    assert [m.kind for m in find_identifiers(f"RPPS du médecin ; NISS {rpps}")] == ["be_niss"]


def test_the_iban_registry_read_from_its_file_is_python_stdnums() -> None:
    """The account layouts are read from python-stdnum's registry file without importing
    the package (a shorter start); they must be the very ones its own reader gives."""
    from stdnum import numdb

    from leakguard.detectors import iban

    expected = {
        str(low): str(props.get("bban", ""))
        for _length, low, _high, props, _children in numdb.get("iban").prefixes
    }
    assert dict(iban._registry()) == expected
    assert len(expected) > 80 and expected["FR"] == iban._RIB_LAYOUT
