"""OCR of scanned documents: a NIR, a RIB and a carte-Vitale-like card drawn, turned and
speckled are found in PNG, JPEG, TIFF and image-only PDF; photos without text raise
nothing; limits hold; without OCR the part is reported and says OCR is missing.

These tests need the ``ocr`` extra and Tesseract (``.ci/run`` installs both). On a
developer machine without Tesseract they are skipped with the reason; in CI (``CI`` set)
they run and fail instead, so they never silently skip there.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docs_factory import make_pdf, mask
from helpers import NIR, RIB, leaked, message
from leakguard.content import scan_chunks, scan_text
from leakguard.core import Action, Fingerprinter, Location
from leakguard.extract import Budget, Limits, Problem, TextChunk, extract
from leakguard.extract.ocr import available, normalise
from leakguard.guard import Guard
from leakguard.policy import Policy
from scan_factory import encode, image_pdf, photo_without_text, render_scan

needs_ocr = pytest.mark.skipif(
    not available() and not os.environ.get("CI"),
    reason="OCR not installed: pip install -e '.[test]' and apt-get install tesseract-ocr "
    "tesseract-ocr-fra",
)

FP = Fingerprinter(b"ocr-tests")
NIR_LINES = [
    "CERTIFICAT MÉDICAL",
    "Patient : Hélène Dupré",
    "N° de sécurité sociale : 1 85 05 75 112 345 29",
]
RIB_LINES = ["RELEVÉ D'IDENTITÉ BANCAIRE", f"RIB : {RIB}", "Domiciliation : Paris"]
CARD_LINES = ["carte Vitale", "Assurance Maladie", "1 85 05 75 112 345 29", "HÉLÈNE DUPRÉ"]


def run(data: bytes, name: str, limits: Limits | None = None) -> list[TextChunk | Problem]:
    budget = Budget(limits or Limits())
    return list(extract(data, Location.attachment(name), budget=budget, filename=name))


def kinds_found(items: list[TextChunk | Problem]) -> dict[str, list[str]]:
    """Finding kind -> masked values (or details), as the content scanner reports them."""
    out: dict[str, list[str]] = {}
    for f in scan_chunks(items, fingerprinter=FP).findings:
        out.setdefault(f.kind, []).append(f.masked or f.detail or "")
    return out


def problems(items: list[TextChunk | Problem]) -> list[tuple[str, str]]:
    return [(str(i.location), i.reason) for i in items if isinstance(i, Problem)]


@needs_ocr
@pytest.mark.parametrize(
    ("lines", "fmt", "kind", "card"),
    [
        (NIR_LINES, "PNG", "nir", False),
        (RIB_LINES, "JPEG", "rib", False),
        (CARD_LINES, "TIFF", "nir", True),
    ],
    ids=["nir-png", "rib-jpeg", "vitale-tiff"],
)
def test_scanned_identifiers_are_found(lines: list[str], fmt: str, kind: str, card: bool) -> None:
    scan = render_scan(lines, angle=-2.5 if card else 2.0, seed=len(lines), card=card)
    items = run(encode(scan, fmt), f"scan.{fmt.lower()}")
    found = kinds_found(items)
    assert kind in found, f"{kind} not read from the {fmt} scan: {sorted(found)}"
    assert problems(items) == []


@needs_ocr
def test_image_only_pdf_is_read_page_by_page() -> None:
    blank = render_scan(["Page de garde"], angle=0, noise=0)
    pdf = image_pdf([blank, render_scan(NIR_LINES, angle=1.5, seed=3)])
    assert run(make_pdf([]), "x.pdf") == []  # a truly empty PDF: nothing to read
    items = run(pdf, "scan.pdf")
    assert "nir" in kinds_found(items)
    assert problems(items) == []


@needs_ocr
def test_multi_page_tiff_fax_reads_every_frame() -> None:
    first = render_scan(["Télécopie", "Page 1 / 2"], seed=1)
    second = render_scan(NIR_LINES, seed=2)
    items = run(encode([first, second], "TIFF"), "fax.tif")
    assert "nir" in kinds_found(items)


@needs_ocr
def test_accents_and_health_words_are_read() -> None:
    items = run(encode(render_scan(["Arrêt de travail", "Diagnostic : diabète"]), "PNG"), "a.png")
    text = "\n".join(i.text for i in items if isinstance(i, TextChunk))
    assert "Arrêt" in text and "diabète" in text, text
    assert "health_data" in kinds_found(items)


@needs_ocr
def test_photo_without_text_is_neither_unscannable_nor_a_warning() -> None:
    photo = encode(photo_without_text(), "JPEG")
    assert run(photo, "plaie.jpg") == []
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    verdict = Guard(policy).check(message(extra=[(photo, "image", "jpeg", "plaie.jpg")]))
    assert verdict.action is Action.ALLOW, verdict.findings
    assert verdict.findings == ()


@needs_ocr
def test_scanned_nir_in_a_mail_needs_encryption_and_is_never_shown() -> None:
    scan = encode(render_scan(NIR_LINES), "PNG")
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    verdict = Guard(policy).check(message(extra=[(scan, "image", "png", "ordonnance.png")]))
    assert verdict.action is Action.ENCRYPT
    nirs = [f for f in verdict.findings if f.kind == "nir"]
    assert [str(f.location) for f in nirs] == ["attachment:ordonnance.png"]
    assert not leaked(repr(verdict.findings) + json.dumps([f.masked for f in nirs]), [NIR])


@needs_ocr
def test_ocr_page_limit() -> None:
    page = render_scan(NIR_LINES, seed=5)
    items = run(image_pdf([page, page, page]), "s.pdf", Limits(max_ocr_pages=1))
    assert "nir" in kinds_found(items)
    assert problems(items) == [("attachment:s.pdf", "too_large")]


@needs_ocr
def test_ocr_time_limit() -> None:
    items = run(encode(render_scan(NIR_LINES), "PNG"), "s.png", Limits(max_ocr_seconds=0.001))
    assert problems(items) == [("attachment:s.png", "timeout")]


@needs_ocr
def test_ocr_pixel_limit_scales_down_then_refuses() -> None:
    scan = render_scan(NIR_LINES, size=40)
    pixels = scan.width * scan.height
    # Within three times the limit: scaled down and still read.
    items = run(encode(scan, "PNG"), "s.png", Limits(max_ocr_pixels=pixels // 2))
    assert "nir" in kinds_found(items)
    items = run(encode(scan, "PNG"), "s.png", Limits(max_ocr_pixels=pixels // 4))
    assert problems(items) == [("attachment:s.png", "too_large")]


def _png_header(width: int, height: int) -> bytes:
    """A PNG announcing ``width`` × ``height`` pixels but carrying almost none."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(64)))
        + chunk(b"IEND", b"")
    )


