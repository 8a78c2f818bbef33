"""One generic test over every detector module (the shared interface, junk input, masks,
error messages), the public surface of ``leakguard.detectors``, and the medical words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import leakguard.detectors as detectors
from leakguard.core import Deadline, DeadlineExceeded
from leakguard.detectors import (
    HEALTH,
    IDENTIFIER_DETECTORS,
    be_niss,
    ca_sin,
    find_identifiers,
    get,
    health_data,
    iban,
    nir,
    qc_nam,
    rib,
)
from leakguard.detectors._base import Match, ValidationError

# One valid compact value per module, to check masks and messages against.
VALID: dict[str, str] = {
    "nir": "185057511234529",
    "rib": "30006000011234567890189",
    "iban": "FR7630006000011234567890189",
    "be_niss": "85073003328",
    "qc_nam": "TREM80521417",
    "ca_sin": "130692544",
}
MODULES: list[ModuleType] = [nir, rib, iban, be_niss, qc_nam, ca_sin]
JUNK: list[object] = [
    None,
    b"185057511234529",
    bytearray(b"30006"),
    12345678901,
    3.14,
    [],
    {},
    object(),
    "",
    " ",
    "😀" * 20,
    "¹⁸⁵⁰⁵⁷⁵¹¹²³⁴⁵²⁹",
    "١٨٥٠٥٧٥١١٢٣٤٥٢٩",
    "１８５０５７５１１２３４５２９",
    "\x00" * 30,
    "FR76" + "\u0301" * 30,
    "9" * 10_000,
]


def test_public_surface() -> None:
    assert set(detectors.__all__) == {
        "HEALTH",
        "IDENTIFIER_DETECTORS",
        "Detector",
        "Found",
        "Match",
        "as_seen",
        "find_identifiers",
        "get",
        "iter_identifiers",
        "naive_find_identifiers",
        "one_byte_copies",
    }
    assert {d.KIND for d in IDENTIFIER_DETECTORS} == set(VALID)
    assert HEALTH.KIND == "health_data"
    for kind in VALID:
        assert get(kind).KIND == kind
    with pytest.raises(KeyError):
        get("passport")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.KIND)
def test_protocol_conformance(module: ModuleType) -> None:
    for name in ("find", "compact", "is_valid", "mask", "validate"):
        assert callable(getattr(module, name)), name
    assert module in IDENTIFIER_DETECTORS
    value = VALID[module.KIND]
    assert module.is_valid(value)
    same = module.validate(value) == value and module.compact(value) == value
    assert same, f"{module.KIND}: validate/compact changed a compact value"
    found = list(module.find(f"voir {value} ici"))
    assert [type(m) for m in found] in ([], [Match])


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.KIND)
@pytest.mark.parametrize("junk", JUNK, ids=lambda j: type(j).__name__)
def test_is_valid_never_raises(module: ModuleType, junk: object) -> None:
    rejected = module.is_valid(junk) is False
    assert rejected, module.KIND
    with pytest.raises(ValidationError):
        module.validate(junk)
    nothing = isinstance(junk, str) or list(module.find(junk)) == []
    assert nothing, module.KIND


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.KIND)
def test_mask_hides_value_and_birth_date(module: ModuleType) -> None:
    value = VALID[module.KIND]
    masked = module.mask(value)
    hidden = value not in masked.replace(" ", "")
    assert hidden, module.KIND
    kept = sum(c != "*" for c in masked.replace(" ", ""))
    # Country and check digits of an IBAN are part of its shape, not of the value, and so
    # is the sex digit of a NIR in the rules' own example (``1 ** ** ** *** *45 29``).
    assert kept <= {"iban": 8, "nir": 5}.get(module.KIND, 4)
    digits = re.sub(r"\D", "", value)
    dates = {"nir": digits[1:5], "be_niss": digits[:6], "qc_nam": digits[:6]}
    date = dates.get(module.KIND)
    if date:
        no_date = date not in re.sub(r"\D", "", masked)
        assert no_date, module.KIND
    if module is qc_nam:
        assert not any(c.isalpha() for c in masked)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.KIND)
def test_error_messages_never_hold_the_value(module: ModuleType) -> None:
    value = VALID[module.KIND]
    broken = [
        value[:-1] + ("0" if value[-1] != "0" else "1"),
        value[:-3],
        value + "7",
        "Z" + value,
        value[:8] + "99" + value[10:],
    ]
    invalid = [b for b in broken if not module.is_valid(b)]
    assert len(invalid) >= 3
    for bad in invalid:
        with pytest.raises(ValidationError) as info:
            module.validate(bad)
        text = str(info.value)
        clean = bool(text) and bad not in text and value[:8] not in text
        assert clean, module.KIND


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=60), st.binary(max_size=30), st.none(), st.integers()))
def test_every_detector_survives_junk(junk: object) -> None:
    for module in MODULES:
        assert isinstance(module.is_valid(junk), bool)
        for m in module.find(junk):
            assert m.kind == module.KIND
    assert isinstance(find_identifiers(junk), list)  # type: ignore[arg-type]
    list(HEALTH.find(junk))


# --------------------------------------------------------------------------- health words


def _categories(text: str) -> list[str]:
    return [m.compact for m in HEALTH.find(text)]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Le diagnostic est posé.", "diagnosis"),
        ("Voir l'ordonnance jointe.", "prescription"),
        ("Arrêt de travail du 3 au 10 mars.", "sick_leave"),
        ("ARRET DE TRAVAIL prolongé", "sick_leave"),
        ("Taux d'incapacité : 12 %", "sick_leave"),
        ("Incapacité de travail temporaire.", "sick_leave"),
        ("Déclaration d'accident du travail.", "work_accident"),
        ("Compte rendu opératoire ci-joint.", "medical_report"),
        ("Certificat médical initial.", "medical_report"),
        ("Prise en charge en affection de longue durée.", "coverage"),
        ("Patient en ALD depuis 2019.", "coverage"),
        ("Bénéficiaire de l'AME.", "coverage"),
        ("Droits à la complémentaire santé solidaire.", "coverage"),
        ("Son médecin traitant est le Dr Martin.", "care"),
        ("Prescription médicale de kinésithérapie.", "prescription"),
    ],
)
def test_french_vocabulary(text: str, category: str) -> None:
    assert category in _categories(text)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Attest van arbeidsongeschiktheid.", "sick_leave"),
        ("Aangifte van een arbeidsongeval.", "work_accident"),
        ("De diagnose werd bevestigd.", "diagnosis"),
        ("Medisch attest bijgevoegd.", "medical_report"),
        ("Uw huisarts werd verwittigd.", "care"),
    ],
)
def test_dutch_vocabulary(text: str, category: str) -> None:
    assert category in _categories(text)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("The diagnosis was confirmed.", "diagnosis"),
        ("Sick leave until Monday.", "sick_leave"),
        ("Please find the medical report attached.", "medical_report"),
        ("She was hospitalized in May.", "medical_act"),
        ("Work accident declared on site.", "work_accident"),
    ],
)
def test_english_vocabulary(text: str, category: str) -> None:
    assert category in _categories(text)


@pytest.mark.parametrize(
    "text",
    [
        # French law: "prescription" is a time limit, and alone it is not medical.
        "La prescription de la créance est acquise.",
        "Please send a duplicate licence.",
        "Il a rendu l'âme en 1900.",  # "âme", not the acronym AME
        "Nous avons une ame et un ald.",  # acronyms count in capitals only
        "Le diagnostiqueurimmobilier passe demain.",  # whole words only
        "Le patient attend avec patience.",
        "Route A12 puis B52 vers Lyon.",  # code shapes without a diagnosis word
        "Réf. ABCD123 et commande.",  # one CCAM-shaped token, no act word
    ],
)
def test_innocent_texts(text: str) -> None:
    assert _categories(text) == []


def test_medical_codes() -> None:
    assert _categories("Diagnostic principal (CIM-10) : E11.9") == ["diagnosis", "medical_code"]
    assert "medical_code" in _categories("ICD-10 code J45.0 recorded")
    assert _categories("Actes CCAM : HBLD036.") == ["medical_code"]
    assert _categories("Codes actes : HBLD036, HBMD044 et LFQK002.").count("medical_code") == 3
    # A list of code-shaped tokens with no act word is not enough on its own.
    assert _categories("Refs HBLD036, HBMD044 et LFQK002.") == []


def test_health_positions_and_no_text() -> None:
    text = "Bonjour, arrêt de travail de 5 jours."
    (m,) = HEALTH.find(text)
    assert text[m.start : m.end].lower() == "arrêt de travail"
    assert m.kind == "health_data" and m.compact == "sick_leave"
    assert "arrêt" not in repr(m)


HEALTH_PIECES = st.one_of(
    st.sampled_from(
        [
            "arrêt de travail",
            "ARRÊT  DE TRAVAIL",
            "Arret de\u00a0travail",
            "arbeidsongeschiktheid",
            "diagnostic",
            "CIM-10",
            "E11.9",
            "J45",
            "HBLD036",
            "actes CCAM",
            "AME",
            "âme",
            "ALD",
            "madame",
            "taux d'incapacité",
            "taux d’incapacité",
            "médecin traitant",
            "sick leave",
            "medical report",
            "dossier",
            "travail",
        ]
    ),
    st.text(alphabet="abcdeéèêiïoôuùçACDEÉILMRT '’-\n\t0123456789.", max_size=12),
    st.text(max_size=6),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(HEALTH_PIECES, max_size=20), st.sampled_from(["", " ", "\n", "-"]))
def test_health_prefilter_equals_naive(pieces: list[str], joiner: str) -> None:
    text = joiner.join(pieces)
    fast = [(m.start, m.end, m.compact) for m in HEALTH.find(text)]
    assert fast == [(m.start, m.end, m.compact) for m in HEALTH.naive_find(text)]


def test_health_long_text_far_apart() -> None:
    filler = "Lorem ipsum dolor sit amet. " * 2000
    text = filler + "Arrêt de travail prescrit." + filler + "Diagnostic CIM-10 : E11.9." + filler
    cats = _categories(text)
    assert cats == ["sick_leave", "diagnosis", "medical_code"]


def _anchor_places(text: str) -> list[int]:
    """Where the medical prefilter must stop: every anchor in the folded copy (found one
    by one with ``str.find``), and every acronym looked for as written."""
    folded = text.encode("latin-1", "replace").translate(health_data._FOLD_TABLE)
    places: list[int] = []
    for word in [a.encode("ascii") for a in health_data.ANCHORS]:
        at = folded.find(word)
        while at != -1:
            places.append(at)
            at = folded.find(word, at + 1)
    for acronym in health_data._AS_WRITTEN:
        at = text.find(acronym)
        while at != -1:
            places.append(at)
            at = text.find(acronym, at + 1)
    return sorted(places)


ANCHOR_PIECES = st.one_of(
    st.sampled_from(health_data.ANCHORS),
    st.sampled_from(health_data.ANCHORS).map(str.upper),
    st.sampled_from(["ARRÊT", "Diagnostiqué", "CIM", "ICD", "c2s", "AME", "ALD", "AMEAME"]),
    st.text(alphabet="acdeimnotrsé’\u202f\x00 ", max_size=6),
    st.text(max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(ANCHOR_PIECES, max_size=15), st.sampled_from(["", " ", "x"]))
def test_anchor_prefilter_finds_every_anchor(pieces: list[str], joiner: str) -> None:
    text = joiner.join(pieces)
    same = health_data._anchor_positions(text) == _anchor_places(text)
    assert same, f"the anchor table misses or invents places in {len(text)} characters"


def test_anchor_prefilter_edges() -> None:
    # A three-letter anchor at the very end, across a step boundary, and nothing at all.
    for text in ("", "c", "cim", "xcim", "x" * 5 + "icd", "ab\x00cim"):
        assert health_data._anchor_positions(text) == _anchor_places(text)
    step = health_data._STEP
    text = "x" * (step - 2) + "diagnostic" + "y" * 10 + "cmu"
    found = health_data._anchor_positions(text)
    assert found == [step - 2, len(text) - 3]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(HEALTH_PIECES, ANCHOR_PIECES), max_size=20),
    st.sampled_from([1, 3, 5, 16]),
)
def test_health_prefilter_in_small_steps(pieces: list[str], step: int) -> None:
    # The folded copy is made a step at a time; tiny steps cut through every word.
    text = " ".join(pieces)
    saved = health_data._STEP
    health_data._STEP = step
    try:
        places = health_data._anchor_positions(text)
        fast = [(m.start, m.end, m.compact) for m in HEALTH.find(text)]
    finally:
        health_data._STEP = saved
    assert places == _anchor_places(text)
    assert fast == [(m.start, m.end, m.compact) for m in HEALTH.naive_find(text)]


# ------------------------------------------------------------------ categories fast path
# ``categories`` reads only the places that may still bring a new category; it must give
# the categories of ``naive_find`` in the order they first occur.
CATEGORY_PIECES = st.one_of(
    HEALTH_PIECES,
    ANCHOR_PIECES,
    st.sampled_from(
        [
            "médicale",
            "suivi médical",
            "consultation médicale",
            "ordonnance",
            "Diagnostic (CIM-10) : E11.9",
            "actes CCAM : HBLD036, HBMD044",
            ", ",
            "; ",
            "(",
            ")",
            ".\n",
            "x" * 40,
            " " * 30,
        ]
    ),
)


def test_compiled_engine_is_installed_for_the_tests() -> None:
    # The test extra installs the fast extra, so that both paths are checked here.
    assert health_data.COMPILED


def _compiled_categories(text: str) -> list[str]:
    return health_data.compiled_categories(text)


PATHS = pytest.mark.parametrize(
    "categories", [health_data.pure_categories, _compiled_categories], ids=["pure", "compiled"]
)


@PATHS
@settings(max_examples=300, deadline=None)
@given(st.lists(CATEGORY_PIECES, max_size=40), st.sampled_from(["", " ", "\n", ", "]))
def test_categories_equal_naive(
    categories: Callable[[str], list[str]], pieces: list[str], joiner: str
) -> None:
    text = joiner.join(pieces)
    assert categories(text) == health_data.naive_categories(text)


@PATHS
@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["médicale", "ordonnance", "E11.9", "diagnostic", "AME"]), max_size=8),
    st.integers(min_value=0, max_value=3000),
)
def test_categories_far_apart_equal_naive(
    categories: Callable[[str], list[str]], words: list[str], gap: int
) -> None:
    # Words far apart: the windows around a place grow until they find clean edges.
    text = ("lorem ipsum " * gap).join(["", *words, ""])
    assert categories(text) == health_data.naive_categories(text)


@PATHS
def test_categories_skip_what_is_known_and_keep_order(
    categories: Callable[[str], list[str]],
) -> None:
    line = "Consultation médicale, ordonnance jointe et suivi régulier.\n"
    text = line * 3000 + "Arrêt de travail prolongé.\n" + line + "Code CIM-10 : F32.1\n"
    assert categories(text) == health_data.naive_categories(text)
    assert categories(text) == [
        "medical_act",
        "prescription",
        "sick_leave",
        "medical_code",
    ]
    # A code found late may still come first: it lies before its context word.
    late = "E11.9 ordonnance, diagnostic"
    assert categories(late) == ["medical_code", "prescription", "diagnosis"]


@settings(max_examples=150, deadline=None)
@given(st.lists(CATEGORY_PIECES, max_size=40), st.sampled_from([" ", "\n", ", "]))
def test_compiled_categories_in_tiny_blocks(pieces: list[str], joiner: str) -> None:
    # The engine reads the text a block at a time (blocks overlap by more than a match
    # is long); tiny blocks put a block edge inside every phrase.
    text = joiner.join(pieces)
    saved = health_data._FIRST_BLOCK, health_data._FAST_BLOCK
    health_data._FIRST_BLOCK, health_data._FAST_BLOCK = 8, 64
    try:
        found = health_data.compiled_categories(text)
    finally:
        health_data._FIRST_BLOCK, health_data._FAST_BLOCK = saved
    assert found == health_data.naive_categories(text)


@settings(max_examples=150, deadline=None)
@given(st.lists(CATEGORY_PIECES, max_size=60), st.sampled_from([" ", "\n", ", ", ""]))
def test_long_stretches_read_in_chunks_as_in_one_pass(pieces: list[str], joiner: str) -> None:
    # A long stretch is read a chunk at a time (a deadline is looked at in between);
    # the words found are those of one pass of the pattern, whatever the chunk size.
    text = joiner.join(pieces)
    whole = [(m.start(), m.end(), m.lastgroup) for m in health_data.PATTERN.finditer(text)]
    saved = health_data._CHUNK
    try:
        for chunk in (2 * health_data._REACH + 1, 2 * health_data._REACH + 17, 1000):
            health_data._CHUNK = chunk
            words = health_data._words(text, 0, len(text))
            assert [(m.start(), m.end(), m.lastgroup) for m in words] == whole
    finally:
        health_data._CHUNK = saved


def test_categories_stop_at_the_deadline_with_what_was_met() -> None:
    text = "arrêt de travail. " + "consultation médicale, " * 20_000 + "ordonnance"
    for categories in (health_data.pure_categories, health_data.compiled_categories):
        assert categories(text)[-1] == "prescription"
    found, whole = health_data.categories_until(text, deadline=Deadline.after(0))
    assert not whole and found == []
    with pytest.raises(DeadlineExceeded):
        health_data.categories(text, deadline=Deadline.after(0))
    found, whole = health_data.categories_until(text, deadline=Deadline.after(60))
    assert whole and found == health_data.naive_categories(text)
