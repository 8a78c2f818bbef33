"""Lookalike recipients: addresses a keystroke or a homoglyph away from a colleague's.

``RecipientGuard`` indexes a directory once (deletion variants, confusable skeletons,
names) and then checks each recipient of a message in a few tens of microseconds,
finding exactly what an exhaustive comparison with every colleague would find.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from leakguard._recipients import addresses as _addr
from leakguard._recipients.directory import Directory
from leakguard._recipients.index import (
    DeletionIndex,
    HashIndex,
    string_hash,
    variant_hash_array,
    variant_hashes,
)
from leakguard._recipients.skeleton import skeleton, skeletons
from leakguard._recipients.typo_domains import TRUE_DOMAINS, typo_domains
from leakguard.core import Finding, Location, Severity

__all__ = ["Lookalike", "RecipientGuard", "name_key"]

_MAX_DISPLAY = 1000  # no person is named that long; bounds the work on a hostile header
_TITLES = frozenset(
    {
        "dr",
        "docteur",
        "doctor",
        "pr",
        "professeur",
        "prof",
        "m",
        "mr",
        "mrs",
        "ms",
        "mme",
        "mlle",
        "madame",
        "monsieur",
        "mademoiselle",
    }
)


def name_key(name: str, /) -> str:
    """A person's name reduced for comparison: no accents, case, titles or word order.

    ``"DUPONT, Jérôme"``, ``"Dr Jerome Dupont"`` and ``"jérôme dupont"`` agree.
    """
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    words = "".join(c if c.isalnum() else " " for c in text).split()
    words = [w for w in words if w not in _TITLES]
    key = " ".join(sorted(words))
    return key if sum(len(w) for w in words) >= 3 else ""


@dataclass(frozen=True, slots=True, order=True)
class Lookalike:
    """A colleague's address close to a recipient: edit distance, and whether only the
    confusable skeletons agree (``homoglyph``)."""

    distance: int
    address: str
    homoglyph: bool = False


class RecipientGuard:
    """Checks recipients against the colleagues' directory.

    - ``max_distance``: edit distance (optimal string alignment) at which a
      non-colleague is a lookalike of a colleague's address (0 to 2, default 1);
    - ``long_address_distance``: the distance for colleagues' addresses of at least
      ``long_address_length`` characters (None: same as ``max_distance``);
    - ``acknowledged``: ``(recipient, colleague address or domain)`` pairs known to be
      different people, never reported;
    - ``extra_typo_domains``: more ``mistyped domain -> right domain`` entries.
    """

    __slots__ = (
        "_ack",
        "_addresses",
        "_directory",
        "_domain_skeletons",
        "_domains",
        "_edits",
        "_ids",
        "_long_distance",
        "_long_length",
        "_longest",
        "_max_distance",
        "_name_index",
        "_names",
        "_skeletons",
        "_typos",
    )

    def __init__(
        self,
        directory: Directory,
        /,
        *,
        max_distance: int = 1,
        long_address_distance: int | None = None,
        long_address_length: int = 24,
        acknowledged: Iterable[tuple[str, str]] = (),
        extra_typo_domains: Mapping[str, str] | None = None,
    ) -> None:
        for label, value in (
            ("max_distance", max_distance),
            ("long_address_distance", long_address_distance),
        ):
            if value is not None and not 0 <= value <= 2:
                raise ValueError(f"{label} must be 0, 1 or 2, not {value}")
        if long_address_length < 1:
            raise ValueError(f"long_address_length must be at least 1, not {long_address_length}")
        self._directory = directory
        self._ids = directory._ids
        self._max_distance = max_distance
        self._long_distance = long_address_distance
        self._long_length = long_address_length
        addresses = directory._addresses
        names = directory._names
        self._addresses = addresses
        self._names = names
        size = len(addresses)
        self._longest = max(map(len, addresses), default=0)
        if long_address_distance is None:
            depths: list[int] | int = max_distance
        else:
            depths = [self._threshold(a) for a in addresses]
        self._edits = DeletionIndex.build(addresses, depths)
        self._skeletons = HashIndex.from_strings(skeletons(addresses), range(size), size=size)
        keyed = [(i, name_key(n)) for i, n in enumerate(names) if n]
        keyed = [(i, k) for i, k in keyed if k]
        self._name_index = HashIndex.from_strings(
            (k for _, k in keyed), (i for i, _ in keyed), size=size
        )
        self._domains = directory.domains
        known = set(TRUE_DOMAINS) | set(self._domains)
        self._domain_skeletons: dict[str, str] = {}
        for domain in sorted(known):
            self._domain_skeletons.setdefault(skeleton(domain), domain)
        typos = dict(typo_domains())
        for typo, right in (extra_typo_domains or {}).items():
            typos[_domain(typo)] = _domain(right)
        self._typos = {t: r for t, r in typos.items() if t not in known and t != r}
        self._ack: set[tuple[str, str]] = set()
        for recipient, other in acknowledged:
            a, b = _addr.lenient(recipient), _addr.lenient(other)
            self._ack.add((a, b))
            self._ack.add((b, a))

    def __repr__(self) -> str:
        return (
            f"RecipientGuard(colleagues={len(self._addresses)}, max_distance="
            f"{self._max_distance}, long_address_distance={self._long_distance})"
        )

    @property
    def index_bytes(self) -> int:
        """Memory held by the arrays of the indexes."""
        return self._edits.nbytes + self._skeletons.nbytes + self._name_index.nbytes

    # ------------------------------------------------------------------ search

    def _threshold(self, colleague: str) -> int:
        if self._long_distance is not None and len(colleague) >= self._long_length:
            return self._long_distance
        return self._max_distance

    def _query_depth(self, address: str) -> int:
        depth = self._max_distance
        long = self._long_distance
        if long is not None and len(address) + long >= self._long_length:
            depth = max(depth, long)
        return depth

    def lookalikes(self, address: str, /) -> list[Lookalike]:
        """Every colleague's address within its edit threshold of ``address`` or with the
        same confusable skeleton, nearest first; empty for a colleague's own address.

        Exactly what comparing ``address`` with every colleague would give.
        """
        r = _addr.lenient(address)
        if r in self._ids:
            return []
        return self._lookalikes(r)

    def _lookalikes(self, r: str) -> list[Lookalike]:
        addresses = self._addresses
        found: dict[int, Lookalike] = {}
        uniform = self._long_distance is None
        depth = self._max_distance if uniform else self._query_depth(r)
        # Longer than every colleague's address by more than the distance: nothing can
        # be near, and an absurdly long recipient costs no work.
        if len(r) > self._longest + depth:
            candidates: set[int] = set()
        elif depth >= 2:
            # Hundreds of variants: vector operations beat a Python loop.
            candidates = self._edits.lookup_many(variant_hash_array(r, depth))
        else:
            candidates = self._edits.lookup(variant_hashes(r, depth))
        for i in candidates:
            c = addresses[i]
            limit = self._max_distance if uniform else self._threshold(c)
            d = OSA.distance(r, c, score_cutoff=limit)
            if d <= limit and c != r:
                found[i] = Lookalike(d, c)
        sk = skeleton(r)
        for i in self._skeletons.lookup((string_hash(sk),)):
            c = addresses[i]
            if i not in found and c != r and skeleton(c) == sk:
                found[i] = Lookalike(OSA.distance(r, c), c, homoglyph=True)
        return sorted(found.values())

    def _acknowledged(self, recipient: str, other: str) -> bool:
        return (recipient, other) in self._ack

    # ------------------------------------------------------------------ findings

    def check(self, recipients: Iterable[tuple[str, str, Location]], /) -> list[Finding]:
        """Findings for ``(display name, address, location)`` recipients.

        A colleague's own address never gives a finding. Each other recipient gives at
        most one finding of each kind: ``lookalike_recipient`` (high), ``lookalike_domain``
        (high) and ``display_name_mismatch`` (medium).
        """
        findings: list[Finding] = []
        for display, address, location in recipients:
            findings.extend(self._check_one(display or "", address, location))
        return findings

    def _check_one(self, display: str, address: str, location: Location) -> list[Finding]:
        r = _addr.lenient(address)
        if r in self._ids:
            return []
        local, _, domain = r.rpartition("@")
        out: list[Finding] = []
        near: Lookalike | None = None
        near_domain: tuple[str, str] | None = None  # (suggested domain, colleague)
        for match in self._lookalikes(r):
            if self._acknowledged(r, match.address):
                continue
            c_local, c_domain = _addr.local_of(match.address), _addr.domain_of(match.address)
            if c_local == local and c_domain != domain:
                if near_domain is None and not self._acknowledged(r, c_domain):
                    near_domain = (c_domain, match.address)
            elif near is None:
                near = match
        if near is not None:
            out.append(
                Finding(
                    kind="lookalike_recipient",
                    location=location,
                    severity=Severity.HIGH,
                    recipient=r,
                    similar_to=near.address,
                    distance=near.distance,
                    detail="homoglyph" if near.homoglyph else None,
                )
            )
        suggestion = near_domain[0] if near_domain is not None else self._domain_suggestion(domain)
        if suggestion is not None and not self._acknowledged(r, suggestion):
            out.append(
                Finding(
                    kind="lookalike_domain",
                    location=location,
                    severity=Severity.HIGH,
                    recipient=r,
                    similar_to=suggestion,
                )
            )
        named = self._named_colleague(display, r)
        if named is not None:
            out.append(
                Finding(
                    kind="display_name_mismatch",
                    location=location,
                    severity=Severity.MEDIUM,
                    recipient=r,
                    similar_to=named,
                )
            )
        return out

    def _domain_suggestion(self, domain: str) -> str | None:
        """The known domain that ``domain`` mimics: a homoglyph of it, a known typo, or
        the known domain followed by two labels or more of another one
        (``clinique-exemple.fr.example.net``; a country's copy such as ``yahoo.com.br``
        adds one label and is left)."""
        if not domain or domain in self._domains:
            return None
        twin = self._domain_skeletons.get(skeleton(domain))
        if twin is not None and twin != domain:
            return twin
        typo = self._typos.get(domain)
        if typo is not None:
            return typo
        labels = domain.split(".")
        for end in range(len(labels) - 2, 1, -1):
            head = ".".join(labels[:end])
            if head in self._domains:
                return head
        return None

    def _named_colleague(self, display: str, r: str) -> str | None:
        """The colleague whose name (or address) the display name shows, if not ``r``'s."""
        display = display.strip().strip("\"'")
        if not display or len(display) > _MAX_DISPLAY:
            return None
        if "@" in display:
            shown = _addr.lenient(display.strip("<>"))
            if shown != r and shown in self._ids and not self._acknowledged(r, shown):
                return shown
            return None
        key = name_key(display)
        if not key:
            return None
        best: tuple[str, str] | None = None
        for i in self._name_index.lookup((string_hash(key),)):
            name = self._names[i]
            c = self._addresses[i]
            if (
                name
                and name_key(name) == key
                and not self._acknowledged(r, c)
                and (best is None or c < best[1])
            ):
                best = (name, c)
        return None if best is None else f"{best[0]} <{best[1]}>"


def _domain(text: str) -> str:
    return _addr.domain_of(_addr.lenient("x@" + text.strip().lstrip("@")))
