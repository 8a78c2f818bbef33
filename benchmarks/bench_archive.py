"""Archive checking speed: ``leakguard check`` over an mbox of mixed clinic messages.

Run by hand:  python benchmarks/bench_archive.py [--messages 10000] [--baseline 100]

Builds an mbox of ``--messages`` messages (a third with a PDF, DOCX or XLSX attachment;
the rest plain letters, some with a patient number in the body), then times the
command as a user runs it, start-up included: ``leakguard check --jobs 1`` and
``--jobs 2`` on the whole mbox. The baseline, measured in the same run, is what a
script without archive support does: one ``leakguard check`` process per ``.eml`` file
(on the first ``--baseline`` messages, as it is slow).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from docs_factory import make_docx, make_pdf, make_xlsx  # noqa: E402

FIRST = ["Jean", "Marie", "Paul", "Lucie", "Henri", "Chloé", "Louis", "Emma", "Hugo", "Léa"]
LAST = ["Durand", "Moreau", "Lefèvre", "Garnier", "Roux", "Fournier", "Girard", "Bonnet"]
DOCX = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def nir_for(i: int) -> str:
    first = f"{1 + i % 2}{50 + i % 50:02d}{1 + i % 12:02d}75{100 + i % 900:03d}{i % 1000:03d}"
    return f"{first}{97 - int(first) % 97:02d}"


def _person(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i * 3) % len(LAST)]}"


def attachments(pool: int) -> list[tuple[bytes, tuple[str, str], str]]:
    """A pool of documents reused across messages (building 3,000 PDFs would dominate)."""
    out: list[tuple[bytes, tuple[str, str], str]] = []
    for i in range(pool):
        who = _person(i)
        lines = [f"Compte rendu de consultation - {who}", f"NIR {nir_for(i)}", "Diagnostic : "]
        lines += [f"Ligne {k} du compte rendu, suivi habituel." for k in range(20)]
        kind = i % 3
        if kind == 0:
            out.append((make_pdf(lines), ("application", "pdf"), f"cr-{i}.pdf"))
        elif kind == 1:
            out.append((make_docx(lines), DOCX, f"courrier-{i}.docx"))
        else:
            rows: list[list[str | int | float | None]] = [["Nom", "NIR", "Acte"]]
            rows += [[_person(i + k), nir_for(i + k), "BZQK001"] for k in range(5)]
            out.append((make_xlsx(rows), XLSX, f"export-{i}.xlsx"))
    return out


def message(i: int, docs: list[tuple[bytes, tuple[str, str], str]]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Secrétariat <secretariat@clinique-exemple.fr>"
    to = ["dr.martin@cabinet-exemple.fr", "accueil@clinique-exemple.fr", "patient@exemple.fr"]
    msg["To"] = to[i % len(to)]
    msg["Subject"] = f"Dossier {i}"
    msg["Date"] = f"{1 + i % 28:02d} Nov 2026 09:{i % 60:02d}:00 +0100"
    msg["Message-ID"] = f"<bench-{i}@clinique-exemple.fr>"
    body = f"Bonjour,\nvoici le suivi de {_person(i)}.\n"
    if i % 5 == 0:
        body += f"NIR {nir_for(i)}\n"
    msg.set_content(body + "Cordialement,\nLe secrétariat\n" * 3)
    if i % 3 == 0:
        data, (maintype, subtype), name = docs[(i // 3) % len(docs)]
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


def write_mbox(path: Path, raw: list[bytes]) -> None:
    with path.open("wb") as fh:
        for data in raw:
            fh.write(b"From bench@clinique-exemple.fr Mon Nov 23 09:00:00 2026\n")
            for line in data.replace(b"\r\n", b"\n").splitlines(keepends=True):
                fh.write(b">" + line if line.startswith(b"From ") else line)
            fh.write(b"\n")


def timed(args: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (the command and its workers) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "leakguard.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--baseline", type=int, default=100, help="messages checked one by one")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        docs = attachments(60)
        raw = [message(i, docs) for i in range(opts.messages)]
        box = folder / "Sent.mbox"
        write_mbox(box, raw)
        size = box.stat().st_size / 1e6
        print(f"mbox: {opts.messages} messages, {size:.1f} MB, a third with an attachment")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        rates: dict[str, float] = {}
        for jobs in (1, 2):
            wall, cpu = timed(["check", "--format", "json", "--jobs", str(jobs), str(box)])
            rates[f"jobs={jobs}"] = opts.messages / wall
            print(
                f"check --jobs {jobs}: {wall:7.1f} s  {opts.messages / wall:7.1f} msg/s "
                f"(CPU {cpu:.1f} s: {opts.messages / cpu:.0f} msg per CPU-second)"
            )
        files = []
        for i, data in enumerate(raw[: opts.baseline]):
            f = folder / f"m{i:05d}.eml"
            f.write_bytes(data)
            files.append(f)
        wall = cpu = 0.0
        for f in files:
            w, c = timed(["check", "--format", "json", str(f)])
            wall, cpu = wall + w, cpu + c
        base = len(files) / wall
        print(
            f"baseline, one process per file ({len(files)} files): {base:7.1f} msg/s "
            f"(CPU {cpu:.1f} s: {len(files) / cpu:.1f} msg per CPU-second)"
        )
        print(
            f"speed-up vs baseline: jobs=1 x{rates['jobs=1'] / base:.0f}, "
            f"jobs=2 x{rates['jobs=2'] / base:.0f}; target >= 300 msg/s on 2 cores: "
            + ("met" if rates["jobs=2"] >= 300 else "NOT met")
        )


if __name__ == "__main__":
    main()
