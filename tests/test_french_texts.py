"""French everywhere a person reads: the HTML report's cards and badges, the testing
helpers' assertion texts, every command's help placeholders and counted nouns."""

from __future__ import annotations

import mailbox
import re
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from cli_helpers import run
from helpers import NIR, NIR_SPACED, message
from leakguard.cli import COMMANDS
from leakguard.cli._common import _METAVARS_FR, plural, reset_lang, use_lang
from leakguard.testing import assert_action, assert_no_identifiers

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.eml"))


def test_report_cards_and_badges_speak_french(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "r.html"
    run(capsys, "--lang", "fr", "check", "-j1", "--report", str(report), *map(str, EXAMPLES))
    page = report.read_text(encoding="utf-8")
    cards = re.findall(r'<div class="card"[^>]*><b>\d+</b>([^<]*)</div>', page)
    assert cards == [
        "messages vérifiés",
        "illisibles",
        "AUTORISÉ",
        "À VÉRIFIER",
        "À CHIFFRER",
        "BLOQUÉ",
    ]
    badges = set(re.findall(r'<span class="tag"[^>]*>([^<]*)</span>', page))
    assert badges and badges <= {"À VÉRIFIER", "À CHIFFRER", "BLOQUÉ"}
    bars = re.findall(r'text-anchor="end">([^<]*)</text>', page)
    assert bars[:4] == ["AUTORISÉ", "À VÉRIFIER", "À CHIFFRER", "BLOQUÉ"]
    for english in (">allow<", ">encrypt<", ">ENCRYPT<", ">block<", "[body]", "[attachment:"):
        assert english not in page


def test_scan_report_names_places_in_french(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "r.html"
    run(capsys, "--lang", "fr", "scan", "-j1", "--report", str(report), str(EXAMPLES[1]))
    page = report.read_text(encoding="utf-8")
    assert "- [pièce jointe compte-rendu.pdf] Contient" in page
    assert "[attachment:" not in page


def test_assert_no_identifiers_in_french(french: None, tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(message(body=f"NIR {NIR_SPACED}\n", pdf_lines=[f"NIR {NIR}"]).as_bytes())
    with pytest.raises(AssertionError) as caught:
        assert_no_identifiers(path)
    assert str(caught.value) == (
        f"leakguard : 2 identifiants trouvés ({path})\n"
        "- [corps du message] Contient un numéro de sécurité sociale (NIR) : "
        "1 ** ** ** *** *45 29.\n"
        "- [pièce jointe bordereau.pdf] Contient un numéro de sécurité sociale (NIR) : "
        "1 ** ** ** *** *45 29."
    )
    one = tmp_path / "one.eml"
    one.write_bytes(message(body=f"NIR {NIR_SPACED}\n").as_bytes())
    with pytest.raises(AssertionError) as caught:
        assert_no_identifiers(one)
    assert str(caught.value).splitlines()[0] == f"leakguard : 1 identifiant trouvé ({one})"


def test_assert_action_names_a_wrong_action_in_french(french: None) -> None:
    with pytest.raises(ValueError) as caught:
        assert_action(message().as_bytes(), "autoriser")
    assert str(caught.value) == (
        "assert_action : action inconnue parmi ('autoriser',) ; actions possibles : "
        "allow, warn, encrypt, block"
    )


# Placeholder words that must not be left in English in a French help.
_ENGLISH_PLACEHOLDERS = re.compile(
    r"\b(" + "|".join(k for k, v in _METAVARS_FR.items() if k != v) + r")\b"
)


@pytest.mark.parametrize("command", [c.replace("_", "-") for c in COMMANDS])
def test_french_help_has_no_english_placeholder(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run(capsys, "--lang", "fr", command, "--help")
    text = capsys.readouterr().out
    usage = text.split("\n\n")[0]
    options = [line.split("  ")[1] for line in text.splitlines() if line.startswith("  -")]
    for part in [usage, *options]:
        assert not _ENGLISH_PLACEHOLDERS.search(part), part
    with pytest.raises(SystemExit):
        run(capsys, "--lang", "en", command, "--help")
    assert "FICHIER" not in capsys.readouterr().out


def test_a_usage_error_names_options_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(capsys, "--lang", "fr", "protect", "--certificates", "d")
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "leakguard protect : erreur : arguments obligatoires manquants : ENTRÉE.eml, -o/--output"
    )
    with pytest.raises(SystemExit):
        run(capsys, "--lang", "fr", "check", "--jobs", "0", "x.eml")
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "leakguard check : erreur : argument --jobs/-j : nombre entier ≥ 1 attendu : '0'"
    )


@pytest.mark.parametrize(
    ("count", "fr", "en"),
    [(0, "0 personne", "0 people"), (1, "1 personne", "1 person"), (2, "2 personnes", "2 people")],
)
def test_counted_nouns_agree(count: int, fr: str, en: str) -> None:
    for lang, want in (("fr", fr), ("en", en)):
        token = use_lang(lang)  # type: ignore[arg-type]
        try:
            assert plural(count, ("person", "people"), ("personne", "personnes")) == want
        finally:
            reset_lang(token)


def test_affected_counts_one_person_in_the_singular(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    box_path = tmp_path / "Sent.mbox"
    box = mailbox.mbox(str(box_path))
    mail = message(to="ex.client@example.org", body=f"NIR {NIR_SPACED}\n")
    box.add(message_from_bytes(mail.as_bytes(), policy=compat32))
    box.flush()
    box.close()
    args = ["affected", "-j1", "--recipient", "ex.client@example.org", str(box_path)]
    _, _, err = run(capsys, "--lang", "fr", *args)
    assert err.startswith("leakguard : 1 personne (numéros personnels distincts) dans ")
    _, _, err = run(capsys, "--lang", "en", *args)
    assert err.startswith("leakguard: 1 person (distinct personal numbers) in ")
