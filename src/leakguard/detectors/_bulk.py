"""Every identifier of a long text found in bulk: numpy over a one-byte copy of the text.

The text is cut into groups (runs of letters and digits) and the separators between
them. Each detector's pattern is a chain of groups holding a fixed number of
characters, cut only where the pattern lets a separator stand: the chains, the
characters' classes and the check keys are checked for every place at once (prefix
sums give any range's classes and its value modulo 97 in one step), and Python
objects are made only for the numbers that pass. The answer is exactly that of each
detector's pattern and checks run over the whole text (``naive_find_identifiers``):
like the regular expressions, the search goes left to right and a match is never
looked for inside the previous one.

The text is read a piece at a time (bounded memory; a deadline looked at between
pieces), each with a margin on both sides that holds any match, the look-ahead of a
pattern, and any mistyped account covering a match starting in the piece.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import operator
import re
from collections.abc import Callable, Generator, Iterator
from copy import copy as _shallow
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from leakguard._child import LONG_TEXT, Child, ChildFailed, Turns, send
from leakguard.core import Deadline, DeadlineExceeded
from leakguard.detectors import be_niss, ca_sin, iban, nir, qc_nam, rib
from leakguard.detectors._base import KEYSEP, LABEL_RADIUS, SEP, fits_fast_path
from leakguard.detectors._lexicon import OTHER_NUMBER_LABELS, bare, fold_tokens
from leakguard.detectors._present import holding

__all__ = [
    "PIECE",
    "RANK",
    "SMALL",
    "Found",
    "Pieces",
    "iter_found",
    "one_byte",
    "separator_kinds",
]

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]

#: One identifier found: kind, start, end, compact value, confidence.
Found = tuple[str, int, int, str, float]
#: When two kinds claim the same span, the more specific one wins (lower rank).
RANK = {kind: i for i, kind in enumerate(("iban", "rib", "nir", "be_niss", "qc_nam", "ca_sin"))}

# Texts shorter than this are read by the detectors' own patterns (the numpy steps of
# the bulk search cost a fixed time that a short text does not repay).
SMALL = 1 << 14
# Characters read per piece (a quarter of it where digits are dense), and the margin
# read on each side of it.
PIECE = 1 << 20
MARGIN = 256
# Where digits are sparse, a piece grows up to this many times ``PIECE`` while the
# stretches read around its digits stay within ``PIECE`` characters: the numpy steps'
# fixed cost is paid less often, for about the same memory.
GROW = 8
# Around each digit, what is read. A match starts at most this far before its first
# digit (a NAM's four letters and a separator)…
_BEFORE = 16
# …and, but for an IBAN, holds digits at most this far apart (a RIB's account may be
# letters) and ends with one, its look-ahead included.
_AFTER = 32
# An IBAN (a match, or a mistyped one covering a match) may hold long runs of letters:
# it ends at most this far after its check digits.
_IBAN_AFTER = 224

# ------------------------------------------------------------------ the one-byte copy
# One byte per character: Latin-1 as is; beyond it, the narrow no-break space (a
# separator) becomes 0x1F, a letter or digit "µ" (a word character no pattern takes),
# anything else "?". A 0x1F in the text itself becomes "?".
NNBSP = 0x1F
WORD = 0xB5
_UNKNOWN = 0x3F
_BMP_WORD: list[Bools] = []


def one_byte(text: str, /) -> bytes:
    """``text`` with one byte per character (see above)."""
    if "\x1f" in text:
        text = text.replace("\x1f", "?")
    try:
        return text.encode("latin-1")  # every character in Latin-1: a copy, no counting
    except UnicodeEncodeError:
        pass
    latin1 = text.encode("latin-1", "replace")
    if latin1.count(b"?") == text.count("?"):
        return latin1
    out = bytearray(latin1)
    view = np.frombuffer(out, dtype=np.uint8)
    step = 1 << 20
    for lo in range(0, len(text), step):
        hi = min(len(text), lo + step)
        if latin1.count(b"?", lo, hi) == text.count("?", lo, hi):
            continue
        points = np.frombuffer(text[lo:hi].encode("utf-32-le", "surrogatepass"), np.uint32)
        beyond = np.flatnonzero(points > 0xFF)
        cps = points[beyond]
        if not _BMP_WORD:
            _BMP_WORD.append(np.array([chr(i).isalnum() for i in range(0x10000)]))
        word = np.zeros(len(cps), dtype=np.bool_)
        bmp = cps < 0x10000
        word[bmp] = _BMP_WORD[0][cps[bmp]]
        for i in np.flatnonzero(~bmp).tolist():
            word[i] = chr(int(cps[i])).isalnum()
        codes = np.where(word, WORD, _UNKNOWN).astype(np.uint8)
        codes[cps == 0x202F] = NNBSP
        view[lo + beyond] = codes
    return bytes(out)


# ------------------------------------------------------------------ character classes
DIGIT, UPPER, LOWER, OTHER_WORD = 1, 2, 4, 8
LETTER = UPPER | LOWER


def _classes() -> U8:
    out = np.zeros(256, dtype=np.uint8)
    for i in range(256):
        c = chr(i)
        if "0" <= c <= "9":
            out[i] = DIGIT
        elif "A" <= c <= "Z":
            out[i] = UPPER
        elif "a" <= c <= "z":
            out[i] = LOWER
        elif c.isalnum():
            out[i] = OTHER_WORD
    return out


_CLASS = _classes()
# The same as ``bytes.translate`` tables: a byte's class, and the bytes of no group
# (a piece's characters are read through them at the speed of a copy).
_CLASS_BYTES = _CLASS.tobytes()
_NOT_IN_GROUP = bytes(np.flatnonzero(_CLASS == 0).tolist())
# The classes ``_Piece.all_of`` asks for by name.
_CLASS_OF = {"digit": DIGIT, "upper": UPPER, "ascii": DIGIT | LETTER}
# What stands for the text just outside a stretch read: a word character (the group
# there goes on, so no match ends or starts in it), or a byte that ends any group (0).


def _in(chars: str) -> U8:
    out = np.zeros(256, dtype=np.uint8)
    for c in chars:
        out[ord(c)] = 1
    return out


_UP = np.arange(256, dtype=np.uint8)
_UP[ord("a") : ord("z") + 1] -= 32
# A character's value for the RIB key (letters as the RIB counts them), else 0.
_RIB_VALUE = np.zeros(256, dtype=np.int64)
for _i in range(256):
    _ch = chr(_i)
    if _ch.isascii() and _ch.isdigit():
        _RIB_VALUE[_i] = int(_ch)
    elif _ch.isascii() and _ch.isalpha():
        _RIB_VALUE[_i] = int(_ch.upper().translate(rib._LETTERS))
# Powers of ten modulo 97 (period 96) and of its inverse.
_POW10 = np.array([pow(10, k, 97) for k in range(96)], dtype=np.int64)
_INV10 = np.array([pow(68, k, 97) for k in range(96)], dtype=np.int64)

_INV_TILE: list[I64] = []


def _inverse_powers(n: int) -> I64:
    """``10 ** -j`` modulo 97 for ``j`` in ``range(n)``."""
    if not _INV_TILE or len(_INV_TILE[0]) < n:
        _INV_TILE[:] = [np.tile(_INV10, n // 96 + 1)]
    return _INV_TILE[0][:n]


# ------------------------------------------------------------------ separators
# Separator characters by code (0 pads a separator shorter than the longest read).
_SEP_CHARS = " \u00a0\u202f\t.-/;\r\n"
_SEP_OTHER = len(_SEP_CHARS) + 1
_LONGEST_SEP = 10


def _sep_codes() -> U8:
    out = np.full(256, _SEP_OTHER, dtype=np.uint8)
    for code, ch in enumerate(_SEP_CHARS, start=1):
        out[NNBSP if ch == "\u202f" else ord(ch)] = code
    return out


_SEP_CODE = _sep_codes()
# A separator's codes as one number, four bits each.
_NIBBLES = np.int64(16) ** np.arange(_LONGEST_SEP, dtype=np.int64)
if int(_SEP_CODE.max()) >= 16:  # pragma: no cover - a code must fit in four bits
    raise RuntimeError("too many separator codes")


def _code_set(chars: str) -> U8:
    out = np.zeros(_SEP_OTHER + 1, dtype=np.uint8)
    for ch in chars:
        out[_SEP_CHARS.index(ch) + 1] = 1
    return out


# The separator grammars a cut between two groups may need, as bits.
SEP_B, KEY_B, CELL_B, CC_B, TOK_B, TOKKEY_B = 1, 2, 4, 8, 16, 32
_GRAMMARS = {
    SEP_B: re.compile(SEP),
    KEY_B: re.compile(KEYSEP),
    CELL_B: re.compile(rib._CELL),
    CC_B: re.compile(iban._CC_SEP_CHARS + "{1,2}"),
    TOK_B: re.compile("[ \u00a0\u202f.\\-]{1,3}"),
    TOKKEY_B: re.compile("[ \u00a0\u202f.\\-/]{1,3}"),
}


def separator_kinds(sep: str, /) -> int:
    """The grammar bits ``sep`` fully matches, by the regular expressions themselves
    (what the bulk search computes with numpy; the tests compare them)."""
    return sum(bit for bit, grammar in _GRAMMARS.items() if grammar.fullmatch(sep))


_S1 = _code_set(" \u00a0\u202f\t.-")
_SLASH = _code_set("/")
_WS = _code_set(" \u00a0\u202f\t")
_CELL_WS = _code_set(" \t\u00a0")
_CC = _code_set(" \u00a0\u202f.-")
_SEMI = _code_set(";")
_CR = _code_set("\r")
_LF = _code_set("\n")
_WEIGHTS = 1 << np.arange(_LONGEST_SEP, dtype=np.int64)
# Where the single set bit of a ten-bit mask is (-1 for other masks).
_BIT_AT = np.full(1 << _LONGEST_SEP, -1, dtype=np.int64)
_BIT_AT[1 << np.arange(_LONGEST_SEP)] = np.arange(_LONGEST_SEP)


def _grammar_bits(codes: U8, length: I64) -> U8:
    """The grammar bits of separators given as codes (one row each) and lengths."""

    def has(table: U8) -> I64:
        return np.asarray(table.take(codes).astype(np.int64) @ _WEIGHTS, dtype=np.int64)

    one = np.int64(1)
    full = (one << length) - 1
    s1, slash, ws, cc = has(_S1), has(_SLASH), has(_WS), has(_CC)
    cr, lf, semi, cell_ws = has(_CR), has(_LF), has(_SEMI), has(_CELL_WS)
    short3 = (length >= 1) & (length <= 3)
    # A line break: one LF, maybe a CR just before it, at most four spaces each side.
    p = _BIT_AT[lf]
    pp = np.maximum(p, 0)
    after = ((ws >> (pp + 1)) == (full >> (pp + 1))) & (length - pp - 1 <= 4)
    q = np.maximum(pp - 1, 0)
    with_cr = (pp >= 1) & (cr == one << q)
    ws_cr = ((ws & ((one << q) - 1)) == (one << q) - 1) & (q <= 4)
    ws_plain = (cr == 0) & ((ws & ((one << pp) - 1)) == (one << pp) - 1) & (pp <= 4)
    line = (p >= 0) & after & np.where(with_cr, ws_cr, ws_plain)
    r = _BIT_AT[semi]
    rr = np.maximum(r, 0)
    cell = (r >= 0) & (rr <= 2) & ((cell_ws | semi) == full) & (length - rr - 1 <= 2)
    bits = ((short3 & (s1 == full)) | line).astype(np.uint8) * SEP_B
    bits |= ((short3 & ((s1 | slash) == full)) | line).astype(np.uint8) * KEY_B
    bits |= cell.astype(np.uint8) * CELL_B
    bits |= ((length >= 1) & (length <= 2) & (cc == full)).astype(np.uint8) * CC_B
    bits |= (short3 & (cc == full)).astype(np.uint8) * TOK_B
    bits |= (short3 & ((cc | slash) == full)).astype(np.uint8) * TOKKEY_B
    return np.asarray(bits, dtype=np.uint8)


def _one_char_bits() -> U8:
    """The grammar bits of each one-character separator."""
    codes = np.zeros((256, _LONGEST_SEP), dtype=np.uint8)
    codes[:, 0] = _SEP_CODE
    bits = _grammar_bits(codes, np.ones(256, dtype=np.int64))
    return np.where(_CLASS == 0, bits, 0).astype(np.uint8)


_ONE_CHAR_BITS = _one_char_bits()
_ONE_CHAR_BYTES = _ONE_CHAR_BITS.tobytes()

# ------------------------------------------------------------------ a piece of text


class _Piece:
    """The groups of ``copy[xlo:xhi]`` and what the detectors ask about them.

    Only the stretches around digits are read (each match, and each mistyped account
    covering one, has a digit within ``_BEFORE`` characters of its start and ends
    within ``_AFTER`` of it), joined in one buffer, each between two bytes standing
    for what lies outside it. Group ``g`` spans ``starts[g]:ends[g]`` of the buffer
    and ``tstart[g]:tend[g]`` of the text; its characters are
    ``comp[ccum[g]:ccum[g + 1]]``.
    """

    def __init__(self, copy: bytes, xlo: int, xhi: int, digits: I64 | None = None) -> None:
        if digits is None:
            whole = np.frombuffer(copy, dtype=np.uint8, count=xhi - xlo, offset=xlo)
            is_digit = (whole - np.uint8(48)) < 10
            count = int(np.count_nonzero(is_digit))
        else:
            count = len(digits)
        self.digits = count > 0
        self.copy = copy
        if not count:
            return  # no identifier without a digit
        lo, hi = np.array([xlo]), np.array([xhi])
        if count * 8 < xhi - xlo:
            # Few digits: only the stretches around them, when they are short enough.
            if digits is None:
                digits = np.flatnonzero(is_digit) + xlo
            a, b = _stretches(copy, xlo, xhi, digits)
            if int((b - a).sum()) * 5 < (xhi - xlo) * 3:
                lo, hi = a, b
        # The stretches in a row, each between two bytes for what lies outside it.
        full = np.frombuffer(copy, dtype=np.uint8)
        size = hi - lo + 2
        begin = np.cumsum(size) - size
        if len(lo) == 1:
            # One stretch (digits are dense): a copy of it; its ends are set below.
            buf = np.empty(int(size[0]), dtype=np.uint8)
            buf[1:-1] = full[int(lo[0]) : int(hi[0])]
        else:
            where = np.arange(int(size.sum())) + np.repeat(lo - 1 - begin, size)
            buf = full.take(np.clip(where, 0, len(full) - 1))
        outside = np.concatenate((lo - 1, hi))
        word = (outside >= 0) & (outside < len(full))
        word &= _CLASS.take(full.take(np.clip(outside, 0, len(full) - 1))) != 0
        buf[np.concatenate((begin, begin + size - 1))] = np.where(word, WORD, 0)
        self.a: U8 = buf
        origin = begin + 1
        raw = buf.tobytes()
        alnum = np.frombuffer(raw.translate(_CLASS_BYTES), dtype=np.uint8) != 0
        edges = np.flatnonzero(alnum[1:] != alnum[:-1]) + 1
        if alnum[0]:
            edges = np.concatenate(([0], edges))
        if alnum[-1]:
            edges = np.concatenate((edges, [len(alnum)]))
        self.starts: I64 = edges[0::2].astype(np.int64)
        self.ends: I64 = edges[1::2].astype(np.int64)
        self.count = len(self.starts)
        shift = lo.astype(np.int64) - origin
        k = np.searchsorted(origin, self.starts, side="right") - 1
        self.tstart: I64 = self.starts + shift.take(np.maximum(k, 0))
        self.tend: I64 = self.ends + shift.take(np.maximum(k, 0))
        self.glen: I64 = self.ends - self.starts
        self.ccum: I64 = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(self.glen, out=self.ccum[1:])
        compact = raw.translate(None, _NOT_IN_GROUP)
        self.comp: U8 = np.frombuffer(compact, dtype=np.uint8)
        self.ccls: U8 = np.frombuffer(compact.translate(_CLASS_BYTES), dtype=np.uint8)
        # Every group holds a character: its first one's class.
        self.head: U8 = self.ccls.take(self.ccum[:-1])
        self.sep = self._all_sep_bits() if self.count else np.zeros(0, dtype=np.uint8)
        # The same with a last one after the last group, standing for none.
        self.sep_or_end: U8 = np.append(self.sep, np.uint8(0))
        self._sums: dict[str, I64] = {}

    # -- separators

    def _all_sep_bits(self) -> U8:
        """The grammar bits of every separator (the one after each group but the last)."""
        lo = self.ends[:-1]
        length = self.starts[1:] - lo
        # Most separators are one character: their bits by table.
        first = self.a.take(lo).tobytes().translate(_ONE_CHAR_BYTES)
        bits = np.where(length == 1, np.frombuffer(first, dtype=np.uint8), np.uint8(0))
        more = np.flatnonzero((length > 1) & (length <= _LONGEST_SEP))
        if len(more):
            cols = np.arange(_LONGEST_SEP)
            where = np.minimum(lo[more, None] + cols, len(self.a) - 1)
            codes = np.where(cols < length[more, None], _SEP_CODE.take(self.a.take(where)), 0)
            # Few distinct ones (", ", " - ", ".\n"): each worked out once, by its codes
            # read as one number.
            _, once, inverse = np.unique(codes @ _NIBBLES, return_index=True, return_inverse=True)
            each = _grammar_bits(codes.take(once, axis=0).astype(np.uint8), length[more[once]])
            bits[more] = each.take(inverse)
        return bits

    def sep_bits(self, idx: I64) -> U8:
        """The grammar bits of the separators after groups ``idx``."""
        return self.sep.take(idx)

    # -- characters

    def char_class(self, g: I64, offset: int) -> U8:
        """The class of the character at ``offset`` in each group ``g`` (0: none)."""
        if not len(self.ccls):
            return np.zeros(len(g), dtype=np.uint8)
        at = self.ccum[g] + offset
        out = self.ccls.take(np.minimum(at, len(self.ccls) - 1))
        return np.where(at < self.ccum[g + 1], out, 0).astype(np.uint8)

    def char(self, at: I64) -> U8:
        """The characters at positions ``at`` of ``comp`` (past its end: its last)."""
        return self.comp.take(np.minimum(at, len(self.comp) - 1))

    def chars(self, at: I64, width: int) -> U8:
        """``width`` characters of ``comp`` from each position ``at`` (one row each)."""
        where = at[:, None] + np.arange(width)
        out: U8 = self.comp.take(np.minimum(where, max(0, len(self.comp) - 1)))
        return out

    def _sum(self, name: str) -> I64:
        """A prefix sum over ``comp``: characters of a class so far, or the weighted
        values whose differences give a range's value modulo 97."""
        if name not in self._sums:
            out = np.zeros(len(self.comp) + 1, dtype=np.int64)
            if name == "mod97":
                weight = _inverse_powers(len(self.comp))
                np.cumsum(_RIB_VALUE.take(self.comp) * weight, out=out[1:])
            else:
                np.cumsum((self.ccls & _CLASS_OF[name]) != 0, out=out[1:])
            self._sums[name] = out
        return self._sums[name]

    def _few(self, x: I64, y: I64) -> tuple[I64, Bools] | None:
        """For ranges ``comp[x:y]`` few and short next to the piece (what the detectors
        ask of their candidates): where each range's characters are, one row each, and
        which of them are inside it; ``None`` when a prefix sum answers for less."""
        if not len(x) or not len(self.comp):
            return None
        width = int((y - x).max())
        if width < 1 or len(x) * width * 4 > len(self.comp):
            return None
        cols = np.arange(width)
        at = np.minimum(x[:, None] + cols, len(self.comp) - 1)
        return at, cols < (y - x)[:, None]

    def all_of(self, name: str, x: I64, y: I64) -> Bools:
        """True where every character of ``comp[x:y]`` is of class ``name``."""
        if not len(x):
            return np.zeros(0, dtype=np.bool_)
        few = None if name in self._sums else self._few(x, y)
        if few is not None:
            at, inside = few
            good = ((self.ccls.take(at) & _CLASS_OF[name]) != 0) | ~inside
            return np.asarray(good.all(axis=1) & (y <= len(self.comp)), dtype=np.bool_)
        total = self._sum(name)
        last = len(total) - 1
        inside_ = total.take(np.minimum(y, last)) - total.take(np.minimum(x, last))
        return np.asarray((inside_ == y - x) & (y <= last), dtype=np.bool_)

    def mod97(self, x: I64, y: I64) -> I64:
        """The value of ``comp[x:y]`` modulo 97 (digits, and letters as the RIB counts
        them)."""
        if not len(x):
            return np.zeros(0, dtype=np.int64)
        few = None if "mod97" in self._sums else self._few(x, y)
        if few is not None and bool((y <= len(self.comp)).all()):
            at, inside = few
            power = _POW10.take(((y - x - 1)[:, None] - np.arange(at.shape[1])) % 96)
            values = np.where(inside, _RIB_VALUE.take(self.comp.take(at)) * power, 0)
            return np.asarray(values.sum(axis=1) % 97, dtype=np.int64)
        total = self._sum("mod97")
        last = len(total) - 1
        diff = (total.take(np.minimum(y, last)) - total.take(np.minimum(x, last))) % 97
        return np.asarray(diff * _POW10.take((y - 1) % 96) % 97, dtype=np.int64)

    # -- chains

    def walk(self, s: I64, most: int, longest: int, sizes: frozenset[int] | None = None) -> _Walk:
        """The chains from groups ``s``, up to ``most`` groups and ``longest``
        characters long (see :class:`_Walk`). With ``sizes``, only the chains that hold
        exactly one of ``sizes`` characters through some group: for any other,
        :meth:`_Walk.chains` with those lengths finds nothing."""
        n, count = len(s), self.count
        cum = np.full((most, n), _FAR, dtype=np.int64)
        sep = np.zeros((most, n), dtype=np.uint8)
        if not n or not count:
            return _Walk(s[:0], cum[:, :0], sep[:, :0], sizes) if sizes else _Walk(s, cum, sep)
        if sizes:
            wanted = np.zeros(max(sizes) + 2, dtype=np.bool_)
            wanted[list(sizes)] = True
            held = np.zeros(n, dtype=np.bool_)
        ccum = self.ccum
        # The chains still going: their columns, their group at step ``k`` and where
        # their characters start. Every column goes at the first step (rows are written
        # whole); a group past the last one ends its chain before it is stepped to.
        alive: I64 | None = None
        g = s
        base = ccum.take(s)
        seps = self.sep_or_end
        for k in range(most):
            c = ccum.take(g + 1) - base
            # (A chain's group is never past the last: the separator after the last is 0.)
            bits = seps.take(g)
            bits[c >= longest] = 0
            hit = wanted.take(np.minimum(c, len(wanted) - 1)) if sizes else None
            if alive is None:
                cum[k] = c
                sep[k] = bits
                if hit is not None:
                    held |= hit
            else:
                cum[k, alive] = c
                sep[k, alive] = bits
                if hit is not None:
                    held[alive[hit]] = True
            # A chain goes on only through a separator some pattern allows.
            go = np.flatnonzero(bits)
            if not len(go):
                break
            alive = go if alive is None else alive.take(go)
            g, base = g.take(go) + 1, base.take(go)
        if not sizes:
            return _Walk(s, cum, sep)
        keep = np.flatnonzero(held)
        return _Walk(s.take(keep), cum.take(keep, axis=1), sep.take(keep, axis=1), sizes)

    def starting(self, lo: int, hi: int, cls: int, first: U8 | None = None) -> I64:
        """Groups starting in ``[lo, hi)`` of the text whose first character is of class
        ``cls`` (and one of ``first``, when given)."""
        g = np.flatnonzero(self.head == cls)
        if first is not None and len(g):
            g = g[first.take(self.comp.take(self.ccum[g])) == 1]
        begin = self.tstart[g]
        return g[(begin >= lo) & (begin < hi)].astype(np.int64)

    def span(self, s: I64, e: I64) -> tuple[I64, I64]:
        """Where the chains from group ``s`` to group ``e`` (not included) lie in the text."""
        return self.tstart[s], self.tend[e - 1]


