"""The Postfix / Sendmail milter: every message is checked at end of data.

The milter protocol is leakguard's own (:mod:`leakguard.gateway._milter_protocol`). The
filter collects the envelope recipients (RCPT TO, so Bcc counts), the headers and the
body, asks the :class:`~leakguard.gateway._decide.Gatekeeper`, and answers: accept with
an ``X-Leakguard`` header, replace the message by its encrypted form, ``550 5.7.1`` with
a masked reason, or ``451 4.7.1`` when the message could not be checked. Sessions are
bounded in number, time and memory (the gatekeeper's budget). Run with
``milter_default_action = tempfail`` in Postfix so a milter that is down, or full, also
defers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable

from leakguard._headers import field_name, header_block, unfold
from leakguard.errors import LeakguardError
from leakguard.gateway import _milter_protocol as mp
from leakguard.gateway._decide import HEADER, Decision, Gatekeeper, smtp_text, until_stopped

__all__ = ["MAX_MESSAGE", "MAX_SESSIONS", "filter_for", "parse_listen", "serve"]

log = logging.getLogger("leakguard.gateway")

#: The largest message read (headers and body); a larger one is answered unread, as the
#: policy's ``[gateway] unread`` says (550 by default).
MAX_MESSAGE = 64 * 1024 * 1024
#: Sessions served at once; a connection beyond them is closed at once (Postfix then
#: applies ``milter_default_action``: 451 with ``tempfail``).
MAX_SESSIONS = 256


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


def _collapsed(value: str) -> str:
    return " ".join(unfold(value).split())


def _split(message: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Headers (name as written, value on one line) and body of a serialised message."""
    block = header_block(message)
    headers: list[tuple[str, str]] = []
    for _, raw in block.fields:
        name, _, value = raw.partition(b":")
        headers.append(
            (name.strip().decode("ascii", "replace"), _collapsed(value.decode("utf-8", "replace")))
        )
    return headers, message[block.body_at :]


def _bare(address: str) -> str:
    return address.strip().removeprefix("<").removesuffix(">")


def _serialise(headers: list[tuple[str, bytes]], body: bytes | bytearray) -> bytes:
    pieces: list[bytes | bytearray] = []
    for name, value in headers:
        value = value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        pieces.append(name.encode("ascii", "replace") + b": " + value + b"\r\n")
    pieces += [b"\r\n", body]
    return b"".join(pieces)


def _deletions(headers: list[tuple[str, bytes]], positions: list[int]) -> list[bytes]:
    """Delete the fields at ``positions``: last first, so no index moves under another.

    The MTA counts a field's index among the fields of the same name, read as
    :func:`~leakguard._headers.field_name` reads it (``X-Leakguard :`` is an
    ``X-Leakguard``).
    """
    chosen = set(positions)  # a sender may add thousands of fields: no list lookup each
    seen: Counter[str] = Counter()
    indexed: list[tuple[int, str]] = []
    for position, (name, _) in enumerate(headers):
        key = field_name(name)
        seen[key] += 1
        if position in chosen:
            indexed.append((seen[key], name.strip()))
    return [mp.change_header(index, name) for index, name in sorted(indexed, reverse=True)]


def _replacement(headers: list[tuple[str, bytes]], replacement: bytes) -> list[bytes]:
    """The edits that turn the original message into ``replacement``."""
    new_headers, new_body = _split(replacement)
    wanted = Counter((field_name(n), v) for n, v in new_headers)
    kept: Counter[tuple[str, str]] = Counter()
    gone: list[int] = []
    for position, (old_name, old_value) in enumerate(headers):
        key = (field_name(old_name), _collapsed(old_value.decode("utf-8", "replace")))
        if kept[key] < wanted[key]:
            kept[key] += 1
        else:
            gone.append(position)
    edits = _deletions(headers, gone)
    for name, value in new_headers:
        key = (field_name(name), value)
        if kept[key] > 0:
            kept[key] -= 1
            continue
        edits.append(mp.add_header(name, value.encode()))
    edits.extend(mp.replace_body(new_body))
    return edits


