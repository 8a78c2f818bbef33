"""The gateway attacked from outside, through the real services.

``leakguard relay`` runs as a user runs it, in front of a next hop that misbehaves as
each test asks (slow at one step, silent after the message, gone); ``leakguard milter``
runs behind a private Postfix, or faces a hand-driven milter peer on a real socket. What
is checked each time: the client is told the truth, a message is delivered once or not at
all, nothing that was not read is accepted, the audit line says what the client got and
what the next hop said, and no identifier appears in clear anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import re
import smtplib
import socket
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from engine_load import busy_message
from gateway_parts import (
    PLAIN,
    POLICY,
    Command,
    MilterPeer,
    Sink,
    free_port,
    make_message,
    postfix,
    raw,
    require_postfix,
)
from helpers import NIR, NIR_SPACED, make_nir
from leakguard._headers import mask_header
from leakguard.core import mask_numbers
from leakguard.gateway import _milter_protocol as mp
from leakguard.gateway.passwords import hash_password

pytestmark = pytest.mark.timeout(120)

GMAIL = "dr.plain@gmail.com"


def in_clear(text: str, value: str = NIR) -> bool:
    """Whether the digits of ``value`` appear in ``text`` with any separators at all."""
    return re.sub(r"\D", "", value) in re.sub(r"\D", "", text)


# ------------------------------------------------------------------ a misbehaving next hop


@dataclass
class Hop:
    """An SMTP next hop that is slow at the step asked, or reads a whole message and
    closes without answering (``drop``); what it stored is in ``stored``."""

    rcpt_delay: float = 0.0
    data_delay: float = 0.0
    drop: bool = False
    stored: list[bytes] = field(default_factory=list)
    port: int = 0
    controller: Controller | None = None

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, _: Any
    ) -> str:
        await asyncio.sleep(self.rcpt_delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.drop:
            assert server.transport is not None
            server.transport.close()
            return "421 gone"
        await asyncio.sleep(self.data_delay)
        self.stored.append(envelope.original_content or b"")
        return "250 2.0.0 stored"

    def start(self) -> Hop:
        self.port = free_port()
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, decode_data=False, ready_timeout=15
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def relay_command(
    tmp_path: Path, hop_port: int, policy: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[Command, Path]:
    port = free_port()
    audit = tmp_path / f"relay-{port}.jsonl"
    args = ["relay", "--listen", f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{hop_port}"]
    args += ["--policy", str(policy), "--audit-log", str(audit), *extra]
    return Command(args, port, tmp_path / f"relay-{port}.log", env=env), audit


def milter_command(folder: Path, port: int, policy: Path, audit: Path, *extra: str) -> Command:
    args = ["milter", "--listen", f"inet:127.0.0.1:{port}", "--policy", str(policy)]
    args += ["--audit-log", str(audit), *extra]
    return Command(args, port, folder / f"milter-{port}.log")


def records(audit: Path) -> list[dict[str, Any]]:
    if not audit.exists():
        return []
    return [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]


def record_for(audit: Path, mid: str, timeout: float = 10.0) -> dict[str, Any]:
    """The one audit record of the message ``mid``, waiting for it to be written."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in records(audit) if r.get("message_id") == mask_header(mid)]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(found) == 1, f"{len(found)} audit records for one message"
    return found[0]


