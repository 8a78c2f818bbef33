"""End to end: GuardedSMTP and a hooked legacy script against a real SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
import io
import smtplib
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import pyzipper
from aiosmtpd.controller import Controller

from certs_factory import make_certificate, make_rsa_key, write_certificate, write_private_key
from helpers import NIR, leaked, message
from leakguard.core import Action
from leakguard.errors import LeakBlocked
from leakguard.guard import Guard, PasswordNotice
from leakguard.policy import Policy
from leakguard.recipients import Directory
from leakguard.smtp import GuardedSMTP, WarnNotice, hook_smtplib

COLLEAGUES = ["m.lecomte@gmail.com", "dr.martin@cabinet-exemple.fr"]


@dataclass
class Recorder:
    mail_from: list[str] = field(default_factory=list)
    messages: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.mail_from.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[Recorder, int]]:
    rec = Recorder()
    port = _free_port()
    ctl = Controller(rec, hostname="127.0.0.1", port=port, ready_timeout=10)
    ctl.start()
    try:
        yield rec, port
    finally:
        ctl.stop()


@pytest.fixture
def guard() -> Guard:
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    return Guard(policy, directory=Directory.from_addresses(COLLEAGUES))


def alliance_vision() -> EmailMessage:
    return message(
        to="Marc Lecompte <m.lecompte@gmail.com>",
        pdf_lines=["Télétransmission", f"NIR {NIR}", "RIB 30006 00001 12345678901 89"],
    )


def test_allowed_message_arrives(server: tuple[Recorder, int], guard: Guard) -> None:
    rec, port = server
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp:
        smtp.send_message(message(body="La réunion est reportée.\n"))
    assert len(rec.messages) == 1
    assert b"La r" in rec.messages[0][1]


def test_blocked_message_never_reaches_the_server(
    server: tuple[Recorder, int], guard: Guard
) -> None:
    rec, port = server
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp, pytest.raises(LeakBlocked) as err:
        smtp.send_message(alliance_vision())
    assert err.value.verdict.action is Action.BLOCK
    assert rec.mail_from == [] and rec.messages == []  # not even MAIL FROM
    assert not leaked(str(err.value), [NIR])


def test_encrypt_verdict_sends_smime_that_openssl_decrypts(
    server: tuple[Recorder, int], tmp_path: Path
) -> None:
    rec, port = server
    key = make_rsa_key()
    cert = make_certificate(key, "dr.martin@cabinet-exemple.fr")
    certs = tmp_path / "certs"
    certs.mkdir()
    write_certificate(cert, certs / "dr.martin@cabinet-exemple.fr.pem")
    policy = Policy.default().replace(
        internal_domains=("clinique-exemple.fr",), certificates_path=certs
    )
    guard = Guard(policy, directory=Directory.from_addresses(COLLEAGUES))
    original = message(pdf_lines=["Compte rendu", f"NIR {NIR}"])
    pdf_bytes = next(p for p in original.iter_attachments()).get_content()
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp:
        smtp.send_message(original)
    assert len(rec.messages) == 1
    raw = rec.messages[0][1]
    assert b"application/pkcs7-mime" in raw
    assert not leaked(raw.decode("latin-1"), [NIR])
    wire = tmp_path / "wire.eml"
    wire.write_bytes(raw)
    key_file = tmp_path / "key.pem"
    write_private_key(key, key_file)
    out = subprocess.run(
        ["openssl", "smime", "-decrypt", "-in", str(wire), "-inkey", str(key_file)],
        capture_output=True,
        check=True,
    )
    inner = email.message_from_bytes(out.stdout, policy=email.policy.default)
    assert isinstance(inner, EmailMessage)
    got = next(p for p in inner.iter_attachments()).get_content()
    assert got == pdf_bytes


def test_hooked_legacy_script_is_guarded_until_unhooked(
    server: tuple[Recorder, int], guard: Guard
) -> None:
    rec, port = server

    def legacy_script(msg: EmailMessage) -> None:  # unchanged code, plain smtplib
        with smtplib.SMTP("127.0.0.1", port) as s:
            s.send_message(msg)

    with hook_smtplib(guard), pytest.raises(LeakBlocked):
        legacy_script(alliance_vision())
    assert rec.messages == [] and rec.mail_from == []
    hook = hook_smtplib(guard)
    with pytest.raises(RuntimeError):
        hook_smtplib(guard)
    with pytest.raises(LeakBlocked):
        legacy_script(alliance_vision())
    hook.unhook()
    legacy_script(message(body="Bonjour\n"))
    assert len(rec.messages) == 1
    legacy_script(alliance_vision())  # unhooked: smtplib is plain again
    assert len(rec.messages) == 2


def test_sendmail_with_raw_bytes_and_bcc_envelope(
    server: tuple[Recorder, int], guard: Guard
) -> None:
    rec, port = server
    raw = message(to="accueil@clinique-exemple.fr", body=f"NIR {NIR}\n").as_bytes()
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp:
        # The Bcc recipient outside only exists in the envelope: it must still count.
        with pytest.raises(LeakBlocked):
            smtp.sendmail(
                "secretariat@clinique-exemple.fr",
                ["accueil@clinique-exemple.fr", "x@gmail.com"],
                raw,
            )
        smtp.sendmail("secretariat@clinique-exemple.fr", ["accueil@clinique-exemple.fr"], raw)
    assert len(rec.messages) == 1


def test_warn_goes_to_the_callback(server: tuple[Recorder, int], guard: Guard) -> None:
    rec, port = server
    seen: list[WarnNotice] = []

    def refuse(n: WarnNotice) -> bool:
        seen.append(n)
        return False

    typo = message(to="m.lecompte@gmail.com", body="Rendez-vous confirmé.\n")
    with (
        GuardedSMTP("127.0.0.1", port, guard=guard, on_warn=refuse) as smtp,
        pytest.raises(LeakBlocked),
    ):
        smtp.send_message(typo)
    assert len(seen) == 1 and seen[0].verdict.action is Action.WARN
    assert rec.messages == []
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp:  # default: log and send
        smtp.send_message(typo)
    assert len(rec.messages) == 1


def test_zip_fallback_hands_the_password_to_the_callback(server: tuple[Recorder, int]) -> None:
    rec, port = server
    notices: list[PasswordNotice] = []
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    guard = Guard(policy, on_password=notices.append)
    original = message(pdf_lines=["Compte rendu", f"NIR {NIR}"])
    pdf_bytes = next(p for p in original.iter_attachments()).get_content()
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp:
        smtp.send_message(original)
    assert len(notices) == 1 and len(rec.messages) == 1
    password = notices[0].password
    assert password not in repr(notices[0])
    raw = rec.messages[0][1]
    assert password.encode() not in raw
    received = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(received, EmailMessage)
    archive = next(p for p in received.iter_attachments())
    with pyzipper.AESZipFile(io.BytesIO(archive.get_content())) as zf:
        zf.setpassword(password.encode())
        assert zf.read(zf.namelist()[0]) == pdf_bytes
    assert guard.check(raw).action < Action.ENCRYPT


def test_guarded_smtp_ssl_over_implicit_tls(tmp_path: Path, guard: Guard) -> None:
    import ssl

    from leakguard.smtp import GuardedSMTP_SSL

    key = make_rsa_key()
    cert = make_certificate(key, None, common_name="127.0.0.1")
    cert_file = write_certificate(cert, tmp_path / "server.pem")
    key_file = write_private_key(key, tmp_path / "server.key")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    client_ctx = ssl.create_default_context(cafile=str(cert_file))
    client_ctx.check_hostname = False
    rec = Recorder()
    port = _free_port()
    ctl = Controller(rec, hostname="127.0.0.1", port=port, ssl_context=server_ctx, ready_timeout=10)
    ctl.start()
    try:
        with GuardedSMTP_SSL("127.0.0.1", port, guard=guard, context=client_ctx) as smtp:
            smtp.send_message(message(body="Bonjour\n"))
            with pytest.raises(LeakBlocked):
                smtp.send_message(alliance_vision())
    finally:
        ctl.stop()
    assert len(rec.messages) == 1
    assert len(rec.mail_from) == 1


def test_sendmail_with_a_str_message_keeps_smtplib_line_handling(
    server: tuple[Recorder, int], guard: Guard
) -> None:
    rec, port = server
    text = message(to="accueil@clinique-exemple.fr", body="Bonjour\n").as_string()
    assert "\r\n" not in text
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp:
        smtp.sendmail("secretariat@clinique-exemple.fr", "accueil@clinique-exemple.fr", text)
    assert len(rec.messages) == 1
    assert b"Bonjour" in rec.messages[0][1]


def _default_policy_message(to: str, body: str, *, copies: bool = True) -> EmailMessage:
    cc = (
        "Cc: Dr Martin <dr.martin@cabinet-exemple.fr>\r\nBcc: archives@clinique-exemple.fr\r\n"
        if copies
        else ""
    )
    raw = (
        f"From: secretariat@clinique-exemple.fr\r\nTo: {to}\r\n{cc}"
        f"Subject: Dossier\r\n\r\n{body}\r\n"
    ).encode()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_send_message_survives_a_header_the_standard_library_cannot_read(
    server: tuple[Recorder, int], guard: Guard
) -> None:
    # Reading this To with email.policy.default raises AttributeError inside smtplib;
    # the addresses are then read from the raw headers and the guard still decides.
    rec, port = server
    msg = _default_policy_message("unlisted-recipients:; (no To-header on input)", "Bonjour.")
    with pytest.raises(AttributeError):
        _ = msg["To"]
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp:
        smtp.send_message(msg)
    assert rec.mail_from == ["secretariat@clinique-exemple.fr"]
    ((rcpt, data),) = rec.messages
    assert rcpt == ["dr.martin@cabinet-exemple.fr", "archives@clinique-exemple.fr"]
    assert b"Bcc:" not in data and b"Bonjour." in data


def test_send_message_fallback_takes_the_sender_field_first_as_smtplib_does(
    server: tuple[Recorder, int], guard: Guard
) -> None:
    rec, port = server
    msg = _default_policy_message("unlisted-recipients:; (no To-header on input)", "Bonjour.")
    msg["Sender"] = "accueil@clinique-exemple.fr"  # after From, where clients write it
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp:
        smtp.send_message(msg)
    assert rec.mail_from == ["accueil@clinique-exemple.fr"]


def test_send_message_fallback_sends_a_resent_message_where_smtplib_would(
    server: tuple[Recorder, int], guard: Guard
) -> None:
    # A message sent again goes to its Resent- fields; when one of them cannot be read by
    # the standard library, the fallback must not send it to the first To and Cc instead.
    rec, port = server
    raw = (
        "Resent-Date: Sun, 06 Dec 2026 10:00:00 +0100\r\n"
        "Resent-To: unlisted-recipients:; (no To-header on input)\r\n"
        "Resent-Cc: accueil@clinique-exemple.fr\r\n"
        "From: secretariat@clinique-exemple.fr\r\nTo: dr.martin@cabinet-exemple.fr\r\n"
        "Cc: archives@clinique-exemple.fr\r\nSubject: Dossier\r\n\r\nBonjour.\r\n"
    )
    msg = email.message_from_bytes(raw.encode(), policy=email.policy.default)
    with pytest.raises(AttributeError):
        _ = msg["Resent-To"]
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp:
        smtp.send_message(msg)
    ((rcpt, _data),) = rec.messages
    assert rcpt == ["accueil@clinique-exemple.fr"]


def test_send_message_with_an_unreadable_header_is_still_blocked(
    server: tuple[Recorder, int], guard: Guard
) -> None:
    rec, port = server
    msg = _default_policy_message(
        "unlisted-recipients:; (no To-header on input)",
        f"NIR {NIR}, diagnostic : diabète.",
        copies=False,
    )
    with GuardedSMTP("127.0.0.1", port, guard=guard) as smtp, pytest.raises(LeakBlocked) as err:
        smtp.send_message(msg)
    assert err.value.verdict.action is Action.BLOCK
    assert "unreadable_recipients" in {f.kind for f in err.value.verdict.findings}
    assert rec.mail_from == [] and rec.messages == []
