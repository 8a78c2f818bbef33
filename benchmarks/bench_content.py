"""Content inspection speed on the files clinics send, end to end through `leakguard scan`.

Run by hand (not in CI timing):  python benchmarks/bench_content.py [--mb 20] [--repeat 2]

For each workload (``WORKLOADS``: a number-dense text, a clinic text with digits on one
line in ten, a CSV export of 100,000 rows with NIR and IBAN columns, the same as an
XLSX workbook) it writes the file, then measures in the same run:

* ``leakguard scan --format json FILE > report`` in a child process, wall time from
  start to exit (reading, decoding, every detector, the JSON written to a file), with
  the compiled engine and with the pure Python path, in MB of file per second; a long
  text is read by two processes where the machine has two cores (see
  ``LEAKGUARD_PROCESSES`` in docs/content.md), and the processor time counts both;
* the baseline: one pass of the ``regex`` module (``re`` when it is not installed) that
  finds NIR candidates and checks their key, over the file's text, in this process.

The rounds alternate the baseline and each engine; the best of each is printed, as MB/s
of wall time and of processor time (the child's), with the ratio to the baseline.

It also prints the time to scan one typical clinic message and PDF pages per second.
The machine's load is printed first: figures from a shared machine are noisy; the
ratio to the baseline, measured in the same run, is the figure to compare.

A workload is a name and a function that writes the file; add one to ``WORKLOADS``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import workloads  # noqa: E402
from compiled import up_to_date  # noqa: E402
from docs_factory import make_docx, make_pdf  # noqa: E402
from leakguard import _child  # noqa: E402
from leakguard.content import scan_chunks  # noqa: E402
from leakguard.core import Deadline, Fingerprinter  # noqa: E402
from leakguard.detectors import health_data, nir  # noqa: E402
from leakguard.extract import Limits, TextChunk  # noqa: E402
from leakguard.guard import scan  # noqa: E402
from leakguard.message import document_content, iter_content, load_message  # noqa: E402
from workloads import WORDS  # noqa: E402

__all__ = ["WORDS", "WORKLOADS", "Workload", "main", "typical_message"]


@dataclass(frozen=True)
class Workload:
    """A file users send: its name, what it is, and how to write it (``mb`` is the size
    asked for, in MB, for texts)."""

    name: str
    label: str
    write: Callable[[Path, float], Path]


def _text(make: Callable[[float], str], name: str) -> Callable[[Path, float], Path]:
    def write(folder: Path, mb: float) -> Path:
        path = folder / name
        path.write_text(make(mb), encoding="utf-8")
        return path

    return write


def _export(suffix: str, make: Callable[[int], bytes]) -> Callable[[Path, float], Path]:
    def write(folder: Path, mb: float) -> Path:
        path = folder / f"export{suffix}"
        path.write_bytes(make(100_000))
        return path

    return write


WORKLOADS = [
    Workload(
        "number-dense",
        "lab tables, accounting exports, invoices: 15-digit groups on every line",
        _text(workloads.number_dense_text, "comptes.txt"),
    ),
    Workload(
        "clinic",
        "clinic letters: digits on one line in ten, a NIR on one line in fifty",
        _text(workloads.clinic_text, "courriers.txt"),
    ),
    Workload(
        "csv-export",
        "third-party-payment export, 100,000 rows, each a person with a NIR and an IBAN",
        _export(".csv", workloads.export_csv),
    ),
    Workload(
        "xlsx-export",
        "the same export as an XLSX workbook (shared strings)",
        _export(".xlsx", workloads.export_xlsx),
    ),
]

# ------------------------------------------------------------------ the baseline

try:
    import regex as _engine

    ENGINE = "regex"
except ImportError:  # pragma: no cover - the regex module is optional here
    import re as _engine

    ENGINE = "re"

_PATTERN = _engine.compile(nir.PATTERN.pattern)
_STRIP = str.maketrans("", "", " .\u00a0\u202f\t\r\n-/")


def baseline(text: str) -> int:
    """One pass of a regular expression that finds NIR candidates and checks their key."""
    found = 0
    for m in _PATTERN.finditer(text):
        value = m.group().translate(_STRIP).upper()
        if len(value) == 15:
            body = value[:13].replace("2A", "19").replace("2B", "18")
            if body.isdigit() and 97 - int(body) % 97 == int(value[13:]):
                found += 1
    return found


def _text_of(path: Path) -> str:
    """What the baseline reads: the file's text (a workbook's, as leakguard extracts it)."""
    if path.suffix == ".xlsx":
        data = path.read_bytes()
        items = document_content(data, name=path.name, limits=Limits(max_seconds=3600))
        return "\n".join(item.text for item in items if isinstance(item, TextChunk))
    return path.read_bytes().decode("utf-8")


# ------------------------------------------------------------------ leakguard scan

# The pure path in a child process: the compiled engine switched off before scanning.
_PURE = (
    "import leakguard.detectors.health_data as h\n"
    "h.COMPILED = False\n"
    "from leakguard.cli import run\n"
    "run()\n"
)


def leakguard_scan(
    path: Path, *, compiled: bool, alone: bool = False
) -> tuple[float, float, dict[str, Any]]:
    """Wall and processor time of ``leakguard scan --format json`` on ``path`` in a child
    process, and its JSON. The time budget is lifted: the whole file is read. The JSON
    goes to a file, as ``leakguard scan … > report.json`` writes it: the time is the
    command's, from start to exit, not this process's reading of tens of megabytes
    through a pipe. With ``alone``, the scan keeps to one process
    (``LEAKGUARD_PROCESSES=1``)."""
    env = dict(os.environ)
    env.pop(_child.ENV, None)
    if alone:
        env[_child.ENV] = "1"
    args = ["scan", "--format", "json", "--time-budget", "3600", str(path)]
    command = [sys.executable, "-m", "leakguard.cli", *args]
    if not compiled:
        command = [sys.executable, "-c", _PURE, *args]
    with tempfile.TemporaryFile() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        run = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, env=env, check=False)
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if run.returncode not in (0, 1):
            raise RuntimeError(f"leakguard scan failed: {run.stderr.decode().strip()}")
        out.seek(0)
        doc: dict[str, Any] = json.load(out)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return took, cpu, doc


def bench_workload(work: Workload, folder: Path, mb: float, repeat: int) -> None:
    """The workload's file, then ``repeat`` rounds of the baseline and of each engine
    (one after the other, so that a busy spell of the machine falls on all of them);
    the best of each is printed, wall time first, processor time after."""
    path = work.write(folder, mb)
    size = path.stat().st_size / 1e6
    text = _text_of(path)
    engines = [("compiled engine", True, False)] if health_data.COMPILED else []
    engines.append(("pure Python path", False, False))
    if health_data.COMPILED:
        engines.append(("compiled, 1 process", True, True))
    base: list[tuple[float, float]] = []
    runs: dict[str, list[tuple[float, float, dict[str, Any]]]] = {e[0]: [] for e in engines}
    for _ in range(repeat):
        start, cpu_start = time.perf_counter(), time.process_time()
        baseline(text)
        base.append((time.perf_counter() - start, time.process_time() - cpu_start))
        for label, compiled, alone in engines:
            runs[label].append(leakguard_scan(path, compiled=compiled, alone=alone))
    wall_base, cpu_base = min(b[0] for b in base), min(b[1] for b in base)
    print(f"{work.name} ({size:.1f} MB): {work.label}")
    print(
        f"  baseline, one {ENGINE} pass (NIR + key): {size / wall_base:7.1f} MB/s wall, "
        f"{size / cpu_base:.1f} MB/s of processor time"
    )
    for label, done in runs.items():
        took = min(r[0] for r in done)
        cpu = min(r[1] for r in done)
        found = done[0][2]["messages"][0]["findings"]
        unread = [f["detail"] for f in found if f["kind"] == "unscannable_attachment"]
        note = f", unread: {', '.join(unread)}" if unread else ""
        print(
            f"  leakguard scan, {label:<19}: {size / took:7.1f} MB/s wall "
            f"({took:.2f} s, x{wall_base / took:.2f} of the baseline), "
            f"{size / cpu:.1f} MB/s of processor time (x{cpu_base / cpu:.2f}); "
            f"{len(found)} findings{note}"
        )


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------------ one message, PDF


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
        start = time.perf_counter()
        scan(raw, fingerprinter=fp)
        times.append(time.perf_counter() - start)
    times.sort()
    print(
        f"typical message (body + 3-page PDF + DOCX, {len(raw) / 1024:.0f} KB): "
        f"median {statistics.median(times) * 1000:.1f} ms, "
        f"p95 {times[int(len(times) * 0.95) - 1] * 1000:.1f} ms"
    )
    # What the deadline's checks cost: the same parts scanned with and without one.
    chunks = [c for c in iter_content(load_message(raw)) if isinstance(c, TextChunk)]
    with_, without = [], []
    for _ in range(runs):
        for deadline, out in ((Deadline.after(60), with_), (None, without)):
            start = time.perf_counter()
            scan_chunks(chunks, fingerprinter=fp, deadline=deadline)
            out.append(time.perf_counter() - start)
    extra = statistics.median(with_) - statistics.median(without)
    print(
        f"  its content scan: median {statistics.median(without) * 1000:.2f} ms without a "
        f"deadline, {extra * 1000:+.3f} ms with one"
    )


def bench_pdf(pages: int) -> None:
    lines = [" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS) - 12, 3)]
    pdf = make_pdf([*lines, *lines, "NIR : 1 85 05 75 112 345 29"], pages=pages)
    fp = Fingerprinter()
    took = min(
        _timed(lambda: scan_chunks(document_content(pdf, name="x.pdf"), fingerprinter=fp))
        for _ in range(3)
    )
    print(f"pdf: {pages} pages in {took * 1000:.0f} ms -> {pages / took:.0f} pages/s")


def _uncompiled() -> int:
    """How many of leakguard's modules have no up-to-date compiled cache."""
    import leakguard

    return sum(not up_to_date(p) for p in Path(leakguard.__file__).parent.rglob("*.py"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=20.0, help="size of the text workloads")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each scan (best kept)")
    ap.add_argument("--only", nargs="*", help="names of the workloads to run")
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} cores, load average {load}; MB/s of wall time")
    stale = _uncompiled()
    if stale:
        print(
            f"{stale} leakguard modules without their compiled cache: each scan compiles "
            "them again (about 0.1 s); an installed package has it"
        )
    print()
    with tempfile.TemporaryDirectory() as tmp:
        for work in WORKLOADS:
            if not args.only or work.name in args.only:
                bench_workload(work, Path(tmp), args.mb, args.repeat)
    bench_message(args.runs)
    bench_pdf(args.pages)


if __name__ == "__main__":
    main()
