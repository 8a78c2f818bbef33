"""Identifiers as forms and bank documents print them: one character per box, the key
in boxes of its own, label/value boxes in any reading order, table columns that lost
their leading zeros.

Only read where a field label stands (``FIELD_LABELS`` in the lexicon): the value is
rebuilt from the boxes after the label, within a bounded window, and the detector of
its kind decides (checksum or structure). A wrong key, or a phone number in boxes,
gives nothing; text without a field label costs one scan for label words.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

import numpy as np

from leakguard.core import Deadline
from leakguard.detectors import be_niss, ca_sin, health_data, iban, nir, qc_nam, rib
from leakguard.detectors._base import Match, strip_separators
from leakguard.detectors._lexicon import FIELD_LABELS, bare, fold_pattern

__all__ = ["COMPILED", "STEMS", "fields", "find", "inside", "label_places", "with_fields"]

# ----------------------------------------------------------------------------- kinds
# The parts of each kind in the order its compact form writes them: (name, width, and
# the fewest digits a cell that lost leading zeros to a spreadsheet keeps; 0: such a
# part never loses any). A NIR body starts with its sex digit and a SIN never with 0;
# a Belgian number loses at most three zeros (born in 2000, in January to September).
_PARTS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "nir": (("body", 13, 0), ("key", 2, 1)),
    "rib": (("bank", 5, 1), ("branch", 5, 1), ("account", 11, 1), ("key", 2, 1)),
    "iban": (("all", 34, 0),),
    "be_niss": (("all", 11, 8),),
    "qc_nam": (("all", 12, 0),),
    "ca_sin": (("all", 9, 0),),
}
# Each detector's check of a compact value, without exceptions (its hot path).
_QUICK: dict[str, Callable[[str], bool]] = {
    "nir": nir._ok,
    "rib": rib.key_ok,
    "iban": iban._ok,
    "be_niss": be_niss._ok,
    "qc_nam": qc_nam.is_valid,
    "ca_sin": ca_sin._ok,
}
# The shortest IBAN (Norway): below it no IBAN is tried.
_IBAN_MIN = 15


def _field(name: str) -> tuple[str, str]:
    """A lexicon field name -> (kind, part); the kind is empty for a shared key, the
    part empty for a field that holds no identifier."""
    kind, _, part = name.partition(".")
    if not part:
        return kind, _PARTS[kind][0][0] if kind in _PARTS else ""
    return kind, part


# ----------------------------------------------------------------------------- labels
# Every label that starts a field holds one of these word beginnings once folded (lower
# case, no accents); the cheap test looks for them only. A RIB's fields are read where
# "guichet" stands, as every bank's layout prints it.
STEMS: tuple[bytes, ...] = (
    b"immatricul", b"securit", b"nir", b"insee", b"iban", b"niss", b"insz",
    b"rijksregister", b"national", b"bis", b"nam", b"ramq", b"assurance", b"insurance",
    b"nas", b"sin", b"guichet", b"cle", b"ss",
)  # fmt: skip


def _labels() -> list[tuple[str, str]]:
    """Every label (longest first) and the field it names."""
    entries = {(p, f) for f, langs in FIELD_LABELS.items() for ps in langs.values() for p in ps}
    return sorted(entries, key=lambda e: (-len(e[0]), e))


def _alternative(phrase: str) -> str:
    """A label as a regex group: capital acronyms (NIR, NAS, SIN…) in capitals only,
    the rest in any case and with or without accents (the lexicon's rule)."""
    if phrase.isupper() and " " not in phrase:
        return f"({re.escape(phrase)})"
    return f"((?i:{fold_pattern(phrase)}))"


def _first_word(phrase: str) -> list[str]:
    """The folded first word of a label as the text may write it ("n°": also "no", "nº")."""
    first = re.split(r"[^a-z0-9]+", bare(phrase))[0]
    return [first, "no", "nº"] if first == "n" else [first]


def _label_table() -> dict[str, tuple[str, list[str]]]:
    """For each first word: the expression of the labels that begin with it (whole
    words) and their fields."""
    by_first: dict[str, list[tuple[str, str]]] = {}
    for phrase, name in _labels():
        for first in _first_word(phrase):
            by_first.setdefault(first, []).append((phrase, name))
    return {
        first: (
            r"(?<![^\W_])(?:" + "|".join(_alternative(p) for p, _ in entries) + r")(?![^\W_])",
            [name for _, name in entries],
        )
        for first, entries in by_first.items()
    }


_LABELS = _label_table()


@functools.cache
def _label_pattern(first: str) -> re.Pattern[str]:
    """The labels beginning with ``first``, compiled when a text first holds that word
    (a short-lived command does not compile the hundred and sixty it never meets)."""
    return re.compile(_LABELS[first][0])


# A header cell of a table: a label alone, perhaps with a colon or an asterisk.
_HEADER_FIELDS = [name for _, name in _labels()]


@functools.cache
def _header_cell() -> re.Pattern[str]:
    return re.compile(
        r"[\s:*]*(?:" + "|".join(_alternative(p) for p, _ in _labels()) + r")[\s:*.]*"
    )


def _check_stems() -> None:
    # Every label that can start a field must hold a stem at a word start, or the
    # cheap test would skip it (the RIB's: its branch and key labels do).
    for name, langs in FIELD_LABELS.items():
        kind, part = _field(name)
        if (kind == "rib" and part not in ("branch", "key")) or not part:
            continue
        for phrase in (p for ps in langs.values() for p in ps):
            words = re.split(r"[^a-z0-9]+", bare(phrase))
            if not any(w.startswith(s.decode()) for w in words for s in STEMS):
                raise RuntimeError("a field label holds no stem")  # pragma: no cover


_check_stems()


# ----------------------------------------------------------------------------- the cheap test
# Bytes of a word in the folded copy (lower-case ASCII letters and digits only).
_WORD_BYTE = np.zeros(256, dtype=np.bool_)
_WORD_BYTE[list(b"abcdefghijklmnopqrstuvwxyz0123456789")] = True


# True when the compiled engine (the ``fast`` extra, as for the medical context) looks
# for the stems; set it to False to use the pure path (both give the same places).
COMPILED = health_data.COMPILED
_DB: list[object] = []
# Hyperscan's scratch space serves one scan at a time: one per thread (a mail server
# checks several messages at once).
_SCRATCH = threading.local()


def _compiled_places(folded: bytes) -> list[int]:
    import hyperscan

    if not _DB:
        from leakguard.detectors._engine import database as compiled

        stems = [rb"\b" + re.escape(s) for s in STEMS]
        _DB.append(compiled(stems, [0] * len(STEMS), name="stems"))
    database = cast(hyperscan.Database, _DB[0])
    scratch = getattr(_SCRATCH, "space", None)
    if scratch is None:
        scratch = _SCRATCH.space = hyperscan.Scratch(database)
    places: list[int] = []

    def seen(number: int, start: int, end: int, flags: int, context: object) -> None:
        places.append(end - len(STEMS[number]))

    database.scan(folded, match_event_handler=seen, scratch=scratch)
    return places


# The pure path hashes every three bytes of the folded copy into a small table of the
# stems' first three bytes (a two-letter stem: with the byte before it), a piece at a
# time, and checks the few places found.
_PIECE = 1 << 20
_HASH_BITS = 16
_MULTIPLIER = np.uint32(2654435761)


def _trigram(b: bytes) -> int:
    return b[0] | b[1] << 8 | b[2] << 16


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, list[bytes]]]:
    starts: dict[int, list[bytes]] = {}
    after_gap: list[int] = []
    for stem in STEMS:
        if len(stem) >= 3:
            starts.setdefault(_trigram(stem), []).append(stem)
        else:
            after_gap += [_trigram(bytes([g]) + stem) for g in range(256) if not _WORD_BYTE[g]]
    table = np.zeros(1 << _HASH_BITS, dtype=np.bool_)
    for key in [*starts, *after_gap]:
        table[((key * int(_MULTIPLIER)) & 0xFFFFFFFF) >> (32 - _HASH_BITS)] = True
    k0 = np.array(sorted(starts), dtype=np.uint32)
    k1 = np.array(sorted(after_gap), dtype=np.uint32)
    return table, k0, k1, starts