# Beyond the piece: more characters than any chain holds.
_FAR = 1 << 20


@dataclass(slots=True)
class _Walk:
    """Chains of groups from start groups ``s``: ``cum[k, i]`` characters through group
    ``s[i] + k`` (``_FAR`` past the last one looked at), and ``sep[k, i]`` the grammar
    bits of the separator after it."""

    s: I64
    cum: I64
    sep: U8
    #: When set, the only lengths :meth:`chains` is asked for (see :meth:`_Piece.walk`).
    sizes: frozenset[int] | None = None

    def rows(self, piece: _Piece, lo: int, hi: int, first: U8 | None = None) -> I64:
        """The chains starting in ``[lo, hi)`` of the text (at one of ``first``)."""
        begin = piece.tstart.take(self.s)
        keep = (begin >= lo) & (begin < hi)
        if first is not None:
            keep &= first.take(piece.comp.take(piece.ccum.take(self.s))) == 1
        return np.flatnonzero(keep)

    def chains(self, rows: I64, length: I64 | int, allowed: U8) -> tuple[Bools, I64, I64]:
        """For the chains ``rows``: whether their groups hold exactly ``length``
        characters with each cut at a position ``p`` whose separator has a bit of
        ``allowed[p]``; the group after each; and the positions of its cuts (a bit each).
        """
        if self.sizes is not None and (not isinstance(length, int) or length not in self.sizes):
            raise ValueError("a length these chains were not kept for")  # pragma: no cover
        s = self.s.take(rows)
        ok = np.zeros(len(rows), dtype=np.bool_)
        e = s + 1
        cuts = np.zeros(len(rows), dtype=np.int64)
        top = len(allowed) - 1
        # The chains still going: their places in ``rows`` (all at first), their
        # columns and their target lengths, kept side by side.
        alive: I64 | None = None
        r = rows
        target: I64 | int = length
        if not isinstance(length, int):
            target = np.broadcast_to(np.asarray(length, dtype=np.int64), (len(rows),))
        for k in range(len(self.cum)):
            c = self.cum[k].take(r)
            hit = np.flatnonzero(c == target)
            if len(hit):
                at = hit if alive is None else alive.take(hit)
                ok[at] = True
                e[at] = s.take(at) + (k + 1)
            # The cut after this group, at position ``c``, must be allowed there.
            good = (allowed.take(np.minimum(c, top)) & self.sep[k].take(r)) != 0
            go = np.flatnonzero(good & (c < target))
            if not len(go):
                break
            alive = go if alive is None else alive.take(go)
            r, c = r.take(go), c.take(go)
            if not isinstance(target, int):
                target = target.take(go)
            cuts[alive] |= np.int64(1) << c
        return ok, e, cuts


