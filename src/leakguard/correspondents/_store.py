"""The correspondents store: one SQLite file, written whole, read whole.

What a row holds: an address (or a domain), how many messages went to it, how many of
them carried sensitive data, the first and last date, and the display names it was
written under. Groups are the sets of two or more recipients of one message, with how
often that exact set was written to. ``seen`` holds a 64-bit hash of each learned
message's Message-ID, so ``--update`` never counts a message twice. Subjects, bodies,
attachments and identifiers are never written: nothing of a message but its recipients,
their display names and its date reaches this module.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from leakguard.errors import InputError

__all__ = ["FORMAT", "CorrespondentsError", "Tally", "message_key"]

FORMAT = "leakguard-correspondents"
VERSION = 1
#: Messages to more recipients than this are mass mailings: they form no group.
MAX_GROUP = 50
#: Display names kept per address (the first ones seen).
MAX_NAMES = 20
_MAX_NAME_LENGTH = 200
_DIGIT = re.compile(r"\d")

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE address(
    id INTEGER PRIMARY KEY, address TEXT NOT NULL, messages INTEGER NOT NULL,
    sensitive INTEGER NOT NULL, first INTEGER, last INTEGER);
CREATE TABLE name(address INTEGER NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY(address, name)) WITHOUT ROWID;
CREATE TABLE domain(domain TEXT PRIMARY KEY, messages INTEGER NOT NULL,
    sensitive INTEGER NOT NULL, first INTEGER, last INTEGER) WITHOUT ROWID;
CREATE TABLE grp(members TEXT PRIMARY KEY, messages INTEGER NOT NULL,
    sensitive INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE seen(key INTEGER PRIMARY KEY);
"""


class CorrespondentsError(InputError):
    """A correspondents store cannot be read or written; the text names the file."""

    code = "correspondents"


def message_key(message_id: str | None, data: bytes) -> int:
    """A signed 64-bit hash naming a message: of its Message-ID, else of its bytes."""
    ident = (message_id or "").strip().strip("<>").strip()
    raw = ("id:" + ident).encode("utf-8", "replace") if ident else b"raw:" + data
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big", signed=True)


def clean_name(name: str) -> str | None:
    """A display name fit to keep, or None: names holding numbers are never stored
    (a number in a display name may be an identifier)."""
    text = " ".join(name.split()).strip("\"' ")
    if not text or "@" in text or _DIGIT.search(text):
        return None
    return text[:_MAX_NAME_LENGTH]


@dataclass(slots=True)
class Stats:
    """Counts and dates (seconds since the epoch, UTC) for an address or a domain."""

    messages: int = 0
    sensitive: int = 0
    first: int | None = None
    last: int | None = None
    names: list[str] = field(default_factory=list)

    def copy(self) -> Stats:
        return Stats(self.messages, self.sensitive, self.first, self.last, list(self.names))

    def merge(self, other: Stats) -> None:
        """Add ``other``, learned from later messages: counts add up, dates widen, and
        the names stay the first ones seen."""
        self.messages += other.messages
        self.sensitive += other.sensitive
        self.first = _low(self.first, other.first)
        self.last = _high(self.last, other.last)
        for name in other.names:
            if len(self.names) >= MAX_NAMES:
                break
            if name not in self.names:
                self.names.append(name)

    def add(self, when: int | None, sensitive: bool) -> None:
        self.messages += 1
        self.sensitive += sensitive
        if when is not None:
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when


