"""The identifier detectors and the medical-context detector, run together quickly.

:func:`find_identifiers` gives the same answer as running every detector over the
whole text (:func:`naive_find_identifiers`), but finds every kind's candidates at once
and checks their keys in bulk (``_bulk``); Python objects are made only for the
numbers that pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any, TypeVar, cast, overload

from leakguard.core import Deadline
from leakguard.detectors import _bulk, be_niss, ca_sin, forms, health_data, iban, nir, qc_nam, rib
from leakguard.detectors._base import RUN3, Detector, Match
from leakguard.detectors._bulk import Found
from leakguard.detectors._seen import as_seen

__all__ = [
    "HEALTH",
    "IDENTIFIER_DETECTORS",
    "Detector",
    "Found",
    "Match",
    "as_seen",
    "find_identifiers",
    "get",
    "iter_identifiers",
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


def one_byte_copies(text: str, /) -> tuple[bytes, bytes]:
    """``text`` with one byte per character (Latin-1; beyond it a letter or digit is
    ``µ``, the narrow no-break space 0x1F, the rest ``?``), and the same folded to
    lower-case letters without accents. The fast paths of :func:`find_identifiers` and
    ``HEALTH.categories`` read them: made once, given to both.
    """
    copy = _bulk.one_byte(text)
    return copy, health_data.folded_copy(copy)


T = TypeVar("T")


@overload
def iter_identifiers(
    text: str,
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
    then: None = None,
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[list[Found]]: ...


@overload
def iter_identifiers(
    text: str,
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
    then: Callable[[list[Found]], list[T]],
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[list[T]]: ...


def iter_identifiers(
    text: str,
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
    then: Callable[[list[Found]], list[Any]] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[list[Any]]:
    """:func:`find_identifiers`'s answer a piece of text at a time, as plain tuples
    ``(kind, start, end, compact, confidence)``: what was found before ``deadline``
    passed is given before ``DeadlineExceeded`` is raised.

    With ``then``, each piece's list is given as ``then`` makes it. Most of a long text
    may be read by a child process (see ``_bulk.iter_found``), which then applies
    ``then`` itself: ``then`` must make what ``marshal`` writes (tuples, strings,
    numbers), may use anything this process holds when the search starts, and must make
    each piece's list from that piece alone (pieces may be made out of order).

    ``meanwhile`` is called when a child process shares the reading, once this process
    has read the first part of the text (the caller's other work on it, done while the
    child reads: this process then reads less of the rest); not called otherwise.

    A text with form-field labels (``forms``) is answered in one piece: its fields are
    read over the whole text, and a field whose number fails its check hides the other
    numbers read inside it.
    """
    if not isinstance(text, str) or not text:
        return iter(())
    make: Callable[[list[Found]], list[Any]] = then if then is not None else _bulk._same
    if len(text) < _bulk.SMALL:
        # A short text: the detectors' own patterns answer in less time than the bulk
        # search's fixed cost (the same answer; the property tests compare them).
        small = _with_fields(text, _naive(text), copies, deadline)
        found = [(m.kind, m.start, m.end, m.compact, m.confidence) for m in small]
        return iter([make(found)] if found else [])
    copy, folded = one_byte_copies(text) if copies is None else copies
    # Started first: most of a long text is read by a child meanwhile.
    pieces = _bulk.iter_found(text, copy, folded, deadline=deadline, then=then, meanwhile=meanwhile)
    try:
        places = forms.label_places(folded)
        read = (
            forms.fields(text, copies=(copy, folded), deadline=deadline, places=places)
            if places
            else None
        )
        if read is None or (not read[0] and not read[1]):
            # No labels, or labels but no field the detectors do not read already (a
            # table's header over numbers written whole): their answer as it is, a
            # piece at a time.
            return pieces
    except BaseException:
        pieces.close()
        raise
    pieces.close()
    pieces = _bulk.iter_found(text, copy, folded, deadline=deadline)
    bulk = [Match(*f) for part in pieces for f in part]
    labelled = _with_fields(text, bulk, None, deadline, read)
    found = [(m.kind, m.start, m.end, m.compact, m.confidence) for m in labelled]
    return iter([make(found)] if found else [])


def _with_fields(
    text: str,
    found: list[Match],
    copies: tuple[bytes, bytes] | None,
    deadline: Deadline | None,
    read: tuple[list[Match], list[forms._Failed]] | None = None,
) -> list[Match]:
    """``found`` with the identifiers of labelled form fields added, less what lies
    inside a field whose number fails its check (see ``forms.with_fields``); ``read``
    is ``forms.fields``'s answer when the caller has it."""
    fields, failed = read or forms.fields(text, copies=copies, deadline=deadline)
    if not fields and not failed:
        return found
    if failed:
        found = [m for m in found if not any(forms.inside(m, f) for f in failed)]
    return _resolve(found + _not_in_failed_account(text, fields))


def find_identifiers(
    text: str,
    /,
    *,
    copies: tuple[bytes, bytes] | None = None,
    deadline: Deadline | None = None,
) -> list[Match]:
    """Every valid identifier in ``text``, one per place, sorted by start; never raises
    but ``DeadlineExceeded`` once ``deadline`` has passed.

    ``copies``, when given, must be :func:`one_byte_copies` of ``text``.
    """
    return [
        Match(*found)
        for part in iter_identifiers(text, copies=copies, deadline=deadline)
        for found in part
    ]


def naive_find_identifiers(text: str, /) -> list[Match]:
    """The same answer by brute force: every detector over the whole text."""
    if not isinstance(text, str) or not text:
        return []
    return _with_fields(text, _naive(text), None, None)


def _naive(text: str) -> list[Match]:
    if RUN3.search(text) is None:
        return []  # every identifier holds three digits in a row (see ``fits_fast_path``)
    found: list[Match] = []
    for detector in IDENTIFIER_DETECTORS:
        found.extend(detector.find(text))
    return _resolve(_not_in_failed_account(text, found))
