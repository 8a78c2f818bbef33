"""Belgian national register number and BIS number (NISS / INSZ), kind ``be_niss``.

``YYMMDD`` + counter (3) + check (2); the check is 97 minus the first nine digits modulo
97, or with ``2`` prepended for people born from 2000: both centuries are tried. BIS
numbers add 20 or 40 to the month; month or day ``00`` means unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum.be import bis as _stdbis
from stdnum.be import nn as _stdnn
from stdnum.exceptions import ValidationError as _StdnumError

from leakguard.detectors._base import (
    AFTER_FIRST,
    KEYSEP,
    OSEP,
    RIGHT,
    InvalidFormat,
    InvalidLength,
    Match,
    ValidationError,
    fits_fast_path,
    from_stdnum,
    mask_keep,
    near,
    strip_separators,
)
from leakguard.detectors._lexicon import context_pattern

__all__ = [
    "KIND",
    "PATTERN",
    "candidates",
    "compact",
    "decide",
    "find",
    "find_in",
    "is_valid",
    "mask",
    "validate",
]

KIND = "be_niss"
CONTEXT_RADIUS = 60
# Without a context word a valid number is still reported, a little less surely.
BARE_CONFIDENCE = 0.8

PATTERN = re.compile(
    "[0-9]"
    + AFTER_FIRST
    + "[0-9]"
    + OSEP
    + "[0-9]{2}"
    + OSEP
    + "[0-9]{2}"
    + OSEP
    + "[0-9]{3}"
    + KEYSEP
    + "?[0-9]{2}"
    + RIGHT
)
_CONTEXT = context_pattern("be_niss")
_WHAT = "national register number"


def compact(value: str, /) -> str:
    """The number without separators."""
    out = strip_separators(value)
    if out is None:
        raise InvalidFormat(f"This {_WHAT} has characters or a layout it never has.")
    return out


def validate(value: str, /) -> str:
    """The compact number if it is a valid national or BIS number, else raise."""
    number = compact(value)
    if len(number) != 11:
        raise InvalidLength(f"A {_WHAT} has eleven digits.")
    if not number.isdigit():
        raise InvalidFormat(f"A {_WHAT} has digits only.")
    module = _stdbis if 20 <= int(number[2:4]) <= 59 else _stdnn
    try:
        return str(module.validate(number))
    except _StdnumError as exc:
        raise from_stdnum(exc, _WHAT) from None


def is_valid(value: str, /) -> bool:
    """True for a valid national or BIS number in any layout; never raises."""
    try:
        validate(value)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


def mask(compact: str, /) -> str:
    """Only the last three digits, never the birth date: ``** ** ** **3 28``."""
    return mask_keep(compact, (2, 2, 2, 3, 2), keep_last=3)


def candidates(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]``."""
    for m in PATTERN.finditer(text, pos, endpos):
        raw = m.group()
        number = strip_separators(raw)
        if number is None or not fits_fast_path(raw) or not is_valid(number):
            continue
        yield Match(KIND, m.start(), m.end(), number)


def decide(text: str, match: Match, /) -> Match | None:
    """Full confidence with a context word nearby in ``text``, a little less without."""
    if near(text, match.start, match.end, _CONTEXT, CONTEXT_RADIUS):
        return match
    return Match(KIND, match.start, match.end, match.compact, confidence=BARE_CONFIDENCE)


def find_in(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]`` (context judged in ``text``)."""
    for c in candidates(text, pos, endpos):
        m = decide(text, c)
        if m is not None:
            yield m


def find(text: str, /) -> Iterator[Match]:
    """Every valid national or BIS number in ``text``, left to right."""
    if not isinstance(text, str):
        return iter(())
    return find_in(text, 0, len(text))
