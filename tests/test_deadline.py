"""The hard time budget on content too long to read in time: a number-dense attachment
of 28 MiB ends the check within its budget, keeps what was found before it passed and
reports the rest unread (``timeout``), with the library and with the command line, and
the command's memory stays under a ceiling."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import numpy as np
import pytest

from leakguard.content import scan_text
from leakguard.core import Action, Deadline, DeadlineExceeded, Fingerprinter, Location
from leakguard.detectors import _bulk, find_identifiers
from leakguard.guard import Guard
from leakguard.message import load_message

MIB = 1 << 20
# What a check may take past its budget: the piece of text being read when the deadline
# passes, then the verdict (a shared CI machine is slow).
MARGIN = 1.5


def dense_text(size: int, seed: int = 7) -> str:
    """``size`` characters of an accounting export: two fifteen-digit groups, an
    amount and a reference per line, a valid NIR on one line in fifty."""
    rng = np.random.default_rng(seed)
    line = b"000000000000000 000000000000000\t000000,00\tR0000000\n"
    rows = size // len(line) + 1
    out = np.tile(np.frombuffer(line, dtype=np.uint8), (rows, 1))
    digits = np.flatnonzero(np.frombuffer(line, dtype=np.uint8) == ord("0"))
    out[:, digits] = rng.integers(48, 58, size=(rows, len(digits)), dtype=np.uint8)
    # Every fiftieth line starts with a NIR: sex, year, month, then its key.
    nir = out[::50]
    nir[:, 0] = ord("1")
    nir[:, 3] = ord("0")
    nir[:, 4] = rng.integers(49, 58, size=len(nir), dtype=np.uint8)
    body = np.zeros(len(nir), dtype=np.int64)
    for col in range(13):
        body = body * 10 + (nir[:, col].astype(np.int64) - 48)
    key = 97 - body % 97
    nir[:, 13] = 48 + key // 10
    nir[:, 14] = 48 + key % 10
    out[::50] = nir
    return out.tobytes()[:size].decode("ascii")


@pytest.fixture(scope="module")
def dense() -> str:
    return dense_text(28 * MIB)


def test_the_dense_text_is_number_dense_and_holds_identifiers(dense: str) -> None:
    head = dense[: 64 * 1024]
    assert sum(c.isdigit() for c in head) > len(head) * 0.7
    assert sum(m.kind == "nir" for m in find_identifiers(head)) >= 20


# A fraction of what reading the dense text takes (about 1.6 s on the development
# machine, the check alone): a faster machine, or a faster reader, must still run out
# of time.
BUDGET = 0.3


def _message(text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "comptabilite@clinique-exemple.fr"
    msg["To"] = "cabinet@gmail.com"
    msg["Subject"] = "Export"
    msg.set_content("Bonjour, voici l'export du mois.")
    msg.add_attachment(text.encode(), maintype="text", subtype="plain", filename="export.txt")
    return msg


@pytest.mark.slow
def test_guard_check_ends_within_its_budget(dense: str) -> None:
    # Parsed beforehand: the budget here is for reading the parts and scanning them.
    msg = load_message(_message(dense).as_bytes())
    guard = Guard()
    budget = BUDGET
    start = time.monotonic()
    verdict = guard.check(msg, deadline=Deadline.after(budget))
    took = time.monotonic() - start
    assert took < budget + MARGIN, f"the check took {took:.2f} s with a {budget} s budget"
    unread = [(str(f.location), f.detail) for f in verdict.unread]
    assert ("attachment:export.txt", "timeout") in unread
    assert verdict.action is not Action.ALLOW


class _AfterChecks(Deadline):
    """A deadline that passes once it has been looked at ``left`` times: where a scan
    stops depends on the work done, not on how busy the machine is."""

    def __init__(self, left: int) -> None:
        super().__init__(float("inf"))
        object.__setattr__(self, "_left", [left])

    def expired(self) -> bool:
        left: list[int] = self.__dict__["_left"]
        left[0] -= 1
        return left[0] < 0

    def check(self) -> None:
        if self.expired():
            raise DeadlineExceeded


def test_findings_made_before_the_deadline_are_kept(dense: str) -> None:
    # Pieces of the text are read one after the other; the deadline passes after a few.
    text = dense[: 4 * MIB]
    whole = scan_text(text, Location.attachment("export.txt"), fingerprinter=Fingerprinter(b"k"))
    saved = _bulk.PIECE
    _bulk.PIECE = 1 << 18
    try:
        cut = scan_text(
            text,
            Location.attachment("export.txt"),
            fingerprinter=Fingerprinter(b"k"),
            deadline=_AfterChecks(4),
        )
    finally:
        _bulk.PIECE = saved
    assert cut[-1].kind == "unscannable_attachment" and cut[-1].detail == "timeout"
    kept = cut[:-1]
    assert 0 < len(kept) < len(whole)
    assert set(kept) <= set(whole)


def _run_cli(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """The command line in a child process that reports its own peak memory (MB): the
    high-water mark of its resident set since it started (``VmHWM``, Linux)."""
    peak = tmp_path / "peak.txt"
    code = (
        "import sys\n"
        "from leakguard.cli import main\n"
        "try:\n"
        "    status = main(sys.argv[1:])\n"
        "finally:\n"
        "    with open('/proc/self/status') as status_file:\n"
        "        hwm = [l for l in status_file if l.startswith('VmHWM:')]\n"
        f"    open({str(peak)!r}, 'w').write(hwm[0].split()[1] if hwm else '0')\n"
        "sys.exit(status)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    return run, int(peak.read_text()) / 1024


@pytest.fixture(scope="module")
def startup(tmp_path_factory: pytest.TempPathFactory) -> float:
    """How long the command takes to start and answer on a one-line document."""
    where = tmp_path_factory.mktemp("startup")
    small = where / "small.txt"
    small.write_text("rien\n")
    start = time.monotonic()
    _run_cli(["scan", "--format", "json", str(small)], where)
    return time.monotonic() - start


# The documented ceiling of ``leakguard scan`` on a text document: the interpreter and
# its libraries, then a few times the text (the file, the text, its two one-byte copies,
# the piece being read).
RSS_BASE_MB = 150
RSS_PER_INPUT = 6


@pytest.mark.slow
def test_scan_ends_within_its_time_budget_under_a_memory_ceiling(
    dense: str, startup: float, tmp_path: Path
) -> None:
    path = tmp_path / "export.txt"
    path.write_text(dense)
    budget = BUDGET
    start = time.monotonic()
    run, peak_mb = _run_cli(
        ["scan", "--format", "json", "--time-budget", str(budget), str(path)], tmp_path
    )
    took = time.monotonic() - start
    assert run.returncode == 0, run.stderr
    assert took < startup + budget + MARGIN, f"scan took {took:.2f} s, start {startup:.2f} s"
    findings = json.loads(run.stdout)["messages"][0]["findings"]
    assert {"kind": "unscannable_attachment", "detail": "timeout"}.items() <= findings[-1].items()
    assert any(f["kind"] == "nir" for f in findings)
    ceiling = RSS_BASE_MB + RSS_PER_INPUT * len(dense) / 1e6
    assert peak_mb < ceiling, f"peak memory {peak_mb:.0f} MB, ceiling {ceiling:.0f} MB"


@pytest.mark.slow
def test_check_ends_within_its_time_budget(dense: str, startup: float, tmp_path: Path) -> None:
    raw = _message(dense).as_bytes()
    path = tmp_path / "export.eml"
    path.write_bytes(raw)
    # The budget counts from the start of the check; parsing the message (the standard
    # library's parser) is the one step it cannot cut.
    start = time.monotonic()
    load_message(raw)
    parse = time.monotonic() - start
    budget = BUDGET
    start = time.monotonic()
    run, _ = _run_cli(
        ["check", "--format", "json", "--fail-on", "warn", "--time-budget", str(budget), str(path)],
        tmp_path,
    )
    took = time.monotonic() - start
    assert run.returncode == 1, run.stderr  # not allowed to leave unseen
    bound = startup + parse + budget + MARGIN
    assert took < bound, f"check took {took:.2f} s (start {startup:.2f} s, parse {parse:.2f} s)"
    message = json.loads(run.stdout)["messages"][0]
    assert message["action"] != "allow"
    unread = [f for f in message["findings"] if f["kind"] == "unscannable_attachment"]
    assert "timeout" in {f.get("detail") for f in unread}
