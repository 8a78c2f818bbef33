"""other_person_data: a fact from the patient register applies the policy in full; a
guess from the display name at most warns and is silent for health professionals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import NIR, make_nir, message
from leakguard.core import Action, Finding, Fingerprinter, Location, Severity
from leakguard.guard import Guard
from leakguard.other_person import GUESS, REGISTER, capped
from leakguard.policy import Policy
from leakguard.recipients import Directory
from leakguard.register import PatientRegister

ROOT = Path(__file__).resolve().parent.parent
DOC = ["Compte rendu de consultation", "Patient : Paul DURAND", f"NIR {NIR}"]


def _other(guard: Guard, to: str, lines: list[str] = DOC) -> list[Finding]:
    v = guard.check(message(to=to, pdf_lines=lines))
    return [f for f in v.findings if f.kind == "other_person_data"]


def _quiet_policy() -> Policy:
    """The default policy, with unencrypted sensitive data allowed: only the other-person
    finding can then raise the action."""
    return Policy.from_toml('[actions]\nunencrypted_sensitive = "allow"\n')


def test_a_guess_warns_and_never_blocks() -> None:
    guard = Guard(_quiet_policy())
    v = guard.check(message(to="Jeanne Petit <jeanne.petit@example.org>", pdf_lines=DOC))
    other = [f for f in v.findings if f.kind == "other_person_data"]
    assert len(other) == 1
    assert other[0].detail == GUESS and other[0].severity is Severity.MEDIUM
    assert str(other[0].location) == "attachment:bordereau.pdf"
    assert v.action is Action.WARN  # the policy says block; a guess stops at warn
    # With the default policy the message still needs encryption, but is not blocked.
    assert Guard().check(
        message(to="Jeanne Petit <j.petit@example.org>", pdf_lines=DOC)
    ).action is (Action.ENCRYPT)


@pytest.mark.parametrize(
    "to",
    [
        "Dr Claire Martin <claire.martin@cabinet-exemple.fr>",
        "Dr. Claire Martin <claire.martin@cabinet-exemple.fr>",
        "Docteur Claire Martin <claire.martin@cabinet-exemple.fr>",
        "Dre Claire Martin <claire.martin@cabinet-exemple.ca>",
        "Pr Claire Martin <claire.martin@univ-exemple.fr>",
        "Professeur Claire MARTIN <claire.martin@univ-exemple.fr>",
        '"MARTIN Claire (Dr)" <claire.martin@cabinet-exemple.fr>',
    ],
)
def test_silent_for_a_doctor(to: str) -> None:
    guard = Guard(_quiet_policy())
    assert _other(guard, to) == []
    # Without the title the same name and address get the guess.
    plain = to.replace("Dre ", "").replace("Dr. ", "").replace("Dr ", "").replace(" (Dr)", "")
    plain = plain.replace("Docteur ", "").replace("Professeur ", "").replace("Pr ", "")
    assert [f.detail for f in _other(guard, plain)] == [GUESS]


def test_silent_for_a_secure_messaging_recipient() -> None:
    guard = Guard()
    v = guard.check(message(to="Claire Martin <claire.martin@cabinet.mssante.fr>", pdf_lines=DOC))
    assert "other_person_data" not in v.kinds()
    assert v.action is Action.ALLOW  # secure channel: no encryption needed either
    custom = Guard(Policy.from_toml('[organisation]\nsecure_domains = ["*.apicrypt.org"]\n'))
    assert _other(custom, "Claire Martin <c.martin@lyon.apicrypt.org>") == []
    assert [f.detail for f in _other(custom, "Claire Martin <c.martin@cabinet.mssante.fr>")] == [
        GUESS
    ]


def test_silent_for_a_directory_partner() -> None:
    partner = "claire.martin@cabinet-exemple.fr"
    guard = Guard(_quiet_policy(), directory=Directory.from_addresses([partner]))
    assert _other(guard, f"Claire Martin <{partner}>") == []
    assert [f.detail for f in _other(guard, "Claire Martin <c.martin@example.org>")] == [GUESS]


def test_a_patient_receiving_their_own_file() -> None:
    guard = Guard(_quiet_policy())
    assert _other(guard, "Paul Durand <paul.durand@example.org>") == []
    assert _other(guard, "DURAND Paul <pdurand@example.org>") == []
    own = ["Attestation", "Madame Jeanne PETIT", f"NIR {NIR}"]
    v = guard.check(message(to="Jeanne Petit <jeanne.petit@example.org>", pdf_lines=own))
    assert "other_person_data" not in v.kinds()
    assert v.action is Action.ALLOW


def _register_guard(tmp_path: Path, policy: Policy | None = None) -> tuple[Guard, str, str]:
    fp = Fingerprinter(b"test")
    reg = tmp_path / "patients.csv"
    own, other = make_nir(1), make_nir(2)
    reg.write_text(
        f"email,name,nir\ndr.jeanne@example.org,Dr Jeanne Petit,{own}\n", encoding="utf-8"
    )
    guard = Guard(
        policy or Policy.default(),
        register=PatientRegister.load(reg, fingerprinter=fp),
        fingerprinter=fp,
    )
    return guard, own, other


def test_register_path_unchanged(tmp_path: Path) -> None:
    guard, own, other = _register_guard(tmp_path, _quiet_policy())
    # The register says whose NIR it is: a fact, blocked even for a titled recipient.
    to = "Dr Jeanne Petit <dr.jeanne@example.org>"
    wrong = guard.check(message(to=to, pdf_lines=[f"Assuré : {other}"]))
    found = [f for f in wrong.findings if f.kind == "other_person_data"]
    assert [(f.detail, f.severity) for f in found] == [(REGISTER, Severity.HIGH)]
    assert wrong.action is Action.BLOCK
    right = guard.check(message(to=to, pdf_lines=[f"Assuré : {own}", "Patient : Paul DURAND"]))
    assert "other_person_data" not in right.kinds()
    assert right.action is Action.ALLOW
    # A recipient the register does not know falls back to the guess, which only warns.
    unknown = guard.check(message(to="Jeanne Petit <j.petit@example.org>", pdf_lines=DOC))
    assert [f.detail for f in unknown.findings if f.kind == "other_person_data"] == [GUESS]
    assert unknown.action is Action.WARN


def test_capped_lowers_only_guesses() -> None:
    at = Location.attachment("a.pdf")
    guess = Finding("other_person_data", at, Severity.MEDIUM, detail=GUESS)
    fact = Finding("other_person_data", at, Severity.HIGH, detail=REGISTER)
    other = Finding("many_people", at, Severity.HIGH, count=3)
    assert capped(guess, Action.BLOCK) is Action.WARN
    assert capped(guess, Action.ENCRYPT) is Action.WARN
    assert capped(guess, Action.ALLOW) is Action.ALLOW
    assert capped(fact, Action.BLOCK) is Action.BLOCK
    assert capped(other, Action.BLOCK) is Action.BLOCK


def test_default_policy_on_examples_and_seeds_blocks_no_guess() -> None:
    """The bundled messages: only the guesses stopped blocking (02, 09 and 10 did)."""
    guard = Guard()
    actions = {p.name: guard.check(p) for p in sorted((ROOT / "examples").glob("*.eml"))}
    for name, v in actions.items():
        guesses = [f for f in v.findings if f.kind == "other_person_data"]
        assert all(f.detail == GUESS for f in guesses), name
    assert actions["02-compte-rendu-pdf.eml"].action is Action.ENCRYPT
    # A report to Claire Martin <dr.martin@…>: a doctor, by the address.
    assert "other_person_data" not in actions["02-compte-rendu-pdf.eml"].kinds()
    assert actions["09-mssante.eml"].action is Action.ALLOW  # Dr at an MSSanté address
    assert "other_person_data" not in actions["09-mssante.eml"].kinds()
    assert actions["10-publipostage.eml"].action is Action.ENCRYPT
    sys.path.insert(0, str(ROOT / "seeds"))
    try:
        from run import run, scenarios
    finally:
        sys.path.remove(str(ROOT / "seeds"))
    for folder in scenarios():
        out = run(folder)
        assert out.verdict.action.value == out.expected_action, folder.name
