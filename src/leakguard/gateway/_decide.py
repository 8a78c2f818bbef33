"""What the milter and the relay share: one decision per message, bounded in time and load.

``Gatekeeper.decide`` runs ``Guard.check`` (and ``Guard.enforce`` for encryption) on the
shared :class:`~leakguard.runner.Runner`, within a time budget and a memory budget, and
turns the verdict into an SMTP answer: accept (with an ``X-Leakguard`` header), ``550
5.7.1`` with a short masked reason, or ``451 4.7.1`` when the message could not be
checked (error, time budget, gateway full). Content the guard could not read is never
accepted: the policy's ``[gateway]`` settings choose between 550 and 451. Once the
client's reply is known, :meth:`Gatekeeper.record` writes one JSON line to the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import signal
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from typing import Literal

from leakguard._headers import header_block, mask_header, without_field
from leakguard.audit import AuditLog, audit_record
from leakguard.core import Action, Deadline, Finding, Lang, Verdict
from leakguard.errors import LeakBlocked
from leakguard.guard import Guard
from leakguard.message import load_message
from leakguard.runner import Busy, Overdue, Runner

__all__ = ["Decision", "Gatekeeper", "ReplyLang"]

log = logging.getLogger("leakguard.gateway")

ReplyLang = Literal["fr", "en", "both"]

#: The header added to every message the gateway lets through.
HEADER = "X-Leakguard"

#: What a check holds in memory for each byte of the message (its copy of the bytes,
#: the parsed message, decoded parts, extracted text and the scanners' copies of it),
#: counted against the memory budget: measured at 9 to 10 on long plain texts, where
#: it is highest. The bytes as received are counted apart, by the milter or the relay.
FOOTPRINT = 9.0


@dataclass(frozen=True, slots=True)
class Decision:
    """The gateway's answer for one message.

    ``error`` says why a message was not checked or not read in full (``unread``,
    ``timeout``, ``overload``, ``too_large``, ``error``); ``audit`` holds the masked
    description of the message and its verdict for the audit record.
    """

    code: int  # 250, 451 or 550
    status: str  # enhanced status code, "2.0.0", "4.7.1", "5.7.1"
    text: str  # one ASCII line
    verdict_id: str
    action: Action | None = None  # None when the message could not be checked
    replacement: bytes | None = None  # the protected message, when it must replace the original
    error: str | None = None
    audit: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

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
    """``data`` with every ``name`` header field (any case, a blank before the colon,
    folded lines) removed.

    The gateway's own header must come from the gateway: a sender could otherwise add
    ``X-Leakguard: allow`` themselves and mislead whatever reads it downstream.
    """
    return without_field(data, name)


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
    "overload": (
        "leakguard is busy, try again later",
        "leakguard est occupe, reessayez plus tard",
    ),
}

_UNREAD_HEAD = {
    "refuse": (
        "Not sent: leakguard could not read all of it.",
        "Non envoye : leakguard n'a pas pu tout lire.",
    ),
    "defer": (
        "Delayed: leakguard could not read all of it, it will try again.",
        "Retarde : leakguard n'a pas pu tout lire, nouvel essai plus tard.",
    ),
}

_TOO_LARGE = (
    "The message ({size}) is larger than the largest one leakguard reads ({limit}).",
    "Le message ({size}) depasse la taille maximale que leakguard lit ({limit}).",
)

_NO_CERTIFICATE = (
    "Encryption required and no certificate for every recipient: encrypt the message "
    "in your mail client (S/MIME) or send it through secure health messaging (MSSante)",
    "Chiffrement requis et pas de certificat pour chaque destinataire : chiffrez le "
    "message dans votre messagerie (S/MIME) ou envoyez-le par messagerie securisee de "
    "sante (MSSante)",
)

# Mail servers route on more than the domain after the last "@": Postfix, for one,
# turns "x%gmail.com@clinic.fr", "gmail.com!x@clinic.fr" and '"x@gmail.com"@clinic.fr'
# into x@gmail.com when clinic.fr is one of its own domains (allow_percent_hack,
# swap_bangpath and resolve_dequoted_address are on by default). The guard judges the
# domain after the last "@": such an address would be judged internal and delivered
# outside, so it is refused instead.
_ROUTING = ("@", "%", "!")

_ROUTED = (
    "A recipient address holds a routing character (%, ! or @ before its domain): the "
    "mail server could deliver it elsewhere than where leakguard checked it. Write it "
    "as name@domain.",
    "Une adresse de destinataire contient un caractere de routage (%, ! ou @ avant son "
    "domaine) : le serveur de messagerie pourrait la livrer ailleurs que la ou leakguard "
    "l'a verifiee. Ecrivez-la sous la forme nom@domaine.",
)


def routed(address: str) -> bool:
    """Whether ``address`` (an envelope address, angle brackets or not) holds a routing
    operator before its domain: ``%``, ``!`` or another ``@``, quoted or not."""
    bare = address.strip().removeprefix("<").removesuffix(">")
    if bare.startswith("@") and ":" in bare:  # a source route: servers go by what follows
        bare = bare.split(":", 1)[1]
    local, at, _ = bare.rpartition("@")
    return bool(at) and any(c in local for c in _ROUTING)


def _size_text(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB" if size >= 1 << 20 else f"{size} bytes"


class Gatekeeper:
    """Decides for the gateway: one guard, a bounded runner, a time budget per message.

    ``timeout`` is the time budget of one check, from its admission (the check is told
    its deadline and stops reading there; then ``451``); ``workers`` the checks run at
    once; ``max_pending`` the messages being checked or waiting (beyond it ``451`` at
    once); ``max_memory`` the bytes the gateway may hold for messages, received or being
    checked (beyond it ``451`` at once); ``encrypt`` chooses between protecting a message
    that needs encryption (``"protect"``, when every recipient has a certificate) and
    refusing it (``"reject"``); ``lang`` is the reply language when the message does
    not name its own (``Content-Language``).
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
        max_memory: int = 1 << 30,
        encrypt: Literal["protect", "reject"] = "protect",
        lang: ReplyLang = "both",
        audit: logging.Logger | None = None,
    ) -> None:
        self.guard = guard
        guard.audit = _Silent()
        self.interface = interface
        self.timeout = timeout
        self.encrypt = encrypt
        self.lang = lang
        self.audit = audit or logging.getLogger("leakguard.audit")
        self.runner = Runner(
            workers=workers,
            max_pending=max_pending,
            max_bytes=max_memory,
            time_budget=timeout,
            footprint=FOOTPRINT,
            grace=min(1.0, max(0.1, timeout / 4)),
            name="leakguard-check",
        )

    @property
    def max_pending(self) -> int:
        return self.runner.max_pending

    def close(self) -> None:
        self.runner.close()

    def pick(self, en: str, fr: str, lang: Lang | None = None) -> str:
        """``en`` or ``fr`` as the message's language (``lang``) or ``--reply-lang`` says;
        both (French first) by default."""
        chosen = lang or self.lang
        if chosen == "fr":
            return fr
        if chosen == "en":
            return en
        return f"{fr} / {en}"

    # ------------------------------------------------------------------ deciding

    async def decide(
        self,
        data: bytes | Callable[[], bytes],
        recipients: Sequence[str],
        /,
        *,
        queue_id: str | None = None,
        size: int | None = None,
        head: bytes = b"",
    ) -> Decision:
        """The answer for one message; never raises, never waits past the time budget
        (and its short grace).

        ``data`` is the message, or a function that builds it: called in the worker
        once the check is admitted, so that a message refused for want of room is never
        copied. Then ``size`` is its size and ``head`` its header block (for the audit).
        """
        vid = secrets.token_hex(8)
        total = len(data) if isinstance(data, bytes) else size or 0
        header = data if isinstance(data, bytes) else head
        rcpts = tuple(recipients)
        if any(routed(r) for r in rcpts):
            return self.routed_recipient(queue_id, header, size=total, vid=vid)

        def work(deadline: Deadline) -> Decision:
            message = data if isinstance(data, bytes) else data()
            return self._decide(message, rcpts, vid, queue_id, deadline)

        try:
            return await self.runner.run(work, size=total)
        except Busy as busy:
            log.warning("leakguard gateway: busy (%s), message deferred", busy.reason)
            return self._tempfail("overload", vid, queue_id, header, size=total)
        except Overdue:
            # The check was told its deadline; its late answer, if any, is dropped.
            return self._tempfail("timeout", vid, queue_id, header, size=total)
        except Exception as exc:  # never let an error pass a message unchecked
            log.error("leakguard gateway: check failed (%s)", type(exc).__name__)
            return self._tempfail("error", vid, queue_id, header, size=total)

    def routed_recipient(
        self,
        queue_id: str | None = None,
        data: bytes = b"",
        /,
        *,
        size: int = 0,
        vid: str | None = None,
    ) -> Decision:
        """``550`` for a message with a recipient whose address the next mail server
        could route elsewhere than its domain says (see :func:`routed`); not checked."""
        vid = vid or secrets.token_hex(8)
        text = _reply_text(self.pick(*_ROUTED), vid)
        record = _unchecked_record(queue_id, data, size)
        return Decision(550, "5.1.3", text, vid, error="routed_recipient", audit=record)

    def unchecked(
        self, code: int, status: str, text: str, /, *, error: str, size: int = 0
    ) -> Decision:
        """A refusal given before the message was checked (``error`` says why)."""
        return Decision(
            code,
            status,
            text,
            secrets.token_hex(8),
            error=error,
            audit=_unchecked_record(None, b"", size),
        )

    def busy(self, *, queue_id: str | None = None, size: int = 0) -> Decision:
        """``451`` for a message the gateway had no room to receive, which was not checked."""
        return self._tempfail("overload", secrets.token_hex(8), queue_id, b"", size=size)

    def too_large(self, size: int, limit: int, /, *, queue_id: str | None = None) -> Decision:
        """The answer for a message of ``size`` bytes over the gateway's size ``limit``,
        which was not read: like any content too large to read, as the policy's
        ``[gateway] unread`` says."""
        log.warning("leakguard gateway: message of %d bytes is over the size limit", size)
        vid = secrets.token_hex(8)
        answer = self.guard.policy.unread_answer(["too_large"])
        en, fr = _UNREAD_HEAD[answer]
        en_why, fr_why = (
            t.format(size=_size_text(size), limit=_size_text(limit)) for t in _TOO_LARGE
        )
        reason = self.pick(f"{en} {en_why}", f"{fr} {fr_why}")
        code, status = (550, "5.7.1") if answer == "refuse" else (451, "4.7.1")
        return Decision(
            code,
            status,
            _reply_text(reason, vid),
            vid,
            error="too_large",
            audit=_unchecked_record(queue_id, b"", size) | {"unread": ["too_large"]},
        )

    def _decide(
        self,
        data: bytes,
        recipients: tuple[str, ...],
        vid: str,
        queue_id: str | None,
        deadline: Deadline,
    ) -> Decision:
        msg = load_message(data)
        verdict = self.guard.check(msg, envelope_recipients=recipients, deadline=deadline)
        lang = message_lang(msg)
        action = verdict.action
        unread = verdict.unread
        if action is Action.BLOCK:
            decision = self._reject(vid, action, _reason(verdict, lang, self.lang))
        elif action is Action.ENCRYPT and not verdict.encrypted:
            # Encrypting covers every part, read or not; a refusal stays a refusal.
            decision = self._encrypted(msg, verdict, recipients, vid, lang)
        elif unread:
            decision = self._unread(vid, action, unread, lang)
        else:
            decision = Decision(250, "2.0.0", "accepted", vid, action)
        record = audit_record(verdict, msg) | {"queue_id": queue_id, "size": len(data)}
        if unread:
            record["unread"] = sorted({f.detail or "corrupt" for f in unread})
        return dataclasses.replace(decision, audit=record)

    def _unread(
        self, vid: str, action: Action, unread: Sequence[Finding], lang: Lang | None
    ) -> Decision:
        answer = self.guard.policy.unread_answer(f.detail for f in unread)
        if answer == "defer" and all(f.detail == "timeout" for f in unread):
            # The same answer as a check cut short by the runner: only time was missing.
            en, fr = _TEMPFAIL["timeout"]
            text = _reply_text(self.pick(en, fr, lang), vid)
            return Decision(451, "4.7.1", text, vid, action, error="timeout")

        def one(language: Lang) -> str:
            head = _UNREAD_HEAD[answer][0 if language == "en" else 1]
            first = unread[0]
            more = len(unread) - 1
            extra = f" (+{more})" if more else ""
            return f"{head} [{first.location.label(language)}] {first.message(language)}{extra}"

        reason = self.pick(one("en"), one("fr"), lang)
        code, status = (550, "5.7.1") if answer == "refuse" else (451, "4.7.1")
        return Decision(code, status, _reply_text(reason, vid), vid, action, error="unread")

    def _encrypted(
        self,
        msg: EmailMessage,
        verdict: Verdict,
        recipients: tuple[str, ...],
        vid: str,
        lang: Lang | None,
    ) -> Decision:
        what_to_do = self.pick(*_NO_CERTIFICATE, lang)
        if self.encrypt == "reject" or self.guard.certificates is None:
            return self._reject(vid, verdict.action, what_to_do)
        try:
            protected = self.guard.enforce(msg, verdict, envelope_recipients=recipients)
        except LeakBlocked:
            return self._reject(vid, verdict.action, what_to_do)
        data = protected.as_bytes(policy=SMTP)
        return Decision(250, "2.0.0", "accepted encrypted", vid, verdict.action, data)

    def _reject(self, vid: str, action: Action, reason: str) -> Decision:
        return Decision(550, "5.7.1", _reply_text(reason, vid), vid, action)

    def _tempfail(
        self, why: str, vid: str, queue_id: str | None, data: bytes, *, size: int | None = None
    ) -> Decision:
        en, fr = _TEMPFAIL[why]
        return Decision(
            451,
            "4.7.1",
            smtp_text(self.pick(en, fr)),
            vid,
            error=why,
            audit=_unchecked_record(queue_id, data, len(data) if size is None else size),
        )

    # ------------------------------------------------------------------ audit

    def record(
        self,
        decision: Decision,
        /,
        *,
        reply: str | None = None,
        next_hop: str | None = None,
        next_hop_stage: str | None = None,
        queue_id: str | None = None,
        told: bool = True,
    ) -> None:
        """Write the audit line of ``decision``, once the client's answer is known.

        ``reply`` is the SMTP reply given (by default the decision's), ``told`` whether
        the client was still there to get it (when not, the record's ``reply`` is null
        and ``client_gone`` true); ``next_hop`` what the next hop answered, when the
        message was sent on, and ``next_hop_stage`` the step it was at. Replies are
        written with their long numbers masked.
        """
        if not self.audit.isEnabledFor(logging.INFO):
            return
        given = reply or decision.reply
        code_text, _, rest = given.partition(" ")
        code = int(code_text) if code_text.isdigit() else decision.code
        record: dict[str, object] = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            **decision.audit,
        }
        if queue_id is not None:
            record["queue_id"] = queue_id
        record.setdefault("queue_id", None)
        record.update(
            {
                "interface": self.interface,
                "verdict_id": decision.verdict_id,
                "reply": code if told else None,
                "reply_text": mask_header(rest, width=300) if told else None,
                # What became of the message: accepted means it was delivered, even when
                # its sender left before hearing it.
                "outcome": _outcome(code, decision),
            }
        )
        if not told:
            record["client_gone"] = True
        if next_hop is not None:
            hop_code, _, hop_text = next_hop.partition(" ")
            known = hop_code.isdigit()
            hop: dict[str, object] = {
                "reply": int(hop_code) if known else None,
                "reply_text": mask_header(hop_text if known else next_hop, width=300),
            }
            if next_hop_stage is not None:
                hop["stage"] = next_hop_stage
            record["next_hop"] = hop
        if decision.error is not None:
            record["error"] = decision.error
        self.audit.info(json.dumps(record, ensure_ascii=False))


def _reply_text(reason: str, vid: str) -> str:
    """The reason on one ASCII line, cut to fit an SMTP reply, then the verdict id."""
    suffix = f" (leakguard {vid})"
    return smtp_text(reason, 420 - len(suffix)) + suffix


def _unchecked_record(queue_id: str | None, data: bytes, size: int) -> dict[str, object]:
    """What the audit says of a message that was not checked: no verdict, no findings."""
    return {"queue_id": queue_id, "message_id": _message_id(data), "size": size}


def _message_id(data: bytes) -> str | None:
    """The masked Message-ID of a message that was not checked, from its header only."""
    if not data:
        return None
    for name, raw in header_block(data[:65536]).fields:
        if name == "message-id":
            _, _, value = raw.partition(b":")
            return mask_header(value.decode("utf-8", "replace"), width=300) or None
    return None


def _outcome(code: int, decision: Decision) -> str:
    if code >= 500:
        return "rejected"
    if code >= 400:
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
