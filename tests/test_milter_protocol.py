"""leakguard's own milter protocol: packets, and sessions over a real TCP connection.

The end-to-end behaviour with Postfix is in test_gateway.py; here the packet encoder and
decoder are checked on any input, and a session is driven the way an MTA drives it.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakguard.gateway import Gatekeeper
from leakguard.gateway import _milter_protocol as mp
from leakguard.gateway.milter import filter_for
from leakguard.guard import Guard
from leakguard.policy import Policy
from leakguard.runner import Runner

commands = st.binary(min_size=1, max_size=1)
payloads = st.binary(max_size=4096)


@given(commands, payloads, st.binary(max_size=64))
def test_decode_reads_back_what_encode_wrote_and_nothing_after(
    command: bytes, data: bytes, after: bytes
) -> None:
    packet = mp.encode(command, data)
    assert mp.decode(packet + after) == (command, data, len(packet))


@given(commands, payloads, st.data())
def test_a_truncated_packet_is_incomplete_never_misread(
    command: bytes, data: bytes, draw: st.DataObject
) -> None:
    packet = mp.encode(command, data)
    cut = draw.draw(st.integers(0, len(packet) - 1))
    assert mp.decode(packet[:cut]) is None


@given(st.integers(mp.MAX_PACKET + 1, 2**32 - 1), st.binary(max_size=16))
def test_an_oversized_length_is_refused_before_its_data_arrives(length: int, rest: bytes) -> None:
    with pytest.raises(mp.ProtocolError) as err:
        mp.decode(struct.pack(">I", length) + rest)
    assert str(err.value) == f"milter packet of {length} bytes is over {mp.MAX_PACKET}"


def test_an_empty_packet_is_refused() -> None:
    with pytest.raises(mp.ProtocolError, match=r"^empty milter packet$"):
        mp.decode(b"\x00\x00\x00\x00c")


def test_encode_refuses_what_the_peer_would_refuse() -> None:
    with pytest.raises(ValueError) as err:
        mp.encode(b"b", bytes(mp.MAX_PACKET))
    assert str(err.value) == f"milter packet of {mp.MAX_PACKET + 1} bytes is over {mp.MAX_PACKET}"
    with pytest.raises(ValueError, match=r"^a milter command is one byte, not 2$"):
        mp.encode(b"ab")


@given(st.binary(max_size=3 * mp.CHUNK + 7))
def test_replacement_body_comes_in_pieces_that_rebuild_it(body: bytes) -> None:
    pieces = [mp.decode(p) for p in mp.replace_body(body)]
    assert pieces and all(p is not None and p[0] == mp.REPLBODY for p in pieces)
    data = [p[1] for p in pieces if p is not None]
    assert all(len(d) <= mp.CHUNK for d in data)
    assert b"".join(data) == body


@given(st.integers(1, 2**32 - 1), st.from_regex(r"[A-Za-z-]{1,20}", fullmatch=True))
def test_change_header_names_the_field_and_its_index(index: int, name: str) -> None:
    decoded = mp.decode(mp.change_header(index, name))
    assert decoded is not None
    assert decoded[:2] == (mp.CHGHEADER, struct.pack(">I", index) + name.encode() + b"\0\0")


# --------------------------------------------------------------------- sessions


class Mta:
    """The MTA's end of a milter connection: sends packets, reads the filter's replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, command: bytes, data: bytes = b"") -> None:
        self.writer.write(mp.encode(command, data))

    async def reply(self) -> tuple[bytes, bytes]:
        (length,) = struct.unpack(">I", await self.reader.readexactly(4))
        packet = await self.reader.readexactly(length)
        return packet[:1], packet[1:]

    async def negotiate(self, protocol: int = 0x1FFFFF) -> tuple[int, int, int]:
        self.send(mp.OPTNEG, struct.pack(">III", 6, 0x1FF, protocol))
        command, data = await self.reply()
        assert command == mp.OPTNEG
        version, actions, agreed = struct.unpack(">III", data)
        return version, actions, agreed

    def message(
        self, rcpts: Sequence[str], headers: Sequence[tuple[str, str]], body: bytes
    ) -> None:
        self.send(mp.MACRO, b"E" + b"i\0QUEUE1\0")
        for rcpt in rcpts:
            self.send(mp.RCPT, f"<{rcpt}>".encode() + b"\0")
        for name, value in headers:
            self.send(mp.HEADER, name.encode() + b"\0" + value.encode() + b"\0")
        self.send(mp.EOH)
        self.send(mp.BODY, body)
        self.send(mp.BODYEOB)


