"""Whole-message guard speed: one typical clinic message, and a mail-merge batch.

Run by hand:  python benchmarks/bench_guard.py [--batch 10000] [--workers 2]

Prints the median/p95 time of ``Guard.check`` on a typical message (body + 3-page PDF +
DOCX, 20 colleagues' directory) next to the content-only scan of the same message
(the baseline: what the recipient, policy and audit layers add), then messages per
second for a batch of one-page-PDF mail-merge messages on one core and on all cores.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_content import WORDS, typical_message  # noqa: E402
from docs_factory import make_pdf  # noqa: E402
from leakguard.core import Fingerprinter  # noqa: E402
from leakguard.guard import Guard, scan  # noqa: E402
from leakguard.policy import Policy  # noqa: E402
from leakguard.recipients import Directory  # noqa: E402

COLLEAGUES = [f"prenom{i}.nom{i}@clinique-exemple.fr" for i in range(18)] + [
    "dr.martin@cabinet-exemple.fr",
    "secretariat.vision76@orange.fr",
]


def make_guard() -> Guard:
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    return Guard(policy, directory=Directory.from_addresses(COLLEAGUES))


def nir_for(i: int) -> str:
    first = f"1{80 + i % 20:02d}{1 + i % 12:02d}75{100 + i % 900:03d}{i % 1000:03d}"
    key = 97 - int(first) % 97
    return f"{first}{key:02d}"


def merge_message(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "facturation@clinique-exemple.fr"
    msg["To"] = f"Patient {i} <patient{i}@example.org>"
    msg["Subject"] = "Votre facture"
    msg.set_content("Bonjour,\nVeuillez trouver votre facture ci-jointe.\nCordialement\n")
    pdf = make_pdf([" ".join(WORDS[:14]), f"Patient {i}", f"N° SS {nir_for(i)}"], pages=1)
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="facture.pdf")
    return msg.as_bytes()


_GUARD: Guard | None = None


def _init() -> None:
    global _GUARD
    _GUARD = make_guard()


def _check(raw: bytes) -> str:
    assert _GUARD is not None
    return _GUARD.check(raw).action.value


def bench_typical(runs: int) -> None:
    raw = typical_message()
    guard = make_guard()
    fp = Fingerprinter()
    guard.check(raw)
    scan(raw, fingerprinter=fp)
    g, c = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        guard.check(raw)
        t1 = time.perf_counter()
        scan(raw, fingerprinter=fp)
        t2 = time.perf_counter()
        g.append(t1 - t0)
        c.append(t2 - t1)
    g.sort()
    print(
        f"typical message: Guard.check median {statistics.median(g) * 1000:.1f} ms, "
        f"p95 {g[int(len(g) * 0.95) - 1] * 1000:.1f} ms (target < 30 ms); "
        f"content-only scan median {statistics.median(c) * 1000:.1f} ms"
    )


def bench_batch(n: int, workers: int) -> None:
    distinct = [merge_message(i) for i in range(min(n, 500))]
    batch = [distinct[i % len(distinct)] for i in range(n)]
    single = batch[: max(1, n // 10)]
    _init()
    t0 = time.perf_counter()
    for raw in single:
        _check(raw)
    t_one = time.perf_counter() - t0
    rate_one = len(single) / t_one
    with mp.get_context("fork").Pool(workers, initializer=_init) as pool:
        pool.map(_check, batch[: workers * 4])  # warm-up
        t0 = time.perf_counter()
        actions = pool.map(_check, batch, chunksize=64)
        t_all = time.perf_counter() - t0
    rate_all = n / t_all
    print(
        f"mail-merge batch: {n} one-page-PDF messages, {workers} workers: {rate_all:.0f} msg/s "
        f"(1 core: {rate_one:.0f} msg/s, x{rate_all / rate_one:.2f}; target >= 500 msg/s); "
        f"actions: {sorted(set(actions))}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=mp.cpu_count())
    args = ap.parse_args()
    bench_typical(args.runs)
    bench_batch(args.batch, args.workers)


if __name__ == "__main__":
    main()
