"""``leakguard serve`` speed: HTTP overhead over an in-process check, throughput, and
the service under abuse.

Run by hand:  python benchmarks/bench_serve.py [--runs 200] [--clients 20] [--requests 400]
              python benchmarks/bench_serve.py --abuse-only

Starts ``leakguard serve`` (plain HTTP on 127.0.0.1, a subprocess, so the server does
not share the interpreter with the clients) and measures, for a typical message (body +
3-page PDF):

- the baseline: ``Guard.check`` in this process, p50 / p99;
- ``POST /v1/check`` with the raw message (message/rfc822) and with the add-in's JSON,
  p50 / p99, one request at a time over a kept-alive connection; the difference from the
  baseline is what HTTP, parsing, composing and the thread hand-off cost;
- throughput with N concurrent clients (default 20) against checks per second of the
  same guard on as many threads as the service uses (one per core);
- under abuse (the service's promise in docs/outlook.md): a small check and /healthz,
  first on the idle service (the baseline), then while 500 connections sit idle and 20
  requests of 34 MB arrive at once; what the large requests got, and the service's peak
  memory (service and checker processes) against its idle memory.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_content import WORDS  # noqa: E402
from docs_factory import make_pdf  # noqa: E402
from leakguard.guard import Guard  # noqa: E402
from leakguard.policy import Policy  # noqa: E402
from serve_helpers import (  # noqa: E402
    SMALL,
    Service,
    connect,
    large_request_body,
    post_polite,
    raw_request,
    rss_peak_mb,
    serve_process,
)
from serve_helpers import (  # noqa: E402
    TOKEN as SERVE_TOKEN,
)

TOKEN = "bench-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def typical() -> tuple[bytes, dict[str, Any]]:
    """The message as .eml bytes, and the JSON the add-in would send for it."""
    body = " ".join(WORDS) + "\nCordialement,\nLe secrétariat\n"
    lines = [" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS) - 12, 4)]
    pdf = make_pdf([*lines, "NIR : 1 85 05 75 112 345 29"], pages=3)
    msg = EmailMessage()
    msg["From"] = "secretariat@clinique-exemple.fr"
    msg["To"] = "Dr Martin <dr.martin@cabinet-exemple.fr>"
    msg["Subject"] = "Compte rendu"
    msg.set_content(body)
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="compte-rendu.pdf")
    request = {
        "from": {"name": "", "address": "secretariat@clinique-exemple.fr"},
        "to": [{"name": "Dr Martin", "address": "dr.martin@cabinet-exemple.fr"}],
        "subject": "Compte rendu",
        "body": {"text": body, "html": None},
        "attachments": [
            {
                "name": "compte-rendu.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(pdf).decode(),
            }
        ],
        "lang": "fr",
    }
    return msg.as_bytes(), request


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def start_service() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("leakguard")
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--internal-domain", "clinique-exemple.fr"],
        env={**os.environ, "LEAKGUARD_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(base + "/healthz", timeout=1)
            return proc, base
        except httpx.TransportError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)


def _small_and_health(service: Service) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {SERVE_TOKEN}", "Content-Type": "message/rfc822"}
    status, _, _, small = raw_request(service, "POST", "/v1/check", SMALL, headers)
    assert status == 200
    status, _, _, health = raw_request(service, "GET", "/healthz")
    assert status == 200
    return small, health


def _line(name: str, values: list[float]) -> str:
    return (
        f"  {name:44s} p50 {pct(values, 0.5):7.1f} ms   max {max(values) * 1000:7.1f} ms"
        f"   ({len(values)} samples)"
    )


def abuse(idle_count: int = 500, large: int = 20, size_mb: int = 34) -> None:
    """The service's figures under abuse, against the same requests on the idle service."""
    import tempfile

    print(f"under abuse: {idle_count} idle connections + {large} requests of {size_mb} MB")
    with tempfile.TemporaryDirectory() as folder, serve_process(Path(folder)) as service:
        baseline = [_small_and_health(service) for _ in range(20)]
        idle_rss = rss_peak_mb(service.pid)
        held = [connect(service) for _ in range(idle_count)]
        body = large_request_body(size_mb)
        results: list[tuple[int, dict[str, str], float]] = []
        senders = [
            threading.Thread(target=post_polite, args=(service, body, results))
            for _ in range(large)
        ]
        for th in senders:
            th.start()
        during = []
        while any(th.is_alive() for th in senders):
            during.append(_small_and_health(service))
            time.sleep(0.2)
        for th in senders:
            th.join()
        peak = rss_peak_mb(service.pid)
        for s in held:
            s.close()
    print(_line("small check, idle service (baseline)", [s for s, _ in baseline]))
    print(_line("small check, under abuse", [s for s, _ in during]))
    print(_line("/healthz, idle service (baseline)", [h for _, h in baseline]))
    print(_line("/healthz, under abuse", [h for _, h in during]))
    got: dict[int, list[float]] = {}
    for status, _, took in results:
        got.setdefault(status, []).append(took)
    for status, took in sorted(got.items()):
        print(
            f"  large requests answered {status}: {len(took):2d}"
            f"   in {min(took):5.2f} to {max(took):5.2f} s"
        )
    print(f"  memory (service + checker): idle {idle_rss:5.0f} MiB, peak {peak:5.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--abuse-only", action="store_true", help="only the figures under abuse")
    args = ap.parse_args()
    if args.abuse_only:
        abuse()
        return
    raw, request = typical()
    guard = Guard(Policy.default().replace(internal_domains=("clinique-exemple.fr",)))
    print(f"typical message: body + 3-page PDF, {len(raw) / 1024:.0f} KB; {os.cpu_count()} cores")

    from leakguard.serve._compose import compose
    from leakguard.serve._schema import CheckRequest

    body = httpx.Request("POST", "/", json=request).read()
    proc, base = start_service()
    try:
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:

            def post_eml() -> None:
                r = client.post(
                    "/v1/check", content=raw, headers={"Content-Type": "message/rfc822"}
                )
                assert r.status_code == 200, r.text

            def post_json() -> None:
                r = client.post("/v1/check", json=request)
                assert r.status_code == 200, r.text

            calls = {
                "in-process Guard.check (baseline)": lambda: guard.check(raw),
                "in-process JSON -> message -> check": lambda: guard.check(
                    compose(CheckRequest.model_validate_json(body))
                ),
                "POST /v1/check message/rfc822": post_eml,
                "POST /v1/check JSON (add-in)": post_json,
            }
            # Interleaved, so that the machine's other load weighs on every line alike.
            took: dict[str, list[float]] = {name: [] for name in calls}
            for call in calls.values():
                call()  # warm-up
            for _ in range(args.runs):
                for name, call in calls.items():
                    t0 = time.perf_counter()
                    call()
                    took[name].append(time.perf_counter() - t0)
            local = took["in-process Guard.check (baseline)"]
            for name, values in took.items():
                p50, p99 = pct(values, 0.5), pct(values, 0.99)
                line = f"  {name:36s}  p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
                if name.startswith("POST"):
                    line += (
                        f"   overhead p50 {p50 - pct(local, 0.5):+5.1f} ms"
                        f"   p99 {p99 - pct(local, 0.99):+5.1f} ms"
                    )
                print(line)

        workers = os.cpu_count() or 2
        count = args.requests
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda _: guard.check(raw), range(workers)))
            t0 = time.perf_counter()
            list(pool.map(lambda _: guard.check(raw), range(count)))
            base_rate = count / (time.perf_counter() - t0)
        print(f"  in-process, {workers} threads (baseline): {base_rate:6.1f} checks/s")

        latencies: list[float] = []
        lock = threading.Lock()
        per_client = count // args.clients

        def client_loop() -> None:
            with httpx.Client(base_url=base, headers=AUTH, timeout=60) as c:
                for _ in range(per_client):
                    t = time.perf_counter()
                    r = c.post("/v1/check", json=request)
                    assert r.status_code == 200, r.text
                    with lock:
                        latencies.append(time.perf_counter() - t)

        threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t0
        print(
            f"  {args.clients} concurrent clients, JSON: {len(latencies) / elapsed:6.1f} checks/s"
            f"   latency p50 {pct(latencies, 0.5):6.1f} ms   p99 {pct(latencies, 0.99):6.1f} ms"
            f"   (mean {statistics.fmean(latencies) * 1000:.0f} ms)"
        )
    finally:
        proc.terminate()
        proc.wait(10)
    abuse()


if __name__ == "__main__":
    main()
