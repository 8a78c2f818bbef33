"""The README's Python example runs as written, from a checkout of the repository:
once without a mail server, once sending through a local SMTP server."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^## Use it from Python\n.*?^```python\n(.*?)^```", text, re.S | re.M)
    assert found is not None, "README.md has no Python block under 'Use it from Python'"
    return found.group(1)


def run_example(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
    clean.update(LANG="C", **env)
    return subprocess.run(
        [sys.executable, "-c", readme_example()],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Inbox:
    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readme_example_runs_without_a_mail_server() -> None:
    done = run_example()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "encrypt"  # the report of examples/02 leaves only encrypted
    assert lines[1].startswith("Chiffrement requis")
    assert any(line.startswith("encrypt - ") for line in lines)  # protect refused


def test_readme_example_sends_through_smtp() -> None:
    inbox = Inbox()
    port = _free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=10)
    server.start()
    try:
        done = run_example(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert len(inbox.received) == 1
    rcpts, data = inbox.received[0]
    assert rcpts == ["accueil@clinique-exemple.fr"]
    assert message_from_bytes(data)["Subject"] == "Rendez-vous"
