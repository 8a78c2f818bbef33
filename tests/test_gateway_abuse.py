"""The gateway at its limits and under abuse, through the real services.

``leakguard milter`` runs behind a private Postfix (and, for what only an attacker would
send, with a hand-driven milter peer on a real socket); ``leakguard relay`` runs in front
of a sink. Each case is something a network can do to a guard in the send path: content
it cannot read, a message that takes too long, floods of macros, half-open sessions,
messages larger than memory, clients that should not be there, addresses that carry
line breaks, forged headers, lines longer than a kilobyte. The figures printed (memory,
time) are the ones docs/gateway.md states.
"""

from __future__ import annotations

import base64
import json
import re
import smtplib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway_parts import (
    MIB,
    POLICY,
    Command,
    MilterPeer,
    Sink,
    SmtpPeer,
    free_port,
    make_message,
    memory,
    postfix,
    raw,
    require_postfix,
)
from helpers import NIR_SPACED, leaked, make_nir
from leakguard._headers import mask_header
from leakguard.gateway import _milter_protocol as mp

pytestmark = pytest.mark.timeout(300)

GMAIL = "dr.plain@gmail.com"


def pid_of(command: Command) -> int:
    assert command.proc is not None
    return command.proc.pid


def audit_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def record_for(path: Path, mid: str) -> dict[str, object]:
    found = [r for r in audit_lines(path) if r.get("message_id") == mask_header(mid)]
    assert len(found) == 1, f"{len(found)} audit records for one message"
    return found[0]


# An X-Leakguard field as a lenient reader takes it: any case, blanks before the colon,
# folded lines. Written here apart from the code under test.
_X_LEAKGUARD = re.compile(rb"(?im)^x-leakguard[ \t]*:((?:[^\n]*)(?:\n[ \t][^\n]*)*)")


def x_leakguard(data: bytes) -> list[str]:
    """The values of every X-Leakguard field in the header of a delivered message."""
    head = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0]
    return [" ".join(m.group(1).decode().split()) for m in _X_LEAKGUARD.finditer(head)]


# ------------------------------------------------------------------ the milter behind Postfix


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("abuse")