def send(
    port: int, data: bytes, rcpts: list[str], timeout: float = 60, *, declare: bool = True
) -> tuple[int, str]:
    """Send one message; the code and text of the answer to its end. Without
    ``declare`` the client does not announce the message's size in MAIL FROM."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as c:
            c.ehlo()
            if not declare:
                c.esmtp_features.pop("size", None)
            c.sendmail("secretariat@clinic.fr", rcpts, data)
        return 250, ""
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code, exc.smtp_error.decode("utf-8", "replace")
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return code, text.decode("utf-8", "replace")


def send_and_leave(port: int, data: bytes, rcpts: list[str], after: float) -> None:
    """Send a whole message, then close the connection ``after`` seconds later without
    reading the answer: a client whose own timeout ran out."""
    c = smtplib.SMTP("127.0.0.1", port, timeout=30)
    c.ehlo()
    assert c.mail("secretariat@clinic.fr")[0] == 250
    for rcpt in rcpts:
        assert c.rcpt(rcpt)[0] == 250
    c.putcmd("data")
    assert c.getreply()[0] == 354
    body = re.sub(rb"(?m)^\.", b"..", data)
    c.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    time.sleep(after)
    c.close()


# ------------------------------------------------------------------ the relay's next hop


def test_relay_never_delivers_a_message_whose_sender_left_before_its_answer(
    tmp_path: Path, policy_file: Path
) -> None:
    """A client that gives up while the next hop is slow: the message must not be
    delivered behind its back (its retry would make it arrive twice), and the audit says
    the client left."""
    hop = Hop(rcpt_delay=1.5).start()
    cmd, audit = relay_command(
        tmp_path, hop.port, policy_file, "--next-hop-timeout", "5", "--max-memory", "1"
    )
    cmd.start()
    letter = "Le rendez-vous est confirme.\n" + "Compte rendu sans particularite.\n" * 18000
    try:
        msg = make_message(letter)
        send_and_leave(cmd.port, raw(msg), [PLAIN], after=0.4)
        record = record_for(audit, str(msg["Message-ID"]))
        time.sleep(0.5)
        # What the message held (600 KB, most of the 1 MiB budget) was given back when
        # the work ended: the next one is received and sent on.
        hop.rcpt_delay = 0
        after = make_message(letter)
        code, text = send(cmd.port, raw(after), [PLAIN])
    finally:
        cmd.stop()
        hop.stop()
    assert (code, len(hop.stored)) == (250, 1), text
    assert str(after["Message-ID"]).encode() in hop.stored[0]
    assert record["reply"] is None and record["client_gone"] is True
    assert record["outcome"] == "tempfail"
    assert record["next_hop"]["reply"] is None
    assert record["next_hop"]["reply_text"].startswith("abandoned")


def test_relay_says_when_the_next_hop_took_the_message_and_never_answered(
    tmp_path: Path, policy_file: Path
) -> None:
    """The one case SMTP cannot settle: the whole message was sent and no answer came.
    The client is told to try again (451) and the audit names that step, so a duplicate
    that follows can be traced to it."""
    hop = Hop(drop=True).start()
    cmd, audit = relay_command(tmp_path, hop.port, policy_file, "--next-hop-timeout", "5")
    cmd.start()
    try:
        msg = make_message("Le rendez-vous est confirme.\n")
        code, text = send(cmd.port, raw(msg), [PLAIN])
        record = record_for(audit, str(msg["Message-ID"]))
    finally:
        cmd.stop()
        hop.stop()
    assert code == 451, text
    assert "did not confirm" in text
    assert (record["reply"], record["outcome"]) == (451, "tempfail")
    assert record["next_hop"]["stage"] == "end_of_data"
    assert record["next_hop"]["reply"] is None
    assert record["next_hop"]["reply_text"].startswith("no_answer")


def test_relay_gives_its_next_hop_one_time_budget_for_the_whole_exchange(
    tmp_path: Path, policy_file: Path
) -> None:
    """A next hop slow at each recipient: the relay answers within its check's budget
    plus --next-hop-timeout, the time its client was told to wait, whatever the number
    of recipients; and what it gave up on is never delivered."""
    hop = Hop(rcpt_delay=0.5).start()
    cmd, audit = relay_command(
        tmp_path, hop.port, policy_file, "--next-hop-timeout", "2", "--timeout", "3"
    )
    cmd.start()
    rcpts = [f"dr.{n}@cabinet-exemple.fr" for n in range(8)]
    try:
        msg = make_message("Le rendez-vous est confirme.\n")
        started = time.monotonic()
        code, text = send(cmd.port, raw(msg), rcpts)
        took = time.monotonic() - started
        record = record_for(audit, str(msg["Message-ID"]))
    finally:
        cmd.stop()
        hop.stop()
    assert code == 451, text
    assert took < 2 + 1.5, took  # the hop's 2 s, the check and a busy machine's margin
    assert hop.stored == []
    assert record["next_hop"]["stage"] == "RCPT"
    assert record["next_hop"]["reply_text"] == "unreachable timed out"


def test_relay_waits_for_its_next_hop_longer_than_its_clients_idle_time(
    tmp_path: Path,
) -> None:
    """The relay's own timeout towards its client runs while the client is silent; once
    the message is in, the client is waiting for the relay, which must not cut it while
    the next hop works (the client would retry a message that was delivered)."""
    from leakguard.gateway import Gatekeeper
    from leakguard.gateway.relay import NextHop, serve
    from leakguard.guard import Guard
    from leakguard.policy import Policy

    hop = Hop(data_delay=2.0).start()
    port = free_port()
    keeper = Gatekeeper(Guard(Policy.default()), interface="relay", timeout=5)
    started: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[None]]] = []

    async def main() -> None:
        task = asyncio.ensure_future(
            serve(
                keeper,
                "127.0.0.1",
                port,
                NextHop("127.0.0.1", hop.port, timeout=5),
                client_timeout=1.0,
            )
        )
        started.append((asyncio.get_running_loop(), task))
        with contextlib.suppress(asyncio.CancelledError):
            await task

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        from gateway_parts import wait_port

        wait_port(port)
        msg = make_message("Le rendez-vous est confirme.\n")
        code, text = send(port, raw(msg), [PLAIN])
    finally:
        loop, task = started[0]
        loop.call_soon_threadsafe(task.cancel)
        thread.join(15)
        hop.stop()
    assert (code, len(hop.stored)) == (250, 1), text


def test_relay_size_limit_is_exact_and_its_refusal_is_audited(
    tmp_path: Path, policy_file: Path
) -> None:
    """A message of exactly --size-limit bytes is read and judged; one byte more gets
    552 before any check, and that refusal has its audit line too. A NIR at the very end
    of either is never accepted."""
    sink = Sink().start()
    limit = 60_000
    cmd, audit = relay_command(tmp_path, sink.port, policy_file, "--size-limit", str(limit))
    cmd.start()
    answers = {}
    try:
        for size in (limit, limit + 1):
            msg = make_message("x\n")
            head = raw(msg).partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
            tail = f"NIR {NIR_SPACED}\r\n".encode()
            data = head + b"y" * (size - len(head) - len(tail) - 2) + b"\r\n" + tail
            assert len(data) == size
            # Not announced: the relay counts the bytes as they come.
            answers[size] = send(cmd.port, data, [GMAIL], declare=False)
        time.sleep(0.3)
        lines = records(audit)
    finally:
        cmd.stop()
        sink.stop()
    assert answers[limit][0] == 550, answers  # read: the NIR needs encryption
    assert answers[limit + 1][0] == 552, answers
    assert sink.received == []
    too_large = [r for r in lines if r.get("error") == "too_large"]
    assert len(too_large) == 1 and too_large[0]["reply"] == 552
    assert too_large[0]["size"] == limit + 1


# ------------------------------------------------------------------ the audit trail


# Every separator the NIR detector accepts between the groups of a NIR.
SEPARATORS = [" ", ".", "-", "/", "_", ",", ";", ":", "\t", "·", "–", "\u00a0", "\u202f", "|", "+"]


@pytest.mark.parametrize("sep", SEPARATORS)
def test_masking_hides_a_nir_written_with_any_separator_the_detectors_accept(sep: str) -> None:
    from leakguard.guard import Guard

    written = sep.join(["1", "85", "05", "75", "112", "345", "29"])
    found = Guard().check(
        f"From: a@clinic.fr\r\nTo: {GMAIL}\r\nSubject: x\r\nContent-Type: text/plain; "
        f"charset=utf-8\r\n\r\nNIR {written}\r\n".encode()
    )
    assert "nir" in found.kinds()  # a liar the detector sees through...
    masked = mask_numbers(f"patient {written}.pdf")
    assert not in_clear(masked), masked  # ...is masked wherever it is printed
    assert not in_clear(mask_header(f"<{written}@clinic.fr>"))


def test_relay_audit_and_reply_never_show_a_nir_however_it_is_written(
    tmp_path: Path, policy_file: Path
) -> None:
    """An attachment named after a patient with commas in the NIR, and a Received field
    whose "queue id" is a NIR: neither the client's reply nor the audit line shows it."""
    sink = Sink().start()
    cmd, audit = relay_command(tmp_path, sink.port, policy_file)
    cmd.start()
    try:
        msg = make_message("Voir la piece jointe.\n")
        comma = ",".join(["1", "85", "05", "75", "112", "345", "29"])
        msg.add_attachment(
            os.urandom(512), maintype="application", subtype="octet-stream",
            filename=f"patient {comma}.bin",
        )  # fmt: skip
        data = f"Received: from pc by relay with ESMTP id {NIR}\r\n".encode() + raw(msg)
        code, text = send(cmd.port, data, [PLAIN])
        record = record_for(audit, str(msg["Message-ID"]))
    finally:
        cmd.stop()
        sink.stop()
    assert code == 550, text  # not read: refused
    assert not in_clear(text), "the reply shows the NIR"
    line = json.dumps(record, ensure_ascii=False)
    assert not in_clear(line), "the audit line shows the NIR"
    assert record["queue_id"] == "*" * len(NIR)