_CC_BYTE = _in(" \u00a0.-")
_CC_BYTE[NNBSP] = 1


def _stretches(copy: bytes, xlo: int, xhi: int, at: I64) -> tuple[I64, I64]:
    """The stretches of ``copy[xlo:xhi]`` to read around the digits at ``at``: from
    ``_BEFORE`` before each to ``_AFTER`` after it, or ``_IBAN_AFTER`` after the first
    digit of a run that may be an IBAN's check digits (two letters, then at most two
    separators, before it); overlapping ones merged."""
    whole = np.frombuffer(copy, dtype=np.uint8)
    reach = np.full(len(at), _AFTER, dtype=np.int64)
    runs = np.flatnonzero(np.diff(at, prepend=-2) > 1)
    r = at[runs]

    # The byte ``k`` places before each run, for k = 1 to 4 (the text's first byte where
    # there is none).
    before = {k: whole.take(np.maximum(r - k, 0)).astype(np.int64) for k in range(1, 5)}

    def cc(k: int) -> Bools:
        return np.asarray((r >= k) & (_CC_BYTE.take(before[k]) == 1), dtype=np.bool_)

    def country(k: int) -> Bools:
        """Two letters ending ``k`` before the run that name an IBAN country."""
        pair = _country_pairs().take(before[k + 1] * 256 + before[k])
        return np.asarray((r >= k + 1) & (pair == 1), dtype=np.bool_)

    head = country(1) | (country(2) & cc(1)) | (country(3) & cc(2) & cc(1))
    reach[runs[head]] = _IBAN_AFTER
    start = np.maximum(at - _BEFORE, xlo)
    end = np.maximum.accumulate(np.minimum(at + reach, xhi))
    cut = np.flatnonzero(start[1:] > end[:-1])
    return start[np.concatenate(([0], cut + 1))], end[np.concatenate((cut, [len(end) - 1]))]


