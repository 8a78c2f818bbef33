"""The milter protocol, version 6 as Postfix speaks it: packets, negotiation, one session.

A packet is a 4-byte big-endian length (command byte included), a command byte and its
data. The MTA negotiates (``O``), then sends macros and the events of each message; the
filter answers the events it asked to answer and, at end of body, its edits followed by
one final reply. Only what leakguard needs is here: recipients, headers and body in;
add / change / delete header, replace body, accept, tempfail and reply codes out.

Every byte a session holds is bounded and counted: a packet over :data:`MAX_PACKET` or
macros over :data:`MAX_MACRO_BYTES` end the session (the MTA then applies its
``milter_default_action``); a message over ``max_message`` bytes reaches the handler
marked ``too_large`` and empty; each byte kept (buffer, macros, message) is counted
against a :class:`Memory` shared by all sessions, and a message that finds no room there
reaches the handler marked ``busy`` and empty. A session silent in the middle of a
packet (or before it negotiates) is closed after ``packet_timeout`` seconds, an idle one
after ``idle_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "CHUNK",
    "MAX_MACRO_BYTES",
    "MAX_PACKET",
    "Memory",
    "Message",
    "ProtocolError",
    "Session",
    "accept",
    "add_header",
    "change_header",
    "decode",
    "encode",
    "replace_body",
    "reply_code",
    "tempfail",
]

#: The largest packet read from the MTA (Postfix sends body pieces of at most 64 KiB and
#: header fields of at most 100 KiB by default).
MAX_PACKET = 1 << 20
#: The largest piece of a replacement body, libmilter's own limit.
CHUNK = 65535
VERSION = 6

# Commands from the MTA (SMFIC_*).
OPTNEG = b"O"
MACRO = b"D"
CONNECT = b"C"
HELO = b"H"
MAIL = b"M"
RCPT = b"R"
DATA = b"T"
HEADER = b"L"
EOH = b"N"
BODY = b"B"
BODYEOB = b"E"
ABORT = b"A"
QUIT = b"Q"
QUIT_NC = b"K"
UNKNOWN = b"U"

# Replies from the filter (SMFIR_*).
CONTINUE = b"c"
ACCEPT = b"a"
TEMPFAIL = b"t"
REPLYCODE = b"y"
ADDHEADER = b"h"
CHGHEADER = b"m"
REPLBODY = b"b"
PROGRESS = b"p"

# Actions the filter may take (SMFIF_*).
ADD_HEADERS = 0x01
CHANGE_BODY = 0x02
CHANGE_HEADERS = 0x10
ACTIONS = ADD_HEADERS | CHANGE_BODY | CHANGE_HEADERS

# Protocol flags (SMFIP_*): events not wanted, events not answered.
_NO = {CONNECT: 0x01, HELO: 0x02, MAIL: 0x04, UNKNOWN: 0x100, DATA: 0x200}
_NO_REPLY = {
    CONNECT: 0x1000,
    HELO: 0x2000,
    MAIL: 0x4000,
    RCPT: 0x8000,
    DATA: 0x10000,
    UNKNOWN: 0x20000,
    EOH: 0x40000,
    BODY: 0x80000,
    HEADER: 0x80,
}
WANTED = sum(_NO.values()) | sum(_NO_REPLY.values())

_LENGTH = struct.Struct(">I")
_READ = 256 * 1024
#: What one recipient or header field costs beyond its bytes, counted against the cap so
#: that many tiny ones cannot fill the memory either.
_ENTRY = 64
#: Macro names kept per stage; Postfix sends a handful.
_MAX_MACROS = 64
#: The most macro bytes one session may hold (names, values and the entry cost); Postfix
#: sends a few hundred. Beyond it the peer is not an MTA and the session ends.
MAX_MACRO_BYTES = 64 * 1024


class ProtocolError(Exception):
    """The peer broke the protocol; the session ends, the listener goes on."""


def encode(command: bytes, data: bytes = b"") -> bytes:
    """One packet: length, command byte, data."""
    if len(command) != 1:
        raise ValueError(f"a milter command is one byte, not {len(command)}")
    if len(data) + 1 > MAX_PACKET:
        raise ValueError(f"milter packet of {len(data) + 1} bytes is over {MAX_PACKET}")
    return _LENGTH.pack(len(data) + 1) + command + data


def decode(buffer: bytes | bytearray, limit: int = MAX_PACKET) -> tuple[bytes, bytes, int] | None:
    """The first packet of ``buffer``: command, data and bytes used; ``None`` if incomplete.

    A length of zero (no command byte) or over ``limit`` raises :class:`ProtocolError`
    before anything more is read.
    """
    if len(buffer) < 4:
        return None
    (length,) = _LENGTH.unpack_from(buffer)
    if length == 0:
        raise ProtocolError("empty milter packet")
    if length > limit:
        raise ProtocolError(f"milter packet of {length} bytes is over {limit}")
    if len(buffer) < 4 + length:
        return None
    return bytes(buffer[4:5]), bytes(buffer[5 : 4 + length]), 4 + length


def _macro_cost(name: str, value: str) -> int:
    return len(name) + len(value) + _ENTRY


def _strings(data: bytes) -> list[bytes]:
    """NUL-terminated strings (a missing last NUL is tolerated)."""
    parts = data.split(b"\x00")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def accept() -> bytes:
    return encode(ACCEPT)


def tempfail() -> bytes:
    return encode(TEMPFAIL)


def reply_code(text: str) -> bytes:
    """``550 5.7.1 reason`` and the like: the MTA sends this line to the client."""
    line = text.encode("ascii", "replace").replace(b"\x00", b" ").replace(b"\r", b" ")
    return encode(REPLYCODE, line.replace(b"\n", b" ")[:4000] + b"\x00")


def add_header(name: str, value: bytes) -> bytes:
    return encode(ADDHEADER, name.encode("ascii", "replace") + b"\x00" + value + b"\x00")


def change_header(index: int, name: str, value: bytes = b"") -> bytes:
    """Change the ``index``-th (from 1) field called ``name``; an empty value deletes it."""
    head = _LENGTH.pack(index) + name.encode("ascii", "replace") + b"\x00"
    return encode(CHGHEADER, head + value + b"\x00")


def replace_body(body: bytes) -> Iterator[bytes]:
    """The new body in pieces of at most :data:`CHUNK` bytes (one empty piece if empty)."""
    for start in range(0, max(len(body), 1), CHUNK):
        yield encode(REPLBODY, body[start : start + CHUNK])


@dataclass(slots=True)
class Message:
    """What the MTA told about one message."""

    recipients: list[str] = field(default_factory=list)
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    macros: dict[str, str] = field(default_factory=dict)
    size: int = 0
    too_large: bool = False
    busy: bool = False  # no room in the shared memory budget: its content was dropped
    held: int = 0  # bytes of it counted against the shared memory budget


class Memory(Protocol):
    """The memory budget shared by every session (:class:`leakguard.runner.Runner`)."""

    def reserve(self, nbytes: int, /, *, force: bool = False) -> bool: ...

    def release(self, nbytes: int, /) -> None: ...


class _Unbounded:
    def reserve(self, nbytes: int, /, *, force: bool = False) -> bool:
        return True

    def release(self, nbytes: int, /) -> None:
        return None


#: What the filter answers at end of message: its edits, then one final reply.
Handler = Callable[[Message], Awaitable[Sequence[bytes]]]


class Session:
    """One MTA connection: possibly several messages, each ending in a call to ``handler``.

    ``max_message`` bounds the bytes kept for one message (headers, body, recipients):
    beyond it the rest is dropped and ``handler`` sees ``too_large``. ``memory`` is the
    budget shared with the other sessions and the checks: every byte the session holds
    counts against it, and a message that finds no room is dropped (``busy``). While
    ``handler`` runs, a progress packet every ``progress_every`` seconds keeps the MTA
    waiting. A peer silent for ``packet_timeout`` seconds in the middle of a packet, or
    before negotiating, is disconnected; so is one idle for ``idle_timeout`` seconds
    between packets (keep it above Postfix's ``smtpd_timeout``, 300 s by default: the
    milter connection lives as long as the SMTP session).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: Handler,
        *,
        max_message: int,
        memory: Memory | None = None,
        progress_every: float = 10.0,
        packet_timeout: float = 10.0,
        idle_timeout: float = 330.0,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.handler = handler
        self.max_message = max_message
        self.memory: Memory = memory if memory is not None else _Unbounded()
        self.progress_every = progress_every
        self.packet_timeout = packet_timeout
        self.idle_timeout = idle_timeout
        self.silent: set[bytes] = set()  # events the MTA does not wait an answer for
        self.macros: dict[bytes, dict[str, str]] = {}
        self.message = Message()
        self.negotiated = False
        self._buffer = bytearray()
        self._buffer_held = 0
        self._macro_bytes = 0
        self._sock: socket.socket | None = writer.get_extra_info("socket")
        self._quickack = getattr(socket, "TCP_QUICKACK", None)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def held(self) -> int:
        """Bytes this session holds: its read buffer, its macros and its message."""
        return self._buffer_held + self._macro_bytes + self.message.held

    async def _read(self) -> tuple[bytes, bytes] | None:
        """The next packet; ``None`` when the MTA closed the connection between packets."""
        while (packet := decode(self._buffer)) is None:
            waiting = self.packet_timeout if self._buffer or not self.negotiated else None
            try:
                async with asyncio.timeout(waiting or self.idle_timeout):
                    chunk = await self.reader.read(_READ)
            except TimeoutError:
                if waiting is not None:
                    raise ProtocolError(
                        f"no data for {waiting:g} s in the middle of a packet"
                        if self._buffer
                        else f"no negotiation within {waiting:g} s"
                    ) from None
                raise ProtocolError(f"idle for {self.idle_timeout:g} s") from None
            if not chunk:
                if self._buffer:
                    raise ProtocolError("connection closed inside a packet")
                return None
            self._buffer += chunk
            self._account_buffer()
            # The MTA sends headers and body pieces as small writes it waits no reply for:
            # acknowledging at once spares it Nagle's wait for our delayed ACK.
            if self._sock is not None and self._quickack is not None:
                with contextlib.suppress(OSError):
                    self._sock.setsockopt(socket.IPPROTO_TCP, self._quickack, 1)
        command, data, used = packet
        del self._buffer[:used]
        self._account_buffer()
        return command, data

    def _account_buffer(self) -> None:
        """Count the read buffer as it is now (it is held already: counted whatever the
        budget says, so that new messages see the room really left)."""
        size = len(self._buffer)
        if size > self._buffer_held:
            self.memory.reserve(size - self._buffer_held, force=True)
        elif size < self._buffer_held:
            self.memory.release(self._buffer_held - size)
        self._buffer_held = size

    def close(self) -> None:
        """Give back every byte the session counted; the connection is over."""
        self._drop_message(self.message)
        self.memory.release(self._buffer_held + self._macro_bytes)
        self._buffer_held = self._macro_bytes = 0
        self._buffer.clear()
        self.macros.clear()

    def _drop_message(self, msg: Message) -> None:
        self.memory.release(msg.held)
        msg.held = 0

    def _send(self, *packets: bytes) -> None:
        self.writer.write(b"".join(packets))

    def _keep(self, size: int) -> bool:
        """Count ``size`` bytes against the cap and the shared budget; False once the
        message is over the one or found no room in the other (its content dropped)."""
        msg = self.message
        msg.size += size
        if msg.too_large or msg.busy:
            return False
        if msg.size > self.max_message:
            msg.too_large = True
        elif not self.memory.reserve(size):
            msg.busy = True
        else:
            msg.held += size
            return True
        msg.recipients.clear()
        msg.headers.clear()
        msg.body = bytearray()
        self._drop_message(msg)
        return False

    def _reset(self) -> None:
        """The message is over (answered or aborted); connection macros stay."""
        self._drop_message(self.message)
        self.message = Message()
        for stage in list(self.macros):
            if stage not in (CONNECT, HELO):
                self._forget_macros(stage)

    def _forget_macros(self, stage: bytes) -> None:
        values = self.macros.pop(stage, {})
        freed = sum(_macro_cost(k, v) for k, v in values.items())
        self._macro_bytes -= freed
        self.memory.release(freed)

    def _set_macros(self, stage: bytes, parts: list[bytes]) -> None:
        """Keep the macros of ``stage``: the stage's earlier ones are replaced (Postfix
        sends a stage's macros again with each event), their bytes counted."""
        self._forget_macros(stage)
        values: dict[str, str] = {}
        for name, value in zip(parts[::2], parts[1::2], strict=False):
            key = name.decode("ascii", "replace").strip("{}")
            if key in values or len(values) < _MAX_MACROS:
                values[key] = value.decode("utf-8", "replace")
        cost = sum(_macro_cost(k, v) for k, v in values.items())
        if self._macro_bytes + cost > MAX_MACRO_BYTES:
            raise ProtocolError(f"macros over {MAX_MACRO_BYTES} bytes")
        self.memory.reserve(cost, force=True)
        self._macro_bytes += cost
        self.macros[stage] = values

    def _answer(self, command: bytes) -> None:
        if command not in self.silent:
            self._send(encode(CONTINUE))

    async def run(self) -> None:
        """Serve the connection until QUIT or end of file; protocol errors are raised."""
        while (packet := await self._read()) is not None:
            command, data = packet
            if command == QUIT:
                return
            self._dispatch(command, data)
            if command == BODYEOB:
                await self._end()
            await self._flush()

    async def _flush(self) -> None:
        """Wait for the MTA to take what was written; one that stops reading is dropped."""
        try:
            async with asyncio.timeout(self.packet_timeout):
                await self.writer.drain()
        except TimeoutError:
            raise ProtocolError(f"replies not read for {self.packet_timeout:g} s") from None

    def _dispatch(self, command: bytes, data: bytes) -> None:
        msg = self.message
        if command == OPTNEG:
            self._negotiate(data)
        elif command == MACRO:
            if not data:
                raise ProtocolError("macro packet without its stage")
            self._set_macros(data[:1], _strings(data[1:]))
        elif command == RCPT:
            parts = _strings(data)
            if not parts:
                raise ProtocolError("recipient packet without an address")
            if self._keep(len(parts[0]) + _ENTRY):
                msg.recipients.append(parts[0].decode("utf-8", "replace"))
            self._answer(command)
        elif command == HEADER:
            parts = _strings(data)
            if len(parts) != 2:
                raise ProtocolError("header packet without name and value")
            if self._keep(len(data) + _ENTRY):
                msg.headers.append((parts[0].decode("ascii", "replace"), parts[1]))
            self._answer(command)
        elif command in (BODY, BODYEOB):
            if self._keep(len(data)):
                msg.body += data
            if command == BODY:
                self._answer(command)
        elif command == MAIL:
            self._drop_message(self.message)
            self.message = Message()  # its macros came just before: they stay
            self._answer(command)
        elif command in (CONNECT, HELO, DATA, EOH, UNKNOWN):
            self._answer(command)
        elif command == ABORT:
            self._reset()
        elif command == QUIT_NC:
            self._reset()
            for stage in list(self.macros):
                self._forget_macros(stage)
        else:
            raise ProtocolError(f"unknown milter command {command!r}")

    def _negotiate(self, data: bytes) -> None:
        if len(data) < 12:
            raise ProtocolError("option negotiation shorter than 12 bytes")
        version, actions, protocol = struct.unpack(">III", data[:12])
        if version < 2:
            raise ProtocolError(f"milter protocol version {version} is too old")
        agreed = WANTED & protocol
        self.negotiated = True
        self.silent = {c for c, flag in _NO_REPLY.items() if agreed & flag}
        reply = struct.pack(">III", min(version, VERSION), ACTIONS & actions, agreed)
        self._send(encode(OPTNEG, reply))

    async def _end(self) -> None:
        msg, self.message = self.message, Message()
        for values in self.macros.values():
            msg.macros.update(values)
        self._reset()
        try:
            await self._answer_message(msg)
        finally:
            self._drop_message(msg)  # counted until its answer is given

    async def _answer_message(self, msg: Message) -> None:
        task = asyncio.ensure_future(self.handler(msg))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.progress_every)
                if done:
                    break
                self._send(encode(PROGRESS))
                await self._flush()
            packets = task.result()
        finally:
            if not task.done():
                task.cancel()
        self._send(*packets)