_TABLE, _K0, _K1, _BY_TRIGRAM = _tables()
_SHORT = [s for s in STEMS if len(s) < 3]


def _pure_places(folded: bytes) -> list[int]:
    n = len(folded)
    whole = np.frombuffer(folded, dtype=np.uint8)
    places: list[int] = []
    for at in range(0, n, _PIECE):
        piece = folded[at : at + _PIECE + 2]
        count = len(piece) - 2
        if count <= 0:
            break
        padded = piece + b"\x00"
        quads = np.ndarray(shape=(count,), dtype="<u4", buffer=padded, strides=(1,))
        tri = quads & np.uint32(0xFFFFFF)
        hashed = (tri * _MULTIPLIER) >> np.uint32(32 - _HASH_BITS)
        where = np.flatnonzero(_TABLE.take(hashed))
        if not len(where):
            continue
        values = tri[where]
        first = where[np.isin(values, _K0)]
        if len(first):
            # A stem counts where it starts a word: the byte before is no letter or digit.
            spot = first + at
            prev = whole[np.maximum(spot - 1, 0)]
            prev[spot == 0] = 0
            for p in first[~_WORD_BYTE[prev]].tolist():
                for stem in _BY_TRIGRAM[_trigram(padded[p : p + 3])]:
                    if folded.startswith(stem, at + p):
                        places.append(at + p)
        second = where[np.isin(values, _K1)]
        for p in second.tolist():
            for stem in _SHORT:
                if folded.startswith(stem, at + p + 1):
                    places.append(at + p + 1)
    # A two-letter stem at the very start has no byte before it.
    places.extend(0 for stem in _SHORT if folded.startswith(stem))
    return places