@dataclass(slots=True)
class Tally:
    """Everything learned, in memory: loaded from a store, added to, saved whole."""

    addresses: dict[str, Stats] = field(default_factory=dict)
    domains: dict[str, Stats] = field(default_factory=dict)
    groups: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    oldest: int | None = None
    newest: int | None = None
    messages: int = 0

    def add(
        self,
        key: int,
        when: int | None,
        recipients: Iterable[tuple[str, str]],
        sensitive: bool,
    ) -> bool:
        """Learn one message (``(address, display name)`` pairs, canonical addresses);
        False when it was learned before."""
        if key in self.seen:
            return False
        self.seen.add(key)
        self.messages += 1
        if when is not None:
            self.oldest = when if self.oldest is None else min(self.oldest, when)
            self.newest = when if self.newest is None else max(self.newest, when)
        people: dict[str, str] = {}
        for address, name in recipients:
            if address not in people or (name and not people[address]):
                people[address] = name
        domains: set[str] = set()
        for address, name in people.items():
            stats = self.addresses.get(address)
            if stats is None:
                stats = self.addresses[address] = Stats()
            stats.add(when, sensitive)
            kept = clean_name(name)
            if kept is not None and kept not in stats.names and len(stats.names) < MAX_NAMES:
                stats.names.append(kept)
            domains.add(address.rpartition("@")[2])
        for domain in domains:
            dstats = self.domains.get(domain)
            if dstats is None:
                dstats = self.domains[domain] = Stats()
            dstats.add(when, sensitive)
        if 2 <= len(people) <= MAX_GROUP:
            members = tuple(sorted(people))
            counts = self.groups.get(members)
            if counts is None:
                self.groups[members] = [1, int(sensitive)]
            else:
                counts[0] += 1
                counts[1] += sensitive
        return True

    def merge(self, other: Tally) -> None:
        """Add what ``other`` learned from later messages, none of which this tally has
        seen (the caller leaves out the shared ones). The result is the tally of the
        messages of both, in order: merging parts learned apart gives the store that
        learning them one after the other gives, however they were split."""
        self.seen |= other.seen
        self.messages += other.messages
        self.oldest = _low(self.oldest, other.oldest)
        self.newest = _high(self.newest, other.newest)
        for mine, theirs in ((self.addresses, other.addresses), (self.domains, other.domains)):
            for key, stats in theirs.items():
                found = mine.get(key)
                if found is None:
                    mine[key] = stats.copy()
                else:
                    found.merge(stats)
        for members, (messages, sensitive) in other.groups.items():
            counts = self.groups.get(members)
            if counts is None:
                self.groups[members] = [messages, sensitive]
            else:
                counts[0] += messages
                counts[1] += sensitive

    # ------------------------------------------------------------------ files

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Tally:
        """Everything a store holds (for ``--update``)."""
        tally = cls()
        db = _connect(path)
        try:
            meta = read_meta(db, path)
            tally.oldest = _int_or_none(meta.get("oldest"))
            tally.newest = _int_or_none(meta.get("newest"))
            tally.messages = int(meta.get("messages", "0"))
            by_id: dict[int, str] = {}
            for ident, address, messages, sensitive, first, last in db.execute(
                "SELECT id, address, messages, sensitive, first, last FROM address"
            ):
                by_id[ident] = address
                tally.addresses[address] = Stats(messages, sensitive, first, last)
            for ident, name in db.execute("SELECT address, name FROM name"):
                tally.addresses[by_id[ident]].names.append(name)
            for domain, messages, sensitive, first, last in db.execute(
                "SELECT domain, messages, sensitive, first, last FROM domain"
            ):
                tally.domains[domain] = Stats(messages, sensitive, first, last)
            for members, messages, sensitive in db.execute(
                "SELECT members, messages, sensitive FROM grp"
            ):
                key = tuple(sorted(by_id[int(i)] for i in members.split(",")))
                tally.groups[key] = [messages, sensitive]
            tally.seen.update(k for (k,) in db.execute("SELECT key FROM seen"))
        except sqlite3.Error as exc:
            raise _read_error(Path(path), exc) from None
        finally:
            db.close()
        return tally

    def save(self, path: str | os.PathLike[str], *, learned_at: int) -> None:
        """Write the whole store to ``path``, replacing it only once complete."""
        target = Path(path)
        folder = target.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=".correspondents-", suffix=".db", dir=folder)
        except OSError as exc:
            raise _write_error(target, exc) from None
        os.close(fd)
        try:
            db = sqlite3.connect(tmp)
            try:
                self._write(db, learned_at)
            finally:
                db.close()
            Path(tmp).replace(target)
        except (OSError, sqlite3.Error) as exc:
            Path(tmp).unlink(missing_ok=True)
            raise _write_error(target, exc) from None

    def _write(self, db: sqlite3.Connection, learned_at: int) -> None:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.executescript(_SCHEMA)
        meta = {
            "format": FORMAT,
            "version": str(VERSION),
            "messages": str(self.messages),
            "learned_at": str(learned_at),
        }
        if self.oldest is not None:
            meta["oldest"] = str(self.oldest)
        if self.newest is not None:
            meta["newest"] = str(self.newest)
        db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        ids = {address: i for i, address in enumerate(sorted(self.addresses), start=1)}
        db.executemany(
            "INSERT INTO address VALUES (?, ?, ?, ?, ?, ?)",
            (
                (ids[a], a, s.messages, s.sensitive, s.first, s.last)
                for a, s in self.addresses.items()
            ),
        )
        db.executemany(
            "INSERT INTO name VALUES (?, ?)",
            ((ids[a], n) for a, s in self.addresses.items() for n in s.names),
        )
        db.executemany(
            "INSERT INTO domain VALUES (?, ?, ?, ?, ?)",
            ((d, s.messages, s.sensitive, s.first, s.last) for d, s in self.domains.items()),
        )
        db.executemany(
            "INSERT INTO grp VALUES (?, ?, ?)",
            (
                (",".join(str(ids[a]) for a in members), c[0], c[1])
                for members, c in self.groups.items()
            ),
        )
        db.executemany("INSERT INTO seen VALUES (?)", ((k,) for k in sorted(self.seen)))
        db.commit()
        db.execute("VACUUM")


