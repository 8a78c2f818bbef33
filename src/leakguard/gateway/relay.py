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
long lines are taken as Postfix takes them. Every line end is made CRLF before the check
and sent so: the message checked is the one message any next hop reads.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import ipaddress
import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

from leakguard._headers import mask_header
from leakguard.core import Deadline, mask_numbers
from leakguard.detectors import find_identifiers
from leakguard.errors import LeakguardError
from leakguard.gateway._decide import (
    HEADER,
    Decision,
    Gatekeeper,
    routed,
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
    "crlf",
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
#: Failed logins from one address within the window, after which its logins are
#: refused at once (``454``) until the oldest failure leaves the window.
_LOGIN_FAILURES = 10
_LOGIN_WINDOW = 15 * 60.0
#: Addresses whose failures are remembered.
_FAILURE_ADDRESSES = 4096
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

    ``what`` is ``accepted``, ``refused``, ``deferred``, ``unreachable`` (it could not be
    reached, or failed before the end of the message was sent), ``no_answer`` (the whole
    message was sent and no answer came: it may have kept it), ``abandoned`` (the relay's
    client left, so the message was not sent on) or ``no_smtputf8``; ``stage`` the step
    of the exchange (``connect``, ``MAIL``, ``RCPT``, ``DATA``, ``end_of_data``); ``said``
    its own reply line (code and text), or the error met.
    """

    code: int
    status: str
    what: str
    stage: str | None = None
    said: str = ""

    def reply(self, pick: Callable[[str, str], str]) -> str:
        """The SMTP reply for the relay's client, in the languages ``pick`` chooses."""
        said = _status(self.said.partition(" ")[2] if self.said[:3].isdigit() else "")
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
        elif self.what == "no_answer":
            text = pick(
                f"the next hop did not confirm the message in time, try again later ({self.said})",
                f"le serveur suivant n'a pas confirme le message a temps, reessayez plus tard "
                f"({self.said})",
            )
        elif self.what == "abandoned":
            text = pick(
                "not sent on: the client left before the answer",
                "non transmis : le client est parti avant la reponse",
            )
        else:
            text = pick(
                f"the next hop cannot be reached, try again later ({self.said})",
                f"le serveur suivant est injoignable, reessayez plus tard ({self.said})",
            )
        return f"{self.code} {self.status} {smtp_text(text, 420)}"

    @property
    def summary(self) -> str:
        """For the audit record: the next hop's reply line, or what happened instead."""
        return self.said if self.said[:3].isdigit() else f"{self.what} {self.said}".strip()


def _status(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return mask_header(smtp_text(" ".join(text.split()), 300), width=300)


def _said(code: int, text: bytes | str) -> str:
    return f"{code} {_status(text)}"


class _HopClient(smtplib.SMTP):
    """smtplib's client whose every wait ends at one deadline: each read and write is
    given what is left of it, so the whole exchange cannot outlast it."""

    def __init__(self, deadline: Deadline, local_hostname: str | None) -> None:
        self.deadline = deadline
        self.in_data = False  # between DATA's 354 and the answer to the message's end
        super().__init__(local_hostname=local_hostname, timeout=max(0.01, deadline.remaining()))

    def left(self) -> float:
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise TimeoutError("the next hop's time is up")
        if self.sock is not None:
            self.sock.settimeout(remaining)
        return remaining

    def connect(self, host: str = "localhost", port: int = 0, source_address: Any = None) -> Any:
        self.timeout = self.left()
        self._host = host  # the name STARTTLS checks the certificate against
        return super().connect(host, port, source_address)

    def putcmd(self, cmd: str, args: str = "") -> None:
        self.left()
        super().putcmd(cmd, args)

    def getreply(self) -> tuple[int, bytes]:
        self.left()
        return super().getreply()

    def send(self, s: Any) -> None:
        self.left()
        super().send(s)


def _always() -> bool:
    return True


def forward(
    hop: NextHop,
    mail_from: str,
    recipients: Sequence[str],
    data: bytes,
    *,
    smtputf8: bool = False,
    eightbit: bool = False,
    header: bytes = b"",
    wanted: Callable[[], bool] = _always,
) -> HopReply:
    """Send one message (``header``, then ``data``) to the next hop; what it answered.

    Runs in a worker thread. Only a ``250`` to the end of DATA gives a ``250`` back. The
    whole exchange, from connecting to the answer to the end of the message, takes at
    most ``hop.timeout``: the relay's own client is answered within a known time. The
    message is sent in pieces, every line end written CRLF and dot-stuffed as it goes:
    no copy of it is made. When ``wanted()`` turns false (the relay's client left)
    before the message's last line is sent, the exchange is dropped there and the next
    hop discards what it received: a message its sender was never told about is never
    delivered.
    """
    stage = "connect"
    client = _HopClient(Deadline.after(hop.timeout), hop.helo)
    try:
        client.connect(hop.host, hop.port)
        client.ehlo()
        if hop.starttls:
            client.starttls(context=hop.tls_context or ssl.create_default_context())
            client.ehlo()
        options: list[str] = []
        if smtputf8:
            if not client.has_extn("smtputf8"):
                return HopReply(553, "5.6.7", "no_smtputf8", stage)
            options.append("SMTPUTF8")
        if eightbit and client.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if client.has_extn("size"):
            options.append(f"SIZE={len(header) + len(data)}")
        stage = "MAIL"
        code, text = client.mail(mail_from, options)
        if code != 250:
            return _refused(code, text, stage)
        stage = "RCPT"
        for rcpt in recipients:
            code, text = client.rcpt(rcpt)
            if code not in (250, 251):
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.rset()
                return _refused(code, text, stage)
        stage = "DATA"
        if not wanted():
            return HopReply(451, "4.3.0", "abandoned", stage, "the client left")
        code, text = client.docmd("DATA")
        if code != 354:
            return _refused(code, text, stage)
        client.in_data = True
        pieces = _stuffed(header, data)
        last = next(pieces)
        for piece in pieces:
            client.send(last)
            last = piece
        if not wanted():
            # The last line is not sent: the next hop drops the message with the connection.
            return HopReply(451, "4.3.0", "abandoned", stage, "the client left")
        client.send(last)
        stage = "end_of_data"
        code, text = client.getreply()
        client.in_data = False
        if code != 250:
            return _refused(code, text, "DATA")
        return HopReply(250, "2.0.0", "accepted", "DATA", _said(code, text))
    except smtplib.SMTPResponseException as exc:
        return _refused(exc.smtp_code, exc.smtp_error, stage)
    except (OSError, smtplib.SMTPException) as exc:
        # Down, too slow, connection lost: the client keeps the message and retries. After
        # the end of the message this is the one case SMTP cannot settle (RFC 1047): the
        # next hop may have kept it, and the retry may arrive twice.
        why = "timed out" if client.deadline.expired() else type(exc).__name__
        if stage == "end_of_data":
            return HopReply(451, "4.4.1", "no_answer", stage, why)
        return HopReply(451, "4.4.1", "unreachable", stage, why)
    finally:
        _close(client)


def _close(client: _HopClient) -> None:
    """Say QUIT (without waiting for its answer: the client waits for ours), then close.
    In the middle of the message, close only: the next hop drops what it received."""
    if client.sock is not None and not client.in_data:
        with contextlib.suppress(OSError):
            client.sock.settimeout(0.5)
            client.sock.sendall(b"QUIT\r\n")
    client.close()


_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# A line end that is not CRLF: a CR not followed by LF, an LF not after a CR.
_BARE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_LINE_END = re.compile(rb"\r\n?|\n")
_PIECE = 1 << 20


def crlf(data: bytes | bytearray) -> bytes:
    """``data`` with every bare CR and bare LF written CRLF, as RFC 5321 wants every line
    end sent. The relay checks and sends this form: whichever of CR, LF or CRLF a next
    hop takes for a line end, it finds the lines that were checked."""
    return _BARE_END.sub(b"\r\n", data) if _BARE_END.search(data) else bytes(data)


def _stuffed(*parts: bytes, size: int = _PIECE) -> Iterator[bytes]:
    """The DATA stream of ``parts`` (taken as one message): pieces of about ``size``
    bytes cut at line ends, every line end written CRLF, each line starting with a dot
    doubled, then the final dot line.

    No line end is left bare: a next hop that ends lines at a bare CR or LF would read
    a dot after one as the end of the message, and what follows as a second message
    that was never checked (SMTP smuggling).
    """
    carry = b""  # a CR that ended the last piece: the LF that may follow is in the next
    ended = False  # the stream so far ends with CRLF
    at_start = True  # the next byte starts a line
    for part in parts:
        start = 0
        while start < len(part):
            cut = _LINE_END.search(part, min(start + size, len(part)) - 1)
            end = len(part) if cut is None else cut.end()
            piece = carry + part[start:end]
            start = end
            carry = b""
            if piece.endswith(b"\r"):
                carry, piece = b"\r", piece[:-1]
                if not piece:
                    continue
            stuffed = _LEADING_DOT.sub(b"..", crlf(piece))
            if not at_start and piece.startswith(b"."):
                stuffed = stuffed[1:]  # not a line start: the line began in the last piece
            yield stuffed
            ended = stuffed.endswith(b"\r\n")
            at_start = stuffed.endswith(b"\n")
    if carry:  # the message ended with a bare CR: a line end, then the lone dot
        yield b"\r\n.\r\n"
        return
    # As smtplib ends it: the data closed by CRLF, then the lone dot.
    yield (b"" if ended else b"\r\n") + b".\r\n"


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
    if found is None:
        return None
    # Whoever connects writes the newest Received field: what it calls a queue id may
    # be a patient's number, and is then recorded masked.
    given = found.group(1).decode("ascii")
    return mask_numbers(given) if find_identifiers(given) else given


# ------------------------------------------------------------------ the relay's SMTP side


def _restarting(pick: Callable[[str, str], str]) -> str:
    return smtp_text(
        pick(
            "leakguard relay is restarting, try again later",
            "le relais leakguard redemarre, reessayez plus tard",
        )
    )


_CONTROL = re.compile(r"[\r\n\x00]")
_ROUTED_RCPT = (
    "the recipient address holds a routing character (%, ! or @ before its domain): "
    "the next mail server could deliver it elsewhere than where it was checked; write "
    "it as name@domain",
    "l'adresse de destinataire contient un caractere de routage (%, ! ou @ avant son "
    "domaine) : le serveur suivant pourrait la livrer ailleurs que la ou elle a ete "
    "verifiee ; ecrivez-la sous la forme nom@domaine",
)
_NO_DOMAIN = (
    "the recipient address has no domain: write it as name@domain",
    "l'adresse de destinataire n'a pas de domaine : ecrivez-la sous la forme nom@domaine",
)


@dataclass(frozen=True, slots=True)
class Relayed:
    """The answer for one message (``reply``), the decision and the next hop's part."""

    reply: str
    decision: Decision | None = None
    hop: HopReply | None = None


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
        # At most two password checks at once: a guesser never takes more than that.
        self._logins = ThreadPoolExecutor(max_workers=2, thread_name_prefix="login")
        self._failures: dict[object, collections.deque[float]] = {}
        self._checking: dict[object, int] = {}

    def pick(self, en: str, fr: str) -> str:
        return self.keeper.pick(en, fr)

    def admits(self, peer: object) -> bool:
        """Whether the client at ``peer`` may use the relay."""
        address = _client_address(peer)
        return address is not None and any(address in net for net in self.allowed)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd's authenticator, never consulted: :class:`RelaySMTP` checks a login
        itself, off the event loop (see :meth:`check_login`)."""
        return AuthResult(success=False, handled=False)

    async def check_login(self, peer: object, login: LoginPassword) -> str:
        """``good``, ``bad``, or ``locked`` when the client's address failed too often
        lately: then only a login already known good is checked (it costs nothing), so
        a guesser behind the same address cannot lock a known client out.

        The password is checked in a thread: scrypt takes a twentieth of a second or
        more, which the event loop, serving every other client, must not wait for.
        """
        if self.passwords is None:
            return "bad"
        user = login.login.decode("utf-8", "replace")
        password = login.password.decode("utf-8", "replace")
        address = _client_address(peer)
        now = time.monotonic()
        if self._locked(address, now):
            return "good" if self.passwords.known(user, password) else "locked"
        loop = asyncio.get_running_loop()
        # Checks under way count as failures to come: guessers on many connections at
        # once get no more checks than one guesser would.
        self._checking[address] = self._checking.get(address, 0) + 1
        try:
            good = await loop.run_in_executor(self._logins, self.passwords.check, user, password)
        finally:
            self._checking[address] -= 1
            if not self._checking[address]:
                del self._checking[address]
        if good:
            return "good"
        log.warning("leakguard relay: failed login from %s", address)
        self._failed(address, time.monotonic())
        return "bad"

    def _locked(self, address: object, now: float) -> bool:
        recent = self._failures.get(address)
        while recent and now - recent[0] > _LOGIN_WINDOW:
            recent.popleft()
        failed = len(recent) if recent is not None else 0
        return failed + self._checking.get(address, 0) >= _LOGIN_FAILURES

    def _failed(self, address: object, now: float) -> None:
        if address not in self._failures and len(self._failures) >= _FAILURE_ADDRESSES:
            # Forget the address whose last failure is oldest: the table stays bounded.
            oldest = min(self._failures, key=lambda a: self._failures[a][-1])
            del self._failures[oldest]
        self._failures.setdefault(address, collections.deque(maxlen=_LOGIN_FAILURES)).append(now)

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
            return "421 4.3.2 " + _restarting(self.pick)
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
        if routed(address):
            return "553 5.1.3 " + smtp_text(self.pick(*_ROUTED_RCPT))
        if "@" not in address and address.lower() != "postmaster":
            # Whichever domain the next hop would add, the guard cannot know it.
            return "553 5.1.3 " + smtp_text(self.pick(*_NO_DOMAIN))
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

    @property
    def answer_within(self) -> float:
        """Seconds from the end of a message's data to the relay's answer, at most: the
        check (its budget and grace), then the next hop's whole exchange."""
        return self.keeper.timeout + self.keeper.runner.grace + self.hop.timeout

    def start(self, envelope: Envelope, gone: threading.Event) -> asyncio.Task[Relayed]:
        """Check and send on the message of ``envelope`` in a task of its own, which goes
        on (and is recorded) even when the client leaves; ``gone`` is set then, and the
        message is not sent on if it was not already."""
        task = asyncio.ensure_future(self._relay(envelope, gone))
        self.in_flight += 1
        self._idle.clear()
        task.add_done_callback(self._ended)
        return task

    def _ended(self, _: object) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def _relay(self, envelope: Envelope, gone: threading.Event) -> Relayed:
        data = envelope.original_content or b""
        recipients = list(envelope.rcpt_tos)
        queue_id = upstream_queue_id(data)
        decision: Decision | None = None
        try:
            decision = await self.keeper.decide(data, recipients, queue_id=queue_id)
            if not decision.accepted:
                return Relayed(decision.reply, decision)
            if gone.is_set():  # left during the check: nobody to tell, nothing sent
                hop = HopReply(451, "4.3.0", "abandoned", None, "the client left")
            else:
                loop = asyncio.get_running_loop()
                # The protected copy is held while it is sent on: counted like the rest.
                extra = len(decision.replacement or b"")
                self.keeper.runner.reserve(extra, force=True)
                try:
                    hop = await loop.run_in_executor(
                        self._pool, self._send_on, decision, envelope, recipients, data, gone
                    )
                finally:
                    self.keeper.runner.release(extra)
            reply = f"{hop.reply(self.pick)} (leakguard {decision.verdict_id})"
            return Relayed(reply, decision, hop)
        except Exception as exc:  # never answer 250 for a message that did not go on
            log.error("leakguard relay: %s while relaying", type(exc).__name__)
            reply = "451 4.3.0 " + smtp_text(
                self.pick(
                    "leakguard relay error, try again later",
                    "erreur du relais leakguard, reessayez plus tard",
                )
            )
            return Relayed(reply, decision)

    def record(self, done: Relayed, *, told: bool) -> None:
        """The audit line of a message once its client's answer is known: ``told`` says
        whether the answer could be given (False: the client had left)."""
        if done.decision is None:
            return
        hop = done.hop
        self.keeper.record(
            done.decision,
            reply=done.reply,
            next_hop=hop.summary if hop is not None else None,
            next_hop_stage=hop.stage if hop is not None else None,
            told=told,
        )

    def _send_on(
        self,
        decision: Decision,
        envelope: Envelope,
        recipients: list[str],
        data: bytes,
        gone: threading.Event,
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
            wanted=lambda: not gone.is_set(),
        )

    async def drain(self, timeout: float) -> None:
        """Refuse new transactions and wait for those under way."""
        self.closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._logins.shutdown(wait=False, cancel_futures=True)
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
        self._login: LoginPassword | None = None

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

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        # aiosmtpd asks here, and waits for the answer without yielding: the login is
        # kept, answered "handled", and checked by smtp_AUTH off the event loop.
        self._login = auth_data if isinstance(auth_data, LoginPassword) else None
        return AuthResult(success=False, handled=True)

    async def smtp_AUTH(self, arg: str) -> None:
        assert self.session is not None
        self._login = None
        await super().smtp_AUTH(arg)
        login, self._login = self._login, None
        if login is not None:
            answer = await self.relay.check_login(self.session.peer, login)
            if answer == "good":
                self.session.authenticated = True
                self.session.auth_data = login
                self.session.login_data = login.login
                await self.push("235 2.7.0 Authentication successful")
                return
            if answer == "locked":
                await self._refuse(
                    "454 4.7.0 "
                    + smtp_text(
                        self.relay.pick(
                            "too many failed logins from this address, try again later",
                            "trop d'echecs de connexion depuis cette adresse, reessayez plus tard",
                        )
                    )
                )
                return
            await self.push("535 5.7.8 Authentication credentials invalid")
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
                self._after_data()
                refused = keeper.unchecked(
                    552, "5.3.4", smtp_text(too_much), error="too_large", size=size
                )
                told = await self._tell(refused.reply)
                keeper.record(refused, told=told)
                return
            if state == "busy":
                busy = keeper.busy(size=size)
                self._after_data()
                told = await self._tell(busy.reply)
                keeper.record(busy, told=told)
                return
            if self.relay.closing:
                # The relay is stopping: work begun now could outlive it, the message
                # sent on with nobody left to tell its sender. It comes back later.
                self._after_data()
                restarting = keeper.unchecked(
                    421, "4.3.2", _restarting(self.relay.pick), error="restarting", size=size
                )
                told = await self._tell(restarting.reply)
                keeper.record(restarting, told=told)
                if self.transport is not None:
                    self.transport.close()
                return
            # Every line end made CRLF before the check: the lines checked are the lines
            # sent, whichever line ends the next hop takes (see _stuffed).
            content = crlf(data)
            data.clear()
            grown = len(content) - held  # a CR or LF made CRLF takes one more byte
            if grown > 0:
                keeper.runner.reserve(grown, force=True)
                held += grown
            self.envelope.content = self.envelope.original_content = content
            # From here the relay works, not the client: its idle timer waits for as long
            # as the check and the next hop may take, so it never cuts a client whose
            # message is being sent on.
            self._reset_timeout(self.relay.answer_within + 5)
            gone = threading.Event()
            work = self.relay.start(self.envelope, gone)
            try:
                done = await asyncio.shield(work)
            except asyncio.CancelledError:
                # The client left: the message is not sent on if it was not already, and
                # its record is written when the work ends; its bytes count until then.
                gone.set()
                work.add_done_callback(functools.partial(self._orphan_done, held=held))
                held = 0
                raise
            self._after_data()
            told = False
            try:
                told = await self._tell(done.reply)
            finally:
                self.relay.record(done, told=told)
                if self.transport is not None:
                    self._reset_timeout()
        finally:
            keeper.runner.release(held)

    def _orphan_done(self, task: asyncio.Task[Relayed], *, held: int) -> None:
        self.relay.keeper.runner.release(held)
        if not task.cancelled() and task.exception() is None:
            self.relay.record(task.result(), told=False)

    async def _tell(self, reply: str) -> bool:
        """Send ``reply``; whether the client was still there to get it."""
        if self.transport is None or self.transport.is_closing():
            return False
        try:
            await self.push(reply)
        except (OSError, ConnectionError):
            return False
        return self.transport is not None

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
    client_timeout: float = 300.0,
) -> None:
    """Serve until SIGTERM or SIGINT; then finish the messages under way and stop.

    With ``tls_context`` the relay offers STARTTLS to its clients (a Microsoft 365
    connector, for one, wants TLS to its smart host). ``allow_clients`` are the networks
    that may use the relay besides loopback; with ``passwords`` every client must log in
    first. ``reuse_port`` lets several processes listen on the same port (SO_REUSEPORT).
    ``client_timeout`` is how long a client may stay silent before a command, and the
    most a message's data may take to arrive (aiosmtpd's timeout, 5 minutes as Postfix);
    once the data is in, the client waits for as long as the check and the next hop may
    take (:attr:`RelayHandler.answer_within`), never more.
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
            "timeout": client_timeout,
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
        await handler.drain(handler.answer_within + 5)
        handler.close()