def label_places(folded: bytes, /) -> list[int]:
    """Where a stem starts a word in ``folded`` (the lower-case copy without accents that
    :func:`leakguard.detectors.one_byte_copies` makes), sorted, each place once."""
    places = _compiled_places(folded) if COMPILED else _pure_places(folded)
    return sorted(set(places))


# ----------------------------------------------------------------------------- tokens
_LABEL, _VALUE, _WORD = 0, 1, 2
_WORD_RE = re.compile(r"[^\W_]+")
# Read as box borders between the characters of a boxed value (OCR reads a border so).
_BORDERS = frozenset("Il!")
_CELL_BREAK = re.compile(r"[\t\n]")
_DOUBLED_ZERO = frozenset({"O0", "0O"})


# Lower-case letters with an accent -> the letter without (``bare`` a word at a time is
# slower than this table).
_UNACCENT = {
    c: b for c in range(0xC0, 0x250) if len(b := bare(chr(c))) == 1 and b != chr(c).lower()
}


def _folded(word: str) -> str:
    return word.lower().translate(_UNACCENT)


# A word as written -> its folded form when a label begins with it, else "". Words of a
# text repeat: the table spares folding each of them at every label place. Bounded.
_FIRSTS: dict[str, str] = {}
_FIRSTS_MAX = 1 << 16


def _label_first(word: str) -> str:
    """The folded ``word`` when a field label begins with it, else ``""``."""
    first = _FIRSTS.get(word)
    if first is None:
        folded = _folded(word) if len(word) <= 20 else ""
        first = folded if folded in _LABELS else ""
        if len(_FIRSTS) >= _FIRSTS_MAX:
            _FIRSTS.clear()
        _FIRSTS[word] = first
    return first


def _label(text: str, word: re.Match[str], limit: int) -> _Tok | None:
    """The field label that begins with ``word`` in ``text`` (ending by ``limit``)."""
    first = _label_first(word.group())
    if not first:
        return None
    return _label_from(text, first, word.start(), limit)


def _label_from(text: str, first: str, start: int, limit: int) -> _Tok | None:
    """The field label beginning at ``start`` with the (folded) word ``first``."""
    entry = _LABELS[first]
    m = _label_pattern(first).match(text, start, limit)
    if m is None:
        return None
    return _Tok(_LABEL, m.start(), m.end(), field=entry[1][(m.lastindex or 1) - 1])


@dataclass(slots=True)
class _Tok:
    type: int
    start: int
    end: int
    chars: str = ""
    field: str = ""
    box: bool = False
    cell: bool = False
    zero: bool = False
    marked: bool = False


def _unboxed(run: str) -> str:
    """A run of characters without the box borders OCR read into it (``1I8I5``)."""
    if len(run) >= 3:
        for first in (0, 1):
            borders, kept = run[first::2], run[1 - first :: 2]
            if kept and all(c in _BORDERS for c in borders) and not (_BORDERS & set(kept)):
                return kept
    return run.strip("Il!") or run


def _value_chars(word: str) -> str | None:
    """The characters a word gives as a value, or None for an ordinary word."""
    if word.isdigit():
        return word if word.isascii() else None
    if not word.isascii():
        return None
    if word.isalpha():
        return word if len(word) == 1 or (word.isupper() and len(word) <= 4) else None
    # Letters and digits: OCR's borders and its "o" for a zero inside boxes.
    return _unboxed(word).replace("o", "0")


# A line that a reader added as a cleaned copy of the line before begins with this mark
# (``leakguard.extract.ocr.COPY``): read once, a value is not read twice.
_COPY = "\u2060"


