"""French bank details (RIB, "relevé d'identité bancaire"): bank, branch, account, key.

Bank (5 digits), branch (5), account (11 letters or digits), key (2). Letters of the
account count as digits (A,J→1 B,K,S→2 … I,R,Z→9) and the whole 23-digit number must be
0 modulo 97. Found written in a row, compact, as four cells of a spreadsheet row
(``12506;69891;17883976074;44``, or tab-separated) anywhere in a text, or as four
labelled table fields ("Code banque", "Code guichet", "N° de compte", "Clé RIB").
python-stdnum has no RIB.

A RIB written as one token (groups apart by spaces, dots or dashes) whose key is wrong
is a mistyped RIB, not a place where another number hides: :func:`wrong_key_covers`
tells the other detectors so. Table cells are not one token: a row of four cells shaped
like a RIB may hold a person's number in its third cell.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from itertools import chain

from leakguard.detectors._base import (
    AFTER_FIRST,
    KEYSEP,
    RIGHT,
    SEP,
    InvalidChecksum,
    InvalidFormat,
    InvalidLength,
    Match,
    compact_or_raise,
    find_in_with,
    keep,
    masker,
    pattern_candidates,
    strip_separators,
    valid_by,
)
from leakguard.detectors._programs import compiled

__all__ = [
    "KIND",
    "PATTERN",
    "TOKEN",
    "calc_key",
    "candidates",
    "compact",
    "decide",
    "find",
    "find_in",
    "find_labelled",
    "is_valid",
    "key_ok",
    "labelled",
    "mask",
    "validate",
    "wrong_key_covers",
]

KIND = "rib"

# Between two cells of a spreadsheet row saved as text: a semicolon, maybe spaced.
_CELL = "[ \t\u00a0]{0,2};[ \t\u00a0]{0,2}"
_GSEP = f"(?:{SEP}|{_CELL})?"
_KSEP = f"(?:{KEYSEP}|{_CELL})?"
PATTERN = compiled(
    "[0-9]"
    + AFTER_FIRST
    + "[0-9]{4}"
    + _GSEP
    + "[0-9]{5}"
    + _GSEP
    + "[0-9A-Za-z]{11}"
    + _KSEP
    + "[0-9]{2}"
    + RIGHT
)
# A RIB written as one token: groups apart only by spaces, dots or dashes (a slash also
# before the key), not by table cells or lines. Four cells of a table row shaped like a
# RIB may be four different values (postcode, record number, a person's number, age).
_TOKEN_SEP = "(?:[ \u00a0\u202f.\\-]{1,3})?"
TOKEN = re.compile(
    "[0-9]"
    + AFTER_FIRST
    + "[0-9]{4}"
    + _TOKEN_SEP
    + "[0-9]{5}"
    + _TOKEN_SEP
    + "[0-9A-Za-z]{11}"
    + "(?:[ \u00a0\u202f.\\-/]{1,3})?"
    + "[0-9]{2}"
    + RIGHT
)
# The longest text TOKEN can match (four groups and three separators).
_LONGEST = 23 + 3 * 3

# Between a label and its value, or a value and the next label: a colon, spaces, a
# table-cell boundary, at most one line break.
_L = r"[ \t\u00a0:]{0,6}(?:\r?\n[ \t\u00a0:]{0,6})?"


@functools.cache
def labelled() -> re.Pattern[str]:
    """The pattern of a RIB laid out as labelled fields, compiled when a text first
    holds the word "guichet" that it needs (its case-blind parts are slow to compile,
    and most texts never need it)."""
    return re.compile(
        r"(?i:code[ \u00a0]{0,2}banque)" + _L + "(?P<bank>[0-9]{5})" + _L
        + r"(?i:code[ \u00a0]{0,2})(?:guichet|Guichet|GUICHET)" + _L + "(?P<branch>[0-9]{5})" + _L
        + r"(?i:(?:n[°º]|no\.?|num[ée]ro)?[ \u00a0]{0,2}(?:de[ \u00a0]{1,2})?compte)"
        + _L + "(?P<account>[0-9A-Za-z]{11})" + _L
        + r"(?i:cl[ée](?:[ \u00a0]{1,2}rib)?)" + _L + "(?P<key>[0-9]{2})"
        + RIGHT
    )  # fmt: skip


def __getattr__(name: str) -> re.Pattern[str]:
    # ``LABELLED``: the pattern above, compiled on first use.
    if name == "LABELLED":
        return labelled()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_LETTERS = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "12345678912345678923456789",
)
_WHAT = "RIB"


def compact(value: str, /) -> str:
    """The RIB without separators, upper case."""
    return compact_or_raise(value, _WHAT)


def calc_key(bank: str, branch: str, account: str, /) -> str:
    """The two-digit key of a RIB (account letters converted to digits)."""
    acc = int(account.upper().translate(_LETTERS))
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * acc) % 97:02d}"


def key_ok(number: str, /) -> bool:
    """True when compact ``number`` (23 characters, upper case) is a RIB with a right key."""
    return (
        len(number) == 23
        and number[:10].isdigit()
        and number[21:].isdigit()
        and number[10:21].isalnum()
        and number.isascii()
        and calc_key(number[:5], number[5:10], number[10:21]) == number[21:]
    )


def validate(value: str, /) -> str:
    """The compact RIB if its structure and key are right, else raise."""
    number = compact(value)
    if len(number) != 23:
        raise InvalidLength(f"A {_WHAT} has twenty-three characters.")
    if not (number[:10].isdigit() and number[21:].isdigit()):
        raise InvalidFormat(f"This {_WHAT} has letters where only digits may be.")
    if calc_key(number[:5], number[5:10], number[10:21]) != number[21:]:
        raise InvalidChecksum(f"The check key of this {_WHAT} does not match.")
    return number


def is_valid(value: str, /) -> bool:
    """True for a valid RIB in any layout; never raises."""
    return valid_by(validate, value)


_MASK = masker((5, 5, 11, 2), keep_last=4)


def mask(compact: str, /) -> str:
    """Only the last four characters: ``***** ***** *********01 89``."""
    return _MASK(compact)


def candidates(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid RIBs written in a row whose candidates lie in ``text[pos:endpos]``."""
    return pattern_candidates(PATTERN, KIND, text, pos, endpos, key_ok)