# ------------------------------------------------------------------ logins


def test_relay_login_guessing_is_bounded_and_never_stalls_the_other_clients(
    tmp_path: Path, policy_file: Path
) -> None:
    """Guessers on many connections: each password check runs beside the event loop (a
    known client's commands are answered at once meanwhile), and after ten failures from
    one address its logins are refused without being checked, except a login already
    known good."""
    sink = Sink().start()
    passwords = tmp_path / "passwords"
    passwords.write_text(f"copieur:{hash_password('le-bon-mot-de-passe')}\n", encoding="utf-8")
    cmd, _ = relay_command(tmp_path, sink.port, policy_file, "--auth-file", str(passwords))
    cmd.start()

    def login(password: str) -> tuple[int, float]:
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", cmd.port, timeout=30) as c:
            c.ehlo()
            plain = base64.b64encode(f"\0copieur\0{password}".encode()).decode()
            code, _ = c.docmd("AUTH", f"PLAIN {plain}")
        return code, time.monotonic() - started

    guesses: list[int] = []
    stop = time.monotonic() + 5

    def guess() -> None:
        while time.monotonic() < stop:
            try:
                guesses.append(login(f"essai-{len(guesses)}")[0])
            except (OSError, smtplib.SMTPException):
                guesses.append(0)

    try:
        assert login("le-bon-mot-de-passe")[0] == 235  # known good from now on
        guessers = [threading.Thread(target=guess) for _ in range(6)]
        for th in guessers:
            th.start()
        waits = []
        while time.monotonic() < stop:
            started = time.monotonic()
            with smtplib.SMTP("127.0.0.1", cmd.port, timeout=30) as c:
                c.ehlo()
                c.noop()
            waits.append(time.monotonic() - started)
            time.sleep(0.2)
        for th in guessers:
            th.join(30)
        locked, quick = login("encore-un-essai")
        known, _ = login("le-bon-mot-de-passe")
    finally:
        cmd.stop()
        sink.stop()
    assert guesses.count(535) <= 10, guesses.count(535)  # never more checks than that
    assert 454 in guesses
    assert max(waits) < 0.75, waits
    assert locked == 454 and quick < 0.5, (locked, quick)
    assert known == 235


