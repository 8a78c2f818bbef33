"""The guard with the national MSSanté directory: the secure address to use instead, the
look-alikes of real mailboxes and the addresses the directory does not know."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from helpers import NIR, message
from leakguard import Action, Guard, Policy
from leakguard.cli._common import Result
from leakguard.cli._output import json_doc, sarif_doc
from leakguard.recipients import Directory, HealthDirectory
from mssante_factory import HEADER, KNOWN, KNOWN_ORG, _row, write_extraction

JEROME = KNOWN[0]
SENSITIVE = f"Bonjour,\nNIR du patient : {NIR}\nCompte rendu de consultation.\n"
PLAIN = "Bonjour,\nla réunion est à 14 h.\n"
# An organisational mailbox of the directory at a domain that is not an MSSanté one.
OUTSIDE_ORG = "secretariat@hopital-exemple.fr"


@pytest.fixture(scope="module")
def health(tmp_path_factory: pytest.TempPathFactory) -> HealthDirectory:
    path = tmp_path_factory.mktemp("mssante") / "Extraction_Correspondance_MSSante_202405061432.txt"
    extra = [_row("ORG", OUTSIDE_ORG, "", "", "", "", "")]
    return HealthDirectory.load(write_extraction(path, 1_000, extra=extra), cache=False)


@pytest.fixture(scope="module")
def guard(health: HealthDirectory) -> Guard:
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    return Guard(policy, health_directory=health)


@pytest.fixture(scope="module")
def plain_guard() -> Guard:
    return Guard(Policy.default().replace(internal_domains=("clinique-exemple.fr",)))


def kinds(verdict: object) -> list[str]:
    return [f.kind for f in verdict.findings]  # type: ignore[attr-defined]


def only(verdict: object, kind: str) -> object:
    found = [f for f in verdict.findings if f.kind == kind]  # type: ignore[attr-defined]
    assert len(found) == 1, kinds(verdict)
    return found[0]


# --------------------------------------------------------------------------- suggestion


def test_health_data_to_a_doctors_gmail_suggests_the_mssante_address(
    guard: Guard, plain_guard: Guard
) -> None:
    msg = message(to="Dr Jérôme Dupont-Lefèvre <jdl.cabinet@gmail.com>", body=SENSITIVE)
    verdict = guard.check(msg)
    found = only(verdict, "secure_address_available")
    assert found.recipient == "jdl.cabinet@gmail.com"
    assert found.similar_to == JEROME.address and found.count == 1
    assert found.location.where == "header:to"
    assert found.directory_date == "2024-05-06"
    assert JEROME.address in found.message("en") and "instead" in found.message("en")
    assert JEROME.address in found.message("fr") and "envoyez plutôt" in found.message("fr")
    # It rides with the encrypt decision: the same action as without the directory.
    before = plain_guard.check(msg)
    assert verdict.action is before.action is Action.ENCRYPT
    assert "unencrypted_sensitive" in kinds(verdict)
    assert kinds(verdict) == [*kinds(before), "secure_address_available"]


def test_homonyms_give_the_count_and_three_addresses(guard: Guard) -> None:
    msg = message(to="QUINTARD Bérénice <bq@orange.fr>", body=SENSITIVE)
    found = only(guard.check(msg), "secure_address_available")
    assert found.count == 4 and found.similar_to == "4"
    assert len(found.suggestions) == 3
    text = found.message("en")
    assert "4 health professionals" in text and "Infirmier" in text
    assert all(s.address in text for s in found.suggestions)
    assert "4 professionnels de santé" in found.message("fr")


@pytest.mark.parametrize(
    ("to", "body"),
    [
        ("Dr Jérôme Dupont-Lefèvre <jdl.cabinet@gmail.com>", PLAIN),  # nothing sensitive
        ("Dupont-Lefèvre <jdl.cabinet@gmail.com>", SENSITIVE),  # the surname alone
        ("Zoé Introuvable <zi@gmail.com>", SENSITIVE),  # nobody of that name
        ("jdl.cabinet@gmail.com", SENSITIVE),  # no display name
        ("Dr Jérôme Dupont-Lefèvre <jdl@clinique-exemple.fr>", SENSITIVE),  # internal
        ("Dr Jérôme Dupont-Lefèvre <autre@medecin.mssante.fr>", SENSITIVE),  # secure domain
    ],
)
def test_no_suggestion(guard: Guard, to: str, body: str) -> None:
    assert "secure_address_available" not in kinds(guard.check(message(to=to, body=body)))


def test_no_suggestion_for_a_message_that_is_already_encrypted(guard: Guard) -> None:
    # A real S/MIME envelope (a label alone is not encryption: it is read as clear).
    from certs_factory import make_certificate, make_rsa_key
    from leakguard.protection import smime_encrypt

    to = "Dr Jérôme Dupont-Lefèvre <jdl.cabinet@gmail.com>"
    cert = make_certificate(make_rsa_key(), "jdl.cabinet@gmail.com")
    verdict = guard.check(smime_encrypt(message(to=to, body=SENSITIVE), [cert]))
    assert verdict.encrypted
    assert "secure_address_available" not in kinds(verdict)


def test_a_listed_address_is_a_secure_channel_whatever_its_domain(
    guard: Guard, plain_guard: Guard
) -> None:
    msg = message(to=f"Secrétariat <{OUTSIDE_ORG}>", body=SENSITIVE)
    assert plain_guard.check(msg).action is Action.ENCRYPT
    verdict = guard.check(msg)
    assert verdict.action is Action.ALLOW
    assert "unencrypted_sensitive" not in kinds(verdict)


# --------------------------------------------------------------------------- unknown and look-alike


def test_unknown_address_at_an_mssante_domain_warns(guard: Guard) -> None:
    for body in (PLAIN, SENSITIVE):
        verdict = guard.check(message(to="inconnu.total@medecin.mssante.fr", body=body))
        found = only(verdict, "unknown_secure_address")
        assert found.recipient == "inconnu.total@medecin.mssante.fr"
        assert "2024-05-06" in found.message("en") and "2024-05-06" in found.message("fr")
        assert verdict.action is Action.WARN
        # The domain stays a secure channel: no encryption asked for.
        assert "unencrypted_sensitive" not in kinds(verdict)


def test_listed_addresses_give_nothing(guard: Guard) -> None:
    for to in (JEROME.address, KNOWN_ORG, JEROME.address.upper()):
        verdict = guard.check(message(to=to, body=SENSITIVE))
        assert set(kinds(verdict)) <= {"nir", "health_data"}
        assert verdict.action is Action.ALLOW


def test_a_keystroke_from_a_listed_mailbox_is_a_lookalike(guard: Guard) -> None:
    typo = "jerome.dupont-lefevr@medecin.mssante.fr"
    verdict = guard.check(message(to=f"Dr Dupont-Lefèvre <{typo}>", body=SENSITIVE))
    found = only(verdict, "lookalike_recipient")
    assert (found.recipient, found.similar_to, found.distance, found.detail) == (
        typo,
        JEROME.address,
        1,
        "mssante",
    )
    assert "unknown_secure_address" not in kinds(verdict)
    assert verdict.action is Action.BLOCK  # with sensitive data, as for a colleague
    assert guard.check(message(to=typo, body=PLAIN)).action is Action.WARN
    assert "annuaire national MSSanté" in found.message("fr")
    assert "not a colleague" not in found.message("en")


def test_a_mistyped_mssante_domain_is_caught(guard: Guard) -> None:
    typo = "jerome.dupont-lefevre@medecin.msante.fr"
    verdict = guard.check(message(to=typo, body=SENSITIVE))
    assert only(verdict, "lookalike_recipient").similar_to == JEROME.address
    assert verdict.action is Action.BLOCK


def test_acknowledged_pair_is_only_unknown(health: HealthDirectory) -> None:
    typo = "jerome.dupont-lefevr@medecin.mssante.fr"
    policy = Policy.default().replace(acknowledged=((typo, JEROME.address),))
    verdict = Guard(policy, health_directory=health).check(message(to=typo, body=SENSITIVE))
    assert kinds(verdict).count("lookalike_recipient") == 0
    assert "unknown_secure_address" in kinds(verdict)


def test_internal_and_colleague_addresses_are_never_unknown(health: HealthDirectory) -> None:
    policy = Policy.default().replace(internal_domains=("chu-rouen.mssante.fr",))
    colleagues = Directory.from_addresses(["collegue.non.publie@ch-havre.mssante.fr"])
    g = Guard(policy, directory=colleagues, health_directory=health)
    for to in ("interne.inconnu@chu-rouen.mssante.fr", "collegue.non.publie@ch-havre.mssante.fr"):
        verdict = g.check(message(to=to, body=SENSITIVE))
        assert "unknown_secure_address" not in kinds(verdict), to


def test_a_colleague_lookalike_is_not_reported_twice(health: HealthDirectory) -> None:
    typo = "jerome.dupont-lefevr@medecin.mssante.fr"
    colleagues = Directory.from_addresses([JEROME.address])
    verdict = Guard(directory=colleagues, health_directory=health).check(message(to=typo))
    assert kinds(verdict).count("lookalike_recipient") == 1


# --------------------------------------------------------------------------- set-up and output


def test_guard_takes_a_path_and_the_policy_names_one(tmp_path: Path) -> None:
    path = write_extraction(tmp_path / "annuaire.zip", 300, zipped=True)
    by_path = Guard(health_directory=path)
    assert isinstance(by_path.health_directory, HealthDirectory)
    assert JEROME.address in by_path.health_directory
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text('[recipients]\nhealth_directory = "annuaire.zip"\n', encoding="utf-8")
    policy = Policy.load(policy_file)
    assert policy.health_directory_path == path
    g = Guard(policy)
    assert g.health_directory is not None and g.health_directory.cache == "loaded"
    assert "mssante=" in repr(g)
    assert Guard().health_directory is None


def test_json_and_sarif_carry_the_new_kinds_and_fields(guard: Guard) -> None:
    verdict = guard.check(message(to="Bérénice Quintard <bq@orange.fr>", body=SENSITIVE))
    doc = json_doc([Result("m.eml", verdict)], "en", with_action=True)
    entry = next(
        f for f in doc["messages"][0]["findings"] if f["kind"] == "secure_address_available"
    )
    assert entry["count"] == 4 and entry["similar_to"] == "4"
    assert entry["directory_date"] == "2024-05-06"
    assert [set(s) for s in entry["suggestions"]] == [{"address", "name", "profession"}] * 3
    json.dumps(doc)
    sarif = sarif_doc([Result("m.eml", verdict)], "fr")
    rules = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {"secure_address_available", "unknown_secure_address"} <= rules
    result = next(
        r for r in sarif["runs"][0]["results"] if r["ruleId"] == "secure_address_available"
    )
    assert len(result["properties"]["suggestions"]) == 3
    assert "professionnels de santé" in result["message"]["text"]


def test_in_memory_directory_from_text() -> None:
    text = HEADER + "\n" + _row("PER", "a.b@medecin.mssante.fr", "DR", "B", "Anne", "10", "Médecin")
    d = HealthDirectory.from_text(text + "\n", generated=datetime(2024, 1, 2))
    g = Guard(health_directory=d)
    assert g.health_directory is d
    verdict = g.check(message(to="a.c@medecin.mssante.fr"))
    assert only(verdict, "lookalike_recipient").directory_date == "2024-01-02"