def _allowed(size: int, cuts: dict[int, int]) -> U8:
    out = np.zeros(size + 1, dtype=np.uint8)
    for p, bits in cuts.items():
        out[p] = bits
    return out


def _strings(mat: U8) -> list[str]:
    """Each row of ``mat`` (one-byte characters) as a string, ASCII letters upper case."""
    if not mat.size:
        return [""] * len(mat)
    width = mat.shape[1]
    whole = _UP.take(mat).tobytes().decode("latin-1")
    return [whole[i : i + width] for i in range(0, len(whole), width)]


def _digit(piece: _Piece, at: I64) -> I64:
    return piece.char(at).astype(np.int64) - 48


def _two(piece: _Piece, at: I64) -> I64:
    """The two-digit number at ``at``."""
    return _digit(piece, at) * 10 + _digit(piece, at + 1)


# ------------------------------------------------------------------ the detectors


@dataclass(slots=True)
class _Hits:
    """What one detector found in a piece: places in the text, values, confidences."""

    kind: str
    start: I64
    end: I64
    numbers: list[str]
    confidence: npt.NDArray[np.float64]


def _leftmost(piece: _Piece, s: I64, e: I64, after: int) -> tuple[Bools, int]:
    """Which chains a left-to-right search keeps: it never looks inside the chain found
    before (from text position ``after`` on); and where it then stands."""
    keep = piece.tstart[s] >= after
    if len(s) > 1 and bool((s[1:] < e[:-1]).any()):
        last = -1
        for i, (a, b) in enumerate(zip(s.tolist(), e.tolist(), strict=True)):
            if keep[i]:
                if a < last:
                    keep[i] = False
                else:
                    last = b
    kept = np.flatnonzero(keep)
    if len(kept):
        after = max(after, int(piece.tend[e[kept[-1]] - 1]))
    return keep, after


def _judged(
    kind: str,
    judge: Callable[[str, int, int, str], float | None],
    text: str,
    start: I64,
    end: I64,
    numbers: list[str],
) -> _Hits:
    """The hits a detector's ``judge`` keeps (context read in the whole ``text``)."""
    keep: list[int] = []
    sure: list[float] = []
    for i, (a, b, number) in enumerate(zip(start.tolist(), end.tolist(), numbers, strict=True)):
        c = judge(text, a, b, number)
        if c is not None:
            keep.append(i)
            sure.append(c)
    k = np.array(keep, dtype=np.int64)
    return _Hits(kind, start[k], end[k], [numbers[i] for i in keep], np.array(sure))


def _kept(kind: str, start: I64, end: I64, numbers: list[str]) -> _Hits:
    return _Hits(kind, start, end, numbers, np.ones(len(numbers)))


# NIR: cuts after the sex digit, the year, the month, the place (two characters, or
# three for 97x/98x), the commune and the order number; the key after a KEYSEP.
_NIR_CUTS = {1: SEP_B, 3: SEP_B, 5: SEP_B, 7: SEP_B, 8: SEP_B, 10: SEP_B}
_NIR15 = _allowed(15, {**_NIR_CUTS, 13: KEY_B})
_NIR13 = _allowed(13, _NIR_CUTS)
_SEX = _in("123478")
_AB = _in("ABab")


def _nir_shape(piece: _Piece, walk: _Walk, rows: I64, size: int, allowed: U8) -> tuple[Bools, I64]:
    ok, e, cuts = walk.chains(rows, size, allowed)
    idx = np.flatnonzero(ok)
    x, cuts = piece.ccum.take(walk.s[rows[idx]]), cuts[idx]
    good = piece.all_of("digit", x + 1, x + 5) & piece.all_of("digit", x + 7, x + size)
    c5, c6 = piece.char(x + 5), piece.char(x + 6)
    digits = (c5 - np.uint8(48) < 10) & (c6 - np.uint8(48) < 10)
    corsica = (c5 == ord("2")) & (_AB.take(c6) == 1)
    overseas = (c5 == ord("9")) & ((c6 == ord("7")) | (c6 == ord("8")))
    at7, at8 = (cuts >> 7) & 1 == 1, (cuts >> 8) & 1 == 1
    # The place is two characters (a cut may follow at 7) or 97x/98x (a cut at 8).
    good &= ((digits | corsica) & ~at8) | (overseas & ~at7)
    ok[idx] = good
    return ok, e


def _nir(piece: _Piece, walk: _Walk, text: str, lo: int, hi: int, after: int) -> tuple[_Hits, int]:
    rows = walk.rows(piece, lo, hi, _SEX)
    s = walk.s[rows]
    ok15, e15 = _nir_shape(piece, walk, rows, 15, _NIR15)
    ok13, e13 = _nir_shape(piece, walk, rows, 13, _NIR13)
    # The key is tried first; the key-less form must not be followed by a KEYSEP and a
    # digit.
    ok13 &= ~ok15
    at = np.flatnonzero(ok13 & (e13 < piece.count))
    if len(at):
        g = e13[at]
        keyed = (piece.sep_bits(g - 1) & KEY_B) != 0
        ok13[at[keyed & (piece.head.take(g) == DIGIT)]] = False
    e = np.where(ok15, e15, e13)
    idx = np.flatnonzero(ok15 | ok13)
    keep, after = _leftmost(piece, s[idx], e[idx], after)
    idx = idx[keep]
    x = piece.ccum.take(s[idx])
    month = _two(piece, x + 3)
    valid = ((month >= 1) & (month <= 12)) | (month >= 20)
    keyed = ok15[idx]
    # For the key only, Corsica counts as department 19 (2A) or 18 (2B).
    c6 = _UP.take(piece.char(x + 6))
    corsica = (c6 == ord("A")) | (c6 == ord("B"))
    place = np.where(c6 == ord("A"), 19, np.where(c6 == ord("B"), 18, 0))
    split = piece.mod97(x, x + 5) * _POW10[8] + place * _POW10[6] + piece.mod97(x + 7, x + 13)
    body = np.where(corsica, split % 97, piece.mod97(x, x + 13))
    key = _two(piece, np.where(keyed, x + 13, x))
    valid &= ~keyed | (97 - body == key)
    idx, x, keyed = idx[valid], x[valid], keyed[valid]
    start, end = piece.span(s[idx], e[idx])
    numbers = _strings(piece.chars(x, 15))
    if not keyed.all():
        numbers = [n if k else n[:13] for n, k in zip(numbers, keyed.tolist(), strict=True)]
        return _judged(nir.KIND, nir.judge, text, start, end, numbers), after
    # ``nir.judge`` keeps a NIR with its key unless a non-person label stands just
    # before it: that look first (by the regular expression only where a label may
    # end), the whole judgement only when one does.
    labels = nir._OTHER.search
    asked = start[_label_may_end(piece.copy, start)].tolist()
    if any(labels(text, max(0, a - LABEL_RADIUS), a) for a in asked):
        return _judged(nir.KIND, nir.judge, text, start, end, numbers), after
    return _kept(nir.KIND, start, end, numbers), after