def test_relay_never_takes_a_password_in_clear_from_another_machine(
    tmp_path: Path, policy_file: Path
) -> None:
    """A client allowed by network but on another machine, without TLS: no AUTH is
    offered, one tried anyway is refused before any password is read, and nothing is
    sent on without a login."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks a route
            outside = str(probe.getsockname()[0])
        except OSError:
            outside = "127.0.0.1"
    if outside.startswith("127."):
        pytest.skip("this machine has no address besides loopback to connect from")
    sink = Sink().start()
    passwords = tmp_path / "passwords"
    passwords.write_text(f"copieur:{hash_password('le-bon-mot-de-passe')}\n", encoding="utf-8")
    port = free_port()
    audit = tmp_path / "relay.jsonl"
    args = ["relay", "--listen", f"0.0.0.0:{port}", "--next-hop", f"127.0.0.1:{sink.port}"]
    args += ["--policy", str(policy_file), "--audit-log", str(audit)]
    args += ["--auth-file", str(passwords), "--allow-client", f"{outside}/32"]
    cmd = Command(args, port, tmp_path / "relay.log")
    cmd.start()
    try:
        with smtplib.SMTP(outside, port, timeout=30, source_address=(outside, 0)) as c:
            c.ehlo()
            offered = c.has_extn("auth")
            plain = base64.b64encode(b"\0copieur\0le-bon-mot-de-passe").decode()
            tried = c.docmd("AUTH", f"PLAIN {plain}")[0]
            mail = c.docmd("MAIL", "FROM:<secretariat@clinic.fr>")[0]
    finally:
        cmd.stop()
        sink.stop()
    assert not offered
    assert (tried, mail) == (538, 530)
    assert sink.received == []


# ------------------------------------------------------------------ what was not read


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


def _with(data: bytes, name: str, maintype: str = "application", subtype: str = "zip") -> bytes:
    msg = make_message("Voir la piece jointe.\n", to=GMAIL)
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return raw(msg)


def _deep() -> bytes:
    inner = f"NIR {NIR_SPACED}\n".encode()
    for level in range(10):
        inner = _zip([(f"niveau-{level}.zip" if level else "dossier.txt", inner)])
    return _with(inner, "dossier.zip")


def _picture() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("L", (600, 80), 255)
    ImageDraw.Draw(image).text((10, 30), f"NIR {NIR_SPACED}", fill=0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return _with(out.getvalue(), "scan.png", "image", "png")


def _many_parts() -> bytes:
    """More parts than one parse builds (leakguard.message.MAX_PARTS), a NIR in the last."""
    from leakguard.message import MAX_PARTS

    head = raw(make_message("x", to=GMAIL)).split(b"\r\n\r\n", 1)[0]
    head = b"\r\n".join(
        line for line in head.split(b"\r\n") if not line.lower().startswith(b"content-")
    )
    empty = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    last = b"--b\r\nContent-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    last += base64.encodebytes(_NIRS).replace(b"\n", b"\r\n") + b"--b--\r\n"
    return (
        head
        + b"\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        + empty * (MAX_PARTS + 10)
        + last
    )


_NIRS = "".join(f"{make_nir(i)};patient\n" for i in range(200)).encode()
UNREAD: dict[str, Callable[[], bytes]] = {
    "too_large": _many_parts,
    "unsupported": lambda: _with(os.urandom(4096), "export.bin", "application", "octet-stream"),
    "corrupt": lambda: _with(_zip([("liste.csv", _NIRS)])[:-40], "liste.zip"),
    "compression_ratio": lambda: _with(_zip([("zeros.csv", b"0" * 5_000_000)]), "bombe.zip"),
    "too_deep": _deep,
    "too_many_members": lambda: _with(
        _zip([(f"f{i}.csv", b"x") for i in range(2100)]), "export.zip"
    ),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The relay, and the milter behind a private Postfix, both before one sink."""
    require_postfix()
    folder = tmp_path_factory.mktemp("unread")
    policy = folder / "policy.toml"
    policy.write_text(POLICY, encoding="utf-8")
    sink = Sink().start()
    relay, relay_audit = relay_command(folder, sink.port, policy)
    port = free_port()
    milter_audit = folder / "milter.jsonl"
    milter = milter_command(folder, port, policy, milter_audit)
    relay.start()
    milter.start()
    try:
        with postfix(sink.port, f"inet:127.0.0.1:{port}") as pf:
            yield {
                "relay": (relay.port, relay_audit),
                "milter": (pf.port, milter_audit),
                "sink": sink,
                "folder": folder,
                "policy": policy,
            }
    finally:
        relay.stop()
        milter.stop()
        sink.stop()


