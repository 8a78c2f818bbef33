"""OCR cost: seconds per scanned page and per photographed card, against reading the
same page from a PDF that has a text layer, in the same run.

Run by hand (needs the ocr extra and Tesseract):  python benchmarks/bench_ocr.py [--runs 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from docs_factory import make_pdf  # noqa: E402
from leakguard.core import Location  # noqa: E402
from leakguard.extract import Budget, Limits, TextChunk, extract  # noqa: E402
from leakguard.extract.ocr import available  # noqa: E402
from scan_factory import encode, image_pdf, render_scan  # noqa: E402

LINES = [
    "CENTRE MÉDICAL DU HAVRE - compte rendu de consultation",
    "Patient : Hélène Dupré, née le 05/05/1985",
    "N° de sécurité sociale : 1 85 05 75 112 345 29",
    "Motif : contrôle annuel, tension artérielle normale, poids stable.",
    "Traitement : poursuite du traitement en cours pendant trois mois.",
    "Arrêt de travail : non. Prochain rendez-vous dans six mois.",
] * 5  # an A4 page of typed text, about thirty lines
CARD = ["carte Vitale", "Assurance Maladie", "1 85 05 75 112 345 29", "HÉLÈNE DUPRÉ"]


def timed(label: str, data: bytes, name: str, runs: int) -> float:
    def once() -> int:
        budget = Budget(Limits(max_ocr_seconds=120, max_seconds=120))
        items = list(extract(data, Location.attachment(name), budget=budget, filename=name))
        return sum(len(i.text) for i in items if isinstance(i, TextChunk))

    chars = once()  # warm-up: Tesseract's language files read once from disk
    times: list[float] = []
    cpu_before = _cpu()
    for _ in range(runs):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    cpu = (_cpu() - cpu_before) / runs
    best = min(times)
    print(
        f"{label:<44} {best:7.3f} s wall (median {statistics.median(times):.3f}),"
        f" {cpu:6.3f} s CPU, {chars} chars"
    )
    return best


def _cpu() -> float:
    """CPU seconds used so far by this process and the Tesseract processes it ran: on a
    shared machine, wall time depends on the neighbours, CPU time much less."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not available():
        sys.exit("OCR is not installed: pip install 'leakguard[ocr]' and Tesseract")
    page = render_scan(LINES, size=36, angle=1.0, seed=1)  # about 300 dpi across A4
    print(f"scanned page {page.width}x{page.height} px, card {len(CARD)} lines")
    steps: list[tuple[str, Callable[[], tuple[bytes, str]]]] = [
        ("baseline: same page, PDF with a text layer", lambda: (make_pdf(LINES), "t.pdf")),
        ("scanned A4 page, image-only PDF", lambda: (image_pdf([page]), "s.pdf")),
        ("scanned A4 page, PNG", lambda: (encode(page, "PNG"), "s.png")),
        (
            "photographed card, JPEG",
            lambda: (encode(render_scan(CARD, card=True), "JPEG"), "c.jpg"),
        ),
    ]
    for label, build in steps:
        data, name = build()
        timed(label, data, name, args.runs)


if __name__ == "__main__":
    main()
