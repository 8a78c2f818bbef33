"""The other-person guess stays quiet on ordinary care: a patient's document to a doctor,
a nurse, a physiotherapist, a hospital or a regular correspondent gives no warning; a
document naming one patient sent to a private person of another name still warns."""

from __future__ import annotations

import email.utils
import mailbox
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import NIR, NIR_SPACED, message
from leakguard.core import Action
from leakguard.correspondents import Correspondents
from leakguard.guard import Guard
from leakguard.learn import learn
from leakguard.other_person import GUESS, is_health_professional
from leakguard.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
DOC = ["Compte rendu de consultation", "Patient : Paul DURAND", f"NIR {NIR}"]
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def _quiet() -> Guard:
    """Only the other-person finding can raise the action above allow."""
    return Guard(Policy.from_toml('[actions]\nunencrypted_sensitive = "allow"\n'))


def _guess(guard: Guard, to: str) -> list[str | None]:
    v = guard.check(message(to=to, pdf_lines=DOC))
    return [f.detail for f in v.findings if f.kind == "other_person_data"]


def test_the_readme_example_report_to_a_doctor_is_not_a_mail_merge_mistake() -> None:
    verdict = Guard().check(ROOT / "examples" / "02-compte-rendu-pdf.eml")
    assert "other_person_data" not in verdict.kinds()
    assert verdict.action is Action.ENCRYPT  # still sensitive, still to be encrypted


@pytest.mark.parametrize(
    ("care", "private"),
    [
        # A title in the address.
        ("Claire Martin <dr.martin@cabinet-exemple.fr>", "Claire Martin <c.martin@example.org>"),
        (
            "Claire Martin <claire.martin.dre@example.ca>",
            "Claire Martin <claire.martin@example.ca>",
        ),
        ("Claire Martin <pr_martin@univ-exemple.fr>", "Claire Martin <claire_m@univ-exemple.fr>"),
        # A care profession in the display name or the address.
        (
            "Claire Martin, infirmière <c.martin@example.org>",
            "Claire Martin <c.martin@example.org>",
        ),
        ("Claire Martin (Kinésithérapeute) <cm@example.org>", "Claire Martin <cm@example.org>"),
        ("Claire Martin - sage-femme <cm@example.org>", "Claire Martin <cm@example.org>"),
        ("Claire MARTIN Cardiologue <cm@example.org>", "Claire MARTIN <cm@example.org>"),
        ("Claire Martin <cm.pediatre@example.org>", "Claire Martin <cm.martin@example.org>"),
        ("Claire Martin <infirmiere.martin@gmail.com>", "Claire Martin <c.martin@gmail.com>"),
        # A care institution's domain.
        ("Claire Martin <claire.martin@chu-rouen.fr>", "Claire Martin <claire.martin@rouen.fr>"),
        ("Claire Martin <c.martin@clinique-du-parc.fr>", "Claire Martin <c.martin@parc.fr>"),
    ],
)
def test_a_care_professional_gets_no_guess_and_a_private_person_does(
    care: str, private: str
) -> None:
    guard = _quiet()
    assert _guess(guard, care) == []
    assert _guess(guard, private) == [GUESS]
    wrong = guard.check(message(to=private, pdf_lines=DOC))
    assert wrong.action is Action.WARN


@pytest.mark.parametrize(
    "to",
    [
        # Names and words that only look like a title or a profession.
        "Claire Drouet <claire.drouet@gmail.com>",
        "Sandrine Pradel <sandrine.pradel@orange.fr>",
        "Andre Martin <andre.martin@free.fr>",
        "Claire Martin <claire.martin@idealement.fr>",
        "Claire Theologue <claire@example.org>",
    ],
)
def test_look_alike_words_do_not_silence_the_guess(to: str) -> None:
    assert _guess(_quiet(), to) == [GUESS]


def _sent_folder(path: Path, to: str, *, sensitive: int, plain: int) -> Path:
    box = mailbox.mbox(str(path))
    for n in range(sensitive + plain):
        msg = EmailMessage()
        msg["From"] = "Secrétariat <secretariat@clinique-exemple.fr>"
        msg["To"] = to
        msg["Subject"] = "Dossier"
        msg["Date"] = email.utils.format_datetime(NOW - timedelta(days=10 * n + 1))
        msg["Message-ID"] = f"<sent-{n}@clinique-exemple.fr>"
        msg.set_content(f"Bonjour,\nNIR {NIR_SPACED}\n" if n < sensitive else "Bonjour.\n")
        box.add(msg)
    box.flush()
    box.close()
    return path


def test_a_regular_correspondent_of_patient_files_gets_no_guess(tmp_path: Path) -> None:
    to = "Claire Martin <claire.martin@example.org>"
    policy = Policy.from_toml('[actions]\nunencrypted_sensitive = "allow"\n')
    regular = tmp_path / "regular.db"
    learn([_sent_folder(tmp_path / "a.mbox", to, sensitive=3, plain=0)], regular)
    occasional = tmp_path / "occasional.db"
    learn([_sent_folder(tmp_path / "b.mbox", to, sensitive=1, plain=5)], occasional)
    book = Correspondents.open(regular, clock=lambda: NOW)
    assert _guess(Guard(policy, correspondents=book), to) == []
    # Written to often, but patient files only once: a patient, not a care partner.
    book = Correspondents.open(occasional, clock=lambda: NOW)
    assert _guess(Guard(policy, correspondents=book), to) == [GUESS]
    # The policy's frequent_messages sets how regular is regular.
    stricter = policy.replace(frequent_messages=4)
    book = Correspondents.open(regular, clock=lambda: NOW)
    assert _guess(Guard(stricter, correspondents=book), to) == [GUESS]


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60), st.text(max_size=40))
def test_is_health_professional_never_raises(name: str, address: str) -> None:
    assert is_health_professional(name, address, is_secure=lambda d: False) in (True, False)
