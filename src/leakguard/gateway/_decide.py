"""What the milter and the relay share: one decision per message, bounded in time and load.

``Gatekeeper.decide`` runs ``Guard.check`` (and ``Guard.enforce`` for encryption) in a
worker thread and turns the verdict into an SMTP answer: accept (with an ``X-Leakguard``
header), ``550 5.7.1`` with a short masked reason, or ``451 4.7.1`` whenever the message
could not be checked (error, timeout, too many messages waiting). Every decision is one
JSON line in the audit log, with the queue id, Message-ID and verdict id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP, compat32
from typing import Literal

from leakguard.audit import AuditLog, audit_record
from leakguard.core import Action, Lang, Verdict
from leakguard.errors import LeakBlocked
from leakguard.guard import Guard
from leakguard.message import load_message

__all__ = ["Decision", "Gatekeeper", "ReplyLang"]

log = logging.getLogger("leakguard.gateway")

ReplyLang = Literal["fr", "en", "both"]

#: The header added to every message the gateway lets through.
HEADER = "X-Leakguard"


@dataclass(frozen=True, slots=True)
class Decision:
    """The gateway's answer for one message."""

    code: int  # 250, 451 or 550
    status: str  # enhanced status code, "2.0.0", "4.7.1", "5.7.1"
    text: str  # one ASCII line
    verdict_id: str
    action: Action | None = None  # None when the message could not be checked
    replacement: bytes | None = None  # the protected message, when it must replace the original

    @property
    def accepted(self) -> bool:
        return self.code < 400

    @property
    def header(self) -> str:
        """The ``X-Leakguard`` value: action and verdict id."""
        action = self.action.value if self.action is not None else "unchecked"
        return f"{action}; id={self.verdict_id}"

    @property
    def reply(self) -> str:
        return f"{self.code} {self.status} {self.text}"


class _Silent(AuditLog):
    """The guard's own audit is replaced by the gateway's richer record."""

    def record(self, verdict: Verdict, msg: object, /) -> None:
        return None


def smtp_text(text: str, limit: int = 400) -> str:
    """One printable ASCII line: accents folded, control characters dropped."""
    folded = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(
        c for c in folded if not unicodedata.combining(c) and 32 <= ord(c) < 127
    ).strip()
    return ascii_only if len(ascii_only) <= limit else ascii_only[: limit - 3] + "..."


