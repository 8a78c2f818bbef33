"""International bank account number (IBAN, ISO 13616), any country.

The first four characters move to the end, letters count 10–35, the number must be 1
modulo 97, and the account part must follow the country's layout (python-stdnum checks
both). A French-style account (FR, MC and the French territories) must also carry a
right RIB key. Found grouped by four, compact, grouped by RIB field, with dots or
dashes, after ``IBAN:``, in lower case.

A token laid out as an IBAN (a country's code in capitals, two check digits, the
country's length and account layout) whose check fails is a mistyped IBAN, not a
place where another number hides: :func:`wrong_check_covers` tells the other
detectors so.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from leakguard.detectors import rib as _rib
from leakguard.detectors._base import (
    AFTER_FIRST,
    OSEP,
    RIGHT,
    SEP,
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    Match,
    compact_or_raise,
    find_all,
    find_in_with,
    fits_fast_path,
    keep,
    masker,
    strip_separators,
    valid_by,
)
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
    "mask",
    "validate",
    "wrong_check_covers",
]

KIND = "iban"

# Between the country code and the check digits (``FR 76``): at most two of these.
_CC_SEP_CHARS = "[ \u00a0\u202f.\\-]"
_CC_SEP = _CC_SEP_CHARS + "{0,2}"
# Country code, check digits, then groups of letters and digits between separators. The
# pattern may run past the number into following words; the country's length trims it.
PATTERN = compiled(
    "[A-Za-z]"
    + AFTER_FIRST
    + "[A-Za-z]"
    + _CC_SEP
    + "[0-9]{2}"
    + OSEP
    + "[0-9A-Za-z]{1,30}"
    + f"(?:{SEP}[0-9A-Za-z]{{1,30}}){{0,11}}"
    + RIGHT
)
# The check digits, seen from their first digit: the regex engine skips quickly to
# digits, while a pattern starting with a letter would be tried at every letter of prose.
_ANCHOR = re.compile(
    "[0-9]"
    + "(?:"
    + "|".join(f"(?<=[A-Za-z]{{2}}{_CC_SEP_CHARS}{{{n}}}.)" for n in range(3))
    + ")[0-9]"
)


_LAYOUT_PART = {"n": "[0-9]", "a": "[A-Z]", "c": "[0-9A-Z]", "e": " "}


@functools.cache
def _layout_re(bban: str) -> re.Pattern[str]:
    """A regex for an account layout written the registry's way (``5!n5!n11!c2!n``),
    compiled when an account of that layout is first checked (not ninety at start)."""
    parts = re.findall(r"([0-9]+)!?([nace])", bban)
    return re.compile("".join(f"{_LAYOUT_PART[kind]}{{{size}}}" for size, kind in parts))


# A country's line in python-stdnum's registry file: ``FR country="France" bban="..."``.
_REGISTRY_LINE = re.compile(r'([A-Z]{2})\s.*?\bbban="([^"]*)"')


def _registry() -> list[tuple[str, str]]:
    """(country code, account layout) of every country of the IBAN registry that
    python-stdnum ships. Its data file is read directly: importing the package would
    import ``ssl`` and ``pydoc`` as well, a sixth of a short command's start. Should the
    file be missing or change its form, the package's own reader gives the list."""
    pairs = _registry_file()
    if pairs:
        return pairs
    from stdnum import numdb

    return [
        (str(low), str(props.get("bban", "")))
        for _length, low, _high, props, _children in numdb.get("iban").prefixes
    ]


def _registry_file() -> list[tuple[str, str]]:
    """The pairs of python-stdnum's ``iban.dat``, or none when it cannot be read or has
    a line of another form."""
    spec = importlib.util.find_spec("stdnum")
    folders = spec.submodule_search_locations if spec is not None else None
    if not folders:
        return []
    try:
        text = (Path(next(iter(folders))) / "iban.dat").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = _REGISTRY_LINE.match(line)
        if m is not None:
            pairs.append((m.group(1), m.group(2)))
        elif line.strip() and not line.startswith("#"):
            return []
    return pairs


def _countries() -> Mapping[str, tuple[int, str]]:
    """Country code -> (IBAN length, account layout), from python-stdnum."""
    out: dict[str, tuple[int, str]] = {}
    for code, bban in _registry():
        size = sum(int(n) for n in re.findall(r"[0-9]+", bban))
        if size:
            out[code] = (4 + size, bban)
    return out


_COUNTRIES = _countries()
# ISO 7064 mod 97-10: letters count 10 (A) to 35 (Z).
_TO_DIGITS = {ord(c): str(i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)}
# An account laid out as a French RIB (bank 5, branch 5, account 11, key 2).
_RIB_LAYOUT = "5!n5!n11!c2!n"
_CC_SEP_SET = frozenset(" \u00a0\u202f.-")
_WHAT = "IBAN"


def compact(value: str, /) -> str:
    """The IBAN without separators nor ``IBAN`` prefix, upper case."""
    out = compact_or_raise(value, _WHAT)
    if out.startswith("IBAN"):
        out = out[4:]
    return out


