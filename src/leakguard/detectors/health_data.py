"""Medical context (kind ``health_data``): vocabulary in French, Dutch and English,
ICD-10 codes next to a diagnosis word, CCAM act codes next to an act word.

Each occurrence gives a ``Match`` whose ``compact`` is its category (``diagnosis``,
``sick_leave``, ``medical_code``…), never the text. Words match whole, in any case and
with or without accents; acronyms (``ALD``, ``AME``) match in capitals only.

Speed: one big alternation tried at every position of a long text is slow, so
:func:`find` first looks for one anchor word per phrase in a lower-case, accent-free
one-byte copy of the text (a hashed table look-up per position, done by numpy), and
runs the patterns only around the anchors it meets. It gives exactly the answer of
:func:`naive_find`, which runs them over the whole text.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import hyperscan

from leakguard.core import Deadline, DeadlineExceeded
from leakguard.detectors._base import AFTER_FIRST, LEFT, RIGHT, Match
from leakguard.detectors._lexicon import (
    CCAM_ACRONYMS,
    CCAM_WORDS,
    HEALTH_ACRONYMS,
    HEALTH_WORDS,
    ICD_ACRONYMS,
    ICD_WORDS,
    bare,
    fold_tokens,
)
from leakguard.detectors._programs import compiled

__all__ = [
    "CATEGORIES",
    "KIND",
    "PATTERN",
    "categories",
    "categories_until",
    "compiled_categories",
    "engine",
    "find",
    "folded_copy",
    "naive_categories",
    "naive_find",
    "pure_categories",
]

KIND = "health_data"
CATEGORIES = (*HEALTH_WORDS, "medical_code")
# How far a CIM/ICD/diagnosis or act word may be from a code, and a listed CCAM code
# from the previous one ("Actes CCAM : HBLD036, HBMD044…").
CODE_RADIUS = 60
CCAM_LIST_RADIUS = 40


class _Node:
    """One step of the phrase trie: children by regex fragment, and phrases ending here."""

    __slots__ = ("children", "ends")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.ends: list[str] = []


def _emit(node: _Node) -> str:
    # Longer phrases first (continue before ending), as in a longest-first alternation.
    alts = [frag + _emit(child) for frag, child in node.children.items()]
    alts.extend(f"(?P<{name}>)" for name in node.ends[:1])
    if len(alts) == 1:
        return alts[0]
    return "(?:" + "|".join(alts) + ")"


class _Role:
    """What a phrase means: a category to report (or none), and whether codes near it
    are ICD-10 diagnoses or CCAM acts."""

    __slots__ = ("category", "ccam", "icd")

    def __init__(self) -> None:
        self.category: str | None = None
        self.icd = False
        self.ccam = False


def _build() -> tuple[re.Pattern[str], dict[str, _Role], list[tuple[str, str, str]]]:
    """All medical phrases and code-context words as one whole-word pattern (a trie).

    A flat alternation of some 150 phrases is tried phrase by phrase at every word;
    the trie checks each character once. The named group closing each phrase tells
    its role. Also returns each phrase as written, its pattern (without the whole-word
    checks) and the name of its group.
    """
    entries: list[tuple[str, list[str], str | None, str]] = []
    for category, langs in HEALTH_WORDS.items():
        # Longest first; ties in a fixed order, so every process builds the same pattern.
        for phrase in sorted({p for ws in langs.values() for p in ws}, key=lambda p: (-len(p), p)):
            entries.append((phrase, fold_tokens(phrase, cased=True), category, ""))
        for acr in HEALTH_ACRONYMS.get(category, ()):
            entries.append((acr, [re.escape(c) for c in acr], category, ""))
    for phrase in ICD_WORDS:
        entries.append((phrase, fold_tokens(phrase, cased=True), "diagnosis", "icd"))
    for phrase in CCAM_WORDS:
        entries.append((phrase, fold_tokens(phrase, cased=True), None, "ccam"))
    for acr, code in [(a, "icd") for a in ICD_ACRONYMS] + [(a, "ccam") for a in CCAM_ACRONYMS]:
        entries.append((acr, [re.escape(c) for c in acr], None, code))
    root = _Node()
    roles: dict[str, _Role] = {}
    phrases: list[tuple[str, str, str]] = []
    for number, (written, tokens, reported, code) in enumerate(entries):
        node = root
        for frag in tokens:
            node = node.children.setdefault(frag, _Node())
        if not node.ends:
            node.ends.append(f"p{number}")
            roles[node.ends[0]] = _Role()
        # The same phrase listed twice keeps its first category and gains every role.
        role = roles[node.ends[0]]
        role.category = role.category or reported
        role.icd = role.icd or code == "icd"
        role.ccam = role.ccam or code == "ccam"
        phrases.append((written, "".join(tokens), node.ends[0]))
    return compiled(LEFT + _emit(root) + RIGHT), roles, phrases


PATTERN, _ROLES, _PHRASES = _build()
ICD_CODE = re.compile("[A-Z]" + AFTER_FIRST + r"[0-9]{2}(?:\.[0-9]{1,2})?" + RIGHT)
CCAM_CODE = re.compile("[A-Z]" + AFTER_FIRST + r"[A-Z]{3}[0-9]{3}" + RIGHT)

# --------------------------------------------------------------------------- prefilter


def _fold_table() -> bytes:
    """Latin-1 byte -> the lower-case ASCII letter it stands for (other bytes kept)."""
    out = bytearray(range(256))
    for i in range(256):
        b = bare(chr(i))
        if len(b) == 1 and b.isascii() and b.isalpha():
            out[i] = ord(b)
    return bytes(out)


_FOLD_TABLE = _fold_table()


# Words too common in ordinary mail to be good anchors; a phrase is anchored on another
# of its words when it has one.
_COMMON = frozenset(
    "dossier code codes charge leave travail rapport controle condition related "
    "consultation traitement treatment procedure examination record records report "
    "certificate summary benefit history injury attest verslag technique".split()
)


def _anchor_of(phrase: str) -> str:
    """One word of ``phrase``, folded (every match of the phrase contains it): the
    longest that is not a common word."""
    words = [w for w in re.split("[^a-z0-9/]+", bare(phrase)) if w]
    rare = [w for w in words if w not in _COMMON and len(w) >= 4]
    return max(rare or words, key=len)


def _anchors(phrases: Iterable[str]) -> tuple[str, ...]:
    found = {_anchor_of(p) for p in phrases}
    # An anchor that contains another one is redundant.
    return tuple(sorted(a for a in found if not any(b != a and b in a for b in found)))


_ALL_WORDS = [p for langs in HEALTH_WORDS.values() for ws in langs.values() for p in ws]
_ALL_ACRONYMS = [a for acr in HEALTH_ACRONYMS.values() for a in acr]
# Acronyms whose lower-case letters are common inside words ("madame", "Donald") are
# looked for as written; the others join the folded anchors.
_AS_WRITTEN = ("AME", "ALD")
# Their places in one pass (a look-ahead, so that every occurrence counts).
_AS_WRITTEN_AT = re.compile(
    "|".join(f"{re.escape(w[0])}(?={re.escape(w[1:])})" for w in _AS_WRITTEN)
)
ANCHORS = _anchors(
    [*_ALL_WORDS, *ICD_WORDS, *CCAM_WORDS, *ICD_ACRONYMS, *CCAM_ACRONYMS]
    + [a for a in _ALL_ACRONYMS if a not in _AS_WRITTEN]
)


def _width(phrase: str) -> int:
    """The most characters one match of ``phrase`` can span (see ``fold_pattern``)."""
    wide = {" ": 3, "'": 3, "’": 3, "-": 2, "°": 2}
    return sum(wide.get(c, 1) for c in bare(phrase))


# Around an anchor, a window this wide holds any whole match that contains it.
_SPAN = max(_width(p) for p in [*_ALL_WORDS, *ICD_WORDS, *CCAM_WORDS]) + 8
_WORD_END = re.compile(r"[^\W_]*")


# Every anchor word at once: the four bytes at each position of the folded copy, read
# as one number, are hashed into a table that holds the first four bytes of every
# anchor (a three-letter anchor with every possible fourth byte). The few positions the
# table lets through are then compared with the anchors themselves. A small table
# first (it stays in the processor's cache), then a larger one for the survivors.
_MULTIPLIER = np.uint32(0x9E3779B1)
_SMALL_BITS = 16
_LARGE_BITS = 20
# Positions hashed per step: the temporary arrays stay small (cache, memory).
_STEP = 1 << 16


def _anchor_heads() -> Mapping[int, tuple[bytes, ...]]:
    """The first four bytes of each anchor, as a number -> the anchors starting so.

    A three-letter anchor stands for every four bytes it may begin.
    """
    heads: dict[int, list[bytes]] = {}
    for anchor in ANCHORS:
        word = anchor.encode("ascii")
        for rest in itertools.product(range(256), repeat=max(0, 4 - len(word))):
            head = (word + bytes(rest))[:4]
            heads.setdefault(int.from_bytes(head, "little"), []).append(word)
    return {head: tuple(words) for head, words in heads.items()}


def _hash_table(bits: int) -> npt.NDArray[np.bool_]:
    table = np.zeros(1 << bits, dtype=np.bool_)
    for head in _HEADS:
        table[((head * int(_MULTIPLIER)) & 0xFFFFFFFF) >> (32 - bits)] = True
    return table


_HEADS = _anchor_heads()
_SHORT = tuple(a.encode("ascii") for a in ANCHORS if len(a) < 4)
_LONGEST = max(len(a) for a in ANCHORS)
_SMALL_TABLE = _hash_table(_SMALL_BITS)
_LARGE_TABLE = _hash_table(_LARGE_BITS)


# ------------------------------------------------------------------ roles of the anchors
# Each category is a bit; so are "codes near here are ICD-10 diagnoses" and "… CCAM acts".
_BIT = {category: 1 << i for i, category in enumerate(HEALTH_WORDS)}
_ICD_BIT = 1 << len(HEALTH_WORDS)
_CCAM_BIT = _ICD_BIT << 1
_CODE_BITS = _ICD_BIT | _CCAM_BIT
_ALL_BITS = (_ICD_BIT - 1) | _CODE_BITS


def _role_bits(name: str) -> int:
    role = _ROLES[name]
    bits = _BIT[role.category] if role.category is not None else 0
    return bits | (_ICD_BIT if role.icd else 0) | (_CCAM_BIT if role.ccam else 0)


def _anchor_bits() -> tuple[dict[str, int], int]:
    """What a match around each anchor may mean: the bits of every phrase that holds
    the anchor; and the bits of the acronyms looked for as written."""
    bits = dict.fromkeys(ANCHORS, 0)
    written = 0
    for phrase, _, name in _PHRASES:
        if phrase in _AS_WRITTEN:
            written |= _role_bits(name)
            continue
        folded = bare(phrase)
        held = [a for a in ANCHORS if a in folded]
        if not held:  # pragma: no cover - a lexicon typo
            raise RuntimeError("a medical phrase has no anchor")
        for anchor in held:
            bits[anchor] |= _role_bits(name)
    return bits, written


_ANCHOR_BITS, _WRITTEN_BITS = _anchor_bits()
# The exact four-byte heads, sorted, and the bits of the anchors that start so.
_HEAD_KEYS = np.array(sorted(_HEADS), dtype=np.uint32)
_HEAD_BITS = np.array(
    [
        functools.reduce(operator.or_, [_ANCHOR_BITS[w.decode("ascii")] for w in _HEADS[h]])
        for h in _HEAD_KEYS.tolist()
    ],
    dtype=np.uint16,
)
# The same, keyed by the four bytes.
_BITS_OF_HEAD: dict[bytes, int] = dict(
    zip(
        (h.to_bytes(4, "little") for h in _HEAD_KEYS.tolist()),
        _HEAD_BITS.tolist(),
        strict=True,
    )
)
# Where a head may start: the first four bytes of a long anchor, the three of a short one
# (any fourth byte follows it, as in _HEADS).
_HEAD_AT = re.compile(
    b"(?=["
    + b"".join(sorted({re.escape(a.encode("ascii")[:1]) for a in ANCHORS}))
    + b"])(?="
    + b"|".join(re.escape(h) for h in sorted({a.encode("ascii")[:4] for a in ANCHORS}))
    + b")"
)


def _candidates(
    text: str, whole: bytes | None = None, deadline: Deadline | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint16]]:
    """Every place where the folded text starts with the first four bytes of an anchor
    (or with an acronym looked for as written), and the bits of what may be there.

    A superset of the anchor places (the rest of a long anchor is not compared here).
    ``whole``, when given, is the :func:`folded_copy` of ``text`` (it folds ``_`` to a
    space: no anchor holds either).
    """
    if len(text) <= _QUICK_MAX:
        return _quick_candidates(text, whole)
    return _bulk_candidates(text, whole, deadline)


# Up to this many characters (a subject, a file name, a header field) the places are
# found by one expression and a lookup each: numpy's dozen calls would cost more than
# that expression's walk over the text (about 0.15 µs a character).
_QUICK_MAX = 128
_EMPTY_PLACES = np.zeros(0, dtype=np.int64)
_EMPTY_BITS = np.zeros(0, dtype=np.uint16)


def _quick_candidates(
    text: str, whole: bytes | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint16]]:
    """:func:`_bulk_candidates` of a short text, with no numpy call when nothing is
    found (the usual case)."""
    if whole is None:
        folded = text.encode("latin-1", "replace").translate(_FOLD_TABLE)
    else:
        folded = whole[: len(text)]
    folded += b"\x00\x00\x00"  # as the bulk path pads the last places
    places = [m.start() for m in _HEAD_AT.finditer(folded)]
    bits = [_BITS_OF_HEAD[folded[i : i + 4]] for i in places]
    written = [m.start() for m in _AS_WRITTEN_AT.finditer(text)]
    if written:
        places += written
        bits += [_WRITTEN_BITS] * len(written)
    if not places:
        return _EMPTY_PLACES, _EMPTY_BITS
    at, what = np.array(places, dtype=np.int64), np.array(bits, dtype=np.uint16)
    order = np.argsort(at, kind="stable")
    return at[order], what[order]


def _bulk_candidates(
    text: str, whole: bytes | None = None, deadline: Deadline | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint16]]:
    """:func:`_candidates` by numpy, with no Python step per place."""
    places: list[npt.NDArray[np.int64]] = []
    bits: list[npt.NDArray[np.uint16]] = []
    for lo in range(0, len(text), _STEP):
        if deadline is not None:
            deadline.check()
        # A folded piece per step, reaching far enough past it for a whole anchor: small
        # buffers stay in the processor's cache and are reused by the allocator.
        if whole is None:
            piece = text[lo : lo + _STEP + _LONGEST]
            folded = piece.encode("latin-1", "replace").translate(_FOLD_TABLE)
        else:
            folded = whole[lo : lo + _STEP + _LONGEST]
        count = min(_STEP, len(folded))
        # Positions with four bytes to read; the last three of the text are padded.
        if len(folded) - 3 < count:
            folded += b"\x00" * 3
        quads = np.ndarray(shape=(count,), dtype="<u4", buffer=folded, strides=(1,))
        hashed = quads * _MULTIPLIER
        hashed >>= np.uint32(32 - _SMALL_BITS)
        where = np.flatnonzero(_SMALL_TABLE.take(hashed))
        heads = quads[where]
        keep = np.flatnonzero(
            _LARGE_TABLE.take((heads * _MULTIPLIER) >> np.uint32(32 - _LARGE_BITS))
        )
        where, heads = where[keep], heads[keep]
        slot = np.minimum(np.searchsorted(_HEAD_KEYS, heads), len(_HEAD_KEYS) - 1)
        exact = np.flatnonzero(_HEAD_KEYS[slot] == heads)
        places.append(where[exact].astype(np.int64) + lo)
        bits.append(_HEAD_BITS[slot[exact]])
    written = [m.start() for m in _AS_WRITTEN_AT.finditer(text)]
    if written:
        places.append(np.array(written, dtype=np.int64))
        bits.append(np.full(len(written), _WRITTEN_BITS, dtype=np.uint16))
    if not places:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint16)
    at, what = np.concatenate(places), np.concatenate(bits)
    order = np.argsort(at, kind="stable")
    return at[order], what[order]


_ANCHOR_BYTES = tuple(a.encode("ascii") for a in ANCHORS)


def _is_anchor(text: str, at: int) -> bool:
    """True when an anchor starts at ``at`` in the folded text, or an acronym as written."""
    if text.startswith(_AS_WRITTEN, at):
        return True
    folded = text[at : at + _LONGEST].encode("latin-1", "replace").translate(_FOLD_TABLE)
    return folded.startswith(_ANCHOR_BYTES)


def _anchor_positions(text: str) -> list[int]:
    at, _ = _candidates(text)
    return [i for i in at.tolist() if _is_anchor(text, i)]


def _windows(text: str) -> list[tuple[int, int]]:
    n = len(text)
    spans: list[tuple[int, int]] = []
    for at in _anchor_positions(text):
        lo, hi = max(0, at - _SPAN), min(n, at + _SPAN)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    # A window ends where a word ends: the pattern's look-ahead cannot see past it.
    out: list[tuple[int, int]] = []
    for lo, hi in spans:
        end = _WORD_END.match(text, hi)
        hi = end.end() if end is not None else hi
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


# --------------------------------------------------------------------------- finding


def _codes_near(text: str, ctx: re.Match[str], code: re.Pattern[str], chain: int) -> Iterator[int]:
    """Start and end of the codes within CODE_RADIUS of ``ctx`` (then ``chain`` apart)."""
    n = len(text)
    pos = max(0, ctx.start() - CODE_RADIUS)
    limit = ctx.end() + CODE_RADIUS
    while pos < n:
        # Bounded search: a code is at most seven characters, so one starting by
        # ``limit`` ends well before this end, where the look-ahead still sees the text.
        m = code.search(text, pos, min(n, limit + 16))
        if m is None or m.start() > limit:
            return
        yield m.start()
        yield m.end()
        pos = m.end()
        limit = max(limit, m.end() + chain)


# A long stretch is read this many characters at a time (a deadline is looked at
# between them).
_CHUNK = 1 << 16


def _words(
    text: str, lo: int, hi: int, deadline: Deadline | None = None
) -> Iterator[re.Match[str]]:
    """``PATTERN.finditer(text, lo, hi)``, read a chunk at a time. In a chunk, only the
    matches starting well before its end are taken (the alternatives tried there lie
    whole inside it, so they are those of the whole stretch); the next chunk goes on
    from the end of the last one taken."""
    pos = lo
    while pos < hi:
        if deadline is not None:
            deadline.check()
        end = min(hi, pos + _CHUNK)
        safe = hi if end == hi else end - 2 * _REACH
        nxt = safe
        for word in PATTERN.finditer(text, pos, end):
            if word.start() >= safe:
                break
            yield word
            nxt = max(safe, word.end())
        pos = nxt


def _scan(
    text: str, windows: Iterable[tuple[int, int]], deadline: Deadline | None = None
) -> list[Match]:
    found: list[Match] = []
    for lo, hi in windows:
        for word in _words(text, lo, hi, deadline):
            role = _ROLES[word.lastgroup or ""]
            if role.category is not None:
                found.append(Match(KIND, word.start(), word.end(), role.category))
            for code, chain, wanted in (
                (ICD_CODE, 0, role.icd),
                (CCAM_CODE, CCAM_LIST_RADIUS, role.ccam),
            ):
                if wanted:
                    it = _codes_near(text, word, code, chain)
                    for start, end in zip(it, it, strict=True):
                        found.append(Match(KIND, start, end, "medical_code"))
    found.sort(key=lambda x: (x.start, x.end))
    out: list[Match] = []
    for one in found:
        if out and out[-1].start == one.start and out[-1].end == one.end:
            continue
        out.append(one)
    return out


def find(text: str, /) -> Iterator[Match]:
    """Every medical word or code in ``text``, left to right, never raising."""
    if not isinstance(text, str) or not text:
        return iter(())
    return iter(_scan(text, _windows(text)))


def naive_find(text: str, /) -> Iterator[Match]:
    """The same answer by brute force: the patterns over the whole text."""
    if not isinstance(text, str) or not text:
        return iter(())
    return iter(_scan(text, [(0, len(text))]))


# --------------------------------------------------------------------------- categories
# What a content finding needs is only which categories occur, in the order of their
# first occurrence. Once a category has been met, the later places that can only mean
# it need not be read: :func:`categories` reads a short stretch around a candidate place
# only while that place may still bring something new.

# No match is longer than this.
_REACH = _SPAN + 1
# Characters no medical phrase contains (checked below): no match runs across one.
_BLOCKERS = ',;:!?()[]{}<>=+*|"\\'
_BLOCKER_AT = re.compile("[" + re.escape(_BLOCKERS) + "]")
# The last blocker before a place (the greedy ``.*`` backs up to it).
_LAST_BLOCKER = re.compile(".*[" + re.escape(_BLOCKERS) + "]", re.DOTALL)
# How far a stretch looks for a blocker on each side of a place.
_BLOCKER_RADIUS = 256


def _bodies_by_bit() -> dict[int, re.Pattern[str]]:
    """Per bit, the phrases that carry it, without their whole-word checks: a place
    where none of them occurs nearby cannot bring that bit."""
    by_bit: dict[int, list[str]] = {}
    for _, body, name in _PHRASES:
        bits = _role_bits(name)
        for bit in (1 << i for i in range(_ALL_BITS.bit_length())):
            if bits & bit:
                by_bit.setdefault(bit, []).append(body)
    return {bit: re.compile("|".join(bodies)) for bit, bodies in by_bit.items()}


_BODIES: list[dict[int, re.Pattern[str]]] = []


def _may_bring(text: str, here: int, wanted: int) -> bool:
    """True when a phrase with one of the ``wanted`` bits may hold place ``here``."""
    if not _BODIES:  # compiled on first use: only the pure path asks
        _BODIES.append(_bodies_by_bit())
    lo, hi = max(0, here - _REACH), here + _REACH
    return any(
        pattern.search(text, lo, hi) is not None
        for bit, pattern in _BODIES[0].items()
        if bit & wanted
    )


def _stretch(
    text: str, at: npt.NDArray[np.int64], i: int, starts: npt.NDArray[np.intp]
) -> tuple[int, int]:
    """A stretch of ``text`` around candidate ``i`` that no match crosses at either end.

    An end is a blocker, or lies more than ``_REACH`` away from every candidate place
    (a match holds the place of its anchor). ``starts`` are the indices of the
    candidates that begin a cluster (the previous one is ``2 * _REACH`` or more away).
    """
    n = len(text)
    here = int(at[i])
    k = int(np.searchsorted(starts, i, side="right")) - 1
    first = int(starts[k])
    lo = 0 if first == 0 else int(at[first - 1]) + _REACH
    last = int(starts[k + 1]) - 1 if k + 1 < len(starts) else len(at) - 1
    hi = min(n, int(at[last]) + _REACH)
    before = _LAST_BLOCKER.match(text, max(lo, here - _BLOCKER_RADIUS), here)
    if before is not None:
        lo = before.end() - 1
    after = _BLOCKER_AT.search(text, here, min(hi, here + _BLOCKER_RADIUS))
    if after is not None:
        hi = after.start()
    return lo, hi


class _FirstSeen:
    """Where each category was first met in ``text``, and the bits still worth looking
    for (shared by both paths)."""

    __slots__ = ("code_cut", "deadline", "first", "need", "text")

    def __init__(self, text: str, deadline: Deadline | None = None) -> None:
        self.text = text
        self.deadline = deadline
        self.first: dict[str, tuple[int, int]] = {}
        self.need = _ALL_BITS
        # Once a code is known, a code found from a context word past this place cannot
        # come first: places past it no longer need reading for codes.
        self.code_cut = len(text)

    def read(self, lo: int, hi: int) -> None:
        """Read the stretch ``text[lo:hi]`` (no match crosses its ends) exactly."""
        for m in _scan(self.text, [(lo, hi)], self.deadline):
            key = (m.start, m.end)
            if key < self.first.get(m.compact, (len(self.text), 0)):
                self.first[m.compact] = key
        for category in self.first:
            self.need &= ~_BIT.get(category, 0)
        if "medical_code" in self.first:
            self.code_cut = self.first["medical_code"][0] + _REACH + CODE_RADIUS

    def worth(self, here: int, bits: int) -> int:
        """``bits`` without the code bits that a place ``here`` cannot bring: no code
        of the kind lies within reach of a context word holding the place."""
        if not bits & _CODE_BITS:
            return bits
        lo, hi = max(0, here - _REACH - CODE_RADIUS), here + _REACH + CODE_RADIUS + 8
        if bits & _ICD_BIT and ICD_CODE.search(self.text, lo, hi) is None:
            bits &= ~_ICD_BIT
        if bits & _CCAM_BIT and CCAM_CODE.search(self.text, lo, hi) is None:
            bits &= ~_CCAM_BIT
        return bits

    def past_codes(self, here: int) -> bool:
        """Stop looking for codes at ``here`` if it is past the cut; True when the bits
        still needed change."""
        if here > self.code_cut and self.need & _CODE_BITS:
            self.need &= ~_CODE_BITS
            return True
        return False

    def categories(self) -> list[str]:
        return sorted(self.first, key=self.first.__getitem__)


def categories(
    text: str,
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
) -> list[str]:
    """The categories of :func:`find`, each once, in the order they first occur.

    The same answer as reading them off :func:`naive_find` (see :func:`naive_categories`),
    but on a long medical text it reads only the first few places of each category.
    Uses the compiled engine when it is installed (see ``COMPILED``); ``copies``, when
    given, are ``text`` with one byte per character and its :func:`folded_copy`. Raises
    ``DeadlineExceeded`` once ``deadline`` has passed.
    """
    found, whole = categories_until(text, copies=copies, deadline=deadline)
    if not whole:
        raise DeadlineExceeded
    return found


def categories_until(
    text: str,
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
) -> tuple[list[str], bool]:
    """:func:`categories` until ``deadline``: the categories met, and whether the text
    was read through (when not, the categories met before the deadline)."""
    if not isinstance(text, str) or not text:
        return [], True
    folded = None if copies is None else copies[1]
    seen = _FirstSeen(text, deadline)
    try:
        if COMPILED and len(text) >= _FAST_MIN:
            _fast_categories(seen, folded)
        else:
            _pure_categories(seen, folded)
    except DeadlineExceeded:
        return seen.categories(), False
    return seen.categories(), True


def pure_categories(text: str, /, *, folded: bytes | None = None) -> list[str]:
    """:func:`categories` without the compiled engine (numpy and ``re`` only);
    ``folded``, when given, is the :func:`folded_copy` of ``text``."""
    if not isinstance(text, str) or not text:
        return []
    seen = _FirstSeen(text)
    _pure_categories(seen, folded)
    return seen.categories()


def compiled_categories(text: str, /, *, folded: bytes | None = None) -> list[str]:
    """:func:`categories` with the compiled engine (installed: see ``COMPILED``), for
    texts of any length; ``folded``, when given, is the :func:`folded_copy` of ``text``."""
    if not isinstance(text, str) or not text:
        return []
    seen = _FirstSeen(text)
    _fast_categories(seen, folded)
    return seen.categories()


def _pure_categories(seen: _FirstSeen, folded: bytes | None) -> None:
    text = seen.text
    at, bits = _candidates(text, folded, seen.deadline)
    if not len(at):
        return
    starts = np.concatenate(([0], np.flatnonzero(np.diff(at) >= 2 * _REACH + 1) + 1))
    pos = 0
    while seen.need:
        before = seen.need
        for i in np.flatnonzero(bits & before).tolist():
            here = int(at[i])
            if here < pos:
                continue
            if seen.past_codes(here):
                break
            wanted = seen.worth(here, int(bits[i]) & before)
            if not wanted or not _is_anchor(text, here) or not _may_bring(text, here, wanted):
                continue
            lo, hi = _stretch(text, at, i, starts)
            seen.read(lo, hi)
            pos = hi
            if seen.need != before:
                break
        if seen.need == before:
            break


# ------------------------------------------------------------ the compiled fast path
# With the ``fast`` extra (the ``hyperscan`` wheel: Vectorscan, BSD) every phrase is one
# expression over the folded copy, loose enough to fire wherever the exact pattern
# matches (letters without accents or case, any few non-letters between words). It tells
# which category a place may bring, with no Python step per word: only the first place
# of each still-missing category is read exactly, as in the pure path.
_FAST_BLOCK = 1 << 20
_FIRST_BLOCK = 1 << 12
# Below this many characters the pure path is as quick (and nothing is compiled).
_FAST_MIN = 1 << 16


# The folded copy the expressions read; "_" is a word character for the engine only.
_FAST_TABLE = _FOLD_TABLE.replace(b"_", b" ")


def _loose(phrase: str) -> bytes:
    """An expression over the folded copy that fires wherever ``phrase`` matches."""
    folded = bare(phrase)
    other = "[^a-z0-9]"
    parts: list[str] = []
    for ch in folded:
        if ch.isascii() and ch.isalnum():
            parts.append(ch)
        elif ch == " ":
            parts.append(other + "{1,3}")
        elif ch in "'’":
            parts.append(other + "{0,3}")
        elif ch == "-":
            parts.append(other + "{0,2}")
        elif ch == "°":
            parts.append(f"(?:{other}|o\\.?)")
        else:
            parts.append(".")
    left = "\\b" if folded[:1].isascii() and folded[:1].isalnum() else ""
    right = "\\b" if folded[-1:].isascii() and folded[-1:].isalnum() else ""
    return (left + "".join(parts) + right).encode("ascii")


def folded_copy(latin1: bytes, /) -> bytes:
    """A Latin-1 copy in lower case without accents (what the compiled engine reads)."""
    return latin1.translate(_FAST_TABLE)


_PHRASE_BITS = [_role_bits(name) for _, _, name in _PHRASES]


def _installed() -> bool:
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return False
    return True


# True when the compiled fast path is installed; set it to False to use the pure path.
COMPILED = _installed()
_FAST_DB: list[object] = []
_FAST_LOCK = threading.Lock()
# Hyperscan's scratch space serves one scan at a time: one per thread (the services
# check several messages at once in worker threads).
_FAST_SCRATCH = threading.local()


def engine() -> str | None:
    """The compiled engine that runs, as ``"Vectorscan 5.4.12 (hyperscan 0.9.1)"``, or
    ``None`` when the pure Python path does (not installed, or ``COMPILED`` is off)."""
    if not COMPILED:
        return None
    from importlib.metadata import version

    import hyperscan

    probe = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    probe.compile(expressions=[b"leakguard"])
    info: object = probe.info()
    found = re.search(
        r"Version: *([0-9][0-9.]*)", str(info, "ascii") if isinstance(info, bytes) else str(info)
    )
    library = found.group(1) if found else "?"
    return f"Vectorscan {library} (hyperscan {version('hyperscan')})"


def _database() -> object:
    """The compiled expressions: built on first use (a tenth of a second) or read from
    the user's cache folder, once even when several threads ask at the same time."""
    if _FAST_DB:
        return _FAST_DB[0]
    import hyperscan

    from leakguard.detectors._engine import database

    flags = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_DOTALL
    with _FAST_LOCK:
        if not _FAST_DB:
            expressions = [_loose(phrase) for phrase, _, _ in _PHRASES]
            _FAST_DB.append(database(expressions, [flags] * len(_PHRASES), name="health"))
    return _FAST_DB[0]