@pytest.fixture(scope="module")
def policy_file(workdir: Path) -> Path:
    p = workdir / "policy.toml"
    p.write_text(POLICY, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    s = Sink().start()
    yield s
    s.stop()


@dataclass
class Milter:
    command: Command
    audit: Path
    postfix_port: int
    sink: Sink

    @property
    def port(self) -> int:
        return self.command.port

    def send(self, data: bytes, rcpts: list[str], sender: str = "secretariat@clinic.fr") -> None:
        with smtplib.SMTP("127.0.0.1", self.postfix_port, timeout=120) as c:
            c.sendmail(sender, rcpts, data)

    def arrival(self, mid: str, timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [a.data for a in self.sink.received if a.message_id == mid]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError("the message never reached the sink")


def milter_command(workdir: Path, policy: Path, name: str, *extra: str) -> tuple[Command, Path]:
    port = free_port()
    audit = workdir / f"{name}.jsonl"
    args = ["milter", "--listen", f"inet:127.0.0.1:{port}", "--policy", str(policy)]
    command = Command([*args, "--audit-log", str(audit), *extra], port, workdir / f"{name}.log")
    return command, audit


@pytest.fixture(scope="module")
def milter(workdir: Path, policy_file: Path, sink: Sink) -> Iterator[Milter]:
    require_postfix()
    command, audit = milter_command(workdir, policy_file, "milter")
    command.start()
    try:
        # Postfix takes messages up to 80 MiB here, so that sizes past the guard's part
        # cap (50 MB) and the milter's own (64 MiB) reach the milter.
        with postfix(
            sink.port,
            f"inet:127.0.0.1:{command.port}",
            message_size_limit=str(80 * MIB),
            milter_content_timeout="120s",
        ) as pf:
            yield Milter(command, audit, pf.port, sink)
    finally:
        command.stop()


def test_milter_refuses_a_body_between_the_part_cap_and_its_own_cap(milter: Milter) -> None:
    # 52 MB of NIRs to a public mailbox: too large to read (the part cap is 50 MB), under
    # the milter's own cap (64 MiB). Accepting it with "warn" would let it out unread.
    line = f"Assure {NIR_SPACED} rembourse\n"
    msg = make_message(line * (52_500_000 // len(line)), to=GMAIL)
    mid = str(msg["Message-ID"])
    with pytest.raises(Exception) as refused:
        milter.send(raw(msg), [GMAIL])
    assert getattr(refused.value, "smtp_code", None) == 550, repr(refused.value)[:200]
    text = refused.value.smtp_error.decode()  # type: ignore[attr-defined]
    assert text.startswith(
        "5.7.1 Non envoye : leakguard n'a pas pu tout lire. [corps du message] Cette partie "
        "du message n'a pas pu etre verifiee en entier : il depasse la taille maximale. / "
        "Not sent: leakguard could not read all of it. [body] This part of the message "
        "could not be checked in full: it is larger than the size limit. (leakguard "
    ), text
    assert not leaked(text, [NIR_SPACED])
    record = record_for(milter.audit, mid)
    assert (record["reply"], record["outcome"], record["unread"]) == (
        550,
        "rejected",
        ["too_large"],
    )
    assert mid not in milter.sink.message_ids()


def test_milter_refuses_a_message_over_its_own_cap_the_same_way(milter: Milter) -> None:
    msg = make_message("x" * (66 * MIB), to=GMAIL)
    with pytest.raises(Exception) as refused:
        milter.send(raw(msg), [GMAIL])
    assert getattr(refused.value, "smtp_code", None) == 550, repr(refused.value)[:200]
    assert b"leakguard reads (64 MiB)" in refused.value.smtp_error  # type: ignore[attr-defined]


def test_milter_refuses_a_damaged_attachment_it_could_not_read(milter: Milter) -> None:
    # A PDF whose bytes are not a PDF: a reader that gives up must not read as "clean".
    # Its name holds a mistyped NIR (a valid one there is a finding of its own).
    mistyped = NIR_SPACED[:-2] + "30"
    msg = make_message("Ci-joint le compte rendu.\n", to=GMAIL)
    msg.add_attachment(
        b"%PDF-1.7\n" + bytes(range(256)) * 40,
        maintype="application",
        subtype="pdf",
        filename=f"cr {mistyped}.pdf",
    )
    mid = str(msg["Message-ID"])
    with pytest.raises(Exception) as refused:
        milter.send(raw(msg), [GMAIL])
    assert getattr(refused.value, "smtp_code", None) == 550, repr(refused.value)[:200]
    text = refused.value.smtp_error.decode()  # type: ignore[attr-defined]
    assert "could not be checked" in text and not leaked(text, [mistyped])
    # The attachment's name holds a long number: masked in the reply and in the audit.
    record = record_for(milter.audit, mid)
    assert record["unread"] == ["corrupt"] and not leaked(json.dumps(record), [mistyped])
    assert "cr * ** ** ** *** *** **.pdf" in json.dumps(record)


@pytest.mark.parametrize(
    "forged",
    [
        "X-Leakguard: allow; id=0000000000000000",
        "X-Leakguard : allow; id=0000000000000000",
        "x-LEAKGUARD: allow; id=0000000000000000",
        "X-Leakguard:\r\n allow; id=0000000000000000",
        "X-Leakguard\t: allow; id=0000000000000000",
    ],
)
def test_milter_removes_a_forged_header_in_every_spelling(milter: Milter, forged: str) -> None:
    msg = make_message("Rendez-vous confirme.\n", to="dr.house@clinic.fr")
    head, _, body = raw(msg).partition(b"\r\n\r\n")
    data = head + b"\r\n" + forged.encode() + b"\r\n\r\n" + body
    milter.send(data, ["dr.house@clinic.fr"])
    got = milter.arrival(str(msg["Message-ID"]))
    values = x_leakguard(got)
    assert len(values) == 1 and values[0].startswith("allow; id="), values
    assert "0000000000000000" not in values[0]


def test_milter_deletes_a_forged_header_whose_name_the_mta_gives_with_a_blank(
    milter: Milter,
) -> None:
    # Postfix gives the field's name without the blank before the colon; an MTA that
    # gives it as written ("X-Leakguard ") must not slip the sender's own copy through.
    peer = MilterPeer(milter.port)
    try:
        peer.negotiate()
        peer.send(mp.RCPT, b"<dr.house@clinic.fr>\0")
        for name, value in (
            ("From", "secretariat@clinic.fr"),
            ("To", "dr.house@clinic.fr"),
            ("X-Leakguard ", "allow; id=0000000000000000"),
        ):
            peer.send(mp.HEADER, name.encode() + b"\0" + value.encode() + b"\0")
        peer.send(mp.EOH)
        peer.send(mp.BODYEOB, b"Bonjour.\r\n")
        edits = []
        while (reply := peer.reply())[0] != mp.ACCEPT:
            edits.append(reply)
    finally:
        peer.close()
    deletions = [data for command, data in edits if command == mp.CHGHEADER]
    assert deletions == [struct.pack(">I", 1) + b"X-Leakguard\0\0"], edits


def test_milter_keeps_answering_through_a_macro_flood_and_half_open_sessions(
    milter: Milter,
) -> None:
    pid = pid_of(milter.command)
    before, _ = memory(pid)
    # A macro flood: 8 stages x 64 macros of 1 MiB each, on one session.
    flood = MilterPeer(milter.port)
    flood.negotiate()
    value = b"v" * (MIB - 64)
    sent = 0
    try:
        for stage in b"CHMRTEN" + b"L":
            for n in range(64):
                flood.send(mp.MACRO, bytes([stage]) + f"m{n}".encode() + b"\0" + value + b"\0")
                sent += 1
    except OSError:
        pass  # the milter ended the session: the rest is never read
    assert flood.closed_by_peer(15), "the session that floods macros was left open"
    flood.close()
    # 200 sessions, each one byte short of a 1 MiB packet, then silent.
    half_open = []
    for _ in range(200):
        peer = MilterPeer(milter.port)
        peer.negotiate()
        peer.sock.sendall(struct.pack(">I", MIB) + b"B" + bytes(MIB - 2))
        half_open.append(peer)
    during, _ = memory(pid)
    # Meanwhile Postfix's own sessions are served as usual.
    started = time.monotonic()
    msg = make_message("Le courrier de sortie est pret.\n", to="dr.house@clinic.fr")
    milter.send(raw(msg), ["dr.house@clinic.fr"])
    milter.arrival(str(msg["Message-ID"]))
    answered = time.monotonic() - started
    closed = [peer.closed_by_peer(20) for peer in half_open]
    for peer in half_open:
        peer.close()
    after, peak = memory(pid)
    print(
        f"milter under abuse: {sent} macro packets sent before the session ended; RSS "
        f"{before / MIB:.0f} MiB before, {during / MIB:.0f} MiB with 200 half-open sessions, "
        f"{after / MIB:.0f} MiB after (peak {peak / MIB:.0f} MiB); a message answered in "
        f"{answered:.1f} s meanwhile"
    )
    assert sent < 8 * 64
    assert all(closed), f"{closed.count(False)} half-open sessions still open after 20 s"
    assert answered < 10
    # The 200 partial packets are all it holds (about 1 MiB each), within its budget.
    assert during - before < 300 * MIB


def test_milter_caps_its_sessions_and_postfix_defers_beyond_them(
    workdir: Path, policy_file: Path, sink: Sink
) -> None:
    require_postfix()
    command, _ = milter_command(workdir, policy_file, "milter-few", "--max-connections", "3")
    command.start()
    idle = []
    try:
        with postfix(sink.port, f"inet:127.0.0.1:{command.port}") as pf:
            for _ in range(3):
                peer = MilterPeer(command.port)
                peer.negotiate()
                idle.append(peer)
            gated = Milter(command, workdir / "milter-few.jsonl", pf.port, sink)
            msg = make_message("Bonjour.\n", to="dr.house@clinic.fr")
            with pytest.raises(Exception) as deferred:
                gated.send(raw(msg), ["dr.house@clinic.fr"])
            assert getattr(deferred.value, "smtp_code", None) == 451
            for peer in idle:
                peer.close()
            time.sleep(0.5)
            gated.send(raw(msg), ["dr.house@clinic.fr"])  # room again: the retry passes
            gated.arrival(str(msg["Message-ID"]))
    finally:
        for peer in idle:
            peer.close()
        command.stop()


def test_milter_memory_budget_defers_what_does_not_fit(workdir: Path, policy_file: Path) -> None:
    budget = 256
    command, audit = milter_command(
        workdir, policy_file, "milter-budget", "--max-memory", str(budget), "--workers", "2"
    )
    command.start()
    pid = pid_of(command)
    baseline, _ = memory(pid)
    replies: list[bytes] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        peer = MilterPeer(command.port, timeout=120)
        try:
            peer.negotiate()
            peer.message(
                [("From", "a@clinic.fr"), ("To", GMAIL), ("Subject", f"export {n}")],
                60 * MIB,
                GMAIL,
            )
            command_byte, data = peer.final()
            with lock:
                replies.append(data if command_byte == mp.REPLYCODE else command_byte)
        finally:
            peer.close()

    try:
        threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(200)
        _, peak = memory(pid)
    finally:
        command.stop()
    codes = sorted(r[:3] for r in replies)
    print(
        f"4 parallel 60 MiB messages, --max-memory {budget}: replies {codes}, RSS "
        f"{baseline / MIB:.0f} MiB at rest, peak {peak / MIB:.0f} MiB"
    )
    assert len(replies) == 4
    # Never accepted: one is read and refused (too large to read), what does not fit
    # waits its turn at the sending server.
    assert all(code in (b"550", b"451") for code in codes) and b"451" in codes, codes
    # Within the budget, plus the one check always let in whatever its size (about 10x
    # its 60 MiB while it is read).
    assert peak - baseline < (budget + 10 * 61) * MIB
    busy = [r for r in audit_lines(audit) if r.get("error") == "overload"]
    assert busy and all(r["reply"] == 451 for r in busy)


def test_milter_check_stops_at_its_deadline_and_the_next_message_is_not_kept_waiting(
    workdir: Path, policy_file: Path, sink: Sink
) -> None:
    require_postfix()
    command, audit = milter_command(
        workdir, policy_file, "milter-slow", "--workers", "1", "--timeout", "0.5"
    )
    command.start()
    try:
        with postfix(sink.port, f"inet:127.0.0.1:{command.port}") as pf:
            gated = Milter(command, audit, pf.port, sink)
            # Forty lists of 10,000 NIRs: several seconds of reading, many times the budget.
            heavy = make_message("Listes en pieces jointes.\n", to="dr.house@clinic.fr")
            for i in range(40):
                rows = "".join(f"{make_nir(i * 10000 + j)};patient\n" for j in range(10000))
                heavy.add_attachment(
                    rows.encode(), maintype="text", subtype="plain", filename=f"l{i}.csv"
                )
            started = time.monotonic()
            with pytest.raises(Exception) as deferred:
                gated.send(raw(heavy), ["dr.house@clinic.fr"])
            first = time.monotonic() - started
            assert getattr(deferred.value, "smtp_code", None) == 451
            # The only worker is free again: a small message is not stuck behind it.
            small = make_message("Bonjour.\n", to="dr.house@clinic.fr")
            started = time.monotonic()
            gated.send(raw(small), ["dr.house@clinic.fr"])
            second = time.monotonic() - started
            gated.arrival(str(small["Message-ID"]))
    finally:
        command.stop()
    print(
        f"time budget 0.5 s: heavy message answered 451 in {first:.1f} s, "
        f"the next in {second:.1f} s"
    )
    # 451 says the budget ran out (read whole, the NIRs would be refused with 550); the
    # time also holds the 8 MB's way through Postfix, slow on a busy machine.
    assert first < 8
    assert second < 3


# ------------------------------------------------------------------ the relay


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Relay:
    command: Command
    audit: Path
    sink: Sink

    @property
    def port(self) -> int:
        return self.command.port


def relay_command(
    workdir: Path, policy: Path, sink_port: int, name: str, *extra: str, host: str = "127.0.0.1"
) -> tuple[Command, Path]:
    port = free_port()
    audit = workdir / f"{name}.jsonl"
    args = [
        "relay",
        "--listen",
        f"{host}:{port}",
        "--next-hop",
        f"127.0.0.1:{sink_port}",
        "--next-hop-timeout",
        "2",
        "--policy",
        str(policy),
        "--audit-log",
        str(audit),
    ]
    return Command([*args, *extra], port, workdir / f"{name}.log"), audit


@pytest.fixture(scope="module")
def relay(workdir: Path, policy_file: Path) -> Iterator[Relay]:
    hop = Sink().start()
    command, audit = relay_command(workdir, policy_file, hop.port, "relay", "--reply-lang", "en")
    command.start()
    yield Relay(command, audit, hop)
    command.stop()
    hop.stop()


def test_relay_refuses_addresses_with_line_breaks_never_rewrites_them(relay: Relay) -> None:
    before = len(relay.sink.received)
    peer = SmtpPeer(relay.port)
    try:
        assert peer.command(b"EHLO client.clinic.fr").startswith(b"250")
        assert peer.command(b"MAIL FROM:<a\x00b@clinic.fr>").startswith(b"501 5.1.3 ")
        assert peer.command(b"MAIL FROM:<secretariat@clinic.fr>").startswith(b"250")
        injected = peer.command(b'RCPT TO:<"x\rX-Injected: yes"@evil.example>')
        assert injected.startswith(b"501 5.1.3 The recipient address holds a line break"), injected
        assert peer.command(b"RCPT TO:<nul\x00@evil.example>").startswith(b"501 5.1.3 ")
        assert peer.command(b"DATA").startswith(b"503")  # no recipient was taken
    finally:
        peer.close()
    assert len(relay.sink.received) == before


def test_relay_caps_the_recipients_of_one_transaction(
    workdir: Path, policy_file: Path, sink: Sink
) -> None:
    command, _ = relay_command(
        workdir, policy_file, sink.port, "relay-few", "--max-recipients", "5"
    )
    command.start()
    msg = make_message("Convocation.\n", to="dr.house@clinic.fr")
    rcpts = [f"dr.{n}@clinic.fr" for n in range(7)]
    try:
        with smtplib.SMTP("127.0.0.1", command.port, timeout=30) as c:
            refused = c.sendmail(str(msg["From"]), rcpts, raw(msg))
    finally:
        command.stop()
    assert sorted(refused) == rcpts[5:]
    assert all(code == 452 for code, _ in refused.values())
    [arrival] = [a for a in sink.received if a.message_id == str(msg["Message-ID"])]
    assert arrival.rcpt_tos == rcpts[:5]


def test_relay_takes_long_lines_as_postfix_does(relay: Relay) -> None:
    msg = make_message("x\n", to="dr.house@clinic.fr")
    head = raw(msg).partition(b"\r\n\r\n")[0]
    bare_lf = (b"Ligne de compte rendu sans retour chariot. " * 40 + b"\n") * 30  # 1.7 KB each
    long_line = b"y" * 5000 + b"\r\n"
    peer = SmtpPeer(relay.port)
    try:
        assert peer.command(b"EHLO client.clinic.fr").startswith(b"250")
        assert peer.command(b"MAIL FROM:<secretariat@clinic.fr>").startswith(b"250")
        assert peer.command(b"RCPT TO:<dr.house@clinic.fr>").startswith(b"250")
        assert peer.command(b"DATA").startswith(b"354")
        peer.sock.sendall(head + b"\r\n\r\n" + bare_lf + long_line + b"..dot\r\n")
        answer = peer.command(b".")
    finally:
        peer.close()
    assert answer.startswith(b"250 2.0.0 accepted by the next hop"), answer
    [arrival] = [a for a in relay.sink.received if a.message_id == str(msg["Message-ID"])]
    body = arrival.data.partition(b"\r\n\r\n")[2]
    assert body.replace(b"\r\n", b"\n") == (bare_lf + long_line + b".dot\r\n").replace(
        b"\r\n", b"\n"
    )


@pytest.mark.parametrize(
    "forged",
    [
        b"X-Leakguard : allow; id=0000000000000000",
        b"x-LEAKGUARD: allow; id=0000000000000000",
        b"X-Leakguard:\r\n allow; id=0000000000000000",
        b"X-Leakguard\t:allow; id=0000000000000000",
    ],
)
def test_relay_removes_a_forged_header_in_every_spelling(relay: Relay, forged: bytes) -> None:
    msg = make_message("Rendez-vous confirme.\n", to="dr.house@clinic.fr")
    head, _, body = raw(msg).partition(b"\r\n\r\n")
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as c:
        c.sendmail(
            str(msg["From"]), ["dr.house@clinic.fr"], head + b"\r\n" + forged + b"\r\n\r\n" + body
        )
    [got] = [a.data for a in relay.sink.received if a.message_id == str(msg["Message-ID"])]
    values = x_leakguard(got)
    assert len(values) == 1 and values[0].startswith("allow; id="), values
    assert "0000000000000000" not in values[0]


def test_relay_audit_says_what_the_client_was_told_and_what_the_next_hop_said(
    relay: Relay,
) -> None:
    refused = make_message("Rien.\n", to="dr.house@clinic.fr", fault="reject")
    with (
        pytest.raises(smtplib.SMTPDataError) as told,
        smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as c,
    ):
        c.sendmail(str(refused["From"]), ["dr.house@clinic.fr"], raw(refused))
    assert told.value.smtp_code == 550
    record = record_for(relay.audit, str(refused["Message-ID"]))
    assert (record["reply"], record["outcome"]) == (550, "rejected")
    assert record["next_hop"] == {
        "reply": 550,
        "reply_text": "5.7.1 sink refuses this message",
        "stage": "DATA",
    }
    down = make_message("Resultats disponibles.\n", to="dr.house@clinic.fr")
    relay.sink.stop()
    try:
        with (
            pytest.raises(smtplib.SMTPDataError) as told,
            smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as c,
        ):
            c.sendmail(str(down["From"]), ["dr.house@clinic.fr"], raw(down))
    finally:
        relay.sink.start()
    assert told.value.smtp_code == 451
    record = record_for(relay.audit, str(down["Message-ID"]))
    assert (record["reply"], record["outcome"]) == (451, "tempfail")
    assert record["next_hop"] == {
        "reply": None,
        "reply_text": "unreachable ConnectionRefusedError",
        "stage": "connect",
    }


def test_relay_audit_masks_attachment_names_and_message_ids(relay: Relay) -> None:
    msg = make_message("Ci-joint.\n", to="dr.house@clinic.fr")
    msg.replace_header("Message-ID", f"<{make_nir(3)}.dossier@clinic.fr>")
    msg.add_attachment(
        f"NIR {NIR_SPACED}\n".encode(),
        maintype="text",
        subtype="plain",
        filename=f"patient {NIR_SPACED}.txt",
    )
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as c:
        c.sendmail(str(msg["From"]), ["dr.house@clinic.fr"], raw(msg))
    text = relay.audit.read_text(encoding="utf-8")
    assert not leaked(text, [NIR_SPACED, make_nir(3)])
    record = record_for(relay.audit, str(msg["Message-ID"]))
    assert record["message_id"] == "<***************.dossier@clinic.fr>"
    locations = {f["location"] for f in record["findings"]}  # type: ignore[attr-defined]
    assert "attachment:patient * ** ** ** *** *** **.txt" in locations


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks a route
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_relay_serves_loopback_and_allowed_networks_only(
    workdir: Path, policy_file: Path, sink: Sink
) -> None:
    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no address besides loopback to connect from")
    closed, _ = relay_command(workdir, policy_file, sink.port, "relay-closed", host="0.0.0.0")
    opened, _ = relay_command(
        workdir,
        policy_file,
        sink.port,
        "relay-open",
        "--allow-client",
        f"{outside}/32",
        host="0.0.0.0",
    )
    try:
        closed.start()
        opened.start()
        refused = SmtpPeer(closed.port, source=outside, host=outside)
        assert (
            refused.greeting
            == (
                f"554 5.7.1 ce relais n'accepte pas de courrier de {outside} : seuls les serveurs "
                f"et reseaux de l'etablissement peuvent l'utiliser / this relay does not accept "
                f"mail from {outside}: only the clinic's own servers and networks may use it"
            ).encode()
        )
        assert refused.reply() == b"(closed)"
        refused.close()
        local = SmtpPeer(closed.port)  # this machine itself is always served
        assert local.greeting.startswith(b"220")
        local.close()
        msg = make_message("Convocation.\n", to="dr.house@clinic.fr")
        with smtplib.SMTP(outside, opened.port, timeout=30, source_address=(outside, 0)) as c:
            c.sendmail(str(msg["From"]), ["dr.house@clinic.fr"], raw(msg))
        assert str(msg["Message-ID"]) in sink.message_ids()
    finally:
        closed.stop()
        opened.stop()


def test_relay_with_a_password_file_wants_a_login(
    workdir: Path, policy_file: Path, sink: Sink
) -> None:
    from leakguard.gateway.passwords import hash_password

    users = workdir / "relay-users"
    users.write_text(f"# the copier\ncopieur:{hash_password('s3cret-pass')}\n", encoding="utf-8")
    command, _ = relay_command(
        workdir, policy_file, sink.port, "relay-auth", "--auth-file", str(users)
    )
    command.start()
    msg = make_message("Scan.\n", to="dr.house@clinic.fr")
    try:
        with smtplib.SMTP("127.0.0.1", command.port, timeout=30) as c:
            with pytest.raises(smtplib.SMTPSenderRefused) as anonymous:
                c.sendmail(str(msg["From"]), ["dr.house@clinic.fr"], raw(msg))
            assert anonymous.value.smtp_code == 530
        with (
            smtplib.SMTP("127.0.0.1", command.port, timeout=30) as c,
            pytest.raises(smtplib.SMTPAuthenticationError),
        ):
            c.login("copieur", "wrong")
        with smtplib.SMTP("127.0.0.1", command.port, timeout=30) as c:
            c.login("copieur", "s3cret-pass")
            c.sendmail(str(msg["From"]), ["dr.house@clinic.fr"], raw(msg))
    finally:
        command.stop()
    assert str(msg["Message-ID"]) in sink.message_ids()


def test_relay_stays_up_with_idle_and_abusive_clients(
    workdir: Path, policy_file: Path, sink: Sink
) -> None:
    budget = 32
    command, audit = relay_command(
        workdir,
        policy_file,
        sink.port,
        "relay-abuse",
        "--max-memory",
        str(budget),
        "--size-limit",
        str(40 * MIB),
    )
    command.start()
    pid = pid_of(command)
    baseline, _ = memory(pid)
    peers: list[SmtpPeer] = []
    try:
        for _ in range(200):  # connected, then silent
            peers.append(SmtpPeer(command.port))
        for _ in range(20):  # stopped in the middle of a message
            peer = SmtpPeer(command.port)
            peer.command(b"EHLO x")
            peer.command(b"MAIL FROM:<a@clinic.fr>")
            peer.command(b"RCPT TO:<b@clinic.fr>")
            peer.command(b"DATA")
            peer.sock.sendall(b"Subject: x\r\n\r\n" + b"z" * 100_000)
            peers.append(peer)
        # Four large messages at once: more than the memory budget holds.
        answers: list[bytes] = []

        def big() -> None:
            peer = SmtpPeer(command.port)
            try:
                peer.command(b"EHLO x")
                peer.command(b"MAIL FROM:<a@clinic.fr>")
                peer.command(b"RCPT TO:<b@clinic.fr>")
                peer.command(b"DATA")
                line = b"Compte rendu sans particularite.\r\n"
                peer.sock.sendall(b"Subject: gros\r\n\r\n" + line * (12 * MIB // len(line)))
                answers.append(peer.command(b"."))
            finally:
                peer.close()

        threads = [threading.Thread(target=big) for _ in range(4)]
        for t in threads:
            t.start()
        started = time.monotonic()
        msg = make_message("Bonjour.\n", to="dr.house@clinic.fr")
        with smtplib.SMTP("127.0.0.1", command.port, timeout=30) as c:
            c.sendmail(str(msg["From"]), ["dr.house@clinic.fr"], raw(msg))
        answered = time.monotonic() - started
        for t in threads:
            t.join(120)
        _, peak = memory(pid)
    finally:
        for peer in peers:
            peer.close()
        command.stop()
    codes = sorted(a[:3] for a in answers)
    print(
        f"relay with 220 idle clients and 4 parallel 12 MiB messages, --max-memory {budget}: "
        f"a small message answered in {answered:.1f} s; large ones {codes}; RSS "
        f"{baseline / MIB:.0f} MiB at rest, peak {peak / MIB:.0f} MiB"
    )
    assert answered < 5
    assert str(msg["Message-ID"]) in sink.message_ids()
    assert b"451" in codes, codes
    assert any(r.get("error") == "overload" for r in audit_lines(audit))


@pytest.mark.parametrize("command", ["milter", "relay"])
def test_audit_log_in_a_missing_folder_is_one_line_and_exit_2(command: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    missing = tmp_path / "missing" / "a.jsonl"
    args = [command, "--audit-log", str(missing)]
    if command == "relay":
        args += ["--next-hop", "127.0.0.1:25"]
    for lang, line in (
        (
            "en",
            f"leakguard: cannot write the audit log {missing}: No such file or directory "
            "(create the folder first)\n",
        ),
        (
            "fr",
            f"leakguard : impossible d'écrire le journal d'audit {missing} : dossier "
            "introuvable (créez-le d'abord)\n",
        ),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "leakguard.cli", "--lang", lang, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "LANG": "C"},
            check=False,
        )
        assert (done.returncode, done.stderr) == (2, line)
