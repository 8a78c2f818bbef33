"""The mail gateway with real parts: Debian's Postfix, the ``leakguard`` commands, a sink.

Postfix runs as a private instance on loopback (its own configuration, queue and data
folders) with ``leakguard milter`` on its submission port and the sink as relay host.
``leakguard relay`` runs between a client and the sink, with faults injected. Under
``CI=true`` a missing Postfix fails the tests instead of skipping them.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import random
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certs_factory import make_certificate, make_rsa_key, write_certificate, write_private_key
from gateway_parts import (
    PLAIN,
    POLICY,
    SECURE,
    Command,
    Sink,
    free_port,
    make_message,
    postfix,
    raw,
    require_postfix,
    split,
)
from helpers import IBAN, leaked, make_nir
from leakguard._headers import mask_header
from leakguard.errors import LeakguardError
from leakguard.gateway import Gatekeeper
from leakguard.gateway._decide import HEADER, smtp_text, without_header
from leakguard.gateway.relay import parse_hostport, upstream_queue_id
from leakguard.guard import Guard
from leakguard.policy import Policy

pytestmark = pytest.mark.timeout(180)

OPENSSL = shutil.which("openssl")

NIR = make_nir(7)


@dataclass
class Party:
    address: str
    key_path: Path
    cert_path: Path


def openssl_decrypt(data: bytes, party: Party, tmp_path: Path) -> bytes:
    """The clear MIME entity of an S/MIME message, as the recipient's openssl reads it."""
    if OPENSSL is None:
        pytest.fail("openssl is needed to read the encrypted message")
    src = tmp_path / "delivered.eml"
    src.write_bytes(data)
    done = subprocess.run(
        [OPENSSL, "smime", "-decrypt", "-in", str(src), "-inkey", str(party.key_path)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway")


@pytest.fixture(scope="module")
def secure_party(workdir: Path) -> Party:
    certs = workdir / "certificates"
    certs.mkdir()
    key = make_rsa_key()
    cert = make_certificate(key, SECURE)
    return Party(
        SECURE,
        write_private_key(key, workdir / "secure.key"),
        write_certificate(cert, certs / f"{SECURE}.pem"),
    )


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


# ------------------------------------------------------------------- Postfix + milter


@dataclass
class MailServer:
    port: int
    milter: Command
    sink: Sink
    audit: Path

    def send(self, msg: EmailMessage, rcpts: list[str] | None = None) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as c:
            c.sendmail(str(msg["From"]), rcpts or [str(msg["To"])], raw(msg))

    def arrival(self, mid: str, timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [a.data for a in self.sink.received if a.message_id == mid]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"{mid} never reached the sink")

    def audit_for(self, mid: str) -> list[dict[str, object]]:
        lines = self.audit.read_text(encoding="utf-8").splitlines()
        return [r for r in map(json.loads, lines) if r.get("message_id") == mask_header(mid)]


@pytest.fixture(scope="module")
def mail(workdir: Path, sink: Sink, secure_party: Party, policy_file: Path) -> Iterator[MailServer]:
    require_postfix()
    port = free_port()
    audit = workdir / "milter-audit.jsonl"
    milter = Command(
        [
            "milter",
            "--listen",
            f"inet:127.0.0.1:{port}",
            "--policy",
            str(policy_file),
            "--certificates",
            str(secure_party.cert_path.parent),
            "--audit-log",
            str(audit),
        ],
        port,
        workdir / "milter.log",
    ).start()
    try:
        with postfix(sink.port, f"inet:127.0.0.1:{port}") as pf:
            yield MailServer(pf.port, milter, sink, audit)
    finally:
        milter.stop()


def test_milter_allowed_message_arrives_unchanged_but_for_the_header(mail: MailServer) -> None:
    msg = make_message("Bonjour,\nle rendez-vous de mardi est confirmé.\n")
    mail.send(msg)
    forged = make_message("Bonjour.\n")
    forged["X-Leakguard"] = "allow; id=0000000000000000"
    mail.send(forged)
    [value] = split(mail.arrival(str(forged["Message-ID"])))[0][-1:]
    assert value[0] == "x-leakguard" and value[1] != "allow; id=0000000000000000"
    assert [n for n, _ in split(mail.arrival(str(forged["Message-ID"])))[0]].count(
        "x-leakguard"
    ) == 1
    got = mail.arrival(str(msg["Message-ID"]))
    headers, body = split(got)
    sent_headers, sent_body = split(raw(msg))
    assert body == sent_body
    added = [h for h in headers if h not in sent_headers]
    assert [name for name, _ in added] == ["received", "x-leakguard"]
    value = dict(added)["x-leakguard"]
    assert value.startswith("allow; id=") and len(value) == len("allow; id=") + 16
    records = mail.audit_for(str(msg["Message-ID"]))
    assert len(records) == 1
    assert records[0]["action"] == "allow" and records[0]["outcome"] == "accepted"
    assert records[0]["verdict_id"] == value.removeprefix("allow; id=")
    assert isinstance(records[0]["queue_id"], str) and records[0]["queue_id"]


def test_milter_blocked_message_gets_550_in_the_senders_language_and_never_arrives(
    mail: MailServer,
) -> None:
    blocked = make_message(f"Merci de virer le solde sur {IBAN}.\n", lang="fr")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        mail.send(blocked)
    code, text = refused.value.smtp_code, refused.value.smtp_error.decode()
    assert code == 550
    assert text.startswith("5.7.1 Bloque : ce message ne doit pas etre envoye.")
    assert "Blocked" not in text  # one language: the message said it is French
    assert not leaked(text, [IBAN])
    # A later message through the same path arrives; the blocked one never does.
    after = make_message("Rien de sensible.\n")
    mail.send(after)
    mail.arrival(str(after["Message-ID"]))
    assert str(blocked["Message-ID"]) not in mail.sink.message_ids()
    [record] = mail.audit_for(str(blocked["Message-ID"]))
    assert record["outcome"] == "rejected" and record["reply"] == 550
    assert not leaked(json.dumps(record), [IBAN])
    assert str(record["verdict_id"]) in text


def test_milter_judges_what_postfix_sends_when_the_data_holds_bare_cr(
    mail: MailServer,
) -> None:
    # Postfix sends the message; the milter relies on it to turn each bare CR into a
    # space before the milter reads it (cleanup_replace_stray_cr_lf), so a false end of
    # data never reaches the next hop and the text after it is judged with the message.
    false_end = b"\r.\rMAIL FROM:<x@evil.example>\rRCPT TO:<x@gmail.com>\rDATA\r"
    allowed = make_message("Rendez-vous confirme.\n")
    with smtplib.SMTP("127.0.0.1", mail.port, timeout=60) as c:
        c.sendmail(str(allowed["From"]), [PLAIN], raw(allowed) + b"fin" + false_end + b"x\r\n")
    body = split(mail.arrival(str(allowed["Message-ID"])))[1]
    assert b"\r" not in body.replace(b"\r\n", b"") and b"\n" not in body.replace(b"\r\n", b"")
    assert body.endswith(b"fin . MAIL FROM:<x@evil.example> RCPT TO:<x@gmail.com> DATA x\r\n")
    hidden = make_message("Rendez-vous confirme.\n")
    data = raw(hidden) + b"fin" + false_end + f"Merci de virer le solde sur {IBAN}.".encode()
    with (
        pytest.raises(smtplib.SMTPDataError) as refused,
        smtplib.SMTP("127.0.0.1", mail.port, timeout=60) as c,
    ):
        c.sendmail(str(hidden["From"]), [PLAIN], data + b"\r\n")
    assert refused.value.smtp_code == 550
    assert str(hidden["Message-ID"]) not in mail.sink.message_ids()


def test_milter_encrypts_for_a_recipient_with_certificate(
    mail: MailServer, secure_party: Party, tmp_path: Path
) -> None:
    text = f"Patient : NIR {NIR}\nDiagnostic : diabète de type 2, arrêt de travail.\n"
    msg = make_message(text, to=SECURE)
    mail.send(msg)
    got = mail.arrival(str(msg["Message-ID"]))
    assert not leaked(got.decode("ascii", "replace"), [NIR])
    delivered = email.message_from_bytes(got, policy=email.policy.default)
    assert delivered.get_content_type() == "application/pkcs7-mime"
    # The real Subject travels inside the encryption (header protection).
    assert str(delivered["Subject"]) == "Message chiffré / Encrypted message"
    assert str(delivered["To"]) == SECURE
    assert str(delivered["X-Leakguard"]).startswith("encrypt; id=")
    inner = email.message_from_bytes(
        openssl_decrypt(got, secure_party, tmp_path), policy=email.policy.default
    )
    assert isinstance(inner, EmailMessage)
    assert str(inner["Subject"]) == "Compte rendu"
    part = inner.get_body(("plain",))
    assert part is not None
    assert part.get_content().replace("\r\n", "\n") == "Subject: Compte rendu\n\n" + text


def test_milter_refuses_encryption_without_certificate_and_says_what_to_do(
    mail: MailServer,
) -> None:
    msg = make_message(f"NIR {NIR}, diagnostic : asthme.\n", to=PLAIN, lang="en")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        mail.send(msg)
    assert refused.value.smtp_code == 550
    text = refused.value.smtp_error.decode()
    assert text.startswith(
        "5.7.1 Encryption required and no certificate for every recipient: encrypt the "
        "message in your mail client (S/MIME) or send it through secure health messaging "
        "(MSSante)"
    )
    assert not leaked(text, [NIR])


def test_milter_bcc_counts_as_a_recipient(mail: MailServer) -> None:
    # Addressed to a colleague, but an outside address is in the envelope only (Bcc).
    msg = make_message(f"NIR {NIR}, arrêt de travail.\n", to="dr.house@clinic.fr")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        mail.send(msg, ["dr.house@clinic.fr", PLAIN])
    assert refused.value.smtp_code == 550
    inside = make_message(f"NIR {NIR}, arrêt de travail.\n", to="dr.house@clinic.fr")
    mail.send(inside)
    mail.arrival(str(inside["Message-ID"]))


def test_milter_killed_mid_session_defers_then_delivers_once(mail: MailServer) -> None:
    msg = make_message("Le courrier de sortie est prêt.\n")
    client = smtplib.SMTP("127.0.0.1", mail.port, timeout=60)
    client.ehlo()
    assert client.mail(str(msg["From"]))[0] == 250
    assert client.rcpt(str(msg["To"]))[0] == 250
    mail.milter.kill()
    code, reply = client.data(raw(msg))
    client.close()
    assert 400 <= code < 500, (code, reply)
    mail.milter.start()
    mail.send(msg)  # the client retries, as a mail client or an MTA queue does
    mail.arrival(str(msg["Message-ID"]))
    time.sleep(1.0)  # anything late would show up as a second copy
    assert mail.sink.message_ids().count(str(msg["Message-ID"])) == 1


def test_milter_that_cannot_finish_in_time_defers_with_its_reason(mail: MailServer) -> None:
    fast = Command(
        [*mail.milter.args, "--timeout", "0.002", "--reply-lang", "en"],
        mail.milter.port,
        mail.milter.log,
    )
    mail.milter.stop()
    fast.start()
    # A long report (2 MB) takes far longer than the 2 ms this milter may spend: parsing
    # it alone takes more, on any machine.
    msg = make_message("Compte rendu de consultation, suivi post-opératoire. " * 40000)
    try:
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            mail.send(msg)
    finally:
        fast.stop()
        mail.milter.start()
    assert deferred.value.smtp_code == 451
    # Cut short by its deadline (the check stops reading) or by the runner (the check
    # did not answer in time): the same answer.
    assert deferred.value.smtp_error.decode().startswith(
        "4.7.1 leakguard took too long to check this message, try again later"
    )
    record = mail.audit_for(str(msg["Message-ID"]))[0]
    assert record["outcome"] == "tempfail" and record["error"] == "timeout"
    assert record.get("unread", ["timeout"]) == ["timeout"]
    assert record["queue_id"] and record["reply"] == 451
    mail.send(msg)  # the retry, once the milter has its usual time again
    mail.arrival(str(msg["Message-ID"]))


# ------------------------------------------------------------------- relay


@dataclass
class Relay:
    port: int
    command: Command
    sink: Sink
    audit: Path
    limit: int

    def send(self, msg: EmailMessage, **kw: object) -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as c:
            return c.sendmail(str(msg["From"]), [str(msg["To"])], raw(msg), **kw)  # type: ignore[arg-type]


def relay_command(
    workdir: Path, name: str, sink_port: int, policy_file: Path, *extra: str
) -> tuple[Command, Path]:
    port = free_port()
    audit = workdir / f"{name}-audit.jsonl"
    cmd = Command(
        [
            "relay",
            "--listen",
            f"127.0.0.1:{port}",
            "--next-hop",
            f"127.0.0.1:{sink_port}",
            "--next-hop-timeout",
            "1",
            "--policy",
            str(policy_file),
            "--audit-log",
            str(audit),
            *extra,
        ],
        port,
        workdir / f"{name}.log",
    )
    return cmd, audit


@pytest.fixture(scope="module")
def relay(workdir: Path, sink: Sink, policy_file: Path, secure_party: Party) -> Iterator[Relay]:
    limit = 200_000
    cmd, audit = relay_command(
        workdir,
        "relay",
        sink.port,
        policy_file,
        "--size-limit",
        str(limit),
        "--certificates",
        str(secure_party.cert_path.parent),
    )
    cmd.start()
    yield Relay(cmd.port, cmd, sink, audit, limit)
    cmd.stop()


def wait_arrival(sink: Sink, mid: str, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and mid not in sink.message_ids():
        time.sleep(0.05)
    return sink.message_ids().count(mid)


def test_relay_answers_250_only_after_the_next_hop_stored_it(relay: Relay) -> None:
    msg = make_message("Bonjour, à demain.\n")
    before = len(relay.sink.received)
    assert relay.send(msg) == {}
    # Accepted means already stored: no waiting.
    assert len(relay.sink.received) == before + 1
    assert relay.sink.message_ids().count(str(msg["Message-ID"])) == 1
    got = relay.sink.received[-1].data
    assert got.startswith(b"X-Leakguard: allow; id=")
    assert got.partition(b"\r\n")[2] == raw(msg)


def test_relay_sends_the_encrypted_message_and_drops_a_forged_header(
    relay: Relay, secure_party: Party, tmp_path: Path
) -> None:
    text = f"NIR {NIR}\nCompte rendu opératoire.\n"
    msg = make_message(text, to=SECURE)
    msg["X-Leakguard"] = "allow; id=0000000000000000"
    assert relay.send(msg) == {}
    [got] = [a.data for a in relay.sink.received if a.message_id == str(msg["Message-ID"])]
    assert got.startswith(b"X-Leakguard: encrypt; id=")
    assert got.count(b"X-Leakguard") == 1
    assert not leaked(got.decode("ascii", "replace"), [NIR])
    clear = openssl_decrypt(got, secure_party, tmp_path)
    assert text.encode() in clear.replace(b"\r\n", b"\n")


def test_relay_blocks_with_550_and_passes_next_hop_refusals(relay: Relay) -> None:
    blocked = make_message(f"IBAN {IBAN}\n", lang="en")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        relay.send(blocked)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.decode().startswith(
        "5.7.1 Blocked: this message must not be sent."
    )
    assert not leaked(refused.value.smtp_error.decode(), [IBAN])
    refused_by_hop = make_message("Rien.\n", fault="reject")
    with pytest.raises(smtplib.SMTPDataError) as hop:
        relay.send(refused_by_hop)
    assert hop.value.smtp_code == 550
    assert b"the next hop refused at DATA: 5.7.1 sink refuses this message" in (
        hop.value.smtp_error
    )
    ids = relay.sink.message_ids()
    assert str(blocked["Message-ID"]) not in ids and str(refused_by_hop["Message-ID"]) not in ids


@pytest.mark.parametrize("fault", ["tempfail-once", "hang-once"])
def test_relay_defers_when_the_next_hop_defers_or_hangs(relay: Relay, fault: str) -> None:
    msg = make_message("Rappel de rendez-vous.\n", fault=fault)
    started = time.monotonic()
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        relay.send(msg)
    assert deferred.value.smtp_code == 451
    assert time.monotonic() - started < 5  # the relay's own timeout, not the sink's
    assert str(msg["Message-ID"]) not in relay.sink.message_ids()
    assert relay.send(msg) == {}
    assert wait_arrival(relay.sink, str(msg["Message-ID"])) == 1


def test_relay_defers_while_the_next_hop_is_down(relay: Relay) -> None:
    msg = make_message("Résultats disponibles.\n")
    relay.sink.stop()
    try:
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            relay.send(msg)
        assert deferred.value.smtp_code == 451
        assert deferred.value.smtp_error.startswith(
            b"4.4.1 le serveur suivant est injoignable, reessayez plus tard "
            b"(ConnectionRefusedError) / the next hop cannot be reached, try again later "
            b"(ConnectionRefusedError) (leakguard "
        )
    finally:
        relay.sink.start()
    assert relay.send(msg) == {}
    assert relay.sink.message_ids().count(str(msg["Message-ID"])) == 1


def test_relay_passes_smtputf8_and_8bitmime_and_announces_its_size(relay: Relay) -> None:
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as c:
        c.ehlo()
        assert c.has_extn("smtputf8") and c.has_extn("8bitmime")
        assert c.esmtp_features["size"] == str(relay.limit)
        msg = make_message("Merci, à bientôt — Zoé\n", sender="rené@clinic.fr", to="zoé@exemple.fr")
        data = msg.as_bytes(policy=email.policy.SMTPUTF8)
        c.sendmail(
            "rené@clinic.fr", ["zoé@exemple.fr"], data, mail_options=["SMTPUTF8", "BODY=8BITMIME"]
        )
        big = make_message("x" * (relay.limit + 1000))
        with pytest.raises(smtplib.SMTPSenderRefused) as too_big:
            c.sendmail(str(big["From"]), [str(big["To"])], raw(big))
        assert too_big.value.smtp_code == 552
    [arrival] = [a for a in relay.sink.received if a.message_id == str(msg["Message-ID"])]
    assert arrival.smtputf8 and "BODY=8BITMIME" in arrival.mail_options
    assert arrival.mail_from == "rené@clinic.fr" and arrival.rcpt_tos == ["zoé@exemple.fr"]
    assert arrival.data.partition(b"\r\n")[2] == data


def test_relay_offers_starttls_and_uses_it_towards_the_next_hop(
    workdir: Path, policy_file: Path, tmp_path: Path
) -> None:
    key = make_rsa_key()
    cert = make_certificate(key, None, common_name="127.0.0.1", key_usage=None, ip="127.0.0.1")
    cert_file = write_certificate(cert, tmp_path / "hop.pem")
    key_file = write_private_key(key, tmp_path / "hop.key")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    tls_sink = Sink(tls_context=server_ctx).start()
    cmd, _ = relay_command(
        workdir,
        "relay-tls",
        tls_sink.port,
        policy_file,
        "--starttls",
        "--tls-ca",
        str(cert_file),
        "--tls-cert",
        str(cert_file),
        "--tls-key",
        str(key_file),
    )
    cmd.start()
    try:
        msg = make_message("Chiffré en transit.\n")
        with smtplib.SMTP("127.0.0.1", cmd.port, timeout=30) as c:
            c.starttls(context=ssl.create_default_context(cafile=str(cert_file)))
            assert c.sock is not None and c.sock.version() is not None  # type: ignore[attr-defined]
            c.sendmail(str(msg["From"]), [str(msg["To"])], raw(msg))
        assert tls_sink.message_ids() == [str(msg["Message-ID"])]
    finally:
        cmd.stop()
        tls_sink.stop()


def test_relay_in_several_processes_shares_the_port_and_stops_cleanly(
    workdir: Path, policy_file: Path
) -> None:
    sink = Sink().start()
    cmd, audit = relay_command(workdir, "relay-procs", sink.port, policy_file, "--processes", "2")
    cmd.start()
    try:
        sent = [make_message(f"Message {i}.\n") for i in range(12)]
        for msg in sent:
            with smtplib.SMTP("127.0.0.1", cmd.port, timeout=30) as c:
                c.sendmail(str(msg["From"]), [str(msg["To"])], raw(msg))
        assert sorted(sink.message_ids()) == sorted(str(m["Message-ID"]) for m in sent)
        assert cmd.proc is not None
        cmd.proc.send_signal(signal.SIGTERM)
        assert cmd.proc.wait(30) == 0
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", cmd.port)) != 0  # no worker left behind
    finally:
        cmd.stop()
        sink.stop()
    records = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["message_id"] for r in records) == sorted(
        mask_header(str(m["Message-ID"])) for m in sent
    )


# ------------------------------------------------------------------- load with faults


@dataclass
class ClientLog:
    """What the sending clients saw, per Message-ID: the final code of each message."""

    final: dict[str, int] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(port: int, messages: list[EmailMessage], log: ClientLog, deadline: float) -> None:
    for msg in messages:
        mid = str(msg["Message-ID"])
        while time.monotonic() < deadline:
            with log.lock:
                log.attempts[mid] += 1
            code = _send_once(port, msg)
            if code < 400 or code >= 500:
                with log.lock:
                    log.final[mid] = code
                break
            time.sleep(0.2)


def _send_once(port: int, msg: EmailMessage) -> int:
    """The code the relay gave at the end of the data, as a mail server reads it: what
    comes after (QUIT answered 421 by a relay that stops, a reset once the 250 is in)
    does not change a message that was accepted."""
    try:
        # Longer than the relay may take to answer (its check's budget and the next
        # hop's); RFC 5321 asks a client to wait ten minutes after the data.
        client = smtplib.SMTP("127.0.0.1", port, timeout=60)
    except (OSError, smtplib.SMTPException):
        return 421  # refused or cut at the greeting: like 4xx, keep and retry
    try:
        client.sendmail(str(msg["From"]), [str(msg["To"])], raw(msg))
        code = 250
    except smtplib.SMTPResponseException as exc:
        code = exc.smtp_code
    except smtplib.SMTPRecipientsRefused as exc:
        code = next(iter(exc.recipients.values()))[0]
    except (OSError, smtplib.SMTPException):
        code = 421  # the connection was lost before the answer: keep and retry
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
    return code


def test_relay_load_with_faults_loses_nothing_and_duplicates_nothing(
    workdir: Path, policy_file: Path
) -> None:
    total, clients = 1000, 50
    # A hung next hop holds the message past the relay's wait for it (5 s), then refuses.
    sink = Sink(hang_seconds=6).start()
    cmd, audit = relay_command(
        workdir,
        "relay-load",
        sink.port,
        policy_file,
        "--workers",
        "2",
        "--processes",
        "2",
        "--timeout",
        "10",
        "--next-hop-timeout",
        "5",
    )
    cmd.start()
    rng = random.Random(20260302)
    faults = ["tempfail-once"] * 4 + ["hang-once"] * 1 + ["reject"] * 3 + ["block"] * 2
    plan = [faults[i] if i < len(faults) else None for i in range(100)]
    messages: list[EmailMessage] = []
    expected_refused: set[str] = set()
    for i in range(total):
        fault = rng.choice(plan)  # 10 % of messages carry a fault
        body = f"IBAN {IBAN}\n" if fault == "block" else f"Message {i}: rendez-vous confirmé.\n"
        msg = make_message(body, fault=None if fault == "block" else fault)
        messages.append(msg)
        if fault in ("reject", "block"):
            expected_refused.add(str(msg["Message-ID"]))
    log = ClientLog()
    deadline = time.monotonic() + 150
    threads = [
        threading.Thread(target=_client, args=(cmd.port, messages[i::clients], log, deadline))
        for i in range(clients)
    ]
    started = time.monotonic()
    try:
        for t in threads:
            t.start()
        # Restart the relay mid-run, as an upgrade would.
        while len(log.final) < total // 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        cmd.stop()
        cmd.start()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic()))
    finally:
        cmd.stop()
        sink.stop()
    elapsed = time.monotonic() - started
    at_sink = Counter(sink.message_ids())
    ids = [str(m["Message-ID"]) for m in messages]
    unanswered = [m for m in ids if m not in log.final]
    delivered = [m for m in ids if log.final.get(m) == 250]
    refused = [m for m in ids if log.final.get(m, 0) >= 500]
    lost = [m for m in delivered if at_sink[m] == 0]
    duplicated = [m for m in ids if at_sink[m] > 1]
    refused_but_delivered = [m for m in refused if at_sink[m] > 0]
    unknown = [m for m in at_sink if m not in log.final]
    records = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    # What SMTP allows (RFC 1047): the whole message was sent on and its answer never
    # came, or came after the relay's client had left. The relay then cannot know, and
    # the sender's retry may arrive twice. Any other duplicate is a fault.
    unsettled = {
        r["message_id"]
        for r in records
        if (
            (r.get("next_hop") or {}).get("stage") == "end_of_data"
            and r["next_hop"]["reply"] is None
        )
        or (r.get("client_gone") and r["outcome"] == "accepted")
    }
    faulty = [m for m in duplicated if mask_header(m) not in unsettled]
    summary = (
        f"{len(delivered)} delivered, {len(refused)} refused, {len(unanswered)} unanswered, "
        f"{len(lost)} lost, {len(duplicated)} duplicated ({len(faulty)} where SMTP does not "
        f"allow it; {len(unsettled)} answers the relay could not know) in {elapsed:.1f} s, "
        f"{sum(log.attempts.values()) - total} retries"
    )
    print(summary)
    assert not unanswered, summary
    assert not lost and not faulty and not refused_but_delivered and not unknown, summary
    assert set(refused) == expected_refused, summary
    assert len(delivered) + len(refused) == total, summary
    assert sum(log.attempts.values()) > total  # the faults really forced retries
    assert all(r["verdict_id"] for r in records)
    assert not any(leaked(json.dumps(r), [IBAN]) for r in records)


