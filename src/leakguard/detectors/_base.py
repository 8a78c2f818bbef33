"""The shared interface of every detector, and the pieces of pattern they share.

A detector is a module that exposes ``KIND``, ``find``, ``compact``, ``is_valid``,
``validate`` and ``mask`` (see :class:`Detector`). A regular expression proposes
candidates; the checksum or the structure decides.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "AFTER_FIRST",
    "DENSE",
    "GAP_CHARS",
    "KEYSEP",
    "LABEL_RADIUS",
    "LEFT",
    "MAX_GAP",
    "MIN_DIGITS",
    "OSEP",
    "RIGHT",
    "RUN3",
    "SEP",
    "TAIL",
    "TAIL_CHARS",
    "Detector",
    "InvalidChecksum",
    "InvalidComponent",
    "InvalidFormat",
    "InvalidLength",
    "Match",
    "ValidationError",
    "compact_or_raise",
    "find_all",
    "find_in_with",
    "fits_fast_path",
    "from_stdnum",
    "judged",
    "keep",
    "labelled_otherwise",
    "mask_keep",
    "masker",
    "near",
    "pattern_candidates",
    "stdnum_check",
    "strip_separators",
    "valid_by",
]

# Separators allowed between the groups of a number: spaces (normal, no-break, narrow
# no-break), dot, dash, a table-cell boundary (tab) or one line break inside a row.
# At most a few in a row, so a number spread over a whole page is not joined up.
# The spaces around a line break are bounded so that the pattern stays linear.
SEP = r"(?:[ \u00a0\u202f\t.\-]{1,3}|[ \u00a0\u202f\t]{0,4}\r?\n[ \u00a0\u202f\t]{0,4})"
# Optional separator (zero or one of the above).
OSEP = SEP + "?"
# Before a check key a slash is also seen (``… 345 / 29``).
KEYSEP = r"(?:[ \u00a0\u202f\t.\-/]{1,3}|[ \u00a0\u202f\t]{0,4}\r?\n[ \u00a0\u202f\t]{0,4})"
# A candidate glued to a letter or a digit on either side is not a match.
LEFT = r"(?<![^\W_])"
# The same check written after a pattern's first character, so that the regex engine
# can still skip ahead to that character quickly (a leading look-behind defeats it).
AFTER_FIRST = r"(?<![^\W_].)"
RIGHT = r"(?![^\W_])"


class ValidationError(ValueError):
    """A value is not a valid identifier; the message never repeats the value.

    ValidationError
    ├── InvalidFormat      characters or layout that this identifier never has
    ├── InvalidLength      too short or too long
    ├── InvalidChecksum    the check key does not match
    └── InvalidComponent   a part (date, sex digit, country…) is impossible
    """

    default = "The value is not a valid identifier."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default)


class InvalidFormat(ValidationError):
    default = "The value contains characters or a layout this identifier never has."


class InvalidLength(ValidationError):
    default = "The value has the wrong number of characters."


class InvalidChecksum(ValidationError):
    default = "The check key does not match the rest of the number."


class InvalidComponent(ValidationError):
    default = "A part of the number (date, sex digit, country…) is impossible."


@dataclass(frozen=True, slots=True)
class Match:
    """A validated identifier (or a health-data category) found in a text.

    ``compact`` is the normalised value: it is never shown by ``repr``/``str``.
    For ``health_data`` it is the category word (e.g. ``"diagnosis"``).
    """

    kind: str
    start: int
    end: int
    compact: str = field(repr=False)
    confidence: float = 1.0

    def __repr__(self) -> str:
        return f"Match(kind={self.kind!r}, start={self.start}, end={self.end})"

    __str__ = __repr__


class Detector(Protocol):
    """What every detector module offers (python-stdnum style, plus ``find``)."""

    KIND: str

    def find(self, text: str, /) -> Iterator[Match]:
        """Every valid occurrence in ``text``, left to right, never raising."""
        ...

    def compact(self, value: str, /) -> str:
        """The value without separators, upper case."""
        ...

    def is_valid(self, value: str, /) -> bool:
        """True when ``value`` (in any accepted layout) is valid; never raises."""
        ...

    def validate(self, value: str, /) -> str:
        """The compact value if valid, else a :class:`ValidationError` (never the value)."""
        ...

    def mask(self, compact: str, /) -> str:
        """A form that lets a person recognise the number without revealing it."""
        ...


def mask_keep(compact: str, groups: tuple[int, ...], keep_last: int, keep_first: int = 0) -> str:
    """Mask ``compact`` laid out in ``groups``, keeping a few first and last characters."""
    return masker(groups, keep_last, keep_first)(compact)


@functools.cache
def masker(groups: tuple[int, ...], keep_last: int, keep_first: int = 0) -> Callable[[str], str]:
    """:func:`mask_keep` for these ``groups`` and kept characters, as one function: its
    layout is worked out once per length, then each mask is one formatting (a scan of
    an export masks a million values)."""
    plans: dict[int, tuple[str, Callable[[str], tuple[str, ...]]]] = {}

    def mask(compact: str, /) -> str:
        plan = plans.get(len(compact))
        if plan is None:
            plan = plans[len(compact)] = _mask_plan(groups, keep_last, keep_first, len(compact))
        template, shown = plan
        return template % shown(compact)

    return mask


def _mask_plan(
    groups: tuple[int, ...], keep_last: int, keep_first: int, n: int
) -> tuple[str, Callable[[str], tuple[str, ...]]]:
    """The masked form of any value of ``n`` characters as a ``%`` template (stars,
    spaces between groups, ``%s`` for each run of characters shown), and the function
    that takes those runs out of a value, as a tuple."""
    shown = [keep_first + keep_last >= n or i < keep_first or i >= n - keep_last for i in range(n)]
    template: list[str] = []
    kept: list[slice] = []
    for k, part in enumerate(_layout(groups, n)):
        if k:
            template.append(" ")
        i = part.start
        while i < part.stop:
            j = i
            while j < part.stop and shown[j] == shown[i]:
                j += 1
            if shown[i]:
                template.append("%s")
                kept.append(slice(i, j))
            else:
                template.append("*" * (j - i))
            i = j
    if not kept:
        return "".join(template), lambda _: ()
    if len(kept) == 1:
        one = kept[0]
        return "".join(template), lambda value: (value[one],)
    runs: Callable[[str], tuple[str, ...]] = operator.itemgetter(*kept)
    return "".join(template), runs


@functools.cache
def _layout(groups: tuple[int, ...], n: int) -> tuple[slice, ...]:
    """The non-empty slices of a value of ``n`` characters laid out in ``groups``."""
    out: list[slice] = []
    pos = 0
    for g in groups:
        if pos < min(n, pos + g):
            out.append(slice(pos, min(n, pos + g)))
        pos += g
    if pos < n:
        out.append(slice(pos, n))
    return tuple(out)


# Characters removed by every ``compact``: the separators above, plus a few a person
# types inside a number without thinking, and the semicolon between spreadsheet cells.
_STRIP = str.maketrans("", "", " \u00a0\u202f\u2009\t\r\n.-/:;")

# Fast-path contract (see ``leakguard.detectors.find_identifiers``). A "dense stretch"
# is a run of at least MIN_DIGITS digits, each at most MAX_GAP capitals or separators of
# ``SEP`` from the previous one, holding three digits in a row somewhere (a phone number
# "01 23 45 67 89" has none; no identifier layout lacks one). A semicolon (cells of a
# spreadsheet row) and the lower-case ``a`` and ``b`` (Corsican NIR ``2a``/``2b``) are
# gaps too. Other lower-case letters and slashes end a stretch, so ordinary words do
# not chain the numbers of a text together.
# Every match must hold a dense stretch that starts within MAX_GAP of its start and ends
# within MAX_GAP of its end; detectors reject candidates that do not.
MIN_DIGITS = 8
MAX_GAP = 12
GAP_CHARS = "A-Zab \u00a0\u202f\t.\\-\r\n;"
DENSE = re.compile(f"[0-9](?:[{GAP_CHARS}]{{0,{MAX_GAP}}}+[0-9]){{{MIN_DIGITS - 1},}}+")
RUN3 = re.compile("[0-9]{3}")


def strip_separators(value: object) -> str | None:
    """``value`` without separators, upper case, or ``None`` if it is not ASCII text."""
    if not isinstance(value, str):
        return None
    out = value.translate(_STRIP).upper()
    if not out.isascii() or not out.isalnum():
        return None
    return out


# A candidate may run on past its dense stretch through letters of any case (a
# lower-case IBAN such as ``fr14 … 3m02 606``); windows are widened over such a tail.
TAIL = 40
TAIL_CHARS = re.compile(f"[0-9A-Za-z{GAP_CHARS[3:]}]{{0,{TAIL}}}")


def fits_fast_path(candidate: str) -> bool:
    """True when ``candidate`` keeps the fast-path contract (see ``DENSE``).

    It must hold a dense stretch (as written) starting within MAX_GAP of its start,
    with three digits in a row, and end at most TAIL characters after that stretch.
    """
    n = len(candidate)
    for m in DENSE.finditer(candidate):
        if m.start() > MAX_GAP:
            return False
        if n - m.end() <= TAIL and RUN3.search(candidate, m.start(), m.end()) is not None:
            return True
    return False


def near(text: str, start: int, end: int, pattern: re.Pattern[str], radius: int) -> bool:
    """True when ``pattern`` (a whole-word lexicon) occurs within ``radius`` of a span."""
    return pattern.search(text, max(0, start - radius), min(len(text), end + radius)) is not None


def from_stdnum(error: Exception, what: str) -> ValidationError:
    """Our error for a python-stdnum one, with our own message (never the value)."""
    name = type(error).__name__
    if name == "InvalidLength":
        return InvalidLength(f"This {what} has the wrong number of characters.")
    if name == "InvalidChecksum":
        return InvalidChecksum(f"The check key of this {what} does not match.")
    if name == "InvalidComponent":
        return InvalidComponent(f"A part of this {what} is impossible.")
    return InvalidFormat(f"This {what} has characters or a layout it never has.")


def stdnum_check(check: Callable[[str], object], number: str, what: str, /) -> str:
    """``number`` as python-stdnum's ``check`` returns it, its errors turned into ours."""
    from stdnum.exceptions import ValidationError as StdnumError

    try:
        return str(check(number))
    except StdnumError as exc:
        raise from_stdnum(exc, what) from None


