"""``Correspondents``: a learned store opened for checking, and the findings it gives."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from leakguard._recipients import addresses as _addr
from leakguard._recipients.directory import Directory
from leakguard._recipients.guard import Lookalike, RecipientGuard
from leakguard.core import Finding, Location, Severity
from leakguard.correspondents._store import _connect, _read_error, read_meta

__all__ = ["Clock", "Correspondents", "Learned"]

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _when(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def add_months(when: datetime, months: int) -> datetime:
    """``when`` moved ``months`` calendar months on (the 31st becomes the month's end)."""
    total = when.month - 1 + months
    year, month = when.year + total // 12, total % 12 + 1
    day = when.day
    while True:
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


@dataclass(frozen=True, slots=True)
class Learned:
    """What was learned about one address or one domain."""

    key: str
    messages: int
    sensitive_messages: int
    first_sent: datetime | None
    last_sent: datetime | None
    names: tuple[str, ...] = ()


class Correspondents:
    """The correspondents learned from a Sent folder (see ``leakguard learn``).

    Open with :meth:`open`; the whole store is read into memory, so checks touch no file.
    ``clock`` gives the current time (tests pass a fixed one). Thread-safe.
    """

    __slots__ = (
        "_addresses",
        "_by_id",
        "_clock",
        "_domains",
        "_groups",
        "_lock",
        "_lookalike_guards",
        "_member_of",
        "learned_at",
        "messages",
        "newest",
        "oldest",
        "path",
    )

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = path
        self._clock: Clock = clock or _utc_now
        self._addresses: dict[str, tuple[int, int, int, int | None, int | None]] = {}
        self._by_id: dict[int, str] = {}
        self._domains: dict[str, tuple[int, int, int | None, int | None]] = {}
        self._groups: list[tuple[frozenset[int], int, int]] = []
        self._member_of: dict[int, list[int]] = {}
        self._lookalike_guards: dict[tuple[int, int], RecipientGuard] = {}
        self._lock = threading.Lock()
        self.oldest: datetime | None = None
        self.newest: datetime | None = None
        self.learned_at: datetime | None = None
        self.messages = 0

    @classmethod
    def open(cls, path: str | os.PathLike[str], /, *, clock: Clock | None = None) -> Correspondents:
        """Read a store written by ``leakguard learn``; ``CorrespondentsError`` if it
        cannot be used."""
        book = cls(Path(path), clock=clock)
        db = _connect(path)
        try:
            meta = read_meta(db, path)
            book.messages = int(meta.get("messages", "0"))
            book.oldest = _when(_int(meta.get("oldest")))
            book.newest = _when(_int(meta.get("newest")))
            book.learned_at = _when(_int(meta.get("learned_at")))
            for row in db.execute(
                "SELECT id, address, messages, sensitive, first, last FROM address"
            ):
                book._addresses[row[1]] = (row[0], row[2], row[3], row[4], row[5])
                book._by_id[row[0]] = row[1]
            for domain, messages, sensitive, first, last in db.execute(
                "SELECT domain, messages, sensitive, first, last FROM domain"
            ):
                book._domains[domain] = (messages, sensitive, first, last)
            for members, messages, sensitive in db.execute(
                "SELECT members, messages, sensitive FROM grp"
            ):
                ids = frozenset(int(i) for i in members.split(","))
                index = len(book._groups)
                book._groups.append((ids, messages, sensitive))
                for i in ids:
                    book._member_of.setdefault(i, []).append(index)
        except (sqlite3.Error, ValueError) as exc:
            raise _read_error(Path(path), exc) from None
        finally:
            db.close()
        return book

    def __getstate__(self) -> dict[str, object]:
        # Sent to worker processes and machines: what checks read, without the lock and
        # the look-alike indexes, which each copy builds again when first asked.
        skip = ("_lock", "_lookalike_guards")
        return {name: getattr(self, name) for name in self.__slots__ if name not in skip}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._lock = threading.Lock()
        self._lookalike_guards = {}

    def __repr__(self) -> str:
        return (
            f"Correspondents(path={str(self.path)!r}, addresses={len(self._addresses)}, "
            f"messages={self.messages})"
        )

    def __len__(self) -> int:
        return len(self._addresses)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and _addr.lenient(address) in self._addresses

    def now(self) -> datetime:
        """The current time, from the clock this store was opened with."""
        return self._clock()

    # ------------------------------------------------------------------ queries

    def get(self, address: str, /) -> Learned | None:
        """What was learned about ``address`` (any spelling of it), or None."""
        key = _addr.lenient(address)
        row = self._addresses.get(key)
        if row is None:
            return None
        ident, messages, sensitive, first, last = row
        return Learned(key, messages, sensitive, _when(first), _when(last), self._names(ident))

    def domain(self, domain: str, /) -> Learned | None:
        """What was learned about everyone at ``domain``, or None."""
        key = _addr.domain_of(_addr.lenient("x@" + domain.strip().lstrip("@")))
        row = self._domains.get(key)
        if row is None:
            return None
        messages, sensitive, first, last = row
        return Learned(key, messages, sensitive, _when(first), _when(last))

    def _names(self, ident: int) -> tuple[str, ...]:
        db = _connect(self.path)
        try:
            rows = db.execute("SELECT name FROM name WHERE address = ?", (ident,)).fetchall()
        except sqlite3.Error as exc:
            raise _read_error(self.path, exc) from None
        finally:
            db.close()
        return tuple(sorted(r[0] for r in rows))

    def usual_groups(self, min_messages: int = 3) -> list[tuple[tuple[str, ...], int]]:
        """Sets of recipients written to together at least ``min_messages`` times,
        most frequent first."""
        out = [
            (tuple(sorted(self._by_id[i] for i in ids)), messages)
            for ids, messages, _ in self._groups
            if messages >= min_messages
        ]
        out.sort(key=lambda g: (-g[1], g[0]))
        return out

    def together(self, others: Iterable[str], address: str) -> tuple[int, int]:
        """Of the learned messages sent to all of ``others``: how many also went to
        ``address``, and how many did not."""
        ids: list[int] = []
        for other in others:
            row = self._addresses.get(_addr.lenient(other))
            if row is None:
                return (0, 0)  # never written to: no message went to all of them
            ids.append(row[0])
        if not ids:
            return (0, 0)
        target = self._addresses.get(_addr.lenient(address))
        target_id = None if target is None else target[0]
        wanted = frozenset(ids)
        rarest = min(wanted, key=lambda i: len(self._member_of.get(i, ())))
        with_it = 0
        grouped = 0
        for index in self._member_of.get(rarest, ()):
            members, messages, _ = self._groups[index]
            if wanted <= members:
                grouped += messages
                if target_id is not None and target_id in members:
                    with_it += messages
        # A message to one recipient alone forms no group: count those from the address.
        total = self._addresses[self._by_id[rarest]][1] if len(wanted) == 1 else grouped
        return (with_it, total - with_it)

    def lookalikes(
        self, address: str, /, *, frequent: int = 3, max_distance: int = 1
    ) -> list[Lookalike]:
        """Every address written to at least ``frequent`` times that is within
        ``max_distance`` edits of ``address`` or shares its confusable skeleton, nearest
        first; exactly what comparing with each of them would give. Empty when
        ``address`` is itself written to that often."""
        return self._guard(frequent, max_distance).lookalikes(address)

    def _guard(self, frequent: int, max_distance: int) -> RecipientGuard:
        key = (frequent, max_distance)
        guard = self._lookalike_guards.get(key)
        if guard is None:
            with self._lock:
                guard = self._lookalike_guards.get(key)
                if guard is None:
                    often = sorted(a for a, row in self._addresses.items() if row[1] >= frequent)
                    directory = Directory.from_addresses(often)
                    guard = RecipientGuard(directory, max_distance=max_distance)
                    self._lookalike_guards[key] = guard
        return guard

    # ------------------------------------------------------------------ findings

    def check(
        self,
        recipients: Sequence[tuple[str, str, Location]],
        /,
        *,
        sensitive: bool,
        is_outside: Callable[[str], bool],
        is_colleague: Callable[[str], bool] = lambda _: False,
        dormant_months: int = 12,
        quiet_days: int = 30,
        frequent: int = 3,
        usual_group: int = 3,
        lookalike_distance: int = 1,
        already_lookalike: Iterable[str] = (),
    ) -> list[Finding]:
        """Findings for the ``(display name, address, location)`` recipients of one
        message: ``first_time_recipient``, ``dormant_recipient``, ``unusual_recipient``
        and ``lookalike_recipient`` (detail ``correspondent``).

        Only outside recipients who are not colleagues are judged. During the quiet
        start (``quiet_days`` after the oldest learned message) no first-time or
        unusual finding is given. ``already_lookalike`` names recipients that already
        have a look-alike finding (from the colleagues): they get no second one.
        """
        now = self._clock()
        quiet = self.oldest is None or now < self.oldest + timedelta(days=quiet_days)
        skip = {_addr.lenient(a) for a in already_lookalike}
        canonical = [(_addr.lenient(a), loc) for _, a, loc in recipients]
        everyone = [a for a, _ in canonical]
        findings: list[Finding] = []
        done: set[str] = set()
        for address, location in canonical:
            if address in done or not is_outside(address) or is_colleague(address):
                continue
            done.add(address)
            found = partial(Finding, location=location, severity=Severity.MEDIUM, recipient=address)
            row = self._addresses.get(address)
            if row is None:
                if not quiet:
                    known = _addr.domain_of(address) in self._domains
                    detail = "known_domain" if known else "new_domain"
                    findings.append(found(kind="first_time_recipient", detail=detail))
            else:
                last = row[4]
                seen = None if last is None else datetime.fromtimestamp(last, UTC)
                if seen is not None and now >= add_months(seen, dormant_months):
                    day = seen.date().isoformat()
                    findings.append(found(kind="dormant_recipient", last_seen=day))
                if sensitive and not quiet and row[2] == 0:
                    others = [a for a in everyone if a != address]
                    with_it, without = self.together(others, address)
                    if without >= usual_group and with_it < without:
                        findings.append(found(kind="unusual_recipient", count=without))
            messages = 0 if row is None else row[1]
            if messages < frequent and address not in skip:
                near = self._guard(frequent, lookalike_distance).lookalikes(address)
                if near:
                    findings.append(
                        found(
                            kind="lookalike_recipient",
                            severity=Severity.HIGH,
                            similar_to=near[0].address,
                            distance=near[0].distance,
                            detail="correspondent",
                        )
                    )
        return findings


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)