def validate(value: str, /) -> str:
    """The compact IBAN if it is valid (mod 97, layout, RIB key for French accounts)."""
    number = compact(value)
    info = _COUNTRIES.get(number[:2])
    if info is None:
        raise InvalidComponent(f"This {_WHAT} has an unknown country code.")
    length, layout = info
    if len(number) != length:
        raise InvalidLength(f"This {_WHAT} has the wrong number of characters for its country.")
    # The same checks as python-stdnum's ``iban.validate(check_country=False)`` (tests
    # compare them), without its per-call registry look-ups; its national checks are
    # left out because they include bank lists that age.
    if not number[2:4].isdigit() or _layout_re(layout).fullmatch(number, 4) is None:
        raise InvalidFormat(f"This {_WHAT} does not follow its country's layout.")
    if int((number[4:] + number[:4]).translate(_TO_DIGITS)) % 97 != 1:
        raise InvalidChecksum(f"The check digits of this {_WHAT} do not match.")
    if layout == _RIB_LAYOUT and not _rib.key_ok(number[4:]):
        raise InvalidChecksum(f"The RIB key inside this {_WHAT} does not match.")
    return number


def _ok(number: str) -> bool:
    """``validate`` for a value already compact, without exceptions (the hot path)."""
    info = _COUNTRIES.get(number[:2])
    if info is None or len(number) != info[0]:
        return False
    if not number[2:4].isdigit() or _layout_re(info[1]).fullmatch(number, 4) is None:
        return False
    if int((number[4:] + number[:4]).translate(_TO_DIGITS)) % 97 != 1:
        return False
    return info[1] != _RIB_LAYOUT or _rib.key_ok(number[4:])


def is_valid(value: str, /) -> bool:
    """True for a valid IBAN in any layout; never raises."""
    return valid_by(validate, value)


_MASK = masker((4,) * 9, keep_last=4, keep_first=4)


def mask(compact: str, /) -> str:
    """Country, check digits and last four: ``FR76 **** **** **** **** ***0 189``."""
    return _MASK(compact)


def _trim(raw: str) -> int:
    """Where the IBAN inside candidate ``raw`` ends (0 when none fits)."""
    info = _COUNTRIES.get(raw[:2].upper())
    if info is None:
        return 0
    want = info[0]
    seen = 0
    for i, ch in enumerate(raw):
        if ch.isascii() and ch.isalnum():
            seen += 1
            if seen == want:
                end = i + 1
                # The number must stop at a group boundary, not inside a group.
                if end < len(raw) and raw[end].isalnum():
                    return 0
                return end
    return 0


def candidates(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid IBANs whose candidates lie in ``text[pos:endpos]``."""
    anchor = _ANCHOR.search
    match = PATTERN.match
    while True:
        a = anchor(text, pos, endpos)
        if a is None:
            return
        digits = a.start()
        # Back over the separator (at most two) and the two letters of the country.
        start = digits
        while start > digits - 2 and start > 0 and text[start - 1] in _CC_SEP_SET:
            start -= 1
        start -= 2
        m = match(text, start, endpos) if start >= 0 else None
        end = _trim(m.group()) if m is not None else 0
        raw = text[start : start + end]
        number = strip_separators(raw) if end else None
        if number is not None and _ok(number) and fits_fast_path(raw):
            yield Match(KIND, start, start + end, number)
            pos = start + end
        else:
            pos = digits + 1


# How far before a covered span an IBAN-shaped token may start: 34 characters and the
# separators of twelve groups.
_REACH = 34 + 12 * 10


def wrong_check_covers(text: str, start: int, end: int, /) -> bool:
    """True when ``text[start:end]`` lies inside a token laid out as an IBAN whose
    check fails.

    Laid out as an IBAN: a known country code written in capitals, two check digits,
    then exactly that country's number of characters in groups, following its account
    layout (``NL91 ABNA 0417 1643 00``).
    """
    for head in _HEAD.finditer(text, max(0, start - _REACH), min(len(text), start + 6)):
        at = head.start()
        if at > start:
            break
        info = _COUNTRIES.get(head[1])
        m = PATTERN.match(text, at) if info is not None else None
        if info is None or m is None:
            continue
        size = _trim(m.group())
        if at + size < end:
            continue
        number = strip_separators(m.group()[:size])
        if number is not None and _layout_re(info[1]).fullmatch(number, 4) and not _ok(number):
            return True
    return False


# Where an IBAN laid out in capitals may start: a country code, then check digits.
# (The look-behind comes after the first letter so that the engine skips to capitals.)
_HEAD = re.compile(f"([A-Z]{AFTER_FIRST}[A-Z]){_CC_SEP}[0-9]{{2}}")


def decide(text: str, match: Match, /) -> Match | None:
    """No context needed: the key decides."""
    return keep(text, match)


def find_in(text: str, pos: int, endpos: int, /) -> Iterator[Match]:
    """Valid numbers whose candidates lie in ``text[pos:endpos]`` (context judged in ``text``)."""
    return find_in_with(candidates, decide, text, pos, endpos)


def find(text: str, /) -> Iterator[Match]:
    """Every valid IBAN in ``text``, left to right."""
    return find_all(find_in, text)