# ----------------------------------------------------------------- shared detector steps
# Every detector module is the same pipeline around its own pattern and checks:
# ``candidates`` (pattern, then the checks) -> ``decide`` (context in the whole text)
# -> ``find_in`` / ``find``. These are the shared steps; the modules name their parts.


def compact_or_raise(value: object, what: str, /) -> str:
    """``value`` without separators, upper case, or :class:`InvalidFormat` for a ``what``."""
    out = strip_separators(value)
    if out is None:
        raise InvalidFormat(f"This {what} has characters or a layout it never has.")
    return out


def valid_by(validate: Callable[[str], object], value: str, /) -> bool:
    """True when ``validate(value)`` accepts ``value``; never raises."""
    try:
        validate(value)
    except (ValueError, TypeError):
        return False
    return True


def pattern_candidates(
    pattern: re.Pattern[str],
    kind: str,
    text: str,
    pos: int,
    endpos: int,
    accept: Callable[[str], bool],
    /,
    *,
    confidence: Callable[[str], float] | None = None,
) -> Iterator[Match]:
    """Matches of ``pattern`` in ``text[pos:endpos]`` whose compact form ``accept`` takes.

    A candidate must also keep the fast-path contract (:func:`fits_fast_path`).
    ``confidence`` gives the confidence of an accepted compact form (1.0 without it).
    """
    for m in pattern.finditer(text, pos, endpos):
        raw = m.group()
        number = strip_separators(raw)
        if number is None or not accept(number) or not fits_fast_path(raw):
            continue
        sure = 1.0 if confidence is None else confidence(number)
        yield Match(kind, m.start(), m.end(), number, sure)


