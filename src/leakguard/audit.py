"""The audit trail: one JSON line per decision, sent through ``logging``.

Records hold the decision, finding kinds, masked values and fingerprints — never a
body, never an identifier in clear: locations (attachment names), the Message-ID, the
sender and every other value taken from the message have their long numbers masked.
Attach any handler (rotating file, syslog) to the ``leakguard.audit`` logger; nothing
is printed unless the application configures it. An interface that hands out its own
reference for a decision (the HTTPS service's ``verdict_id``) wraps the check in
:func:`audit_context` so the record carries it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import Message

from leakguard._headers import (
    RECIPIENT_FIELDS,
    fields,
    first_field,
    mask_header,
    read_address_list,
    sender,
)
from leakguard.core import Verdict
from leakguard.extract._types import Limits

__all__ = ["AuditLog", "audit_context", "audit_record"]

_CONTEXT: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "leakguard_audit_context", default=()
)


@contextlib.contextmanager
def audit_context(**fields: str) -> Iterator[None]:
    """Add ``fields`` (for example ``verdict_id``) to the records made inside the block."""
    token = _CONTEXT.set(_CONTEXT.get() + tuple(fields.items()))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


_MAX_HEADER_CHARS = Limits().max_header_chars


def _domains(msg: Message) -> list[str]:
    # The raw header text, read by the same bounded reader as the guard: the structured
    # parser can raise or take minutes on a hostile header.
    domains: set[str] = set()
    for _, value in fields(msg, *RECIPIENT_FIELDS):
        found = read_address_list(value, max_chars=_MAX_HEADER_CHARS)
        for addr in found.addresses:
            domains.add(mask_header(addr.rpartition("@")[2].lower(), width=255))
    return sorted(domains)


def audit_record(
    verdict: Verdict, msg: Message, /, *, now: datetime | None = None
) -> dict[str, object]:
    """The audit record of one decision, as a JSON-ready dict."""
    message_id = (first_field(msg, "message-id") or "")[:1000]
    when = now or datetime.now(UTC)
    return {
        "time": when.isoformat(timespec="seconds"),
        **dict(_CONTEXT.get()),
        "message_id": mask_header(message_id, width=300) or None,
        "sender": mask_header(sender(msg) or "", width=300) or None,
        "recipient_domains": _domains(msg),
        "action": verdict.action.value,
        "encrypted": verdict.encrypted,
        "kinds": sorted(verdict.kinds()),
        "findings": [
            {
                k: v
                for k, v in (
                    ("kind", f.kind),
                    ("location", str(f.location)),
                    ("masked", f.masked),
                    ("fingerprint", f.fingerprint),
                    ("count", f.count),
                    ("detail", f.detail),
                )
                if v is not None
            }
            for f in verdict.findings
        ],
    }


class AuditLog:
    """Writes one JSON line per decision to a logger (default ``leakguard.audit``)."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        /,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.logger = logger or logging.getLogger("leakguard.audit")
        self._clock = clock

    def record(self, verdict: Verdict, msg: Message, /) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        now = self._clock() if self._clock else None
        line = json.dumps(audit_record(verdict, msg, now=now), ensure_ascii=False)
        self.logger.info(line)

    def __repr__(self) -> str:
        return f"AuditLog(logger={self.logger.name!r})"