class _Stream:
    """The tokens of ``text[lo:hi]`` (labels, values, words), read as they are needed;
    the lines marked as copies are skipped."""

    __slots__ = ("copies", "hi", "lo", "pos", "text", "toks")

    def __init__(self, text: str, lo: int, hi: int, first: _Tok | None = None) -> None:
        self.text, self.lo, self.hi, self.pos = text, lo, hi, lo
        self.copies = text.find(_COPY, lo, hi) >= 0
        self.toks: list[_Tok] = []
        if first is not None:
            self.toks.append(first)
            self.pos = first.end

    def get(self, i: int) -> _Tok | None:
        while len(self.toks) <= i:
            if not self._more():
                return None
        return self.toks[i]

    def all(self) -> list[_Tok]:
        while self._more():
            pass
        return self.toks

    def _more(self) -> bool:
        m = _WORD_RE.search(self.text, self.pos, self.hi)
        while m is not None and self.copies and _in_copy(self.text, m.start()):
            end = self.text.find("\n", m.start(), self.hi)
            m = None if end < 0 else _WORD_RE.search(self.text, end, self.hi)
        if m is None:
            self.pos = self.hi
            return False
        label = _label(self.text, m, self.hi)
        if label is not None:
            self.toks.append(label)
            self.pos = label.end
            return True
        word = m.group()
        chars = _value_chars(word)
        kind = _WORD if chars is None else _VALUE
        self.toks.append(_Tok(kind, m.start(), m.end(), chars=chars or word))
        self.pos = m.end()
        return True

    def value(self, i: int) -> _Tok:
        """``toks[i]`` (a value), told whether it is one box among others or a cell."""
        tok = self.toks[i]
        if tok.marked:
            return tok
        tok.marked = True
        prev = self.toks[i - 1] if i else None
        nxt = self.get(i + 1)
        # Boxes come in runs of one character each (OCR may read a boxed zero "O0").
        tok.box = _boxed(tok) and any(o is not None and _boxed(o) for o in (prev, nxt))
        tok.zero = tok.box and tok.chars in _DOUBLED_ZERO
        if not tok.box:
            text = self.text
            left = prev is None or prev.type == _LABEL
            left = left or _CELL_BREAK.search(text, prev.end if prev else 0, tok.start) is not None
            right = nxt is None or nxt.type == _LABEL
            right = right or _CELL_BREAK.search(text, tok.end, nxt.start if nxt else 0) is not None
            tok.cell = left and right
        return tok


def _boxed(tok: _Tok) -> bool:
    """True when ``tok`` may be the content of one box."""
    return tok.type == _VALUE and (len(tok.chars) == 1 or tok.chars in _DOUBLED_ZERO)


def _in_copy(text: str, at: int) -> bool:
    """True when ``at`` lies on a line marked as a copy."""
    return text.startswith(_COPY, text.rfind("\n", 0, at) + 1)


# ----------------------------------------------------------------------------- fields
# Between a label and its value, or two boxes, at most this many characters.
_MAX_GAP = 80
# Words allowed between a label and the first box ("de l'assuré(e)").
_MAX_WORDS = 5
# How far after its label a field's boxes may run (a NIR one digit per line, CRLF).
_WINDOW = 800
# How far before a "guichet" label the bank's label, or before a "Clé" label the
# number, may stand.
_BACK = 200


def _letter_ok(kind: str, part: str, index: int) -> bool:
    """True when a letter may stand at ``index`` of ``part`` (else only a digit)."""
    if kind == "nir":
        return part == "body" and index == 6
    if kind == "rib":
        return part == "account"
    if kind == "iban":
        return index < 2 or index >= 4
    if kind == "qc_nam":
        return index < 4
    return False


