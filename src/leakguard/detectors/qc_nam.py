"""Québec health insurance number (NAM, RAMQ card), kind ``qc_nam``.

Four capital letters (three of the surname, one of the given name), then ``YYMMDD``
with 50 added to the month for women, then two administrative digits: ``TREM 5211
2512``. RAMQ publishes no check digit: valid means this structure with a real date.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from leakguard.detectors._base import (
    AFTER_FIRST,
    OSEP,
    RIGHT,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    Match,
    compact_or_raise,
    find_all,
    find_in_with,
    judged,
    masker,
    near,
    pattern_candidates,
    valid_by,
)
from leakguard.detectors._lexicon import context_pattern
from leakguard.detectors._programs import compiled

__all__ = [
    "KIND",
    "PATTERN",
    "candidates",
    "compact",
    "decide",
    "find",
    "find_in",
    "is_valid",
    "judge",
    "mask",
    "validate",
]

KIND = "qc_nam"
CONTEXT_RADIUS = 60
# The structure alone is weak evidence; a RAMQ word nearby makes it sure.
BARE_CONFIDENCE = 0.7

# Capitals only, as printed on the card: a lower-case word before eight digits is prose.
PATTERN = compiled(
    "[A-Z]" + AFTER_FIRST + "[A-Z]{3}" + OSEP + "[0-9]{4}" + OSEP + "[0-9]{4}" + RIGHT
)
_CONTEXT = context_pattern("qc_nam")
_WHAT = "health insurance number"


def compact(value: str, /) -> str:
    """The number without separators, upper case."""
    return compact_or_raise(value, _WHAT)


def _real_date(yy: int, mm: int, dd: int) -> bool:
    # The century is not written: a date real in either one is accepted.
    for century in (1900, 2000):
        try:
            datetime.date(century + yy, mm, dd)
        except ValueError:
            continue
        return True
    return False


def validate(value: str, /) -> str:
    """The compact NAM if its structure and birth date are right, else raise."""
    number = compact(value)
    if len(number) != 12:
        raise InvalidLength(f"A {_WHAT} has twelve characters.")
    if not (number[:4].isalpha() and number[4:].isdigit()):
        raise InvalidFormat(f"A {_WHAT} is four letters then eight digits.")
    yy, mm, dd = int(number[4:6]), int(number[6:8]), int(number[8:10])
    if mm > 50:
        mm -= 50
    if not _real_date(yy, mm, dd):
        raise InvalidComponent(f"The birth date inside this {_WHAT} does not exist.")
    return number


def is_valid(value: str, /) -> bool:
    """True for a NAM with a real birth date in any layout; never raises."""
    return valid_by(validate, value)


_MASK = masker((4, 4, 4), keep_last=2)


def mask(compact: str, /) -> str:
    """No letter of the name, no date: only the two administrative digits."""
    return _MASK(compact)


def candidates(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid NAMs whose candidates lie in ``text[pos:endpos]``."""
    return pattern_candidates(PATTERN, KIND, text, pos, endpos, is_valid)


def judge(text: str, start: int, end: int, number: str, /) -> float | None:
    """Full confidence with a context word nearby in ``text``, a little less without."""
    return 1.0 if near(text, start, end, _CONTEXT, CONTEXT_RADIUS) else BARE_CONFIDENCE


def decide(text: str, match: Match, /) -> Match | None:
    """The candidate as :func:`judge` has it (context judged in ``text``)."""
    return judged(match, judge(text, match.start, match.end, match.compact))


def find_in(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]`` (context judged in ``text``)."""
    return find_in_with(candidates, decide, text, pos, endpos)


def find(text: str, /) -> Iterator[Match]:
    """Every valid NAM in ``text``, left to right."""
    return find_all(find_in, text)