def _scratch(database: hyperscan.Database) -> hyperscan.Scratch:
    """This thread's scratch space for ``database``."""
    import hyperscan

    space = getattr(_FAST_SCRATCH, "space", None)
    if space is None:
        space = _FAST_SCRATCH.space = hyperscan.Scratch(database)
    return cast(hyperscan.Scratch, space)


def _next_place(folded: bytes, pos: int, seen: _FirstSeen) -> int | None:
    """The first place at or after ``pos`` where a phrase with a bit ``seen`` still
    needs may end; ``None`` when there is none."""
    import hyperscan

    database = cast(hyperscan.Database, _database())
    scratch = _scratch(database)
    best: list[int] = []
    need = seen.need

    def hit(number: int, start: int, end: int, flags: int, context: object) -> None:
        if best and end >= best[0]:
            return
        if seen.worth(pos + end - 1, _PHRASE_BITS[number] & need):
            best[:] = [end]

    n = len(folded)
    # Small blocks first (the next place is often near), then larger ones.
    size = _FIRST_BLOCK
    while pos < n:
        if seen.deadline is not None:
            seen.deadline.check()
        # Blocks overlap by more than a match is long: every match lies whole in one.
        block = folded[pos : pos + size + _REACH]
        database.scan(block, match_event_handler=hit, scratch=scratch)
        if best:
            return pos + best[0] - 1
        pos += size
        size = min(2 * size, _FAST_BLOCK)
    return None


