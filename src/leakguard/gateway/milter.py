"""The Postfix / Sendmail milter: every message is checked at end of data.

Built on ``kilter.service`` (a pure-Python implementation of the milter protocol). The
filter collects the envelope recipients (RCPT TO, so Bcc counts), the headers and the
body, asks the :class:`~leakguard.gateway._decide.Gatekeeper`, and answers: accept with
an ``X-Leakguard`` header, replace the message by its encrypted form, ``550 5.7.1`` with
a masked reason, or ``451 4.7.1`` when the message could not be checked. Run with
``milter_default_action = tempfail`` in Postfix so a milter that is down also defers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

import anyio
import anyio.abc
from kilter.protocol.messages import (
    Accept,
    ActionFlags,
    Header,
    ProtocolFlags,
    ReplyCode,
)
from kilter.service import END, Runner, Session
from kilter.service.options import modify_flags
from kilter.service.session import Filter, FilterResponse

from leakguard.errors import LeakguardError
from leakguard.gateway._decide import HEADER, Gatekeeper, without_header

__all__ = ["filter_for", "parse_listen", "serve"]

log = logging.getLogger("leakguard.gateway")

#: Body replacement is sent in pieces that fit the 1 KiB buffer kilter.service (0.3)
#: encodes each milter message in (length, command byte and data); libmilter's own
#: limit, 65535, would not fit and every body over 1 KiB would fail.
_CHUNK = 1000


def parse_listen(value: str) -> tuple[str, int]:
    """``inet:HOST:PORT`` (Postfix's notation) or ``HOST:PORT`` → host and port."""
    spec = value.removeprefix("inet:")
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise LeakguardError(
            f"--listen must look like inet:127.0.0.1:8899, not {value!r}",
            fr=f"--listen doit ressembler à inet:127.0.0.1:8899, pas {value!r}",
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def _unfold(value: str) -> str:
    return " ".join(part.strip() for part in value.replace("\r\n", "\n").split("\n"))


def _split(message: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Headers (name, unfolded value) and body (CRLF lines) of a serialised message."""
    head, sep, body = message.partition(b"\r\n\r\n")
    parsed = BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n")
    headers = [(name, _unfold(str(value))) for name, value in parsed.items()]
    return headers, body if sep else b""


def _reply(text: str) -> ReplyCode:
    return ReplyCode(text.encode("ascii", "replace") + b"\x00")


def _bare(address: str) -> str:
    return address.strip().removeprefix("<").removesuffix(">")


def filter_for(keeper: Gatekeeper) -> Filter:
    """The kilter filter that asks ``keeper`` about each message."""

    @modify_flags(
        # HELO and MAIL are not used, but the runner needs them to follow the session.
        unset_options=ProtocolFlags.NO_HELO
        | ProtocolFlags.NO_SENDER
        | ProtocolFlags.NO_RECIPIENT
        | ProtocolFlags.NO_HEADERS
        | ProtocolFlags.NO_END_OF_HEADERS
        | ProtocolFlags.NO_BODY,
        set_actions=ActionFlags.ADD_HEADERS | ActionFlags.CHANGE_HEADERS | ActionFlags.CHANGE_BODY,
    )
    async def leakguard_filter(session: Session) -> FilterResponse:
        recipients = [_bare(r) async for r in session.envelope_recipients()]
        originals: list[Header] = []
        async with session.headers as headers:
            async for header in headers:
                originals.append(header)
        body = bytearray()
        async with session.body as chunks:
            async for chunk in chunks:
                body += chunk
        data = bytearray()
        for h in originals:
            value = bytes(h.value).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            data += h.name.encode("ascii", "replace") + b": " + value + b"\r\n"
        data += b"\r\n" + body
        queue_id = session.macros.get("i")
        checked = without_header(bytes(data), HEADER)
        decision = await keeper.decide(checked, recipients, queue_id=queue_id)
        if not decision.accepted:
            return _reply(decision.reply)
        try:
            if decision.replacement is not None:
                # Built without any X-Leakguard field, so the edits remove a sender's own.
                await _replace(session, originals, decision.replacement)
            else:
                # Only the gateway writes its header: a sender's own copy is removed.
                for h in originals:
                    if h.name.lower() == HEADER.lower():
                        await session.headers.delete(h)
            await session.headers.insert(Header(HEADER, decision.header.encode("ascii")), END)
        except Exception as exc:  # the message could not be changed: it must not pass
            log.error("leakguard milter: could not modify the message (%s)", type(exc).__name__)
            return _reply(
                f"451 4.7.1 leakguard could not change the message "
                f"(leakguard {decision.verdict_id})"
            )
        return Accept()

    return leakguard_filter


async def _replace(session: Session, originals: list[Header], replacement: bytes) -> None:
    """Turn the original message into ``replacement``: header edits, then a new body."""
    new_headers, new_body = _split(replacement)
    wanted = Counter((n.lower(), v) for n, v in new_headers)
    kept: Counter[tuple[str, str]] = Counter()
    for h in originals:
        key = (h.name.lower(), _unfold(bytes(h.value).decode("utf-8", "replace")))
        if kept[key] < wanted[key]:
            kept[key] += 1
            continue
        await session.headers.delete(h)
    for name, value in new_headers:
        key = (name.lower(), value)
        if kept[key] > 0:
            kept[key] -= 1
            continue
        await session.headers.insert(Header(name, value.encode()), END)
    for start in range(0, max(len(new_body), 1), _CHUNK):
        await session.body.write(new_body[start : start + _CHUNK])


class _Prompt(anyio.abc.ByteStream):
    """The MTA's stream, acknowledged at once.

    The MTA sends headers and body chunks as small writes it expects no reply to; with
    Nagle's algorithm on its side and delayed ACKs on ours, each message would wait
    about 40 ms. Quick ACKs (Linux) after every read and no delay on our own small writes
    remove that wait.
    """

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        self._sock: socket.socket | None = None
        with contextlib.suppress(Exception):
            self._sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._quickack = getattr(socket, "TCP_QUICKACK", None)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data = await self._stream.receive(max_bytes)
        if self._sock is not None and self._quickack is not None:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.IPPROTO_TCP, self._quickack, 1)
        return data

    async def send(self, item: bytes) -> None:
        await self._stream.send(item)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self._stream.extra_attributes


async def serve(
    keeper: Gatekeeper,
    host: str,
    port: int,
    *,
    ready: Callable[[], None] | None = None,
    reuse_port: bool = False,
) -> None:
    """Serve the milter until SIGTERM or SIGINT; open sessions are closed on the way out.

    ``reuse_port`` lets several processes listen on the same port (SO_REUSEPORT), the
    kernel sharing connections between them.
    """
    listener = await anyio.create_tcp_listener(
        local_host=host, local_port=port, reuse_port=reuse_port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runner = Runner(filter_for(keeper))

    async def handler(client: anyio.abc.ByteStream) -> None:
        # One broken session closes its own connection (Postfix then defers that message),
        # never the listener.
        try:
            await runner(_Prompt(client))
        except Exception as exc:
            log.error("leakguard milter: session ended on an error (%s)", type(exc).__name__)
            with contextlib.suppress(Exception):
                await client.aclose()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, handler)
        if ready is not None:
            ready()
        await stop.wait()
        tasks.cancel_scope.cancel()
    await listener.aclose()
    keeper.close()
