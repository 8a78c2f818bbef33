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
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any, ClassVar

from leakguard._recipients import addresses as _addr
from leakguard.archives import ArchiveError
from leakguard.archives._fs import UrlError, place
from leakguard.archives._read import _unreadable
from leakguard.batch._context import Context
from leakguard.batch._engine import Interrupted, run_task
from leakguard.batch._shards import Item
from leakguard.batch._tasks import Outcome
from leakguard.core import CONTENT_KINDS, Lang
from leakguard.correspondents import Clock
from leakguard.correspondents._store import Tally, check_store, message_key
from leakguard.errors import InputError, LeakguardError
from leakguard.guard import Guard, scan
from leakguard.message import require_message

__all__ = ["LearnPart", "LearnSummary", "NothingRead", "learn"]


@dataclass(slots=True)
class LearnSummary:
    """What one run of :func:`learn` did."""

    path: Path
    read: int = 0  # messages read from the archives
    learned: int = 0  # of which new to the store
    already_known: int = 0  # of which learned by an earlier run (or duplicates)
    sensitive: int = 0  # new messages that carried sensitive content
    unreadable: list[str] = field(default_factory=list)  # sources of unusable messages
    why: dict[str, str] = field(default_factory=dict)  # the reason, by source, when known
    addresses: int = 0
    domains: int = 0
    groups: int = 0
    messages: int = 0  # messages in the store after this run
    oldest: datetime | None = None
    newest: datetime | None = None
    size: int = 0  # bytes of the store file
    #: Ctrl-C stopped the run (see :class:`leakguard.batch.Interrupted`); ``saved`` says
    #: whether the store now holds what was learned until then.
    interrupted: bool = False
    saved: bool = False


class NothingRead(InputError):
    """No message of the Sent folder could be read: the store was left as it was.

    ``summary`` lists the unreadable messages.
    """

    def __init__(self, message: str, /, *, fr: str, summary: LearnSummary) -> None:
        super().__init__(message, fr=fr)
        self.summary = summary


# One learned message: its date, its (address, display name) pairs, whether sensitive.
_Fact = tuple[int | None, list[tuple[str, str]], bool]


@dataclass(slots=True)
class LearnPart:
    """What a part of the Sent folder teaches: the tally of its messages (each
    Message-ID once) and, to leave out a message another part holds too, the facts of
    each. ``merge`` is associative: however the messages are split into parts, merging
    the parts in order gives the tally of learning them one after the other."""

    tally: Tally = field(default_factory=Tally)
    facts: dict[int, _Fact] = field(default_factory=dict)
    read: int = 0
    repeats: int = 0  # messages whose Message-ID came earlier in this part

    def add(
        self, key: int, when: int | None, recipients: list[tuple[str, str]], sensitive: bool
    ) -> None:
        if self.tally.add(key, when, recipients, sensitive):
            self.facts[key] = (when, recipients, sensitive)
        else:
            self.repeats += 1

    def without(self, keys: set[int]) -> Tally:
        """The tally of this part's messages, leaving out those of ``keys``."""
        if not keys:
            return self.tally
        tally = Tally()
        for key, (when, recipients, sensitive) in self.facts.items():
            if key not in keys:
                tally.add(key, when, recipients, sensitive)
        return tally

    def merge(self, other: LearnPart) -> LearnPart:
        """This part followed by ``other``, as a new part (neither is changed)."""
        shared = self.facts.keys() & other.facts.keys()
        tally = Tally()
        tally.merge(self.tally)
        tally.merge(other.without(shared))
        facts = dict(self.facts)
        for key, fact in other.facts.items():
            facts.setdefault(key, fact)
        return LearnPart(
            tally, facts, self.read + other.read, self.repeats + other.repeats + len(shared)
        )


