"""``Guard(...)`` takes what the command line takes: paths and the same options, with
the same errors; the CLI builds its guard through that constructor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run
from helpers import NIR_SPACED, message
from leakguard import Guard
from leakguard.core import Action, Fingerprinter
from leakguard.errors import DirectoryError, InputError, PolicyError, ProtectionError
from leakguard.policy import Policy
from leakguard.protection import FolderCertificates
from leakguard.recipients import Directory
from leakguard.register import PatientRegister

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
COLLEAGUES = EXAMPLES / "colleagues.csv"


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(var, raising=False)


def test_the_readme_call_gives_the_verdicts_of_the_readme_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    guard = Guard(directory=str(COLLEAGUES), internal_domains=["clinique-exemple.fr"])
    assert len(guard.directory) == 5
    assert guard.policy.internal_domains == ("clinique-exemple.fr",)
    mails = sorted(EXAMPLES.glob("*.eml"))
    options = ["--directory", str(COLLEAGUES), "--internal-domain", "clinique-exemple.fr"]
    code, out, _ = run(capsys, "check", "--format", "json", "-j1", *options, *map(str, mails))
    by_cli = {Path(m["source"]).name: m["action"] for m in json.loads(out)["messages"]}
    by_library = {p.name: guard.check(p).action.value for p in mails}
    assert by_library == by_cli
    assert code == 1 and len(by_cli) == 10


def test_internal_domains_add_to_the_policy_and_are_normalised(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[organisation]\ninternal_domains = ["clinique-exemple.fr"]\n')
    guard = Guard(policy, internal_domains=[" Labo-Exemple.FR. ", "clinique-exemple.fr", ""])
    assert guard.policy.internal_domains == ("clinique-exemple.fr", "labo-exemple.fr")
    # One domain given as a plain string is one domain, not its letters.
    assert Guard(internal_domains="labo-exemple.fr").policy.internal_domains == ("labo-exemple.fr",)
    assert Guard(policy=str(policy)).policy.source == str(policy)


def test_every_resource_can_be_a_path(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    register = tmp_path / "patients.csv"
    register.write_text("email,name,nir\npaul@example.org,Paul Durand,\n", encoding="utf-8")
    guard = Guard(directory=COLLEAGUES, register=register, certificates=certs)
    assert isinstance(guard.certificates, FolderCertificates)
    assert isinstance(guard.register, PatientRegister) and len(guard.register) == 1
    assert guard.directory.source == str(COLLEAGUES)


def test_objects_are_still_taken_as_they_are() -> None:
    fp = Fingerprinter(b"k")
    directory = Directory.from_addresses(["a@clinique-exemple.fr"])
    policy = Policy.default()
    guard = Guard(policy, directory=directory, fingerprinter=fp, certificates=lambda a: None)
    assert guard.policy is policy and guard.directory is directory
    assert guard.fingerprinter is fp and guard.certificates is not None


@pytest.mark.parametrize(
    ("options", "error", "cli"),
    [
        ({"policy": "{missing}/p.toml"}, PolicyError, ["--policy", "{missing}/p.toml"]),
        ({"directory": "{missing}/c.csv"}, DirectoryError, ["--directory", "{missing}/c.csv"]),
        ({"directory": "{tmp}"}, DirectoryError, ["--directory", "{tmp}"]),
        (
            {"correspondents": "{missing}/c.db"},
            InputError,
            ["--correspondents", "{missing}/c.db"],
        ),
    ],
)
def test_a_file_that_cannot_be_used_gives_the_error_the_cli_prints(
    options: dict[str, str],
    error: type[Exception],
    cli: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fill(text: str) -> str:
        return text.format(missing=tmp_path / "missing", tmp=tmp_path)

    with pytest.raises(error) as caught:
        Guard(**{k: fill(v) for k, v in options.items()})  # type: ignore[arg-type]
    code, _, err = run(capsys, "check", *map(fill, cli), str(EXAMPLES / "01-rendez-vous.eml"))
    assert code == 2
    assert err == f"leakguard: {caught.value}\n"
    assert fill("{tmp}") in str(caught.value)


def test_a_missing_certificate_folder_is_a_protection_error(tmp_path: Path) -> None:
    with pytest.raises(ProtectionError) as caught:
        Guard(certificates=tmp_path / "absent")
    assert caught.value.reason == "certificate_folder_missing"
    assert str(tmp_path / "absent") in str(caught.value)


def test_strict_directory_refuses_unusable_lines_and_lists_them(tmp_path: Path) -> None:
    messy = tmp_path / "messy.csv"
    messy.write_text("email\na@clinique-exemple.fr\nnot-an-address\n\na@clinique-exemple.fr\n")
    lenient = Guard(directory=messy)
    assert len(lenient.directory) == 1 and len(lenient.directory.issues) == 2
    with pytest.raises(DirectoryError) as caught:
        Guard(directory=messy, strict_directory=True)
    assert [i.line for i in caught.value.issues] == [3, 5]
    assert caught.value.source == str(messy)
    assert str(caught.value) == (
        f"{messy}: 2 unusable line(s), the first at line 3 (invalid e-mail address "
        "'not-an-address': An email address must have an @-sign); strict_directory makes "
        "this an error."
    )
    clean = tmp_path / "clean.csv"
    clean.write_text("email\na@clinique-exemple.fr\n")
    assert len(Guard(directory=clean, strict_directory=True).directory) == 1


def test_lang_is_the_language_of_explanations_and_errors(tmp_path: Path) -> None:
    mail = message(to="x@example.org", body=f"NIR {NIR_SPACED}\n")
    fp = Fingerprinter(b"k")
    english = Guard(fingerprinter=fp).check(mail)
    french = Guard(fingerprinter=fp, lang="fr").check(mail)
    assert french.action is english.action is Action.ENCRYPT
    assert english.explain().startswith("Encrypt:")
    assert french.explain().startswith("Chiffrement requis :")
    assert french.explain("en") == english.explain()
    assert french == english  # the language is how it reads, not what was decided
    with pytest.raises(PolicyError) as caught:
        Guard(tmp_path / "absent.toml", lang="fr")
    assert str(caught.value) == caught.value.message("fr")
    assert "impossible de lire le fichier de politique" in str(caught.value)
