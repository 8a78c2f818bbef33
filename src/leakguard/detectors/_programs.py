"""The detectors' large regular expressions, compiled once per machine: the program
Python's ``re`` builds for a pattern is kept in the user's cache folder (beside the
compiled engine's databases), so a short command does not spend a fifth of its start
building the same programs again (the medical phrases alone take 30 ms).

What is kept is the program ``re`` itself builds, for this very interpreter: its
version, and that of its regular-expression engine, are part of the file's name. A
file missing, damaged (its SHA-256 is checked) or refused by the engine only means
compiling as ``re.compile`` does; so does an interpreter without the functions this
relies on.
"""

from __future__ import annotations

import hashlib
import importlib
import marshal
import re
import sys
import threading
from pathlib import Path
from typing import Any

from leakguard.detectors._engine import cache_folder, info, read_kept, store_kept

__all__ = ["compiled"]

_MAGIC = b"leakguard-re1\n"
_LOCK = threading.Lock()

_sre: Any = None
_compiler: Any = None
_parser: Any = None
_ENGINE = ""
try:  # the functions ``re.compile`` itself calls (CPython 3.11 and later)
    _sre = importlib.import_module("_sre")
    _compiler = importlib.import_module("re._compiler")
    _parser = importlib.import_module("re._parser")
    _ENGINE = f"{sys.version}\0{_sre.MAGIC}\0{_sre.CODESIZE}"
except (ImportError, AttributeError):  # pragma: no cover - another interpreter
    _sre = None


def compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, its program read from the cache folder when an
    earlier process kept it there (and kept there when not). Equal to what
    ``re.compile`` returns (``==`` compares the programs)."""
    flags = int(flags)
    folder = cache_folder()
    if folder is None or _sre is None:
        return re.compile(pattern, flags)
    path = folder / f"re-{_key(pattern, flags)}.bin"
    with _LOCK:
        kept = _load(path, pattern)
        if kept is not None:
            return kept
        try:
            program = _program(pattern, flags)
            made: re.Pattern[str] = _sre.compile(pattern, *program)
        except Exception:  # pragma: no cover - the functions changed: compile as usual
            return re.compile(pattern, flags)
        store_kept(path, _MAGIC, marshal.dumps(program))
        return made


def _key(pattern: str, flags: int) -> str:
    digest = hashlib.sha256(f"{_ENGINE}\0{flags}\0".encode())
    digest.update(pattern.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def _program(
    pattern: str, flags: int
) -> tuple[int, list[int], int, dict[str, int], tuple[Any, ...]]:
    """What ``re``'s compiler hands its engine for ``pattern``: the final flags, the
    code, the number of groups, and the group names both ways."""
    parsed = _parser.parse(pattern, flags)
    code = [int(c) for c in _compiler._code(parsed, flags)]
    names = {str(name): int(index) for name, index in parsed.state.groupdict.items()}
    index: list[str | None] = [None] * parsed.state.groups
    for name, i in names.items():
        index[i] = name
    return int(flags | parsed.state.flags), code, parsed.state.groups - 1, names, tuple(index)


def _load(path: Path, pattern: str) -> re.Pattern[str] | None:
    body = read_kept(path, _MAGIC)
    if body is None:
        return None
    try:
        flags, code, groups, names, index = marshal.loads(body)
        found: re.Pattern[str] = _sre.compile(pattern, flags, code, groups, names, index)
        return found
    except Exception:  # the engine refuses the program: compiled again
        info(
            "detectors: kept pattern %s refused by the engine; compiling", path.name, name=__name__
        )
        return None
