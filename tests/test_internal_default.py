"""Internal by default: with no internal domain configured, the sender's own domain is
internal unless it is a public mailbox provider; Guard() and the CLI agree."""

from __future__ import annotations

import email
import json
import logging
import subprocess
import sys
from email import policy as email_policy
from pathlib import Path

import pytest

from helpers import NIR, message
from leakguard._recipients.typo_domains import (
    PUBLIC_MAILBOX_DOMAINS,
    TRUE_DOMAINS,
    is_public_mailbox,
    typo_domains,
)
from leakguard.core import Action
from leakguard.guard import Guard
from leakguard.policy import Policy

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_sender_domain_stands_for_the_internal_domains() -> None:
    p = Policy.default()
    assert p.internal_domains == ()
    assert p.internal_for("secretariat@Clinique-Exemple.FR") == ("clinique-exemple.fr",)
    assert p.internal_for("clinique-exemple.fr.") == ("clinique-exemple.fr",)
    assert p.for_sender("a@clinique-exemple.fr").is_internal("clinique-exemple.fr")
    assert p.for_sender("a@clinique-exemple.fr").is_internal("mail.clinique-exemple.fr")
    assert not p.for_sender("a@clinique-exemple.fr").is_internal("clinique-exemple.fr.evil.com")
    assert not p.is_internal("clinique-exemple.fr")  # no sender, nothing configured
    assert p.internal_for(None) == () and p.internal_for("") == ()
    assert p.for_sender(None) is p and p.internal_domains == ()
    assert p.internal_for("nobody") == ()


@pytest.mark.parametrize("provider", PUBLIC_MAILBOX_DOMAINS)
def test_public_mailbox_sender_gets_no_internal_domain(provider: str) -> None:
    p = Policy.default()
    assert p.internal_for(f"clinique@{provider.upper()}") == ()
    assert not p.for_sender(f"clinique@{provider}").is_internal(provider)


def test_configured_domains_replace_the_sender_default() -> None:
    p = Policy.from_toml('[organisation]\ninternal_domains = ["chu.fr"]\n')
    assert p.internal_for("a@clinique-exemple.fr") == ("chu.fr",)
    assert not p.for_sender("a@clinique-exemple.fr").is_internal("clinique-exemple.fr")
    assert p.for_sender("a@clinique-exemple.fr").is_internal("chu.fr")


def test_one_list_of_public_providers_for_the_policy_and_the_typo_table() -> None:
    assert TRUE_DOMAINS is PUBLIC_MAILBOX_DOMAINS
    assert set(typo_domains().values()) <= set(PUBLIC_MAILBOX_DOMAINS)
    assert is_public_mailbox("GMAIL.com.") and not is_public_mailbox("gmial.com")


def test_example_internal_message_is_allowed_by_the_default_guard() -> None:
    v = Guard().check(EXAMPLES / "08-interne.eml")
    assert v.action is Action.ALLOW
    assert v.kinds() == {"nir"}


def test_colleague_at_own_domain_is_internal_and_gmail_sender_is_not() -> None:
    guard = Guard()
    to_colleague = message(to="accueil@clinique-exemple.fr", body=f"NIR {NIR}\n")
    assert guard.check(to_colleague).action is Action.ALLOW
    from_gmail = message(
        sender="clinique.exemple@gmail.com", to="collegue@gmail.com", body=f"NIR {NIR}\n"
    )
    v = guard.check(from_gmail)
    assert v.action is Action.ENCRYPT
    assert "unencrypted_sensitive" in v.kinds()
    outside = message(to="someone@autre-clinique.fr", body=f"NIR {NIR}\n")
    assert guard.check(outside).action is Action.ENCRYPT


def test_cli_without_internal_domain_agrees_with_guard() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leakguard.cli", "check", str(EXAMPLES / "08-interne.eml")],
        capture_output=True,
        text=True,
        env={"LANG": "C", "PATH": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ALLOW" in done.stdout


def _raw(sender_line: bytes) -> bytes:
    return (
        sender_line + b"To: accueil@clinique-exemple.fr\r\nSubject: Dossier\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Merci de classer le dossier, NIR " + NIR.encode() + b".\r\n"
    )


@pytest.mark.parametrize(
    ("sender_line", "expected"),
    [
        (b"From: =?utf-8?q?Secr=C3=A9tariat?= <secretariat@clinique-exemple.fr>\r\n", "allow"),
        (b"From: secretariat@CLINIQUE-EXEMPLE.fr (secretariat)\r\n", "allow"),
        (b"From: secretariat.clinique@gmail.com\r\n", "encrypt"),
        (b"", "encrypt"),  # no sender: no default
        (b"From: undisclosed-senders:;\r\n", "encrypt"),
        (b"From: <<<@@@>>>\r\n", "encrypt"),
        (b"From: " + b"x" * 200_000 + b"@clinique-exemple.fr\r\n", "encrypt"),
    ],
    ids=["encoded-name", "comment", "gmail", "none", "group", "garbage", "huge"],
)
def test_sender_read_from_the_raw_header_whatever_the_parsing_policy(
    sender_line: bytes, expected: str
) -> None:
    data = _raw(sender_line)
    guard = Guard()
    assert guard.check(data).action.value == expected
    for parsing in (email_policy.compat32, email_policy.default):
        parsed = email.message_from_bytes(data, policy=parsing)
        assert guard.check(parsed).action.value == expected, parsing


@pytest.mark.parametrize(
    ("sender_line", "expected"),
    [
        # Two authors, as RFC 5322 allows: the first is the sender, on every Python
        # version (the standard library's parseaddr gives none for this on some).
        (
            b"From: secretariat@clinique-exemple.fr, dr.martin@clinique-exemple.fr\r\n"
            b"Sender: secretariat@clinique-exemple.fr\r\n",
            "allow",
        ),
        # Outside the grammar: no sender, whatever address-like words the header holds.
        (b"From: <<secretariat@clinique-exemple.fr\r\n", "encrypt"),
        (b"From: Secretariat secretariat@clinique-exemple.fr\r\n", "encrypt"),
        (b"From: Secretariat <secretariat@clinique-exemple.fr\r\n", "encrypt"),
    ],
    ids=["two-authors", "double-angle", "no-angle", "unclosed"],
)
def test_the_sender_is_the_first_mailbox_the_grammar_reads(
    sender_line: bytes, expected: str
) -> None:
    assert Guard().check(_raw(sender_line)).action.value == expected


def test_the_audit_names_the_sender_the_guard_decided_with(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A display name longer than the audit once read: its address is still the sender.
    name = "Secretariat " + "de la clinique " * 120
    data = _raw(f'From: "{name}" <secretariat@clinique-exemple.fr>\r\n'.encode())
    with caplog.at_level(logging.INFO, logger="leakguard.audit"):
        verdict = Guard().check(data)
    assert verdict.action is Action.ALLOW  # the sender's domain was internal
    (line,) = [r.getMessage() for r in caplog.records if r.name == "leakguard.audit"]
    assert json.loads(line)["sender"] == "secretariat@clinique-exemple.fr"
