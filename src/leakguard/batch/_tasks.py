"""What a worker does with one shard: check, scan, or gather the identifiers sent to a
recipient. Each task turns the shard's items into per-message outcomes and, for the
commands that only count, a partial result the client merges (associatively).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from leakguard.batch._context import Context, ContextRef, lookup
from leakguard.batch._shards import Item, Shard
from leakguard.core import IDENTIFIER_KINDS, Finding, Lang, Verdict
from leakguard.errors import LeakguardError

if TYPE_CHECKING:
    from leakguard.extract._types import Limits
    from leakguard.guard import Guard

_A = TypeVar("_A")
_R = TypeVar("_R")

__all__ = [
    "AffectedPart",
    "AffectedTask",
    "CheckTask",
    "Outcome",
    "ScanTask",
    "ShardResult",
    "Task",
    "execute",
    "listing",
    "recipients_of",
]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer for one message or document of a batch.

    ``verdict`` for ``check``; ``findings`` for ``scan``; ``error`` (in the run's
    language) when it could not be read or checked. ``date`` and ``recipients`` (To,
    Cc, Bcc, lower-cased) feed the HTML report.
    """

    source: str
    verdict: Verdict | None = None
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    date: datetime | None = None
    recipients: tuple[str, ...] = ()


@dataclass(slots=True)
class ShardResult:
    """What one shard gave: its outcomes in order, the task's partial result (``None``
    for tasks that only give outcomes), how many items were read and how many messages
    took a number in their archive (``span``: where the next range's numbers start).
    ``cut`` is true when the shard could not be read to its end (an archive that became
    unreadable there): how many messages the rest held is then unknown to the worker."""

    outcomes: list[Outcome]
    partial: Any = None
    read: int = 0
    span: int = 0
    cut: bool = False


class Task(Protocol):
    """A picklable description of the work on each item, with the merge of partials."""

    @property
    def lang(self) -> Lang:
        """The language of the error texts."""
        ...

    def run(self, context: Context, items: Iterable[Item]) -> tuple[list[Outcome], Any]: ...

    def merge(self, left: Any, right: Any) -> Any: ...


def execute(ref: ContextRef, task: Task, shard: Shard, only: int | None = None) -> ShardResult:
    """Run ``task`` over ``shard`` (or over its item number ``only``, from 0) in a worker."""
    context = lookup(ref)
    seen = _Counted(shard.items())
    items: Iterator[Item] = iter(seen) if only is None else islice(seen, only, only + 1)
    outcomes, partial = task.run(context, items)
    if only is not None:
        for _ in seen:  # the numbering of the rest of the range still counts
            pass
    return ShardResult(outcomes, partial, seen.read if only is None else 1, seen.span, seen.cut)


def listing(shard: Shard) -> list[tuple[str, bool]]:
    """Each item of ``shard`` as (source, numbered), read without being checked: to
    check them one at a time when the whole shard keeps killing its worker."""
    return [(item.source, item.numbered) for item in shard.items()]


class _Counted:
    """The items of a shard, counted as they are read."""

    def __init__(self, items: Iterator[Item]) -> None:
        self._items = items
        self.read = 0
        self.span = 0
        self.cut = False

    def __iter__(self) -> Iterator[Item]:
        for item in self._items:
            self.read += 1
            self.span += item.numbered
            self.cut |= not item.numbered
            yield item


def guarded(item: Item, lang: Lang, work: Callable[[Item, _A], _R], arg: _A) -> _R | Outcome:
    """``work(item, arg)``, or the outcome saying why it failed for this item: one bad
    input never costs the others their results."""
    try:
        return work(item, arg)
    except LeakguardError as exc:
        return Outcome(item.source, error=exc.message(lang), date=item.date)
    except Exception as exc:
        return Outcome(item.source, error=internal_error(exc, lang), date=item.date)


def _checked(item: Item, guard: Guard) -> Verdict:
    from leakguard.message import require_message

    # Not an e-mail (empty, binary, a document): an error for this input only.
    require_message(item.data)
    return guard.check(item.data, source=item.source)


