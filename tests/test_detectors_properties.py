"""Property tests: numbers built from the rules (structure + computed key), laid out as
people write them and dropped into French prose, are found once with the right kind;
the same numbers with a wrong key are not; the fast path equals the naive one.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from child_helpers import watched_children
from leakguard import _child
from leakguard.core import Deadline, DeadlineExceeded
from leakguard.detectors import (
    Found,
    _bulk,
    find_identifiers,
    naive_find_identifiers,
    one_byte_copies,
)
from leakguard.detectors import be_niss as be_niss_module
from leakguard.detectors import ca_sin as ca_sin_module
from leakguard.detectors import nir as nir_module
from leakguard.detectors import rib as rib_module
from leakguard.detectors._base import LABEL_RADIUS
from leakguard.detectors._lexicon import OTHER_NUMBER_LABELS, other_number_labels

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DIGIT = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
WORDS = (
    "le la les du de des un une et à pour patient dossier madame monsieur numéro "
    "référence rendez-vous facture remboursement envoyé reçu cordialement bonjour "
    "été très hôpital médecin semaine mois année ci-joint pièce voici merci suite "
    "date montant euros rue avenue ville téléphone courriel"
).split()


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(DIGIT, min_size=n, max_size=n)


def _iban_check(country: str, bban: str) -> str:
    table = {ord(c): str(i) for i, c in enumerate(UPPER, start=10)}
    return f"{98 - int((bban + country + '00').translate(table)) % 97:02d}"


def _group(value: str, sizes: tuple[int, ...], sep: str) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(value[pos : pos + size])
        pos += size
    if pos < len(value):
        out.append(value[pos:])
    return sep.join(p for p in out if p)


SEPS = st.sampled_from([" ", "\u00a0", "\u202f", ".", "-", "\t"])


# --------------------------------------------------------------------------- generators


@dataclass(frozen=True)
class Sample:
    """A generated number; its repr (printed by hypothesis on failure) hides the digits."""

    kind: str
    compact: str
    written: str
    wrong: str

    def __repr__(self) -> str:
        return f"Sample(kind={self.kind!r}, layout={len(self.written)} chars)"


def _sample(t: tuple[str, str, str, str]) -> Sample:
    return Sample(*t)


# Each yields (kind, compact, written form, written form with a wrong key or date).


@st.composite
def nirs(draw: st.DrawFn) -> tuple[str, str, str, str]:
    sex = draw(st.sampled_from("123478"))
    year = draw(_digits(2))
    month = f"{draw(st.one_of(st.integers(1, 12), st.integers(20, 99))):02d}"
    place = draw(
        st.one_of(
            st.builds(
                lambda d, c: d + c, st.sampled_from(["75", "13", "01", "69", "99"]), _digits(3)
            ),
            st.builds(lambda d, c: d + c, st.sampled_from(["2A", "2B"]), _digits(3)),
            st.builds(lambda d, c: d + c, st.sampled_from(["971", "974", "987"]), _digits(2)),
        )
    )
    order = draw(_digits(3))
    body = sex + year + month + place + order
    numeric = body.replace("2A", "19", 1) if body[5:7] == "2A" else body
    numeric = numeric.replace("2B", "18", 1) if body[5:7] == "2B" else numeric
    key = 97 - int(numeric) % 97
    wrong = key % 97 + 1
    sep = draw(SEPS)
    style = draw(st.sampled_from(["compact", "groups", "key", "slash"]))

    def write(k: int) -> str:
        full = f"{body}{k:02d}"
        if style == "compact":
            return full
        if style == "key":
            return f"{body} {k:02d}"
        if style == "slash":
            return _group(body, (1, 2, 2, 2, 3, 3), " ") + f" / {k:02d}"
        return _group(full, (1, 2, 2, 2, 3, 3, 2), sep)

    return "nir", f"{body}{key:02d}", write(key), write(wrong)


@st.composite
def ribs(draw: st.DrawFn) -> tuple[str, str, str, str]:
    bank, branch = draw(_digits(5)), draw(_digits(5))
    account = draw(
        st.text(DIGIT * 6 + UPPER, min_size=11, max_size=11).filter(
            lambda a: sum(c.isdigit() for c in a) >= 6
        )
    )
    key = rib_module.calc_key(bank, branch, account)
    wrong = f"{(int(key) % 97) + 1:02d}"
    sep = draw(st.sampled_from([" ", "\u00a0", "-", "\t", ""]))
    compact = bank + branch + account + key
    return (
        "rib",
        compact,
        sep.join((bank, branch, account, key)),
        sep.join((bank, branch, account, wrong)),
    )


@st.composite
def ibans(draw: st.DrawFn) -> tuple[str, str, str, str]:
    if draw(st.booleans()):
        _, rib_compact, _, _ = draw(ribs())
        country, bban = draw(st.sampled_from(["FR", "MC"])), rib_compact
    else:
        country, bban = "BE", draw(_digits(10))
        bban += f"{int(bban) % 97 or 97:02d}"
    check = _iban_check(country, bban)
    compact = country + check + bban
    bad_check = f"{(int(check) + 1 - 2) % 97 + 2:02d}"
    wrong = country + bad_check + bban
    style = draw(
        st.sampled_from(["fours", "compact", "cc-space", "dots", "dashes", "lower", "prefix"])
    )

    def write(v: str) -> str:
        if style == "compact":
            return v
        if style == "cc-space":
            return v[:2] + " " + v[2:4] + " " + _group(v[4:], (4,) * 8, " ")
        if style == "dots":
            return _group(v, (4,) * 9, ".")
        if style == "dashes":
            return _group(v, (4,) * 9, "-")
        if style == "lower":
            return _group(v.lower(), (4,) * 9, " ")
        if style == "prefix":
            return "IBAN: " + _group(v, (4,) * 9, " ")
        return _group(v, (4,) * 9, " ")

    return "iban", compact, write(compact), write(wrong)


@st.composite
def nisses(draw: st.DrawFn) -> tuple[str, str, str, str]:
    y2k = draw(st.booleans())
    # Born from 2000 means a year already past (python-stdnum, like the registry, does
    # not give the 2000s reading to a year still to come).
    year = f"{draw(st.integers(0, 24)):02d}" if y2k else draw(_digits(2))
    month = draw(st.integers(0, 12)) + draw(st.sampled_from([0, 20, 40]))
    day = draw(st.integers(0, 28))
    counter = f"{draw(st.integers(1, 997)):03d}"
    first9 = f"{year}{month:02d}{day:02d}{counter}"
    base = int(("2" if y2k else "") + first9)
    key = 97 - base % 97
    # A wrong key that is not the other century's right key either.
    other = 97 - int(("" if y2k else "2") + first9) % 97
    wrong = next(k for k in range(1, 98) if k not in (key, other))
    style = draw(st.sampled_from(["dotted", "spaced", "compact"]))

    def write(k: int) -> str:
        v = f"{first9}{k:02d}"
        if style == "dotted":
            return f"{v[:2]}.{v[2:4]}.{v[4:6]}-{v[6:9]}.{v[9:]}"
        if style == "spaced":
            return _group(v, (2, 2, 2, 3, 2), " ")
        return v

    return "be_niss", f"{first9}{key:02d}", write(key), write(wrong)


def _no_other_label(letters: str) -> bool:
    return other_number_labels().search(letters) is None


@st.composite
def nams(draw: st.DrawFn) -> tuple[str, str, str, str]:
    # Not a label of another number ("RPPS 0001 0100": the NISS after it is a doctor's).
    letters = draw(st.text(UPPER, min_size=4, max_size=4).filter(_no_other_label))
    year = draw(_digits(2))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, calendar.monthrange(2001, month)[1]))
    female = draw(st.booleans())
    admin = draw(_digits(2))
    mm = month + (50 if female else 0)
    compact = f"{letters}{year}{mm:02d}{day:02d}{admin}"
    wrong = f"{letters}{year}{mm:02d}{draw(st.integers(32, 99))}{admin}"
    sep = draw(st.sampled_from([" ", "\u00a0", ""]))
    return "qc_nam", compact, _group(compact, (4, 4, 4), sep), _group(wrong, (4, 4, 4), sep)


def _luhn_digit(body: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


@st.composite
def sins(draw: st.DrawFn) -> tuple[str, str, str, str]:
    body = draw(st.sampled_from("1234567")) + draw(_digits(7))
    check = _luhn_digit(body)
    compact, wrong = f"{body}{check}", f"{body}{(check + 1) % 10}"
    sep = draw(st.sampled_from([" ", "-", ""]))
    return (
        "ca_sin",
        compact,
        "NAS : " + _group(compact, (3, 3, 3), sep),
        "NAS : " + _group(wrong, (3, 3, 3), sep),
    )


NUMBERS = st.one_of(nirs(), ribs(), ibans(), nisses(), nams(), sins()).map(_sample)
PROSE = st.lists(st.sampled_from(WORDS), min_size=0, max_size=12).map(" ".join)


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(NUMBERS, PROSE, PROSE)
def test_valid_number_in_prose_found_once(number: Sample, before: str, after: str) -> None:
    kind, compact, written = number.kind, number.compact, number.written
    text = f"{before} {written} {after}."
    found = find_identifiers(text)
    got = [(m.kind, m.compact == compact) for m in found]
    assert got == [(kind, True)], f"{kind}: got kinds {[k for k, _ in got]}"
    assert found == naive_find_identifiers(text)
    span = text[found[0].start : found[0].end]
    assert span.strip() == span, "a finding starts or ends with a separator"


@SETTINGS
@given(NUMBERS, PROSE, PROSE)
def test_wrong_key_not_found(number: Sample, before: str, after: str) -> None:
    kind, wrong = number.kind, number.wrong
    text = f"{before} {wrong} {after}."
    start = len(before) + 1
    found = find_identifiers(text)
    # A part of the number may by chance be another valid identifier, but nothing of
    # the same kind and nothing covering the whole number.
    assert not any(m.kind == kind for m in found), kind
    assert not any(m.start <= start and m.end >= start + len(wrong) for m in found)
    assert found == naive_find_identifiers(text)


PIECES = st.one_of(
    NUMBERS.map(lambda n: n.written),
    NUMBERS.map(lambda n: n.wrong),
    st.sampled_from(WORDS),
    st.text(DIGIT + " ./-", min_size=1, max_size=20),
    st.sampled_from(["\n", "\t", " ", "  ", "/", ":", "NAS", "NIR", "RAMQ", "IBAN", "FR", "2A"]),
    st.text(max_size=8),
)


class Opaque(str):
    """A generated text; its repr (printed by hypothesis on failure) hides the digits."""

    def __repr__(self) -> str:
        return f"Opaque({len(self)} chars)"


MIXES = st.builds(
    lambda pieces, joiner: Opaque(joiner.join(pieces)),
    st.lists(PIECES, max_size=25),
    st.sampled_from(["", " ", "\n", "\t"]),
)


@SETTINGS
@given(MIXES)
def test_fast_path_equals_naive(text: Opaque) -> None:
    same = find_identifiers(text) == naive_find_identifiers(text)
    assert same, f"fast and naive paths disagree on a {len(text)}-character text"


@SETTINGS
@given(st.text(max_size=400))
def test_junk_never_raises(text: str) -> None:
    found = find_identifiers(text)
    assert found == naive_find_identifiers(text)
    assert all(0 <= m.start < m.end <= len(text) for m in found)


@SETTINGS
@given(st.lists(NUMBERS, min_size=2, max_size=6), PROSE)
def test_many_numbers_each_found(numbers: list[Sample], filler: str) -> None:
    text = f" {filler} ; ".join(n.written for n in numbers)
    found = find_identifiers(text)
    same = sorted((m.kind, m.compact) for m in found) == sorted(
        (n.kind, n.compact) for n in numbers
    )
    assert same, f"kinds expected {[n.kind for n in numbers]}, got {[m.kind for m in found]}"


# The hot path of the candidate search uses quick checks (``_ok``) for values already
# compact; they must say exactly what ``is_valid`` (python-stdnum's checks) says.
QUICK_CHECKED = {"nir": nir_module, "be_niss": be_niss_module, "ca_sin": ca_sin_module}


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, str]:
    """A compact value that is valid, off by its key, or broken in one place."""
    kind = draw(st.sampled_from(sorted(QUICK_CHECKED)))
    value = draw({"nir": nirs(), "be_niss": nisses(), "ca_sin": sins()}[kind])[
        draw(st.sampled_from([1, 1, 3]))
    ]
    compact = "".join(c for c in value.upper() if c.isalnum()).removeprefix("NAS")
    if draw(st.booleans()) and compact:
        at = draw(st.integers(0, len(compact) - 1))
        compact = compact[:at] + draw(st.sampled_from([*DIGIT, "A", "B"])) + compact[at + 1 :]
    if draw(st.integers(0, 9)) == 0:
        compact = draw(st.text(DIGIT + "AB", max_size=16))
    return kind, compact


class Hidden(tuple[str, str]):
    """A (kind, value) pair whose repr (printed by hypothesis) hides the value."""

    def __repr__(self) -> str:
        return f"Hidden(kind={self[0]!r}, {len(self[1])} chars)"


@SETTINGS
@given(near_valid().map(Hidden))
def test_quick_checks_agree_with_is_valid(pair: Hidden) -> None:
    kind, compact = pair
    module = QUICK_CHECKED[kind]
    same = module._ok(compact) == module.is_valid(compact)
    assert same, f"{kind}: quick check and is_valid disagree on {len(compact)} characters"


def test_quick_checks_on_the_rules_vectors() -> None:
    for module, good in (
        (nir_module, "185057511234529"),
        (nir_module, "253072B07300470"),
        (be_niss_module, "85073003328"),
        (ca_sin_module, "130692544"),
    ):
        assert module._ok(good), module.KIND
        broken = good[:-1] + str((int(good[-1]) + 1) % 10)
        assert not module._ok(broken), module.KIND
    # Corner cases of the national number: zero-padded, an impossible month, a key that
    # is right only for a birth in 2099 (a year still to come: not valid).
    first9 = "990101001"
    future = first9 + f"{97 - int('2' + first9) % 97:02d}"
    for value in ("00000000097", "00000000000", "85133003328", future):
        same = be_niss_module._ok(value) == be_niss_module.is_valid(value)
        assert same, "be_niss: quick check and is_valid disagree on a corner case"
    assert not be_niss_module._ok(future)


@SETTINGS
@given(MIXES, st.sampled_from([1, 2, 7, 40]))
def test_fast_path_equals_naive_in_small_pieces(text: Opaque, piece: int) -> None:
    # The bulk search reads the text a piece at a time; tiny pieces put a piece
    # boundary inside every number.
    assert _same_in_pieces(text, piece), (
        f"fast and naive paths disagree on a {len(text)}-character text"
    )


def _same_in_pieces(text: str, piece: int) -> bool:
    """Whether the fast path, reading ``piece`` characters at a time, equals the naive one."""
    saved = _bulk.PIECE
    _bulk.PIECE = piece
    try:
        return find_identifiers(text) == naive_find_identifiers(text)
    finally:
        _bulk.PIECE = saved


# ------------------------------------------------------- layouts users met (issue gaps)

CELL_SEPS = st.sampled_from([";", "; ", " ; ", "\t", ";\t"])


@st.composite
def rib_cells(draw: st.DrawFn) -> Sample:
    """A RIB as four cells of a spreadsheet row saved as text (``a;b;c;d``)."""
    _, compact, _, _ = draw(ribs())
    sep = draw(CELL_SEPS)
    bank, branch, account, key = compact[:5], compact[5:10], compact[10:21], compact[21:]
    wrong = f"{(int(key) % 97) + 1:02d}"
    return Sample(
        "rib",
        compact,
        sep.join((bank, branch, account, key)),
        sep.join((bank, branch, account, wrong)),
    )


@SETTINGS
@given(rib_cells(), st.lists(st.sampled_from(WORDS), min_size=1, max_size=6), st.booleans())
def test_rib_cells_on_one_line_anywhere_in_text(
    number: Sample, header: list[str], csv_like: bool
) -> None:
    # The first lines are prose, not CSV: no extractor turned the cells into columns.
    lines = [" ".join(header), "Coordonnées bancaires du patient :"]
    row = f"Dupont;Jean;{number.written};Le Havre" if csv_like else number.written
    text = "\n".join([*lines, row, "Merci."])
    found = find_identifiers(text)
    assert [(m.kind, m.compact == number.compact) for m in found] == [("rib", True)]
    assert found == naive_find_identifiers(text)
    wrong = "\n".join([*lines, row.replace(number.written, number.wrong), "Merci."])
    assert find_identifiers(wrong) == [] == naive_find_identifiers(wrong)


@st.composite
def corsican_nirs(draw: st.DrawFn) -> Sample:
    """A Corsican NIR (``2a``/``2b``, written in lower case), with or without its key."""
    sex = draw(st.sampled_from("12"))
    year, order, commune = draw(_digits(2)), draw(_digits(3)), draw(_digits(3))
    month = f"{draw(st.integers(1, 12)):02d}"
    dept = draw(st.sampled_from(["2a", "2b"]))
    body = sex + year + month + dept + commune + order
    key = 97 - int(body.replace("2a", "19").replace("2b", "18")) % 97
    upper = body.upper()
    sep = draw(st.sampled_from(["", " ", ".", "-"]))
    grouped = _group(body, (1, 2, 2, 2, 3, 3), sep) if sep else body
    if draw(st.booleans()):
        keysep = draw(st.sampled_from(["", " ", " / "])) if sep else ""
        return Sample("nir", f"{upper}{key:02d}", f"{grouped}{keysep}{key:02d}", "")
    return Sample("nir", upper, grouped, "")


@SETTINGS
@given(corsican_nirs(), PROSE)
def test_lower_case_corsican_nir_found(number: Sample, after: str) -> None:
    text = f"NIR de l'assuré : {number.written} {after}."
    found = find_identifiers(text)
    assert [(m.kind, m.compact == number.compact) for m in found] == [("nir", True)]
    assert found == naive_find_identifiers(text)


@st.composite
def wrong_ribs_hiding_a_niss(draw: st.DrawFn) -> Sample:
    """A RIB with a wrong key whose 11-digit account group is a valid Belgian number."""
    _, niss, _, _ = draw(nisses())
    bank, branch = draw(_digits(5)), draw(_digits(5))
    key = int(rib_module.calc_key(bank, branch, niss))
    wrong = f"{key % 97 + 1:02d}"
    sep = draw(st.sampled_from([" ", "\u00a0", ".", "-", " - ", ""]))
    right = sep.join((bank, branch, niss, f"{key:02d}"))
    return Sample(
        "rib", bank + branch + niss + f"{key:02d}", right, sep.join((bank, branch, niss, wrong))
    )


def _nl_or_gb(draw: st.DrawFn, letters: str, eight: str) -> tuple[str, str]:
    """(country, BBAN) whose bank code is ``letters`` followed by the digits ``eight``."""
    if draw(st.booleans()):
        return "NL", letters + eight + draw(_digits(2))  # 4!a10!n
    return "GB", letters + eight + draw(_digits(6))  # 4!a6!n8!n


@st.composite
def wrong_ibans_hiding_a_nam(draw: st.DrawFn) -> Sample:
    """A Dutch or British IBAN in groups of four, check digits wrong, whose bank code and
    next eight digits (``AAAA 9999 9999``) form a valid Québec health number."""
    _, nam, _, _ = draw(nams())
    country, bban = _nl_or_gb(draw, nam[:4], nam[4:])
    check = _iban_check(country, bban)
    bad = f"{(int(check) + 1 - 2) % 97 + 2:02d}"
    sep = draw(st.sampled_from([" ", "\u00a0", "-", "."]))
    return Sample(
        "iban",
        country + check + bban,
        _group(country + check + bban, (4,) * 9, sep),
        _group(country + bad + bban, (4,) * 9, sep),
    )


ACCOUNTS_HIDING_NUMBERS = st.one_of(wrong_ribs_hiding_a_niss(), wrong_ibans_hiding_a_nam())


@SETTINGS
@given(ACCOUNTS_HIDING_NUMBERS, PROSE, PROSE, st.sampled_from(["", "NISS ", "RAMQ "]))
def test_failed_account_is_one_token(number: Sample, before: str, after: str, word: str) -> None:
    # Even with a context word of the hidden kind just before it.
    head = f"{before} {word}"
    wrong = f"{head}{number.wrong} {after}."
    found = find_identifiers(wrong)
    start, end = len(head), len(head) + len(number.wrong)
    inside = [m.kind for m in found if m.start < end and m.end > start]
    assert inside == [], f"{number.kind} with a failed check: got {inside} inside it"
    assert found == naive_find_identifiers(wrong)
    # The same account with its right check is found once, as itself.
    right = f"{head}{number.written} {after}."
    got = [(m.kind, m.compact == number.compact) for m in find_identifiers(right)]
    assert got == [(number.kind, True)], f"expected one {number.kind}"
    assert find_identifiers(right) == naive_find_identifiers(right)


LAYOUTS = st.one_of(rib_cells(), corsican_nirs(), ACCOUNTS_HIDING_NUMBERS)
NEW_PIECES = st.one_of(
    PIECES,
    LAYOUTS.map(lambda n: n.written),
    ACCOUNTS_HIDING_NUMBERS.map(lambda n: n.wrong),
    rib_cells().map(lambda n: n.wrong),
    st.sampled_from([";", " ; ", "2a", "2b", "a", "b", "NL", "GB"]),
)
NEW_MIXES = st.builds(
    lambda pieces, joiner: Opaque(joiner.join(pieces)),
    st.lists(NEW_PIECES, max_size=25),
    st.sampled_from(["", " ", "\n", "\t", ";"]),
)


@SETTINGS
@given(NEW_MIXES, st.sampled_from([1, 3, 40, 1 << 16]))
def test_fast_path_equals_naive_on_cells_corsica_and_failed_accounts(
    text: Opaque, piece: int
) -> None:
    assert _same_in_pieces(text, piece), (
        f"fast and naive paths disagree on a {len(text)}-character text"
    )


# ------------------------------------------------------- the bulk search's own parts

SEPARATOR_CHARS = " \u00a0\u202f\t.-/;\r\n,_"


@settings(max_examples=2000, deadline=None)
@given(st.text(SEPARATOR_CHARS, min_size=1, max_size=12))
def test_separator_grammars_equal_the_patterns(sep: str) -> None:
    # numpy decides in bulk which separator grammar (SEP, KEYSEP, table cell, IBAN
    # country separator, RIB token) a separator between two groups fully matches.
    text = "1" + sep + "2"
    piece = _bulk._Piece(_bulk.one_byte(text), 0, len(text))
    assert piece.count == 2
    got = int(piece.sep_bits(np.array([0], dtype=np.int64))[0])
    assert got == _bulk.separator_kinds(sep), f"separator {sep.encode('unicode_escape')!r}"


ODD_CHARS = st.sampled_from(["\u202f", "\x1f", "ε", "œ", "’", "€", "²", "µ", "٣", "😀", "\ud800"])


@SETTINGS
@given(st.lists(st.one_of(PIECES, ODD_CHARS), max_size=25).map(lambda p: Opaque("".join(p))))
def test_fast_path_equals_naive_beyond_latin1(text: Opaque) -> None:
    # Letters and digits of other alphabets glue to a number as any letter does; the
    # narrow no-break space separates its groups; other characters end it.
    assert find_identifiers(text) == naive_find_identifiers(text), (
        f"fast and naive paths disagree on a {len(text)}-character text"
    )


def test_one_byte_copy() -> None:
    text = "a\u202fb\x1fcœd’e😀f\u00e9"
    assert _bulk.one_byte(text) == b"a\x1fb?c\xb5d?e?f\xe9"
    # All in Latin-1 (copied as it is, but for the byte that stands for the narrow
    # no-break space).
    assert _bulk.one_byte("a\x1fb?\u00e9\u00a0 1") == b"a?b?\xe9\xa0 1"


FILLER = st.builds(
    lambda words, size: (" ".join(words) + " ") * size,
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=8),
    st.integers(5, 60),
)


@SETTINGS
@given(
    st.lists(st.tuples(PIECES, FILLER), min_size=1, max_size=8).map(
        lambda parts: Opaque("".join(a + b for a, b in parts))
    ),
    st.sampled_from([64, 1000, 1 << 18]),
)
def test_fast_path_equals_naive_numbers_far_apart(text: Opaque, piece: int) -> None:
    # Where digits are few, only the stretches around them are read, joined together.
    assert _same_in_pieces(text, piece), (
        f"fast and naive paths disagree on a {len(text)}-character text"
    )


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["patient ", "le dossier ", "\n", "  "]),
            st.text(DIGIT, min_size=1, max_size=20),
        ),
        max_size=300,
    ).map("".join),
    st.sampled_from([1, 7, 64, 512]),
)
def test_pieces_cover_the_text_with_their_digits_and_grow_only_where_sparse(
    text: str, piece: int
) -> None:
    # A piece grows past PIECE only while the stretches read around its digit runs stay
    # within PIECE; whatever its length, it brings the places of its own digits.
    whole = np.frombuffer(_bulk.one_byte(text), dtype=np.uint8)
    saved = _bulk.PIECE
    _bulk.PIECE = piece
    try:
        lo = 0
        while lo < len(text):
            hi, digits = _bulk._piece_end(whole, lo, len(text))
            assert lo < hi <= min(len(text), lo + _bulk.GROW * piece)
            if digits is None:  # dense digits: a quarter piece, read whole
                assert hi - lo <= max(1, piece // 4)
                lo = hi
                continue
            assert digits.tolist() == [i for i in range(lo, hi) if text[i] in DIGIT]
            if hi - lo > piece:
                runs = sum(
                    1
                    for i in range(lo, hi)
                    if text[i] in DIGIT and (i == lo or text[i - 1] not in DIGIT)
                )
                assert runs * (_bulk._BEFORE + _bulk._AFTER) <= piece
            lo = hi
    finally:
        _bulk.PIECE = saved


# --------------------------------------------------------------------------- masks


class Hidden(str):
    """A generated value whose repr (printed by hypothesis on failure) hides it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} characters>"