Handler = Callable[[mp.Message], Awaitable[Sequence[bytes]]]


async def _with_session(
    handler: Handler,
    talk: Callable[[Mta], Awaitable[None]],
    *,
    max_message: int = 1 << 20,
    progress_every: float = 10.0,
    memory: mp.Memory | None = None,
    packet_timeout: float = 10.0,
    held: list[int] | None = None,
) -> list[BaseException | None]:
    """Run ``talk`` against a real listener serving sessions with ``handler``; ``held``
    gets what each session still counted against ``memory`` when it ended."""
    outcomes: list[BaseException | None] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = mp.Session(
            reader,
            writer,
            handler,
            max_message=max_message,
            progress_every=progress_every,
            memory=memory,
            packet_timeout=packet_timeout,
        )
        try:
            await session.run()
            outcomes.append(None)
        except mp.ProtocolError as exc:
            outcomes.append(exc)
        finally:
            if held is not None:
                held.append(session.held)
            session.close()
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.wait_for(talk(Mta(reader, writer)), 10)
        writer.close()
        for _ in range(100):
            if outcomes:
                break
            await asyncio.sleep(0.01)
    return outcomes


def test_session_negotiates_only_what_the_mta_offers() -> None:
    async def talk(mta: Mta) -> None:
        assert await mta.negotiate(protocol=0x80 | 0x1) == (6, 0x13, 0x80 | 0x1)
        assert await mta.negotiate(protocol=0) == (6, 0x13, 0)
        mta.send(mp.QUIT)

    assert asyncio.run(_with_session(_accept_all([]), talk)) == [None]


def _accept_all(seen: list[mp.Message]) -> Handler:
    async def handler(msg: mp.Message) -> Sequence[bytes]:
        seen.append(msg)
        return [mp.add_header("X-Seen", str(len(seen)).encode()), mp.accept()]

    return handler


def test_session_answers_each_event_it_did_not_waive_and_reads_several_messages() -> None:
    seen: list[mp.Message] = []

    async def talk(mta: Mta) -> None:
        await mta.negotiate(protocol=0)  # the MTA waits for an answer to every event
        for n in (1, 2):
            mta.message(["a@x.test", "b@x.test"], [("Subject", f"n{n}")], b"body\r\n")
            replies = [await mta.reply() for _ in range(5)]  # 2 RCPT, 1 header, EOH, BODY
            assert replies == [(mp.CONTINUE, b"")] * 5
            assert await mta.reply() == (mp.ADDHEADER, b"X-Seen\0" + str(n).encode() + b"\0")
            assert await mta.reply() == (mp.ACCEPT, b"")
        mta.send(mp.QUIT)

    assert asyncio.run(_with_session(_accept_all(seen), talk)) == [None]
    assert [m.recipients for m in seen] == [["<a@x.test>", "<b@x.test>"]] * 2
    assert [m.headers for m in seen] == [[("Subject", b"n1")], [("Subject", b"n2")]]
    assert all(m.body == b"body\r\n" and m.macros["i"] == "QUEUE1" for m in seen)


