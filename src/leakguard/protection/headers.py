"""Which headers may stay outside an encrypted message (RFC 9788 header protection):
the routing ones, never the Subject, never one that carries an identifier or a health
term."""

from __future__ import annotations

import copy
import email.message
import email.policy
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass

from leakguard._headers import (
    ADDRESS_FIELDS,
    ROUTING_FIELDS,
    fields,
    header_text,
    read_address_list,
    sender,
)
from leakguard.detectors import HEALTH, as_seen, find_identifiers
from leakguard.errors import ProtectionError

__all__ = [
    "exposed_headers",
    "header_text",
]


# Headers describing the content travel inside the envelope only.
_INNER_PREFIX = "content-"
# Mailboxes (ADDRESS_FIELDS) stay outside, reduced to bare addresses when a display
# name carries an identifier or a health term; so do the fields servers and clients need
# to route, thread and list the message (ROUTING_FIELDS): both from the header reader.
# Message identifiers, made of digits by some mail software.
_ID_HEADERS = frozenset({"message-id", "in-reply-to", "references", "resent-message-id"})
# Headers that say what the message is about: never outside an encrypted message.
_TOPIC_HEADERS = frozenset({"subject", "keywords", "comments", "thread-topic"})
# Headers a reader shows; when one is hidden outside, the decrypted text repeats it.
_SHOWN_HEADERS = frozenset({"subject", "from", "to", "cc", "reply-to"})
# What an ordinary header name looks like; anything else (a damaged header block can
# glue text to a name) travels inside only.
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z-]{0,75}(?:[0-9]{1,3}[A-Za-z-]*)?")
# A header longer than this is not scanned: it travels inside only.
_MAX_SCANNED_HEADER = 64 * 1024


def _identifiers_in(text: str) -> bool:
    return bool(find_identifiers(as_seen(text)))


def _sensitive(text: str) -> bool:
    """Whether ``text`` carries an identifier or a health term (read as it shows)."""
    seen = as_seen(text)
    return bool(find_identifiers(seen)) or next(HEALTH.find(seen), None) is not None


def renew_ids(msg: email.message.EmailMessage, /) -> email.message.EmailMessage:
    """``msg`` itself, or a copy whose Message-ID is new and whose In-Reply-To and
    References are left out, when one of them carries an identifier.

    That is nearly always the digits of a generated ID that happen to form one (Python's
    ``make_msgid`` gives a RIB-shaped run about once in 4,000 messages); either way it
    must not travel in clear, and a message not yet sent is free to take a new ID.
    """
    found = {
        name for name, value in fields(msg, *_ID_HEADERS) if _identifiers_in(header_text(value))
    }
    if not found:
        return msg
    out = copy.deepcopy(msg)
    for lname in found:
        del out[lname]
    if "message-id" in found:
        out["Message-ID"] = email.utils.make_msgid(domain=_sender_domain(msg))
    return out


def _sender_domain(msg: email.message.Message) -> str:
    domain = (sender(msg) or "").rpartition("@")[2]
    if not domain or not domain.isascii() or _identifiers_in(domain):
        return "localhost"
    return domain


def _message_headers(msg: email.message.Message) -> Iterator[tuple[str, str, object, str]]:
    """``(name, lower-case name, value, text)`` of every header but the MIME ones."""
    for name, value in msg.raw_items():
        lname = name.lower()
        if not lname.startswith(_INNER_PREFIX) and lname != "mime-version":
            yield name, lname, value, header_text(value)


def _is_routing(lname: str) -> bool:
    return lname in ROUTING_FIELDS or lname.startswith("resent-")


def exposed_headers(msg: email.message.Message, /) -> list[str]:
    """Names of the headers that would show an identifier or a health term to anyone
    on the way if the message left as it is (the MIME headers aside).

    Routing headers (Date, Message-ID, References…) are judged on identifiers alone;
    a header too long to be read whole (other than an address or routing header)
    counts as exposed.
    """
    out: list[str] = []
    for name, lname, _, text in _message_headers(msg):
        if lname in ADDRESS_FIELDS:
            exposed = _sensitive(text)
        elif _is_routing(lname):
            exposed = _identifiers_in(text)
        else:
            # A damaged header block can make a name of anything: the name counts too.
            exposed = len(text) > _MAX_SCANNED_HEADER or _sensitive(f"{name}: {text}")
        if exposed and name not in out:
            out.append(name)
    return out


@dataclass(frozen=True, slots=True)
class _HeaderPlan:
    """Which headers go outside an encrypted message, and which shown ones are hidden."""

    outer: list[tuple[str, object]]
    hidden: list[tuple[str, str]]


def _plan_headers(msg: email.message.Message, outer_subject: str) -> _HeaderPlan:
    outer: list[tuple[str, object]] = []
    hidden: list[tuple[str, str]] = []
    subject_placed = False
    for name, lname, value, text in _message_headers(msg):
        if lname in _TOPIC_HEADERS:
            if lname == "subject" and not subject_placed:
                outer.append(("Subject", outer_subject))
                subject_placed = True
                shown = text.strip()[:_MAX_SHOWN]
                if shown and shown != outer_subject:
                    hidden.append((name, shown))
            continue
        if lname in ADDRESS_FIELDS:
            if len(text) > _MAX_SCANNED_HEADER or _sensitive(text):
                bare = _bare_addresses(text)
                if _identifiers_in("\n".join(bare)):
                    raise _routing_error(name)
                if bare:
                    outer.append((name, _folded(name, bare)))
                if lname in _SHOWN_HEADERS:
                    hidden.append((name, text[:_MAX_SHOWN]))
            else:
                outer.append((name, value))
            continue
        if _is_routing(lname):
            if _identifiers_in(text):
                raise _routing_error(name)
            outer.append((name, value))
            continue
        if (
            _PLAIN_NAME.fullmatch(name)
            and len(text) <= _MAX_SCANNED_HEADER
            and not _sensitive(f"{name}: {text}")
        ):
            outer.append((name, value))
    if not subject_placed:
        outer.append(("Subject", outer_subject))
    return _HeaderPlan(outer, hidden)


# What the decrypted text repeats of a hidden header, at most.
_MAX_SHOWN = 2000


def _bare_addresses(text: str) -> list[str]:
    return list(read_address_list(text, max_chars=len(text)).addresses)


def _folded(name: str, addresses: list[str]) -> object:
    """Bare addresses as a header value, one per line so nothing needs refolding."""
    if all(a.isascii() for a in addresses):
        return ",\r\n ".join(addresses)
    return email.policy.default.header_factory(name, ", ".join(addresses))


def _routing_error(name: str) -> ProtectionError:
    return ProtectionError(
        f"The {name} header carries an identifier that no encryption can hide: the "
        "message needs it outside to be delivered. Remove the identifier from it.",
        fr=f"L'en-tête {name} porte un identifiant qu'aucun chiffrement ne peut cacher : "
        "le message en a besoin en clair pour être acheminé. Retirez-en l'identifiant.",
        reason="identifier_in_routing_header",
    )