def internal_error(exc: BaseException, lang: Lang) -> str:
    # The exception's text may quote the message: only its type is shown.
    name = type(exc).__name__
    if lang == "fr":
        return f"ce message n'a pas pu être vérifié (erreur interne {name}) ; merci de la signaler"
    return f"this message could not be checked (internal error {name}); please report it"


# --------------------------------------------------------------------------- check


@dataclass(frozen=True, slots=True)
class CheckTask:
    """``Guard.check`` on each message; one that is not an e-mail is an error."""

    lang: Lang = "en"
    needs_guard: ClassVar[bool] = True

    def run(self, context: Context, items: Iterable[Item]) -> tuple[list[Outcome], None]:
        guard = context.guard
        assert guard is not None
        out: list[Outcome] = []
        for item in items:
            if item.error is not None:
                out.append(Outcome(item.source, error=item.error.message(self.lang)))
                continue
            verdict = guarded(item, self.lang, _checked, guard)
            if isinstance(verdict, Outcome):
                out.append(verdict)
                continue
            recipients = recipients_of(item.data)
            out.append(Outcome(item.source, verdict, date=item.date, recipients=recipients))
        return out, None

    def merge(self, left: None, right: None) -> None:
        return None


# --------------------------------------------------------------------------- scan


@dataclass(frozen=True, slots=True)
class ScanTask:
    """The content findings of each message or document, without recipient checks;
    ``limits`` bound each one (its time budget: past it, what was not read is reported)."""

    lang: Lang = "en"
    limits: Limits | None = None
    needs_guard: ClassVar[bool] = False

    def run(self, context: Context, items: Iterable[Item]) -> tuple[list[Outcome], None]:
        out: list[Outcome] = []
        for item in items:
            if item.error is not None:
                out.append(Outcome(item.source, error=item.error.message(self.lang)))
                continue
            findings = guarded(item, self.lang, scan_item, (context, self.limits))
            if isinstance(findings, Outcome):
                out.append(findings)
                continue
            recipients = recipients_of(item.data) if item.is_message else ()
            out.append(
                Outcome(item.source, findings=findings, date=item.date, recipients=recipients)
            )
        return out, None

    def merge(self, left: None, right: None) -> None:
        return None


def scan_item(item: Item, how: tuple[Context, Limits | None]) -> tuple[Finding, ...]:
    """The content findings of one item, read and scanned within one time budget (the
    scan reports what it had no time to read)."""
    from leakguard.content import scan_chunks
    from leakguard.extract._types import Budget, Limits

    context, limits = how
    limits = limits or Limits()
    budget = Budget(limits)
    if item.is_message:
        from leakguard.message import iter_content, load_message

        chunks = iter_content(load_message(item.data), budget=budget)
    else:
        # A document loads the mail parser only if its bytes turn out to be a message.
        from leakguard.message import document_content

        chunks = document_content(item.data, name=item.name, limits=limits)
    report = scan_chunks(chunks, fingerprinter=context.fingerprinter, deadline=budget.until)
    return tuple(report.findings)


def recipients_of(data: bytes) -> tuple[str, ...]:
    """The To/Cc/Bcc addresses of a raw message and their Resent- copies, lower-cased,
    from its header block, read by the guard's own bounded reader (the same addresses
    the guard checked)."""
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    from leakguard._headers import RECIPIENT_FIELDS, read_address_list
    from leakguard.extract._types import Limits

    end = data.find(b"\n\n")
    end2 = data.find(b"\r\n\r\n")
    cut = min(e for e in (end, end2, len(data)) if e >= 0)
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(data[: cut + 2])
    except Exception:
        return ()
    room = Limits().max_header_chars
    found: list[str] = []
    for value in (str(v) for h in RECIPIENT_FIELDS for v in headers.get_all(h, [])):
        read = read_address_list(value, max_chars=max(room, 0))
        room -= len(value)
        found += [a for _, a in read.mailboxes] + list(read.tokens)
    return tuple(dict.fromkeys(a.strip().lower() for a in found if a.strip()))


# --------------------------------------------------------------------------- affected


@dataclass(slots=True)
class Value:
    """One identifier value sent: how many messages carried it, first and last date."""

    kind: str
    masked: str
    fingerprint: str
    messages: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, other: Value) -> None:
        self.messages += other.messages
        self.first = _earliest(self.first, other.first)
        self.last = _latest(self.last, other.last)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(slots=True)
