"""What a test run prints shows no number in clear (``hidden_numbers.py``): a failing
test's traceback, its captured output and a parametrized test's name. Checked on a run
of pytest over a small failing test file, whose output is then searched for the digits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hidden_numbers import hidden

TESTS = Path(__file__).resolve().parent

# A test vector of the NIR's specification; the run below prints it (or not).
_VALUE = "2 55 08 14 168 025 38"
_DIGITS = _VALUE.replace(" ", "")

_FAILING = f'''
import pytest

VALUE = "{_VALUE}"


def read(text):
    return text.replace(" ", "")


def test_compared():
    print("read:", VALUE)
    assert read(VALUE) == "0"


@pytest.mark.parametrize("value", [VALUE, "{_DIGITS}"])
def test_named(value):
    assert value == ""
'''


def test_a_failing_run_prints_no_number_in_clear(tmp_path: Path) -> None:
    (tmp_path / "test_vectors.py").write_text(_FAILING, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    options = ["-p", "hidden_numbers", "-p", "no:cacheprovider", "-v", "-rA"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *options, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    shown = run.stdout + run.stderr
    assert run.returncode == 1, "the three tests were to fail"
    assert shown.count("FAILED") >= 3, "the failures are reported"
    compact = shown.replace(" ", "")
    assert _DIGITS not in compact, "a number is shown in clear"
    assert "9 99 99 99 999 999 99" in shown  # the layout is kept


def test_numbers_are_hidden_in_every_layout_and_short_ones_kept() -> None:
    assert (
        hidden("NIR 1\u00a085\u00a005-75/112\t345\n29 !")
        == "NIR 9\u00a099\u00a099-99/999\t999\n99 !"
    )
    assert hidden("FR76 3000 6000 0112") == "FR99 9999 9999 9999"
    assert hidden("line 12345, port 8080") == "line 12345, port 8080"