def _mask_by_rule(compact: str, groups: tuple[int, ...], keep_last: int, keep_first: int) -> str:
    """The masking rule spelled out: stars but for the first and last characters kept,
    laid out in groups (what ``mask_keep`` does with a template per length)."""
    n = len(compact)
    keep = keep_first + keep_last >= n
    shown = "".join(
        c if keep or i < keep_first or i >= n - keep_last else "*" for i, c in enumerate(compact)
    )
    parts, pos = [], 0
    for size in groups:
        if pos < n:
            parts.append(shown[pos : pos + size])
        pos += size
    if pos < n:
        parts.append(shown[pos:])
    return " ".join(parts)


@SETTINGS
@given(
    compact=st.text(DIGIT + UPPER + "%", max_size=40).map(Hidden),
    groups=st.lists(st.integers(1, 6), max_size=8).map(tuple),
    keep_last=st.integers(0, 6),
    keep_first=st.integers(0, 6),
)
def test_masks_follow_the_rule(
    compact: str, groups: tuple[int, ...], keep_last: int, keep_first: int
) -> None:
    from leakguard.detectors._base import mask_keep

    want = _mask_by_rule(compact, groups, keep_last, keep_first)
    assert mask_keep(compact, groups, keep_last, keep_first) == want


@SETTINGS
@given(compact=st.text(DIGIT, min_size=9, max_size=27).map(Hidden))
def test_every_kind_masks_as_its_layout_says(compact: str) -> None:
    from leakguard.detectors import get, iban, qc_nam

    layouts = {
        "nir": ((1, 2, 2, 2, 3, 3, 2), 4, 1) if len(compact) != 13 else ((1, 2, 2, 2, 3, 3), 2, 1),
        "rib": ((5, 5, 11, 2), 4, 0),
        "be_niss": ((2, 2, 2, 3, 2), 3, 0),
        "ca_sin": ((3, 3, 3), 3, 0),
    }
    for kind, (groups, last, first) in layouts.items():
        assert get(kind).mask(compact) == _mask_by_rule(compact, groups, last, first), kind
    assert iban.mask("FR" + compact) == _mask_by_rule("FR" + compact, (4,) * 9, 4, 4)
    assert qc_nam.mask("ABCD" + compact) == _mask_by_rule("ABCD" + compact, (4, 4, 4), 2, 0)


