"""Cluster speed: ``leakguard check --cluster`` on a 2-worker Dask cluster against
``--jobs 2`` on the same machine, and how the shard size changes it.

Run by hand:  python benchmarks/bench_cluster.py [--messages 2000] [--repeat 3]
                  [--sizes 4,16,64,256] [--no-pst]

Builds a Sent folder export: an mbox with half of ``--messages`` mixed clinic messages
(a third with a PDF, DOCX or XLSX attachment, as in ``bench_archive.py``) and a Maildir
with the other half; then the same with the Enron sample PST added (71 items whose
pictures are read by OCR when Tesseract is installed: slow, uneven items). Starts
``dask scheduler`` and two ``dask worker --nthreads 1`` on loopback, then times the
command as a user runs it, start-up included: the baseline ``check --jobs 2`` and
``check --cluster`` at each ``--sizes`` (messages per shard), in turns, ``--repeat``
times; medians are printed. The difference of the time per
message is the cluster's cost per message on one machine (serialising shards and
results, the scheduler's round trips), since both runs use the same two cores.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_archive import attachments, message, write_mbox  # noqa: E402


def start_cluster(folder: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A scheduler and two one-thread workers on loopback, logging into ``folder``."""
    found = folder / "scheduler.json"
    procs = []

    def dask(*args: str) -> subprocess.Popen[bytes]:
        log = (folder / f"{args[0]}-{len(procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "dask", *args], stdout=log, stderr=subprocess.STDOUT
        )
        procs.append(proc)
        return proc

    dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(found))  # fmt: skip
    deadline = time.monotonic() + 60
    while not found.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    address = json.loads(found.read_text())["address"]
    for n in (1, 2):
        dask("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
             "--name", f"w{n}", "--local-directory", str(folder / f"w{n}"))  # fmt: skip
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=120)
    return address, procs


Answer = tuple[str, str, bool]  # source, action, a part was cut by the time budget


#: The scheduler's and workers' process ids: their CPU time counts for a cluster run.
CLUSTER: list[int] = []


def _cpu(pid: int) -> float:
    """CPU seconds of a process and of the children it waited for (OCR runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def timed(args: list[str]) -> tuple[float, float, list[Answer]]:
    """Wall-clock seconds of one ``leakguard`` command, the CPU seconds it took (its
    worker processes, and the cluster's processes, included: a figure that load on a
    shared machine hardly changes) and its per-message actions."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cluster = sum(map(_cpu, CLUSTER))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "leakguard.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    cpu += sum(map(_cpu, CLUSTER)) - cluster
    if done.returncode not in (0, 1):
        raise SystemExit(f"leakguard {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
    actions = [
        (
            m["source"],
            m.get("action", "error"),
            any(f.get("detail") == "timeout" for f in m["findings"]),
        )
        for m in json.loads(done.stdout)["messages"]
    ]
    return wall, cpu, actions


def differ(one: list[Answer], other: list[Answer]) -> tuple[int, int]:
    """Messages whose action differs, and how many of them had a part cut by the time
    budget in one of the runs (OCR under load: not a difference of the engines)."""
    assert [a[0] for a in one] == [a[0] for a in other], "not the same messages in order"
    diff = [(a, b) for a, b in zip(one, other, strict=True) if a[1] != b[1]]
    return len(diff), sum(1 for a, b in diff if a[2] or b[2])


def startup(one: str, address: str, repeat: int) -> tuple[float, float]:
    """Seconds a run costs whatever its size: ``check`` of one message, here and on the
    cluster (importing Dask, connecting, sending the guard, closing)."""
    here = [timed(["check", "--format", "json", "--jobs", "2", one])[0] for _ in range(repeat)]
    there = [
        timed(["check", "--format", "json", "--cluster", address, one])[0] for _ in range(repeat)
    ]
    return statistics.median(here), statistics.median(there)


def measure(
    label: str,
    inputs: list[str],
    address: str,
    sizes: list[int],
    repeat: int,
    fixed: tuple[float, float],
) -> None:
    """Time ``--jobs 2`` and the cluster at each shard size on ``inputs``, in turns;
    ``fixed``: the start-up of a run here and on the cluster."""
    runs: dict[str, list[tuple[float, float]]] = {"jobs": []}
    runs.update({f"cluster-{s}": [] for s in sizes})
    reference: list[Answer] = []
    differing = timeouts = 0
    for _ in range(repeat):
        wall, cpu, actions = timed(["check", "--format", "json", "--jobs", "2", *inputs])
        runs["jobs"].append((wall, cpu))
        reference = reference or actions
        for s in sizes:
            wall, cpu, actions = timed(["check", "--format", "json", "--cluster", address,
                                        "--shard-size", str(s), *inputs])  # fmt: skip
            runs[f"cluster-{s}"].append((wall, cpu))
            d, t = differ(reference, actions)
            differing, timeouts = differing + d, timeouts + t
    n = len(reference)
    print(f"\n{label}: {n} messages; medians of {repeat} runs; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    base = statistics.median(w for w, _ in runs["jobs"])
    base_cpu = statistics.median(c for _, c in runs["jobs"]) / n * 1000
    steady = n / (base - fixed[0])
    print(
        f"  check --jobs 2 (baseline):      {base:6.1f} s  {n / base:6.1f} msg/s  "
        f"(start-up left out: {steady:6.1f} msg/s); CPU {base_cpu:.2f} ms per message"
    )
    for s in sizes:
        wall = statistics.median(w for w, _ in runs[f"cluster-{s}"])
        cpu = statistics.median(c for _, c in runs[f"cluster-{s}"]) / n * 1000
        print(
            f"  check --cluster, shard {s:>4}:   {wall:6.1f} s  {n / wall:6.1f} msg/s  "
            f"({100 * base / wall:5.1f} % of --jobs 2; start-up left out: "
            f"{n / (wall - fixed[1]):6.1f} msg/s); CPU {cpu:.2f} ms per message "
            f"({cpu - base_cpu:+.2f})"
        )
    explained = differing == timeouts
    print(
        f"  per-message actions that differ from --jobs 2: {differing}"
        + (" (all cut by the time budget under load)" if differing and explained else "")
        + ("" if explained else f", {differing - timeouts} NOT explained by the time budget")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="4,16,64,256", help="messages per shard, comma-separated")
    ap.add_argument("--no-pst", action="store_true", help="leave the Enron PST out")
    opts = ap.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    print("A shared machine makes every figure noisy: compare within one run.")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        docs = attachments(60)
        raw = [message(i, docs) for i in range(opts.messages)]
        half = len(raw) // 2
        box = folder / "Sent.mbox"
        write_mbox(box, raw[:half])
        maildir = folder / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True)
        for i, data in enumerate(raw[half:]):
            (maildir / "cur" / f"{1_700_000_000 + i}.{i}.bench:2,S").write_bytes(data)
        inputs = [str(box), str(maildir)]
        one = folder / "one.eml"
        one.write_bytes(raw[0])
        address, procs = start_cluster(folder)
        CLUSTER.extend(proc.pid for proc in procs)
        try:
            fixed = startup(str(one), address, opts.repeat)
            print(f"start-up of one run (check of one message): --jobs 2 {fixed[0]:.2f} s, "
                  f"--cluster {fixed[1]:.2f} s")  # fmt: skip
            measure("mbox + Maildir", inputs, address, sizes, opts.repeat, fixed)
            if not opts.no_pst:
                from pst_sample import enron_pst

                inputs.append(str(enron_pst()))
                measure("mbox + Maildir + PST (pictures read by OCR)", inputs, address,
                        sizes, opts.repeat, fixed)  # fmt: skip
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