async def until_stopped(ready: Callable[[], None] | None) -> None:
    """Say the server is ready (``ready``), then wait for SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready()
    await stop.wait()


def without_header(data: bytes, name: str) -> bytes:
    """``data`` with every ``name`` header field (and its folded lines) removed.

    The gateway's own header must come from the gateway: a sender could otherwise add
    ``X-Leakguard: allow`` themselves and mislead whatever reads it downstream.
    """
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return data
    prefix = name.lower().encode("ascii") + b":"
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.lower().startswith(prefix)
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept) + sep + body


def message_lang(msg: EmailMessage) -> Lang | None:
    """The language the message says it is written in (``Content-Language``), if any."""
    value = str(msg.get("Content-Language", "")).strip().lower()
    if value.startswith("fr"):
        return "fr"
    if value.startswith("en"):
        return "en"
    return None


_TEMPFAIL = {
    "error": (
        "leakguard could not check this message, try again later",
        "leakguard n'a pas pu verifier ce message, reessayez plus tard",
    ),
    "timeout": (
        "leakguard took too long to check this message, try again later",
        "la verification par leakguard a pris trop de temps, reessayez plus tard",
    ),
    "too_large": (
        "leakguard cannot check a message this large, try again later or send it smaller",
        "leakguard ne peut pas verifier un message aussi gros, reessayez plus tard ou "
        "envoyez-le plus petit",
    ),
    "overload": (
        "leakguard is busy, try again later",
        "leakguard est occupe, reessayez plus tard",
    ),
}

_NO_CERTIFICATE = (
    "Encryption required and no certificate for every recipient: encrypt the message "
    "in your mail client (S/MIME) or send it through secure health messaging (MSSante)",
    "Chiffrement requis et pas de certificat pour chaque destinataire : chiffrez le "
    "message dans votre messagerie (S/MIME) ou envoyez-le par messagerie securisee de "
    "sante (MSSante)",
)


class Gatekeeper:
    """Decides for the gateway: one guard, a few worker threads, a deadline per message.

    ``timeout`` bounds the time of one check (then ``451``); ``max_pending`` the messages
    being checked or waiting (beyond it ``451`` at once); ``encrypt`` chooses between
    protecting a message that needs encryption (``"protect"``, when every recipient has
    a certificate) and refusing it (``"reject"``); ``lang`` is the reply language when
    the message does not name its own (``Content-Language``).
    """

    def __init__(
        self,
        guard: Guard,
        /,
        *,
        interface: str,
        timeout: float = 20.0,
        workers: int = 2,
        max_pending: int = 64,
        encrypt: Literal["protect", "reject"] = "protect",
        lang: ReplyLang = "both",
        audit: logging.Logger | None = None,
    ) -> None:
        self.guard = guard
        guard.audit = _Silent()
        self.interface = interface
        self.timeout = timeout
        self.max_pending = max_pending
        self.encrypt = encrypt
        self.lang = lang
        self.audit = audit or logging.getLogger("leakguard.audit")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="leakguard")
        self._pending = 0
        self._abandoned: set[str] = set()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ deciding

    async def decide(
        self, data: bytes, recipients: Sequence[str], /, *, queue_id: str | None = None
    ) -> Decision:
        """The answer for one message; never raises, never waits past ``timeout``."""
        vid = secrets.token_hex(8)
        if self._pending >= self.max_pending:
            return self._tempfail("overload", vid, queue_id, data)
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(
                self._pool, self._decide, data, tuple(recipients), vid, queue_id
            )
            return await asyncio.wait_for(job, self.timeout)
        except TimeoutError:
            # The thread cannot be stopped: its late verdict is dropped, not audited.
            self._abandoned.add(vid)
            return self._tempfail("timeout", vid, queue_id, data)
        except Exception as exc:  # never let an error pass a message unchecked
            log.error("leakguard gateway: check failed (%s)", type(exc).__name__)
            return self._tempfail("error", vid, queue_id, data)
        finally:
            self._pending -= 1

    def too_large(self, size: int, /, *, queue_id: str | None = None) -> Decision:
        """``451`` for a message over the gateway's size limit, which was not checked."""
        log.warning("leakguard gateway: message of %d bytes is over the size limit", size)
        return self._tempfail("too_large", secrets.token_hex(8), queue_id, b"")

    def _decide(
        self, data: bytes, recipients: tuple[str, ...], vid: str, queue_id: str | None
    ) -> Decision:
        msg = load_message(data)
        verdict = self.guard.check(msg, envelope_recipients=recipients)
        lang = message_lang(msg)
        action = verdict.action
        if action is Action.BLOCK:
            decision = self._reject(vid, action, _reason(verdict, lang, self.lang))
        elif action is Action.ENCRYPT and not verdict.encrypted:
            decision = self._encrypted(msg, verdict, recipients, vid, lang)
        else:
            decision = Decision(250, "2.0.0", "accepted", vid, action)
        if vid in self._abandoned:
            self._abandoned.discard(vid)
        else:
            self._record(decision, queue_id, verdict, msg)
        return decision

    def _encrypted(
        self,
        msg: EmailMessage,
        verdict: Verdict,
        recipients: tuple[str, ...],
        vid: str,
        lang: Lang | None,
    ) -> Decision:
        what_to_do = self._pick(*_NO_CERTIFICATE, lang)
        if self.encrypt == "reject" or self.guard.certificates is None:
            return self._reject(vid, verdict.action, what_to_do)
        try:
            protected = self.guard.enforce(msg, verdict, envelope_recipients=recipients)
        except LeakBlocked:
            return self._reject(vid, verdict.action, what_to_do)
        data = protected.as_bytes(policy=SMTP)
        return Decision(250, "2.0.0", "accepted encrypted", vid, verdict.action, data)

    def _reject(self, vid: str, action: Action, reason: str) -> Decision:
        return Decision(550, "5.7.1", smtp_text(f"{reason} (leakguard {vid})"), vid, action)

    def _pick(self, en: str, fr: str, lang: Lang | None) -> str:
        chosen = lang or self.lang
        if chosen == "fr":
            return fr
        if chosen == "en":
            return en
        return f"{fr} / {en}"

    def _tempfail(self, why: str, vid: str, queue_id: str | None, data: bytes) -> Decision:
        en, fr = _TEMPFAIL[why]
        decision = Decision(451, "4.7.1", smtp_text(self._pick(en, fr, None)), vid)
        self._record(decision, queue_id, None, None, error=why, data=data)
        return decision

    # ------------------------------------------------------------------ audit

    def _record(
        self,
        decision: Decision,
        queue_id: str | None,
        verdict: Verdict | None,
        msg: EmailMessage | None,
        *,
        error: str | None = None,
        data: bytes = b"",
    ) -> None:
        if not self.audit.isEnabledFor(logging.INFO):
            return
        record: dict[str, object]
        if verdict is not None and msg is not None:
            record = audit_record(verdict, msg)
        else:
            record = {
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
                "message_id": _message_id(data),
                "size": len(data),
            }
        record.update(
            {
                "interface": self.interface,
                "queue_id": queue_id,
                "verdict_id": decision.verdict_id,
                "reply": decision.code,
                "outcome": _outcome(decision),
            }
        )
        if error is not None:
            record["error"] = error
        self.audit.info(json.dumps(record, ensure_ascii=False))


def _message_id(data: bytes) -> str | None:
    """The Message-ID of a message that was not checked, read from its header only."""
    try:
        head = BytesHeaderParser(policy=compat32).parsebytes(data[:65536], headersonly=True)
        value = head.get("Message-ID")
    except Exception:  # a header too broken to read: the queue id still names the message
        return None
    return " ".join(str(value).split()) or None if value is not None else None


def _outcome(decision: Decision) -> str:
    if decision.code >= 500:
        return "rejected"
    if decision.code >= 400:
        return "tempfail"
    return "encrypted" if decision.replacement is not None else "accepted"


def _reason(verdict: Verdict, lang: Lang | None, default: ReplyLang) -> str:
    def one(language: Lang) -> str:
        lines = verdict.explain(language).splitlines()
        head, findings = lines[0], [line.lstrip("- ") for line in lines[1:3]]
        return " ".join([head, *findings])

    chosen = lang or default
    if chosen == "both":
        return f"{one('fr')} / {one('en')}"
    return one(chosen)
