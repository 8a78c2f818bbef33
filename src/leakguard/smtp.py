"""Guarded sending for scripts: a drop-in ``smtplib.SMTP`` and a hook for legacy code.

Every message is checked and protected before the SMTP transaction starts, so a
blocked message never reaches the server: not one byte of DATA, not even MAIL FROM.
"""

from __future__ import annotations

import copy
import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import Message
from types import TracebackType
from typing import TYPE_CHECKING, Any

from leakguard._headers import fields, read_address_list
from leakguard.core import Action, Verdict
from leakguard.errors import LeakBlocked
from leakguard.guard import Guard
from leakguard.message import load_message

if TYPE_CHECKING:
    from _typeshed import SizedBuffer

__all__ = ["GuardedSMTP", "GuardedSMTP_SSL", "SmtpHook", "WarnNotice", "hook_smtplib"]

log = logging.getLogger("leakguard")


@dataclass(frozen=True, slots=True)
class WarnNotice:
    """Handed to the warn callback; return False from the callback to stop the send."""

    verdict: Verdict
    sender: str
    recipients: tuple[str, ...]


WarnCallback = Callable[[WarnNotice], bool | None]


def _log_and_send(notice: WarnNotice) -> bool:
    log.warning(
        "leakguard: sending despite a warning (%s) to %d recipient(s)",
        ", ".join(sorted(notice.verdict.kinds())),
        len(notice.recipients),
    )
    return True


def _to_list(to_addrs: str | Sequence[str]) -> list[str]:
    return [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)


def _guarded_payload(
    guard: Guard,
    on_warn: WarnCallback,
    from_addr: str,
    to_addrs: str | Sequence[str],
    msg: SizedBuffer | str,
) -> SizedBuffer | str:
    """Check and protect the raw message; what to hand to smtplib.

    A message that may leave as it is goes on untouched (smtplib then handles a ``str``
    as it always does); a protected copy goes as bytes with CRLF line ends.
    """
    raw = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
    recipients = _to_list(to_addrs)
    parsed = load_message(raw)
    verdict = guard.check(parsed, envelope_recipients=recipients)
    if verdict.action is Action.WARN:
        notice = WarnNotice(verdict=verdict, sender=from_addr, recipients=tuple(recipients))
        if on_warn(notice) is False:
            raise LeakBlocked(
                verdict,
                "The warning was not confirmed.",
                fr="L'alerte n'a pas été confirmée.",
            )
        return msg
    if verdict.action is Action.ALLOW:
        return msg
    protected = guard.enforce(parsed, verdict, envelope_recipients=recipients)
    # smtplib sends bytes as they are: the wire needs CRLF line ends.
    return protected.as_bytes(policy=protected.policy.clone(linesep="\r\n"))


class GuardedSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` that checks and protects every message before sending it.

    Takes smtplib's arguments plus ``guard`` (default: the embedded policy) and
    ``on_warn``. ``send_message`` goes through ``sendmail``, so both are guarded.
    """

    def __init__(
        self,
        *args: Any,
        guard: Guard | None = None,
        on_warn: WarnCallback | None = None,
        **kwargs: Any,
    ) -> None:
        self.guard = guard if guard is not None else Guard()
        self.on_warn = on_warn or _log_and_send
        super().__init__(*args, **kwargs)

    def sendmail(
        self,
        from_addr: str,
        to_addrs: str | Sequence[str],
        msg: SizedBuffer | str,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
    ) -> dict[str, tuple[int, bytes]]:
        payload = _guarded_payload(self.guard, self.on_warn, from_addr, to_addrs, msg)
        return super().sendmail(from_addr, to_addrs, payload, mail_options, rcpt_options)

    def send_message(
        self,
        msg: Message,
        from_addr: str | None = None,
        to_addrs: str | Sequence[str] | None = None,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
    ) -> dict[str, tuple[int, bytes]]:
        """smtplib's ``send_message``. Some mangled address headers make the standard
        library's header parser raise while smtplib works out the addresses (a message
        built with ``email.policy.default``); those are then read from the raw headers,
        so the message still reaches the guard instead of crashing the sender."""
        try:
            return super().send_message(msg, from_addr, to_addrs, mail_options, rcpt_options)
        except (AttributeError, IndexError) as exc:
            if not _raised_by_header_parser(exc):
                raise
        # As smtplib does: the Sender field when there is one, else From.
        senders = _raw_addresses(msg, ("Sender",)) or _raw_addresses(msg, ("From",))
        envelope_from = from_addr or next(iter(senders), "")
        # As smtplib does: a message sent again once goes to its Resent- fields.
        prefix = "Resent-" if len(msg.get_all("Resent-Date", [])) == 1 else ""
        fields_to = tuple(prefix + name for name in ("To", "Bcc", "Cc"))
        recipients = _raw_addresses(msg, fields_to) if to_addrs is None else to_addrs
        outgoing = copy.copy(msg)
        del outgoing["Bcc"]
        del outgoing["Resent-Bcc"]
        data = outgoing.as_bytes(policy=outgoing.policy.clone(linesep="\r\n"))
        return self.sendmail(envelope_from, recipients, data, mail_options, rcpt_options)


def _raised_by_header_parser(exc: BaseException) -> bool:
    """Whether an exception comes from the email package's header parsing."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module in ("email._header_value_parser", "email.headerregistry"):
            return True
        tb = tb.tb_next
    return False


def _raw_addresses(msg: Message, names: Sequence[str]) -> list[str]:
    """Addresses of some headers, read from their raw text with the bounded reader."""
    found: list[str] = []
    for _, value in fields(msg, *names):
        read = read_address_list(value, max_chars=128 * 1024)
        found.extend(address for _, address in read.mailboxes)
        if not read.clean:
            found.extend(t for t in read.tokens if t not in found)
    return found


class GuardedSMTP_SSL(GuardedSMTP, smtplib.SMTP_SSL):
    """``smtplib.SMTP_SSL`` that checks and protects every message before sending it."""


class SmtpHook:
    """An installed hook on ``smtplib``; undo it with :meth:`unhook` or ``with``."""

    def __init__(self, guard: Guard, on_warn: WarnCallback | None) -> None:
        self.guard = guard
        self.on_warn = on_warn or _log_and_send
        self._original = smtplib.SMTP.sendmail
        hook = self

        def sendmail(
            smtp: smtplib.SMTP,
            from_addr: str,
            to_addrs: str | Sequence[str],
            msg: SizedBuffer | str,
            mail_options: Sequence[str] = (),
            rcpt_options: Sequence[str] = (),
        ) -> dict[str, tuple[int, bytes]]:
            payload = _guarded_payload(hook.guard, hook.on_warn, from_addr, to_addrs, msg)
            return hook._original(smtp, from_addr, to_addrs, payload, mail_options, rcpt_options)

        sendmail.__leakguard_hook__ = True  # type: ignore[attr-defined]
        smtplib.SMTP.sendmail = sendmail  # type: ignore[method-assign,assignment]
        self.active = True

    def unhook(self) -> None:
        """Give ``smtplib`` its original behaviour back."""
        if self.active:
            smtplib.SMTP.sendmail = self._original  # type: ignore[method-assign]
            self.active = False

    def __enter__(self) -> SmtpHook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unhook()

    def __repr__(self) -> str:
        return f"SmtpHook(active={self.active})"


def hook_smtplib(guard: Guard | None = None, /, *, on_warn: WarnCallback | None = None) -> SmtpHook:
    """Guard every ``smtplib.SMTP``/``SMTP_SSL``/``LMTP`` send of an unchanged script.

    ``send_message`` goes through ``sendmail``, so both are covered. Installing a second
    hook while one is active raises ``RuntimeError``.
    """
    if getattr(smtplib.SMTP.sendmail, "__leakguard_hook__", False):
        raise RuntimeError("smtplib is already hooked by leakguard / smtplib est déjà protégé")
    return SmtpHook(guard if guard is not None else Guard(), on_warn)
