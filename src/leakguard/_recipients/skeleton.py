"""Confusable skeletons (Unicode UTS #39) for comparing addresses that merely look alike.

Two strings that a reader cannot tell apart (Cyrillic ``а`` for Latin ``a``, fullwidth
forms, ``rn`` for ``m``) get the same skeleton. The prototype table is rebuilt from the
Unicode confusables data shipped by the ``confusable-homoglyphs`` package; nothing is
downloaded.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Sequence
from importlib import resources

__all__ = ["skeleton", "skeletons"]

# Marks the data file wraps around right-to-left characters for display only.
_DIRECTION_MARKS = str.maketrans("", "", "\u200e\u200f")


@functools.cache
def _prototypes() -> dict[int, str]:
    """Source code point -> prototype string, as in Unicode's ``confusables.txt``.

    The packaged JSON lists each confusable pair in both directions. A source character
    maps to exactly one prototype and is never a prototype itself, so a single-entry key
    is a source unless its partner is also a single entry (a prototype with one source);
    for those pairs the file keeps the order of ``confusables.txt`` (source first).
    """
    raw = (resources.files("confusable_homoglyphs") / "confusables.json").read_text("utf-8")
    data: dict[str, list[dict[str, str]]] = json.loads(raw)
    order = {key: i for i, key in enumerate(data)}
    table: dict[int, str] = {}
    for key, entries in data.items():
        source = key.translate(_DIRECTION_MARKS)
        if len(source) != 1 or len(entries) != 1:
            continue
        partner = entries[0]["c"]
        target = partner.translate(_DIRECTION_MARKS)
        back = data.get(partner)
        if back is not None and len(back) == 1 and len(target) == 1 and order[key] > order[partner]:
            continue  # this key is the prototype of a one-source pair
        if target and target != source:
            table[ord(source)] = target
    return table


@functools.lru_cache(maxsize=4096)
def _skeleton_slow(text: str) -> str:
    mapped = unicodedata.normalize("NFD", text).translate(_prototypes())
    return unicodedata.normalize("NFD", mapped).lower()


@functools.cache
def _ascii_pairs() -> tuple[tuple[str, str], ...]:
    # A handful of ASCII characters have prototypes (0 -> O, 1 -> l, m -> rn...). No
    # prototype holds a source character, so replacing them one after another is the
    # same as mapping them all at once, and str.replace runs at C speed.
    return tuple((chr(cp), proto) for cp, proto in sorted(_prototypes().items()) if cp < 128)


def _ascii_skeleton(lowered: str) -> str:
    for source, proto in _ascii_pairs():
        if source in lowered:
            lowered = lowered.replace(source, proto)
    return lowered.lower()


def skeleton(text: str, /) -> str:
    """The UTS #39 skeleton of ``text``, case-folded so that case never matters.

    The text is lower-cased first (addresses compare case-insensitively), then
    decomposed, mapped character by character to its prototype, decomposed again and
    lower-cased again (prototypes such as ``O`` for the digit ``0`` are capitals).
    """
    lowered = text.lower()
    if lowered.isascii():
        return _ascii_skeleton(lowered)
    return _skeleton_slow(lowered)


def skeletons(texts: Sequence[str], /) -> list[str]:
    """``skeleton`` of many strings; plain ASCII ones go through C code in one pass."""
    joined = "\n".join(texts)
    if joined.isascii() and joined.count("\n") == len(texts) - 1:
        if not texts:
            return []
        return _ascii_skeleton(joined.lower()).split("\n")
    return [skeleton(t) for t in texts]