@needs_ocr
@pytest.mark.parametrize("side", [9_000, 10_000, 20_000])
def test_huge_pictures_are_refused_before_decoding(side: int) -> None:
    assert problems(run(_png_header(side, side), "big.png")) == [
        ("attachment:big.png", "too_large")
    ]


@needs_ocr
def test_damaged_and_unknown_pictures() -> None:
    assert problems(run(b"\xff\xd8\xff\xe0" + bytes(100), "p.jpg")) == [
        ("attachment:p.jpg", "corrupt")
    ]
    heic = b"\x00\x00\x00\x18ftypheic" + bytes(64)
    assert problems(run(heic, "p.heic")) == [("attachment:p.heic", "unsupported")]


def test_without_ocr_a_scan_is_reported_as_not_read(tmp_path: Path) -> None:
    """Tesseract missing from the PATH: the picture and the scanned PDF are reported, in
    the user's language, as not read because OCR is not installed."""
    png = tmp_path / "carte.png"
    png.write_bytes(encode(render_scan(CARD_LINES, card=True), "PNG"))
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(image_pdf([render_scan(NIR_LINES)]))
    empty = tmp_path / "bin"
    empty.mkdir()
    for lang, words in (("en_GB.UTF-8", "OCR) is not installed"), ("fr_FR.UTF-8", "n'est pas")):
        env = dict(os.environ, PATH=str(empty), LANG=lang, LC_ALL=lang)
        proc = subprocess.run(
            [sys.executable, "-m", "leakguard.cli", "scan", "--format", "json", str(png),
             str(pdf)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )  # fmt: skip
        doc = json.loads(proc.stdout)
        findings = [f for m in doc["messages"] for f in m["findings"]]
        assert [(f["kind"], f["detail"]) for f in findings] == [
            ("unscannable_attachment", "no_ocr"),
            ("unscannable_attachment", "no_ocr"),
        ], proc.stderr
        assert all(words in f["message"] for f in findings), findings


# --------------------------------------------------------------------------- normalising


def _nir_values() -> st.SearchStrategy[str]:
    def build(sex: int, year: int, month: int, dept: int, commune: int, order: int) -> str:
        body = f"{sex}{year:02d}{month:02d}{dept:02d}{commune:03d}{order:03d}"
        return f"{body}{97 - int(body) % 97:02d}"

    return st.builds(
        build,
        st.sampled_from([1, 2]),
        st.integers(0, 99),
        st.integers(1, 12),
        st.integers(1, 95),
        st.integers(1, 999),
        st.integers(1, 999),
    )


def _broken(value: str, cuts: list[int], noise: list[str]) -> str:
    """``value`` cut at ``cuts`` with OCR noise (spaces, stray marks) at each cut."""
    out, last = [], 0
    for i, cut in enumerate(sorted(set(cuts))):
        out.append(value[last:cut] + noise[i % len(noise)])
        last = cut
    return "".join(out) + value[last:]


NOISE = st.lists(st.sampled_from([" ", "  ", " :", ": ", " ' ", "‘", " , ", " |", "  ; "]),
                 min_size=1, max_size=4)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(_nir_values(), st.lists(st.integers(1, 14), max_size=6), NOISE)
def test_a_nir_broken_by_ocr_noise_is_found_after_normalising(
    value: str, cuts: list[int], noise: list[str]
) -> None:
    # No NIR word nearby: the thirteen-digit form, which needs one, stays out of the way.
    text = f"Référence : {_broken(value, cuts, noise)}\nFait à Paris"
    found = scan_text(normalise(text), Location.attachment("s.png"), fingerprinter=FP)
    assert {f.fingerprint for f in found if f.kind == "nir"} == {FP("nir", value)}, mask(value)


@settings(max_examples=200, deadline=None)
@given(_nir_values(), st.lists(st.integers(1, 14), max_size=6), NOISE)
def test_the_checksum_still_decides_after_normalising(
    value: str, cuts: list[int], noise: list[str]
) -> None:
    wrong = value[:13] + f"{(int(value[13:]) + 1) % 100:02d}"
    text = f"Référence : {_broken(wrong, cuts, noise)}"
    found = scan_text(normalise(text), Location.attachment("s.png"), fingerprinter=FP)
    assert [f for f in found if f.kind == "nir"] == [], mask(wrong)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200))
def test_normalising_only_adds_lines(text: str) -> None:
    """Every line of the OCR text is kept, in order: nothing found before can be lost."""
    lines = iter(normalise(text).split("\n"))
    assert all(any(line == kept for kept in lines) for line in text.split("\n"))


def test_lookalike_letters_between_digits() -> None:
    text = normalise("RIB : 30006 0O001 12345678901 89\nN° 1 85 O5 75 112 345 29")
    assert "30006 00001 12345678901 89" in text
    assert "1 85 05 75 112 345 29" in text
    assert "Domicile" == normalise("Domicile")
