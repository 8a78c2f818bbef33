"""French social security number (NIR, "numéro de sécurité sociale").

Fifteen characters: sex, year, month, place of birth (five, ``2A``/``2B`` for Corsica),
order number, then a key equal to 97 minus the first thirteen modulo 97 (Corsica counts
as 19/18 for the key only). Sex 1–4, 7, 8; month 01–12 or 20–99. The key-less
thirteen-character form is reported only next to a NIR word, with a lower confidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum.exceptions import ValidationError as _StdnumError
from stdnum.fr import nir as _stdnir

from leakguard.detectors._base import (
    AFTER_FIRST,
    KEYSEP,
    OSEP,
    RIGHT,
    InvalidComponent,
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

KIND = "nir"
# How far (characters) a NIR word may sit from a key-less number, and its confidence.
CONTEXT_RADIUS = 60
SHORT_CONFIDENCE = 0.6

_D = "[0-9]"
PATTERN = re.compile(
    "[1-478]"
    + AFTER_FIRST
    + OSEP
    + _D * 2
    + OSEP
    + _D * 2
    + OSEP
    # Place: department (2, or 2A/2B) + commune (3), or overseas 97x/98x (3) + commune (2).
    + f"(?:(?:{_D}{{2}}|2[ABab]){OSEP}{_D}{{3}}|9[78]{_D}{OSEP}{_D}{{2}})"
    + OSEP
    + _D * 3
    # Either the key, or the key-less form that no digit follows.
    + f"(?:{KEYSEP}?{_D}{{2}}|(?!{KEYSEP}?{_D}))"
    + RIGHT
)
_CONTEXT = context_pattern("nir")
_WHAT = "social security number"


def compact(value: str, /) -> str:
    """The number without separators, upper case (``2a`` becomes ``2A``)."""
    out = strip_separators(value)
    if out is None:
        raise InvalidFormat(f"This {_WHAT} has characters or a layout it never has.")
    return out


def _check_body(number: str) -> None:
    """Check the thirteen characters before the key (structure only)."""
    if not (number[:5].isdigit() and number[7:13].isdigit()):
        raise InvalidFormat(f"This {_WHAT} has characters or a layout it never has.")
    if not (number[5:7].isdigit() or number[5:7] in ("2A", "2B")):
        raise InvalidFormat(f"This {_WHAT} has an impossible place of birth.")
    if number[0] not in "123478":
        raise InvalidComponent(f"This {_WHAT} starts with an impossible sex digit.")
    month = int(number[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 99):
        raise InvalidComponent(f"This {_WHAT} has an impossible month of birth.")


def validate(value: str, /) -> str:
    """The compact number if it is a valid fifteen-character NIR, else raise."""
    number = compact(value)
    if len(number) != 15:
        raise InvalidLength(f"A {_WHAT} has fifteen characters.")
    _check_body(number)
    try:
        return str(_stdnir.validate(number))
    except _StdnumError as exc:
        raise from_stdnum(exc, _WHAT) from None


def is_valid(value: str, /) -> bool:
    """True for a valid fifteen-character NIR in any layout; never raises."""
    try:
        validate(value)
    except (ValueError, TypeError):
        return False
    return True


def _short_ok(number: str) -> bool:
    if len(number) != 13:
        return False
    try:
        _check_body(number)
    except ValueError:
        return False
    return True


def mask(compact: str, /) -> str:
    """Sex digit, three order digits and the key: ``1 ** ** ** *** *45 29``."""
    if len(compact) == 13:
        return mask_keep(compact, (1, 2, 2, 2, 3, 3), keep_last=2, keep_first=1)
    return mask_keep(compact, (1, 2, 2, 2, 3, 3, 2), keep_last=4, keep_first=1)


def candidates(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """NIRs with a right key, and well-formed key-less ones, in ``text[pos:endpos]``."""
    for m in PATTERN.finditer(text, pos, endpos):
        raw = m.group()
        if not fits_fast_path(raw):
            continue
        number = strip_separators(raw)
        if number is None:
            continue
        if len(number) == 15:
            if is_valid(number):
                yield Match(KIND, m.start(), m.end(), number)
        elif _short_ok(number):
            yield Match(KIND, m.start(), m.end(), number, confidence=SHORT_CONFIDENCE)


def decide(text: str, match: Match, /) -> Match | None:
    """A key-less number counts only with a NIR word nearby in ``text``."""
    if len(match.compact) == 15 or near(text, match.start, match.end, _CONTEXT, CONTEXT_RADIUS):
        return match
    return None


def find_in(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]`` (context judged in ``text``)."""
    for c in candidates(text, pos, endpos):
        m = decide(text, c)
        if m is not None:
            yield m


def find(text: str, /) -> Iterator[Match]:
    """Every valid NIR in ``text``, left to right."""
    if not isinstance(text, str):
        return iter(())
    return find_in(text, 0, len(text))
