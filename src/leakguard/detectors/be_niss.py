"""Belgian national register number and BIS number (NISS / INSZ), kind ``be_niss``.

``YYMMDD`` + counter (3) + check (2); the check is 97 minus the first nine digits modulo
97, or with ``2`` prepended for people born from 2000: both centuries are tried. BIS
numbers add 20 or 40 to the month; month or day ``00`` means unknown.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from leakguard.detectors._base import (
    AFTER_FIRST,
    KEYSEP,
    OSEP,
    RIGHT,
    InvalidFormat,
    InvalidLength,
    Match,
    compact_or_raise,
    find_all,
    find_in_with,
    judged,
    labelled_otherwise,
    masker,
    near,
    pattern_candidates,
    stdnum_check,
    valid_by,
)
from leakguard.detectors._lexicon import context_pattern, other_number_labels
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

KIND = "be_niss"
CONTEXT_RADIUS = 60
# Without a context word a valid number is still reported, a little less surely.
BARE_CONFIDENCE = 0.8

PATTERN = compiled(
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
_OTHER = other_number_labels()
_WHAT = "national register number"


def compact(value: str, /) -> str:
    """The number without separators."""
    return compact_or_raise(value, _WHAT)


def validate(value: str, /) -> str:
    """The compact number if it is a valid national or BIS number, else raise."""
    number = compact(value)
    if len(number) != 11:
        raise InvalidLength(f"A {_WHAT} has eleven digits.")
    if not number.isdigit():
        raise InvalidFormat(f"A {_WHAT} has digits only.")
    from stdnum.be import bis, nn  # python-stdnum loads when first needed

    module = bis if 20 <= int(number[2:4]) <= 59 else nn
    return stdnum_check(module.validate, number, _WHAT)


def is_valid(value: str, /) -> bool:
    """True for a valid national or BIS number in any layout; never raises."""
    return valid_by(validate, value)


def _ok(number: str) -> bool:
    """``is_valid`` for a value already compact, without exceptions (the hot path).

    The same rules as python-stdnum's national and BIS checks: the key for a birth in
    the 1900s, or in the 2000s when that year has come; a month (after the BIS shift)
    of 1-12 or unknown.
    """
    if len(number) != 11 or not number.isdigit() or int(number) == 0:
        return False
    month = int(number[2:4])
    if not (month <= 12 or 20 <= month <= 32 or 40 <= month <= 52):
        return False
    key = int(number[9:])
    if 97 - int(number[:9]) % 97 == key:
        return True
    this_year = datetime.date.today().year
    return int(number[:2]) + 2000 <= this_year and 97 - int("2" + number[:9]) % 97 == key


_MASK = masker((2, 2, 2, 3, 2), keep_last=3)


def mask(compact: str, /) -> str:
    """Only the last three digits, never the birth date: ``** ** ** **3 28``."""
    return _MASK(compact)


def candidates(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]``."""
    return pattern_candidates(PATTERN, KIND, text, pos, endpos, _ok)


def judge(text: str, start: int, end: int, number: str, /) -> float | None:
    """The confidence of candidate ``number`` at ``text[start:end]``: full with a context
    word nearby, a little less without; ``None`` after a professional's label."""
    if labelled_otherwise(text, start, end, _CONTEXT, CONTEXT_RADIUS, _OTHER):
        return None  # "RPPS …", "INAMI …": a professional's number, not a person's NISS
    return 1.0 if near(text, start, end, _CONTEXT, CONTEXT_RADIUS) else BARE_CONFIDENCE


def decide(text: str, match: Match, /) -> Match | None:
    """The candidate as :func:`judge` has it (context judged in ``text``)."""
    return judged(match, judge(text, match.start, match.end, match.compact))


def find_in(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]`` (context judged in ``text``)."""
    return find_in_with(candidates, decide, text, pos, endpos)


def find(text: str, /) -> Iterator[Match]:
    """Every valid national or BIS number in ``text``, left to right."""
    return find_all(find_in, text)
