"""The content inspector: run every detector over the text a message carries.

Turns extracted text chunks and unreadable parts into contract findings, one per
distinct value per location, with masked values and keyed fingerprints only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from leakguard.core import (
    Deadline,
    DeadlineExceeded,
    Finding,
    Fingerprinter,
    Location,
    Severity,
    identifier_finding,
)
from leakguard.detectors import (
    HEALTH,
    IDENTIFIER_DETECTORS,
    Found,
    as_seen,
    iter_identifiers,
    one_byte_copies,
)
from leakguard.extract._types import DICOM_TYPE, Problem, TextChunk

__all__ = ["ContentReport", "scan_chunks", "scan_text"]

_SEVERITY = {
    "nir": Severity.HIGH,
    "be_niss": Severity.HIGH,
    "qc_nam": Severity.HIGH,
    "ca_sin": Severity.HIGH,
    "rib": Severity.MEDIUM,
    "iban": Severity.MEDIUM,
}

_MASK = {d.KIND: d.mask for d in IDENTIFIER_DETECTORS}

# Identifiers that name one person; bank accounts are counted apart (one patient often
# comes with both a NIR and a RIB, and must not count twice).
PERSON_KINDS = frozenset({"nir", "be_niss", "qc_nam", "ca_sin"})
BANK_KINDS = frozenset({"rib", "iban"})


@dataclass(slots=True)
class ContentReport:
    """Everything the content inspector saw in one message.

    ``texts`` keeps the extracted text per top-level attachment for the checks that
    need to read it again (the other-person check); it never leaves the process.
    """

    findings: list[Finding] = field(default_factory=list)
    texts: dict[Location, list[str]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ContentReport(findings={len(self.findings)}, parts={len(self.texts)})"

    def distinct_people(self) -> int:
        """How many different people the identifiers point to (a lower bound)."""
        persons = {f.fingerprint for f in self.findings if f.kind in PERSON_KINDS}
        accounts = {f.fingerprint for f in self.findings if f.kind in BANK_KINDS}
        return max(len(persons), len(accounts))


def _timeout(location: Location) -> Finding:
    return Finding(
        kind="unscannable_attachment",
        location=location,
        severity=Severity.MEDIUM,
        detail="timeout",
    )


def scan_text(
    text: str,
    location: Location,
    /,
    *,
    fingerprinter: Fingerprinter,
    deadline: Deadline | None = None,
    health: bool = True,
) -> list[Finding]:
    """Findings for one piece of text: identifiers first, then health categories (unless
    ``health`` is False: text that names people and services, such as an address field).

    When ``deadline`` passes before the text is read through, what was found so far is
    returned with an ``unscannable_attachment`` finding (``timeout``) at ``location``.
    """
    return _text_findings(text, location, fingerprinter, deadline, health, set())


def _text_findings(
    text: str,
    location: Location,
    fingerprinter: Fingerprinter,
    deadline: Deadline | None,
    health: bool,
    seen: set[str],
) -> list[Finding]:
    """:func:`scan_text`'s findings; ``seen`` gets the fingerprints of its identifier
    findings, which come first, one for each."""
    if deadline is not None and deadline.expired():
        return [_timeout(location)]
    out: list[Finding] = []
    try:
        _scan_text(text, location, fingerprinter, deadline, out, health, seen)
    except DeadlineExceeded:
        out.append(_timeout(location))
    return out


def _scan_text(
    text: str,
    location: Location,
    fingerprinter: Fingerprinter,
    deadline: Deadline | None,
    out: list[Finding],
    health: bool,
    seen: set[str],
) -> None:
    """Append the findings of ``text`` to ``out`` as they are made (what was found
    stays there when ``DeadlineExceeded`` ends the reading); ``seen`` gets the
    fingerprints of the identifiers."""
    # Read as it shows: a digit of another script, or a soft hyphen or zero-width space
    # between two digits, does not hide a number from the detectors.
    text = as_seen(text)
    # The one-byte copies of the text serve the fast paths of both detectors.
    copies = one_byte_copies(text)

    # Health categories, in the order they first occur: looked for while a child
    # process reads most of a long text's identifiers, else after them.
    found: list[tuple[list[str], bool]] = []

    def categories() -> None:
        found.append(HEALTH.categories_until(text, copies=copies, deadline=deadline))

    meanwhile = categories if health else None
    _identifier_findings(text, copies, location, fingerprinter, deadline, seen, out, meanwhile)
    # A link written with URL escapes ("?nir=1%2085%2005…", "1+85+05…"): its tokens
    # are read decoded too.
    escaped = as_seen(_escaped_tokens(text, deadline))
    if escaped:
        escaped_copies = one_byte_copies(escaped)
        _identifier_findings(escaped, escaped_copies, location, fingerprinter, deadline, seen, out)

    if not health:
        return
    if not found:
        categories()
    cats, whole = found[0]
    out.extend(
        Finding(kind="health_data", location=location, severity=Severity.MEDIUM, detail=cat)
        for cat in cats
    )
    if not whole:
        raise DeadlineExceeded


def _identifier_findings(
    text: str,
    copies: tuple[bytes, bytes],
    location: Location,
    fingerprinter: Fingerprinter,
    deadline: Deadline | None,
    seen: set[str],
    out: list[Finding],
    meanwhile: Callable[[], object] | None = None,
) -> None:
    """Append a finding for each identifier of ``text`` whose fingerprint is not in
    ``seen`` yet (one finding per distinct value; the findings keep the fingerprints
    anyway). A long export holds a million of them: the loop keeps what it calls at
    hand, and the masks and fingerprints are made a piece at a time by the process that
    read the piece (most of a long text may be read by a child process, which then
    leaves this one time for ``meanwhile``: see ``iter_identifiers``)."""
    remember, append, make = seen.add, out.append, identifier_finding
    severity = _SEVERITY

    def shown(part: list[Found]) -> list[tuple[str, str, str, float]]:
        # A value met again in the piece is not masked again nor sent back (the loop
        # below would drop it). Each piece on its own: pieces may be made in any order.
        mask, known = _MASK, set[str]()
        note = known.add
        out: list[tuple[str, str, str, float]] = []
        keep = out.append
        for kind, _start, _end, compact, confidence in part:
            fingerprint = fingerprinter(kind, compact)
            if fingerprint not in known:
                note(fingerprint)
                keep((kind, mask[kind](compact), fingerprint, confidence))
        return out

    pieces = iter_identifiers(
        text, copies=copies, deadline=deadline, then=shown, meanwhile=meanwhile
    )
    for part in pieces:
        for kind, masked, fingerprint, confidence in part:
            if fingerprint in seen:
                continue
            remember(fingerprint)
            append(make(kind, location, severity[kind], masked, fingerprint, confidence))


_HEX = frozenset("0123456789abcdefABCDEF")
_NOT_SPACE = re.compile(r"\S*")
# A token longer than this is no link (a base64 block): it is not decoded.
_LONGEST_LINK = 4096
# Escapes looked at between two looks at the deadline.
_ESCAPES_PER_LOOK = 4096


def _escaped_tokens(text: str, deadline: Deadline | None = None) -> str:
    """The tokens (between white space) of ``text`` that hold URL escapes, decoded, one
    per line; "" when there is none.

    Found by byte searches for "%" and "+" (a regular expression's walk over every
    character would cost 10 ms a megabyte), each token once; ``DeadlineExceeded`` once
    ``deadline`` has passed.
    """
    out: list[str] = []
    size = len(text)
    # The next "%" and the next "+" at or after ``pos`` (size when there is none).
    percent = text.find("%")
    plus = text.find("+")
    percent = size if percent < 0 else percent
    plus = size if plus < 0 else plus
    pos = looked = 0
    while True:
        if percent < pos:
            found = text.find("%", pos)
            percent = size if found < 0 else found
        if plus < pos:
            found = text.find("+", pos)
            plus = size if found < 0 else found
        at = min(percent, plus)
        if at >= size:
            break
        looked += 1
        if deadline is not None and looked % _ESCAPES_PER_LOOK == 0:
            deadline.check()
        if at == plus:
            # "+" for a space between two digits (not "+33 6 …", not "3 + 4").
            if not (at and text[at - 1].isdigit() and text[at + 1 : at + 2].isdigit()):
                pos = at + 1
                continue
        elif not (text[at + 1 : at + 2] in _HEX and text[at + 2 : at + 3] in _HEX):
            pos = at + 1
            continue
        floor = max(0, at - _LONGEST_LINK)
        lo = max(text.rfind(c, floor, at) for c in " \t\n\r\f\v") + 1
        match = _NOT_SPACE.match(text, at)
        pos = match.end() if match is not None else at + 1
        # A token that starts before the window, or ends far past it, is no link.
        if (lo > floor or floor == 0) and pos - lo <= _LONGEST_LINK:
            out.append(unquote_plus(text[lo:pos]))
    return "\n".join(out)


def _problem_finding(problem: Problem) -> Finding:
    """The finding for a part that was not read as it claimed: unreadable, encrypted, or
    mislabelled (it claims to be encrypted and is not; its content was read as clear)."""
    if problem.reason == "mislabelled":
        return Finding(
            kind="mislabelled_attachment",
            location=problem.location,
            severity=Severity.MEDIUM,
            detail=problem.container,
        )
    return Finding(
        kind="unscannable_attachment",
        location=problem.location,
        severity=Severity.LOW if problem.reason == "encrypted" else Severity.MEDIUM,
        detail=problem.reason,
    )


def scan_chunks(
    chunks: Iterable[TextChunk | Problem],
    /,
    *,
    fingerprinter: Fingerprinter,
    keep_texts: bool = False,
    deadline: Deadline | None = None,
) -> ContentReport:
    """Scan every chunk; identical values met twice in one location count once.

    Past ``deadline`` each chunk left is reported unread (``timeout``) instead of read.
    """
    report = ContentReport()
    # Per location (the Location itself: two names that differ only in digits print
    # alike), the fingerprints or kinds and details already reported there.
    seen: dict[Location, set[str]] = {}
    for chunk in chunks:
        if isinstance(chunk, Problem):
            finding = _problem_finding(chunk)
            if finding.kind == "mislabelled_attachment":
                # One claim per place, however many readers saw through it.
                claims = seen.setdefault(finding.location, set())
                key = f"{finding.kind}:{finding.detail or ''}"
                if key in claims:
                    continue
                claims.add(key)
            report.findings.append(finding)
            continue
        if keep_texts and chunk.location.is_attachment:
            report.texts.setdefault(chunk.location.top_level, []).append(chunk.text)
        ids: set[str] = set()
        found = _text_findings(
            chunk.text, chunk.location, fingerprinter, deadline, not chunk.identifiers_only, ids
        )
        if chunk.content_type == DICOM_TYPE:
            # A medical image (an exam, a medical act) is health data whatever its words.
            found.append(
                Finding(
                    kind="health_data",
                    location=chunk.location,
                    severity=Severity.MEDIUM,
                    detail="medical_act",
                )
            )
        here = seen.get(chunk.location)
        if here is None:
            # The first chunk of its place: with nothing said twice (the usual case, and
            # an export's hundreds of thousands of findings), all of it at once. Its
            # identifiers are there once each already (their fingerprints are ``ids``);
            # the rest are few.
            keys = ids
            keys.update(f.fingerprint or f"{f.kind}:{f.detail or ''}" for f in found[len(ids) :])
            if len(keys) == len(found):
                seen[chunk.location] = keys
                report.findings.extend(found)
                continue
            here = seen[chunk.location] = set()
        for f in found:
            key = f.fingerprint or f"{f.kind}:{f.detail or ''}"
            if key in here:
                continue
            here.add(key)
            report.findings.append(f)
    return report
