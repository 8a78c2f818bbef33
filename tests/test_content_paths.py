"""The content scan gives the same findings with and without the compiled engine."""

from __future__ import annotations

import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from child_helpers import watched_children
from leakguard import _child
from leakguard.content import scan_text
from leakguard.core import Fingerprinter, Location
from leakguard.detectors import _bulk, health_data

LINES = [
    "Consultation médicale du 12/03/2024, tél 02 35 12 34 56.",
    "Merci de nous retourner le formulaire signé avant la fin du mois.",
    "Ordonnance jointe ; montant 145,50 euros.",
    "Suivi médical régulier, rendez-vous mardi.",
    "Arrêt de travail de 5 jours (accident du travail).",
    "Diagnostic principal (CIM-10) : E11.9",
    "Actes CCAM : HBLD036, HBMD044.",
    "Patient en ALD, bénéficiaire de l'AME.",
    "NIR : 1 85 05 75 112 345 29",
    "IBAN FR76 3000 6000 0112 3456 7890 189",
    "le patient est venu en consultation pour un contrôle de la vue",
]


def _scan(text: str, *, compiled: bool) -> list[tuple[str, str | None, str | None]]:
    saved = health_data.COMPILED
    health_data.COMPILED = compiled
    try:
        found = scan_text(text, Location.body(), fingerprinter=Fingerprinter(b"k" * 32))
    finally:
        health_data.COMPILED = saved
    return [(f.kind, f.detail, f.fingerprint) for f in found]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=12), st.integers(0, 2**32))
def test_long_text_same_findings_on_both_paths(rare: list[str], seed: int) -> None:
    # A text past the size where the compiled engine takes over (64 KiB), with a few
    # rare lines spread through ordinary ones.
    rnd = random.Random(seed)
    lines = [rnd.choice(LINES[:4] + LINES[-1:]) for _ in range(2500)]
    for line in rare:
        lines.insert(rnd.randrange(len(lines) + 1), line)
    text = "\n".join(lines)
    assert len(text) >= health_data._FAST_MIN
    assert _scan(text, compiled=True) == _scan(text, compiled=False)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "pure"])
def test_long_text_categories_in_order(compiled: bool) -> None:
    text = "\n".join([LINES[1]] * 3000 + [LINES[4], LINES[1], LINES[0], LINES[5]])
    found = _scan(text, compiled=compiled)
    assert [detail for kind, detail, _ in found if kind == "health_data"] == [
        "sick_leave",
        "work_accident",
        "medical_act",
        "diagnosis",
        "medical_code",
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
@pytest.mark.parametrize("unique", [True, False], ids=["distinct-people", "same-people-again"])
def test_a_long_text_read_by_two_processes_gives_the_same_findings(
    monkeypatch: pytest.MonkeyPatch, unique: bool
) -> None:
    # The masks and fingerprints of the second part are made in the child: they come
    # back through its answer (a failure there would be read again here, unseen).
    rnd = random.Random(3)
    rows = []
    for i in range(3000):
        body = f"{rnd.randint(1, 2)}{rnd.randint(0, 99):02d}{rnd.randint(1, 12):02d}"
        body += f"{rnd.randint(1, 95):02d}{rnd.randint(1, 999):03d}{rnd.randint(1, 999):03d}"
        rows.append(f"{i};{body}{97 - int(body) % 97:02d};{LINES[i % 4]}")
    if not unique:
        rows = rows[:1500] * 2
    text = "\n".join(rows)
    monkeypatch.setenv(_child.ENV, "1")
    alone = _scan(text, compiled=True)
    monkeypatch.setattr(_bulk, "SPLIT", 0)
    with watched_children() as answers:
        split = _scan(text, compiled=True)
    assert answers == ["answered"]
    assert len(split) == len(alone) and split == alone


def _nir(body: str) -> str:
    return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} " + (
        f"{97 - int(body) % 97:02d}"
    )


def test_a_place_read_in_several_chunks_tells_each_value_once() -> None:
    from leakguard.content import scan_chunks
    from leakguard.extract._types import DICOM_TYPE, TextChunk

    fp = Fingerprinter(b"k" * 32)
    here, there = Location.attachment("a.txt"), Location.attachment("b.txt")
    first, second = _nir("1850575112345"), _nir("2900133045012")
    chunks = [
        TextChunk(here, f"NIR {first}\nConsultation médicale du 12/03/2024."),
        TextChunk(here, f"NIR {first} puis {second}.\nSuivi médical régulier."),
        TextChunk(there, f"NIR {first}"),
    ]
    found = scan_chunks(chunks, fingerprinter=fp).findings
    told = [(f.location, f.kind, f.fingerprint or f.detail) for f in found]
    assert told == [
        (here, "nir", fp("nir", first.replace(" ", ""))),
        (here, "health_data", "medical_act"),
        (here, "nir", fp("nir", second.replace(" ", ""))),
        (here, "health_data", "care"),
        (there, "nir", fp("nir", first.replace(" ", ""))),
    ], f"{len(told)} findings"
    # One chunk alone: what scan_text finds there.
    alone = scan_chunks(chunks[:1], fingerprinter=fp).findings
    assert alone == scan_text(chunks[0].text, here, fingerprinter=fp)
    # A medical image whose text names a medical act: the act once.
    image = TextChunk(here, "Acte : radiographie, compte rendu opératoire.", DICOM_TYPE)
    acts = [f.detail for f in scan_chunks([image], fingerprinter=fp).findings]
    assert acts.count("medical_act") == 1, acts