def _local_stretch(
    text: str, folded: bytes, here: int, deadline: Deadline | None = None
) -> tuple[int, int]:
    """A stretch around ``here`` that no match crosses at either end, found from the
    candidate places near it (the pure path's ``_stretch`` with the places of a window)."""
    n = len(text)
    radius = 4 * _REACH
    gap = 2 * _REACH + 1
    while True:
        u, v = max(0, here - radius), min(n, here + radius)
        local, _ = _candidates(text[u:v], folded[u:v], deadline)
        trusted = v if v == n else v - 4  # an anchor crossing ``v`` is not seen
        local = local + u
        # Conservative: the edges of the window and ``here`` count as places too.
        edges = [here, *([u] if u > 0 else []), *([trusted] if v < n else [])]
        seq = np.sort(np.concatenate((local[local < trusted], edges)))
        # Each place once (``np.unique`` would load numpy's masked arrays for this).
        seq = seq[np.concatenate(([True], seq[1:] != seq[:-1]))]
        k = int(np.searchsorted(seq, here))
        wide = np.flatnonzero(np.diff(seq) >= gap)
        left, right = wide[wide < k], wide[wide >= k]
        lo = int(seq[left[-1]]) + _REACH if len(left) else (0 if u == 0 else -1)
        hi = int(seq[right[0]]) + _REACH if len(right) else (n if v == n else -1)
        before = _LAST_BLOCKER.match(text, max(0, here - _BLOCKER_RADIUS), here)
        if before is not None:
            lo = max(lo, before.end() - 1)
        after = _BLOCKER_AT.search(text, here, min(n, here + _BLOCKER_RADIUS))
        if after is not None:
            hi = after.start() if hi < 0 else min(hi, after.start())
        if lo >= 0 and hi >= 0:
            return lo, hi
        radius *= 4