def decide(text: str, match: Match, /) -> Match | None:
    """No context needed: the key decides."""
    return keep(text, match)


def find_in(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]`` (context judged in ``text``)."""
    return find_in_with(candidates, decide, text, pos, endpos)


def wrong_key_covers(text: str, start: int, end: int, /) -> bool:
    """True when ``text[start:end]`` lies inside one token laid out as a RIB (bank,
    branch, account, key, see :data:`TOKEN`) whose key is wrong."""
    # Every place a RIB-shaped token starts near the span, overlapping ones included.
    stop = min(len(text), start + _LONGEST + 1)
    for m in _TOKENS.finditer(text, max(0, end - _LONGEST), stop):
        if m.start() > start:
            break
        token = m.group(1)
        if m.start() + len(token) < end:
            continue
        number = strip_separators(token)
        if number is not None and not key_ok(number):
            return True
    return False


_TOKENS = re.compile(f"(?=({TOKEN.pattern}))")


def find_labelled(text: str, /) -> Iterator[Match]:
    """Valid RIBs laid out as labelled fields ("Code banque … Clé RIB …")."""
    if "uichet" not in text and "UICHET" not in text:
        return  # the pattern holds "guichet", "Guichet" or "GUICHET"
    for m in labelled().finditer(text):
        number = m["bank"] + m["branch"] + m["account"].upper() + m["key"]
        if is_valid(number):
            yield Match(KIND, m.start("bank"), m.end("key"), number)


def find(text: str, /) -> Iterator[Match]:
    """Every valid RIB in ``text``, in a row or as labelled fields."""
    if not isinstance(text, str):
        return iter(())
    return chain(find_in(text, 0, len(text)), find_labelled(text))