class _Fill:
    """The parts of one kind's value as boxes and cells come in."""

    def __init__(self, kind: str, loose: bool = False) -> None:
        self.kind = kind
        # Loose: a short number apart by spaces may also be a cell that lost its zeros
        # (a spreadsheet printed to PDF), and an "O" among digits a zero (OCR); ``retry``
        # when such a number or letter was met, not loose.
        self.loose = loose
        self.retry = False
        # Where the field's boxes lay when they made a whole number whose check failed.
        self.failed: tuple[int, int] | None = None
        self.parts = _PARTS[kind]
        self.got = {name: "" for name, _, _ in self.parts}
        self.width = {name: width for name, width, _ in self.parts}
        self.least = {name: least for name, _, least in self.parts}
        self.pending: list[str] = []

    def expect(self, part: str) -> None:
        """A label names ``part``: the next characters go to it."""
        if part in self.got and len(self.got[part]) < self.width[part] and part not in self.pending:
            self.pending.append(part)

    def target(self) -> str | None:
        for part in self.pending:
            if len(self.got[part]) < self.width[part]:
                return part
        for part, width, _ in self.parts:
            if len(self.got[part]) < width:
                return part
        return None

    def complete(self) -> bool:
        return all(len(self.got[p]) == w for p, w, _ in self.parts)

    def capitals_not_here(self, tok: _Tok) -> bool:
        """True for a word in capitals (``DE`` in ``N° D'IMMATRICULATION DE L'ASSURÉ``)
        where no letter can stand: a word, not boxes. (A lone letter is left to
        :meth:`take`: a border, or a zero read as ``O``.)"""
        if len(tok.chars) < 2 or not tok.chars.isalpha():
            return False
        part = self.target()
        return part is None or not _letter_ok(self.kind, part, len(self.got[part]))

    def take(self, tok: _Tok) -> bool | None:
        """Place ``tok``'s characters: False when it was a border, None when the number
        would run on past its end (a longer number), else True."""
        chars = tok.chars
        part = self.target()
        if part is None:
            return None
        if "O" in chars:
            self.retry = True
            if self.loose:
                chars = "0" if tok.zero else chars.replace("O", "0")
        filled = self.got[part]
        if len(chars) == 1 and not _letter_ok(self.kind, part, len(filled)):
            if chars in _BORDERS:
                return False
            if chars in "oO":
                chars = "0"
        if (
            not filled
            and not tok.box
            and chars.isdigit()
            and 0 < self.least[part] <= len(chars) < self.width[part]
        ):
            if tok.cell or self.loose:
                # A spreadsheet cell that lost its leading zeros (guichet 60 -> 00060).
                self.got[part] = chars.zfill(self.width[part])
                return True
            self.retry = True
        for ch in chars:
            part = self.target()
            if part is None:
                return None
            self.got[part] += ch
        return True

    def value(self) -> str | None:
        """The valid compact value once complete (an IBAN: as soon as one is valid)."""
        if self.kind == "iban":
            number = self.got["all"]
            if len(number) < _IBAN_MIN:
                return None
        elif not self.complete():
            return None
        else:
            number = "".join(self.got[p] for p, _, _ in self.parts)
        return _valid(self.kind, number)


def _valid(kind: str, number: str) -> str | None:
    """``number`` in upper case when it is a valid ``kind``, else None: the detector's
    quick check on a compact value (the property tests hold it equal to ``is_valid``)."""
    number = number.upper()
    return number if _QUICK[kind](number) else None


def _belongs(kind: str, tok: _Tok) -> str | None:
    """The part of ``kind`` a label token names, or None when it names another kind."""
    owner, part = _field(tok.field)
    if owner == kind or (not owner and any(part == p for p, _, _ in _PARTS[kind])):
        return part
    return None


def _read_field(kind: str, stream: _Stream, i: int) -> Match | _Failed | None:
    """The value of the field whose label is the stream's token ``i``: read as written,
    else with short numbers taken for cells that lost their leading zeros. A whole
    number whose check fails comes back as :class:`_Failed`."""
    fill = _Fill(kind)
    found = _read_with(fill, stream, i)
    if found is None and fill.retry:
        loose = _Fill(kind, loose=True)
        found = _read_with(loose, stream, i)
        fill.failed = fill.failed if loose.failed is None else loose.failed
    if found is None and fill.failed is not None:
        return _Failed(kind, *fill.failed)
    return found


@dataclass(frozen=True, slots=True)
class _Failed:
    """A field whose boxes make a whole number that fails its check: a mistyped number,
    where no other identifier (its first thirteen characters as a key-less NIR, an
    account's eleven digits as a Belgian number) is to be reported."""

    kind: str
    start: int
    end: int


