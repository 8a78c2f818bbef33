"""Whether a module's compiled cache is up to date, as Python decides when it imports it:
shared by the build's tests and the content benchmark (which says when each scan would
compile leakguard's modules again)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["up_to_date"]


def up_to_date(source: Path) -> bool:
    """Whether the compiled module next to ``source`` is there and Python would load it:
    made from the source as it is (its modification time and size, or its hash, in the
    cache's header), or a hash-based cache Python does not check."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    try:
        head = cached.read_bytes()[:16]
    except OSError:
        return False
    if len(head) < 16:
        return False
    flags = int.from_bytes(head[4:8], "little")
    if flags & 1:  # hash-based: checked against the source only when bit 2 is set
        return not flags & 2 or head[8:16] == importlib.util.source_hash(source.read_bytes())
    info = source.stat()
    made = (int(info.st_mtime) & 0xFFFFFFFF, info.st_size & 0xFFFFFFFF)
    return (int.from_bytes(head[8:12], "little"), int.from_bytes(head[12:16], "little")) == made