def _fast_categories(seen: _FirstSeen, folded: bytes | None = None) -> None:
    text = seen.text
    if folded is None:
        folded = folded_copy(text.encode("latin-1", "replace"))
    pos = 0
    while seen.need:
        here = _next_place(folded, pos, seen)
        if here is None:
            break
        if seen.past_codes(here):
            continue
        lo, hi = _local_stretch(text, folded, here, seen.deadline)
        seen.read(lo, hi)
        pos = max(hi, here + 1)


def naive_categories(text: str, /) -> list[str]:
    """The categories of :func:`naive_find` in order of first occurrence, each once."""
    out: list[str] = []
    for m in naive_find(text):
        if m.compact not in out:
            out.append(m.compact)
    return out


def _check_anchors() -> None:
    # Every phrase must contain its anchor once folded, or the prefilter would miss it.
    for phrase in [*_ALL_WORDS, *ICD_WORDS, *CCAM_WORDS]:
        folded = bare(phrase)
        if not any(a in folded for a in ANCHORS):  # pragma: no cover - a lexicon typo
            raise RuntimeError("a medical phrase has no anchor")
    if any(unicodedata.combining(c) for c in "".join(ANCHORS)):  # pragma: no cover
        raise RuntimeError("anchors must be plain ASCII")
    if min(len(a) for a in ANCHORS) < 3:  # pragma: no cover - the table would be huge
        raise RuntimeError("anchors must have three characters or more")


_check_anchors()


def _check_blockers() -> None:
    # A phrase pattern accepts its own characters, letters, digits, spaces, apostrophes,
    # hyphens and "n°" marks (see ``fold_tokens``): a blocker must be none of these.
    accepted = "'’`´-\u2010\u2011°º."
    for ch in _BLOCKERS:
        if ch.isalnum() or ch.isspace() or ch in accepted:  # pragma: no cover
            raise RuntimeError("a blocker can occur inside a medical phrase")
        if any(ch in phrase for phrase, _, _ in _PHRASES):  # pragma: no cover
            raise RuntimeError("a medical phrase contains a blocker")


_check_blockers()
