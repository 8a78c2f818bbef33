"""Which of a few fixed strings a long text holds, in one pass of the compiled engine.

``str.find`` and ``bytes.find`` walk a text at about a nanosecond a character for a
short word made of common letters ("begin", "guichet"): 20 ms on 20 MB of French,
for each word. The compiled engine answers for all of them in a few milliseconds; the
pure path (not installed, or switched off) asks each word in turn.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import hyperscan

__all__ = ["holding"]

# Shorter texts are searched word by word: the engine's fixed cost is not repaid.
_LONG = 1 << 16
# A long text is given to the engine as Latin-1 this many characters at a time: a copy
# of the whole text would take as much new memory as the text (on 20 MB, putting that
# memory in place costs more than the search).
_SLICE = 1 << 18
# Hyperscan's scratch space serves one scan at a time: one per thread and database.
_SCRATCH = threading.local()


def holding(data: bytes | str, needles: tuple[bytes, ...]) -> frozenset[bytes]:
    """The ``needles`` (ASCII) found in ``data``. A text beyond Latin-1 is searched as
    Latin-1 with any other character as ``?``, which no needle holds."""
    from leakguard.detectors import health_data

    if len(data) < _LONG or not health_data.COMPILED:
        if isinstance(data, str):
            return frozenset(n for n in needles if n.decode("ascii") in data)
        return frozenset(n for n in needles if n in data)
    scan = _compiled(needles)
    if isinstance(data, bytes):
        return scan(data)
    # Slices overlap by a needle's length less one: a needle across a cut is whole in
    # one of them.
    overlap = max(map(len, needles)) - 1
    found: frozenset[bytes] = frozenset()
    for at in range(0, len(data), _SLICE):
        found |= scan(data[at : at + _SLICE + overlap].encode("latin-1", "replace"))
        if len(found) == len(needles):
            break
    return found


def _compiled(needles: tuple[bytes, ...]) -> Callable[[bytes], frozenset[bytes]]:
    """The compiled engine's search for ``needles``: which of them a byte string holds."""
    import hyperscan

    from leakguard.detectors._engine import database

    flags = [hyperscan.HS_FLAG_SINGLEMATCH] * len(needles)
    db = database([re.escape(n) for n in needles], flags, name="needles")
    spaces: dict[int, hyperscan.Scratch] | None = getattr(_SCRATCH, "spaces", None)
    if spaces is None:
        spaces = _SCRATCH.spaces = {}
    scratch = spaces.get(id(db))
    if scratch is None:
        scratch = spaces[id(db)] = hyperscan.Scratch(db)

    def scan(raw: bytes) -> frozenset[bytes]:
        found: set[bytes] = set()

        def seen(number: int, start: int, end: int, flags: int, context: object) -> None:
            found.add(needles[number])

        db.scan(raw, match_event_handler=seen, scratch=scratch)
        return frozenset(found)

    return scan
