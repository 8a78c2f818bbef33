"""The national MSSanté directory: which addresses are real secure health mailboxes.

``HealthDirectory.load`` reads the ANS extraction (``.txt`` or ``.zip``) once and keeps
compact arrays: the addresses in one byte blob, hash indexes for exact addresses and
professionals' names, and the look-alike deletion index over local parts. The arrays are
saved in a cache next to the file and mapped from it at the next start, so a service
starts in a fraction of a second and shares the pages between its processes.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import logging
import mmap
import os
import re
import tempfile
import unicodedata
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import OSA

from leakguard._recipients import addresses as _addr
from leakguard._recipients.directory import DirectoryIssue
from leakguard._recipients.index import DeletionIndex, HashIndex, string_hash, variant_hashes
from leakguard._recipients.mssante_file import (
    ADDRESS,
    CIVILITY,
    FIRST,
    LAST,
    PROFESSION,
    TYPE,
    Extraction,
    Row,
    Tally,
    open_extraction,
    read_rows,
)
from leakguard._recipients.skeleton import skeleton
from leakguard.core import Finding, Location, Severity, Suggestion

__all__ = [
    "CACHE_SUFFIX",
    "STALE_DAYS",
    "HealthDirectory",
    "Professionals",
    "cache_header",
    "person_key",
]

log = logging.getLogger("leakguard")

#: The cache is written next to the extraction, under its name plus this suffix.
CACHE_SUFFIX = ".leakguard-cache"
#: A directory older than this many days is reported as out of date.
STALE_DAYS = 30
#: Suggestions a finding lists when several professionals share a name.
SHOWN = 3

_MAGIC = b"LEAKGUARD-MSSANTE\n"
_FORMAT = 2
_ALIGN = 64
_MAX_NAME = 200  # no display name of a person is longer; bounds the work on a hostile header

_TITLES = frozenset(
    "dr dre docteur doctor pr professeur prof m mr mrs ms mme mlle madame monsieur "
    "mademoiselle".split()
)
_CIVILITY_SHOWN = {
    "DR": "Dr",
    "DOCTEUR": "Dr",
    "PR": "Pr",
    "PROFESSEUR": "Pr",
    "M": "M.",
    "MR": "M.",
    "MONSIEUR": "M.",
    "MME": "Mme",
    "MADAME": "Mme",
    "MLLE": "Mlle",
}
# Letters whose upper case folds back to another letter (dotless i: ı -> I -> i).
_FOLD = str.maketrans({"ı": "i"})
_ORIGIN = {
    "name": ("from the file name", "d'après le nom du fichier"),
    "mtime": ("from the file's time", "d'après la date du fichier"),
    "given": ("as given", "tel qu'indiqué"),
}
_PARENS = re.compile(r"\([^()\n]*\)|\[[^\[\]\n]*\]")
_COMBINING = re.compile(r"[\u0300-\u036f]+")
_NOT_WORD = re.compile(r"[^\w\n]|_")
_DROPPED = re.compile(r"\b(?:" + "|".join(sorted(_TITLES)) + r"|\w)\b")

U8 = npt.NDArray[np.uint8]


def _deletions(text: str) -> set[str]:
    """``text`` and every string one deletion from it."""
    return {text, *(text[:i] + text[i + 1 :] for i in range(len(text)))}


def _person_keys(names: Sequence[str]) -> list[str]:
    """``person_key`` of many names at once: the text-wide steps run once, at C speed."""
    if not names:
        return []
    text = "\n".join(n.replace("\n", " ")[:_MAX_NAME] for n in names)
    text = _PARENS.sub(" ", text)
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold().translate(_FOLD)
    # Punctuation, civilities and initials go: what is left must name someone.
    text = _DROPPED.sub(" ", _NOT_WORD.sub(" ", text))
    keys = []
    for line in text.split("\n"):
        words = line.split()
        if 2 <= len(words) <= 8:
            words.sort()
            keys.append(" ".join(words))
        else:
            keys.append("")
    return keys


def person_key(name: str, /) -> str:
    """A person's name for comparison: no accents, case, civility or word order.

    ``"Dr Jérôme DUPONT"``, ``"DUPONT Jerome"`` and ``"jérôme dupont (cabinet)"`` agree.
    Civilities and initials are dropped; empty when fewer than two words are left, so
    that a name that cannot single anyone out (``"Martin"``, ``"Dr Martin"``,
    ``"J. Martin"``) matches nobody.
    """
    return _person_keys([name])[0]


@dataclass(frozen=True, slots=True)
class Professionals:
    """The directory's answer for a name: how many mailboxes, and the first few."""

    count: int
    shown: tuple[Suggestion, ...]


