"""The README's Python example runs as written, from a checkout of the repository:
once without a mail server, once sending through a local SMTP server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from email import message_from_bytes
from pathlib import Path

from test_smtp import Recorder, server  # noqa: F401 - the real SMTP server fixture

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


def test_readme_example_runs_without_a_mail_server() -> None:
    done = run_example()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "encrypt"  # the report of examples/02 leaves only encrypted
    assert lines[1].startswith("Chiffrement requis")
    assert any(line.startswith("encrypt - ") for line in lines)  # protect refused


def test_readme_example_sends_through_smtp(
    server: tuple[Recorder, int],  # noqa: F811 - the fixture imported above
) -> None:
    inbox, port = server
    done = run_example(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
    assert done.returncode == 0, done.stderr
    assert len(inbox.messages) == 1
    rcpts, data = inbox.messages[0]
    assert rcpts == ["accueil@clinique-exemple.fr"]
    assert message_from_bytes(data)["Subject"] == "Rendez-vous"
