"""The compiled engine's databases kept in the user's cache folder: written once, read by
the next process, and a missing, damaged or unwritable cache never changes what is found
(it only means compiling again)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from leakguard.detectors import _engine, health_data

pytestmark = pytest.mark.skipif(not health_data.COMPILED, reason="no compiled engine here")

EXPRESSIONS = [rb"\bordonnance\b", rb"\bdiagnostic\b", rb"arr.t de travail"]
TEXT = b"un arret de travail et une ordonnance, pas de diagnostique"


def _hits(database: object) -> list[int]:
    import hyperscan

    hits: list[int] = []

    def seen(number: int, start: int, end: int, flags: int, context: object) -> None:
        hits.append(number)

    assert isinstance(database, hyperscan.Database)
    database.scan(TEXT, match_event_handler=seen, scratch=hyperscan.Scratch(database))
    return sorted(hits)


def _fresh(monkeypatch: pytest.MonkeyPatch, folder: Path | str) -> object:
    """The database as a new process would get it: nothing in memory yet."""
    monkeypatch.setenv("LEAKGUARD_CACHE_DIR", str(folder))
    monkeypatch.setattr(_engine, "_LOADED", {})
    return _engine.database(EXPRESSIONS, [0] * len(EXPRESSIONS), name="test")


def test_compiled_once_then_read_from_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = _fresh(monkeypatch, tmp_path)
    stored = list(tmp_path.glob("test-*.hsdb"))
    assert len(stored) == 1
    written = stored[0].stat().st_mtime_ns
    second = _fresh(monkeypatch, tmp_path)
    assert second is not first  # a new database, read from the file
    assert stored[0].stat().st_mtime_ns == written  # not compiled and written again
    assert _hits(first) == _hits(second) == [0, 2]


def test_other_expressions_are_another_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fresh(monkeypatch, tmp_path)
    monkeypatch.setattr(_engine, "_LOADED", {})
    other = _engine.database([rb"\bdiagnostique\b"], [0], name="test")
    assert len(list(tmp_path.glob("test-*.hsdb"))) == 2
    assert _hits(other) == [0]


def test_another_engine_version_or_processor_is_another_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A database is only read back by the engine and processor family that wrote it.
    import hyperscan

    _fresh(monkeypatch, tmp_path)
    monkeypatch.setattr(hyperscan, "__version__", "0.0.1", raising=False)
    _fresh(monkeypatch, tmp_path)
    monkeypatch.setattr(_engine, "_machine", lambda: "another-cpu")
    _fresh(monkeypatch, tmp_path)
    assert len(list(tmp_path.glob("test-*.hsdb"))) == 3


def test_starting_the_engine_reads_no_package_metadata() -> None:
    # Reading the installed packages' metadata costs a hundredth of a second at every
    # start: the engine's version comes from the module.
    code = (
        "import sys\n"
        "from leakguard.detectors import HEALTH, forms\n"
        "forms.label_places(b'n ss 1'); HEALTH.categories('ordonnance')\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr[-500:]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit of the database
        lambda data: data[: len(data) // 2],  # cut short
        lambda data: b"",
        lambda data: b"not a database at all",
    ],
)
def test_a_damaged_file_is_compiled_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: object
) -> None:
    _fresh(monkeypatch, tmp_path)
    (stored,) = tmp_path.glob("test-*.hsdb")
    assert callable(damage)
    stored.write_bytes(damage(stored.read_bytes()))
    assert _hits(_fresh(monkeypatch, tmp_path)) == [0, 2]
    assert _hits(_fresh(monkeypatch, tmp_path)) == [0, 2]  # and the file written whole again


def test_a_liar_file_with_a_right_digest_is_compiled_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A file under the expected name, well formed for the cache (its digest right),
    that holds no database of this engine: refused, compiled again."""
    _fresh(monkeypatch, tmp_path)
    (stored,) = tmp_path.glob("test-*.hsdb")

    foreign = b"\x00" * 64  # not a serialised database, with a right digest
    stored.write_bytes(_engine._MAGIC + hashlib.sha256(foreign).digest() + foreign)
    assert _hits(_fresh(monkeypatch, tmp_path)) == [0, 2]


def test_no_cache_folder_or_an_unwritable_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _hits(_fresh(monkeypatch, "")) == [0, 2]  # LEAKGUARD_CACHE_DIR empty: off
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")
    assert _hits(_fresh(monkeypatch, blocked / "cache")) == [0, 2]  # cannot be made
    assert list(tmp_path.iterdir()) == [blocked]


def test_the_health_expressions_are_the_same_in_every_process(tmp_path: Path) -> None:
    """The file's name depends on the expressions: a process building them in another
    order (hash seeds differ per process) would compile and store them each time."""
    code = (
        "from leakguard.detectors import _engine, health_data\n"
        "health_data._database()\n"
        "print(sorted(p.name for p in _engine.cache_folder().iterdir()))\n"
    )
    names = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"LEAKGUARD_CACHE_DIR": str(tmp_path), "PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(names) == 1
    assert "health-" in names.pop()
