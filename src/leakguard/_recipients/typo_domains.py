"""Public mailbox providers, and the well-known mistypings of their domains.

``PUBLIC_MAILBOX_DOMAINS`` is the one built-in list of webmail services and French
Internet providers. Anyone can open a mailbox there, so such a domain never names an
organisation (the policy does not take a sender's ``gmail.com`` for the clinic's own
domain), and a recipient domain one slip away from one is a typo. The typo families
are generated from the true domains by the slips a hand makes on a keyboard (a key
dropped, doubled, swapped with its neighbour, or a neighbouring key struck instead, on
AZERTY or QWERTY) plus the usual top-level-domain slips, rather than listed by hand; a
true domain is never a typo of another.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

__all__ = ["PUBLIC_MAILBOX_DOMAINS", "TRUE_DOMAINS", "is_public_mailbox", "typo_domains"]

PUBLIC_MAILBOX_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "googlemail.com",
    "hotmail.fr",
    "hotmail.com",
    "outlook.fr",
    "outlook.com",
    "live.fr",
    "live.com",
    "yahoo.fr",
    "yahoo.com",
    "icloud.com",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "sfr.fr",
    "neuf.fr",
    "laposte.net",
    "bbox.fr",
    "protonmail.com",
    "proton.me",
)
# The name the typo table has always used for the same list.
TRUE_DOMAINS = PUBLIC_MAILBOX_DOMAINS
_PUBLIC = frozenset(PUBLIC_MAILBOX_DOMAINS)


def is_public_mailbox(domain: str, /) -> bool:
    """True when ``domain`` (any case, trailing dot allowed) is a public mailbox provider."""
    return domain.strip().lower().rstrip(".") in _PUBLIC


_ROWS = {
    "qwerty": ("1234567890-", "qwertyuiop", "asdfghjkl", "zxcvbnm"),
    "azerty": ("1234567890-", "azertyuiop", "qsdfghjklm", "wxcvbn"),
}


@functools.cache
def _neighbours() -> dict[str, frozenset[str]]:
    """Keys next to each key (same row or the row above/below) on either layout."""
    near: dict[str, set[str]] = {}
    for rows in _ROWS.values():
        for r, row in enumerate(rows):
            for c, key in enumerate(row):
                around = near.setdefault(key, set())
                for dr in (-1, 0, 1):
                    if not 0 <= r + dr < len(rows):
                        continue
                    other = rows[r + dr]
                    for dc in (-1, 0, 1):
                        if (dr or dc) and 0 <= c + dc < len(other):
                            around.add(other[c + dc])
    return {key: frozenset(keys - {key}) for key, keys in near.items()}


# Top-level-domain slips seen in practice, beyond single keystrokes. A swap between
# ".fr" and ".com" is left out: orange.com or sfr.com are real company domains.
_TLD_SLIPS: Mapping[str, tuple[str, ...]] = {
    "com": ("co", "cm", "om", "con", "comm", "cpm", "vom", "xom", "ocm", "cim", "coom"),
    "fr": ("ff", "fe", "dr", "fg", "rf", "frr", "f", "r", "fre"),
    "net": ("nte", "ne", "nt", "et", "nett", "met", "bet", "ner"),
    "me": ("em", "m", "mee"),
}

# Well-known slips that no single keystroke explains.
_KNOWN: Mapping[str, str] = {
    "gmail.fr": "gmail.com",
    "gmail.com.fr": "gmail.com",
    "icloud.fr": "icloud.com",
    "googlemail.fr": "googlemail.com",
    "wanadoo.com": "wanadoo.fr",
    "laposte.fr.net": "laposte.net",
}

# Below this length a dropped or a neighbouring key often spells a real, unrelated
# domain (tree.fr, life.fr): such short names only get doubled and swapped keys.
_SHORT = 5


def _slips(word: str, *, full: bool) -> Iterable[str]:
    """Every spelling one keyboard slip away from ``word`` (``full``: all kinds)."""
    near = _neighbours()
    for i, ch in enumerate(word):
        yield word[:i] + ch + word[i:]  # key doubled
        if i + 1 < len(word):
            yield word[:i] + word[i + 1] + ch + word[i + 2 :]  # neighbours swapped
        if not full:
            continue
        yield word[:i] + word[i + 1 :]  # key dropped
        for other in sorted(near.get(ch, ())):
            yield word[:i] + other + word[i + 1 :]  # neighbouring key struck
            yield word[:i] + other + word[i:]  # neighbouring key struck too
            yield word[: i + 1] + other + word[i + 1 :]


def _family(domain: str) -> Iterable[str]:
    name, _, tld = domain.rpartition(".")
    for slip in _slips(name, full=len(name) >= _SHORT):
        if slip:
            yield f"{slip}.{tld}"
    for slip in _slips(tld, full=False):
        yield f"{name}.{slip}"
    for slip in _TLD_SLIPS.get(tld, ()):
        yield f"{name}.{slip}"
    yield f"{name}.{tld}.{tld}"


@functools.cache
def typo_domains() -> Mapping[str, str]:
    """Mistyped domain -> the true domain it was meant to be."""
    table: dict[str, str] = {}
    true = set(TRUE_DOMAINS)
    table.update(_KNOWN)
    for domain in TRUE_DOMAINS:
        for typo in _family(domain):
            if typo not in true and "." in typo and typo not in table:
                table[typo] = domain
    return table