def filter_for(keeper: Gatekeeper, *, max_message: int = MAX_MESSAGE) -> mp.Handler:
    """The milter's answer to each message, as ``keeper`` decides; each answer is
    written to the audit log as it is sent. ``max_message`` is the sessions' cap."""

    def refuse(decision: Decision, queue_id: str | None) -> list[bytes]:
        keeper.record(decision, queue_id=queue_id)
        return [mp.reply_code(decision.reply)]

    async def leakguard_filter(msg: mp.Message) -> list[bytes]:
        queue_id = msg.macros.get("i")
        if msg.too_large:
            return refuse(keeper.too_large(msg.size, max_message, queue_id=queue_id), queue_id)
        if msg.busy:
            return refuse(keeper.busy(queue_id=queue_id, size=msg.size), queue_id)
        # Only the gateway writes its header: a sender's own copy, in whatever spelling,
        # is neither checked nor kept.
        ours = field_name(HEADER)
        own = [i for i, (n, _) in enumerate(msg.headers) if field_name(n) == ours]
        theirs = [h for h in msg.headers if field_name(h[0]) != ours]
        recipients = [_bare(r) for r in msg.recipients]

        def message() -> bytes:
            # Built once the check is admitted: a message deferred for want of room is
            # never copied. The copy is what is read from then on.
            data = _serialise(theirs, msg.body)
            msg.body = bytearray()
            return data

        decision = await keeper.decide(
            message, recipients, queue_id=queue_id, size=msg.size, head=_serialise(theirs, b"")
        )
        if not decision.accepted:
            return refuse(decision, queue_id)
        try:
            if decision.replacement is not None:
                # The protected copy and its edits are held until the answer is sent:
                # counted with the message, given back with it.
                extra = 2 * len(decision.replacement)
                keeper.runner.reserve(extra, force=True)
                msg.held += extra
                # Built without any X-Leakguard field, so the edits remove a sender's own.
                edits = _replacement(msg.headers, decision.replacement)
            else:
                edits = _deletions(msg.headers, own)
            edits.append(mp.add_header(HEADER, decision.header.encode("ascii")))
        except Exception as exc:  # the message could not be changed: it must not pass
            log.error("leakguard milter: could not modify the message (%s)", type(exc).__name__)
            failed = smtp_text(
                keeper.pick(
                    "leakguard could not change the message, try again later",
                    "leakguard n'a pas pu modifier le message, reessayez plus tard",
                )
            )
            reply = f"451 4.7.1 {failed} (leakguard {decision.verdict_id})"
            keeper.record(decision, reply=reply, queue_id=queue_id)
            return [mp.reply_code(reply)]
        keeper.record(decision, queue_id=queue_id)
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
    max_sessions: int = MAX_SESSIONS,
    packet_timeout: float = 10.0,
    idle_timeout: float = 330.0,
) -> None:
    """Serve the milter until SIGTERM or SIGINT; open sessions are closed on the way out.

    At most ``max_sessions`` sessions at once; every byte they hold counts against the
    keeper's memory budget (``keeper.runner``). ``reuse_port`` lets several processes
    listen on the same port (SO_REUSEPORT), the kernel sharing connections between them.
    """
    handler = filter_for(keeper, max_message=max_message)
    sessions: set[asyncio.Task[None]] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One broken session closes its own connection (Postfix then defers that message),
        # never the listener.
        if len(sessions) >= max_sessions:
            log.warning("leakguard milter: %d sessions already, connection closed", max_sessions)
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            sessions.add(task)
        session = mp.Session(
            reader,
            writer,
            handler,
            max_message=max_message,
            memory=keeper.runner,
            packet_timeout=packet_timeout,
            idle_timeout=idle_timeout,
        )
        try:
            await session.run()
        except asyncio.CancelledError:
            pass
        except mp.ProtocolError as exc:
            log.warning("leakguard milter: session ended (%s)", exc)
        except Exception as exc:
            log.error("leakguard milter: session ended on an error (%s)", type(exc).__name__)
        finally:
            session.close()
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
