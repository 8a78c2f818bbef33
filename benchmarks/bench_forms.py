"""Form fields: what reading labelled boxes costs and finds, against the detectors alone.

Run by hand (not in CI timing):  python benchmarks/bench_forms.py [--mb 20] [--scans]

Prints, all in the same run, with the form-field pass and without it (the detectors
alone, as before the pass existed):

* throughput of ``find_identifiers`` in MB/s of processor time on number-dense text, on
  clinic-like text (both from ``bench_content``) and on a labelled table export, with
  the compiled label search (``fast`` extra) and the pure Python one;
* what is found in every layout of ``tests/forms_factory.py``, for every kind and every
  rendering (text with four box styles, PDF, Word, XLSX, CSV; with ``--scans``, the
  scanned picture through OCR too), out of how many numbers;
* findings on traps (the same forms with a wrong key, phone numbers and dates in boxes,
  a number-dense lab table under identifier labels): must stay 0;
* the published vectors (``tests/test_third_party_vectors.py``) and the identifier rules'
  examples: found the same with and without the pass.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import forms_factory as ff  # noqa: E402
import test_third_party_vectors as vectors  # noqa: E402
from bench_content import best_of, make_clinic_text, make_text  # noqa: E402
from leakguard.detectors import find_identifiers, forms, one_byte_copies  # noqa: E402
from leakguard.extract._types import TextChunk  # noqa: E402
from leakguard.message import document_content  # noqa: E402


@contextlib.contextmanager
def without_fields() -> Iterator[None]:
    """The detectors alone: the form-field pass adds nothing."""
    saved = forms.with_fields
    forms.with_fields = lambda text, found, **_: found  # type: ignore[assignment]
    try:
        yield
    finally:
        forms.with_fields = saved


@contextlib.contextmanager
def label_search(compiled: bool) -> Iterator[None]:
    saved = forms.COMPILED
    forms.COMPILED = compiled and saved
    try:
        yield
    finally:
        forms.COMPILED = saved


# --------------------------------------------------------------------------- throughput


def bench_speed(mb: float, repeat: int) -> None:
    texts = {
        "number-dense text (20% of words are numbers)": make_text(mb, numbers=0.2),
        "clinic-like text": make_clinic_text(mb),
        "labelled table export (RIB columns)": ff.rib_table(int(mb * 1024 * 1024 / 60)),
    }
    print(f"find_identifiers, MB/s of CPU time (best of {repeat}):")
    for name, text in texts.items():
        size = len(text.encode("utf-8")) / 1e6
        copies = one_byte_copies(text)

        def run(text: str = text, copies: tuple[bytes, bytes] = copies) -> None:
            find_identifiers(text, copies=copies)

        run()  # warm-up: the label search's compiled database

        with without_fields():
            alone = best_of(run, repeat)
        timed = {}
        for compiled in (True, False):
            with label_search(compiled):
                timed[compiled] = best_of(run, repeat)
        with without_fields():
            n_alone = len(find_identifiers(text))
        n_fields = len(find_identifiers(text))
        print(f"  {name}: {size:.1f} MB, {n_alone} found alone, {n_fields} with fields")
        print(f"    detectors alone          : {size / alone:7.1f} MB/s")
        for compiled, label in ((True, "compiled label search"), (False, "pure label search   ")):
            if compiled and not forms.COMPILED:
                print("    with fields, compiled: not installed (pip install 'leakguard[fast]')")
                continue
            t = timed[compiled]
            print(f"    with fields, {label}: {size / t:7.1f} MB/s (x{alone / t:.2f})")


# --------------------------------------------------------------------------- layouts

Render = Callable[[ff.Form], list[str]]


def _texts(data: bytes, name: str) -> list[str]:
    return [c.text for c in document_content(data, name=name) if isinstance(c, TextChunk)]


RENDERS: dict[str, Render] = {
    **{f"text, {s}": (lambda form, s=s: [ff.as_text(form, s)]) for s in ff.BOX_STYLES},
    "PDF": lambda form: _texts(ff.as_pdf(form), "form.pdf"),
    "DOCX": lambda form: _texts(ff.as_docx(form), "form.docx"),
    "XLSX": lambda form: _texts(ff.as_xlsx(form), "form.xlsx"),
    "CSV": lambda form: _texts(ff.as_csv(form), "form.csv"),
}
SCAN: Render = lambda form: _texts(ff.as_png(form), "scan.png")  # noqa: E731


def _found(texts: list[str]) -> set[tuple[str, str]]:
    return {(m.kind, m.compact) for t in texts for m in find_identifiers(t)}


def bench_layouts(per_layout: int, scans: int) -> None:
    renders = dict(RENDERS)
    if scans:
        renders["scan (OCR)"] = SCAN
    print(f"\nLayouts: numbers found out of {per_layout} per kind and layout (scans: {scans})")
    print("  with the form fields (detectors alone); wrong keys found (must be 0)")
    header = "| layout | kind | " + " | ".join(renders) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    false = 0
    for layout, (_, kinds) in ff.LAYOUTS.items():
        for kind in kinds:
            cells = []
            for name, render in renders.items():
                if name in ("XLSX", "CSV") and "spreadsheet" not in layout:
                    cells.append("")
                    continue
                count = scans if name == "scan (OCR)" else per_layout
                pick = ff.sample_with_zeros if "spreadsheet" in layout else ff.sample
                got = alone = 0
                for v in (pick(kind, 1000 + i) for i in range(count)):
                    texts = render(ff.build(layout, kind, v))
                    got += (kind, v) in _found(texts)
                    with without_fields():
                        alone += (kind, v) in _found(texts)
                    wrong = ff.build(layout, kind, ff.wrong(kind, v))
                    false += len(_found(render(wrong))) if name != "scan (OCR)" else 0
                cells.append(f"{got}/{count} ({alone})")
            print(f"| {layout} | {kind} | " + " | ".join(cells) + " |")
    print(f"  findings on the same forms with a wrong key: {false}")


# --------------------------------------------------------------------------- traps and vectors

TRAPS = [
    "N° SS 0 6 1 2 3 4 5 6 7 8",
    "Téléphone |0|6|1|2|3|4|5|6|7|8|",
    "N° d'immatriculation\nDate de naissance 0 1 0 5 1 9 8 5",
    "Code banque Code guichet\n76600 12345\nN° de dossier 2024-118",
    "Clé 91 du coffre, casier 1 8 5 0",
    "La sécurité sociale rembourse 70 % de 25 euros, soit 17,50 euros, sous 5 jours.",
    "NAS : 514 123 4567",
    "N° d'immatriculation 1 8 5 0 5 7 8 0 0 6 0 8 4 9 1 3 7 2",
]


def bench_traps() -> None:
    texts = [*TRAPS, ff.lab_table(20_000), ff.rib_table(5_000, right=False)]
    found = sum(len(find_identifiers(t)) for t in texts)
    with without_fields():
        alone = sum(len(find_identifiers(t)) for t in texts)
    print(
        f"\nTraps ({len(TRAPS)} texts, a 20,000-row lab table under identifier labels, a "
        "5,000-row bank export with wrong keys):"
    )
    print(f"  findings with fields: {found}, detectors alone: {alone}")


def bench_vectors() -> None:
    cases = [
        *(("iban", f"virement sur le compte {w} avant lundi") for w in vectors.MESSY_FRENCH_IBANS),
        *(("iban", f"Veuillez virer sur {w} merci.") for w in vectors.REGISTRY_IBANS),
        *(("nir", f"NIR de l'assuré : {w}.") for w in vectors.NIR_VALID),
        *(("be_niss", f"numéro national : {w}.") for w in vectors.NISS_VALID),
        *(("none", f"Veuillez virer sur {w} merci.") for w in vectors.MANGLED_IBANS),
        *(("none", f"NIR de l'assuré : {w}.") for w in vectors.NIR_INVALID),
    ]
    with_fields = [sorted((m.kind, m.compact) for m in find_identifiers(t)) for _, t in cases]
    with without_fields():
        alone = [sorted((m.kind, m.compact) for m in find_identifiers(t)) for _, t in cases]
    hits = sum(kind in {k for k, _ in f} for (kind, _), f in zip(cases, with_fields, strict=True))
    expected = sum(kind != "none" for kind, _ in cases)
    false = sum(bool(f) for (kind, _), f in zip(cases, with_fields, strict=True) if kind == "none")
    print(f"\nPublished vectors ({len(cases)} texts): {hits}/{expected} found, {false} false")
    same = sum(a == b for a, b in zip(with_fields, alone, strict=True))
    print(f"  same findings with and without fields: {same}/{len(cases)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=20.0, help="size of the speed texts")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--per-layout", type=int, default=10, help="numbers per layout and kind")
    ap.add_argument("--scans", type=int, default=0, help="scans per layout and kind (OCR)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    bench_speed(args.mb, args.repeat)
    bench_layouts(args.per_layout, args.scans)
    bench_traps()
    bench_vectors()
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
