"""Benchmark of ``leakguard learn`` and of the checks it adds to ``Guard.check``.

Run ``python benchmarks/bench_learn.py [--messages 100000] [--jobs 1] [--addresses 50000]``.

1. Learning: writes an mbox of ``--messages`` generated sent messages over five years
   (one to four recipients among a few thousand correspondents, one in ten carrying a
   NIR), times reading the mbox alone (baseline) and learning it into a store, and
   prints the store's size. With fewer messages than 100,000 it also prints the time
   and size extrapolated to 100,000.
2. Checking: builds a store of ``--addresses`` addresses (and their groups) directly,
   then times ``Guard.check`` over the same messages with and without the store, in
   the same run, and prints the time the store adds per message (target: under 1 ms)
   and the one-time cost of opening the store and building its look-alike index.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from leakguard.archives import iter_messages
from leakguard.correspondents import Correspondents
from leakguard.correspondents._store import Tally
from leakguard.guard import Guard
from leakguard.learn import learn
from leakguard.policy import Policy

NOW = datetime(2026, 6, 1, tzinfo=UTC)
FIRST = "jean marie pierre sophie luc anne paul julie nicolas camille thomas lea hugo".split()
LAST = "martin bernard dubois robert richard petit durand leroy moreau simon laurent".split()
DOMAINS = "gmail.com orange.fr free.fr chu-rouen.fr labo-exemple.fr cabinet-exemple.fr".split()
NIR = "1 85 05 75 112 345 29"


def _address(rng: random.Random, i: int) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return (f"{first.title()} {last.upper()}", f"{first}.{last}{i}@{rng.choice(DOMAINS)}")


def write_sent(path: Path, messages: int, correspondents: int, seed: int = 1) -> None:
    """An mbox of ``messages`` sent messages over five years, written as raw text."""
    rng = random.Random(seed)
    people = [_address(rng, i) for i in range(correspondents)]
    # A few are written to often (Zipf); cumulative weights make each draw O(log n).
    cum = list(itertools.accumulate(1 / (k + 1) for k in range(correspondents)))
    start = NOW - timedelta(days=5 * 365)
    step = (NOW - start) / messages
    with path.open("w", encoding="utf-8") as fh:
        for n in range(messages):
            when = start + step * n
            to = rng.choices(people, cum_weights=cum, k=rng.choice((1, 1, 1, 2, 2, 3, 4)))
            heads = ", ".join(f'"{name}" <{addr}>' for name, addr in to)
            body = "Bonjour,\nVoici les informations demandées.\nCordialement\n"
            if n % 10 == 0:
                body += f"Patient NIR {NIR}, compte rendu de consultation.\n"
            fh.write(
                f"From secretariat@clinique-exemple.fr {when:%a %b %d %H:%M:%S %Y}\n"
                "From: Secretariat <secretariat@clinique-exemple.fr>\n"
                f"To: {heads}\nSubject: Message {n}\nDate: {format_datetime(when)}\n"
                f"Message-ID: <bench-{n}@clinique-exemple.fr>\nMIME-Version: 1.0\n"
                'Content-Type: text/plain; charset="utf-8"\n\n'
                f"{body}\n"
            )


def bench_learning(folder: Path, messages: int, jobs: int) -> None:
    sent = folder / "Sent.mbox"
    t0 = time.perf_counter()
    write_sent(sent, messages, correspondents=max(100, messages // 12))
    written = time.perf_counter() - t0
    t0 = time.perf_counter()
    count = sum(1 for _ in iter_messages(sent))
    read = time.perf_counter() - t0
    store = folder / "learned.db"
    t0, c0 = time.perf_counter(), time.process_time()
    summary = learn([sent], store, jobs=jobs, clock=lambda: NOW)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert summary.learned == count == messages
    size = summary.size
    print(
        f"learning {messages} sent messages ({sent.stat().st_size / 1e6:.0f} MB mbox, "
        f"written in {written:.1f} s), {jobs} worker(s):"
    )
    print(f"  baseline, reading the mbox alone: {read:.1f} s")
    print(
        f"  learn: {took:.1f} s ({messages / took:.0f} messages/s; CPU of this process "
        f"{cpu:.1f} s); store {size / 1e6:.2f} MB"
        f" ({summary.addresses} addresses, {summary.domains} domains, "
        f"{summary.groups} groups, {summary.sensitive} sensitive messages)"
    )
    if messages < 100_000:
        scale = 100_000 / messages
        print(
            f"  extrapolated to 100,000 messages: {took * scale:.0f} s, store about "
            f"{size * scale / 1e6:.1f} MB"
        )


def bench_checking(folder: Path, addresses: int, queries: int) -> None:
    rng = random.Random(2)
    people = [_address(rng, i)[1] for i in range(addresses)]
    tally = Tally()
    when = int((NOW - timedelta(days=400)).timestamp())
    key = 0
    for i, address in enumerate(people):
        for _ in range(1 + (i % 5)):  # one to five messages each: most are "frequent"
            key += 1
            others = [(rng.choice(people), "")] if i % 3 == 0 else []
            tally.add(key, when + key, [(address, "X Y"), *others], i % 7 == 0)
    store = folder / "checked.db"
    tally.save(store, learned_at=int(NOW.timestamp()))
    t0 = time.perf_counter()
    book = Correspondents.open(store, clock=lambda: NOW)
    opened = time.perf_counter() - t0
    t0 = time.perf_counter()
    book.lookalikes("warm@example.org")  # builds the look-alike index
    indexed = time.perf_counter() - t0
    # CPU time of this process: the check is single-threaded and the machine may be
    # shared, which would add other programs' time to a wall clock.
    # Messages to known, unknown, look-alike and grouped recipients, some sensitive.
    samples: list[bytes] = []
    for n in range(queries):
        a, b = rng.choice(people), rng.choice(people)
        kind = n % 4
        to = {0: a, 1: f"new{n}@example.org", 2: a.replace(".", "_", 1), 3: f"{a}, {b}"}[kind]
        body = f"NIR {NIR}\n" if n % 2 else "Bonjour\n"
        samples.append(
            f"From: s@clinique-exemple.fr\nTo: {to}\nSubject: x\n"
            f"Message-ID: <q{n}@x>\n\n{body}".encode()
        )
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    plain, learned = Guard(policy), Guard(policy, correspondents=book)
    for g in (plain, learned):  # warm up
        for data in samples[:50]:
            g.check(data)
    rounds: dict[str, list[float]] = {"plain": [], "learned": []}
    for _ in range(3):
        for name, g in (("plain", plain), ("learned", learned)):
            t0 = time.process_time()
            for data in samples:
                g.check(data)
            rounds[name].append((time.process_time() - t0) / len(samples))
    base, with_store = min(rounds["plain"]), min(rounds["learned"])
    added = with_store - base
    print(
        f"checking with a store of {addresses} addresses ({store.stat().st_size / 1e6:.1f} MB;"
        f" open {opened * 1000:.0f} ms, look-alike index {indexed * 1000:.0f} ms once):"
    )
    print(f"  baseline Guard.check without a store: {base * 1e6:.0f} µs/message")
    print(f"  Guard.check with the store:          {with_store * 1e6:.0f} µs/message")
    print(
        f"  added: {added * 1e6:.0f} µs/message (target < 1000 µs; median of 3 rounds "
        f"{(statistics.median(rounds['learned']) - statistics.median(rounds['plain'])) * 1e6:.0f}"
        " µs)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000, help="sent messages to learn")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes for learning")
    ap.add_argument("--addresses", type=int, default=50_000, help="addresses in the store")
    ap.add_argument("--queries", type=int, default=2_000, help="messages checked per round")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_learning(folder, args.messages, args.jobs)
        bench_checking(folder, args.addresses, args.queries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