# ------------------------------------------------------- labels of other numbers

_LABELS = [p for lang in OTHER_NUMBER_LABELS.values() for p in lang]
LABEL_TEXT = st.lists(
    st.one_of(
        st.sampled_from(_LABELS),
        st.sampled_from(_LABELS).map(str.lower),
        st.sampled_from(_LABELS).map(str.upper),
        st.sampled_from(WORDS),
        st.text("aeirnvdsSETIVNA°º.-_\u00a0\u2010\u212aıİſéÉ", max_size=5),
        st.sampled_from([" ", ": ", "\u00a0", ";", "-", "_", "n°", "No."]),
    ),
    max_size=8,
).map("".join)


@SETTINGS
@given(LABEL_TEXT, nirs(), st.sampled_from(["", " ", ": ", " : ", ";", "\n", "-"]))
def test_label_before_a_number_read_alike_on_both_paths(
    before: str, nir_sample: tuple[str, str, str, str], sep: str
) -> None:
    text = Opaque(f"{before}{sep}{nir_sample[2]} suite")
    same = find_identifiers(text) == naive_find_identifiers(text)
    assert same, f"fast and naive paths disagree on a {len(text)}-character text"


@SETTINGS
@given(LABEL_TEXT, st.sampled_from(["", " ", ": ", ";", "\n", "_", "x"]))
def test_a_label_is_looked_for_wherever_one_may_end(before: str, sep: str) -> None:
    # The bulk search asks the label expression only where a label may end before a
    # number: where it does not ask, the expression finds nothing.
    text = f"{before}{sep}1"
    at = len(text) - 1
    if text[at - 1 : at].isalnum():
        return
    asked = bool(_bulk._label_may_end(_bulk.one_byte(text), np.array([at]))[0])
    found = other_number_labels().search(text, max(0, at - LABEL_RADIUS), at) is not None
    assert asked or not found, "a label went unseen before a number"


