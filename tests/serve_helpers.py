"""Running the real service in tests: uvicorn on 127.0.0.1, a free port, in a thread."""

from __future__ import annotations

import base64
import email.utils
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import uvicorn

from leakguard.guard import Guard
from leakguard.serve import ServeConfig
from leakguard.serve._app import create_app

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def running(guard: Guard, config: ServeConfig | None = None, **ssl: Any) -> Iterator[str]:
    """Serve ``guard`` until the block ends; yields the base URL."""
    config = config or ServeConfig(token=TOKEN)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(guard, config),
            log_level="warning",
            access_log=False,
            lifespan="on",
            **ssl,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    scheme = "https" if ssl else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


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
    """A certificate for 127.0.0.1 and localhost made by openssl; uvicorn's ssl options."""
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
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
