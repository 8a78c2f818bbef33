"""SMTP smuggling through the relay: what it sends on must be one message under any reading.

A next hop may end a line at CRLF only, at a bare LF too, or at a bare CR too. Whatever
the relay received, the bytes it writes after DATA must split into exactly one message
under each of these readings, and that message must be the one the relay checked. The
next hop here is a raw socket that records every byte; the client is a raw socket too,
so nothing between them tidies the data.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_parts import POLICY, Command, SmtpPeer, free_port, make_message, raw
from helpers import NIR_SPACED, leaked
from leakguard.gateway.relay import _stuffed, crlf

pytestmark = pytest.mark.timeout(120)

INSIDE = "dr.house@clinic.fr"
OUTSIDE = "dr.plain@gmail.com"

# How a next hop may cut the stream into lines: RFC 5321 (CRLF only), a Unix server
# (LF, with a CR before it dropped) and a lenient one (CR, LF or CRLF).
READINGS = {
    "crlf": re.compile(rb"\r\n"),
    "lf": re.compile(rb"\r?\n"),
    "cr-or-lf": re.compile(rb"\r\n|\r|\n"),
}


def messages(stream: bytes, reading: str) -> tuple[list[bytes], bytes]:
    """The messages a next hop reading line ends as ``reading`` finds in the DATA stream
    (dot-stuffing removed, lines joined with CRLF), and what it would take as commands
    after the first one's end."""
    found: list[bytes] = []
    lines: list[bytes] = []
    pattern = READINGS[reading]
    start = 0
    for end in pattern.finditer(stream):
        line = stream[start : end.start()]
        start = end.end()
        if line == b".":
            found.append(b"".join(x + b"\r\n" for x in lines))
            lines = []
            if len(found) == 1:
                first_end = start
            continue
        lines.append(line[1:] if line.startswith(b".") else line)
    if not found:
        return [], stream
    return found, stream[first_end:]


def one_message(stream: bytes) -> bytes:
    """The one message every reading finds in ``stream``; fails when any finds more."""
    seen = {}
    for reading in READINGS:
        found, after = messages(stream, reading)
        assert len(found) == 1 and not after, (
            f"read as {reading}: {len(found)} messages, {len(after)} bytes after the first end"
        )
        seen[reading] = found[0]
    assert len(set(seen.values())) == 1, "the readings disagree on the message"
    return seen["crlf"]


# ------------------------------------------------------------------ a next hop that records


@dataclass
class Received:
    stream: bytes  # every byte after 354, up to the CRLF "." CRLF that ended it
    after: bytes = b""  # what came after it, up to the close