class AffectedPart:
    """What a part of the archive holds for ``affected``: messages read, how many went
    to the recipient (or domain), how many of those carried identifiers, and each
    identifier value by (kind, fingerprint). Merged by adding counts and keeping the
    earliest and latest dates: the order of the parts does not change the counts."""

    read: int = 0
    sent: int = 0
    with_identifiers: int = 0
    values: dict[tuple[str, str], Value] = field(default_factory=dict)

    def merge(self, other: AffectedPart) -> AffectedPart:
        """This part followed by ``other``, as a new part (neither is changed)."""
        both = AffectedPart()
        both.update(self)
        both.update(other)
        return both

    def update(self, other: AffectedPart) -> None:
        """Add ``other``, a part that comes after this one, to this part."""
        self.read += other.read
        self.sent += other.sent
        self.with_identifiers += other.with_identifiers
        for key, value in other.values.items():
            mine = self.values.get(key)
            if mine is None:
                self.values[key] = _copy(value)
            else:
                mine.add(value)


def _copy(v: Value) -> Value:
    return Value(v.kind, v.masked, v.fingerprint, v.messages, v.first, v.last)


@dataclass(frozen=True, slots=True)
class AffectedTask:
    """The identifier values in the messages sent to ``recipient`` (or to anyone at
    ``domain`` or its sub-domains), dated on or after ``since`` (undated ones kept)."""

    lang: Lang = "en"
    recipient: str | None = None
    domain: str | None = None
    since: date | None = None
    needs_guard: ClassVar[bool] = False

    def run(self, context: Context, items: Iterable[Item]) -> tuple[list[Outcome], AffectedPart]:
        from leakguard.message import require_message

        part = AffectedPart()
        out: list[Outcome] = []
        for item in items:
            if item.error is not None:
                out.append(Outcome(item.source, error=item.error.message(self.lang)))
                continue
            try:
                # A PDF or random bytes given as the export must not read as "nobody".
                require_message(item.data)
            except LeakguardError as exc:
                out.append(Outcome(item.source, error=exc.message(self.lang), date=item.date))
                continue
            part.read += 1
            if not self.wanted(item):
                continue
            part.sent += 1
            findings = guarded(item, self.lang, scan_item, (context, None))
            if isinstance(findings, Outcome):
                out.append(findings)
                continue
            self._collect(part, findings, item.date)
        return out, part

    def wanted(self, item: Item) -> bool:
        if (
            self.since is not None
            and item.date is not None
            and item.date.astimezone(UTC).date() < self.since
        ):
            return False
        if self.recipient is None and self.domain is None:
            return True
        addresses = recipients_of(item.data)
        if self.recipient is not None:
            return self.recipient.strip().lower() in addresses
        dom = (self.domain or "").strip().lower().lstrip("@")
        return any(
            a.rpartition("@")[2] == dom or a.rpartition("@")[2].endswith("." + dom)
            for a in addresses
        )

    @staticmethod
    def _collect(part: AffectedPart, findings: tuple[Finding, ...], when: datetime | None) -> None:
        seen: dict[tuple[str, str], Value] = {}
        for f in findings:
            if f.kind not in IDENTIFIER_KINDS or not f.fingerprint:
                continue
            key = (f.kind, f.fingerprint)
            if key not in seen:
                seen[key] = Value(f.kind, f.masked or "", f.fingerprint, 1, when, when)
        if seen:
            part.with_identifiers += 1
        for key, value in seen.items():
            mine = part.values.get(key)
            if mine is None:
                part.values[key] = value
            else:
                mine.add(value)

    def merge(self, left: AffectedPart | None, right: AffectedPart | None) -> AffectedPart:
        return (left or AffectedPart()).merge(right or AffectedPart())


NEVER = datetime.min.replace(tzinfo=UTC)


def ordered(values: Iterable[Value]) -> list[Value]:
    """The values as ``affected`` lists them: by first date, kind and masked form."""
    return sorted(values, key=lambda v: (v.first or NEVER, v.kind, v.masked))


if TYPE_CHECKING:
    _check: Task = CheckTask()
    _scan: Task = ScanTask()
    _affected: Task = AffectedTask()