@dataclass(frozen=True, slots=True)
class _Near:
    distance: int
    address: str
    homoglyph: bool


def _blob(strings: Sequence[str]) -> tuple[U8, npt.NDArray[np.uint64]]:
    """The strings' UTF-8 bytes end to end, and where each one starts (plus the end)."""
    offsets = np.zeros(len(strings) + 1, dtype=np.uint64)
    if not strings:
        return np.zeros(0, dtype=np.uint8), offsets
    joined = np.frombuffer("\0".join(strings).encode("utf-8"), dtype=np.uint8)
    ends = np.flatnonzero(joined == 0)
    if len(ends) == len(strings) - 1:
        keep = np.ones(len(joined), dtype=bool)
        keep[ends] = False
        # Each separator dropped moves the later starts one byte back.
        offsets[1:-1] = ends - np.arange(len(ends))
        offsets[-1] = len(joined) - len(ends)
        return joined[keep], offsets
    encoded = [s.encode("utf-8") for s in strings]  # a NUL inside a string: one by one
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.uint64, count=len(encoded)), out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _string(view: tuple[memoryview, memoryview], i: int, /) -> str:
    """String ``i`` of a blob and its offsets, read through memory views: slicing them
    costs a fraction of slicing the numpy arrays."""
    blob, offsets = view
    return str(blob[offsets[i] : offsets[i + 1]], "utf-8")


def _hashes(strings: Sequence[str]) -> npt.NDArray[np.uint64]:
    """``string_hash`` of each string (one C-speed call each: cheaper than in columns)."""
    return np.fromiter(map(string_hash, strings), dtype=np.uint64, count=len(strings))


def _index_state(index: HashIndex) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    id_bits, keys, offsets, shift = index.__getstate__()
    return {"id_bits": id_bits, "shift": shift}, {"keys": keys, "offsets": offsets}


def _index_from(
    cls: type[HashIndex], meta: dict[str, Any], keys: npt.NDArray[Any], offsets: npt.NDArray[Any]
) -> HashIndex:
    index = cls.__new__(cls)
    index.__setstate__((int(meta["id_bits"]), keys, offsets, int(meta["shift"])))
    return index


