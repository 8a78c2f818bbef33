"""The compiled engine's databases, compiled once per machine: kept in the user's cache
folder under a name made from the expressions and the engine's version, so a command
that runs for a second does not spend a tenth of it compiling them again.

Anything wrong with the cache (no folder, read-only, a damaged or foreign file) only
means compiling in memory, as without it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import hyperscan

__all__ = ["cache_folder", "database", "info", "read_kept", "store_kept"]


_LOCK = threading.Lock()
_LOADED: dict[str, hyperscan.Database] = {}
# A file starts with this, then the SHA-256 of the serialised database that follows.
_MAGIC = b"leakguard-hs1\n"


def info(message: str, *args: object, name: str = __name__) -> None:
    """Log ``message`` at INFO on the logger ``name``. ``logging`` is loaded when there is
    something to say: a command whose engine and patterns come from the cache never
    does, and its start is shorter by the module's import."""
    import logging

    logging.getLogger(name).info(message, *args)


def cache_folder() -> Path | None:
    """The user's cache folder for leakguard (``LEAKGUARD_CACHE_DIR`` when set; empty
    turns the cache off), or ``None`` when there is none."""
    chosen = os.environ.get("LEAKGUARD_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen else None
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return Path(base, "leakguard", "cache") if base else None
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "leakguard"
    chosen = os.environ.get("XDG_CACHE_HOME")
    base = Path(chosen) if chosen else Path("~").expanduser() / ".cache"
    return base / "leakguard" if base.is_absolute() else None


def database(expressions: list[bytes], flags: list[int], *, name: str) -> hyperscan.Database:
    """The block-mode database of ``expressions`` (ids are their places in the list),
    from this process's memory, else from the cache folder, else compiled (and then
    written to the cache folder for the next process). Safe to call from threads."""
    import hyperscan

    key = _key(expressions, flags)
    found = _LOADED.get(key)
    if found is not None:
        return found
    with _LOCK:
        found = _LOADED.get(key)
        if found is None:
            path = _path(name, key)
            found = _load(path) if path is not None else None
            if found is None:
                started = time.monotonic()
                found = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                found.compile(
                    expressions=expressions,
                    ids=list(range(len(expressions))),
                    elements=len(expressions),
                    flags=flags,
                )
                info(
                    "content engine: %d expressions (%s) compiled in %.2f s",
                    len(expressions),
                    name,
                    time.monotonic() - started,
                )
                if path is not None:
                    store_kept(path, _MAGIC, hyperscan.dumpb(found))
            _LOADED[key] = found
    return found


def _key(expressions: list[bytes], flags: list[int]) -> str:
    """What the compiled database depends on: the expressions, their flags, the engine
    (its version) and the processor family."""
    import hyperscan

    # The wheel's version as the module gives it (reading the installed packages'
    # metadata instead cost a hundredth of a second at every start). It is hashed twice,
    # as the metadata's and the module's were, so databases cached before stay valid.
    wheel = str(getattr(hyperscan, "__version__", "?"))
    digest = hashlib.sha256()
    for part in (wheel, wheel, sys.platform, _machine()):
        digest.update(part.encode() + b"\0")
    for expression, flag in zip(expressions, flags, strict=True):
        digest.update(b"%d\0%d\0" % (len(expression), flag) + expression)
    return digest.hexdigest()[:32]


def _machine() -> str:
    if hasattr(os, "uname"):
        return os.uname().machine  # what ``platform.machine()`` reads, without its import
    import platform

    return platform.machine()


def _path(name: str, key: str) -> Path | None:
    folder = cache_folder()
    return None if folder is None else folder / f"{name}-{key}.hsdb"


def read_kept(path: Path, magic: bytes) -> bytes | None:
    """What :func:`store_kept` wrote at ``path`` with ``magic``, or ``None`` when the
    file is missing or damaged (its SHA-256 does not match)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(magic) + 32
    body = data[head:]
    if data[: len(magic)] != magic or hashlib.sha256(body).digest() != data[len(magic) : head]:
        info("detectors: cached file %s is damaged; compiling", path.name)
        return None
    return body


def _load(path: Path) -> hyperscan.Database | None:
    """The database stored at ``path``, or ``None`` when it is missing, damaged or was
    written for another engine."""
    import hyperscan

    body = read_kept(path, _MAGIC)
    if body is None:
        return None
    try:
        found = hyperscan.loadb(body, hyperscan.HS_MODE_BLOCK)
        # A cache folder shared between machines (a home on the network) may hold a
        # database built for another processor's features: the engine refuses it here,
        # not in the middle of a check.
        found.scan(b"leakguard", match_event_handler=_ignore, scratch=hyperscan.Scratch(found))
        return found
    except hyperscan.error:
        info("content engine: cached database %s is not this engine's; compiling", path.name)
        return None


def _ignore(number: int, start: int, end: int, flags: int, context: object) -> None:
    return None


def store_kept(path: Path, magic: bytes, body: bytes) -> None:
    """Write ``magic``, the SHA-256 of ``body`` and ``body`` at ``path``, whole or not at
    all (a temporary file renamed: another process may be reading or writing the same
    name). A folder that cannot be written is only logged."""
    import tempfile  # only when something is written: most starts read

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        temporary = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(magic + hashlib.sha256(body).digest() + body)
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as exc:
        info("detectors: %s not cached (%s)", path.name, exc.strerror or exc)
