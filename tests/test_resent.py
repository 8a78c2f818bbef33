"""A message sent again (a "redirect") goes to its Resent- fields' addresses: a script's
``smtplib.send_message`` sends it there, not to To, Cc and Bcc. The guard reads both,
and every place that names the recipients names the same ones."""

from __future__ import annotations

import email
import email.policy

from leakguard.audit import audit_record
from leakguard.batch import recipients_of
from leakguard.guard import Guard
from leakguard.policy import Policy
from leakguard.recipients import Directory

COLLEAGUES = ["dr.martin@cabinet-exemple.fr", "accueil@clinique-exemple.fr"]


def _guard() -> Guard:
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    return Guard(policy, directory=Directory.from_addresses(COLLEAGUES))


def _resent(resent_to: str) -> bytes:
    return (
        "Resent-From: accueil@clinique-exemple.fr\r\n"
        "Resent-Date: Sun, 06 Dec 2026 10:00:00 +0100\r\n"
        f"Resent-To: {resent_to}\r\n"
        "From: secretariat@clinique-exemple.fr\r\n"
        "To: dr.martin@cabinet-exemple.fr\r\n"
        "Subject: Rendez-vous\r\n\r\nBonjour.\r\n"
    ).encode()


def test_a_look_alike_in_resent_to_is_reported_there() -> None:
    verdict = _guard().check(_resent("dr.marton@cabinet-exemple.fr"))
    found = {(f.kind, str(f.location), f.recipient) for f in verdict.findings}
    assert found == {("lookalike_recipient", "header:resent-to", "dr.marton@cabinet-exemple.fr")}


def test_resent_fields_alone_are_recipients() -> None:
    raw = _resent("accueil@clinique-exemple.fr").replace(
        b"\r\nTo: dr.martin@cabinet-exemple.fr\r\n", b"\r\n"
    )
    assert b"\r\nTo:" not in raw and b"Resent-To: accueil" in raw
    verdict = _guard().check(raw)
    # Without them the message would have no recipient ("unreadable_recipients").
    assert [f.kind for f in verdict.findings] == []


def test_batch_results_and_audit_records_name_the_same_recipients() -> None:
    raw = _resent("Service <dr.marton@cabinet-exemple.fr>")
    assert recipients_of(raw) == ("dr.martin@cabinet-exemple.fr", "dr.marton@cabinet-exemple.fr")
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    record = audit_record(_guard().check(raw), msg)
    assert record["recipient_domains"] == ["cabinet-exemple.fr"]
