"""French social security number (NIR, "numéro de sécurité sociale").

Fifteen characters: sex, year, month, place of birth (five, ``2A``/``2B`` for Corsica,
also written ``2a``/``2b``), order number, then a key equal to 97 minus the first
thirteen modulo 97 (Corsica counts as 19/18 for the key only). Sex 1–4, 7, 8; month
01–12 or 20–99. The key-less thirteen-character form is reported only next to a NIR
word, with a lower confidence.
"""

from __future__ import annotations

from collections.abc import Iterator

from leakguard.detectors._base import (
    AFTER_FIRST,
    KEYSEP,
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

KIND = "nir"
# How far (characters) a NIR word may sit from a key-less number, and its confidence.
CONTEXT_RADIUS = 60
SHORT_CONFIDENCE = 0.6

_D = "[0-9]"
PATTERN = compiled(
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
_OTHER = other_number_labels()
_WHAT = "social security number"


def compact(value: str, /) -> str:
    """The number without separators, upper case (``2a`` becomes ``2A``)."""
    return compact_or_raise(value, _WHAT)


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
    from stdnum.fr import nir as stdnir  # python-stdnum loads when first needed

    return stdnum_check(stdnir.validate, number, _WHAT)


def is_valid(value: str, /) -> bool:
    """True for a valid fifteen-character NIR in any layout; never raises."""
    return valid_by(validate, value)


# For the key only, Corsica counts as department 19 (2A) or 18 (2B).
_CORSICA = {"2A": "19", "2B": "18"}


def _ok(number: str) -> bool:
    """``is_valid`` for a value already compact, without exceptions (the hot path)."""
    if len(number) != 15 or number[0] not in "123478":
        return False
    if not (number[:5].isdigit() and number[7:].isdigit()):
        return False
    place = number[5:7]
    place = _CORSICA.get(place, place)
    if not place.isdigit():
        return False
    month = int(number[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 99):
        return False
    return 97 - int(number[:5] + place + number[7:13]) % 97 == int(number[13:])


def _acceptable(number: str) -> bool:
    """A valid NIR, or a well-formed key-less one (the pattern gives 13 or 15 characters)."""
    if len(number) == 15:
        return _ok(number)
    return len(number) == 13 and valid_by(_check_body, number)


def _confidence(number: str) -> float:
    return 1.0 if len(number) == 15 else SHORT_CONFIDENCE


_MASK13 = masker((1, 2, 2, 2, 3, 3), keep_last=2, keep_first=1)
_MASK = masker((1, 2, 2, 2, 3, 3, 2), keep_last=4, keep_first=1)


def mask(compact: str, /) -> str:
    """Sex digit, three order digits and the key: ``1 ** ** ** *** *45 29``."""
    if len(compact) == 13:
        return _MASK13(compact)
    return _MASK(compact)


def candidates(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """NIRs with a right key, and well-formed key-less ones, in ``text[pos:endpos]``."""
    return pattern_candidates(PATTERN, KIND, text, pos, endpos, _acceptable, confidence=_confidence)


def judge(text: str, start: int, end: int, number: str, /) -> float | None:
    """The confidence of candidate ``number`` at ``text[start:end]``, or ``None`` when it
    is dropped: a key-less number counts only with a NIR word nearby."""
    if labelled_otherwise(text, start, end, _CONTEXT, CONTEXT_RADIUS, _OTHER):
        return None  # "commande n° …", "SIRET …": a number that is nobody's NIR
    if len(number) == 15:
        return 1.0
    return SHORT_CONFIDENCE if near(text, start, end, _CONTEXT, CONTEXT_RADIUS) else None


def decide(text: str, match: Match, /) -> Match | None:
    """The candidate as :func:`judge` has it (context judged in ``text``)."""
    return judged(match, judge(text, match.start, match.end, match.compact))


def find_in(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]`` (context judged in ``text``)."""
    return find_in_with(candidates, decide, text, pos, endpos)


def find(text: str, /) -> Iterator[Match]:
    """Every valid NIR in ``text``, left to right."""
    return find_all(find_in, text)