@pytest.mark.parametrize("reason", sorted(UNREAD))
@pytest.mark.parametrize("service", ["relay", "milter"])
def test_what_was_not_read_is_never_accepted(
    gateway: dict[str, Any], service: str, reason: str
) -> None:
    port, audit = gateway[service]
    data = UNREAD[reason]()
    mid = re.search(rb"Message-ID: (\S+)", data)
    assert mid is not None
    code, text = send(port, data, [GMAIL])
    record = record_for(audit, mid.group(1).decode())
    assert code in (550, 451), (code, text)
    assert reason in record["unread"], record["unread"]
    assert not any(a.message_id == mid.group(1).decode() for a in gateway["sink"].received)


# Clear content under the labels of encrypted content: (type, parameters, file name).
LIARS = {
    "smime-enveloped": ("application/pkcs7-mime", {"smime-type": "enveloped-data"}, "x.p7m"),
    "smime-bare": ("application/pkcs7-mime", {}, "export.p7m"),
    "smime-x": ("application/x-pkcs7-mime", {}, "export.p7m"),
    "pgp": ("application/pgp-encrypted", {}, "export.pgp"),
    "p7m-name-only": ("application/octet-stream", {}, "export.p7m"),
}


def liar(label: str) -> bytes:
    """A message to an outside address whose attachment, a clear list of NIRs, is
    labelled as encrypted."""
    ctype, params, name = LIARS[label]
    maintype, subtype = ctype.split("/")
    msg = make_message("Export en piece jointe.\n", to=GMAIL)
    msg.add_attachment(_NIRS, maintype=maintype, subtype=subtype, filename=name, params=params)
    return raw(msg)


