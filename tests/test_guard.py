"""Guard.check: one verdict per message from content, recipients, protection and policy."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from helpers import IBAN, NIR, NIR_SPACED, RIB, leaked, make_nir, message
from leakguard.core import Action, Deadline, DeadlineExceeded, Fingerprinter
from leakguard.errors import LeakBlocked
from leakguard.guard import Guard
from leakguard.policy import Policy
from leakguard.recipients import Directory
from leakguard.register import PatientRegister

INTERNAL = ("clinique-exemple.fr",)
COLLEAGUES = [
    "m.lecomte@gmail.com",
    "dr.martin@cabinet-exemple.fr",
    "accueil@clinique-exemple.fr",
]


@pytest.fixture
def guard() -> Guard:
    policy = Policy.default().replace(internal_domains=INTERNAL)
    return Guard(policy, directory=Directory.from_addresses(COLLEAGUES))


def test_plain_message_is_allowed(guard: Guard) -> None:
    v = guard.check(message(body="Bonjour, la réunion est à 14 h.\n"))
    assert v.action is Action.ALLOW
    assert v.findings == ()


def test_nir_in_pdf_to_outside_needs_encryption(guard: Guard) -> None:
    v = guard.check(message(pdf_lines=["Bordereau", f"NIR {NIR_SPACED}"]))
    assert v.action is Action.ENCRYPT
    kinds = [f.kind for f in v.findings]
    assert kinds.count("nir") == 1
    nir_finding = next(f for f in v.findings if f.kind == "nir")
    assert str(nir_finding.location) == "attachment:bordereau.pdf"
    assert "unencrypted_sensitive" in kinds
    assert not leaked(v.explain("fr") + v.explain("en") + repr(v), [NIR])


def test_same_message_to_internal_or_secure_domain_is_allowed(guard: Guard) -> None:
    internal = guard.check(message(to="accueil@clinique-exemple.fr", pdf_lines=[f"NIR {NIR}"]))
    assert internal.action is Action.ALLOW
    assert "unencrypted_sensitive" not in internal.kinds()
    secure = guard.check(message(to="dr.x@chu.mssante.fr", pdf_lines=[f"NIR {NIR}"]))
    assert secure.action is Action.ALLOW
    assert "nir" in secure.kinds()


def test_lookalike_blocks_with_sensitive_content_and_warns_without(guard: Guard) -> None:
    typo = "Marc Lecompte <m.lecompte@gmail.com>"
    v = guard.check(message(to=typo, pdf_lines=[f"NIR {NIR}", f"RIB {RIB}"]))
    assert v.action is Action.BLOCK
    look = [f for f in v.findings if f.kind == "lookalike_recipient"]
    assert len(look) == 1
    assert look[0].similar_to == "m.lecomte@gmail.com" and look[0].distance == 1
    plain = guard.check(message(to=typo, body="Rendez-vous confirmé.\n"))
    assert plain.action is Action.WARN
    colleague = guard.check(message(to="m.lecomte@gmail.com", body="Rendez-vous confirmé.\n"))
    assert "lookalike_recipient" not in colleague.kinds()


def test_many_people_counts_distinct_people_and_blocks_bulk_exports(guard: Guard) -> None:
    three = [f"Patient {i} NIR {make_nir(i)}" for i in range(3)]
    v = guard.check(message(pdf_lines=three))
    many = [f for f in v.findings if f.kind == "many_people"]
    assert len(many) == 1 and many[0].count == 3
    assert v.action is Action.ENCRYPT
    sixty = [f"{make_nir(i)};Patient {i}" for i in range(60)]
    csv = ("nir;nom\n" + "\n".join(sixty)).encode()
    bulk = guard.check(message(extra=[(csv, "text", "csv", "export.csv")]))
    assert bulk.action is Action.BLOCK
    assert next(f for f in bulk.findings if f.kind == "many_people").count == 60


def test_one_person_with_nir_and_iban_counts_once(guard: Guard) -> None:
    v = guard.check(message(pdf_lines=[f"NIR {NIR}", f"IBAN {IBAN}"]))
    assert "many_people" not in v.kinds()


def test_bulk_visible_recipients(guard: Guard) -> None:
    to = [f"patient{i}@example.org" for i in range(12)]
    v = guard.check(message(to=to, body="Information : le cabinet sera fermé lundi.\n"))
    bulk = [f for f in v.findings if f.kind == "bulk_visible_recipients"]
    assert len(bulk) == 1 and bulk[0].count == 12
    assert v.action is Action.WARN
    nine = guard.check(message(to=to[:9], body="Information.\n"))
    assert "bulk_visible_recipients" not in nine.kinds()


def test_other_person_data_from_the_patient_register(tmp_path: Path) -> None:
    fp = Fingerprinter(b"test")
    reg = tmp_path / "patients.csv"
    a, b = make_nir(1), make_nir(2)
    reg.write_text(f"email,name,nir\njeanne@example.org,Jeanne Petit,{a}\n", encoding="utf-8")
    guard = Guard(
        Policy.default().replace(internal_domains=INTERNAL),
        register=PatientRegister.load(reg, fingerprinter=fp),
        fingerprinter=fp,
    )
    wrong = guard.check(message(to="jeanne@example.org", pdf_lines=[f"Assuré : {b}"]))
    assert "other_person_data" in wrong.kinds()
    assert wrong.action is Action.BLOCK
    right = guard.check(message(to="jeanne@example.org", pdf_lines=[f"Assuré : {a}"]))
    assert "other_person_data" not in right.kinds()


def test_other_person_data_from_the_display_name(guard: Guard) -> None:
    doc = ["Compte rendu", "Patient : Paul DURAND", f"NIR {NIR}"]
    wrong = guard.check(message(to="Jeanne Petit <jeanne.petit@example.org>", pdf_lines=doc))
    assert "other_person_data" in wrong.kinds()
    right = guard.check(message(to="Paul Durand <paul.durand@example.org>", pdf_lines=doc))
    assert "other_person_data" not in right.kinds()


def test_unscannable_attachment_warns_and_rest_is_scanned(guard: Guard) -> None:
    broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog" + b"\x00" * 50
    v = guard.check(
        message(
            to="accueil@clinique-exemple.fr",
            body=f"NIR {NIR}\n",
            extra=[(broken, "application", "pdf", "scan.pdf")],
        )
    )
    assert "unscannable_attachment" in v.kinds()
    assert "nir" in v.kinds()
    assert v.action is Action.WARN


def test_audit_log_has_one_json_line_per_decision_without_values(
    guard: Guard, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="leakguard.audit"):
        guard.check(message(pdf_lines=[f"NIR {NIR}", f"IBAN {IBAN}"]))
        guard.check(message(body="Bonjour\n"))
    lines = [r.getMessage() for r in caplog.records if r.name == "leakguard.audit"]
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["action"] == "encrypt"
    assert first["recipient_domains"] == ["cabinet-exemple.fr"]
    assert first["sender"] == "secretariat@clinique-exemple.fr"
    assert first["message_id"] == "<test-1@clinique-exemple.fr>"
    assert {"nir", "iban", "unencrypted_sensitive"} <= set(first["kinds"])
    assert all("fingerprint" in f for f in first["findings"] if f["kind"] in ("nir", "iban"))
    assert not leaked("\n".join(lines), [NIR, IBAN])
    assert "ci-joint" not in lines[0]  # no body


def test_leakblocked_text_never_shows_identifiers(guard: Guard) -> None:
    typo = "m.lecompte@gmail.com"
    with pytest.raises(LeakBlocked) as err:
        guard.protect(message(to=typo, pdf_lines=[f"NIR {NIR}"]))
    assert err.value.verdict.action is Action.BLOCK
    assert not leaked(str(err.value) + repr(err.value), [NIR])


def test_one_guard_checks_from_many_threads(guard: Guard) -> None:
    from concurrent.futures import ThreadPoolExecutor

    msgs = [message(pdf_lines=[f"Patient {i}", f"NIR {make_nir(i)}"]).as_bytes() for i in range(24)]
    alone = [guard.check(m) for m in msgs]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(guard.check, msgs))
    assert [v.action for v in together] == [v.action for v in alone]
    assert [[f.fingerprint for f in v.findings] for v in together] == [
        [f.fingerprint for f in v.findings] for v in alone
    ]


def test_a_passed_deadline_reads_nothing_and_says_so(guard: Guard) -> None:
    # The deadline is a value given to the check: once it has passed, the content is
    # reported unread (timeout), never judged as if it had been read.
    raw = message(body=f"Patient NIR {NIR_SPACED}", to="someone@gmail.com")
    verdict = guard.check(raw, deadline=Deadline.after(0))
    assert verdict.unread and {f.detail for f in verdict.unread} == {"timeout"}
    assert "nir" not in verdict.kinds()
    assert verdict.action >= Action.WARN


def test_deadline_helpers() -> None:
    never = Deadline.never()
    assert not never.expired() and never.remaining() == float("inf")
    soon = never.sooner(0)
    assert soon.expired() and soon.remaining() == 0
    with pytest.raises(DeadlineExceeded):
        soon.check()
    never.check()