# ------------------------------------------------------- a long text read by two processes


@contextmanager
def _split_everything(first: float, segments: int = 24) -> Iterator[list[str]]:
    """Every text shared by two processes (this one and a forked child): this one reads
    up to the first line end past ``first`` of it, the rest is cut in ``segments``;
    gives what became of each child's answer."""
    saved = _bulk.SPLIT, _bulk.FIRST, _bulk.SEGMENTS
    _bulk.SPLIT, _bulk.FIRST, _bulk.SEGMENTS = 0, first, segments
    try:
        with watched_children() as seen:
            yield seen
    finally:
        _bulk.SPLIT, _bulk.FIRST, _bulk.SEGMENTS = saved


def _read_alone(text: str, then: Any = None) -> list[Any]:
    copy, folded = one_byte_copies(text)
    old = os.environ.pop(_child.ENV, None)
    os.environ[_child.ENV] = "1"
    try:
        return [f for part in _bulk.iter_found(text, copy, folded, then=then) for f in part]
    finally:
        del os.environ[_child.ENV]
        if old is not None:
            os.environ[_child.ENV] = old


def _read_split(
    text: str, first: float, then: Any = None, segments: int = 24
) -> tuple[list[Any], list[str]]:
    copy, folded = one_byte_copies(text)
    with _split_everything(first, segments) as seen:
        found = [f for part in _bulk.iter_found(text, copy, folded, then=then) for f in part]
    return found, seen