def learn(
    sent: Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    /,
    *,
    guard: Guard | None = None,
    update: bool = False,
    jobs: int | None = 1,
    cluster: Any = None,
    executor: Executor | None = None,
    shard_size: int | None = None,
    clock: Clock | None = None,
    progress: Callable[[int], object] | None = None,
    lang: Lang = "en",
) -> LearnSummary:
    """Learn the messages of the ``sent`` archives into the store at ``output``.

    Without ``update`` the store is built anew; with it, messages already learned
    (same Message-ID) are skipped and the rest is added. The file is replaced only when
    complete, and only when at least one message could be read: otherwise
    :class:`NothingRead` is raised and the store stays as it was. ``guard`` decides what
    is sensitive (default: the embedded policy). The messages are read in ``jobs``
    worker processes, on a Dask ``cluster`` (scheduler address or client) or on an
    ``executor`` (see :mod:`leakguard.batch`); each part is tallied where it is read
    and the parts are merged here. ``progress`` is called with the number of messages
    done as parts finish. An archive that cannot be opened raises ``ArchiveError`` and
    leaves the store as it was. Ctrl-C raises :class:`leakguard.batch.Interrupted`
    with the summary: with ``update``, or when there was no store yet, what was learned
    until then is saved (learn again with ``update`` to finish); a store being rebuilt
    is left as it was. ``lang``: the language of the reasons in ``summary.why``.
    """
    out = Path(output)
    now = (clock or (lambda: datetime.now(UTC)))()
    if out.exists() and not update:
        check_store(out)  # never overwrite a file that is not a store (a typo in -o)
    paths = [os.fspath(p) for p in sent]
    for raw in paths:
        if not _exists(raw):
            raise ArchiveError(
                f"{raw}: no such file or folder.", fr=f"{raw} : fichier ou dossier introuvable."
            )
    existed = out.exists()
    tally = Tally.load(out) if update and existed else Tally()
    summary = LearnSummary(out)
    guard = guard if guard is not None else Guard()
    try:
        for done in run_task(
            LearnTask(lang),
            paths,
            context=Context(guard.fingerprinter, guard),
            reading="learn",
            jobs=jobs,
            cluster=cluster,
            executor=executor,
            shard_size=shard_size,
            progress=progress,
        ):
            if done.result is None:
                continue  # the end of one input
            summary.read += done.result.read
            for outcome in done.result.outcomes:
                summary.unreadable.append(outcome.source)
                if outcome.error:
                    summary.why[outcome.source] = outcome.error
            part = done.result.partial
            if part is not None:
                _absorb(tally, part, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
        if (update or not existed) and summary.read > len(summary.unreadable):
            _save(tally, out, now, summary)
        raise Interrupted(summary) from None
    if summary.read == len(summary.unreadable):
        raise _nothing_read(paths, out, summary)
    _save(tally, out, now, summary)
    return summary


def _absorb(tally: Tally, part: LearnPart, summary: LearnSummary) -> None:
    """Learn ``part`` into the store's tally; messages it already holds are skipped."""
    known = tally.seen & part.facts.keys()
    tally.merge(part.without(known))
    summary.learned += len(part.facts) - len(known)
    summary.already_known += part.repeats + len(known)
    summary.sensitive += sum(
        sensitive for key, (_, _, sensitive) in part.facts.items() if key not in known
    )


def _save(tally: Tally, out: Path, now: datetime, summary: LearnSummary) -> None:
    tally.save(out, learned_at=int(now.timestamp()))
    summary.saved = True
    summary.addresses = len(tally.addresses)
    summary.domains = len(tally.domains)
    summary.groups = len(tally.groups)
    summary.messages = tally.messages
    summary.oldest = None if tally.oldest is None else datetime.fromtimestamp(tally.oldest, UTC)
    summary.newest = None if tally.newest is None else datetime.fromtimestamp(tally.newest, UTC)
    summary.size = out.stat().st_size


def _exists(raw: str) -> bool:
    """Whether input ``raw`` (a path or a URL) is there; a URL that cannot be opened at
    all, or a store that cannot be asked, raises :class:`ArchiveError` naming it."""
    try:
        return place(raw).exists()
    except UrlError as exc:
        raise ArchiveError(
            exc.naming(raw).message("en"), fr=exc.naming(raw).message("fr")
        ) from None
    except OSError as exc:
        raise _unreadable(raw, exc) from None


def _nothing_read(paths: list[str], out: Path, summary: LearnSummary) -> NothingRead:
    where = ", ".join(paths)
    kept = "was left as it was" if out.exists() else "was not written"
    gardé = "est resté tel quel" if out.exists() else "n'a pas été écrit"
    if summary.read == 0:
        return NothingRead(
            f"{where}: no message found; {out} {kept}.",
            fr=f"{where} : aucun message trouvé ; {out} {gardé}.",
            summary=summary,
        )
    return NothingRead(
        f"{where}: none of the {summary.read} message(s) could be read; {out} {kept}.",
        fr=f"{where} : aucun des {summary.read} message(s) n'a pu être lu ; {out} {gardé}.",
        summary=summary,
    )


@dataclass(frozen=True, slots=True)
class LearnTask:
    """In a worker: the recipients, date and sensitivity of each message of a shard,
    tallied into a :class:`LearnPart`; unusable messages come back as outcomes."""

    lang: Lang = "en"
    needs_guard: ClassVar[bool] = True

    def run(self, context: Context, items: Iterable[Item]) -> tuple[list[Outcome], LearnPart]:
        guard = context.guard
        assert guard is not None
        sensitive_kinds = guard.policy.sensitive_kinds & CONTENT_KINDS
        part = LearnPart()
        out: list[Outcome] = []
        for item in items:
            part.read += 1
            if item.error is not None or not item.data:
                why = "" if item.error is None else item.error.message(self.lang)
                out.append(Outcome(item.source, error=why))
                continue
            try:
                # A CSV or a document given as sent mail must not replace a store with
                # an empty one: only mail is learned, as `check` and `affected` read it.
                require_message(item.data)
                headers = BytesHeaderParser(policy=compat32).parsebytes(_header_block(item.data))
                recipients = _recipients(headers)
                # The content inspectors of Guard.check, without its recipient checks:
                # what the message carried decides, not who it went to (three times faster).
                findings = scan(item.data, limits=guard.limits, fingerprinter=guard.fingerprinter)
            except LeakguardError as exc:
                out.append(Outcome(item.source, error=exc.message(self.lang)))
                continue
            except (ValueError, LookupError):
                out.append(Outcome(item.source, error=""))
                continue
            sensitive = any(f.kind in sensitive_kinds for f in findings)
            key = message_key(_text(headers.get("Message-ID")), item.data)
            when = None if item.date is None else int(item.date.timestamp())
            part.add(key, when, recipients, sensitive)
        return out, part

    def merge(self, left: LearnPart | None, right: LearnPart | None) -> LearnPart:
        return (left or LearnPart()).merge(right or LearnPart())


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
