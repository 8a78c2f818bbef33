"""The national MSSanté directory: start-up time and memory, and the cost it adds per check.

Run by hand:  python benchmarks/bench_mssante.py [--rows 535000] [--checks 1500] [--repeat 2]

Writes a generated extraction of the real shape (31 columns, PER and ORG, addresses on
several lines, a few bad rows) as ``.txt`` and ``.zip`` in a temporary folder, then:

- start-up, each in a fresh process: the baseline (``Guard()`` without the directory),
  the first start that builds the cache (cold) and the next one that maps it (warm),
  for both forms: wall and CPU seconds, resident memory after loading and its peak;
- per check, in this process: ``Guard.check`` of five kinds of message with and without
  the directory, interleaved, median and p95, and the difference (the extra cost);
- the look-ups alone: is an address listed, its look-alikes, a name's professionals.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import NIR, message  # noqa: E402
from leakguard import Guard, Policy  # noqa: E402
from leakguard.recipients import HealthDirectory  # noqa: E402
from mssante_factory import KNOWN, ZIP_MEMBER, write_extraction  # noqa: E402

_START = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from leakguard import Guard
from leakguard.recipients import HealthDirectory
path, cache = sys.argv[1], sys.argv[2]
if path == "-":
    guard = Guard()
else:
    guard = Guard(health_directory=HealthDirectory.load(path, cache=cache))
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
status = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status")
          if l.startswith(("VmRSS", "VmHWM"))}
state = guard.health_directory.cache if guard.health_directory is not None else "-"
print(json.dumps({"wall": wall, "cpu": cpu, "rss": status["VmRSS"] / 1024,
                  "peak": status["VmHWM"] / 1024, "cache": state}))
"""


def start(path: str, cache: str) -> dict[str, float | str]:
    out = subprocess.run(
        [sys.executable, "-c", _START, path, cache],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float | str] = json.loads(out)
    return result


def startup(files: dict[str, Path], folder: Path, repeat: int) -> None:
    print("\nStart-up, each in a fresh process (seconds wall / CPU, MB resident / peak):")
    rows: list[tuple[str, list[dict[str, float | str]]]] = []
    rows.append(
        ("baseline: Guard() without the directory", [start("-", "-") for _ in range(repeat)])
    )
    for form, path in files.items():
        cold, warm = [], []
        for i in range(repeat):
            cache = folder / f"{form}-{i}.cache"
            cold.append(start(str(path), str(cache)))
            warm.append(start(str(path), str(cache)))
        rows.append((f"{form}: first start, builds the cache", cold))
        rows.append((f"{form}: next start, maps the cache", warm))
    for label, runs in rows:
        wall = statistics.median(float(r["wall"]) for r in runs)
        cpu = statistics.median(float(r["cpu"]) for r in runs)
        rss = max(float(r["rss"]) for r in runs)
        peak = max(float(r["peak"]) for r in runs)
        spread = (
            f"{min(float(r['wall']) for r in runs):.2f}-{max(float(r['wall']) for r in runs):.2f}"
        )
        print(
            f"  {label:<44} {wall:6.2f} s ({spread}) / {cpu:5.2f} s CPU   "
            f"{rss:5.0f} MB / {peak:5.0f} MB peak   [{runs[0]['cache']}]"
        )


def messages() -> dict[str, EmailMessage]:
    sensitive = f"Bonjour,\nNIR du patient : {NIR}\nCompte rendu de consultation.\n"
    jerome = KNOWN[0]
    return {
        "doctor's Gmail, health data": message(
            to=f"Dr {jerome.first} {jerome.last} <jdl.cabinet@gmail.com>", body=sensitive
        ),
        "homonyms' Gmail, health data": message(
            to="Bérénice Quintard <bq@orange.fr>", body=sensitive
        ),
        "typo of a listed mailbox": message(to=jerome.address.replace("lefevre", "lefevr")),
        "unknown MSSanté address": message(to="x.y.z@medecin.mssante.fr"),
        "listed mailbox": message(to=jerome.address, body=sensitive),
        "ordinary outside address": message(to="Claire Martin <c.martin@cabinet-exemple.fr>"),
    }


def per_check(directory: HealthDirectory, checks: int) -> None:
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    without = Guard(policy)
    with_dir = Guard(policy, health_directory=directory)
    print(f"\nPer check, {checks} interleaved checks of each message (µs, median / p95):")
    print(f"  {'message':<32} {'without':>16} {'with':>16} {'extra':>8}")
    extras = []
    for label, msg in messages().items():
        raw = msg.as_bytes()
        for _ in range(30):  # warm the code paths and the mapped pages
            without.check(raw)
            with_dir.check(raw)
        base: list[float] = []
        more: list[float] = []
        for _ in range(checks):
            t0 = time.perf_counter()
            without.check(raw)
            t1 = time.perf_counter()
            with_dir.check(raw)
            t2 = time.perf_counter()
            base.append((t1 - t0) * 1e6)
            more.append((t2 - t1) * 1e6)
        extra = statistics.median(more) - statistics.median(base)
        extras.append(extra)
        p95 = sorted(more)[int(0.95 * len(more))]
        p95b = sorted(base)[int(0.95 * len(base))]
        print(
            f"  {label:<32} {statistics.median(base):7.0f} / {p95b:6.0f} "
            f"{statistics.median(more):7.0f} / {p95:6.0f} {extra:+8.0f}"
        )
    print(f"  largest extra cost per check: {max(extras):.0f} µs")


def lookups(directory: HealthDirectory, count: int) -> None:
    jerome = KNOWN[0]
    cases = {
        "address in directory (listed)": lambda: jerome.address in directory,
        "address in directory (not listed)": lambda: "jdl.cabinet@gmail.com" in directory,
        "lookalike (one keystroke away)": lambda: directory.lookalike(
            jerome.address.replace("lefevre", "lefevr")
        ),
        "lookalike (Gmail address)": lambda: directory.lookalike("jdl.cabinet@gmail.com"),
        "professionals (one)": lambda: directory.professionals("Dr Jérôme Dupont-Lefèvre"),
        "professionals (four homonyms)": lambda: directory.professionals("Bérénice Quintard"),
        "professionals (nobody)": lambda: directory.professionals("Zoé Introuvable"),
    }
    print(f"\nLook-ups alone, {count} each (µs, median / p95):")
    for label, call in cases.items():
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1e6)
        times.sort()
        print(f"  {label:<36} {statistics.median(times):6.1f} / {times[int(0.95 * count)]:6.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=535_000)
    ap.add_argument("--checks", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        text = write_extraction(folder / "mssante.txt", args.rows)
        archive = folder / "mssante.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            z.write(text, ZIP_MEMBER.format(stamp="202405061432"))
        print(
            f"Generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s: "
            f"{text.stat().st_size / 1e6:.0f} MB of text, {archive.stat().st_size / 1e6:.0f} MB "
            "zipped. Timings vary on a shared machine: compare with the baseline of the same run."
        )
        startup({"txt": text, "zip": archive}, folder, args.repeat)
        directory = HealthDirectory.load(archive, cache=folder / "zip-0.cache")
        print(
            f"\n{directory.describe('en')}; {directory.rows:,} rows used, "
            f"{directory.bad_rows} unusable; {directory.personal:,} PER, "
            f"{directory.organisational:,} ORG; cache "
            f"{(folder / 'zip-0.cache').stat().st_size / 1e6:.0f} MB"
        )
        lookups(directory, 3000)
        per_check(directory, args.checks)


if __name__ == "__main__":
    main()
