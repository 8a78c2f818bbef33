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

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import numpy.typing as npt

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

__all__ = ["CATEGORIES", "KIND", "PATTERN", "find", "naive_find"]

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


def _build() -> tuple[re.Pattern[str], dict[str, _Role]]:
    """All medical phrases and code-context words as one whole-word pattern (a trie).

    A flat alternation of some 150 phrases is tried phrase by phrase at every word;
    the trie checks each character once. The named group closing each phrase tells
    its role.
    """
    entries: list[tuple[list[str], str | None, str]] = []
    for category, langs in HEALTH_WORDS.items():
        for phrase in sorted({p for ws in langs.values() for p in ws}, key=len, reverse=True):
            entries.append((fold_tokens(phrase, cased=True), category, ""))
        for acr in HEALTH_ACRONYMS.get(category, ()):
            entries.append(([re.escape(c) for c in acr], category, ""))
    for phrase in ICD_WORDS:
        entries.append((fold_tokens(phrase, cased=True), "diagnosis", "icd"))
    for phrase in CCAM_WORDS:
        entries.append((fold_tokens(phrase, cased=True), None, "ccam"))
    for acr, code in [(a, "icd") for a in ICD_ACRONYMS] + [(a, "ccam") for a in CCAM_ACRONYMS]:
        entries.append(([re.escape(c) for c in acr], None, code))
    root = _Node()
    roles: dict[str, _Role] = {}
    for number, (tokens, reported, code) in enumerate(entries):
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
    return re.compile(LEFT + _emit(root) + RIGHT), roles


PATTERN, _ROLES = _build()
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


def _anchor_positions(text: str) -> list[int]:
    hits: list[int] = []
    for lo in range(0, len(text), _STEP):
        # A folded piece per step, reaching far enough past it for a whole anchor: small
        # buffers stay in the processor's cache and are reused by the allocator.
        piece = text[lo : lo + _STEP + _LONGEST]
        folded = piece.encode("latin-1", "replace").translate(_FOLD_TABLE)
        count = min(_STEP, len(folded))
        # Positions with four bytes to read; the last three of the text are checked
        # one by one.
        full = max(0, min(count, len(folded) - 3))
        quads = np.ndarray(shape=(full,), dtype="<u4", buffer=folded, strides=(1,))
        hashed = quads * _MULTIPLIER
        hashed >>= np.uint32(32 - _SMALL_BITS)
        where = np.flatnonzero(_SMALL_TABLE.take(hashed))
        heads = quads[where]
        keep = _LARGE_TABLE.take((heads * _MULTIPLIER) >> np.uint32(32 - _LARGE_BITS))
        for at, head in zip(where[keep].tolist(), heads[keep].tolist(), strict=True):
            for word in _HEADS.get(head, ()):
                if folded.startswith(word, at):
                    hits.append(lo + at)
        for at in range(full, count):
            hits.extend(lo + at for word in _SHORT if folded.startswith(word, at))
    hits.extend(m.start() for m in _AS_WRITTEN_AT.finditer(text))
    hits.sort()
    return hits


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


def _scan(text: str, windows: Iterable[tuple[int, int]]) -> list[Match]:
    found: list[Match] = []
    for lo, hi in windows:
        for word in PATTERN.finditer(text, lo, hi):
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
