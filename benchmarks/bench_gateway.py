"""Gateway figures, each against a baseline measured in the same run:

- the time budget's own cost: ``Guard.check`` of a typical message with a deadline
  against the same check without one, and the gatekeeper (runner, deadline, decision)
  against ``Guard.check`` alone;
- memory under abuse: ``leakguard milter``'s resident memory at rest, with 200 sessions
  left one byte short of a packet, after a macro flood, and at its peak while 4 clients
  send 60 MiB messages at once (``--max-memory`` 512);
- speed: Postfix + ``leakguard milter`` against Postfix alone, and ``leakguard relay``
  against sending straight to the next hop (messages per second, added p50/p99).

Run by hand, as root, with Postfix installed (the Postfix comparison is skipped without):

    python benchmarks/bench_gateway.py [--messages 400] [--clients 8] [--processes 2]
        [--only budget,abuse,speed]

For speed, each client keeps one SMTP connection and sends its share of typical clinic
messages (a short letter with a one-page PDF, nothing to stop). Every accepted message is
then awaited at the sink.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import smtplib
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from docs_factory import make_pdf  # noqa: E402
from gateway_parts import (  # noqa: E402
    MIB,
    MilterPeer,
    Sink,
    free_port,
    memory,
    postfix,
    postfix_available,
    wait_port,
)

LETTER = (
    "Cher confrère,\n\nJe vous adresse Madame Bernard pour le suivi de sa rééducation "
    "après l'intervention du mois dernier. Elle se déplace sans aide et reprend peu à peu "
    "ses activités. Je vous remercie de la recevoir à votre consultation dans les "
    "prochaines semaines.\n\nBien confraternellement,\nLe secrétariat de la clinique\n"
)


def typical_messages(count: int) -> list[bytes]:
    pdf = make_pdf(["Programme de rééducation", "Séances : 10", "Rendez-vous à fixer"], pages=1)
    out = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = "secretariat@clinique-exemple.fr"
        msg["To"] = "Dr Martin <dr.martin@cabinet-exemple.fr>"
        msg["Subject"] = f"Courrier {i}"
        msg["Message-ID"] = make_msgid(domain="clinique-exemple.fr")
        msg.set_content(LETTER)
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="programme.pdf")
        out.append(msg.as_bytes(policy=SMTP))
    return out


def run_clients(port: int, messages: list[bytes], clients: int) -> tuple[float, list[float]]:
    """Wall time and per-message latencies (seconds) for all clients together."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def client(share: list[bytes]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
            for data in share:
                t0 = time.perf_counter()
                try:
                    c.sendmail(
                        "secretariat@clinique-exemple.fr", ["dr.martin@cabinet-exemple.fr"], data
                    )
                except smtplib.SMTPException as exc:
                    errors.append(type(exc).__name__)
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)

    threads = [
        threading.Thread(target=client, args=(messages[i::clients],)) for i in range(clients)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} messages refused ({errors[0]}): the figures would lie")
    return wall, latencies


class SinkProcess:
    """The next hop in its own process, so it does not share the clients' interpreter."""

    def __init__(self) -> None:
        self.port = free_port()
        self._count = mp.Value("i", 0)
        self._stop = mp.Event()
        self._proc = mp.Process(target=_sink_main, args=(self.port, self._count, self._stop))

    def start(self) -> SinkProcess:
        self._proc.start()
        wait_port(self.port)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._proc.join(10)

    def received(self) -> int:
        return int(self._count.value)

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.received() < count and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.received() < count:
            raise SystemExit(f"only {self.received()} of {count} messages reached the sink")


