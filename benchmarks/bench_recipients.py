"""Benchmark of the recipient guard against brute force at 10k, 100k and 1M colleagues.

Run ``python benchmarks/bench_recipients.py [--sizes 10000,100000] [--queries 2000]``.
For each size it builds a synthetic directory of realistic addresses, times the
directory and the index builds, measures the memory of the index (its arrays, and the
growth of the resident set during the build: kept and peak, on Linux), the
median and p99 time per recipient (and the median over the recipients who are not
colleagues, which cost the most), and runs ``rapidfuzz.process.extract`` over the same
addresses on a sample of the same queries to check the answers are identical and print
how much faster the index is.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from leakguard.core import Location
from leakguard.recipients import Directory, RecipientGuard


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words(
    """
    jean marie pierre sophie luc anne paul julie nicolas camille thomas lea francois
    helene louis emma hugo chloe arthur manon jules ines gabriel sarah raphael lucie
    adam zoe leo alice nathan clara antoine laura mathieu pauline alexandre marine
    maxime oceane julien elodie romain celine vincent aurelie guillaume mathilde benoit
    isabelle olivier nathalie philippe sylvie christophe valerie eric sandrine
    """
)
LAST = _words(
    """
    martin bernard dubois thomas robert richard petit durand leroy moreau simon laurent
    lefebvre michel garcia david bertrand roux vincent fournier morel girard andre
    lefevre mercier dupont lambert bonnet francois martinez legrand garnier faure
    rousseau blanc guerin muller henry roussel nicolas perrin morin mathieu clement
    gauthier dumont lopez fontaine chevalier robin masson sanchez gerard nguyen boyer
    denis lemaire duval joly gautier roger roche roy noel meyer lucas meunier jean perez
    marchand dufour blanchard marie barbier brun dumas brunet schmitt leroux colin
    fernandez pierre renard arnaud rolland caron aubert giraud
    """
)
DOMAINS = _words(
    """
    chu-rouen.fr aphp.fr chu-lyon.fr ch-havre.fr chu-bordeaux.fr chu-lille.fr
    chu-nantes.fr chu-toulouse.fr ap-hm.fr chu-montpellier.fr chru-strasbourg.fr
    clinique-saint-joseph.fr centre-sante-havre.fr ght-normandie.fr ars.sante.fr
    ameli.fr mssante.fr medecin.mssante.fr pharmacien.mssante.fr gmail.com orange.fr
    """
)
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789.-"


def synthetic_addresses(count: int, seed: int = 7) -> list[str]:
    """Distinct addresses shaped like real ones: names, initials, numbers."""
    rnd = random.Random(seed)
    out: set[str] = set()
    while len(out) < count:
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        shape = rnd.random()
        if shape < 0.45:
            local = f"{first}.{last}"
        elif shape < 0.6:
            local = f"{first[0]}.{last}"
        elif shape < 0.7:
            local = f"{first[0]}{last}"
        elif shape < 0.8:
            local = f"{first}-{rnd.choice(FIRST)}.{last}"
        else:
            local = f"{first}.{last}{rnd.randint(1, 999)}"
        out.add(f"{local}@{rnd.choice(DOMAINS)}")
    return sorted(out)


def mutate(address: str, rnd: random.Random) -> str:
    """One random edit: substitution, insertion, deletion or adjacent transposition."""
    i = rnd.randrange(len(address))
    op = rnd.randrange(4)
    if op == 0:
        return address[:i] + rnd.choice(ALPHABET) + address[i + 1 :]
    if op == 1:
        return address[:i] + rnd.choice(ALPHABET) + address[i:]
    if op == 2:
        return address[:i] + address[i + 1 :]
    i = min(i, len(address) - 2)
    return address[:i] + address[i + 1] + address[i] + address[i + 2 :]


def queries_for(addresses: list[str], count: int, seed: int = 11) -> list[str]:
    """A third colleagues' own addresses, a third one edit away, a third unrelated."""
    rnd = random.Random(seed)
    unrelated = synthetic_addresses(count, seed=seed + 1)
    out: list[str] = []
    for k in range(count):
        source = rnd.choice(addresses)
        if k % 3 == 0:
            out.append(source)
        elif k % 3 == 1:
            out.append(mutate(source, rnd))
        else:
            out.append(unrelated[k].replace("@", "@x", 1))
    return out


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Restart the peak-RSS counter (Linux); False where that cannot be done."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(size: int, n_queries: int, n_brute: int) -> dict[str, float | int | str]:
    addresses = synthetic_addresses(size)
    gc.collect()
    rss_start = _status_kb("VmRSS")
    t0 = time.perf_counter()
    directory = Directory.from_addresses(addresses)
    load_s = time.perf_counter() - t0
    rss_loaded = _status_kb("VmRSS")
    directory_mb = (rss_loaded - rss_start) / 1e3 if rss_start and rss_loaded else float("nan")
    gc.collect()
    rss_before = _status_kb("VmRSS")
    can_peak = _reset_peak()
    t0 = time.perf_counter()
    guard = RecipientGuard(directory)
    build_s = time.perf_counter() - t0
    rss_after = _status_kb("VmRSS")
    hwm = _status_kb("VmHWM") if can_peak else None
    kept = (rss_after - rss_before) * 1e3 if rss_before and rss_after else float("nan")
    peak = (hwm - rss_before) * 1e3 if hwm and rss_before else float("nan")
    queries = queries_for(directory._addresses, n_queries)
    to = Location.header("to")
    for q in queries[:50]:  # warm the code paths, not the data
        guard.check([("", q, to)])
    gc.disable()
    check_times: list[float] = []
    for q in queries:
        t0 = time.perf_counter()
        guard.check([("", q, to)])
        check_times.append(time.perf_counter() - t0)
    colleagues = set(directory._addresses)
    outsider_times = [t for q, t in zip(queries, check_times, strict=True) if q not in colleagues]
    search_times: list[float] = []
    for q in queries:
        t0 = time.perf_counter()
        guard.lookalikes(q)
        search_times.append(time.perf_counter() - t0)
    gc.enable()
    sample = queries[:n_brute]
    brute_times: list[float] = []
    mismatches = 0
    for q in sample:
        t0 = time.perf_counter()
        hits = process.extract(
            q, directory._addresses, scorer=OSA.distance, score_cutoff=1, limit=None
        )
        brute_times.append(time.perf_counter() - t0)
        expected = set() if q in colleagues else {h[0] for h in hits if h[0] != q}
        got = {m.address for m in guard.lookalikes(q) if not m.homoglyph}
        mismatches += expected != got
    median_search = statistics.median(search_times)
    median_brute = statistics.median(brute_times)
    return {
        "size": size,
        "load_s": load_s,
        "directory_mb": directory_mb,
        "build_s": build_s,
        "index_mb": guard.index_bytes / 1e6,
        "kept_mb": kept / 1e6,
        "peak_mb": peak / 1e6,
        "check_med_us": statistics.median(check_times) * 1e6,
        "check_p99_us": percentile(check_times, 0.99) * 1e6,
        "outsider_med_us": statistics.median(outsider_times) * 1e6,
        "search_med_us": median_search * 1e6,
        "search_p99_us": percentile(search_times, 0.99) * 1e6,
        "brute_med_us": median_brute * 1e6,
        "ratio": median_brute / median_search,
        "brute_queries": len(sample),
        "identical": "yes" if mismatches == 0 else f"NO ({mismatches})",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--brute", type=int, default=0, help="brute-force queries (0: auto)")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    columns = (
        ("size", "colleagues", "{:>10,}"),
        ("load_s", "load s", "{:>6.2f}"),
        ("directory_mb", "dir MB", "{:>6.0f}"),
        ("build_s", "build s", "{:>7.2f}"),
        ("index_mb", "arrays MB", "{:>9.0f}"),
        ("kept_mb", "RSS +MB", "{:>7.0f}"),
        ("peak_mb", "peak +MB", "{:>8.0f}"),
        ("check_med_us", "check med µs", "{:>12.1f}"),
        ("check_p99_us", "check p99 µs", "{:>12.1f}"),
        ("outsider_med_us", "outsiders med µs", "{:>16.1f}"),
        ("search_med_us", "search med µs", "{:>13.1f}"),
        ("search_p99_us", "search p99 µs", "{:>13.1f}"),
        ("brute_med_us", "brute med µs", "{:>12.0f}"),
        ("ratio", "speed-up", "{:>8.0f}x"),
        ("brute_queries", "brute n", "{:>7}"),
        ("identical", "identical", "{:>9}"),
    )
    print(" | ".join(title for _, title, _ in columns))
    failed = False
    for size in sizes:
        brute = args.brute or max(20, min(args.queries, 2_000_000_000 // (size * 1000)))
        row = run(size, args.queries, brute)
        print(" | ".join(fmt.format(row[key]) for key, _, fmt in columns), flush=True)
        failed |= row["identical"] != "yes"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
