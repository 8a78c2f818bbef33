"""The colleagues' directory: who may receive patient data, one canonical address each.

Loaded from a CSV (plain or an Outlook contacts export), a plain list, vCard or LDIF.
Every line that cannot be used - an invalid address, a duplicate - is kept as an issue
with its line number instead of being dropped in silence.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from leakguard._recipients import addresses as _addr
from leakguard._recipients.loaders import (
    DirectoryLoadError,
    RawEntry,
    RawProblem,
    read_directory_file,
)

__all__ = ["Colleague", "Directory", "DirectoryIssue", "DirectoryLoadError"]

_SHOWN_MAX = 120
_DIGITS_SHOWN_MAX = 6


@dataclass(frozen=True, slots=True)
class Colleague:
    """One colleague: a canonical address and, when known, a name."""

    address: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class DirectoryIssue:
    """A line of a directory file that was not used, and why (English and French)."""

    line: int
    reason: str
    reason_fr: str

    def message(self, lang: str = "en") -> str:
        if lang == "fr":
            return f"ligne {self.line} : {self.reason_fr}"
        return f"line {self.line}: {self.reason}"


def _shown(text: str) -> str:
    text = text.replace("\n", " ").replace("\r", " ")
    if sum(c.isdigit() for c in text) >= _DIGITS_SHOWN_MAX:
        # A cell full of digits may be a patient's number put in the wrong column:
        # it is echoed in messages, so its digits are hidden.
        text = "".join("•" if c.isdigit() else c for c in text)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


class Directory:
    """The colleagues, each under one canonical address (see ``normalise``).

    Build it with ``Directory.load(path)`` or ``Directory.from_addresses(entries)``.
    ``issues`` lists the lines that were not used, in line order.
    """

    __slots__ = ("_addresses", "_domains", "_ids", "_names", "issues", "source")

    def __init__(
        self,
        addresses: list[str],
        names: list[str | None],
        issues: Sequence[DirectoryIssue],
        source: str | None,
    ) -> None:
        self._addresses = addresses
        self._names = names
        self._ids = {a: i for i, a in enumerate(addresses)}
        self._domains: frozenset[str] | None = None
        self.issues: tuple[DirectoryIssue, ...] = tuple(sorted(issues, key=lambda i: i.line))
        self.source = source

    # ------------------------------------------------------------------ building

    @staticmethod
    def normalise(address: str, /) -> str:
        """The canonical form of an address, or ``ValueError`` with email-validator's reason.

        Syntax only, never DNS. The domain takes its Unicode (IDNA) form in lower case,
        so ``xn--`` labels and ``BÜCHER.example`` both read ``bücher.example``; the local
        part is lower-cased too, since a case difference is never a different colleague.
        """
        return _addr.strict(address)

    @classmethod
    def _build(
        cls, entries: Iterable[RawEntry], problems: Iterable[RawProblem], source: str | None
    ) -> Directory:
        addresses: list[str] = []
        names: list[str | None] = []
        first_line: list[int] = []
        seen: dict[str, int] = {}
        issues = [DirectoryIssue(p.line, p.reason, p.reason_fr) for p in problems]
        strict = _addr.strict
        for entry in entries:
            try:
                address = strict(entry.address)
            except _addr.InvalidAddress as exc:
                shown = _shown(entry.address)
                issues.append(
                    DirectoryIssue(
                        entry.line,
                        f"invalid e-mail address {shown!r}: {exc}",
                        f"adresse électronique invalide « {shown} »",
                    )
                )
                continue
            known = seen.get(address)
            if known is not None:
                issues.append(
                    DirectoryIssue(
                        entry.line,
                        f"duplicate of line {first_line[known]} ({_shown(address)})",
                        f"doublon de la ligne {first_line[known]} ({_shown(address)})",
                    )
                )
                if names[known] is None and entry.name:
                    names[known] = entry.name
                continue
            seen[address] = len(addresses)
            addresses.append(address)
            names.append((entry.name.strip() or None) if entry.name else None)
            first_line.append(entry.line)
        del seen
        return cls(addresses, names, issues, source)

    @classmethod
    def load(cls, path: str | os.PathLike[str], /) -> Directory:
        """Read a colleagues' file: CSV, plain list, vCard (``.vcf``) or LDIF (``.ldif``).

        The format comes from the suffix, else from the content. Raises
        ``DirectoryError`` (a ``DirectoryLoadError``, with ``message_fr``) when the file
        cannot be used at all: missing, binary, empty, no e-mail column, or not one
        valid address.
        """
        shown, (entries, problems) = read_directory_file(path)
        directory = cls._build(entries, problems, shown)
        if not directory._addresses:
            if directory.issues:
                first = directory.issues[0]
                raise DirectoryLoadError(
                    f"{shown}: no valid e-mail address; first problem at line "
                    f"{first.line}: {first.reason.rstrip('.')}.",
                    f"{shown} : aucune adresse électronique valide ; premier problème à la "
                    f"ligne {first.line} : {first.reason_fr.rstrip('.')}.",
                )
            raise DirectoryLoadError(
                f"{shown}: no e-mail address found.",
                f"{shown} : aucune adresse électronique trouvée.",
            )
        return directory

    @classmethod
    def from_addresses(cls, entries: Iterable[str | tuple[str, str | None]], /) -> Directory:
        """A directory from addresses or ``(address, name)`` pairs.

        Problems are reported in ``issues`` with the entry's position (from 1) as line.
        """

        def raw() -> Iterator[RawEntry]:
            for position, item in enumerate(entries, start=1):
                if isinstance(item, str):
                    yield RawEntry(position, item, None)
                else:
                    yield RawEntry(position, item[0], item[1])

        return cls._build(raw(), (), None)

    # ------------------------------------------------------------------ reading

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        return _addr.lenient(address) in self._ids

    def __len__(self) -> int:
        return len(self._addresses)

    def __iter__(self) -> Iterator[Colleague]:
        for address, name in zip(self._addresses, self._names, strict=True):
            yield Colleague(address, name)

    def get(self, address: str, /) -> Colleague | None:
        """The colleague with this address (any spelling of it), if there is one."""
        i = self._ids.get(_addr.lenient(address))
        return None if i is None else Colleague(self._addresses[i], self._names[i])

    @property
    def domains(self) -> frozenset[str]:
        """Every domain at which some colleague has an address."""
        if self._domains is None:
            self._domains = frozenset(a.rpartition("@")[2] for a in self._addresses)
        return self._domains

    def __repr__(self) -> str:
        return f"Directory(colleagues={len(self)}, issues={len(self.issues)})"