def keep(text: str, match: Match, /) -> Match | None:
    """The ``decide`` of a detector whose check key is enough: every candidate stays."""
    return match


def judged(match: Match, confidence: float | None, /) -> Match | None:
    """``match`` with the confidence a detector's ``judge`` gave (``None``: dropped)."""
    if confidence is None:
        return None
    if confidence == match.confidence:
        return match
    return Match(match.kind, match.start, match.end, match.compact, confidence)


# How far before a number a label such as "RPPS" or "SIRET" still names it.
LABEL_RADIUS = 24


def labelled_otherwise(
    text: str,
    start: int,
    end: int,
    context: re.Pattern[str],
    radius: int,
    labels: re.Pattern[str],
    /,
) -> bool:
    """True when a non-person label ("RPPS :", "SIRET", "commande n°") stands just
    before ``text[start:end]`` and no identifier word is near it: the number is not a
    person's."""
    if labels.search(text, max(0, start - LABEL_RADIUS), start) is None:
        return False
    return not near(text, start, end, context, radius)


def find_in_with(
    candidates: Callable[[str, int, int], Iterator[Match]],
    decide: Callable[[str, Match], Match | None],
    text: str,
    pos: int,
    endpos: int,
    /,
) -> Iterator[Match]:
    """What ``decide`` keeps of the ``candidates`` in ``text[pos:endpos]``."""
    for c in candidates(text, pos, endpos):
        m = decide(text, c)
        if m is not None:
            yield m


def find_all(
    find_in: Callable[[str, int, int], Iterator[Match]], text: object, /
) -> Iterator[Match]:
    """``find_in`` over the whole of ``text``; nothing when ``text`` is not a string."""
    if not isinstance(text, str):
        return iter(())
    return find_in(text, 0, len(text))
