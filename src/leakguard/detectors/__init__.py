"""The identifier detectors and the medical-context detector, run together quickly.

:func:`find_identifiers` gives the same answer as running every detector over the
whole text (:func:`naive_find_identifiers`), but first finds the few places where
digits cluster and runs the detailed patterns only there.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import cast

import numpy as np

from leakguard.core import Deadline
from leakguard.detectors import be_niss, ca_sin, forms, health_data, iban, nir, qc_nam, rib
from leakguard.detectors._base import (
    DENSE,
    GAP_CHARS,
    MAX_GAP,
    MIN_DIGITS,
    RUN3,
    TAIL_CHARS,
    Detector,
    Match,
)

__all__ = [
    "HEALTH",
    "IDENTIFIER_DETECTORS",
    "Detector",
    "Match",
    "find_identifiers",
    "get",
    "naive_find_identifiers",
    "one_byte_copies",
]

IDENTIFIER_DETECTORS: tuple[Detector, ...] = (
    cast(Detector, iban),
    cast(Detector, rib),
    cast(Detector, nir),
    cast(Detector, be_niss),
    cast(Detector, qc_nam),
    cast(Detector, ca_sin),
)
HEALTH: ModuleType = health_data

_BY_KIND: dict[str, Detector] = {d.KIND: d for d in IDENTIFIER_DETECTORS}
# When two kinds claim the same span, the more specific one wins (lower rank).
_RANK = {d.KIND: i for i, d in enumerate(IDENTIFIER_DETECTORS)}
_MODULES = (iban, rib, nir, be_niss, qc_nam, ca_sin)

# Every match lies within MAX_GAP of a dense stretch of digits (``_base.DENSE``, the
# fast-path contract that every detector enforces): only those places are searched.
_DENSE = DENSE


def _coarse_table() -> bytes:
    """Latin-1 byte -> ``0`` for a digit, a space for what may sit between the digits
    of a dense stretch, ``x`` for the rest."""
    gap = re.compile(f"[{GAP_CHARS}]")
    out = bytearray(b"x" * 256)
    for i in range(256):
        if chr(i).isascii() and chr(i).isdigit():
            out[i] = ord("0")
        elif gap.fullmatch(chr(i)) or chr(i) == "?":
            # "?" also stands for every character beyond Latin-1 (some are gaps).
            out[i] = ord(" ")
    return bytes(out)


# The same search over a one-byte copy where every digit is the same byte: the regex
# engine then skips to digits at memory speed. A gap there is a superset of a real gap,
# so each dense stretch of the text lies inside one of the coarse stretches found.
_COARSE = _coarse_table()
# (The regular expression states what ``_coarse_chains`` finds; the tests compare them.)
# A stretch starts at a digit with no digit just before it: the look-behind spares the
# engine a doomed try at every later digit of a short run.
_COARSE_DENSE = re.compile(f"0(?<!00)(?: {{0,{MAX_GAP}}}+0){{{MIN_DIGITS - 1},}}+".encode())
# The copy is made a piece at a time (buffers stay small). A piece ends just before a
# character that can stop no coarse stretch from crossing: one outside the digits, the
# gap characters and Latin-1 ("x" above).
_PIECE = 1 << 20
_STOP = re.compile(f"[^0-9{GAP_CHARS}?\u0100-\U0010ffff]")
_WORD = re.compile(r"[^\W_]")
# Joins the windows: no pattern crosses it, and it reads as a boundary (not a letter).
_JOIN = "\x00"
# Stands for a letter cut off at a window edge: a word character no pattern uses, so
# look-arounds see "glued" exactly as they would in the whole text.
_GLUED = "\u00e9"
_DIGIT = ord("0")
_GAP = ord(" ")


# A labelled RIB always says "guichet", "Guichet" or "GUICHET" (``rib.LABELLED``): the
# folded copy holds "guichet" then (and for a few other spellings, which the pattern
# then rules out).
_GUICHET = b"guichet"


def get(kind: str, /) -> Detector:
    """The detector module of an identifier kind (``"nir"``, ``"iban"``…)."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        allowed = ", ".join(sorted(_BY_KIND))
        raise KeyError(f"unknown identifier kind {kind!r}; known: {allowed}") from None


# Bank kinds: a valid RIB may sit inside a mistyped IBAN and is still bank details.
_ACCOUNT_KINDS = frozenset({rib.KIND, iban.KIND})


def _not_in_failed_account(text: str, found: Iterable[Match]) -> list[Match]:
    """``found`` without the numbers of other kinds that lie inside a token laid out as
    a RIB or an IBAN whose own check fails: such a token is one mistyped account number,
    and an 11-digit group of it that happens to be a valid Belgian number is not one.

    Judged in the whole ``text`` for each match, so both paths drop the same ones.
    """
    return [
        m
        for m in found
        if m.kind in _ACCOUNT_KINDS
        or not (
            rib.wrong_key_covers(text, m.start, m.end)
            or iban.wrong_check_covers(text, m.start, m.end)
        )
    ]


def _resolve(found: Iterable[Match]) -> list[Match]:
    """Keep one finding per place: the longest, then the most specific kind."""
    ordered = sorted(found, key=lambda m: (m.start, -(m.end - m.start), _RANK[m.kind]))
    out: list[Match] = []
    for m in ordered:
        # Sorted by start: only the last kept match can overlap this one.
        if out and m.start < out[-1].end:
            last = out[-1]
            if (m.end - m.start, -_RANK[m.kind]) > (last.end - last.start, -_RANK[last.kind]):
                out[-1] = m
            continue
        out.append(m)
    return out