def _slow_in(who: str, pause: float = 0.002, times: int = 20) -> Any:
    """A ``then`` that gives each piece as it is, after a pause in the first ``times``
    pieces made by ``who`` ("parent" or "child"; "neither"): the other process then
    takes more of the segments."""
    parent = os.getpid()
    made = [0]

    def then(part: list[Found]) -> list[Found]:
        mine = "parent" if os.getpid() == parent else "child"
        if mine == who and made[0] < times:
            made[0] += 1
            time.sleep(pause)
        return part

    return then


SPLIT_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
@SPLIT_SETTINGS
@given(
    st.one_of(MIXES, NEW_MIXES),
    st.floats(0.0, 1.0),
    st.sampled_from([7, 64, 1 << 16]),
    st.sampled_from([1, 2, 5, 24]),
    st.sampled_from(["neither", "parent", "child"]),
)
def test_a_text_read_by_two_processes_gives_what_one_reading_gives(
    text: Opaque, first: float, piece: int, segments: int, slow: str
) -> None:
    # Cut anywhere (a line end when there is one, else inside a number as often as
    # not), the segments taken by either process: each part stands only where the
    # reading it joins is the same.
    saved = _bulk.PIECE
    _bulk.PIECE = piece
    try:
        alone = _read_alone(text)
        split, seen = _read_split(text, first, _slow_in(slow), segments)
    finally:
        _bulk.PIECE = saved
    same = split == alone
    assert same, f"two processes and one disagree on a {len(text)}-character text"
    assert "failed" not in seen


