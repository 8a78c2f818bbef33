"""The detectors' large patterns, their programs kept in the cache folder: what is read
back is the program ``re.compile`` builds, and anything wrong with a kept file only
means compiling again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakguard.detectors import (
    _lexicon,
    _programs,
    be_niss,
    ca_sin,
    health_data,
    iban,
    nir,
    qc_nam,
    rib,
)
from leakguard.detectors._programs import compiled

PATTERNS = {
    "health": health_data.PATTERN,
    "nir": nir.PATTERN,
    "be_niss": be_niss.PATTERN,
    "rib": rib.PATTERN,
    "iban": iban.PATTERN,
    "ca_sin": ca_sin.PATTERN,
    "qc_nam": qc_nam.PATTERN,
    "nir context": _lexicon.context_pattern("nir"),
}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEAKGUARD_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_a_kept_program_is_the_one_re_builds(folder: Path, name: str) -> None:
    pattern = PATTERNS[name]
    made = compiled(pattern.pattern, pattern.flags)  # compiled, then kept
    assert len(list(folder.glob("re-*.bin"))) == 1
    read = compiled(pattern.pattern, pattern.flags)  # read back
    expected = re.compile(pattern.pattern, pattern.flags)
    # Patterns compare equal when their source, flags and programs are equal.
    assert made == expected and read == expected
    assert (read.groups, read.groupindex) == (expected.groups, expected.groupindex)


PIECES = [*"0123456789 .-AZaezéÉ:\n", "NIR", "diabète", "RIB", "sécurité sociale"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)


@settings(max_examples=60, deadline=None)
@given(text=TEXT)
def test_a_read_back_program_matches_as_re_does(text: str) -> None:
    for pattern in PATTERNS.values():
        expected = re.compile(pattern.pattern, pattern.flags)
        got = [(m.span(), m.lastgroup) for m in pattern.finditer(text)]
        assert got == [(m.span(), m.lastgroup) for m in expected.finditer(text)]


def test_a_damaged_or_refused_file_is_compiled_again(folder: Path) -> None:
    pattern = nir.PATTERN
    compiled(pattern.pattern, pattern.flags)
    [kept] = folder.glob("re-*.bin")
    data = bytearray(kept.read_bytes())
    data[-5] ^= 0xFF  # damaged: its digest no longer matches
    kept.write_bytes(bytes(data))
    assert compiled(pattern.pattern, pattern.flags) == re.compile(pattern.pattern, pattern.flags)
    # Whole and well formed, but a program the engine refuses.
    from leakguard.detectors._engine import store_kept

    store_kept(kept, _programs._MAGIC, __import__("marshal").dumps((32, [1, 2, 3], 0, {}, ())))
    assert compiled(pattern.pattern, pattern.flags) == re.compile(pattern.pattern, pattern.flags)
    # Refused once, kept anew: the next process reads a good one.
    assert compiled(pattern.pattern, pattern.flags) == re.compile(pattern.pattern, pattern.flags)


def test_without_a_cache_folder_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAKGUARD_CACHE_DIR", "")
    monkeypatch.chdir(tmp_path)
    assert compiled("[0-9]{15}", 0) == re.compile("[0-9]{15}")
    assert list(tmp_path.iterdir()) == []


_PROBE = """
import json, re, sys
calls = []
real = re._parser.parse
def counted(p, flags=0, state=None):
    calls.append(len(p) if isinstance(p, str) else 0)
    return real(p, flags, state)
re._parser.parse = counted
import leakguard.detectors
print(json.dumps(max(calls, default=0)))
"""


def test_the_next_process_builds_no_large_pattern(tmp_path: Path) -> None:
    """The first process compiles and keeps the programs; the next one reads them: the
    longest pattern it compiles itself is a short one."""
    env = {**os.environ, "LEAKGUARD_CACHE_DIR": str(tmp_path)}
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(2)
    ]
    assert runs[0] > 10_000  # the medical phrases, among others
    assert runs[1] < 1_000, runs