# ------------------------------------------------------------------- gatekeeper limits


class SlowCertificates:
    """A certificate store that answers late or fails, like an unreachable directory."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay, self.fail = delay, fail

    def __call__(self, address: str) -> None:
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("directory unreachable")


def _keeper(certs: SlowCertificates, **kw: object) -> Gatekeeper:
    policy = Policy.default().replace(internal_domains=("clinic.fr",))
    return Gatekeeper(Guard(policy, certificates=certs), interface="test", **kw)  # type: ignore[arg-type]


NEEDS_ENCRYPTION = raw(make_message(f"NIR {NIR}, diagnostic : asthme.\n"))


def test_gatekeeper_times_out_with_451() -> None:
    keeper = _keeper(SlowCertificates(delay=1.0), timeout=0.2)
    started = time.monotonic()
    decision = asyncio.run(keeper.decide(NEEDS_ENCRYPTION, [PLAIN]))
    assert time.monotonic() - started < 0.9
    assert decision.reply == (
        "451 4.7.1 la verification par leakguard a pris trop de temps, reessayez plus tard / "
        "leakguard took too long to check this message, try again later"
    )
    keeper.close()


def test_gatekeeper_internal_error_is_a_451_never_an_accept() -> None:
    keeper = _keeper(SlowCertificates(fail=True), lang="en")
    decision = asyncio.run(keeper.decide(NEEDS_ENCRYPTION, [PLAIN]))
    assert decision.reply == "451 4.7.1 leakguard could not check this message, try again later"
    assert not decision.accepted
    keeper.close()


def test_gatekeeper_overload_answers_451_at_once() -> None:
    keeper = _keeper(SlowCertificates(delay=0.5), max_pending=1, lang="fr")

    async def two() -> list[str]:
        first = asyncio.create_task(keeper.decide(NEEDS_ENCRYPTION, [PLAIN]))
        await asyncio.sleep(0.05)
        second = await keeper.decide(NEEDS_ENCRYPTION, [PLAIN])
        return [(await first).reply, second.reply]

    first, second = asyncio.run(two())
    assert first.startswith("550 5.7.1 Chiffrement requis")
    assert second == "451 4.7.1 leakguard est occupe, reessayez plus tard"
    keeper.close()


def test_gatekeeper_can_refuse_instead_of_encrypting(secure_party: Party, tmp_path: Path) -> None:
    from leakguard.protection import FolderCertificates

    policy = Policy.default().replace(internal_domains=("clinic.fr",))
    guard = Guard(policy, certificates=FolderCertificates(secure_party.cert_path.parent))
    msg = raw(make_message(f"NIR {NIR}, diagnostic : asthme.\n", to=SECURE, lang="en"))
    protect = Gatekeeper(guard, interface="test")
    assert asyncio.run(protect.decide(msg, [SECURE])).replacement is not None
    reject = Gatekeeper(guard, interface="test", encrypt="reject")
    decision = asyncio.run(reject.decide(msg, [SECURE]))
    assert decision.code == 550 and decision.replacement is None
    assert decision.text.startswith("Encryption required")
    protect.close()
    reject.close()


# ------------------------------------------------------------------- small parts


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["X-Leakguard", "x-leakguard", "Subject", "X-Other", "To"]),
            st.text(alphabet="abc ;=0123", max_size=20),
            st.booleans(),
        ),
        max_size=8,
    )
)
def test_without_header_removes_only_that_field(fields: list[tuple[str, str, bool]]) -> None:
    lines = []
    for name, value, folded in fields:
        lines.append(f"{name}: {value}" + ("\r\n\tmore" if folded else ""))
    data = ("".join(f"{line}\r\n" for line in lines) + "\r\nbody X-Leakguard: stays\r\n").encode()
    out = without_header(data, HEADER)
    parsed = email.message_from_bytes(out, policy=email.policy.compat32)
    want = [n for n, _, _ in fields if n.lower() != "x-leakguard"]
    assert list(parsed.keys()) == want
    assert parsed.get_payload() == "body X-Leakguard: stays\r\n"


@given(st.text(max_size=600))
def test_smtp_text_is_one_printable_ascii_line(text: str) -> None:
    out = smtp_text(text, 200)
    assert len(out) <= 200
    assert all(32 <= ord(c) < 127 for c in out)


@given(st.text(max_size=40))
def test_parse_hostport_accepts_only_host_and_port(value: str) -> None:
    try:
        host, port = parse_hostport(value, "--next-hop")
    except LeakguardError as exc:
        assert str(exc).startswith("--next-hop must look like HOST:PORT")
    else:
        assert host and 0 < port < 65536
        assert value.endswith(f":{value.rpartition(':')[2]}")


def test_upstream_queue_id_comes_from_the_newest_received_field() -> None:
    data = (
        b"Received: from pc.clinic.fr (pc [10.0.0.5])\r\n\tby mx.clinic.fr (Postfix) with "
        b"ESMTPSA id 4BcD5F2a1\r\n\tfor <a@b.fr>; Mon, 2 Mar 2026 09:30:00 +0000\r\n"
        b"Received: by older.example with SMTP id OLDER12345\r\n"
        b"Subject: x\r\n\r\nbody id NOTTHIS123\r\n"
    )
    assert upstream_queue_id(data) == "4BcD5F2a1"
    assert upstream_queue_id(b"Subject: x\r\n\r\nReceived: by x id ABCDEF123\r\n") is None


def test_parse_hostport_error_message() -> None:
    with pytest.raises(LeakguardError) as err:
        parse_hostport("mail.example.org", "--next-hop")
    assert str(err.value) == (
        "--next-hop must look like HOST:PORT (for example 127.0.0.1:10025), not 'mail.example.org'"
    )


def test_relay_command_says_what_is_wrong(tmp_path: Path) -> None:
    def run(*argv: str) -> tuple[int, str]:
        err = tmp_path / "err.txt"
        with err.open("w") as fh:
            done = subprocess.run(
                [sys.executable, "-m", "leakguard.cli", *argv],
                stderr=fh,
                stdout=subprocess.DEVNULL,
                env={**os.environ, "LANG": "C"},
                timeout=30,
                check=False,
            )
        return done.returncode, err.read_text()

    code, err = run("relay", "--next-hop", "mail.example.org")
    assert code == 2
    assert err == (
        "leakguard: --next-hop must look like HOST:PORT (for example 127.0.0.1:10025), "
        "not 'mail.example.org'\n"
    )
    missing = tmp_path / "none.pem"
    code, err = run("relay", "--next-hop", "127.0.0.1:25", "--tls-cert", str(missing))
    assert (code, err) == (
        2,
        "leakguard: cannot load the TLS certificate or key: No such file or directory\n",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run("milter", "--listen", f"inet:127.0.0.1:{port}")
    assert (code, err) == (
        2,
        f"leakguard: cannot listen on 127.0.0.1:{port}: Address already in use\n",
    )