def _rows(count: int, seed: int) -> str:
    """An export: a NIR and an IBAN on each line, then a line without digits."""
    import random

    rnd = random.Random(seed)
    lines = []
    for i in range(count):
        body = f"{rnd.randint(1, 2)}{rnd.randint(0, 99):02d}{rnd.randint(1, 12):02d}"
        body += f"{rnd.randint(1, 95):02d}{rnd.randint(1, 999):03d}{rnd.randint(1, 999):03d}"
        key = 97 - int(body) % 97
        lines.append(f"ligne {i};{body}{key:02d};{_iban(rnd)};fin\nsans chiffre\n")
    return "".join(lines)


def _iban(rnd: Any) -> str:
    account = "".join(rnd.choice(DIGIT) for _ in range(18))
    check = 98 - int(account + "131400") % 97
    return f"DE{check:02d}{account}"


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_the_childs_answer_stands_where_the_cut_falls_between_numbers() -> None:
    text = _rows(400, 5)
    alone = _read_alone(text)
    count = len(alone)
    assert count == 800, "the export's numbers are not all found"
    for share in (0.1, 0.45, 0.5, 0.9):
        split, seen = _read_split(text, share)
        same = split == alone
        assert same, f"cut at {share}: two processes and one disagree"
        assert seen == ["answered"], f"cut at {share}: {seen}"