@functools.cache
def _label_endings() -> U8:
    """Per pair of one-byte characters (``256 * x + y``): 1 where a label of
    ``nir._OTHER`` may end with them (their last two characters, each matched by one
    character of the pattern: a match always ends so); all 1 when some label does not
    end with two letters. The byte standing for any other letter may be any of them."""
    out = np.ones(256 * 256, dtype=np.uint8)
    phrases = [p for lang in OTHER_NUMBER_LABELS.values() for p in lang]
    # As ``other_number_labels`` reads them: acronyms as written, the rest folded.
    acronyms = [p for p in phrases if p.isupper() and " " not in p]
    if any(not bare(p)[-2:].isalpha() or len(bare(p)) < 2 for p in phrases):
        return out  # pragma: no cover - every label ends with two letters today
    folded = ["".join(fold_tokens(p)[-2:]) for p in phrases if p not in acronyms]
    tails = "|".join(
        [f"(?i:{'|'.join(folded)})"] * bool(folded) + [re.escape(p[-2:]) for p in acronyms]
    )
    tail = re.compile(f"(?:{tails})")
    # A pair matches only where its first character matches the first character of
    # some label's last two: only those are tried with every second one.
    heads = "|".join(
        [f"(?i:{'|'.join(fold_tokens(p)[-2] for p in phrases if p not in acronyms)})"]
        * bool(folded)
        + [re.escape(p[-2]) for p in acronyms]
    )
    head = re.compile(f"(?:{heads})")
    letters = [i for i in range(256) if chr(i).isalnum()]
    out[:] = 0
    for x in letters:
        if head.fullmatch(chr(x)) is None:
            continue
        for y in letters:
            if tail.fullmatch(chr(x) + chr(y)):
                out[256 * x + y] = 1
    out.reshape(256, 256)[WORD, :] = 1
    out.reshape(256, 256)[:, WORD] = 1
    return out


def _label_may_end(copy: bytes, start: I64) -> Bools:
    """Where a non-person label (``nir._OTHER``) may stand in the ``LABEL_RADIUS``
    characters before each text position ``start`` (a group's first character): a
    label ends with two of its letters and a character that is not one (not ``start``
    itself: the one before it is no letter), at least three characters after the
    window's beginning. False means the label search there finds nothing."""
    ends = _label_endings()
    whole = np.frombuffer(copy, dtype=np.uint8)
    out = np.zeros(len(start), dtype=np.bool_)
    if len(whole) < 3:
        return out
    # Every place a label may end before each start, one row per start (a few rows
    # at a time: what numpy holds stays small).
    back = np.arange(1, LABEL_RADIUS - 2)
    top = len(whole) - 1
    for lo in range(0, len(start), _ROWS):
        rows = start[lo : lo + _ROWS]
        e = rows[:, None] - back
        inside = e >= (np.maximum(rows - LABEL_RADIUS, 0) + 3)[:, None]
        at = np.clip(e, 2, top)
        pair = whole.take(at - 2).astype(np.int64) * 256 + whole.take(at - 1)
        hit = inside & (ends.take(pair) == 1) & (_CLASS.take(whole.take(at)) == 0)
        out[lo : lo + _ROWS] = hit.any(axis=1)
    return out


# Rows of positions held at once by ``_label_may_end``.
_ROWS = 4096


# RIB in a row (``rib.PATTERN``) and as one token (``rib.TOKEN``).
_RIB = _allowed(23, {5: SEP_B | CELL_B, 10: SEP_B | CELL_B, 21: KEY_B | CELL_B})
_RIB_TOKEN = _allowed(23, {5: TOK_B, 10: TOK_B, 21: TOKKEY_B})


def _rib_chains(piece: _Piece, walk: _Walk, rows: I64, allowed: U8) -> tuple[Bools, I64, Bools]:
    """RIB-shaped chains ``rows``, and whether their key is right (``rib.key_ok``)."""
    ok, e, _ = walk.chains(rows, 23, allowed)
    idx = np.flatnonzero(ok)
    x = piece.ccum.take(walk.s[rows[idx]])
    good = piece.all_of("digit", x, x + 10) & piece.all_of("ascii", x + 10, x + 21)
    good &= piece.all_of("digit", x + 21, x + 23)
    ok[idx] = good
    idx, x = idx[good], x[good]
    key = _two(piece, x + 21)
    right = np.zeros(len(ok), dtype=np.bool_)
    right[idx] = (piece.mod97(x, x + 23) == 0) & (key >= 1) & (key <= 97)
    return ok, e, right


def _rib(piece: _Piece, walk: _Walk, text: str, lo: int, hi: int, after: int) -> tuple[_Hits, int]:
    rows = walk.rows(piece, lo, hi)
    s = walk.s[rows]
    ok, e, right = _rib_chains(piece, walk, rows, _RIB)
    idx = np.flatnonzero(ok)
    keep, after = _leftmost(piece, s[idx], e[idx], after)
    idx = idx[keep]
    idx = idx[right[idx]]
    start, end = piece.span(s[idx], e[idx])
    numbers = _strings(piece.chars(piece.ccum.take(s[idx]), 23))
    return _kept(rib.KIND, start, end, numbers), after


def _rib_tokens(piece: _Piece, walk: _Walk, lo: int, hi: int) -> tuple[I64, I64]:
    """Where the RIB-shaped tokens with a wrong key lie (``rib.wrong_key_covers``)."""
    rows = walk.rows(piece, lo, hi)
    ok, e, right = _rib_chains(piece, walk, rows, _RIB_TOKEN)
    idx = np.flatnonzero(ok & ~right)
    return piece.span(walk.s[rows][idx], e[idx])


# Belgian NISS, Canadian SIN, Québec NAM.
_NISS = _allowed(11, {2: SEP_B, 4: SEP_B, 6: SEP_B, 9: KEY_B})
_SIN = _allowed(9, {3: SEP_B, 6: SEP_B})
_NAM = _allowed(12, {4: SEP_B, 8: SEP_B})
_SIN_FIRST = _in("12345679")
_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)


def _digit_chains(
    piece: _Piece,
    walk: _Walk,
    lo: int,
    hi: int,
    size: int,
    allowed: U8,
    after: int,
    first: U8 | None = None,
) -> tuple[I64, I64, I64, int]:
    """The chains of ``size`` digits a pattern finds from ``[lo, hi)`` on (left to right,
    never inside the previous one, from text position ``after`` on): their first and
    next groups, where their characters start in ``comp``, and where the search stands."""
    rows = walk.rows(piece, lo, hi, first)
    s = walk.s[rows]
    ok, e, _ = walk.chains(rows, size, allowed)
    idx = np.flatnonzero(ok)
    x = piece.ccum.take(s[idx])
    idx = idx[piece.all_of("digit", x, x + size)]
    keep, after = _leftmost(piece, s[idx], e[idx], after)
    idx = idx[keep]
    return s[idx], e[idx], piece.ccum.take(s[idx]), after


def _niss(piece: _Piece, walk: _Walk, text: str, lo: int, hi: int, after: int) -> tuple[_Hits, int]:
    s, e, x, after = _digit_chains(piece, walk, lo, hi, 11, _NISS, after)
    # The rules of ``be_niss._ok``: a month (after the BIS shift) of 1-12 or unknown; the
    # key for a birth in the 1900s, or in the 2000s when that year has come. (A number
    # of zeros has key 00, which no rule gives.)
    month, key, year = _two(piece, x + 2), _two(piece, x + 9), _two(piece, x)
    first9 = piece.mod97(x, x + 9)
    valid = (month <= 12) | ((month >= 20) & (month <= 32)) | ((month >= 40) & (month <= 52))
    y2k = (year + 2000 <= datetime.date.today().year) & (97 - (2 * _POW10[9] + first9) % 97 == key)
    valid &= (97 - first9 == key) | y2k
    s, e, x = s[valid], e[valid], x[valid]
    start, end = piece.span(s, e)
    numbers = _strings(piece.chars(x, 11))
    return _judged(be_niss.KIND, be_niss.judge, text, start, end, numbers), after


def _sin(piece: _Piece, walk: _Walk, text: str, lo: int, hi: int, after: int) -> tuple[_Hits, int]:
    s, e, x, after = _digit_chains(piece, walk, lo, hi, 9, _SIN, after, _SIN_FIRST)
    d = piece.chars(x, 9).astype(np.int64) - 48
    # Luhn: from the right, every second digit doubled.
    total = d[:, 8] + d[:, 6] + d[:, 4] + d[:, 2] + d[:, 0]
    total += _DOUBLED.take(d[:, 7]) + _DOUBLED.take(d[:, 5])
    total += _DOUBLED.take(d[:, 3]) + _DOUBLED.take(d[:, 1])
    valid = total % 10 == 0
    s, e, x = s[valid], e[valid], x[valid]
    start, end = piece.span(s, e)
    numbers = _strings(piece.chars(x, 9))
    return _judged(ca_sin.KIND, ca_sin.judge, text, start, end, numbers), after


