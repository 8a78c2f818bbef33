"""The SMTP relay: a content filter or smart host that answers only for what the next hop did.

Each message is checked by the :class:`~leakguard.gateway._decide.Gatekeeper`; a message
that may leave is sent on to the next hop, and the client gets ``250`` only once the next
hop accepted it. A refusal by the next hop (5xx) comes back as 5xx; a next hop that is
down, too slow or answers 4xx gives ``451``, so the client keeps the message and retries.
A recipient refused by the next hop stops the whole transaction before DATA: a message is
delivered to all its recipients or to none. SMTPUTF8 and 8BITMIME pass through; the size
limit is announced in EHLO.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from leakguard.errors import LeakguardError
from leakguard.gateway._decide import (
    HEADER,
    Gatekeeper,
    smtp_text,
    until_stopped,
    without_header,
)

__all__ = [
    "NextHop",
    "RelayHandler",
    "forward",
    "parse_hostport",
    "serve",
    "upstream_queue_id",
]

log = logging.getLogger("leakguard.gateway")


@dataclass(frozen=True, slots=True)
class NextHop:
    """Where accepted messages go, and how long the relay waits for it."""

    host: str
    port: int
    timeout: float = 30.0
    starttls: bool = False
    tls_context: ssl.SSLContext | None = None
    helo: str | None = None


def parse_hostport(value: str, option: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:25`` for IPv6) → host and port, or a clear error."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LeakguardError(
            f"{option} must look like HOST:PORT (for example 127.0.0.1:10025), not {value!r}",
            fr=f"{option} doit avoir la forme HÔTE:PORT (par exemple 127.0.0.1:10025), "
            f"pas {value!r}",
        )
    return host.strip("[]"), int(port)


def _status(code: int, text: bytes | str) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return smtp_text(" ".join(raw.split()), 300)


def forward(
    hop: NextHop,
    mail_from: str,
    recipients: Sequence[str],
    data: bytes,
    *,
    smtputf8: bool = False,
    eightbit: bool = False,
) -> str:
    """Send one message to the next hop; the SMTP reply the relay's client should get.

    Runs in a worker thread. Only a ``250`` to the end of DATA gives a ``250`` back.
    """
    try:
        with smtplib.SMTP(
            hop.host, hop.port, timeout=hop.timeout, local_hostname=hop.helo
        ) as client:
            client.ehlo()
            if hop.starttls:
                client.starttls(context=hop.tls_context or ssl.create_default_context())
                client.ehlo()
            options: list[str] = []
            if smtputf8:
                if not client.has_extn("smtputf8"):
                    return "553 5.6.7 the next hop does not accept internationalised addresses"
                options.append("SMTPUTF8")
            if eightbit and client.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            if client.has_extn("size"):
                options.append(f"SIZE={len(data)}")
            code, text = client.mail(mail_from, options)
            if code != 250:
                return _refused(code, text, "MAIL")
            for rcpt in recipients:
                code, text = client.rcpt(rcpt)
                if code not in (250, 251):
                    with contextlib.suppress(smtplib.SMTPException, OSError):
                        client.rset()
                    return _refused(code, text, "RCPT")
            code, text = client.data(data)
            if code != 250:
                return _refused(code, text, "DATA")
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            return f"250 2.0.0 accepted by the next hop: {_status(code, text)}"
    except smtplib.SMTPDataError as exc:
        return _refused(exc.smtp_code, exc.smtp_error, "DATA")
    except smtplib.SMTPResponseException as exc:
        return _refused(exc.smtp_code, exc.smtp_error, "SMTP")
    except (OSError, smtplib.SMTPException) as exc:
        # Down, too slow, connection lost: the client keeps the message and retries.
        return f"451 4.4.1 the next hop cannot be reached, try again later ({type(exc).__name__})"


_RECEIVED = re.compile(rb"(?im)^received:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)")
_RECEIVED_ID = re.compile(rb"\bid ([A-Za-z0-9]{6,40})\b")


def upstream_queue_id(data: bytes) -> str | None:
    """The queue id the sending server wrote in its ``Received`` field, if any.

    As a Postfix ``content_filter`` the relay gets each message from Postfix, whose
    newest ``Received`` field says ``… with ESMTPSA id 4BcD5F2a1``: the audit record then
    names the same queue id as the mail log.
    """
    head = data[: data.find(b"\r\n\r\n") if b"\r\n\r\n" in data else 8192]
    newest = _RECEIVED.search(head)
    found = _RECEIVED_ID.search(newest.group(1)) if newest else None
    return found.group(1).decode("ascii") if found else None


def _refused(code: int, text: bytes | str, stage: str) -> str:
    said = _status(code, text)
    if 500 <= code < 600:
        return f"{code} 5.0.0 the next hop refused at {stage}: {said}"
    return f"451 4.4.0 the next hop deferred at {stage}, try again later: {said}"


class RelayHandler:
    """aiosmtpd handler: check, then forward, then answer."""

    def __init__(self, keeper: Gatekeeper, hop: NextHop, *, connections: int = 32) -> None:
        self.keeper = keeper
        self.hop = hop
        self.closing = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="next-hop")

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.closing:
            return "421 4.3.2 leakguard relay is restarting, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self._relay(envelope)
        except Exception as exc:  # never answer 250 for a message that did not go on
            log.error("leakguard relay: %s while relaying", type(exc).__name__)
            return "451 4.3.0 leakguard relay error, try again later"
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def _relay(self, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        recipients = list(envelope.rcpt_tos)
        decision = await self.keeper.decide(data, recipients, queue_id=upstream_queue_id(data))
        if not decision.accepted:
            return decision.reply
        payload = decision.replacement if decision.replacement is not None else data
        payload = f"{HEADER}: {decision.header}\r\n".encode("ascii") + without_header(
            payload, HEADER
        )
        options = [o.upper() for o in envelope.mail_options]
        loop = asyncio.get_running_loop()
        reply: str = await loop.run_in_executor(
            self._pool,
            lambda: forward(
                self.hop,
                envelope.mail_from or "",
                recipients,
                payload,
                smtputf8=bool(envelope.smtp_utf8) or "SMTPUTF8" in options,
                eightbit="BODY=8BITMIME" in options,
            ),
        )
        return f"{reply} (leakguard {decision.verdict_id})"

    async def drain(self, timeout: float) -> None:
        """Refuse new transactions and wait for those under way."""
        self.closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.keeper.close()


async def serve(
    keeper: Gatekeeper,
    host: str,
    port: int,
    hop: NextHop,
    *,
    size_limit: int = 25 * 1024 * 1024,
    tls_context: ssl.SSLContext | None = None,
    ready: Callable[[], None] | None = None,
    reuse_port: bool = False,
) -> None:
    """Serve until SIGTERM or SIGINT; then finish the messages under way and stop.

    With ``tls_context`` the relay offers STARTTLS to its clients (a Microsoft 365
    connector, for one, wants TLS to its smart host). ``reuse_port`` lets several
    processes listen on the same port (SO_REUSEPORT).
    """
    loop = asyncio.get_running_loop()
    handler = RelayHandler(keeper, hop)

    def factory() -> SMTP:
        kwargs: dict[str, Any] = {
            "data_size_limit": size_limit,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "ident": "leakguard relay",
        }
        if tls_context is not None:
            kwargs["tls_context"] = tls_context
        return SMTP(handler, **kwargs)

    server = await loop.create_server(factory, host, port, reuse_port=reuse_port or None)
    try:
        await until_stopped(ready)
    finally:
        server.close()
        await handler.drain(keeper.timeout + hop.timeout * 4)
        handler.close()