def _source_digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class HealthDirectory:
    """The national MSSanté directory, ready for look-ups in microseconds.

    Build it with ``HealthDirectory.load(path)``. ``len()`` is the number of distinct
    addresses; ``address in directory`` says whether an address is listed. Reading it
    never logs anything of its content: the rows that could not be used are counted
    (``bad_rows``, ``bad_by_reason``) and the first ones listed in ``issues`` with their
    line number and reason only.
    """

    __slots__ = (
        "_addr_blob",
        "_addr_off",
        "_addr_view",
        "_arrays",
        "_civilities",
        "_domain_neighbours",
        "_domain_skeletons",
        "_domain_variants",
        "_domains",
        "_edits",
        "_exact",
        "_key_view",
        "_local_blob",
        "_local_off",
        "_local_view",
        "_meta",
        "_name_blob",
        "_name_index",
        "_name_off",
        "_name_view",
        "_person_addr",
        "_person_civ",
        "_person_prof",
        "_professions",
        "_size",
        "cache",
        "generated",
        "generated_from",
        "source",
    )

    def __init__(
        self, arrays: dict[str, npt.NDArray[Any]], meta: dict[str, Any], *, cache: str = "off"
    ) -> None:
        self._meta = meta
        self._arrays = arrays
        self._addr_blob = arrays["addr_blob"]
        self._addr_off = arrays["addr_off"]
        self._local_blob = arrays["local_blob"]
        self._local_off = arrays["local_off"]
        self._name_blob = arrays["name_blob"]
        self._name_off = arrays["name_off"]
        self._person_addr = arrays["person_addr"]
        self._person_civ = arrays["person_civ"]
        self._person_prof = arrays["person_prof"]
        self._addr_view = (self._addr_blob.data, self._addr_off.data)
        self._local_view = (self._local_blob.data, self._local_off.data)
        self._name_view = (self._name_blob.data, self._name_off.data)
        self._key_view = (arrays["key_blob"].data, arrays["key_off"].data)
        self._size = len(self._addr_off) - 1
        indexes = meta["indexes"]
        self._exact = _index_from(
            HashIndex, indexes["exact"], arrays["exact_keys"], arrays["exact_offsets"]
        )
        self._edits = _index_from(
            DeletionIndex, indexes["edits"], arrays["edits_keys"], arrays["edits_offsets"]
        )
        self._name_index = _index_from(
            HashIndex, indexes["names"], arrays["names_keys"], arrays["names_offsets"]
        )
        self._civilities: list[str] = meta["civilities"]
        self._professions: list[str] = meta["professions"]
        domains: list[str] = meta["domains"]
        self._domains = frozenset(domains)
        # A few thousand domains: their one-deletion variants fit in a plain dict, and the
        # neighbours of each directory domain are known in advance.
        self._domain_variants: dict[str, list[str]] = {}
        for domain in domains:
            for variant in _deletions(domain):
                self._domain_variants.setdefault(variant, []).append(domain)
        self._domain_neighbours: dict[str, list[str]] = {}
        for domain in domains:
            near = self._near_domains(domain)
            if near:
                self._domain_neighbours[domain] = near
        self._domain_skeletons: dict[str, str] = {}
        for domain in domains:
            self._domain_skeletons.setdefault(skeleton(domain), domain)
        self.source: str | None = meta.get("source")
        generated = meta.get("generated")
        #: When the ANS generated the extraction (naive local time), if known.
        self.generated: datetime | None = datetime.fromisoformat(generated) if generated else None
        #: Where ``generated`` was read: ``"name"`` (the file's or the ZIP member's name,
        #: ``Extraction_Correspondance_MSSante_AAAAMMJJhhmm``), ``"mtime"`` (the file's
        #: modification time) or ``"given"`` (``from_text``).
        self.generated_from: str = meta.get("generated_from", "mtime")
        #: How the arrays were obtained: ``"loaded"`` from the cache, ``"built"`` and
        #: saved, ``"unwritable"`` (built, the cache could not be saved) or ``"off"``.
        self.cache = cache

    # ------------------------------------------------------------------ building

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], /, *, cache: bool | str | os.PathLike[str] = True
    ) -> HealthDirectory:
        """Read the extraction at ``path`` (the ANS ``.zip`` or its ``.txt``).

        ``cache``: True keeps the compiled arrays in ``<path>.leakguard-cache`` (used
        when the file's size, time and SHA-256 still match; rebuilt otherwise), a path
        puts them there, False never writes one. A cache that cannot be written only
        costs the build at the next start. Raises ``DirectoryError`` (a
        ``DirectoryLoadError``) naming the file when it is missing, not the extraction
        (its header), a damaged ZIP, or holds no usable row.
        """
        p = Path(path)
        target = None
        if cache is True:
            target = p.with_name(p.name + CACHE_SUFFIX)
        elif cache is not False:
            target = Path(cache)
        digest = ""
        if target is not None:
            with contextlib.suppress(OSError):
                stat = p.stat()
                digest = _source_digest(p)
                found = _read_cache(target, stat.st_size, stat.st_mtime_ns, digest)
                if found is not None:
                    arrays, meta = found
                    meta["source"] = str(p)
                    if meta.get("generated_from") == "mtime":
                        meta["generated"] = datetime.fromtimestamp(stat.st_mtime).isoformat()
                    return cls(arrays, meta, cache="loaded")
        with open_extraction(p) as (extraction, text):
            stat = p.stat()
            tally = Tally()
            arrays, meta = _build(read_rows(text, tally, str(p)), tally, extraction)
        if not meta["addresses"]:
            from leakguard._recipients.loaders import DirectoryLoadError

            raise DirectoryLoadError(
                f"{p}: no usable row in the MSSanté extraction.",
                f"{p} : aucune ligne utilisable dans l'extraction MSSanté.",
            )
        state = "off"
        if target is not None:
            meta["key"] = {
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "sha256": digest or _source_digest(p),
            }
            try:
                _write_cache(target, arrays, meta)
                state = "built"
                # Map what was just written and let the built arrays go: the pages then
                # belong to the file, shared by the processes of a service.
                stat = p.stat()
                mapped = _read_cache(target, stat.st_size, stat.st_mtime_ns, meta["key"]["sha256"])
                if mapped is not None:
                    arrays, meta = mapped
                    meta["source"] = str(p)
            except OSError as exc:
                # Only the file names and the reason: nothing of the directory's content.
                log.warning("cannot write the MSSanté cache %s: %s", target, exc.strerror or exc)
                state = "unwritable"
        return cls(arrays, meta, cache=state)

    @classmethod
    def from_text(
        cls, text: str, /, *, generated: datetime | None = None, source: str = "<text>"
    ) -> HealthDirectory:
        """A directory from the text of an extraction held in memory (header line first);
        ``generated`` stands for the generation time. Nothing is cached."""
        tally = Tally()
        extraction = Extraction(source, "txt", None, generated, "given")
        rows = read_rows(io.StringIO(text, newline=""), tally, source)
        arrays, meta = _build(rows, tally, extraction)
        return cls(arrays, meta)

    def __reduce__(self) -> tuple[Any, ...]:
        # Memory views cannot be pickled: a copy is made again from the arrays (copied
        # out of the cache), for a worker process that did not inherit them.
        return (type(self), (dict(self._arrays), dict(self._meta)), {"cache": self.cache})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.cache = state["cache"]

    # ------------------------------------------------------------------ facts

    def __len__(self) -> int:
        return int(self._meta["addresses"])

    def __repr__(self) -> str:
        when = self.generated.strftime("%Y-%m-%d %H:%M") if self.generated else "?"
        return f"HealthDirectory(addresses={len(self)}, generated={when!r}, cache={self.cache!r})"

    @property
    def rows(self) -> int:
        """Rows used (an address may be on several)."""
        return int(self._meta["rows"])

    @property
    def personal(self) -> int:
        """Distinct personal (PER) mailboxes."""
        return int(self._meta["per"])

    @property
    def organisational(self) -> int:
        """Distinct organisational (ORG) mailboxes."""
        return int(self._meta["org"])

    @property
    def bad_rows(self) -> int:
        """Rows that could not be used (wrong column count, no address, bad type)."""
        return sum(self.bad_by_reason.values())

    @property
    def bad_by_reason(self) -> dict[str, int]:
        """Unusable rows per reason: ``columns``, ``address``, ``invalid``, ``type``."""
        return dict(self._meta["bad"])

    @property
    def issues(self) -> tuple[DirectoryIssue, ...]:
        """The first unusable rows, with their line numbers and reasons (never content)."""
        return tuple(
            DirectoryIssue(line, Tally.reason(reason), Tally.reason(reason, "fr"))
            for line, reason in self._meta["issues"]
        )

    @property
    def date(self) -> str | None:
        """The generation date, ``YYYY-MM-DD``."""
        return self.generated.date().isoformat() if self.generated else None

    def age_days(self, now: datetime | None = None) -> int | None:
        """Whole days since the extraction was generated."""
        if self.generated is None:
            return None
        return max(0, ((now or datetime.now()) - self.generated).days)

    def stale(self, now: datetime | None = None) -> bool:
        """Older than ``STALE_DAYS``: time to run ``leakguard health-directory fetch``."""
        age = self.age_days(now)
        return age is not None and age > STALE_DAYS

    def describe(self, lang: str = "en") -> str:
        """One line for a person: size, generation date and where that date was read."""
        when = self.generated.strftime("%Y-%m-%d %H:%M") if self.generated else "?"
        n = f"{len(self):,}".replace(",", " " if lang == "fr" else ",")
        en, fr = _ORIGIN.get(self.generated_from, _ORIGIN["mtime"])
        if lang == "fr":
            return f"annuaire MSSanté : {n} adresses, généré le {when} ({fr})"
        return f"MSSanté directory: {n} addresses, generated {when} ({en})"

    def health(self, now: datetime | None = None) -> dict[str, Any]:
        """The facts a service shows on its health page (nothing of the content)."""
        return {
            "generated": self.generated.isoformat(timespec="minutes") if self.generated else None,
            "generated_from": self.generated_from,
            "age_days": self.age_days(now),
            "stale": self.stale(now),
            "addresses": len(self),
        }

    # ------------------------------------------------------------------ look-ups

    def _address(self, i: int) -> str:
        return _string(self._addr_view, i)

    def _local(self, i: int) -> str:
        return _string(self._local_view, i)

    def _key(self, i: int) -> str:
        return _string(self._key_view, i)

    def _name(self, i: int) -> str:
        return _string(self._name_view, i)

    def _find(self, address: str) -> int | None:
        """The number of a canonical address, if listed."""
        n = self._size
        for i in self._exact.lookup((string_hash(address),)):
            if i < n and self._address(i) == address:
                return i
        return None

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        return self._find(_addr.lenient(address)) is not None

    def listed(self, addresses: Iterable[str], /) -> set[str]:
        """Those of ``addresses`` (canonical forms, as ``Directory.normalise`` gives)
        that are in the directory."""
        return {a for a in addresses if self._find(a) is not None}

    def is_mssante_domain(self, domain: str, /) -> bool:
        """An MSSanté domain: ``mssante.fr``, one of its subdomains, or a directory domain."""
        d = domain.lower().rstrip(".")
        return d == "mssante.fr" or d.endswith(".mssante.fr") or d in self._domains

    def lookalike(self, address: str, /) -> tuple[str, int] | None:
        """The listed address one keystroke (or a look-alike domain) from ``address``, with
        the edit distance; None when there is none or ``address`` is itself listed."""
        r = _addr.lenient(address)
        if self._find(r) is not None:
            return None
        near = self._near(r)
        return (near[0].address, near[0].distance) if near else None

    def _near(self, r: str) -> list[_Near]:
        """Listed addresses within one edit of ``r`` (optimal string alignment) or at the
        same local part in a domain that looks the same, nearest first.

        Every single edit of an address either stays in the local part, stays in the
        domain, or swaps a character with the ``@``: the local parts are searched in
        the deletion index, the domains among the directory's few thousand, and the two
        swaps looked up directly.
        """
        local, at, domain = r.rpartition("@")
        if not at or not local or not domain or len(r) > 320:
            return []
        found: dict[str, _Near] = {}

        def listed(candidate: str, homoglyph: bool = False) -> None:
            if candidate != r and candidate not in found and self._find(candidate) is not None:
                found[candidate] = _Near(OSA.distance(r, candidate), candidate, homoglyph)

        known_domain = domain in self._domains
        if known_domain:
            locals_ = len(self._local_off) - 1
            for j in self._edits.lookup(variant_hashes(local, 1)):
                other = self._local(j) if j < locals_ else ""
                if other != local and OSA.distance(local, other, score_cutoff=1) <= 1:
                    listed(f"{other}@{domain}")
        neighbours = (
            self._domain_neighbours.get(domain, ()) if known_domain else self._near_domains(domain)
        )
        for other_domain in neighbours:
            listed(f"{local}@{other_domain}")
        if not known_domain:
            twin = self._domain_skeletons.get(skeleton(domain))
            if twin is not None and twin != domain:
                listed(f"{local}@{twin}", homoglyph=True)
        listed(f"{local[:-1]}@{local[-1]}{domain}")
        listed(f"{local}{domain[0]}@{domain[1:]}")
        return sorted(found.values(), key=lambda n: (n.distance, n.address))

    def _near_domains(self, domain: str) -> list[str]:
        """The directory's domains one edit from ``domain`` (symmetric deletion)."""
        table = self._domain_variants
        found: set[str] = set()
        for variant in _deletions(domain):
            found.update(table.get(variant, ()))
        found.discard(domain)
        return [d for d in sorted(found) if OSA.distance(domain, d, score_cutoff=1) <= 1]

    def professionals(self, display_name: str, /) -> Professionals:
        """The listed personal mailboxes whose holder bears ``display_name``.

        The name is compared without accents, case, civility or word order, and must
        name someone (see ``person_key``): ``"Martin"`` alone matches nobody.
        """
        if not display_name or len(display_name) > _MAX_NAME or "@" in display_name:
            return Professionals(0, ())
        key = person_key(display_name)
        if not key:
            return Professionals(0, ())
        people = len(self._person_addr)
        ids = sorted(i for i in self._name_index.lookup((string_hash(key),)) if i < people)
        by_address: dict[int, int] = {}
        for i in ids:
            by_address.setdefault(int(self._person_addr[i]), i)
        shown: list[Suggestion] = []
        for a, i in sorted(by_address.items()):
            if len(shown) == SHOWN:
                break
            if self._key(i) != key:  # a hash collision, not this name
                continue
            name = " ".join(self._name(i).split())
            civility = _CIVILITY_SHOWN.get(self._civilities[int(self._person_civ[i])].upper(), "")
            shown.append(
                Suggestion(
                    self._address(a),
                    f"{civility} {name}".strip(),
                    self._professions[int(self._person_prof[i])],
                )
            )
        return Professionals(len(by_address) if shown else 0, tuple(shown))

    # ------------------------------------------------------------------ findings

    def check(
        self,
        recipients: Iterable[tuple[str, Location]],
        /,
        *,
        acknowledged: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
        warn_unknown: Iterable[str] = (),
    ) -> list[Finding]:
        """Findings for ``(canonical address, location)`` recipients that are not listed.

        ``lookalike_recipient`` (detail ``mssante``, high) for one a keystroke or a
        look-alike domain away from a listed mailbox; otherwise ``unknown_secure_address``
        (medium) for one at an MSSanté domain, when it is among ``warn_unknown``.
        """
        unknown = set(warn_unknown)
        out: list[Finding] = []
        date = self.date
        for r, location in recipients:
            if self._find(r) is not None:
                continue
            near = [n for n in self._near(r) if (r, n.address) not in acknowledged]
            if near:
                out.append(
                    Finding(
                        kind="lookalike_recipient",
                        location=location,
                        severity=Severity.HIGH,
                        recipient=r,
                        similar_to=near[0].address,
                        distance=near[0].distance,
                        detail="mssante",
                        directory_date=date,
                    )
                )
            elif r in unknown and self.is_mssante_domain(r.rpartition("@")[2]):
                out.append(
                    Finding(
                        kind="unknown_secure_address",
                        location=location,
                        severity=Severity.MEDIUM,
                        recipient=r,
                        directory_date=date,
                    )
                )
        return out

    def suggest(self, display_name: str, address: str, location: Location, /) -> Finding | None:
        """``secure_address_available`` when ``display_name`` names listed professionals
        (``address``, in canonical form, being a non-secure address that sensitive data
        is going to)."""
        found = self.professionals(display_name)
        if not found.count:
            return None
        one = found.count == 1
        return Finding(
            kind="secure_address_available",
            location=location,
            severity=Severity.MEDIUM,
            recipient=address,
            similar_to=found.shown[0].address if one else str(found.count),
            count=found.count,
            suggestions=found.shown,
            directory_date=self.date,
        )