def _nam(piece: _Piece, text: str, lo: int, hi: int, after: int) -> tuple[_Hits, int]:
    s = piece.starting(lo, hi, UPPER)
    walk = piece.walk(s, 3, 12)
    rows = np.arange(len(s))
    ok, e, _ = walk.chains(rows, 12, _NAM)
    idx = np.flatnonzero(ok)
    x = piece.ccum.take(s[idx])
    idx = idx[piece.all_of("upper", x, x + 4) & piece.all_of("digit", x + 4, x + 12)]
    keep, after = _leftmost(piece, s[idx], e[idx], after)
    idx = idx[keep]
    start, end = piece.span(s[idx], e[idx])
    numbers = _strings(piece.chars(piece.ccum.take(s[idx]), 12))
    # Few: the birth date and the fast-path contract are checked one by one.
    good = [
        i
        for i, (a, b, number) in enumerate(zip(start.tolist(), end.tolist(), numbers, strict=True))
        if qc_nam.is_valid(number) and fits_fast_path(text[a:b])
    ]
    k = np.array(good, dtype=np.int64)
    return _judged(
        qc_nam.KIND, qc_nam.judge, text, start[k], end[k], [numbers[i] for i in good]
    ), after


# IBAN: country, check digits, then groups; trimmed to the country's length.
_IBAN_MAX = 34
_IBAN = _allowed(_IBAN_MAX, {2: CC_B, **dict.fromkeys(range(4, _IBAN_MAX), SEP_B)})


def _country_tables() -> tuple[I64, I64, list[str], U8]:
    """Per two capital letters (``26 * a + b``): the IBAN length (0: unknown country)
    and the country's index; and per country, the classes its account layout allows
    at each position (``iban._layout_re`` as a table)."""
    codes = sorted(iban._COUNTRIES)
    lengths = np.zeros(26 * 26, dtype=np.int64)
    index = np.full(26 * 26, len(codes), dtype=np.int64)
    layouts = np.zeros((len(codes) + 1, _IBAN_MAX), dtype=np.uint8)
    parts = {"n": DIGIT, "a": UPPER, "c": DIGIT | UPPER, "e": 0}
    for i, code in enumerate(codes):
        length, bban = iban._COUNTRIES[code]
        slot = (ord(code[0]) - 65) * 26 + ord(code[1]) - 65
        lengths[slot] = length
        index[slot] = i
        at = 4
        for size, kind in re.findall(r"([0-9]+)!?([nace])", bban):
            for _ in range(int(size)):
                if at < _IBAN_MAX:
                    layouts[i, at] = parts[kind]
                at += 1
    return lengths, index, codes, layouts


_LENGTHS, _COUNTRY_INDEX, _CODES, _LAYOUTS = _country_tables()


@functools.cache
def _country_pairs() -> U8:
    """Per pair of one-byte characters (``256 * x + y``): 1 where they are two letters
    naming an IBAN country, in either case."""
    letter = (_CLASS & LETTER) != 0
    up = _UP.astype(np.int64)
    x, y = np.divmod(np.arange(256 * 256), 256)
    slot = np.clip(up[x] - 65, 0, 25) * 26 + np.clip(up[y] - 65, 0, 25)
    out: U8 = (letter[x] & letter[y] & (_LENGTHS.take(slot) > 0)).astype(np.uint8)
    return out


_RIB_COUNTRIES = np.array(
    [iban._COUNTRIES[c][1] == iban._RIB_LAYOUT for c in _CODES] + [False], dtype=np.bool_
)
# ISO 7064: a digit counts once (times 10), a letter as two digits 10-35 (times 100).
_IBAN_VALUE = np.zeros(256, dtype=np.int64)
_IBAN_SCALE = np.ones(256, dtype=np.int64)
for _i in range(256):
    _ch = chr(_i)
    if _ch.isascii() and _ch.isdigit():
        _IBAN_VALUE[_i], _IBAN_SCALE[_i] = int(_ch), 10
    elif _ch.isascii() and _ch.isalpha():
        _IBAN_VALUE[_i], _IBAN_SCALE[_i] = ord(_ch.upper()) - 55, 100


@dataclass(slots=True)
class _IbanShapes:
    """The chains of a piece laid out as IBANs (``iban.PATTERN`` trimmed to the
    country's length), and what the checks say of them."""

    start: I64  # text positions
    end: I64
    rows: U8  # the compact values, upper case, one row of ``_IBAN_MAX`` each
    length: I64  # each value's length
    upper_head: Bools  # the country code is written in capitals
    layout: Bools  # the account follows the country's layout
    valid: Bools  # ``iban._ok``
    run3: Bools  # three digits in a row somewhere
    digits: Bools  # the account is all digits

    def numbers(self, idx: list[int]) -> list[str]:
        """The compact values of shapes ``idx``."""
        at = np.asarray(idx, dtype=np.int64)
        sizes = self.length.take(at)
        if not len(at):
            return []
        size = int(sizes[0])
        if bool((sizes == size).all()):
            # One length (one country, the usual case): cut out in one step.
            return _strings(self.rows.take(at, axis=0)[:, :size])
        out = _strings(self.rows.take(at, axis=0))
        return [v[:n] for v, n in zip(out, sizes.tolist(), strict=True)]


def _iban_shapes(piece: _Piece, lo: int, hi: int) -> _IbanShapes:
    head = np.flatnonzero((piece.head & LETTER) != 0)
    begin = piece.tstart[head]
    head = head[(begin >= lo) & (begin < hi)]
    head = head[(piece.char_class(head, 1) & LETTER) != 0]
    # The check digits glued to the country code, or after a short separator.
    glued = (piece.char_class(head, 2) == DIGIT) & (piece.char_class(head, 3) == DIGIT)
    apart = np.zeros(len(head), dtype=np.bool_)
    two = np.flatnonzero((piece.glen.take(head) == 2) & (head + 1 < piece.count))
    if len(two):
        nxt = head[two] + 1
        digits = (piece.head.take(nxt) == DIGIT) & (piece.char_class(nxt, 1) == DIGIT)
        two, nxt = two[digits], nxt[digits]
        apart[two] = (piece.sep_bits(nxt - 1) & CC_B) != 0
    s = head[glued | apart].astype(np.int64)
    x = piece.ccum[s]
    slot = (_UP.take(piece.char(x)).astype(np.int64) - 65) * 26
    slot += _UP.take(piece.char(x + 1)).astype(np.int64) - 65
    length = _LENGTHS.take(slot)
    known = length > 0
    s, x, slot, length = s[known], x[known], slot[known], length[known]
    ok, e, _ = piece.walk(s, 16, _IBAN_MAX).chains(np.arange(len(s)), length, _IBAN)
    # At most twelve groups from the one holding the account's first character.
    fourth = np.searchsorted(piece.ccum, x + 4, side="right") - 1
    ok &= (e - fourth <= 12) & piece.all_of("ascii", x, x + length)
    s, e, x, slot, length = s[ok], e[ok], x[ok], slot[ok], length[ok]
    cols = np.arange(_IBAN_MAX)
    inside = cols < length[:, None]
    mat = np.where(inside, _UP.take(piece.chars(x, _IBAN_MAX)), ord("0")).astype(np.uint8)
    country = _COUNTRY_INDEX.take(slot)
    allowed = _LAYOUTS[country]
    layout = np.all(((allowed & _CLASS.take(mat)) != 0) | ~inside | (cols < 4), axis=1)
    # ISO 7064 mod 97-10 over the account, then the first four characters.
    rest = (length - 4)[:, None]
    turned = np.where(cols < rest, np.minimum(cols + 4, _IBAN_MAX - 1), np.maximum(cols - rest, 0))
    chars = np.take_along_axis(mat, turned, axis=1)
    values = np.where(inside, _IBAN_VALUE.take(chars), 0)
    scale = np.where(inside, _IBAN_SCALE.take(chars), 1)
    check = np.zeros(len(s), dtype=np.int64)
    for v, m in zip(values.T, scale.T, strict=True):
        check = (check * m + v) % 97
    valid = layout & (check == 1)
    # A French-style account must also carry a right RIB key.
    french = np.flatnonzero(valid & _RIB_COUNTRIES.take(country))
    if len(french):
        y = x[french] + 4
        key = _two(piece, y + 21)
        valid[french] = (piece.mod97(y, y + 23) == 0) & (key >= 1) & (key <= 97)
    # The longest run of digits: a group of digits (the first one after its letters).
    run = np.maximum(piece.glen.take(s) - 2, 0)
    for k in range(1, 16):
        g = np.minimum(s + k, piece.count - 1)
        run = np.where(e - s > k, np.maximum(run, piece.glen.take(g)), run)
    start, end = piece.span(s, e)
    rows = mat
    upper = (piece.char_class(s, 0) == UPPER) & (piece.char_class(s, 1) == UPPER)
    digits = piece.all_of("digit", x + 4, x + length)
    return _IbanShapes(start, end, rows, length, upper, layout, valid, run >= 3, digits)


def _iban(text: str, shapes: _IbanShapes, lo: int, after: int) -> tuple[_Hits, int]:
    """The valid IBANs starting from ``lo`` (the search goes on after each)."""
    idx = np.flatnonzero(shapes.valid & (shapes.start >= max(lo, after)))
    # The fast-path contract: for an account of digits it asks three in a row (see
    # ``fits_fast_path``); other accounts are checked one by one.
    fits = shapes.run3[idx] & shapes.digits[idx]
    for i in np.flatnonzero(~shapes.digits[idx]).tolist():
        a, b = int(shapes.start[idx[i]]), int(shapes.end[idx[i]])
        fits[i] = fits_fast_path(text[a:b])
    idx = idx[fits]
    start, end = shapes.start[idx], shapes.end[idx]
    if len(idx) > 1 and bool((start[1:] < end[:-1]).any()):
        # The search goes on after each IBAN found: none is looked for inside it.
        keep, last = [], -1
        for i, (a, b) in enumerate(zip(start.tolist(), end.tolist(), strict=True)):
            if a >= last:
                keep.append(i)
                last = b
        idx, start, end = idx[keep], start[keep], end[keep]
    if len(idx):
        after = int(end[-1])
    return _kept(iban.KIND, start, end, shapes.numbers(idx.tolist())), after


