"""The Postfix / Sendmail milter: every message is checked at end of data.

The milter protocol is leakguard's own (:mod:`leakguard.gateway._milter_protocol`). The
filter collects the envelope recipients (RCPT TO, so Bcc counts), the headers and the
body, asks the :class:`~leakguard.gateway._decide.Gatekeeper`, and answers: accept with
an ``X-Leakguard`` header, replace the message by its encrypted form, ``550 5.7.1`` with
a masked reason, or ``451 4.7.1`` when the message could not be checked. Run with
``milter_default_action = tempfail`` in Postfix so a milter that is down also defers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32

from leakguard.errors import LeakguardError
from leakguard.gateway import _milter_protocol as mp
from leakguard.gateway._decide import HEADER, Gatekeeper, until_stopped

__all__ = ["MAX_MESSAGE", "filter_for", "parse_listen", "serve"]

log = logging.getLogger("leakguard.gateway")

#: The largest message checked (headers and body); a larger one gets 451 unchecked.
MAX_MESSAGE = 64 * 1024 * 1024


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


def _bare(address: str) -> str:
    return address.strip().removeprefix("<").removesuffix(">")


def _serialise(headers: list[tuple[str, bytes]], body: bytes) -> bytes:
    data = bytearray()
    for name, value in headers:
        value = value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        data += name.encode("ascii", "replace") + b": " + value + b"\r\n"
    data += b"\r\n" + body
    return bytes(data)


def _deletions(headers: list[tuple[str, bytes]], positions: list[int]) -> list[bytes]:
    """Delete the fields at ``positions``: last first, so no index moves under another."""
    seen: Counter[str] = Counter()
    indexed: list[tuple[int, str]] = []
    for position, (name, _) in enumerate(headers):
        seen[name.lower()] += 1
        if position in positions:
            indexed.append((seen[name.lower()], name))
    return [mp.change_header(index, name) for index, name in sorted(indexed, reverse=True)]


def _replacement(headers: list[tuple[str, bytes]], replacement: bytes) -> list[bytes]:
    """The edits that turn the original message into ``replacement``."""
    new_headers, new_body = _split(replacement)
    wanted = Counter((n.lower(), v) for n, v in new_headers)
    kept: Counter[tuple[str, str]] = Counter()
    gone: list[int] = []
    for position, (old_name, old_value) in enumerate(headers):
        key = (old_name.lower(), _unfold(old_value.decode("utf-8", "replace")))
        if kept[key] < wanted[key]:
            kept[key] += 1
        else:
            gone.append(position)
    edits = _deletions(headers, gone)
    for name, value in new_headers:
        key = (name.lower(), value)
        if kept[key] > 0:
            kept[key] -= 1
            continue
        edits.append(mp.add_header(name, value.encode()))
    edits.extend(mp.replace_body(new_body))
    return edits


def filter_for(keeper: Gatekeeper) -> mp.Handler:
    """The milter's answer to each message, as ``keeper`` decides."""

    async def leakguard_filter(msg: mp.Message) -> list[bytes]:
        queue_id = msg.macros.get("i")
        if msg.too_large:
            return [mp.reply_code(keeper.too_large(msg.size, queue_id=queue_id).reply)]
        # Only the gateway writes its header: a sender's own copy is neither checked nor kept.
        own = [i for i, (n, _) in enumerate(msg.headers) if n.lower() == HEADER.lower()]
        theirs = [h for h in msg.headers if h[0].lower() != HEADER.lower()]
        recipients = [_bare(r) for r in msg.recipients]
        data = _serialise(theirs, bytes(msg.body))
        decision = await keeper.decide(data, recipients, queue_id=queue_id)
        if not decision.accepted:
            return [mp.reply_code(decision.reply)]
        try:
            if decision.replacement is not None:
                # Built without any X-Leakguard field, so the edits remove a sender's own.
                edits = _replacement(msg.headers, decision.replacement)
            else:
                edits = _deletions(msg.headers, own)
            edits.append(mp.add_header(HEADER, decision.header.encode("ascii")))
        except Exception as exc:  # the message could not be changed: it must not pass
            log.error("leakguard milter: could not modify the message (%s)", type(exc).__name__)
            return [
                mp.reply_code(
                    f"451 4.7.1 leakguard could not change the message "
                    f"(leakguard {decision.verdict_id})"
                )
            ]
        return [*edits, mp.accept()]

    return leakguard_filter


def _listening(host: str, port: int, reuse_port: bool) -> socket.socket:
    """The listening socket; a bind error keeps the system's own words (errno, strerror)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def serve(
    keeper: Gatekeeper,
    host: str,
    port: int,
    *,
    ready: Callable[[], None] | None = None,
    reuse_port: bool = False,
    max_message: int = MAX_MESSAGE,
) -> None:
    """Serve the milter until SIGTERM or SIGINT; open sessions are closed on the way out.

    ``reuse_port`` lets several processes listen on the same port (SO_REUSEPORT), the
    kernel sharing connections between them.
    """
    handler = filter_for(keeper)
    sessions: set[asyncio.Task[None]] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One broken session closes its own connection (Postfix then defers that message),
        # never the listener.
        task = asyncio.current_task()
        if task is not None:
            sessions.add(task)
        try:
            await mp.Session(reader, writer, handler, max_message=max_message).run()
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            log.error("leakguard milter: session ended on an error (%s)", type(exc).__name__)
        finally:
            writer.close()
            if task is not None:
                sessions.discard(task)

    server = await asyncio.start_server(connection, sock=_listening(host, port, reuse_port))
    try:
        await until_stopped(ready)
    finally:
        server.close()
        for task in list(sessions):
            task.cancel()
        if sessions:
            await asyncio.wait(list(sessions), timeout=5)
        keeper.close()