def _masked(slow: str) -> Any:
    # What a caller makes of each piece: made by whichever process read it.
    then = _slow_in(slow, pause=0.01, times=5)

    def made(part: list[Found]) -> list[tuple[str, int, int, int]]:
        return [(kind, start, end, os.getpid()) for kind, start, end, _v, _s in then(part)]

    return made


def _runs(makers: list[int]) -> list[int]:
    """The makers in the order they follow each other, each run once."""
    return [m for i, m in enumerate(makers) if i == 0 or makers[i - 1] != m]


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_what_the_caller_makes_of_each_piece_is_made_by_the_process_that_read_it() -> None:
    text = _rows(2000, 6)
    places = [f[:3] for f in _read_alone(text)]
    parent = os.getpid()
    # This process slow: the child takes the segments after the first part.
    split, seen = _read_split(text, 0.1, _masked("parent"))
    assert seen == ["answered"]
    assert [f[:3] for f in split] == places
    runs = _runs([f[3] for f in split])
    assert runs[0] == parent and runs[1] != parent, f"{len(runs)} runs"
    assert len(runs) in (2, 3) and runs[-1] in (parent, runs[1])
    # The child slow: this process takes the last segments, from the end, and gives
    # them after the child's part.
    split, seen = _read_split(text, 0.1, _masked("child"))
    assert seen == ["answered"]
    assert [f[:3] for f in split] == places
    runs = _runs([f[3] for f in split])
    assert runs[0] == parent and runs[-1] == parent
    assert len(runs) in (1, 3), f"{len(runs)} runs"


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_each_segment_is_read_by_one_process_once() -> None:
    # Pieces of 64 characters: each made once, by one of the two, whoever is slow.
    text = _rows(1000, 11)
    saved = _bulk.PIECE
    _bulk.PIECE = 64
    try:
        places = [f[:3] for f in _read_alone(text)]
        for slow in ("parent", "child", "neither"):
            split, seen = _read_split(text, 0.2, _masked(slow), segments=7)
            assert seen == ["answered"], slow
            made = [f[:3] for f in split]
            assert made == places, f"{slow} slow: {len(made)} made, {len(places)} expected"
    finally:
        _bulk.PIECE = saved


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_without_a_free_descriptor_this_process_reads_it_all() -> None:
    import resource

    text = _rows(300, 12)
    alone = _read_alone(text)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 512), hard))
    try:
        with contextlib.suppress(OSError):
            while len(held) < 600:
                held.append(os.open(os.devnull, os.O_RDONLY))
        split, seen = _read_split(text, 0.3)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert seen == [], "a child was asked for an answer"
    same = split == alone
    assert same, "one process alone gave another answer"


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
@pytest.mark.parametrize("after", [0, 40], ids=["at-once", "after-sending-segments"])
def test_a_child_that_fails_has_this_process_read_the_rest(after: int) -> None:
    # At its first piece, or after it sent several segments' findings (this process
    # took them in): they are dropped and the rest read here.
    text = _rows(1200, 7)
    parent = os.getpid()
    made = [0]

    def fails_in_the_child(part: list[Found]) -> list[Found]:
        made[0] += 1
        if os.getpid() != parent:
            if made[0] > after:
                raise RuntimeError("the child fails")
        elif made[0] <= 3:
            time.sleep(0.05)  # this process slow at first: the child takes segments
        return part

    saved = _bulk.PIECE
    _bulk.PIECE = 512
    try:
        split, seen = _read_split(text, 0.1, fails_in_the_child)
    finally:
        _bulk.PIECE = saved
    assert seen == ["failed"]
    same = split == _read_alone(text)
    assert same, "the rest read again differs from one reading"


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_a_deadline_passing_in_the_child_ends_the_reading_after_what_was_found() -> None:
    text = _rows(300, 8)
    whole = _read_alone(text)
    parent = os.getpid()

    def slow_in_the_child(part: list[Found]) -> list[Found]:
        if os.getpid() != parent:
            time.sleep(0.3)
        return part

    saved = _bulk.PIECE
    _bulk.PIECE = 256
    found: list[Found] = []
    begin = time.monotonic()
    try:
        copy, folded = one_byte_copies(text)
        with _split_everything(0.5), pytest.raises(DeadlineExceeded):
            deadline = Deadline.after(0.5)
            for part in _bulk.iter_found(
                text, copy, folded, deadline=deadline, then=slow_in_the_child
            ):
                found.extend(part)
    finally:
        _bulk.PIECE = saved
    assert time.monotonic() - begin < 10
    # What was given before the deadline is what one reading gives first.
    first = bool(found) and len(found) < len(whole) and found == whole[: len(found)]
    assert first, f"{len(found)} of {len(whole)} found before the deadline, or others"


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_a_labelled_rib_across_the_cut_is_one_finding() -> None:
    # Its fields on four lines, the cut after the second: the child, reading from the
    # cut, sees the account alone (a valid Belgian number); one reading sees the RIB.
    niss = "850730033" + f"{97 - 850730033 % 97:02d}"
    fields = (
        f"Code banque\t30006\nCode guichet\t00001\nN° de compte\t{niss}\n"
        f"Clé RIB\t{rib_module.calc_key('30006', '00001', niss)}\n"
    )
    text = _rows(200, 9) + fields + _rows(200, 10)
    alone = _read_alone(text)
    kinds = [f[0] for f in alone]
    assert "rib" in kinds and "be_niss" not in kinds
    share = text.index("Code guichet") / len(text)
    split, seen = _read_split(text, share)
    same = split == alone
    assert same, "two processes and one disagree around a labelled RIB"
    # This process's last finding reaches past the cut: it read the rest itself.
    assert seen == []