def _iban_covers(shapes: _IbanShapes) -> tuple[I64, I64]:
    """Where IBAN-shaped tokens whose check fails lie (``iban.wrong_check_covers``)."""
    idx = np.flatnonzero(shapes.upper_head & shapes.layout & ~shapes.valid)
    return shapes.start[idx], shapes.end[idx]


# ------------------------------------------------------------------ the whole text

_ACCOUNTS = frozenset({"iban", "rib"})
# How far before a covered span a mistyped account may start.
_RIB_REACH = 32
_IBAN_REACH = iban._REACH


def _covered(start: I64, end: I64, tok_start: I64, tok_end: I64, reach: int) -> Bools:
    """Which spans lie inside a token starting at most ``reach`` before them."""
    out = np.zeros(len(start), dtype=np.bool_)
    if not len(tok_start) or not len(start):
        return out
    order = np.argsort(tok_start, kind="stable")
    ts, te = tok_start[order], tok_end[order]
    hi = np.searchsorted(ts, start, side="right")
    lo = np.searchsorted(ts, start - reach, side="left")
    for k in range(int((hi - lo).max(initial=0))):
        j = lo + k
        out |= (j < hi) & (te.take(np.minimum(j, len(ts) - 1)) >= end)
    return out


_FINDERS = (("nir", _nir), ("rib", _rib), ("be_niss", _niss), ("ca_sin", _sin))
# The most groups a chain led by a digit spans (a NIR: seven).
_DIGIT_LED = 8
# The lengths of the numbers led by a digit (SIN, NISS, NIR without and with its key,
# RIB): a chain holding none of them through any of its groups is none of them.
_DIGIT_SIZES = frozenset({9, 11, 13, 15, 23})