@pytest.mark.parametrize("label", sorted(LIARS))
@pytest.mark.parametrize("service", ["relay", "milter"])
def test_a_clear_part_labelled_encrypted_is_read_and_never_passes(
    gateway: dict[str, Any], service: str, label: str
) -> None:
    port, audit = gateway[service]
    data = liar(label)
    mid = re.search(rb"Message-ID: (\S+)", data)
    assert mid is not None
    code, text = send(port, data, [GMAIL])
    record = record_for(audit, mid.group(1).decode())
    assert code == 550, (code, text)
    assert {"mislabelled_attachment", "nir"} <= set(record["kinds"]), record["kinds"]
    assert not record["encrypted"]
    assert not any(a.message_id == mid.group(1).decode() for a in gateway["sink"].received)


# Addresses a mail server may route elsewhere than the domain after their last "@".
ROUTED = [
    "dr.plain%gmail.com@clinic.fr",
    "gmail.com!dr.plain@clinic.fr",
    '"dr.plain@gmail.com"@clinic.fr',
    "dr.plain@gmail.com@clinic.fr",
]


@pytest.mark.parametrize("address", ROUTED)
@pytest.mark.parametrize("service", ["relay", "milter"])
def test_a_recipient_routed_through_an_internal_domain_is_refused(
    gateway: dict[str, Any], service: str, address: str
) -> None:
    """Judged by its last domain the address is internal; Postfix, when that domain is
    its own, delivers it to gmail.com. The message is refused, never sent on."""
    port, audit = gateway[service]
    msg = make_message(f"NIR {NIR_SPACED}, diabete de type 2.\n", to="dr.house@clinic.fr")
    code, text = send(port, raw(msg), [address])
    assert code == (553 if service == "relay" else 550), (code, text)
    # (aiosmtpd refuses an unquoted second "@" itself, as malformed.)
    assert "malformed" in text or ("routage" in text and "routing" in text), text
    assert not any(a.message_id == str(msg["Message-ID"]) for a in gateway["sink"].received)
    if service == "milter":  # the relay refuses the address itself, before any message
        record = record_for(audit, str(msg["Message-ID"]))
        assert (record["reply"], record["error"]) == (550, "routed_recipient"), record


def test_relay_refuses_a_recipient_without_a_domain(gateway: dict[str, Any]) -> None:
    """The next hop would add a domain of its choosing: the guard cannot judge it."""
    port, _ = gateway["relay"]
    msg = make_message("Bonjour.\n", to="dr.house@clinic.fr")
    code, text = send(port, raw(msg), ["dr.house"])
    assert code == 553 and "domain" in text, (code, text)


def test_a_picture_without_ocr_is_never_accepted(gateway: dict[str, Any], tmp_path: Path) -> None:
    """Without the OCR program the relay cannot read a scan: refused, never passed."""
    python = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": python}  # no tesseract on this path
    cmd, audit = relay_command(tmp_path, gateway["sink"].port, gateway["policy"], env=env)
    cmd.start()
    try:
        data = _picture()
        mid = re.search(rb"Message-ID: (\S+)", data)
        assert mid is not None
        code, text = send(cmd.port, data, [GMAIL])
        record = record_for(audit, mid.group(1).decode())
    finally:
        cmd.stop()
    assert code == 550, text
    assert record["unread"] == ["no_ocr"]


def test_what_could_not_be_read_in_time_is_deferred(
    gateway: dict[str, Any], tmp_path: Path
) -> None:
    cmd, audit = relay_command(
        tmp_path, gateway["sink"].port, gateway["policy"], "--timeout", "0.1", "--workers", "1"
    )
    cmd.start()
    try:
        # Twenty lists of 10,000 NIRs: more than a second of reading, ten times the budget.
        heavy = make_message("Listes en pieces jointes.\n", to=GMAIL)
        for i in range(20):
            rows = "".join(f"{make_nir(i * 10000 + j)};patient\n" for j in range(10000))
            heavy.add_attachment(
                rows.encode(), maintype="text", subtype="plain", filename=f"{i}.csv"
            )
        code, text = send(cmd.port, raw(heavy), [GMAIL])
        record = record_for(audit, str(heavy["Message-ID"]))
    finally:
        cmd.stop()
    # Deferred for want of time, or refused for what was read before the time ran out
    # (the NIRs of the first lists already block it); never accepted, and the record
    # says time ran out.
    print(f"relay, time budget 0.1 s: {code}, error {record.get('error')}")
    assert code in (451, 550), text
    assert record.get("error") == "timeout" or "timeout" in record.get("unread", []), record


