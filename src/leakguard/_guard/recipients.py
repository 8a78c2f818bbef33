"""Who a message goes to, read from the raw header text (whatever policy the message
was parsed with) and the SMTP envelope, with a finding for each recipient header that
cannot be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message

from leakguard._headers import RECIPIENT_FIELDS, fields, mask_header, read_address_list
from leakguard.core import Finding, Location, Severity

__all__ = ["Recipient", "read_recipients"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient as the guard sees it."""

    name: str
    address: str
    location: Location

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


def read_recipients(
    msg: Message, envelope: Sequence[str] | None, max_chars: int
) -> tuple[list[Recipient], list[Finding]]:
    """The recipients of ``msg`` read from the raw To/Cc/Bcc text and their Resent-
    copies (whatever policy the message was parsed with) and the envelope, and an
    ``unreadable_recipients`` finding for each header that does not follow the grammar or
    is longer than ``max_chars`` (all of them together), or when no recipient can be read
    at all. The address-like words of an unreadable header are still recipients, so they
    are still checked."""
    out: list[Recipient] = []
    findings: dict[tuple[str, str], Finding] = {}
    seen: set[str] = set()

    def add(name: str, address: str, location: Location) -> None:
        address = address.strip()
        if "@" in address and address.lower() not in seen:
            seen.add(address.lower())
            out.append(Recipient(name.strip(), address, location))

    # Both the fields and their Resent- copies: which of them a program sends to is its
    # own choice.
    raw = fields(msg, *RECIPIENT_FIELDS)
    room = max_chars
    for header in RECIPIENT_FIELDS:
        location = Location.header(header)
        for name, value in raw:
            if name != header:
                continue
            if room <= 0:
                if (header, "too_long") not in findings:
                    findings[header, "too_long"] = _unreadable(location, "too_long", None)
                continue
            parsed = read_address_list(value, max_chars=room)
            room -= len(value)
            for display, address in parsed.mailboxes:
                add(display, address, location)
            for address in parsed.tokens:
                add("", address, location)
            if parsed.truncated or not parsed.clean:
                detail = "too_long" if parsed.truncated else "malformed"
                if (header, detail) not in findings:
                    findings[header, detail] = _unreadable(location, detail, mask_header(value))
    for addr in envelope or ():
        add("", _envelope_address(addr), Location.header("bcc"))
    if not out and not findings:
        shown = next((mask_header(v) for k, v in raw if k == "to" and v.strip()), None)
        findings[("to", "none")] = _unreadable(Location.header("to"), "none", shown)
    return out, list(findings.values())


def _envelope_address(text: str) -> str:
    """An envelope address (``<a@b>``, or as a program wrote it) read by the grammar: its
    first mailbox, else its first address-like word, else the text itself."""
    return next(iter(read_address_list(text, max_chars=len(text)).addresses), text).strip()


def _unreadable(location: Location, detail: str, shown: str | None) -> Finding:
    return Finding(
        kind="unreadable_recipients",
        location=location,
        severity=Severity.MEDIUM,
        recipient=shown,
        detail=detail,
    )