def _read_with(fill: _Fill, stream: _Stream, i: int) -> Match | None:
    kind = fill.kind
    label = stream.toks[i]
    part = _belongs(kind, label)
    if part is not None:
        fill.expect(part)
    words = 0
    short_words = 0
    start = -1
    last_end = label.end
    j = i
    while True:
        j += 1
        tok = stream.get(j)
        if tok is None or tok.start - last_end > _MAX_GAP:
            return None
        last_end = tok.end
        part = _belongs(kind, tok) if tok.type == _LABEL else None
        if part is not None:
            fill.expect(part)
        elif tok.type == _LABEL and (start >= 0 or _field(tok.field)[1]):
            # Another identifier's label, or any label once the boxes began: the field
            # ends. (The label of a field with no identifier, BIC, may stand between.)
            return None
        elif tok.type in (_WORD, _LABEL) or fill.capitals_not_here(tok):
            if start < 0:
                words += 1
                if words > _MAX_WORDS:
                    return None
            else:
                # One short word among the boxes: OCR's reading of a "Clé" label.
                short_words += 1
                if short_words > 1 or len(tok.chars) > 3:
                    return None
        else:
            placed = fill.take(stream.value(j))
            if placed is None:
                return None
            if not placed:
                continue
            if start < 0:
                start = tok.start
            if kind == "iban" or fill.complete():
                if _boxes_go_on(stream, j):
                    if fill.complete():
                        return None
                    continue
                value = fill.value()
                if value is not None:
                    return Match(kind, start, tok.end, value)
                if fill.complete():
                    fill.failed = (start, tok.end)
                    return None


def _boxes_go_on(stream: _Stream, j: int) -> bool:
    """True when box ``j`` is followed on its line by another box: the number printed in
    those boxes is longer than the one just read."""
    tok = stream.toks[j]
    nxt = stream.get(j + 1)
    return (
        tok.box
        and nxt is not None
        and nxt.type == _VALUE
        and stream.value(j + 1).box
        and _CELL_BREAK.search(stream.text, tok.end, nxt.start) is None
    )


def _read_before_key(text: str, key: _Tok) -> Match | _Failed | None:
    """A NIR or a RIB written before its "Clé" label, the key after it."""
    before: list[_Tok] = []
    for tok in reversed(_Stream(text, _snap_back(text, key.start - _BACK), key.start).all()):
        edge = before[-1].start if before else key.start
        if tok.type != _VALUE or edge - tok.end > _MAX_GAP:
            break
        before.append(tok)
    after = _Stream(text, key.end, min(len(text), key.end + _MAX_GAP))
    keyed = after.get(0)
    if not before or keyed is None or keyed.type != _VALUE:
        return None
    last = keyed
    digits = keyed.chars
    if len(digits) == 1:
        second = after.get(1)
        if second is None or second.type != _VALUE or len(second.chars) != 1:
            return None
        last = second
        digits += second.chars
    if len(digits) != 2:
        return None
    kinds = ("rib",) if _field(key.field)[0] == "rib" else ("nir", "rib")
    failed: _Failed | None = None
    for kind in kinds:
        need = 21 if kind == "rib" else 13
        chars = ""
        first = None
        for tok in before:
            chars = tok.chars + chars
            if len(chars) >= need:
                first = tok
                break
        if first is None or len(chars) != need:
            continue
        value = _valid(kind, chars + digits)
        if value is not None:
            return Match(kind, first.start, last.end, value)
        failed = failed or _Failed(kind, first.start, last.end)
    return failed


def _rib_start(text: str, branch: _Tok) -> int:
    """Where a RIB's labels begin, the "guichet" label given: the first of the bank
    labels and values just before it (no other word between)."""
    start = branch.start
    for tok in reversed(_Stream(text, _snap_back(text, branch.start - _BACK), start).all()):
        if tok.type == _WORD or (tok.type == _LABEL and _field(tok.field)[0] not in ("rib", "")):
            break
        if tok.type == _LABEL and _field(tok.field)[0] == "rib":
            start = tok.start
    return start


def _snap_back(text: str, at: int) -> int:
    """``at`` moved back to the start of the word or number it falls in."""
    at = max(0, at)
    floor = max(0, at - 64)
    while at > floor and not text[at - 1].isspace():
        at -= 1
    return at


# ----------------------------------------------------------------------------- tables
# Which kinds a table's header makes worth rebuilding row by row: a RIB in four columns,
# a NIR with its key in a column of its own, a Belgian number (born from 2000, it starts
# with 0). The other kinds never lose a leading zero, and their columns are read by the
# detectors already.
_Plan = list[tuple[str, list[tuple[str, int]]]]


# A cell holding a number (a row of values, not of headers).
_NUMBER_CELL = re.compile(r"\s*[0-9][0-9\s.,/:+\-]*")