# ------------------------------------------------------------------ the milter


def test_milter_takes_a_body_in_tiny_pieces_and_keeps_serving_others(
    gateway: dict[str, Any],
) -> None:
    """A peer that sends a body a few bytes per packet: the milter still reads it whole
    (the NIR at its end is found), and Postfix's own sessions are answered meanwhile."""
    folder: Path = gateway["folder"]
    port = free_port()
    audit = folder / f"milter-{port}.jsonl"
    cmd = milter_command(folder, port, gateway["policy"], audit)
    cmd.start()
    try:
        peer = MilterPeer(port)
        peer.negotiate()
        peer.send(mp.MACRO, b"M" + b"i\0TINY01\0")
        peer.send(mp.RCPT, f"<{GMAIL}>".encode() + b"\0")
        for name, value in (("From", "a@clinic.fr"), ("To", GMAIL), ("Subject", "x")):
            peer.send(mp.HEADER, name.encode() + b"\0" + value.encode() + b"\0")
        peer.send(mp.EOH)
        body = b"Compte rendu sans particularite.\r\n" * 6000 + f"NIR {NIR_SPACED}\r\n".encode()
        packets = b"".join(mp.encode(mp.BODY, body[i : i + 3]) for i in range(0, len(body), 3))
        sent = threading.Thread(target=peer.sock.sendall, args=(packets,))
        sent.start()
        # Meanwhile another session is answered at once.
        other = MilterPeer(port)
        started = time.monotonic()
        other.negotiate()
        answered = time.monotonic() - started
        other.close()
        sent.join(60)
        peer.send(mp.BODYEOB)
        command, data = peer.final()
        peer.close()
    finally:
        cmd.stop()
    print(f"{len(body) // 3} body packets of 3 bytes; another session answered in {answered:.2f} s")
    assert (command, data[:3]) == (mp.REPLYCODE, b"550"), (command, data[:80])
    assert answered < 0.5, answered


def test_relay_stopping_finishes_what_it_began_and_begins_nothing_more(
    tmp_path: Path, policy_file: Path
) -> None:
    """SIGTERM while one message waits for a slow next hop and another client is still
    sending its data: the first is finished and its client told; the second gets 421 and
    is not sent on (begun after the stop, it could outlive the relay and arrive with
    nobody told)."""
    hop = Hop(data_delay=3.0).start()
    cmd, audit = relay_command(tmp_path, hop.port, policy_file, "--next-hop-timeout", "10")
    cmd.start()
    first = make_message("Premier message.\n")
    second = make_message("Second message.\n")
    answers: list[tuple[int, str]] = []
    sender = threading.Thread(target=lambda: answers.append(send(cmd.port, raw(first), [PLAIN])))
    try:
        sender.start()
        time.sleep(0.5)
        late = smtplib.SMTP("127.0.0.1", cmd.port, timeout=30)
        late.ehlo()
        late.mail("secretariat@clinic.fr")
        late.rcpt(PLAIN)
        late.putcmd("data")
        assert late.getreply()[0] == 354
        late.send(raw(second))
        assert cmd.proc is not None
        cmd.proc.send_signal(15)
        time.sleep(0.5)
        late.send(b".\r\n")
        code, _ = late.getreply()
        late.close()
        sender.join(30)
        cmd.proc.wait(30)
    finally:
        cmd.stop()
        hop.stop()
    assert answers and answers[0][0] == 250, answers
    assert code == 421
    assert [first["Message-ID"] in d.decode() for d in hop.stored] == [True]
    assert any(r.get("error") == "restarting" and r["reply"] == 421 for r in records(audit))


def _found(audit: Path, mid: str) -> tuple[str, list[tuple[str, ...]]]:
    """The action and the findings the audit record of ``mid`` holds."""
    record = record_for(audit, mid)
    keys = ("kind", "location", "masked", "fingerprint", "count", "detail")
    findings = [tuple(str(f.get(k)) for k in keys) for f in record.get("findings", [])]
    return str(record.get("action", record.get("error"))), sorted(findings)


