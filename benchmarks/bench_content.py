"""Content inspection speed: ``leakguard scan`` of a text file, detectors over text, PDF
pages, one typical message.

Run by hand (not in CI timing):  python benchmarks/bench_content.py [--mb 20]

Prints, all in the same run and in MB/s of processor time (``time.process_time``, so that
other work on the machine does not count):

* ``leakguard scan`` of a clinic-like text file (every line has medical words), end to
  end (read, decode, every detector, findings), with the compiled engine of the
  ``fast`` extra and with the pure Python path, against one regular expression (the NIR
  pattern, no validation) over the same text;
* the detectors over text against a naive baseline (one ``re.finditer`` per detector
  over the whole text, then validate);
* PDF pages per second, and the time to scan one typical clinic message.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import statistics
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from docs_factory import make_docx, make_pdf  # noqa: E402
from leakguard.cli import main as cli_main  # noqa: E402
from leakguard.content import scan_chunks  # noqa: E402
from leakguard.core import Fingerprinter  # noqa: E402
from leakguard.detectors import (  # noqa: E402
    HEALTH,
    find_identifiers,
    health_data,
    naive_find_identifiers,
    nir,
)
from leakguard.guard import scan  # noqa: E402
from leakguard.message import document_content  # noqa: E402

WORDS = (
    "le patient est venu en consultation pour un contrôle de la vue et nous avons "
    "convenu d'un rendez-vous le mardi suivant afin de revoir la correction des verres "
    "la mutuelle prendra en charge une partie du montant restant selon le contrat "
    "merci de nous retourner le formulaire signé avant la fin du mois en cours "
    "bonne journée cordialement le secrétariat du centre facture montant euros le havre"
).split()
# What ordinary clinic mail carries besides words: phones, dates, amounts, references.
NUMBERS = ["tél 02 35 12 34 56", "n° 2024-118", "du 12/03/2024", "145,50 euros", "76600"]

VALUES = [
    "1 85 05 75 112 345 29",
    "FR76 3000 6000 0112 3456 7890 189",
    "30006 00001 12345678901 89",
    "85.07.30-033.28",
    "TREM 5211 2512",
    "NAS : 130 692 544",
    "diagnostic : F32.1 (CIM-10), arrêt de travail",
]


def make_text(megabytes: float, seed: int = 7, *, numbers: float = 0.2) -> str:
    """French prose; ``numbers`` is the share of words that are phones, dates, amounts.

    Every twentieth sentence ends with an identifier or a medical phrase.
    """
    rnd = random.Random(seed)
    target = int(megabytes * 1024 * 1024)
    parts: list[str] = []
    size = 0
    while size < target:
        words = [
            rnd.choice(NUMBERS) if rnd.random() < numbers else rnd.choice(WORDS)
            for _ in range(rnd.randint(8, 30))
        ]
        sentence = " ".join(words)
        if rnd.random() < 0.05:
            sentence += " " + rnd.choice(VALUES)
        sentence += ".\n"
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts)


# What a clinic writes on every line: the medical words the detector looks for.
MEDICAL = [
    "consultation médicale",
    "ordonnance",
    "arrêt de travail",
    "hospitalisation",
    "chirurgie",
    "diagnostic",
    "accident du travail",
    "compte rendu opératoire",
    "antécédents médicaux",
    "invalidité",
    "prise en charge ALD",
    "diagnostic CIM-10 F32.1",
    "acte CCAM HBLD036",
]


def make_clinic_text(megabytes: float, seed: int = 11, *, ids_every: int = 200) -> str:
    """Clinic-like French text: every line has a medical word and a number (phone,
    date, amount, reference); one line in ``ids_every`` carries an identifier."""
    rnd = random.Random(seed)
    target = int(megabytes * 1024 * 1024)
    parts: list[str] = []
    size = 0
    while size < target:
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(8, 20))]
        words.insert(rnd.randrange(len(words)), rnd.choice(MEDICAL))
        words.insert(rnd.randrange(len(words)), rnd.choice(NUMBERS))
        if rnd.randrange(ids_every) == 0:
            words.append(rnd.choice(VALUES[:-1]))
        line = " ".join(words) + ".\n"
        parts.append(line)
        size += len(line)
    return "".join(parts)


def best_of(fn: object, repeat: int) -> float:
    """The shortest processor time of ``repeat`` runs (other processes do not count)."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()  # type: ignore[operator]
        times.append(time.process_time() - t0)
    return min(times)