def test_aborted_message_is_forgotten_and_the_next_one_stands_alone() -> None:
    seen: list[mp.Message] = []

    async def talk(mta: Mta) -> None:
        await mta.negotiate()
        mta.send(mp.RCPT, b"<first@x.test>\0")
        mta.send(mp.HEADER, b"Subject\0first\0")
        mta.send(mp.ABORT)
        mta.send(mp.QUIT_NC)
        mta.message(["second@x.test"], [("Subject", "second")], b"")
        assert await mta.reply() == (mp.ADDHEADER, b"X-Seen\x001\0")
        assert await mta.reply() == (mp.ACCEPT, b"")
        mta.send(mp.QUIT)

    assert asyncio.run(_with_session(_accept_all(seen), talk)) == [None]
    assert [(m.recipients, m.headers) for m in seen] == [
        (["<second@x.test>"], [("Subject", b"second")])
    ]


def test_many_tiny_headers_count_against_the_cap_and_macros_stay_few() -> None:
    seen: list[mp.Message] = []

    async def talk(mta: Mta) -> None:
        await mta.negotiate()
        many = b"".join(f"m{n}".encode() + b"\0v\0" for n in range(1000))
        for _ in range(3):  # sent again with each event: a stage's macros are replaced
            mta.send(mp.MACRO, b"M" + many)
        mta.message(["a@x.test"], [("X", "")] * 100, b"")
        assert (await mta.reply())[0] == mp.ADDHEADER
        assert await mta.reply() == (mp.ACCEPT, b"")
        mta.send(mp.QUIT)

    assert asyncio.run(_with_session(_accept_all(seen), talk, max_message=4096)) == [None]
    assert seen[0].too_large and not seen[0].headers
    assert seen[0].macros["i"] == "QUEUE1" and len(seen[0].macros) == 1 + 64


def test_message_over_the_cap_reaches_the_handler_marked_and_empty() -> None:
    seen: list[mp.Message] = []

    async def talk(mta: Mta) -> None:
        await mta.negotiate()
        mta.message(["a@x.test"], [("Subject", "big")], bytes(5000))
        assert (await mta.reply())[0] == mp.ADDHEADER
        assert await mta.reply() == (mp.ACCEPT, b"")
        mta.send(mp.QUIT)

    assert asyncio.run(_with_session(_accept_all(seen), talk, max_message=4096)) == [None]
    assert seen[0].too_large and not seen[0].body and not seen[0].headers


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (struct.pack(">I", mp.MAX_PACKET + 1) + b"B", f"milter packet of {mp.MAX_PACKET + 1} "),
        (b"\x00\x00\x00\x00", "empty milter packet"),
        (mp.encode(b"Z"), "unknown milter command b'Z'"),
        (mp.encode(mp.HEADER, b"Subject-without-value\0"), "header packet without name"),
        (mp.encode(mp.OPTNEG, b"\0\0\0\6"), "option negotiation shorter than 12 bytes"),
        (struct.pack(">I", 100) + b"B" + bytes(10), "connection closed inside a packet"),
    ],
)
def test_a_bad_peer_ends_its_own_session_with_the_reason(raw: bytes, error: str) -> None:
    async def talk(mta: Mta) -> None:
        await mta.negotiate()
        mta.writer.write(raw)
        await mta.writer.drain()
        if raw.startswith(struct.pack(">I", 100)):
            mta.writer.write_eof()
        assert await mta.reader.read() == b""  # the filter closed the connection

    outcomes = asyncio.run(_with_session(_accept_all([]), talk))
    assert len(outcomes) == 1 and str(outcomes[0]).startswith(error)


@pytest.mark.parametrize(
    ("negotiate", "then", "error"),
    [
        (False, b"", "no negotiation within 0.2 s"),
        (
            True,
            struct.pack(">I", 1000) + b"B" + bytes(10),
            "no data for 0.2 s in the middle of a packet",
        ),
    ],
)
def test_a_silent_peer_is_dropped_after_the_packet_timeout(
    negotiate: bool, then: bytes, error: str
) -> None:
    async def talk(mta: Mta) -> None:
        if negotiate:
            await mta.negotiate()
        mta.writer.write(then)
        await mta.writer.drain()
        started = asyncio.get_running_loop().time()
        assert await mta.reader.read() == b""  # closed by the filter, not by us
        assert asyncio.get_running_loop().time() - started < 2

    outcomes = asyncio.run(_with_session(_accept_all([]), talk, packet_timeout=0.2))
    assert [str(o) for o in outcomes] == [error]