def _sink_main(port: int, count: Any, stop: Any) -> None:
    sink = Sink(port=port).start()
    while not stop.wait(0.01):
        count.value = len(sink.received)
    sink.stop()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    label: str, port: int, sink: SinkProcess, messages: list[bytes], clients: int
) -> tuple[float, float, float]:
    before = sink.received()
    run_clients(port, messages[: max(clients, 10)], clients)  # warm-up: processes, imports
    wall, lat = run_clients(port, messages, clients)
    sink.wait_for(before + len(messages) + max(clients, 10), timeout=120)
    rate = len(messages) / wall
    p50, p99 = pct(lat, 0.50) * 1000, pct(lat, 0.99) * 1000
    print(f"  {label:<28} {rate:8.0f} msg/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    return rate, p50, p99


def compare(
    title: str,
    base: Callable[[], tuple[float, float, float]],
    gated: Callable[[], tuple[float, float, float]],
) -> None:
    print(title)
    b_rate, b50, b99 = base()
    g_rate, g50, g99 = gated()
    print(
        f"  {'added by leakguard':<28} {g_rate / b_rate:8.2f} x rate "
        f"p50 +{g50 - b50:6.1f} ms   p99 +{g99 - b99:6.1f} ms"
    )


def start_command(args: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "leakguard.cli", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    wait_port(port, 30)
    return proc


def bench_budget(messages: list[bytes], runs: int) -> None:
    """What the hard time budget costs a typical message: a check with a deadline and
    the gatekeeper's whole path (runner, deadline, decision) against the same check
    without a deadline, on the same message one right after the other, in turns."""
    from leakguard.core import Deadline
    from leakguard.gateway import Gatekeeper
    from leakguard.guard import Guard

    guard = Guard()
    keeper = Gatekeeper(Guard(), interface="bench", timeout=20.0)
    sample = messages[: min(len(messages), 50)]
    rcpt = ["dr.martin@cabinet-exemple.fr"]

    async def rounds() -> tuple[list[float], list[float], list[float]]:
        base: list[float] = []
        deadline: list[float] = []
        gated: list[float] = []
        for data in sample[:5]:  # warm-up: imports, caches, the worker threads
            guard.check(data)
            await keeper.decide(data, rcpt)
        for n in range(runs):
            for data in sample:
                took = {}
                order = ("base", "deadline", "gated") if n % 2 else ("gated", "deadline", "base")
                for what in order:
                    t0 = time.perf_counter()
                    if what == "base":
                        guard.check(data, envelope_recipients=rcpt)
                    elif what == "deadline":
                        guard.check(data, envelope_recipients=rcpt, deadline=Deadline.after(20))
                    else:
                        await keeper.decide(data, rcpt)
                    took[what] = time.perf_counter() - t0
                base.append(took["base"])
                deadline.append(took["deadline"] - took["base"])
                gated.append(took["gated"] - took["base"])
        return base, deadline, gated

    base, deadline, gated = asyncio.run(rounds())
    keeper.close()
    ms = 1000.0
    print(f"time budget, {len(base)} checks of a typical message (medians):")
    print(f"  Guard.check without a deadline  {statistics.median(base) * ms:7.2f} ms")
    print(f"  + a deadline                    {statistics.median(deadline) * ms:+7.2f} ms")
    print(f"  + the gatekeeper's whole path   {statistics.median(gated) * ms:+7.2f} ms")


def bench_abuse(work: Path) -> None:
    """The milter's resident memory under abuse, against its own memory at rest."""
    port = free_port()
    proc = start_command(
        ["milter", "--listen", f"inet:127.0.0.1:{port}", "--audit-log", str(work / "abuse.jsonl")],
        port,
        work / "abuse.log",
    )
    peers: list[MilterPeer] = []
    try:
        rest, _ = memory(proc.pid)
        for _ in range(200):
            peer = MilterPeer(port)
            peer.negotiate()
            peer.sock.sendall(struct.pack(">I", MIB) + b"B" + bytes(MIB - 2))
            peers.append(peer)
        time.sleep(0.5)
        half_open, _ = memory(proc.pid)
        started = time.monotonic()
        closed = [peer.closed_by_peer(30) for peer in peers]
        dropped_after = time.monotonic() - started
        for peer in peers:
            peer.close()
        flood = MilterPeer(port)
        flood.negotiate()
        sent = 0
        try:
            for stage in b"CHMRTENL":
                for n in range(64):
                    value = bytes([stage]) + f"m{n}".encode() + b"\0" + b"v" * (MIB - 64) + b"\0"
                    flood.send(b"D", value)
                    sent += 1
        except OSError:
            pass
        flood.close()
        after_flood, _ = memory(proc.pid)
        replies: list[bytes] = []

        def big(n: int) -> None:
            peer = MilterPeer(port, timeout=300)
            try:
                peer.negotiate()
                peer.message(
                    [("From", "a@clinique-exemple.fr"), ("To", "b@gmail.com"), ("Subject", f"{n}")],
                    60 * MIB,
                    "b@gmail.com",
                )
                replies.append(peer.final()[1][:3])
            finally:
                peer.close()

        threads = [threading.Thread(target=big, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _, peak = memory(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    print("milter memory under abuse (--max-memory 512, resident memory):")
    print(f"  at rest                                      {rest / MIB:6.0f} MiB")
    print(
        f"  200 sessions one byte short of a 1 MiB packet {half_open / MIB:6.0f} MiB   "
        f"(+{(half_open - rest) / MIB:.0f}); all {closed.count(True)} closed "
        f"{dropped_after:.1f} s later"
    )
    print(
        f"  after a macro flood ({sent} of 512 packets read)   {after_flood / MIB:6.0f} MiB   "
        f"(+{(after_flood - rest) / MIB:.0f})"
    )
    print(
        f"  peak, 4 parallel 60 MiB messages             {peak / MIB:6.0f} MiB   "
        f"(+{(peak - rest) / MIB:.0f}); replies {sorted(r.decode() for r in replies)}"
    )


def bench_speed(args: argparse.Namespace, messages: list[bytes], work: Path) -> None:
    sink = SinkProcess().start()
    audit = [
        "--audit-log",
        str(work / "audit.jsonl"),
        "--workers",
        str(args.workers),
        "--processes",
        str(args.processes),
    ]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        size = len(messages[0]) / 1024
        print(
            f"{args.messages} messages of {size:.0f} KB (letter + 1-page PDF), "
            f"{args.clients} clients, leakguard with {args.processes} process(es) "
            f"of {args.workers} check thread(s)"
        )
        relay_port = free_port()
        procs.append(
            start_command(
                [
                    "relay",
                    "--listen",
                    f"127.0.0.1:{relay_port}",
                    "--next-hop",
                    f"127.0.0.1:{sink.port}",
                    *audit,
                ],
                relay_port,
                work / "relay.log",
            )
        )
        compare(
            "relay vs direct send to the next hop",
            lambda: measure("direct to the next hop", sink.port, sink, messages, args.clients),
            lambda: measure("through leakguard relay", relay_port, sink, messages, args.clients),
        )
        if not postfix_available():
            print("Postfix comparison skipped: Postfix is not installed or this is not root")
            return
        milter_port = free_port()
        procs.append(
            start_command(
                ["milter", "--listen", f"inet:127.0.0.1:{milter_port}", *audit],
                milter_port,
                work / "milter.log",
            )
        )
        with (
            postfix(sink.port, None) as alone,
            postfix(sink.port, f"inet:127.0.0.1:{milter_port}") as gated,
        ):
            compare(
                "Postfix + milter vs Postfix alone",
                lambda: measure("Postfix alone", alone.port, sink, messages, args.clients),
                lambda: measure(
                    "Postfix + leakguard milter", gated.port, sink, messages, args.clients
                ),
            )
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        sink.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="leakguard check threads")
    ap.add_argument("--processes", type=int, default=2, help="leakguard worker processes")
    ap.add_argument("--runs", type=int, default=10, help="rounds of the time budget figures")
    ap.add_argument("--only", default="budget,abuse,speed", help="which figures to print")
    args = ap.parse_args()
    only = set(args.only.split(","))
    messages = typical_messages(args.messages + max(args.clients, 10))
    work = Path(tempfile.mkdtemp(prefix="leakguard-bench-"))
    print("(a shared machine gives noisy figures: compare each line with its baseline)")
    if "budget" in only:
        bench_budget(messages, args.runs)
    if "abuse" in only:
        bench_abuse(work)
    if "speed" in only:
        bench_speed(args, messages, work)


if __name__ == "__main__":
    main()