def _coarse_stretches(text: str, latin1: bytes) -> Iterator[tuple[int, int, int]]:
    """Where each piece starts, and the coarse stretches with three digits in a row in it.

    ``latin1`` is ``text`` encoded to Latin-1 with replacement (one byte per character).
    """
    n = len(text)
    at = 0
    while at < n:
        stop = _STOP.search(text, min(n, at + _PIECE))
        end = n if stop is None else stop.start()
        coarse = latin1[at:end].translate(_COARSE)
        for lo, hi in _coarse_chains(coarse):
            yield at, lo, hi
        at = end


def _coarse_chains(coarse: bytes) -> list[tuple[int, int]]:
    """The matches of ``_COARSE_DENSE`` in ``coarse`` that hold three digits in a row,
    found by numpy with no Python step per number (most numbers, such as phone numbers,
    have no three digits in a row).

    Such a match is a longest chain of digits, each at most MAX_GAP gap bytes after the
    previous one, with MIN_DIGITS digits or more.
    """
    data = np.frombuffer(coarse, dtype=np.uint8)
    digits = np.flatnonzero(data == _DIGIT)
    if len(digits) < MIN_DIGITS:
        return []
    between = np.diff(digits) - 1
    linked = between <= MAX_GAP
    # Digits a few bytes apart are linked when every byte between them is a gap.
    check = np.flatnonzero(linked & (between > 0))
    for k in range(1, MAX_GAP + 1):
        check = check[between[check] >= k]
        if not len(check):
            break
        broken = data[digits[check] + k] != _GAP
        linked[check[broken]] = False
        check = check[~broken]
    cut = np.flatnonzero(~linked)
    first = np.concatenate(([0], cut + 1))
    last = np.concatenate((cut, [len(digits) - 1]))
    # Three digits in a row: digits i and i + 2 are two bytes apart (so in one chain).
    runs = np.flatnonzero(digits[2:] - digits[:-2] == 2)
    has_run = np.zeros(len(first), dtype=np.bool_)
    has_run[np.searchsorted(first, runs, side="right") - 1] = True
    keep = np.flatnonzero(has_run & (last - first + 1 >= MIN_DIGITS))
    starts = digits[first[keep]].tolist()
    ends = (digits[last[keep]] + 1).tolist()
    return list(zip(starts, ends, strict=True))


def _windows(text: str, latin1: bytes) -> tuple[str, list[int], list[int]]:
    """The digit-dense stretches of ``text`` (widened), joined into one short string.

    Returns the joined string, where each piece starts in it, and the shift that turns
    a position inside that piece back into a position in ``text``.
    """
    n = len(text)
    spans: list[tuple[int, int]] = []
    has_run = RUN3.search
    for at, c_start, c_end in _coarse_stretches(text, latin1):
        for m in _DENSE.finditer(text, at + c_start, at + c_end):
            if has_run(text, m.start(), m.end()) is None:
                continue
            lo = max(0, m.start() - MAX_GAP)
            # Past the stretch a candidate may go on through letters and digits (TAIL).
            tail = TAIL_CHARS.match(text, m.end())
            hi = min(n, max(m.end() + MAX_GAP, tail.end() if tail is not None else 0))
            if spans and lo <= spans[-1][1]:
                spans[-1] = (spans[-1][0], hi)
            else:
                spans.append((lo, hi))
    pieces: list[str] = []
    starts: list[int] = []
    shifts: list[int] = []
    at = 0
    word = _WORD.match
    for lo, hi in spans:
        left = _GLUED if lo > 0 and word(text, lo - 1) else _JOIN
        right = _GLUED if hi < n and word(text, hi) else _JOIN
        piece = left + text[lo:hi] + right
        starts.append(at)
        shifts.append(lo - at - 1)
        pieces.append(piece)
        at += len(piece)
    return "".join(pieces), starts, shifts


def one_byte_copies(text: str, /) -> tuple[bytes, bytes]:
    """``text`` with one byte per character (Latin-1, ``?`` beyond it), and the same
    folded to lower-case letters without accents. The fast paths of
    :func:`find_identifiers` and ``HEALTH.categories`` read them: made once, given to both.
    """
    latin1 = text.encode("latin-1", "replace")
    return latin1, health_data.folded_copy(latin1)


def find_identifiers(
    text: str,
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
) -> list[Match]:
    """Every valid identifier in ``text``, one per place, sorted by start.

    ``copies``, when given, must be :func:`one_byte_copies` of ``text``. Never raises,
    but :class:`leakguard.core.DeadlineExceeded` once ``deadline`` has passed.
    """
    if not isinstance(text, str) or not text:
        return []
    latin1, folded = one_byte_copies(text) if copies is None else copies
    joined, starts, shifts = _windows(text, latin1)
    found: list[Match] = []
    if joined:
        for module in _MODULES:
            for c in module.candidates(joined, 0, len(joined)):
                shift = shifts[bisect_right(starts, c.start) - 1]
                moved = Match(c.kind, c.start + shift, c.end + shift, c.compact, c.confidence)
                kept = module.decide(text, moved)
                if kept is not None:
                    found.append(kept)
    if _GUICHET in folded:
        found.extend(rib.find_labelled(text))
    found = forms.with_fields(text, found, copies=(latin1, folded), deadline=deadline)
    return _resolve(_not_in_failed_account(text, found))


def naive_find_identifiers(text: str, /) -> list[Match]:
    """The same answer by brute force: every detector over the whole text."""
    if not isinstance(text, str) or not text:
        return []
    found: list[Match] = []
    for detector in IDENTIFIER_DETECTORS:
        found.extend(detector.find(text))
    found = forms.with_fields(text, found)
    return _resolve(_not_in_failed_account(text, found))