# ---------------------------------------------------------------------- build


def _build(
    rows: Iterator[Row], tally: Tally, extraction: Extraction
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """The arrays of a directory from its rows; Python objects live only while building."""
    was_enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of small objects that all survive: no cycles
    try:
        ids: dict[str, int] = {}
        kinds = bytearray()
        person_addr = array("I")
        person_civ = bytearray()
        person_prof = array("H")
        names: list[str] = []
        civilities: dict[str, int] = {"": 0}
        professions: dict[str, int] = {"": 0}
        # An address on several lines for one person gives several entries: they are
        # gathered by address when a name is looked up.
        for cells in rows:
            address = cells[ADDRESS]
            i = ids.get(address)
            if i is None:
                i = len(ids)
                ids[address] = i
                kinds.append(0)
            if cells[TYPE] == "ORG":
                kinds[i] |= 2
                continue
            kinds[i] |= 1
            name = f"{cells[FIRST]} {cells[LAST]}".strip()
            if not name:
                continue
            person_addr.append(i)
            civility = cells[CIVILITY]
            c = civilities.get(civility)
            if c is None:
                c = civilities[civility] = len(civilities)
            person_civ.append(c if c < 256 else 0)
            profession = cells[PROFESSION]
            p = professions.get(profession)
            if p is None:
                p = professions[profession] = len(professions)
            person_prof.append(p if p < 65536 else 0)
            names.append(name)
        addresses = list(ids)
        del ids
        n = len(addresses)
        per = sum(1 for k in kinds if k & 1)
        locals_: dict[str, None] = {}
        domains: set[str] = set()
        for a in addresses:
            local, _, domain = a.rpartition("@")
            locals_[local] = None
            domains.add(domain)
        local_list = list(locals_)
        del locals_
        # Each kind of string becomes arrays and is dropped before the next one: the
        # temporary copies of one never add up with the others.
        arrays: dict[str, npt.NDArray[Any]] = {}
        arrays["person_addr"] = np.frombuffer(person_addr.tobytes(), dtype=np.uint32)
        arrays["person_civ"] = np.frombuffer(bytes(person_civ), dtype=np.uint8)
        arrays["person_prof"] = np.frombuffer(person_prof.tobytes(), dtype=np.uint16)
        people = len(person_addr)
        del person_addr, person_civ, person_prof
        arrays["addr_blob"], arrays["addr_off"] = _blob(addresses)
        exact = HashIndex.from_hashes(_hashes(addresses), range(n), size=n)
        del addresses
        arrays["local_blob"], arrays["local_off"] = _blob(local_list)
        edits = DeletionIndex.build(local_list, 1)
        del local_list
        arrays["name_blob"], arrays["name_off"] = _blob(names)
        keys = _person_keys(names)
        del names
        arrays["key_blob"], arrays["key_off"] = _blob(keys)
        keyed = [i for i, k in enumerate(keys) if k]
        name_index = HashIndex.from_hashes(_hashes([keys[i] for i in keyed]), keyed, size=people)
        del keys, keyed
        indexes: dict[str, Any] = {}
        for label, index in (("exact", exact), ("edits", edits), ("names", name_index)):
            indexes[label], parts = _index_state(index)
            arrays[f"{label}_keys"] = parts["keys"]
            arrays[f"{label}_offsets"] = parts["offsets"]
        meta: dict[str, Any] = {
            "format": _FORMAT,
            "source": extraction.path,
            "form": extraction.form,
            "generated": extraction.generated.isoformat() if extraction.generated else None,
            "generated_from": extraction.generated_from,
            "rows": tally.rows,
            "addresses": n,
            "per": per,
            "org": sum(1 for k in kinds if k & 2),
            "bad": dict(tally.bad),
            "issues": [list(i) for i in tally.issues],
            "civilities": [c.strip() for c in civilities],
            "professions": [p.strip() for p in professions],
            "domains": sorted(domains),
            "indexes": indexes,
        }
        return arrays, meta
    finally:
        if was_enabled:
            gc.enable()


# ---------------------------------------------------------------------- cache


def _write_cache(target: Path, arrays: dict[str, npt.NDArray[Any]], meta: dict[str, Any]) -> None:
    """Write the arrays and their description to ``target`` in one step (temp + rename)."""
    layout: dict[str, list[Any]] = {}
    offset = 0
    for name, a in arrays.items():
        offset = -(-offset // _ALIGN) * _ALIGN
        layout[name] = [a.dtype.str, int(a.size), offset]
        offset += a.nbytes
    header = dict(meta, arrays=layout)
    header.pop("source", None)
    text = json.dumps(header, ensure_ascii=False).encode("utf-8")
    start = -(-(len(_MAGIC) + 8 + len(text)) // _ALIGN) * _ALIGN
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_MAGIC + len(text).to_bytes(8, "little") + text)
            out.write(b"\0" * (start - out.tell()))
            for name, a in arrays.items():
                at = start + layout[name][2]
                out.write(b"\0" * (at - out.tell()))
                out.write(np.ascontiguousarray(a).data)  # no copy of the array
        Path(tmp).replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def cache_header(target: Path) -> tuple[dict[str, Any], int] | None:
    """The description saved at the head of a cache file, and where its arrays start."""
    try:
        with target.open("rb") as f:
            head = f.read(len(_MAGIC) + 8)
            if len(head) != len(_MAGIC) + 8 or not head.startswith(_MAGIC):
                return None
            length = int.from_bytes(head[len(_MAGIC) :], "little")
            if length > 64 * 1024 * 1024:
                return None
            meta = json.loads(f.read(length).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(meta, dict):
        return None
    return meta, -(-(len(_MAGIC) + 8 + length) // _ALIGN) * _ALIGN


def _read_cache(
    target: Path, size: int, mtime_ns: int, digest: str
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]] | None:
    """The arrays mapped from ``target`` when it was made from this very source file."""
    found = cache_header(target)
    if found is None:
        return None
    meta, start = found
    key = meta.get("key", {})
    if (
        meta.get("format") != _FORMAT
        or not isinstance(key, dict)
        or key.get("size") != size
        or key.get("mtime_ns") != mtime_ns
        or key.get("sha256") != digest
    ):
        return None
    try:
        with target.open("rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    arrays: dict[str, npt.NDArray[Any]] = {}
    try:
        for name, (dtype, count, offset) in meta.pop("arrays").items():
            kind = np.dtype(dtype)
            at = start + int(offset)
            if at + kind.itemsize * int(count) > len(mapped):
                return None
            arrays[name] = np.frombuffer(mapped, dtype=kind, count=int(count), offset=at)
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    return arrays, meta
