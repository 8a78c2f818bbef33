"""``--health-directory`` on the command line and in ``leakguard serve``."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cli_helpers import run
from helpers import NIR, message
from leakguard import Guard, Policy
from leakguard.recipients import HealthDirectory
from mssante_factory import KNOWN, write_extraction
from serve_helpers import AUTH, running

JEROME = KNOWN[0]
SENSITIVE = f"Bonjour,\nNIR du patient : {NIR}\nCompte rendu de consultation.\n"


@pytest.fixture
def extraction(tmp_path: Path) -> Path:
    return write_extraction(
        tmp_path / "Extraction_Correspondance_MSSante_202405061432.zip", 400, zipped=True
    )


@pytest.fixture
def mails(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "1-gmail.eml").write_bytes(
        message(to="Dr Jérôme Dupont-Lefèvre <jdl.cabinet@gmail.com>", body=SENSITIVE).as_bytes()
    )
    (folder / "2-typo.eml").write_bytes(
        message(to="jerome.dupont-lefevr@medecin.mssante.fr", body=SENSITIVE).as_bytes()
    )
    (folder / "3-unknown.eml").write_bytes(message(to="x.y.z@medecin.mssante.fr").as_bytes())
    return folder


def test_check_text_reports_each_finding_and_the_directory_date(
    extraction: Path, mails: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "check", "--lang", "en", "--health-directory", str(extraction), str(mails)
    )
    assert code == 1
    assert "secure_address_available" in out and JEROME.address in out
    assert "lookalike_recipient" in out and "unknown_secure_address" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("MSSanté directory: ")
    assert last.endswith(" addresses, generated 2024-05-06 14:32 (from the file name).")
    # The bad rows are listed on standard error with their line numbers, never content.
    assert "line " in err and "unusable row(s) ignored" in err
    assert "@" not in err.replace(str(extraction), "")
    # The date is over 30 days old by now: the warning names the update command.
    assert "leakguard health-directory fetch -o" in err


def test_check_json_and_french(
    extraction: Path, mails: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "check",
        "--lang",
        "fr",
        "--format",
        "json",
        "--health-directory",
        str(extraction),
        str(mails / "1-gmail.eml"),
    )
    assert code == 1
    found = json.loads(out)["messages"][0]["findings"]
    suggestion = next(f for f in found if f["kind"] == "secure_address_available")
    assert suggestion["similar_to"] == JEROME.address
    assert "envoyez plutôt à" in suggestion["message"]
    assert "annuaire MSSanté : " in err  # said on standard error, stdout is the JSON


def test_fresh_directory_gives_no_staleness_warning(
    tmp_path: Path, mails: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_extraction(tmp_path / "mssante.txt", 200, with_bad=False)
    now = datetime.now() - timedelta(days=2)
    os.utime(path, (now.timestamp(), now.timestamp()))
    _, out, err = run(capsys, "check", "--health-directory", str(path), str(mails))
    assert err == "" and "(from the file's time)" in out


def test_missing_or_wrong_file_is_one_line_and_exit_2(
    tmp_path: Path, mails: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "check", "--health-directory", str(tmp_path / "no.zip"), str(mails)
    )
    assert code == 2 and out == ""
    assert err.strip() == f"leakguard: {tmp_path / 'no.zip'}: no such file."
    wrong = tmp_path / "colleagues.csv"
    wrong.write_text("email,name\na@b.fr,A\n", encoding="utf-8")
    code, _, err = run(
        capsys, "--lang", "fr", "check", "--health-directory", str(wrong), str(mails)
    )
    assert code == 2 and "ce n'est pas l'extraction MSSanté" in err
    assert len(err.strip().splitlines()) == 1


def test_policy_names_the_directory(
    tmp_path: Path, extraction: Path, mails: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[recipients]\nhealth_directory = "{extraction.name}"\n', encoding="utf-8")
    code, out, _ = run(capsys, "check", "--policy", str(policy), str(mails / "3-unknown.eml"))
    assert code == 0 and "unknown_secure_address" in out


@pytest.mark.parametrize("command", ["protect", "serve", "milter", "relay"])
def test_every_guarded_command_takes_the_option(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run(capsys, command, "--help")
    assert "--health-directory" in capsys.readouterr().out


def test_protect_with_the_directory_refuses_and_says_the_secure_address(
    tmp_path: Path, extraction: Path, mails: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    code, _, err = run(
        capsys,
        "protect",
        "--certificates",
        str(certs),
        "--health-directory",
        str(extraction),
        str(mails / "1-gmail.eml"),
        "-o",
        str(tmp_path / "sent.eml"),
    )
    assert code == 1
    assert "MSSanté directory: " in err
    assert f"send to {JEROME.address} instead" in err  # the way out, with the refusal
    assert not (tmp_path / "sent.eml").exists()


def test_serve_returns_the_suggestion_and_healthz_the_date(extraction: Path) -> None:
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    guard = Guard(policy, health_directory=HealthDirectory.load(extraction))
    request = {
        "from": {"name": "Secrétariat", "address": "secretariat@clinique-exemple.fr"},
        "to": [{"name": "Dr Jérôme Dupont-Lefèvre", "address": "jdl.cabinet@gmail.com"}],
        "subject": "Compte rendu",
        "body": {"text": SENSITIVE},
        "lang": "fr",
    }
    with running(guard) as base:
        health = httpx.get(base + "/healthz").json()
        answer = httpx.post(base + "/v1/check", json=request, headers=AUTH).json()
    assert health["status"] == "ok"
    assert health["health_directory"]["generated"] == "2024-05-06T14:32"
    assert health["health_directory"]["stale"] is True
    assert answer["action"] == "encrypt"
    assert answer["suggestions"] == [
        {
            "recipient": "jdl.cabinet@gmail.com",
            "address": JEROME.address,
            "name": "Dr Jérôme DUPONT-LEFÈVRE",
            "profession": "Médecin",
            "count": 1,
        }
    ]
    # The explanation may be cut at 500 characters before it: the field is what the
    # add-in shows first.
    assert len(answer["message"]) <= 500


def test_serve_without_the_directory_is_unchanged() -> None:
    with running(Guard()) as base:
        health = httpx.get(base + "/healthz").json()
        answer = httpx.post(
            base + "/v1/check",
            json={"to": [{"address": "a@b.fr"}], "body": {"text": "Bonjour"}},
            headers=AUTH,
        ).json()
    assert "health_directory" not in health
    assert "suggestions" not in answer  # the answer is as it was without the directory
