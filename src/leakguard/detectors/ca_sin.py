"""Canadian social insurance number (SIN / NAS), kind ``ca_sin``.

Nine digits, Luhn valid, first digit neither 0 nor 8 (9 marks a temporary resident).
Nine Luhn-valid digits are common, so a SIN is reported only with a context word
(NAS, numéro d'assurance sociale, SIN, social insurance number) within ~50 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum.ca import sin as _stdsin
from stdnum.exceptions import ValidationError as _StdnumError

from leakguard.detectors._base import (
    AFTER_FIRST,
    OSEP,
    RIGHT,
    InvalidFormat,
    InvalidLength,
    Match,
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

KIND = "ca_sin"
CONTEXT_RADIUS = 50

PATTERN = re.compile(
    "[1-79]" + AFTER_FIRST + "[0-9]{2}" + OSEP + "[0-9]{3}" + OSEP + "[0-9]{3}" + RIGHT
)
_CONTEXT = context_pattern("ca_sin")
_WHAT = "social insurance number"


def compact(value: str, /) -> str:
    """The number without separators."""
    out = strip_separators(value)
    if out is None:
        raise InvalidFormat(f"This {_WHAT} has characters or a layout it never has.")
    return out


def validate(value: str, /) -> str:
    """The compact number if it is a valid SIN, else raise."""
    number = compact(value)
    if len(number) != 9:
        raise InvalidLength(f"A {_WHAT} has nine digits.")
    if not number.isdigit():
        raise InvalidFormat(f"A {_WHAT} has digits only.")
    try:
        return str(_stdsin.validate(number))
    except _StdnumError as exc:
        raise from_stdnum(exc, _WHAT) from None


def is_valid(value: str, /) -> bool:
    """True for a valid SIN in any layout (context not considered); never raises."""
    try:
        validate(value)
    except (ValueError, TypeError):
        return False
    return True


def mask(compact: str, /) -> str:
    """Only the last three digits: ``*** *** 544``."""
    return mask_keep(compact, (3, 3, 3), keep_last=3)


def candidates(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid SINs next to a SIN word whose candidates lie in ``text[pos:endpos]``."""
    for m in PATTERN.finditer(text, pos, endpos):
        raw = m.group()
        number = strip_separators(raw)
        if number is None or not fits_fast_path(raw) or not is_valid(number):
            continue
        yield Match(KIND, m.start(), m.end(), number)


def decide(text: str, match: Match, /) -> Match | None:
    """A SIN counts only with a SIN word within ``CONTEXT_RADIUS`` in ``text``."""
    if near(text, match.start, match.end, _CONTEXT, CONTEXT_RADIUS):
        return match
    return None


def find_in(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]`` (context judged in ``text``)."""
    for c in candidates(text, pos, endpos):
        m = decide(text, c)
        if m is not None:
            yield m


def find(text: str, /) -> Iterator[Match]:
    """Every valid SIN with context in ``text``, left to right."""
    if not isinstance(text, str):
        return iter(())
    return find_in(text, 0, len(text))