@dataclass
class RawHop:
    """A next hop on a raw socket: the shortest SMTP server that records, byte for byte,
    the DATA stream it is given and what the relay says after it."""

    sock: socket.socket = field(default_factory=socket.socket)
    received: list[Received] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> RawHop:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self.threads.append(accept)
        return self

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(20)
        buffer = b""

        def line() -> bytes | None:
            nonlocal buffer
            while b"\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                buffer += chunk
            got, _, buffer = buffer.partition(b"\r\n")
            return got

        with conn, contextlib.suppress(OSError):
            conn.sendall(b"220 raw hop\r\n")
            while (command := line()) is not None:
                verb = command[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250-raw hop\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                elif verb != b"DATA":
                    conn.sendall(b"250 ok\r\n")
                else:
                    conn.sendall(b"354 go on\r\n")
                    while not (buffer.startswith(b".\r\n") or b"\r\n.\r\n" in buffer):
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                    cut = 3 if buffer.startswith(b".\r\n") else buffer.index(b"\r\n.\r\n") + 5
                    stream, buffer = buffer[:cut], buffer[cut:]
                    conn.sendall(b"250 2.0.0 kept\r\n")
                    # What follows, up to the close, is what this hop would take as commands.
                    rest = buffer
                    while chunk := conn.recv(65536):
                        rest += chunk
                    self.received.append(Received(stream, rest))
                    return

    def stop(self) -> None:
        self.sock.close()


def send(peer: SmtpPeer, rcpt: str, data: bytes) -> bytes:
    """One message; the relay's answer to its end. ``data`` is stuffed as RFC 5321 says
    (a dot after CRLF doubled), so the relay receives exactly ``data``."""
    assert peer.command(b"EHLO client.clinic.fr").startswith(b"250")
    assert peer.command(b"MAIL FROM:<secretariat@clinic.fr>").startswith(b"250")
    assert peer.command(f"RCPT TO:<{rcpt}>".encode()).startswith(b"250")
    assert peer.command(b"DATA").startswith(b"354")
    stuffed = re.sub(rb"(?<=\r\n)\.", b"..", data)
    peer.sock.sendall(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    return peer.reply()


@dataclass
class Setup:
    relay: Command
    hop: RawHop


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir: Path = tmp_path_factory.mktemp("smuggling")
    policy = workdir / "policy.toml"
    policy.write_text(POLICY, encoding="utf-8")
    hop = RawHop().start()
    port = free_port()
    args = [
        "relay",
        "--listen",
        f"127.0.0.1:{port}",
        "--next-hop",
        f"127.0.0.1:{hop.port}",
        "--policy",
        str(policy),
        "--audit-log",
        str(workdir / "audit.jsonl"),
        "--reply-lang",
        "en",
    ]
    relay = Command(args, port, workdir / "relay.log").start()
    yield Setup(relay, hop)
    relay.stop()
    hop.stop()


def relayed(setup: Setup, rcpt: str, data: bytes) -> tuple[bytes, Received | None]:
    before = len(setup.hop.received)
    peer = SmtpPeer(setup.relay.port)
    try:
        answer = send(peer, rcpt, data)
    finally:
        peer.close()
    if not answer.startswith(b"250"):
        return answer, None
    # The hop records once the relay has closed; the relay answers once the hop said 250.
    for _ in range(200):
        if len(setup.hop.received) > before:
            break
        threading.Event().wait(0.05)
    [got] = setup.hop.received[before:]
    return answer, got


# The end of a message, then a second one, written with each line end a next hop may take.
SECOND = (
    b"MAIL FROM:<secretariat@clinic.fr>{e}RCPT TO:<" + OUTSIDE.encode() + b">{e}DATA{e}"
    b"Subject: second{e}{e}second message{e}"
)
SMUGGLED = {
    "cr.cr": b"\r.\r" + SECOND.replace(b"{e}", b"\r") + b".\r",
    "lf.lf": b"\n.\n" + SECOND.replace(b"{e}", b"\n") + b".\n",
    "crlf.cr": b"\r\n.\r" + SECOND.replace(b"{e}", b"\r\n") + b".\r",
    "lf.crlf": b"\n.\r\n" + SECOND.replace(b"{e}", b"\r\n") + b".\r\n",
    "cr.crlf": b"\r.\r\n" + SECOND.replace(b"{e}", b"\r\n") + b".\r\n",
    "crlf.lf": b"\r\n.\n" + SECOND.replace(b"{e}", b"\n") + b".\n",
    "bare-cr-command": b"fin du compte rendu\rMAIL FROM:<x@evil.example>\r\n",
    "dot-cr-text": b"\r\n.\rRCPT TO:<x@evil.example>\r\n",
}


def message_with(tail: bytes) -> bytes:
    msg = make_message("Rendez-vous confirme pour jeudi.\n", to=INSIDE)
    return raw(msg) + b"Suite du texte" + tail + b"fin\r\n"


@pytest.mark.parametrize("tail", SMUGGLED.values(), ids=SMUGGLED.keys())
def test_relay_sends_one_message_under_every_reading(setup: Setup, tail: bytes) -> None:
    data = message_with(tail)
    answer, got = relayed(setup, INSIDE, data)
    assert answer.startswith(b"250 2.0.0 accepted by the next hop"), answer
    assert got is not None
    assert got.after == b"QUIT\r\n", "the relay wrote more than QUIT after the message"
    delivered = one_message(got.stream)
    head, sep, rest = delivered.partition(b"\r\n")
    assert head.startswith(b"X-Leakguard: allow") and sep
    # What arrives is what the relay received, every line end written CRLF.
    assert rest == re.sub(rb"\r\n|\r|\n", b"\r\n", data)


@pytest.mark.parametrize("end", [b"\r", b"\n", b"\r\n"], ids=["cr", "lf", "crlf"])
def test_relay_judges_the_text_after_a_false_end_as_part_of_the_message(
    setup: Setup, end: bytes
) -> None:
    # A next hop fooled by the false end would deliver the second message to a public
    # mailbox with a patient's number: the relay reads it as the message it sends, and
    # refuses the whole.
    msg = make_message("Rendez-vous confirme.\n", to=OUTSIDE)
    second = SECOND.replace(b"{e}", end) + f"Assure {NIR_SPACED}".encode() + end
    data = raw(msg) + b"x" + end + b"." + end + second + b"." + end
    before = len(setup.hop.received)
    answer, got = relayed(setup, OUTSIDE, data)
    assert answer.startswith(b"550"), answer
    assert got is None and len(setup.hop.received) == before
    assert not leaked(answer.decode(), [NIR_SPACED])


def test_relay_keeps_bare_lf_lines_and_long_lines_whole(setup: Setup) -> None:
    # What Postfix takes by default: lines ending in a bare LF, lines far over 1,000 bytes.
    msg = make_message("x\n", to=INSIDE)
    body = b"ligne sans retour chariot\n" * 3 + b"y" * 5000 + b"\r\n.dot\r\n"
    data = raw(msg).partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + body
    answer, got = relayed(setup, INSIDE, data)
    assert answer.startswith(b"250"), answer
    assert got is not None
    delivered = one_message(got.stream)
    assert delivered.endswith(b"ligne sans retour chariot\r\n" * 3 + b"y" * 5000 + b"\r\n.dot\r\n")


# ------------------------------------------------------------------ the stream, on any bytes

pieces = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"..", b"a", b" ", b"\x00", b"\xff"]),
    max_size=40,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(pieces, max_size=4), st.integers(1, 9))
def test_any_bytes_go_out_as_one_message_under_every_reading(parts: list[bytes], size: int) -> None:
    stream = b"".join(_stuffed(*parts, size=size))
    delivered = one_message(stream)
    data = b"".join(parts)
    expected = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    assert delivered == expected + (b"" if expected.endswith(b"\r\n") else b"\r\n")
    # The bytes checked are the bytes sent: the relay's own normalising is a fixed point.
    assert crlf(data) == expected and crlf(expected) == expected
