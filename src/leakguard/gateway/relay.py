"""The SMTP relay: a content filter or smart host that answers only for what the next hop did.

Each message is checked by the :class:`~leakguard.gateway._decide.Gatekeeper`; a message
that may leave is sent on to the next hop, and the client gets ``250`` only once the next
hop accepted it. A refusal by the next hop (5xx) comes back as 5xx; a next hop that is
down, too slow or answers 4xx gives ``451``, so the client keeps the message and retries.
A recipient refused by the next hop stops the whole transaction before DATA: a message is
delivered to all its recipients or to none. SMTPUTF8 and 8BITMIME pass through; the size
limit is announced in EHLO.

Who may use it: clients from loopback, and from the networks given with
``allow_clients``; any other client gets ``554`` at connect. With a password file, every
client must also authenticate (over TLS, or from loopback). Addresses with CR, LF or NUL
are refused (``501``), never rewritten; a transaction takes at most ``max_recipients``.
Every byte of message data received counts against the gatekeeper's memory budget, and
long lines are taken as Postfix takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

from leakguard._headers import mask_header
from leakguard.errors import LeakguardError
from leakguard.gateway._decide import (
    HEADER,
    Decision,
    Gatekeeper,
    smtp_text,
    until_stopped,
    without_header,
)
from leakguard.gateway.passwords import PasswordFile

__all__ = [
    "LOOPBACK",
    "MAX_CONNECTIONS",
    "MAX_RECIPIENTS",
    "HopReply",
    "NextHop",
    "RelayHandler",
    "forward",
    "parse_client_network",
    "parse_hostport",
    "serve",
    "upstream_queue_id",
]

log = logging.getLogger("leakguard.gateway")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Always allowed: programs on the relay's own machine (a Postfix content_filter).
LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
#: Recipients in one transaction, as Postfix's ``smtpd_recipient_limit``: the client
#: sends the others in a new transaction after ``452``.
MAX_RECIPIENTS = 1000
#: Client connections at once; the next ones get ``421`` and are closed.
MAX_CONNECTIONS = 256
#: Failed AUTH attempts before a connection is closed.
_AUTH_TRIES = 3
#: Message data is counted against the memory budget in steps of this many bytes.
_RESERVE_STEP = 256 * 1024


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


def parse_client_network(value: str) -> Network:
    """``--allow-client`` value: a network (``192.168.1.0/24``) or one address."""
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise LeakguardError(
            f"--allow-client must be a network such as 192.168.1.0/24 or an address, not {value!r}",
            fr=f"--allow-client doit être un réseau comme 192.168.1.0/24 ou une adresse, "
            f"pas {value!r}",
        ) from None


def _client_address(peer: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    host = peer[0] if isinstance(peer, tuple) and peer else None
    if not isinstance(host, str):
        return None
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# ------------------------------------------------------------------ the next hop


@dataclass(frozen=True, slots=True)
class HopReply:
    """What happened at the next hop, and what the relay's client is told about it.

    ``what`` is ``accepted``, ``refused``, ``deferred``, ``unreachable`` or
    ``no_smtputf8``; ``stage`` the command the next hop answered (MAIL, RCPT, DATA);
    ``said`` its own reply line (code and text), or the error met when it could not be
    reached.
    """

    code: int
    status: str
    what: str
    stage: str | None = None
    said: str = ""

    def reply(self, pick: Callable[[str, str], str]) -> str:
        """The SMTP reply for the relay's client, in the languages ``pick`` chooses."""
        said = _status(self.said.partition(" ")[2] if self.what != "unreachable" else "")
        stage = self.stage or "SMTP"
        if self.what == "accepted":
            text = pick(
                f"accepted by the next hop: {said}", f"accepte par le serveur suivant : {said}"
            )
        elif self.what == "refused":
            text = pick(
                f"the next hop refused at {stage}: {said}",
                f"le serveur suivant a refuse a l'etape {stage} : {said}",
            )
        elif self.what == "deferred":
            text = pick(
                f"the next hop deferred at {stage}, try again later: {said}",
                f"le serveur suivant a differe a l'etape {stage}, reessayez plus tard : {said}",
            )
        elif self.what == "no_smtputf8":
            text = pick(
                "the next hop does not accept internationalised addresses",
                "le serveur suivant n'accepte pas les adresses internationalisees",
            )
        else:
            text = pick(
                f"the next hop cannot be reached, try again later ({self.said})",
                f"le serveur suivant est injoignable, reessayez plus tard ({self.said})",
            )
        return f"{self.code} {self.status} {smtp_text(text, 420)}"