def _alone_then_together(
    check: Callable[[int, str, Callable[[], object]], object], audit: Path
) -> tuple[list[Any], list[list[Any]]]:
    """Eight long messages checked one after the other, then three times all at once
    (each client sends its whole message but the mark of its end, then all send it
    together): what each answer and audit record said, round by round."""
    answers: dict[str, object] = {}

    def one(seed: int, tag: str, ready: Callable[[], object]) -> None:
        answers[f"{seed}{tag}"] = check(seed, tag, ready)

    for seed in range(8):
        one(seed, "a", lambda: None)
    for tag in "bcd":
        together = threading.Barrier(8)
        at_once = [
            threading.Thread(target=one, args=(seed, tag, lambda b=together: b.wait(60)))
            for seed in range(8)
        ]
        for th in at_once:
            th.start()
        for th in at_once:
            th.join(120)
    rounds: list[list[Any]] = []
    for tag in "abcd":
        rounds.append([])
        for seed in range(8):
            mid = f"<busy-{seed}{tag}@clinique-exemple.fr>"
            rounds[-1].append((answers.get(f"{seed}{tag}"), *_found(audit, mid)))
    return rounds[0], rounds[1:]


def _relay_check(port: int, seed: int, tag: str, ready: Callable[[], object]) -> int:
    client = smtplib.SMTP("127.0.0.1", port, timeout=60)
    try:
        client.ehlo()
        assert client.mail("secretariat@clinic.fr")[0] == 250
        assert client.rcpt(GMAIL)[0] == 250
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(re.sub(rb"(?m)^\.", b"..", busy_message(seed, GMAIL, tag)))
        ready()
        client.send(b".\r\n")
        return client.getreply()[0]
    finally:
        client.close()


def test_relay_checks_at_once_find_what_each_finds_alone(tmp_path: Path, policy_file: Path) -> None:
    """The compiled engines are shared by the relay's worker threads, each with its own
    scratch space: long messages checked four at a time get, each, the findings they get
    alone, and the same answer (encryption needed, no certificate: 550)."""
    sink = Sink().start()
    cmd, audit = relay_command(
        tmp_path, sink.port, policy_file, "--workers", "4", "--timeout", "60"
    )
    cmd.start()
    try:
        alone, together = _alone_then_together(
            lambda seed, tag, ready: _relay_check(cmd.port, seed, tag, ready), audit
        )
    finally:
        cmd.stop()
        sink.stop()
    assert [a[:2] for a in alone] == [(550, "encrypt")] * 8, [a[:2] for a in alone]
    assert all({"health_data", "nir"} <= {f[0] for f in a[2]} for a in alone)
    assert all(r == alone for r in together), "a check run beside others found something else"


def _milter_check(port: int, seed: int, tag: str, ready: Callable[[], object]) -> bytes:
    head, _, body = busy_message(seed, GMAIL, tag).partition(b"\r\n\r\n")
    peer = MilterPeer(port)
    try:
        peer.negotiate()
        peer.send(mp.MACRO, b"M" + f"i\0B{seed}{tag}\0".encode())
        peer.send(mp.RCPT, f"<{GMAIL}>".encode() + b"\0")
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b": ")
            peer.send(mp.HEADER, name + b"\0" + value + b"\0")
        peer.send(mp.EOH)
        for at in range(0, len(body), 65000):
            peer.send(mp.BODY, body[at : at + 65000])
        ready()
        peer.send(mp.BODYEOB)
        command, data = peer.final()
        return data[:3] if command == mp.REPLYCODE else command
    finally:
        peer.close()


def test_milter_checks_at_once_find_what_each_finds_alone(
    tmp_path: Path, policy_file: Path
) -> None:
    """As for the relay, through the milter's sessions and worker threads."""
    port = free_port()
    audit = tmp_path / "m.jsonl"
    cmd = milter_command(tmp_path, port, policy_file, audit, "--workers", "4", "--timeout", "60")
    cmd.start()
    try:
        alone, together = _alone_then_together(
            lambda seed, tag, ready: _milter_check(port, seed, tag, ready), audit
        )
    finally:
        cmd.stop()
    assert [a[:2] for a in alone] == [(b"550", "encrypt")] * 8, [a[:2] for a in alone]
    assert all({"health_data", "nir"} <= {f[0] for f in a[2]} for a in alone)
    assert all(r == alone for r in together), "a check run beside others found something else"