def test_macros_count_against_the_session_and_a_flood_ends_it() -> None:
    runner = Runner(workers=1, max_pending=1, max_bytes=1 << 30, time_budget=5)
    held: list[int] = []

    async def talk(mta: Mta) -> None:
        await mta.negotiate()
        mta.send(mp.MACRO, b"C" + b"j\0mta.example\0")
        mta.send(mp.MACRO, b"M" + b"big\0" + b"v" * (mp.MAX_MACRO_BYTES + 1) + b"\0")
        await mta.writer.drain()
        assert await mta.reader.read() == b""

    outcomes = asyncio.run(_with_session(_accept_all([]), talk, memory=runner, held=held))
    assert [str(o) for o in outcomes] == [f"macros over {mp.MAX_MACRO_BYTES} bytes"]
    assert held == [len("j") + len("mta.example") + 64]  # the first stage's, counted
    assert runner.bytes_held == 0  # all given back when the session ended
    runner.close()


def test_a_message_without_room_in_the_budget_reaches_the_handler_busy_and_empty() -> None:
    runner = Runner(workers=1, max_pending=1, max_bytes=3000, time_budget=5)
    seen: list[mp.Message] = []

    async def talk(mta: Mta) -> None:
        await mta.negotiate()
        mta.message(["a@x.test"], [("Subject", "big")], bytes(5000))
        assert (await mta.reply())[0] == mp.ADDHEADER
        assert await mta.reply() == (mp.ACCEPT, b"")
        mta.message(["a@x.test"], [("Subject", "small")], bytes(100))  # room again
        assert (await mta.reply())[0] == mp.ADDHEADER
        assert await mta.reply() == (mp.ACCEPT, b"")
        mta.send(mp.QUIT)

    assert asyncio.run(_with_session(_accept_all(seen), talk, memory=runner)) == [None]
    assert seen[0].busy and not seen[0].too_large and not seen[0].body and not seen[0].headers
    assert not seen[1].busy and len(seen[1].body) == 100
    assert runner.bytes_held == 0
    runner.close()


def test_long_check_sends_progress_until_its_answer() -> None:
    async def slow(msg: mp.Message) -> Sequence[bytes]:
        await asyncio.sleep(0.35)
        return [mp.tempfail()]

    async def talk(mta: Mta) -> None:
        await mta.negotiate()
        mta.message(["a@x.test"], [], b"")
        replies = []
        while (reply := await mta.reply())[0] == mp.PROGRESS:
            replies.append(reply)
        assert len(replies) >= 2 and reply == (mp.TEMPFAIL, b"")
        mta.send(mp.QUIT)

    assert asyncio.run(_with_session(slow, talk, progress_every=0.1)) == [None]


@pytest.mark.parametrize(("answer", "reply"), [("refuse", b"550 5.7.1 "), ("defer", b"451 4.7.1 ")])
def test_filter_answers_a_message_over_the_cap_unread_as_the_policy_says(
    answer: str, reply: bytes
) -> None:
    policy = Policy.from_toml(f'[gateway]\nunread = "{answer}"\n')
    keeper = Gatekeeper(Guard(policy), interface="test", lang="en")
    try:
        msg = mp.Message(recipients=["<a@x.test>"], size=10**9, too_large=True)
        replies = asyncio.run(filter_for(keeper, max_message=1 << 26)(msg))
    finally:
        keeper.close()
    decoded = mp.decode(replies[0])
    assert len(replies) == 1 and decoded is not None and decoded[0] == mp.REPLYCODE
    assert decoded[1].startswith(reply) and decoded[1].endswith(b"\0")
    assert (
        b"The message (954 MiB) is larger than the largest one leakguard reads (64 MiB)"
        in (decoded[1])
    )