def iter_found(
    text: str,
    copy: bytes,
    folded: bytes,
    *,
    deadline: Deadline | None = None,
    then: Callable[[list[Found]], list[Any]] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> Pieces:
    """The identifiers of ``text``, a piece at a time, in order: together, what
    ``find_identifiers`` answers; with ``then``, what ``then`` makes of each piece's
    list (made by whichever process read the piece: it must give what ``marshal``
    writes).

    ``copy`` is :func:`one_byte` of ``text`` and ``folded`` its folded copy. Raises
    ``DeadlineExceeded`` between pieces once ``deadline`` has passed. ``then`` may be
    called on the pieces in any order (the segments below): it must make each piece's
    list from that piece alone.

    A text of ``SPLIT`` characters or more is shared with a child process, where one
    may run (``leakguard._child``), started at once (the caller may do other work
    before it reads the first piece): this process reads the text up to ``FIRST`` of
    it, and the rest is cut in ``SEGMENTS`` segments (see :func:`_cuts`) that the child
    takes from the first on and this process from the last on, one at a time, each
    taking the next where the other has not: whichever has more work besides reads
    less. The parts join as one reading would: each part stands when nothing read
    before its start reaches past it (a match across a cut, rare, has this process read
    the rest itself). ``meanwhile``, the caller's other work, is called when a child
    shares the reading, once this process has read its first part: this process then
    reads less of the rest. ``close`` the answer when it is not read to its end.
    """
    make = then if then is not None else _same
    n = len(text)
    reader = _Reader(text, copy, folded, deadline)
    cuts = _cuts(copy, n) if n >= SPLIT else [n]
    child: Child[_Answer] | None = None
    turns: Turns | None = None
    if len(cuts) > 1:
        try:
            turns = Turns(len(cuts) - 1)
        except OSError:
            turns = None
        else:
            child = Child.start(functools.partial(_first_segments, reader, cuts, turns, make))
            if child is None:
                turns.close()
                turns = None
    return Pieces(_joined(reader, cuts, child, turns, make, meanwhile), child, turns)


class Pieces(Iterator[list[Any]]):
    """The findings of :func:`iter_found`, a piece at a time."""

    __slots__ = ("_child", "_pieces", "_turns")

    def __init__(
        self, pieces: Generator[list[Any]], child: Child[Any] | None, turns: Turns | None
    ) -> None:
        self._pieces, self._child, self._turns = pieces, child, turns

    def __next__(self) -> list[Any]:
        return next(self._pieces)

    def close(self) -> None:
        """Stop: the child, if any, is ended and waited for, and the turns' pipe closed
        (also when no piece was read: a generator not started runs no ``finally``)."""
        self._pieces.close()
        if self._child is not None:
            self._child.close()
        if self._turns is not None:
            self._turns.close()


# The child's answer: what ``make`` made of the pieces it did not send already (the
# finding held back at the end), where its reading stopped, whether nothing it read
# reaches past that point, whether the deadline ended it.
_Answer = tuple[list[list[Any]], int, bool, bool]


def _joined(
    reader: _Reader,
    cuts: list[int],
    child: Child[_Answer] | None,
    turns: Turns | None,
    make: Callable[[list[Found]], list[Any]],
    meanwhile: Callable[[], object] | None = None,
) -> Generator[list[Any]]:
    """This process's pieces up to the first cut, then the child's answer and the
    segments this process took from the end, when they join as one reading would;
    else the pieces after the first cut read here."""
    n = len(reader.text)
    first = cuts[0]
    try:
        for part in reader.pieces(0, first):
            yield make(part)
            if child is not None:
                child.receive()
        if child is not None and meanwhile is not None:
            meanwhile()
        if child is not None and turns is not None and reader.clear_at(first):
            start, tail = _last_segments(reader, cuts, turns, make, child)
            if start >= 0:
                try:
                    parts, stop, clear, late = child.result(reader.deadline)
                except ChildFailed:
                    pass
                else:
                    if late or (stop == start and clear):
                        if reader.held is not None:
                            yield make([reader.held])
                        yield from child.sent
                        yield from parts
                        if late:
                            raise DeadlineExceeded
                        yield from tail
                        return
        if child is not None:
            child.close()  # its answer is not needed: it stops using a core
        for part in reader.pieces(first, n):
            yield make(part)
        if reader.held is not None:
            yield make([reader.held])
    finally:
        if child is not None:
            child.close()
        if turns is not None:
            turns.close()


def _last_segments(
    reader: _Reader,
    cuts: list[int],
    turns: Turns,
    make: Callable[[list[Found]], list[Any]],
    child: Child[Any],
) -> tuple[int, list[list[Any]]]:
    """The segments this process takes, from the last on, while the child has not taken
    them: where the first it took starts (the text's end when none), and what ``make``
    makes of their pieces, in order; -1 when a run of segments read afresh reaches past
    its end (the next one, read afresh, may not join). What the child sent meanwhile is
    taken in between two pieces."""
    read: list[list[list[Any]]] = []
    end = len(cuts) - 1  # where the segments not taken yet by this process end
    while end > 0:
        took = turns.take(_run_of(turns))
        if not took:
            break
        fresh, start = reader.fresh(), max(0, end - took)
        hi = cuts[end]
        made = []
        for part in fresh.pieces(cuts[start], hi):
            made.append(make(part))
            child.receive()
        if not fresh.clear_at(hi):
            return -1, []
        if fresh.held is not None:
            made.append(make([fresh.held]))
        read.append(made)
        end = start
    return cuts[end], [part for made in reversed(read) for part in made]


def _run_of(turns: Turns) -> int:
    """How many segments to take at once: a quarter of those left, one at the end. Each
    run of segments is read as one stretch (a sparse text's pieces grow up to
    ``GROW`` times ``PIECE``: a segment at a time cost a third more), and the last are
    taken one by one, so the two processes end together."""
    return max(1, turns.left() // 4)


# A text this long (in characters) is read by two processes where they may run.
SPLIT = LONG_TEXT
# The share of such a text this process reads first (it also looks for form labels,
# and its caller may have other work meanwhile); the rest is cut in this many segments.
FIRST = 0.1
SEGMENTS = 24


def _same(part: list[Found]) -> list[Found]:
    return part


def _cuts(copy: bytes, n: int) -> list[int]:
    """Where a long text is cut: after the first line end past ``FIRST`` of it, then
    past each of ``SEGMENTS`` equal steps of the rest (a number is seldom written across
    a line end; where no line end comes soon, at the step itself); the last is ``n``."""
    cuts: list[int] = []
    for k in range(SEGMENTS):
        at = int(n * (FIRST + (1 - FIRST) * k / SEGMENTS))
        end = copy.find(b"\n", at, at + 4096)
        cut = end + 1 if end >= 0 else at
        if cut >= n:
            break
        if not cuts or cut > cuts[-1]:
            cuts.append(cut)
    return [*cuts, n]


def _first_segments(
    reader: _Reader, cuts: list[int], turns: Turns, make: Callable[[list[Found]], list[Any]]
) -> _Answer:
    """In the child: what ``make`` makes of each piece of the segments it takes, from
    the first on, while this process has not taken them (sent piece by piece, the last
    finding held back in the answer); where it stopped; whether nothing read reaches
    past there; whether the deadline ended the reading (what was read before it is
    sent)."""
    done, last = 0, len(cuts) - 1  # the segments read, and how many there are
    stop = cuts[0]
    try:
        while done < last:
            took = turns.take(_run_of(turns))
            if not took:
                break
            done = min(last, done + took)
            for part in reader.pieces(stop, cuts[done]):
                # Sent as it is read: this process takes it in between its own pieces.
                send(make(part))
            stop = cuts[done]
        clear = reader.clear_at(stop)
    except DeadlineExceeded:
        return [], stop, False, True
    held = [make([reader.held])] if clear and reader.held is not None else []
    return held, stop, clear, False


class _Reader:
    """The piece by piece reading of one text, and what it carries from a piece to the
    next: where the last match of each kind ended, and the last finding held back."""

    def __init__(self, text: str, copy: bytes, folded: bytes, deadline: Deadline | None) -> None:
        self.text, self.copy, self.folded, self.deadline = text, copy, folded, deadline
        self.after = dict.fromkeys(RANK, 0)
        self.held: Found | None = None
        # A labelled RIB always says "guichet" (see ``rib.labelled``).
        self.labelled = bool(holding(folded, (b"guichet",)))
        self.whole = np.frombuffer(copy, dtype=np.uint8)

    def fresh(self) -> _Reader:
        """A reading of the same text starting afresh (nothing carried)."""
        other = _shallow(self)
        other.after = dict.fromkeys(RANK, 0)
        other.held = None
        return other

    def clear_at(self, cut: int) -> bool:
        """True when nothing read so far reaches past ``cut``: a reading starting there
        afresh finds what this one would."""
        held = self.held
        return all(end <= cut for end in self.after.values()) and (held is None or held[2] <= cut)

    def pieces(self, lo: int, stop: int) -> Iterator[list[Found]]:
        """The findings of the pieces from ``lo`` to ``stop`` (the last held back)."""
        text, copy, folded, whole, after = self.text, self.copy, self.folded, self.whole, self.after
        deadline, n = self.deadline, len(text)
        while lo < stop:
            if deadline is not None:
                deadline.check()
            hi, digits = _piece_end(whole, lo, stop)
            xlo, xhi = max(0, lo - MARGIN), min(n, hi + MARGIN)
            if digits is not None:
                digits = np.concatenate(
                    (_digits_at(whole, xlo, lo), digits, _digits_at(whole, hi, xhi))
                )
            piece = _Piece(copy, xlo, xhi, digits)
            hits: list[_Hits] = []
            if piece.digits:
                # Mistyped accounts covering a match may start before the piece.
                walk = piece.walk(piece.starting(xlo, hi, DIGIT), _DIGIT_LED, 23, _DIGIT_SIZES)
                for kind, finder in _FINDERS:
                    found, after[kind] = finder(piece, walk, text, lo, hi, after[kind])
                    hits.append(found)
                found, after["qc_nam"] = _nam(piece, text, lo, hi, after["qc_nam"])
                hits.append(found)
                shapes = _iban_shapes(piece, xlo, hi)
                found, after["iban"] = _iban(text, shapes, lo, after["iban"])
                hits.append(found)
                _drop_covered(hits, piece, walk, shapes, xlo, hi)
            if self.labelled and folded.find(b"guichet", xlo, xhi) >= 0:
                hits.append(_labelled(text, lo, hi))
            out, self.held = _resolve(hits, self.held)
            if out:
                yield out
            lo = hi


def _digits_at(whole: U8, lo: int, hi: int) -> I64:
    """Where the digits of ``whole[lo:hi]`` are."""
    return np.flatnonzero((whole[lo:hi] - np.uint8(48)) < 10) + lo


def _piece_end(whole: U8, lo: int, stop: int) -> tuple[int, I64 | None]:
    """Where the piece starting at ``lo`` ends, and where its digits are. Where digits
    are dense, a quarter of ``PIECE`` (what numpy holds at once stays small), read
    whole: ``None`` for its digits. Else ``PIECE``, grown by as many more (up to
    ``GROW`` in all) as keep the stretches read around its digit runs (``_BEFORE +
    _AFTER`` each, at most, but for an IBAN's) within ``PIECE``. No piece ends past
    ``stop``."""
    n = stop
    step = max(1, PIECE)
    read = 0
    hi = lo
    found: list[I64] = []
    for k in range(GROW):
        digit = (whole[hi : min(n, hi + step)] - np.uint8(48)) < 10
        if int(np.count_nonzero(digit)) * 8 >= len(digit):
            if k:
                break
            return min(n, hi + max(1, PIECE // 4)), None
        at = np.flatnonzero(digit) + hi
        runs = int(np.count_nonzero(np.diff(at) > 1)) + 1 if len(at) else 0
        read += runs * (_BEFORE + _AFTER)
        if k and read > step:
            break
        found.append(at)
        hi = min(n, hi + step)
        if hi >= n or read * 2 > step:
            break  # (a block like this one would not fit: it is not looked at)
    return hi, np.concatenate(found) if len(found) > 1 else found[0]


def _drop_covered(
    hits: list[_Hits], piece: _Piece, walk: _Walk, shapes: _IbanShapes, lo: int, hi: int
) -> None:
    """Drop the numbers of other kinds that lie inside a mistyped account (a RIB token
    whose key is wrong, an IBAN-shaped token whose check fails)."""
    others = [h for h in hits if h.kind not in _ACCOUNTS and h.numbers]
    if not others:
        return
    ribs = _rib_tokens(piece, walk, lo, hi)
    ibans = _iban_covers(shapes)
    for h in others:
        drop = _covered(h.start, h.end, *ribs, _RIB_REACH)
        drop |= _covered(h.start, h.end, *ibans, _IBAN_REACH)
        if drop.any():
            k = np.flatnonzero(~drop).tolist()
            h.start, h.end = h.start[k], h.end[k]
            h.numbers = [h.numbers[i] for i in k]
            h.confidence = h.confidence[k]


def _labelled(text: str, lo: int, hi: int) -> _Hits:
    """RIBs laid out as labelled fields whose bank code starts in ``[lo, hi)``."""
    start: list[int] = []
    end: list[int] = []
    numbers: list[str] = []
    for m in rib.labelled().finditer(text, max(0, lo - MARGIN), min(len(text), hi + MARGIN)):
        if not lo <= m.start("bank") < hi:
            continue
        number = m["bank"] + m["branch"] + m["account"].upper() + m["key"]
        if rib.is_valid(number):
            start.append(m.start("bank"))
            end.append(m.end("key"))
            numbers.append(number)
    return _kept(rib.KIND, np.array(start, dtype=np.int64), np.array(end, dtype=np.int64), numbers)


def _resolve(hits: list[_Hits], held: Found | None) -> tuple[list[Found], Found | None]:
    """One finding per place (the longest, then the most specific kind), in order; the
    last is held back, since a match starting in the next piece may replace it."""
    hits = [h for h in hits if h.numbers]
    if not hits:
        return [], held
    start = np.concatenate([h.start for h in hits])
    end = np.concatenate([h.end for h in hits])
    rank = np.concatenate([np.full(len(h.numbers), RANK[h.kind]) for h in hits])
    order = np.lexsort((rank, start - end, start))
    start, end = start[order], end[order]
    if len(hits) == 1:
        kinds = [hits[0].kind] * len(order)
        numbers = hits[0].numbers
        if len(order) > 1:
            numbers = list(operator.itemgetter(*order.tolist())(numbers))
    else:
        names = np.array([h.kind for h in hits], dtype=object)
        counts = [len(h.numbers) for h in hits]
        kinds = names.take(np.repeat(np.arange(len(hits)), counts).take(order)).tolist()
        every = list(itertools.chain.from_iterable(h.numbers for h in hits))
        numbers = list(operator.itemgetter(*order.tolist())(every))
    sure = np.concatenate([h.confidence for h in hits])[order].tolist()
    st, en = start.tolist(), end.tolist()
    if not (start[1:] < end[:-1]).any() and (held is None or st[0] >= held[2]):
        # No two places overlap (the usual case).
        out = [] if held is None else [held]
        out.extend(zip(kinds, st, en, numbers, sure, strict=True))
        return out[:-1], out[-1]
    rk = rank[order].tolist()
    out = [] if held is None else [held]
    for i in range(len(st)):
        if out and st[i] < out[-1][2]:
            last = out[-1]
            if (en[i] - st[i], -rk[i]) > (last[2] - last[1], -RANK[last[0]]):
                out[-1] = (kinds[i], st[i], en[i], numbers[i], sure[i])
            continue
        out.append((kinds[i], st[i], en[i], numbers[i], sure[i]))
    return out[:-1], out[-1]
