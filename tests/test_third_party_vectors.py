"""Vectors published by other projects, run through the whole detector pipeline.

French IBANs as people really type them (spaces in odd places, dots, dashes, an
``IBAN:`` prefix, mixed case), from php-iban's example list; NIR cases from the
national health-insurance fund's validator specification. Numbers are facts.
"""

from __future__ import annotations

import pytest

from leakguard.detectors import find_identifiers

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

# Valid under identifiers.md: Corsica with 2A/2B (either case) and the official key,
# a 13-character form next to a NIR word, a temporary-number sex digit.
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