def _low(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _high(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _int_or_none(value: str | None) -> int | None:
    return None if value is None else int(value)


def _connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    p = Path(path)
    if not p.is_file():
        raise CorrespondentsError(
            f"{p}: no such correspondents store; build it with: leakguard learn SENT -o {p}",
            fr=f"{p} : ce fichier de correspondants n'existe pas ; créez-le avec : "
            f"leakguard learn ENVOYÉS -o {p}",
        )
    try:
        return sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise _read_error(p, exc) from None


def check_store(path: str | os.PathLike[str]) -> None:
    """Raise ``CorrespondentsError`` unless ``path`` is a store this version reads."""
    db = _connect(path)
    try:
        read_meta(db, path)
    finally:
        db.close()


def read_meta(db: sqlite3.Connection, path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``meta`` table, after checking that the file is a store this version reads."""
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
    except sqlite3.Error as exc:
        raise _read_error(Path(path), exc) from None
    if meta.get("format") != FORMAT:
        raise _read_error(Path(path), None)
    if meta.get("version") != str(VERSION):
        raise CorrespondentsError(
            f"{path}: correspondents store of version {meta.get('version')}, this leakguard "
            f"reads version {VERSION}; rebuild it with leakguard learn.",
            fr=f"{path} : fichier de correspondants en version {meta.get('version')}, cette "
            f"version de leakguard lit la version {VERSION} ; recréez-le avec leakguard learn.",
        )
    return meta


def _read_error(path: Path, exc: BaseException | None) -> CorrespondentsError:
    why = f" ({exc})" if exc is not None else ""
    return CorrespondentsError(
        f"{path}: not a correspondents store made by leakguard learn{why}.",
        # The reader's own detail is English: the French text goes without it.
        fr=f"{path} : ce n'est pas un fichier de correspondants créé par leakguard learn.",
    )


def _write_error(path: Path, exc: BaseException) -> CorrespondentsError:
    return CorrespondentsError(
        f"{path}: cannot write the correspondents store ({exc}).",
        fr=f"{path} : impossible d'écrire le fichier de correspondants ({exc}).",
    )
