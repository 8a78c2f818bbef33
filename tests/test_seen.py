"""Numbers written so that they show plainly while their characters are not ASCII
digits: an invisible character between two digits, digits of another script, full-width
forms. The detectors read the text as it shows (``as_seen``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakguard.cli.affected import Register
from leakguard.content import scan_text
from leakguard.core import Fingerprinter, Location
from leakguard.detectors import as_seen
from leakguard.detectors._seen import seen_as
from leakguard.register import PatientRegister

FP = Fingerprinter(b"k" * 32)
NIR = "1 85 05 75 112 345 29"
IBAN = "FR76 3000 6000 0112 3456 7890 189"
# Characters that print nothing, as pasted from web pages, PDFs and word processors.
INVISIBLE = [
    "\u00ad",  # soft hyphen
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u200e",  # left-to-right mark
    "\u2060",  # word joiner
    "\u2062",  # invisible times
    "\ufeff",  # zero-width no-break space (byte-order mark)
    "\ufe0f",  # variation selector
    "\U000e0041",  # tag letter A
]
# The zero of scripts whose ten digits follow it.
ZEROS = {
    "arabic-indic": 0x0660,
    "extended arabic-indic": 0x06F0,
    "devanagari": 0x0966,
    "bengali": 0x09E6,
    "thai": 0x0E50,
    "full-width": 0xFF10,
    "mathematical bold": 0x1D7CE,
}


def _kinds(text: str) -> set[tuple[str, str | None]]:
    return {(f.kind, f.fingerprint) for f in scan_text(text, Location.body(), fingerprinter=FP)}


def _digits_in(text: str, zero: int) -> str:
    return text.translate({ord("0") + d: zero + d for d in range(10)})


PLAIN_NIR = _kinds(f"Patient {NIR}")
PLAIN_IBAN = _kinds(f"Compte {IBAN}")


def test_the_plain_numbers_are_found() -> None:
    assert {k for k, _ in PLAIN_NIR} == {"nir"}
    assert {k for k, _ in PLAIN_IBAN} == {"iban"}


@pytest.mark.parametrize("mark", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_an_invisible_character_between_the_digits_hides_nothing(mark: str) -> None:
    # No label before the number: the detectors read the number itself.
    assert _kinds("Patient " + mark.join(NIR.replace(" ", ""))) == PLAIN_NIR
    assert _kinds("Patient " + NIR.replace(" ", mark + " ")) == PLAIN_NIR
    assert _kinds("Compte " + mark.join(IBAN)) == PLAIN_IBAN


@pytest.mark.parametrize("script", sorted(ZEROS))
def test_digits_of_another_script_are_read_as_digits(script: str) -> None:
    assert _kinds("Patient " + _digits_in(NIR, ZEROS[script])) == PLAIN_NIR
    # The same identifier, hence the same fingerprint: who was affected is answered alike.
    assert _kinds("Compte " + _digits_in(IBAN, ZEROS[script])) == PLAIN_IBAN


def test_full_width_letters_digits_and_spaces_are_read_as_ascii() -> None:
    wide = "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) for c in IBAN)
    assert _kinds("Compte " + wide) == PLAIN_IBAN
    assert as_seen("ＦＲ７６\u3000ｘ") == "FR76 x"


def test_a_decomposed_accent_reads_as_the_letter() -> None:
    assert as_seen("diabe\u0301te") == "diabete"


def test_text_with_nothing_to_change_is_returned_itself() -> None:
    for text in ("plain ASCII 123", "déjà vu, 12 ", "l’hôpital 😀 — 12 € ⑩"):
        assert as_seen(text) is text


def test_digits_written_otherwise_are_read_as_digits() -> None:
    # A superscript, subscript or circled digit shows as the digit it is: a number
    # written with them is read. Roman numerals and circled numbers past nine are no
    # digits; a Latin-1 text's superscript one, two and three stay (a number of those
    # alone is no identifier), and read as digits in a text beyond Latin-1.
    sup = NIR.translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    sub = NIR.translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
    circled = NIR.translate(str.maketrans("0123456789", "⓪①②③④⑤⑥⑦⑧⑨"))
    for written in (sup, sub, circled):
        assert as_seen(f"NIR {written}") == f"NIR {NIR}"
        assert _kinds(f"NIR {written}") == PLAIN_NIR
    assert as_seen("45 m² ¹ déjà") == "45 m² ¹ déjà"
    assert as_seen("m² ① Ⅻ ⑩ ¹") == "m2 1 Ⅻ ⑩ 1"
    assert seen_as(ord("é")) == ord("é")


def test_a_long_text_is_read_across_its_pieces() -> None:
    # A disguised number straddling the first megabyte of characters, and one far after.
    fill = "’" * ((1 << 20) - 10)
    disguised = "\u200b".join(_digits_in(NIR, ZEROS["devanagari"]))
    text = fill + disguised + " " + "x" * 1000 + " " + disguised
    seen = as_seen(text)
    assert seen.count(NIR) == 2
    assert len(seen) == len(text) - 2 * (len(disguised) - len(NIR))
    assert _kinds(text) == PLAIN_NIR


def test_the_registers_read_their_numbers_as_they_show(tmp_path: Path) -> None:
    # A register typed on a keyboard set to full-width characters: its patients are
    # still found by their numbers.
    wide = _digits_in(NIR, ZEROS["full-width"])
    path = tmp_path / "patients.csv"
    path.write_text(f"id,email,nir\nP1,jeanne@example.org,{wide}\n", encoding="utf-8")
    (fingerprint,) = {f for k, f in PLAIN_NIR}
    found = Register.load(path, fingerprinter=FP).get(fingerprint)
    assert found is not None and found.id == "P1"
    patient = PatientRegister.load(path, fingerprinter=FP).get("jeanne@example.org")
    assert patient is not None and patient.nir_fingerprint == fingerprint


# ------------------------------------------------------------------ properties

_WORDS = st.lists(
    st.one_of(
        st.sampled_from(["NIR", "n°", "SS", "IBAN", "Compte", "patient", "le", "du", ":", "\n"]),
        st.sampled_from([NIR, IBAN, "12/03/2024", "06 12 34 56 78", "42,50"]),
        st.text(alphabet="abcdefghij0123456789 -.", max_size=12),
    ),
    max_size=12,
).map(" ".join)


@dataclass(frozen=True)
class Disguised:
    """An ASCII text and its disguised copy; the repr (printed by hypothesis on failure)
    hides both, which may hold numbers."""

    text: str
    disguised: str

    def __repr__(self) -> str:
        return f"Disguised({len(self.text)} chars, {len(self.disguised)} disguised)"


@st.composite
def _disguised(draw: st.DrawFn) -> Disguised:
    """An ASCII text, and the same with invisible characters put in anywhere and some
    of its digits written in other scripts."""
    text = draw(_WORDS)
    out = []
    for ch in text:
        if draw(st.booleans()) and draw(st.booleans()):
            out.append(draw(st.sampled_from(INVISIBLE)))
        if ch.isdigit() and draw(st.booleans()):
            ch = chr(draw(st.sampled_from(sorted(ZEROS.values()))) + int(ch))
        out.append(ch)
    return Disguised(text, "".join(out))


@settings(max_examples=200, deadline=None)
@given(_disguised())
def test_a_disguised_text_reads_as_the_text(sample: Disguised) -> None:
    same = as_seen(sample.disguised) == sample.text
    assert same, "the disguised text does not read as the text"


@settings(max_examples=100, deadline=None)
@given(_disguised())
def test_a_disguised_text_gives_the_findings_of_the_text(sample: Disguised) -> None:
    assert _kinds(sample.disguised) == _kinds(sample.text)
