"""Learn the correspondents from a Sent folder, on the user's own machine.

    from leakguard.learn import learn
    summary = learn(["Sent.mbox"], "correspondents.db")          # build
    summary = learn(["Sent.mbox"], "correspondents.db", update=True)  # add new messages

Each message of the archives (mbox, Maildir, folder of ``.eml``, PST with the optional
extra) is read once: its recipients (To, Cc, Bcc) with their display names, its date,
and whether :class:`~leakguard.guard.Guard` finds sensitive content in it (an
identifier or health data). Only those facts reach the store; see
:mod:`leakguard.correspondents` for what is kept and how the guard uses it.
"""

from __future__ import annotations

import email.header
import email.utils
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from leakguard._recipients import addresses as _addr
from leakguard.archives import ArchiveError, iter_messages
from leakguard.core import CONTENT_KINDS
from leakguard.correspondents import Clock
from leakguard.correspondents._store import Tally, check_store, message_key
from leakguard.errors import LeakguardError
from leakguard.guard import Guard, scan

__all__ = ["LearnSummary", "learn"]


@dataclass(slots=True)
class LearnSummary:
    """What one run of :func:`learn` did."""

    path: Path
    read: int = 0  # messages read from the archives
    learned: int = 0  # of which new to the store
    already_known: int = 0  # of which learned by an earlier run (or duplicates)
    sensitive: int = 0  # new messages that carried sensitive content
    unreadable: list[str] = field(default_factory=list)  # sources of unusable messages
    addresses: int = 0
    domains: int = 0
    groups: int = 0
    messages: int = 0  # messages in the store after this run
    oldest: datetime | None = None
    newest: datetime | None = None
    size: int = 0  # bytes of the store file


# What a worker sends back: (source, key, date, recipients, sensitive) or (source, error).
_Facts = tuple[str, int, int | None, list[tuple[str, str]], bool]
_Failed = tuple[str, str]

_GUARD: Guard | None = None
_SENSITIVE: frozenset[str] = frozenset()


def learn(
    sent: Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    /,
    *,
    guard: Guard | None = None,
    update: bool = False,
    jobs: int = 1,
    clock: Clock | None = None,
    progress: Callable[[int], object] | None = None,
) -> LearnSummary:
    """Learn the messages of the ``sent`` archives into the store at ``output``.

    Without ``update`` the store is built anew; with it, messages already learned
    (same Message-ID) are skipped and the rest is added. The file is replaced only when
    complete. ``guard`` decides what is sensitive (default: the embedded policy);
    ``jobs`` worker processes inspect the content; ``progress`` is called with the
    number of messages done since its last call. An archive that cannot be opened
    raises ``ArchiveError`` and leaves the store as it was.
    """
    global _GUARD, _SENSITIVE
    out = Path(output)
    now = (clock or (lambda: datetime.now(UTC)))()
    if out.exists() and not update:
        check_store(out)  # never overwrite a file that is not a store (a typo in -o)
    tally = Tally.load(out) if update and out.exists() else Tally()
    summary = LearnSummary(out)
    guard = guard if guard is not None else Guard()
    _GUARD, _SENSITIVE = guard, guard.policy.sensitive_kinds & CONTENT_KINDS
    try:
        for got in _inspect_all(_items(sent, summary), jobs):
            summary.read += 1
            if progress is not None:
                progress(1)
            if len(got) == 2:
                summary.unreadable.append(got[0])
                continue
            _, key, when, recipients, sensitive = got
            if tally.add(key, when, recipients, sensitive):
                summary.learned += 1
                summary.sensitive += sensitive
            else:
                summary.already_known += 1
    finally:
        _GUARD, _SENSITIVE = None, frozenset()
    tally.save(out, learned_at=int(now.timestamp()))
    summary.addresses = len(tally.addresses)
    summary.domains = len(tally.domains)
    summary.groups = len(tally.groups)
    summary.messages = tally.messages
    summary.oldest = None if tally.oldest is None else datetime.fromtimestamp(tally.oldest, UTC)
    summary.newest = None if tally.newest is None else datetime.fromtimestamp(tally.newest, UTC)
    summary.size = out.stat().st_size
    return summary


def _items(
    sent: Iterable[str | os.PathLike[str]], summary: LearnSummary
) -> Iterator[tuple[str, bytes, datetime | None]]:
    paths = [os.fspath(p) for p in sent]
    for raw in paths:
        if not Path(raw).exists():
            raise ArchiveError(
                f"{raw}: no such file or folder.", fr=f"{raw} : fichier ou dossier introuvable."
            )
    for raw in paths:
        for m in iter_messages(raw):
            if not m.data:
                summary.read += 1
                summary.unreadable.append(m.source)
                continue
            yield (m.source, m.data, m.date)


def _inspect_all(
    items: Iterator[tuple[str, bytes, datetime | None]], jobs: int
) -> Iterator[_Facts | _Failed]:
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(_inspect, items)
        return
    # Forked workers inherit the guard (policy, colleagues) without pickling it.
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(_inspect, items, chunksize=32)


def _inspect(item: tuple[str, bytes, datetime | None]) -> _Facts | _Failed:
    source, data, date = item
    assert _GUARD is not None
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(_header_block(data))
        recipients = _recipients(headers)
        # The content inspectors of Guard.check, without its recipient checks: what
        # the message carried decides, not who it went to (three times faster).
        findings = scan(data, limits=_GUARD.limits, fingerprinter=_GUARD.fingerprinter)
    except (LeakguardError, ValueError, LookupError) as exc:
        return (source, type(exc).__name__)
    sensitive = any(f.kind in _SENSITIVE for f in findings)
    key = message_key(_text(headers.get("Message-ID")), data)
    when = None if date is None else int(date.timestamp())
    return (source, key, when, recipients, sensitive)


def _header_block(data: bytes) -> bytes:
    ends = [e for e in (data.find(b"\n\n"), data.find(b"\r\n\r\n")) if e >= 0]
    return data[: min(ends) + 2] if ends else data


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _recipients(headers: Message) -> list[tuple[str, str]]:
    values = [str(v) for h in ("To", "Cc", "Bcc") for v in headers.get_all(h, [])]
    out: list[tuple[str, str]] = []
    for name, address in email.utils.getaddresses(values):
        if "@" not in address:
            continue
        out.append((_addr.lenient(address), _decode(name)))
    return out


def _decode(name: str) -> str:
    if "=?" not in name:
        return name
    try:
        return str(email.header.make_header(email.header.decode_header(name)))
    except (ValueError, LookupError, UnicodeError):
        return ""