def _header(text: str, label: _Tok) -> tuple[int, _Plan] | None:
    """When ``label`` stands in a table's header row (cells apart by tabs, none of them a
    number), the end of that row and which columns make which values."""
    lo = text.rfind("\n", 0, label.start) + 1
    hi = text.find("\n", label.end)
    hi = len(text) if hi < 0 else hi
    line = text[lo:hi]
    if "\t" not in line or any(_NUMBER_CELL.fullmatch(c) for c in line.split("\t")):
        return None
    columns: dict[tuple[str, str], int] = {}
    for n, cell in enumerate(line.split("\t")):
        m = _header_cell().fullmatch(cell) if cell.strip() else None
        if m is not None:
            columns.setdefault(_field(_HEADER_FIELDS[(m.lastindex or 1) - 1]), n)
    plan: _Plan = []
    key = columns.get(("rib", "key"), columns.get(("", "key")))
    bank, branch = columns.get(("rib", "bank")), columns.get(("rib", "branch"))
    account = columns.get(("rib", "account"))
    if bank is not None and branch is not None and account is not None and key is not None:
        plan.append(("rib", [("bank", bank), ("branch", branch), ("account", account)]))
        plan[-1][1].append(("key", key))
    body, nir_key = columns.get(("nir", "body")), columns.get(("", "key"))
    if body is not None and nir_key is not None:
        plan.append(("nir", [("body", body), ("key", nir_key)]))
    niss = columns.get(("be_niss", "all"))
    if niss is not None:
        plan.append(("be_niss", [("all", niss)]))
    return (hi, plan) if plan else None


def _row_value(kind: str, parts: list[tuple[str, int]], cells: list[str]) -> str | bool:
    """The valid value a row's cells make; else True when they make a whole number
    whose check fails, False when they make none."""
    got: list[str] = []
    for part, column in parts:
        if column >= len(cells):
            return False
        cell = cells[column].strip()
        width, least = _WIDTH[kind, part]
        if 0 < least <= len(cell) < width and cell.isdigit():
            # A spreadsheet column that lost its leading zeros (guichet 60 -> 00060).
            cell = cell.zfill(width)
        if len(cell) != width:
            return False
        got.append(cell)
    return _valid(kind, "".join(got)) or True


# Each part's width, and the fewest digits a cell that lost leading zeros keeps.
_WIDTH = {(k, name): (w, least) for k, parts in _PARTS.items() for name, w, least in parts}


def _rows(text: str, end: int, plan: _Plan, deadline: Deadline | None) -> Iterator[Match | _Failed]:
    """The values the rows under a header hold, one row per line, until a line that is
    not a row (no tab); a row whose cells make a whole number that fails its check comes
    as :class:`_Failed` (its account is no Belgian number)."""
    at = end + 1
    n = len(text)
    rows = 0
    while at < n:
        stop = text.find("\n", at)
        stop = n if stop < 0 else stop
        line = text[at:stop]
        if line.startswith(_COPY):
            at = stop + 1
            continue
        if "\t" not in line:
            return
        rows += 1
        if deadline is not None and rows % 256 == 0:
            deadline.check()
        cells = line.split("\t")
        for kind, parts in plan:
            value = _row_value(kind, parts, cells)
            if value is False:
                continue
            starts = [at + sum(len(c) + 1 for c in cells[:col]) for _, col in parts]
            ends = [s + len(cells[col]) for s, (_, col) in zip(starts, parts, strict=True)]
            if value is True:
                yield _Failed(kind, min(starts), max(ends))
            else:
                yield Match(kind, min(starts), max(ends), str(value))
        at = stop + 1


# ----------------------------------------------------------------------------- the pass


# After a label, what may stand before its value: a colon, an equals sign, a dash.
_LEAD = re.compile(r"[\s:=\-\u2013]{0,8}")
# The whole length of each kind written in a row, as its own pattern reads it.
_PLAIN = {
    "nir": (nir.PATTERN, 15),
    "be_niss": (be_niss.PATTERN, 11),
    "qc_nam": (qc_nam.PATTERN, 12),
    "ca_sin": (ca_sin.PATTERN, 9),
}


def _written_plainly(text: str, kind: str, at: int) -> bool:
    """True when the value after a label at ``at`` is written in a row, whole, as the
    kind's own pattern reads it: the detector reads it there, with the same characters
    and the same verdict, so the form field adds nothing."""
    entry = _PLAIN.get(kind)
    if entry is None:
        return False
    lead = _LEAD.match(text, at)
    m = entry[0].match(text, lead.end() if lead is not None else at)
    return m is not None and len(strip_separators(m.group()) or "") == entry[1]


@functools.cache
def _may_begin() -> re.Pattern[str]:
    """The words whose first character may begin the first word of a label, folded
    (any character beyond the Latin letters may: those are rare and left to the table).
    """
    initials = {first[0] for first in _LABELS}
    chars = "".join(chr(c) for c in range(0x250) if _folded(chr(c))[:1] in initials)
    return re.compile(rf"(?<![^\W_])(?=[{re.escape(chars)}\u0250-\U0010ffff])[^\W_]+")


