"""Running the real service in tests: Hypercorn with the service's own settings on
127.0.0.1 and a free port, in a thread of the test process or as the `leakguard serve`
command in a process of its own."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import os
import random
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from leakguard.guard import Guard
from leakguard.serve import ServeConfig
from leakguard.serve._app import create_app
from leakguard.serve._server import serve, server_config

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# A typical small message, allowed with the default policy.
SMALL = (
    b"From: secretariat@clinique-exemple.fr\r\nTo: dr.martin@cabinet-exemple.fr\r\n"
    b"Subject: Rendez-vous\r\n\r\nBonjour, le rendez-vous est confirme pour jeudi.\r\n"
)


@contextmanager
def running(
    guard: Guard, config: ServeConfig | None = None, *, certfile: str = "", keyfile: str = ""
) -> Iterator[str]:
    """Serve ``guard`` until the block ends; yields the base URL."""
    import asyncio

    config = config or ServeConfig(token=TOKEN)
    port = free_port()
    server = server_config(config, port=port, certfile=certfile or None, keyfile=keyfile or None)
    stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    failed: list[BaseException] = []

    async def main() -> None:
        event = asyncio.Event()
        stop.append((asyncio.get_running_loop(), event))
        await serve(create_app(guard, config), server, shutdown=event.wait)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the waiting loop below
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the test server did not start: {failed!r}") from None
            time.sleep(0.02)
    scheme = "https" if certfile else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        loop, event = stop[0]
        loop.call_soon_threadsafe(event.set)
        thread.join(15)


def request_from_eml(raw: bytes, *, lang: str = "en") -> dict[str, Any]:
    """The JSON request a mail client would send for the message saved in ``raw``."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)

    def people(header: str) -> list[dict[str, str]]:
        values = [str(v) for v in msg.get_all(header, [])]
        return [{"name": n, "address": a} for n, a in email.utils.getaddresses(values) if a]

    out: dict[str, Any] = {
        "to": people("to"),
        "cc": people("cc"),
        "bcc": people("bcc"),
        "subject": str(msg.get("subject", "")),
        "lang": lang,
    }
    sender = people("from")
    if sender:
        out["from"] = sender[0]
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    out["body"] = {
        "text": plain.get_content() if plain is not None else "",
        "html": html.get_content() if html is not None else None,
    }
    attachments: list[dict[str, Any]] = []
    for part in msg.iter_attachments():
        name = part.get_filename() or "attachment"
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()[0]
            data = inner.as_bytes()
            attachments.append({"name": name, "eml_base64": base64.b64encode(data).decode()})
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        attachments.append(
            {
                "name": name,
                "content_type": part.get_content_type(),
                "content_base64": base64.b64encode(payload).decode(),
            }
        )
    out["attachments"] = attachments
    return out


def self_signed(folder: Path) -> dict[str, str]:
    """A certificate for 127.0.0.1 and localhost made by openssl: the files' paths."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return {"certfile": str(cert), "keyfile": str(key)}


@dataclass
class Service:
    """A running ``leakguard serve``: where it listens, its process, and for TLS the
    client context that trusts its certificate."""

    host: str
    port: int
    pid: int
    tls: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def wrap(self, sock: socket.socket) -> socket.socket:
        """``sock`` as this service speaks: TLS (handshake done) or plain."""
        if self.tls is None:
            return sock
        return self.tls.wrap_socket(sock, server_hostname=self.host)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def leakguard_program() -> str:
    return str(Path(sys.executable).with_name("leakguard"))


@contextmanager
def serve_process(folder: Path, *args: str, tls: bool = False) -> Iterator[Service]:
    """``leakguard serve`` run as a user runs it, in its own process, until the block
    ends; stopped with SIGTERM (then killed if it does not stop)."""
    port = free_port()
    cmd = [leakguard_program(), "serve", "--port", str(port), *args]
    context = None
    if tls:
        files = self_signed(folder)
        cmd += ["--certfile", files["certfile"], "--keyfile", files["keyfile"]]
        context = ssl.create_default_context(cafile=files["certfile"])
    env = {**os.environ, "LEAKGUARD_TOKEN": TOKEN, "LANG": "C.UTF-8"}
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    service = Service("127.0.0.1", port, proc.pid, context)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with service.wrap(socket.create_connection(("127.0.0.1", port), timeout=2)) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(
                    "leakguard serve did not start:\n" + (folder / "serve.log").read_text()
                )
            time.sleep(0.1)
        yield service
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def rss_peak_mb(pid: int) -> float:
    """The highest resident memory so far of process ``pid`` and of its child processes
    (the service and its checker), added up, in MiB (Linux)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for one in (pid, *map(int, children)):
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


# Clients written with sockets, to send what a well-behaved HTTP client would not.


def connect(service: Service) -> socket.socket:
    return socket.create_connection((service.host, service.port), timeout=10)


def raw_request(
    service: Service,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes, float]:
    """One request on a fresh connection: status, headers, body and seconds taken."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {service.host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    started = time.monotonic()
    with service.wrap(connect(service)) as s:
        s.sendall(head + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    took = time.monotonic() - started
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    status_line, *fields = head_bytes.decode("latin-1").split("\r\n")
    found = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
    return int(status_line.split()[1]), found, rest, took


def large_request_body(size_mb: int) -> bytes:
    """The add-in's JSON for a message with one large attachment (random bytes, as a
    photo or an archive would be)."""
    data = random.Random(size_mb).randbytes(size_mb * 1024 * 1024 * 3 // 4)
    request = {
        "to": [{"address": "dr.martin@cabinet-exemple.fr"}],
        "subject": "Imagerie",
        "body": {"text": "Voici les images."},
        "attachments": [
            {
                "name": "images.bin",
                "content_type": "application/octet-stream",
                "content_base64": base64.b64encode(data).decode(),
            }
        ],
    }
    return json.dumps(request).encode()


def post_polite(
    service: Service, body: bytes, results: list[tuple[int, dict[str, str], float]]
) -> None:
    """Send ``body`` as a polite client does: stop sending once the server has answered."""
    head = (
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    data = b""
    with service.wrap(connect(service)) as s:
        s.settimeout(60)
        try:
            s.sendall(head)
            view = memoryview(body)
            for at in range(0, len(body), 1 << 20):
                s.setblocking(False)
                with contextlib.suppress(BlockingIOError, ssl.SSLWantReadError):
                    data = s.recv(65536)
                s.setblocking(True)
                s.settimeout(60)
                if data:
                    break
                s.sendall(view[at : at + (1 << 20)])
        except OSError:
            pass  # the server answered and closed before the whole body was sent
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            pass
    took = time.monotonic() - started
    head_bytes = data.partition(b"\r\n\r\n")[0].decode("latin-1")
    status = int(head_bytes.split()[1]) if head_bytes else 0
    fields = head_bytes.split("\r\n")[1:]
    results.append(
        (
            status,
            {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)},
            took,
        )
    )
