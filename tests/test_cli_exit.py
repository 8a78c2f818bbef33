"""The ``leakguard`` command ends its process at once when done: its output whole, its
exit status, the exit handlers run; and as Python does when another thread still runs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import run

_COMMAND = (
    "import atexit, sys, threading, time\n"
    "marker, wait = sys.argv[1], float(sys.argv[2])\n"
    "if wait:\n"
    "    def late() -> None:\n"
    "        time.sleep(wait)\n"
    "        open(marker + '.thread', 'w').write('ran')\n"
    "    threading.Thread(target=late).start()\n"
    "atexit.register(lambda: open(marker, 'w').write('ran'))\n"
    "sys.stdout.write('written before\\n')\n"
    "from leakguard.cli import run\n"
    "sys.argv = ['leakguard', *sys.argv[3:]]\n"
    "run()\n"
)


def _export(path: Path, rows: int) -> Path:
    rnd = random.Random(21)
    lines = []
    for i in range(rows):
        body = f"{rnd.randint(1, 2)}{rnd.randint(0, 99):02d}{rnd.randint(1, 12):02d}"
        body += f"{rnd.randint(1, 95):02d}{rnd.randint(1, 999):03d}{rnd.randint(1, 999):03d}"
        lines.append(f"{i};{body}{97 - int(body) % 97:02d}")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _command(tmp_path: Path, wait: float, *args: str) -> tuple[int, Path, Path]:
    marker = tmp_path / "handler"
    out = tmp_path / "out.json"
    with out.open("wb") as sink:
        done = subprocess.run(
            [sys.executable, "-c", _COMMAND, str(marker), str(wait), *args],
            stdout=sink,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")[-300:]
    return done.returncode, out, marker


def test_the_output_is_whole_the_status_kept_and_the_exit_handlers_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A megabyte of JSON: more than one buffer left to write when the command is done.
    monkeypatch.setenv("LEAKGUARD_FINGERPRINT_KEY", "a fixed key for both runs")
    export = _export(tmp_path / "export.csv", 4000)
    args = ("scan", "--format", "json", str(export))
    status, out, marker = _command(tmp_path, 0.0, *args)
    expected, printed, _ = run(capsys, *args)
    assert status == expected
    doc = json.loads(out.read_text(encoding="utf-8").removeprefix("written before\n"))
    assert len(doc["messages"][0]["findings"]) == 4000
    same = out.read_text(encoding="utf-8") == "written before\n" + printed
    assert same, "the command's output differs from main()'s"
    assert marker.read_text() == "ran", "the exit handlers did not run"


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    export = _export(tmp_path / "export.csv", 10)
    status, out, marker = _command(tmp_path, 0.5, "scan", "--format", "json", str(export))
    doc = json.loads(out.read_text(encoding="utf-8").removeprefix("written before\n"))
    assert status in (0, 1) and doc["messages"]
    assert (tmp_path / "handler.thread").read_text() == "ran", "the thread was cut short"
    assert marker.read_text() == "ran"


def test_what_was_written_before_a_wrong_input_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command says the input is missing (exit status 2) and returns without flushing
    # its output: what was written there is still written.
    args = ("scan", str(tmp_path / "missing.eml"))
    status, out, marker = _command(tmp_path, 0.0, *args)
    expected, printed, _ = run(capsys, *args)
    assert status == expected == 2
    assert out.read_text(encoding="utf-8") == "written before\n" + printed
    assert marker.read_text() == "ran"
