"""Canadian social insurance number (SIN / NAS), kind ``ca_sin``.

Nine digits, Luhn valid, first digit neither 0 nor 8 (9 marks a temporary resident).
Nine Luhn-valid digits are common, so a SIN is reported only with a context word
(NAS, numéro d'assurance sociale, SIN, social insurance number) within ~50 characters.
"""

from __future__ import annotations

from collections.abc import Iterator

from leakguard.detectors._base import (
    AFTER_FIRST,
    OSEP,
    RIGHT,
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
    stdnum_check,
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

KIND = "ca_sin"
CONTEXT_RADIUS = 50

PATTERN = compiled(
    "[1-79]" + AFTER_FIRST + "[0-9]{2}" + OSEP + "[0-9]{3}" + OSEP + "[0-9]{3}" + RIGHT
)
_CONTEXT = context_pattern("ca_sin")
_WHAT = "social insurance number"


def compact(value: str, /) -> str:
    """The number without separators."""
    return compact_or_raise(value, _WHAT)


def validate(value: str, /) -> str:
    """The compact number if it is a valid SIN, else raise."""
    number = compact(value)
    if len(number) != 9:
        raise InvalidLength(f"A {_WHAT} has nine digits.")
    if not number.isdigit():
        raise InvalidFormat(f"A {_WHAT} has digits only.")
    from stdnum.ca import sin as stdsin  # python-stdnum loads when first needed

    return stdnum_check(stdsin.validate, number, _WHAT)


def is_valid(value: str, /) -> bool:
    """True for a valid SIN in any layout (context not considered); never raises."""
    return valid_by(validate, value)


def _ok(number: str) -> bool:
    """``is_valid`` for a value already compact, without exceptions (the hot path)."""
    if len(number) != 9 or not number.isdigit() or number[0] in "08":
        return False
    # Luhn: from the right, every second digit doubled (minus 9 past 9).
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = ord(ch) - 48
        total += digit if i % 2 == 0 else _DOUBLED[digit]
    return total % 10 == 0


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


_MASK = masker((3, 3, 3), keep_last=3)


def mask(compact: str, /) -> str:
    """Only the last three digits: ``*** *** 544``."""
    return _MASK(compact)


def candidates(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid SINs whose candidates lie in ``text[pos:endpos]`` (context comes in ``decide``)."""
    return pattern_candidates(PATTERN, KIND, text, pos, endpos, _ok)


def judge(text: str, start: int, end: int, number: str, /) -> float | None:
    """Full confidence for a SIN with a SIN word within ``CONTEXT_RADIUS``; else dropped."""
    return 1.0 if near(text, start, end, _CONTEXT, CONTEXT_RADIUS) else None


def decide(text: str, match: Match, /) -> Match | None:
    """The candidate as :func:`judge` has it (context judged in ``text``)."""
    return judged(match, judge(text, match.start, match.end, match.compact))


def find_in(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]`` (context judged in ``text``)."""
    return find_in_with(candidates, decide, text, pos, endpos)


def find(text: str, /) -> Iterator[Match]:
    """Every valid SIN with context in ``text``, left to right."""
    return find_all(find_in, text)