def _label_at(text: str, place: int) -> _Tok | None:
    """The field label that holds the stem found at ``place`` (it may begin a few words
    before: "numéro d'assurance maladie")."""
    n = len(text)
    lo, hi = max(0, place - 48), min(n, place + 16)
    # The words from ``lo`` on (the first may be the end of one): of those after the
    # first, only the ones that may begin a label are looked up.
    head = _WORD_RE.search(text, lo, hi)
    if head is None:
        return None
    firsts = _FIRSTS
    for m in itertools.chain((head,), _may_begin().finditer(text, head.end(), hi)):
        start = m.start()
        if start > place:
            break
        word = m.group()
        first = firsts.get(word)
        if first is None:
            first = _label_first(word)
        if not first:
            continue
        label = _label_from(text, first, start, min(n, start + 80))
        if label is not None and label.end > place:
            return label
    return None


def find(
    text: str,
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
) -> list[Match]:
    """Every identifier written as a labelled form field or in a labelled table column.

    ``copies`` are :func:`leakguard.detectors.one_byte_copies` of ``text`` when the caller
    has them. Raises :class:`leakguard.core.DeadlineExceeded` once ``deadline`` passes.
    """
    return _scan(text, copies, deadline)[0]


def with_fields(
    text: str,
    found: list[Match],
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
) -> list[Match]:
    """``found`` (what the detectors found in ``text``) with the identifiers of labelled
    form fields added (:func:`find`), less what lies inside a field whose number fails
    its check (a mistyped number is no place where another one hides)."""
    found_fields, failed = fields(text, copies=copies, deadline=deadline)
    if failed:
        found = [m for m in found if not any(inside(m, f) for f in failed)]
    return found + found_fields


def fields(
    text: str,
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
    places: list[int] | None = None,
) -> tuple[list[Match], list[_Failed]]:
    """The identifiers of the labelled form fields of ``text`` (:func:`find`), and the
    fields whose number fails its check. ``places``, when given, are
    :func:`label_places` of the folded copy (``copies[1]``)."""
    return _scan(text, copies, deadline, places)


def _copies_after(text: str, failed: _Failed) -> Iterator[_Failed]:
    """The copies a reader added after the lines of a failed field: they hold the same
    mistyped number."""
    at = text.find("\n", failed.end)
    while at >= 0 and text.startswith(_COPY, at + 1):
        end = text.find("\n", at + 1)
        end = len(text) if end < 0 else end
        yield _Failed(failed.kind, at + 1, end)
        at = end if end < len(text) else -1


def inside(m: Match, failed: _Failed) -> bool:
    """Whether ``m`` lies inside a field whose number failed its check (and is not that
    field's own kind read whole)."""
    if failed.kind == m.kind and m.confidence >= 1.0:
        return False
    return failed.start <= m.start and m.end <= failed.end


def _scan(
    text: str,
    copies: tuple[bytes, bytes] | None,
    deadline: Deadline | None,
    places: list[int] | None = None,
) -> tuple[list[Match], list[_Failed]]:
    if not isinstance(text, str) or not text:
        return [], []
    if copies is None:
        from leakguard.detectors import one_byte_copies

        copies = one_byte_copies(text)
    found: list[Match] = []
    failed: list[_Failed] = []
    seen: set[int] = set()
    tables: set[int] = set()
    used = 0
    n = len(text)
    for place in label_places(copies[1]) if places is None else places:
        if deadline is not None:
            deadline.check()
        label = _label_at(text, place)
        if label is None or label.start in seen:
            continue
        seen.add(label.start)
        if _in_copy(text, label.start):
            continue
        header = _header(text, label)
        if header is not None and header[0] not in tables:
            tables.add(header[0])
            for row in _rows(text, *header, deadline):
                if isinstance(row, _Failed):
                    failed.append(row)
                else:
                    found.append(row)
        if label.start < used:
            continue
        kind, part = _field(label.field)
        match: Match | _Failed | None = None
        if part == "key":
            match = _read_before_key(text, label)
        elif kind in _PARTS and not _written_plainly(text, kind, label.end):
            start = _rib_start(text, label) if kind == "rib" else label.start
            first = label if start == label.start else None
            stream = _Stream(text, start, min(n, label.end + _WINDOW), first)
            if stream.get(0) is not None:
                match = _read_field(kind, stream, 0)
        if isinstance(match, _Failed):
            failed.append(match)
            failed.extend(_copies_after(text, match))
        elif match is not None:
            found.append(match)
            used = match.end
    return found, failed