class _Dealt:
    """Turns dealt in advance: the child takes the first ``child`` segments, this
    process the others (from the last on), whatever their speeds."""

    def __init__(self, parent: int, child: int, count: int) -> None:
        self.parent, self.child, self.count, self.taken = parent, child, count, 0

    def take(self, most: int = 1) -> int:
        mine = os.getpid() == self.parent
        took = min(most, (self.count - self.child if mine else self.child) - self.taken)
        self.taken += max(0, took)
        return max(0, took)

    def left(self) -> int:
        return self.count

    def close(self) -> None:
        pass


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_a_labelled_rib_across_any_cut_is_one_finding_whoever_reads_the_segments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Four segments after the first part; the RIB's lines cut at each of the cuts in
    # turn, the segments dealt in every way: the reading that joins a part read afresh
    # at a cut inside the RIB must see it, and read on itself.
    niss = "850730033" + f"{97 - 850730033 % 97:02d}"
    fields = (
        f"Code banque\t30006\nCode guichet\t00001\nN° de compte\t{niss}\n"
        f"Clé RIB\t{rib_module.calc_key('30006', '00001', niss)}\n"
    )
    before, after = _rows(40, 13), _rows(40, 14)
    text = before + fields + after
    alone = _read_alone(text)
    assert "be_niss" not in [f[0] for f in alone] and "rib" in [f[0] for f in alone]
    inside = text.index("N° de compte")
    step = len(before) // 3
    parent = os.getpid()
    for j in range(5):
        # Cut j falls inside the RIB; the others at line ends around it.
        cuts = sorted({*(text.index("\n", step * (i + 1)) + 1 for i in range(5) if i != j)})
        cuts = sorted({*(c for c in cuts if abs(c - inside) > 200), inside, len(text)})
        segments = len(cuts) - 1
        monkeypatch.setattr(_bulk, "_cuts", lambda copy, n, cuts=cuts: cuts)
        for child in range(segments + 1):
            monkeypatch.setattr(
                _bulk, "Turns", lambda count, child=child: _Dealt(parent, child, count)
            )
            split, seen = _read_split(text, 0.0)
            same = split == alone
            assert same, f"cut {cuts.index(inside)} in the RIB, {child} segments to the child"
            assert "failed" not in seen


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_the_callers_other_work_is_done_while_the_child_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from leakguard.detectors import iter_identifiers

    text = _rows(300, 15)
    parent = os.getpid()
    events: list[str] = []

    def made(part: list[Found]) -> list[Found]:
        if os.getpid() == parent:
            events.append("piece")
        return part

    with _split_everything(0.1) as seen:
        pieces = iter_identifiers(text, then=made, meanwhile=lambda: events.append("other"))
        shared = [f for part in pieces for f in part]
    assert seen == ["answered"]
    # Once, after this process's first part.
    assert events.count("other") == 1 and events[0] == "piece", events[:3]
    monkeypatch.setenv(_child.ENV, "1")
    events.clear()
    pieces = iter_identifiers(text, meanwhile=lambda: events.append("other"))
    alone = [f for part in pieces for f in part]
    # Not called when this process reads it all: its caller does that work after.
    assert events == []
    assert shared == alone


@pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")
def test_an_answer_closed_before_its_first_piece_leaves_no_descriptor_open() -> None:
    # As when form fields have the text read in one piece: the shared reading started,
    # then closed unread.
    text = _rows(300, 16)
    copy, folded = one_byte_copies(text)
    descriptors = Path("/proc/self/fd")
    before = len(list(descriptors.iterdir()))
    with _split_everything(0.1) as seen:
        for _ in range(5):
            _bulk.iter_found(text, copy, folded).close()
    assert seen == []
    assert len(list(descriptors.iterdir())) == before