def _status(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return mask_header(smtp_text(" ".join(text.split()), 300), width=300)


def _said(code: int, text: bytes | str) -> str:
    return f"{code} {_status(text)}"


def forward(
    hop: NextHop,
    mail_from: str,
    recipients: Sequence[str],
    data: bytes,
    *,
    smtputf8: bool = False,
    eightbit: bool = False,
    header: bytes = b"",
) -> HopReply:
    """Send one message (``header``, then ``data``) to the next hop; what it answered.

    Runs in a worker thread. Only a ``250`` to the end of DATA gives a ``250`` back. The
    message is sent in pieces, dot-stuffed as it goes: no copy of it is made.
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
                    return HopReply(553, "5.6.7", "no_smtputf8")
                options.append("SMTPUTF8")
            if eightbit and client.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            if client.has_extn("size"):
                options.append(f"SIZE={len(header) + len(data)}")
            code, text = client.mail(mail_from, options)
            if code != 250:
                return _refused(code, text, "MAIL")
            for rcpt in recipients:
                code, text = client.rcpt(rcpt)
                if code not in (250, 251):
                    with contextlib.suppress(smtplib.SMTPException, OSError):
                        client.rset()
                    return _refused(code, text, "RCPT")
            code, text = client.docmd("DATA")
            if code != 354:
                return _refused(code, text, "DATA")
            for piece in _stuffed(header, data):
                client.send(piece)
            code, text = client.getreply()
            if code != 250:
                return _refused(code, text, "DATA")
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            return HopReply(250, "2.0.0", "accepted", "DATA", _said(code, text))
    except smtplib.SMTPResponseException as exc:
        return _refused(exc.smtp_code, exc.smtp_error, "SMTP")
    except (OSError, smtplib.SMTPException) as exc:
        # Down, too slow, connection lost: the client keeps the message and retries.
        return HopReply(451, "4.4.1", "unreachable", None, type(exc).__name__)


_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
_PIECE = 1 << 20


def _stuffed(*parts: bytes) -> Iterator[bytes]:
    """The DATA stream of ``parts`` (taken as one message): pieces of about 1 MiB cut
    at line ends, each line starting with a dot doubled, then the final dot line."""
    last = b""
    for part in parts:
        start = 0
        while start < len(part):
            end = part.find(b"\n", min(start + _PIECE, len(part)) - 1)
            end = len(part) if end < 0 else end + 1
            piece = part[start:end]
            stuffed = _LEADING_DOT.sub(b"..", piece)
            if last[-1:] not in (b"", b"\n") and piece.startswith(b"."):
                stuffed = stuffed[1:]  # not a line start: the line began in the last piece
            yield stuffed
            last = (last + piece)[-2:]
            start = end
    # As smtplib ends it: the data closed by CRLF, then the lone dot.
    yield (b"" if last == b"\r\n" else b"\r\n") + b".\r\n"


def _refused(code: int, text: bytes | str, stage: str) -> HopReply:
    if 500 <= code < 600:
        return HopReply(code, "5.0.0", "refused", stage, _said(code, text))
    return HopReply(451, "4.4.0", "deferred", stage, _said(code, text))


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


# ------------------------------------------------------------------ the relay's SMTP side

_CONTROL = re.compile(r"[\r\n\x00]")


class RelayHandler:
    """aiosmtpd handler: who may send, what an envelope may hold; check, forward, answer."""

    def __init__(
        self,
        keeper: Gatekeeper,
        hop: NextHop,
        *,
        allow_clients: Iterable[Network] = (),
        passwords: PasswordFile | None = None,
        max_recipients: int = MAX_RECIPIENTS,
        max_connections: int = MAX_CONNECTIONS,
        connections: int = 32,
    ) -> None:
        self.keeper = keeper
        self.hop = hop
        self.allowed = (*LOOPBACK, *allow_clients)
        self.passwords = passwords
        self.max_recipients = max_recipients
        self.max_connections = max_connections
        self.open_connections = 0
        self.closing = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="next-hop")

    def pick(self, en: str, fr: str) -> str:
        return self.keeper.pick(en, fr)

    def admits(self, peer: object) -> bool:
        """Whether the client at ``peer`` may use the relay."""
        address = _client_address(peer)
        return address is not None and any(address in net for net in self.allowed)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd's authenticator: the login against the password file."""
        if self.passwords is None or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = data.login.decode("utf-8", "replace")
        good = self.passwords.check(user, data.password.decode("utf-8", "replace"))
        if not good:
            log.warning("leakguard relay: failed login from %s", _client_address(session.peer))
        return AuthResult(success=good, handled=False)

    def _refused_address(self, address: str, what_en: str, what_fr: str) -> str | None:
        if _CONTROL.search(address):
            return "501 5.1.3 " + smtp_text(
                self.pick(
                    f"{what_en} holds a line break or a NUL character: refused, never rewritten",
                    f"{what_fr} contient un saut de ligne ou un caractere NUL : refusee, "
                    "jamais reecrite",
                )
            )
        return None

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.closing:
            return "421 4.3.2 " + smtp_text(
                self.pick(
                    "leakguard relay is restarting, try again later",
                    "le relais leakguard redemarre, reessayez plus tard",
                )
            )
        refused = self._refused_address(address, "The sender address", "L'adresse d'expediteur")
        if refused is not None:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refused = self._refused_address(
            address, "The recipient address", "L'adresse de destinataire"
        )
        if refused is not None:
            return refused
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 " + smtp_text(
                self.pick(
                    f"too many recipients: at most {self.max_recipients} per message, send "
                    "the others in another one",
                    f"trop de destinataires : au plus {self.max_recipients} par message, "
                    "envoyez les autres dans un autre",
                )
            )
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self._relay(envelope)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def _relay(self, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        recipients = list(envelope.rcpt_tos)
        queue_id = upstream_queue_id(data)
        decision: Decision | None = None
        try:
            decision = await self.keeper.decide(data, recipients, queue_id=queue_id)
            if not decision.accepted:
                self.keeper.record(decision)
                return decision.reply
            loop = asyncio.get_running_loop()
            # The protected copy is held while it is sent on: counted like the rest.
            extra = len(decision.replacement or b"")
            self.keeper.runner.reserve(extra, force=True)
            try:
                hop = await loop.run_in_executor(
                    self._pool, self._send_on, decision, envelope, recipients, data
                )
            finally:
                self.keeper.runner.release(extra)
            reply = f"{hop.reply(self.pick)} (leakguard {decision.verdict_id})"
            said = hop.said if hop.said[:3].isdigit() else f"{hop.what} {hop.said}".strip()
            self.keeper.record(decision, reply=reply, next_hop=said)
            return reply
        except Exception as exc:  # never answer 250 for a message that did not go on
            log.error("leakguard relay: %s while relaying", type(exc).__name__)
            reply = "451 4.3.0 " + smtp_text(
                self.pick(
                    "leakguard relay error, try again later",
                    "erreur du relais leakguard, reessayez plus tard",
                )
            )
            if decision is not None:
                self.keeper.record(decision, reply=reply)
            return reply

    def _send_on(
        self, decision: Decision, envelope: Envelope, recipients: list[str], data: bytes
    ) -> HopReply:
        """In a worker thread: our own header, the message without any sender's copy of
        it, to the next hop."""
        payload = decision.replacement if decision.replacement is not None else data
        options = [o.upper() for o in envelope.mail_options]
        return forward(
            self.hop,
            envelope.mail_from or "",
            recipients,
            without_header(payload, HEADER),
            smtputf8=bool(envelope.smtp_utf8) or "SMTPUTF8" in options,
            eightbit="BODY=8BITMIME" in options,
            header=f"{HEADER}: {decision.header}\r\n".encode("ascii"),
        )

    async def drain(self, timeout: float) -> None:
        """Refuse new transactions and wait for those under way."""
        self.closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.keeper.close()


class RelaySMTP(SMTP):
    """aiosmtpd's server with the relay's own rules at connect and in DATA.

    A client the handler does not admit gets ``554`` instead of the greeting; past the
    connection limit, ``421``. DATA takes lines of any length (as Postfix does, which
    splits them), counts each byte against the gatekeeper's memory budget and, when the
    budget is full, reads the message to its end and answers ``451``.
    """

    def __init__(self, handler: RelayHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.relay = handler
        self._counted = False
        self._auth_failures = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first and self.session is not None:
            self.relay.open_connections += 1
            self._counted = True
            # AUTH is offered over TLS, or in clear to a program on the same machine.
            if self.relay.passwords is not None and self.relay.admits(self.session.peer):
                address = _client_address(self.session.peer)
                if address is not None and address.is_loopback:
                    self._auth_require_tls = False

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self.relay.open_connections -= 1
            self._counted = False
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        assert self.session is not None
        if not self.relay.admits(self.session.peer):
            address = _client_address(self.session.peer)
            log.warning("leakguard relay: client %s refused (not an allowed client)", address)
            await self._refuse(
                "554 5.7.1 "
                + smtp_text(
                    self.relay.pick(
                        f"this relay does not accept mail from {address}: only the "
                        "clinic's own servers and networks may use it",
                        f"ce relais n'accepte pas de courrier de {address} : seuls les "
                        "serveurs et reseaux de l'etablissement peuvent l'utiliser",
                    )
                )
            )
            return
        if self.relay.open_connections > self.relay.max_connections:
            await self._refuse(
                "421 4.7.0 "
                + smtp_text(
                    self.relay.pick(
                        "too many connections to leakguard relay, try again later",
                        "trop de connexions au relais leakguard, reessayez plus tard",
                    )
                )
            )
            return
        await super()._handle_client()

    async def _refuse(self, line: str) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            await self.push(line)
        if self.transport is not None:
            self.transport.close()

    async def smtp_AUTH(self, arg: str) -> None:
        assert self.session is not None
        await super().smtp_AUTH(arg)
        if self.relay.passwords is not None and not self.session.authenticated and arg:
            self._auth_failures += 1
            if self._auth_failures >= _AUTH_TRIES and self.transport is not None:
                self.transport.close()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        data, held, state, size = await self._read_data()
        keeper = self.relay.keeper
        try:
            if state == "too_much":
                too_much = self.relay.pick(
                    f"message larger than {self.data_size_limit} bytes, the relay's limit",
                    f"message de plus de {self.data_size_limit} octets, la limite du relais",
                )
                await self.push(f"552 5.3.4 {smtp_text(too_much)}")
                self._after_data()
                return
            if state == "busy":
                busy = keeper.busy(size=size)
                keeper.record(busy)
                self._after_data()
                await self.push(busy.reply)
                return
            self.envelope.content = self.envelope.original_content = bytes(data)
            data.clear()
            status = await self._call_handler_hook("DATA")
            self._after_data()
            await self.push(status)
        finally:
            keeper.runner.release(held)

    def _after_data(self) -> None:
        self._set_post_data_state()  # type: ignore[no-untyped-call]

    async def _read_data(self) -> tuple[bytearray, int, str, int]:
        """The message up to the lone dot, dot-stuffing removed; the bytes counted
        against the memory budget; ``ok``, ``too_much`` or ``busy``; the size received.

        A line longer than the reader's limit is taken in pieces (a bare LF inside a
        line is content, as Postfix keeps it; only CRLF "." CRLF ends the data).
        """
        data = bytearray()
        held = 0  # reserved, a little ahead of what is kept
        size = 0
        state = "ok"
        limit = self.data_size_limit
        memory = self.relay.keeper.runner
        at_line_start = True
        while self.transport is not None:
            try:
                piece = await self._reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as exc:
                piece = await self._reader.read(exc.consumed)
            complete = piece.endswith(b"\r\n")
            if at_line_start:
                if piece == b".\r\n":
                    break
                if piece.startswith(b"."):
                    piece = piece[1:]
            at_line_start = complete
            size += len(piece)
            if state != "ok":
                continue
            if limit and size > limit:
                state = "too_much"
            elif len(data) + len(piece) <= held:
                data += piece
                continue
            else:
                more = max(len(piece), _RESERVE_STEP)
                if memory.reserve(more):
                    held += more
                    data += piece
                    continue
                state = "busy"
            data = bytearray()  # what was kept is given back at once
            memory.release(held)
            held = 0
        return data, held, state, size


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
    allow_clients: Iterable[Network] = (),
    passwords: PasswordFile | None = None,
    max_recipients: int = MAX_RECIPIENTS,
    max_connections: int = MAX_CONNECTIONS,
) -> None:
    """Serve until SIGTERM or SIGINT; then finish the messages under way and stop.

    With ``tls_context`` the relay offers STARTTLS to its clients (a Microsoft 365
    connector, for one, wants TLS to its smart host). ``allow_clients`` are the networks
    that may use the relay besides loopback; with ``passwords`` every client must log in
    first. ``reuse_port`` lets several processes listen on the same port (SO_REUSEPORT).
    """
    loop = asyncio.get_running_loop()
    handler = RelayHandler(
        keeper,
        hop,
        allow_clients=allow_clients,
        passwords=passwords,
        max_recipients=max_recipients,
        max_connections=max_connections,
    )

    def factory() -> SMTP:
        kwargs: dict[str, Any] = {
            "data_size_limit": size_limit,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "ident": "leakguard relay",
        }
        if tls_context is not None:
            kwargs["tls_context"] = tls_context
        if passwords is not None:
            kwargs["authenticator"] = handler.authenticate
            kwargs["auth_required"] = True
            kwargs["auth_exclude_mechanism"] = ["CRAM-MD5"]
        return RelaySMTP(handler, **kwargs)

    server = await loop.create_server(factory, host, port, reuse_port=reuse_port or None)
    try:
        await until_stopped(ready)
    finally:
        server.close()
        await handler.drain(keeper.timeout + hop.timeout * 4)
        handler.close()
