"""The command line in one language at a time: --lang, the locale, help and errors."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from cli_helpers import run
from helpers import NIR, leaked, message
from leakguard.cli import COMMANDS, _parser, main
from leakguard.cli._common import reset_lang, use_lang

# Command names as typed: a module ``addin_manifest`` is the command ``addin-manifest``.
NAMES = [module.replace("_", "-") for module in COMMANDS]

# Words that only English output contains (argparse's own texts included).
ENGLISH = (
    "usage:",
    "show this help",
    "exit status",
    "default:",
    "positional arguments",
    "options:",
    "error:",
    "required",
    "Summary",
    "Encrypt:",
    "ENCRYPT",
    "Contains",
)


@pytest.fixture
def nir_mail(tmp_path: Path) -> Path:
    mail = tmp_path / "m.eml"
    mail.write_bytes(message(pdf_lines=[f"NIR {NIR}"]).as_bytes())
    return mail


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


@pytest.mark.parametrize("command", [None, *NAMES])
def test_help_is_french_with_a_french_locale(
    capsys: pytest.CaptureFixture[str], french: None, command: str | None
) -> None:
    text = help_text(capsys, *([command] if command else []))
    assert text.startswith("utilisation : leakguard")
    assert "afficher cette aide et quitter" in text
    assert "\ncode de sortie :\n  0  " in text
    assert "\n  2  erreur d'utilisation ou entrée illisible" in text
    assert [w for w in ENGLISH if w in text] == []


@pytest.mark.parametrize("command", [None, *NAMES])
def test_help_in_english_names_exit_codes_and_defaults(
    capsys: pytest.CaptureFixture[str], french: None, command: str | None
) -> None:
    # --lang en wins over the French locale, before or after the command name.
    argv = ["--lang", "en", *([command] if command else [])]
    text = help_text(capsys, *argv)
    assert text.startswith("usage: leakguard")
    assert "\nexit status:\n  0  " in text and "\n  1  " in text and "\n  2  usage error" in text
    assert "utilisation" not in text and "par défaut" not in text
    if command:
        assert help_text(capsys, command, "--lang=en") == text


def _commands(lang: str) -> dict[str, argparse.ArgumentParser]:
    token = use_lang("fr" if lang == "fr" else "en")
    try:
        parser = _parser()
    finally:
        reset_lang(token)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"leakguard": parser, **sub.choices}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        (a.option_strings[-1] if a.option_strings else a.dest): a
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction)
    }


def test_every_option_of_every_command_has_help_in_both_languages() -> None:
    en, fr = _commands("en"), _commands("fr")
    assert set(en) == {"leakguard", *NAMES}
    for name, parser in en.items():
        fr_options = _options(fr[name])
        for key, action in _options(parser).items():
            where = f"{name} {key}"
            assert action.help and action.help != argparse.SUPPRESS, where
            assert fr_options[key].help != action.help, f"{where}: no French help"
            has_default = action.default not in (None, False, [], argparse.SUPPRESS)
            if has_default and key not in ("--help", "--version"):
                assert f"default: {action.default}" in action.help, where
                assert f"par défaut : {action.default}" in str(fr_options[key].help), where


def test_policy_error_in_french_only_with_the_value_kept(
    capsys: pytest.CaptureFixture[str], french: None, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[actions]\nnir = "maybe"\n', encoding="utf-8")
    mail = tmp_path / "m.eml"
    mail.write_bytes(message().as_bytes())
    code, out, err = run(capsys, "check", "--policy", str(bad), str(mail))
    assert (code, out) == (2, "")
    assert err == (
        f"leakguard : {bad} : le réglage 'actions.nir' n'est pas valide (valeur reçue : "
        "'maybe') ; valeurs permises : allow, warn, encrypt ou block.\n"
    )
    code, _, err = run(capsys, "--lang", "en", "check", "--policy", str(bad), str(mail))
    assert err == (
        f"leakguard: {bad}: setting 'actions.nir' is not valid (got 'maybe'); "
        "allowed: allow, warn, encrypt or block.\n"
    )
    broken = tmp_path / "broken.toml"
    broken.write_text("[actions\n", encoding="utf-8")
    code, _, err = run(capsys, "check", "--policy", str(broken), str(mail))
    assert code == 2
    assert err == (
        f"leakguard : {broken} : ce n'est pas du TOML valide (erreur de syntaxe à la ligne 1, "
        "colonne 9).\n"
    )


def test_directory_and_certificate_errors_in_french(
    capsys: pytest.CaptureFixture[str], french: None, tmp_path: Path
) -> None:
    mail = tmp_path / "m.eml"
    mail.write_bytes(message().as_bytes())
    absent = tmp_path / "absent.csv"
    code, _, err = run(capsys, "check", "--directory", str(absent), str(mail))
    assert code == 2
    assert err == (
        f"leakguard : Impossible de lire l'annuaire des collègues {absent} : fichier introuvable.\n"
    )
    no_column = tmp_path / "nocol.csv"
    no_column.write_text("nom,service\nDurand,accueil\n", encoding="utf-8")
    code, _, err = run(capsys, "check", "--directory", str(no_column), str(mail))
    assert err == (
        f"leakguard : {no_column}, ligne 1 : aucune colonne d'adresse ; nommez une colonne "
        "email (ou E-mail Address, Adresse de messagerie, courriel).\n"
    )
    code, _, err = run(
        capsys, "protect", "--certificates", str(tmp_path / "nope"), str(mail), "-o", "x.eml"
    )
    assert code == 2
    assert err == f"leakguard : --certificates {tmp_path / 'nope'} : ce dossier n'existe pas.\n"


def test_usage_errors_in_french(capsys: pytest.CaptureFixture[str], french: None) -> None:
    with pytest.raises(SystemExit) as done:
        main(["check", "--format", "xml", "x.eml"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("utilisation : leakguard check")
    assert "leakguard check : erreur : argument --format : choix invalide : 'xml' (" in err
    with pytest.raises(SystemExit):
        main(["scan"])
    err = capsys.readouterr().err
    assert err.endswith("leakguard scan : erreur : arguments obligatoires manquants : CHEMIN\n")
    with pytest.raises(SystemExit):
        main(["--lang", "en", "scan"])
    assert capsys.readouterr().err.endswith(
        "leakguard scan: error: the following arguments are required: PATH\n"
    )


def test_check_output_follows_lang_over_the_locale(
    capsys: pytest.CaptureFixture[str], french: None, nir_mail: Path
) -> None:
    mail = nir_mail
    code, out, err = run(capsys, "check", str(mail))
    assert code == 1 and err == ""
    assert out.startswith(f"{mail} : À CHIFFRER\n  Chiffrement requis : ")
    assert "Bilan : 1 message vérifié (1 À CHIFFRER). Code de sortie 1 : 1 message atteint" in out
    assert "  - [haute] nir @ pièce jointe bordereau.pdf : Contient un numéro de sécurité" in out
    assert [w for w in ENGLISH if w in out] == []
    code, out_en, _ = run(capsys, "check", "--lang", "en", str(mail))
    assert "  - [high] nir @ attachment:bordereau.pdf: Contains a French social security" in out_en
    assert code == 1
    assert out_en.startswith(f"{mail}: ENCRYPT\n  Encrypt: ")
    assert "Summary: 1 message checked (1 ENCRYPT). Exit status 1: 1 message reaches" in out_en
    assert "Chiffrement" not in out_en and "Contient" not in out_en
    assert not leaked(out + out_en, [NIR])


def test_english_locale_and_lang_fr(
    capsys: pytest.CaptureFixture[str], english: None, nir_mail: Path
) -> None:
    mail = nir_mail
    _, out, _ = run(capsys, "check", str(mail))
    assert "ENCRYPT" in out
    _, out, _ = run(capsys, "--lang", "fr", "check", str(mail))
    assert "À CHIFFRER" in out and "ENCRYPT" not in out
    # The choice lasts for one command only.
    _, out, _ = run(capsys, "check", str(mail))
    assert "ENCRYPT" in out


def test_readme_synopses_name_every_option_of_every_command() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1]
    synopsis = section.split("```", 2)[1]
    blocks: dict[str, str] = {}
    for chunk in synopsis.split("leakguard [--lang fr|en] ")[1:]:
        name, _, rest = chunk.partition(" ")
        blocks[name] = rest
    assert set(blocks) == set(NAMES)
    for name, parser in _commands("en").items():
        if name == "leakguard":
            continue
        for key, action in _options(parser).items():
            if key in ("--help", "--lang"):
                continue
            shown = action.option_strings or [str(action.metavar)]
            if action.choices and action.option_strings:
                shown = [f"{key} {'|'.join(map(str, action.choices))}"]
            found = [re.search(re.escape(s) + r"(?![\w-])", blocks[name]) for s in shown]
            assert any(found), f"README synopsis of {name} lacks {shown}"