def _cli_scan(path: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli_main(["scan", "--format", "json", path])
    return out.getvalue()


def bench_cli_scan(mb: float, ids_every: int, repeat: int) -> None:
    text = make_clinic_text(mb, ids_every=ids_every)
    data = text.encode("utf-8")
    size_mb = len(data) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "clinic.txt")
        Path(path).write_bytes(data)
        _cli_scan(path)  # warm-up: imports, regex compilation
        saved = health_data.COMPILED
        try:
            t_fast = best_of(lambda: _cli_scan(path), repeat) if saved else float("nan")
            health_data.COMPILED = False
            t_pure = best_of(lambda: _cli_scan(path), repeat)
        finally:
            health_data.COMPILED = saved
        t_regex = best_of(lambda: sum(1 for _ in nir.PATTERN.finditer(text)), repeat)
    print(
        f"leakguard scan, clinic-like text ({size_mb:.1f} MB, medical words on every "
        f"line, an identifier every {ids_every} lines), MB/s of CPU time:"
    )
    if not saved:
        print("  compiled engine: not installed (pip install 'leakguard[fast]')")
    else:
        print(f"  compiled engine (fast extra): {size_mb / t_fast:7.1f} MB/s")
    print(f"  pure Python path            : {size_mb / t_pure:7.1f} MB/s")
    print(f"  baseline, one regex (NIR)   : {size_mb / t_regex:7.1f} MB/s")


def bench_text(mb: float, numbers: float, label: str) -> None:
    text = make_text(mb, numbers=numbers)
    size_mb = len(text.encode("utf-8")) / 1e6

    def ours() -> None:
        find_identifiers(text)
        list(HEALTH.find(text))

    def naive() -> None:
        naive_find_identifiers(text)
        list(HEALTH.naive_find(text))

    n_ours = len(find_identifiers(text))
    n_naive = len(naive_find_identifiers(text))
    t_ours = best_of(ours, 3)
    t_naive = best_of(naive, 3)
    t_ids = best_of(lambda: find_identifiers(text), 3)
    t_ids_naive = best_of(lambda: naive_find_identifiers(text), 3)
    print(
        f"text ({label}, {numbers:.0%} of words are numbers): {size_mb:.1f} MB, "
        f"{n_ours} identifiers (naive finds {n_naive})"
    )
    for what, t_a, t_b in (
        ("identifiers only", t_ids, t_ids_naive),
        ("all detectors   ", t_ours, t_naive),
    ):
        print(
            f"  {what}: leakguard {size_mb / t_a:7.1f} MB/s | "
            f"naive {size_mb / t_b:7.1f} MB/s | x{t_b / t_a:.2f}"
        )


def bench_pdf(pages: int) -> None:
    lines = [" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS) - 12, 3)]
    pdf = make_pdf(lines * 2 + [VALUES[0]], pages=pages)
    fp = Fingerprinter()

    def run() -> None:
        scan_chunks(document_content(pdf, name="x.pdf"), fingerprinter=fp)

    t = best_of(run, 3)
    print(f"pdf: {pages} pages in {t * 1000:.0f} ms -> {pages / t:.0f} pages/s")


def typical_message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "secretariat@clinique-exemple.fr"
    msg["To"] = "Dr Martin <dr.martin@cabinet-exemple.fr>"
    msg["Subject"] = "Dossier patient et facture"
    msg.set_content(" ".join(WORDS) + "\nCordialement,\nLe secrétariat\n")
    lines = [" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS) - 12, 4)]
    pdf = make_pdf([*lines, "NIR : 1 85 05 75 112 345 29"], pages=3)
    docx = make_docx([*lines[:10], "IBAN FR76 3000 6000 0112 3456 7890 189"])
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="compte-rendu.pdf")
    msg.add_attachment(
        docx,
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="courrier.docx",
    )
    return msg.as_bytes()


def bench_message(runs: int) -> None:
    raw = typical_message()
    fp = Fingerprinter()
    scan(raw, fingerprinter=fp)  # warm-up: imports, regex compilation
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        scan(raw, fingerprinter=fp)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(
        f"typical message (body + 3-page PDF + DOCX, {len(raw) / 1024:.0f} KB): "
        f"median {statistics.median(times) * 1000:.1f} ms, "
        f"p95 {times[int(len(times) * 0.95) - 1] * 1000:.1f} ms (target < 30 ms)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=20.0, help="size of the text corpus")
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each scan (best kept)")
    args = ap.parse_args()
    bench_cli_scan(args.mb, 200, args.repeat)
    bench_cli_scan(args.mb, 20, args.repeat)
    bench_text(args.mb, 0.02, "ordinary mail")
    bench_text(args.mb, 0.2, "number-heavy")
    bench_pdf(args.pages)
    bench_message(args.runs)


if __name__ == "__main__":
    main()
