"""``leakguard protect`` refusals name the option to change and the real cause."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certs_factory import make_certificate, make_rsa_key, write_certificate
from helpers import NIR, leaked, message
from leakguard.cli import main

DOCTOR = "dr.martin@cabinet-exemple.fr"
NO_PASSWORD = (
    "leakguard: no certificate for every recipient and no --password-file: give "
    "--password-file FILE to allow an AES-256 ZIP of the attachments"
)


pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    d = tmp_path / "certs"
    d.mkdir()
    return d


@pytest.fixture
def report(tmp_path: Path) -> Path:
    f = tmp_path / "in.eml"
    f.write_bytes(message(to=f"Dr Martin <{DOCTOR}>", pdf_lines=[f"NIR {NIR}"]).as_bytes())
    return f


def protect(
    capsys: pytest.CaptureFixture[str], certs: Path, src: Path, *extra: str
) -> tuple[int, list[str], Path]:
    out_file = src.with_name("out.eml")
    code = main(["protect", "--certificates", str(certs), *extra, str(src), "-o", str(out_file)])
    out, err = capsys.readouterr()
    assert not leaked(out + err, [NIR])
    assert "on_password" not in err and " / " not in err
    return code, err.splitlines(), out_file


def test_missing_certificate_names_both_options(
    capsys: pytest.CaptureFixture[str], certs: Path, report: Path
) -> None:
    code, err, out_file = protect(capsys, certs, report)
    assert code == 1 and not out_file.exists()
    assert err[:3] == [
        f"leakguard: {report}: ENCRYPT",
        f"leakguard: --certificates: no certificate for {DOCTOR} in {certs} "
        f"(expected {DOCTOR}.pem or {DOCTOR}.der)",
        NO_PASSWORD,
    ]
    assert err[3].startswith("leakguard: Encrypt: this message may leave only encrypted")


def test_expired_certificate_is_not_called_missing(
    capsys: pytest.CaptureFixture[str], certs: Path, report: Path
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    cert = make_certificate(
        make_rsa_key(), DOCTOR, not_before=past - dt.timedelta(days=365), not_after=past
    )
    write_certificate(cert, certs / f"{DOCTOR}.pem")
    code, err, _ = protect(capsys, certs, report)
    assert code == 1
    assert err[1:3] == [
        f"leakguard: --certificates: the certificate of {DOCTOR} has expired "
        f"({certs / (DOCTOR + '.pem')}); ask for a new one",
        NO_PASSWORD,
    ]
    code, err, _ = protect(capsys, certs, report, "--lang", "fr")
    assert err[:3] == [
        f"leakguard : {report} : À CHIFFRER",
        f"leakguard : --certificates : le certificat de {DOCTOR} a expiré "
        f"({certs / (DOCTOR + '.pem')}) ; demandez-en un nouveau",
        "leakguard : pas de certificat pour chaque destinataire et pas de --password-file : "
        "ajoutez --password-file FICHIER pour autoriser un ZIP AES-256 des pièces jointes",
    ]


def test_certificate_not_for_encryption(
    capsys: pytest.CaptureFixture[str], certs: Path, report: Path
) -> None:
    write_certificate(make_certificate(make_rsa_key(), DOCTOR, key_usage="sign"), certs / "dr.pem")
    code, err, _ = protect(capsys, certs, report)
    assert code == 1
    assert err[1] == (
        f"leakguard: --certificates: the certificate of {DOCTOR} may not be used for "
        "encryption (its key usage lacks keyEncipherment, or its key is not RSA) "
        f"({certs / 'dr.pem'})"
    )


def test_unreadable_certificate_file_is_named(
    capsys: pytest.CaptureFixture[str], certs: Path, report: Path
) -> None:
    bad = certs / f"{DOCTOR}.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n", encoding="utf-8")
    code, err, _ = protect(capsys, certs, report)
    assert code == 1
    assert err[1] == f"leakguard: --certificates: {bad} cannot be read as a PEM or DER certificate"


def test_password_file_lets_an_expired_certificate_fall_back_to_a_zip(
    capsys: pytest.CaptureFixture[str], certs: Path, report: Path, tmp_path: Path
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = make_certificate(
        make_rsa_key(), DOCTOR, not_before=past - dt.timedelta(days=365), not_after=past
    )
    write_certificate(cert, certs / f"{DOCTOR}.pem")
    code, err, out_file = protect(
        capsys, certs, report, "--password-file", str(tmp_path / "pw.txt")
    )
    assert (code, err) == (0, [])
    assert b"documents-chiffres.zip" in out_file.read_bytes()


def test_sensitive_text_in_the_body_explains_why_a_zip_cannot_help(
    capsys: pytest.CaptureFixture[str], certs: Path, tmp_path: Path
) -> None:
    src = tmp_path / "body.eml"
    src.write_bytes(message(to=DOCTOR, body=f"Patient NIR {NIR}\n").as_bytes())
    code, err, _ = protect(capsys, certs, src, "--password-file", str(tmp_path / "pw.txt"))
    assert code == 1
    assert err[2] == (
        "leakguard: sensitive data is in the message text or its subject, which an "
        "encrypted ZIP (--password-file) cannot protect: move it into an attachment, add "
        "the missing certificates to --certificates, or use secure health messaging"
    )
    assert not (tmp_path / "pw.txt").exists()


def test_certificate_not_valid_yet(
    capsys: pytest.CaptureFixture[str], certs: Path, report: Path
) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    cert = make_certificate(
        make_rsa_key(), DOCTOR, not_before=soon, not_after=soon + dt.timedelta(days=365)
    )
    (certs / "martin.der").write_bytes(cert.public_bytes(Encoding.DER))
    code, err, _ = protect(capsys, certs, report)
    assert code == 1
    assert err[1] == (
        f"leakguard: --certificates: the certificate of {DOCTOR} is not valid yet "
        f"({certs / 'martin.der'})"
    )


def test_a_refusal_the_library_explains_is_not_sent_to_password_file(
    certs: Path, tmp_path: Path
) -> None:
    # An identifier in an address cannot be hidden by any encryption: advising
    # --password-file would send the user down a path that refuses too.
    import argparse

    from leakguard.cli.protect import _why_not_protected
    from leakguard.errors import LeakBlocked
    from leakguard.guard import Guard

    data = message(to=f"Dr Martin <{DOCTOR}>", pdf_lines=[f"NIR {NIR}"]).as_bytes()
    guard = Guard()
    refusal = LeakBlocked(
        guard.check(data),
        "The To header carries an identifier that no encryption can hide.",
        fr="L'en-tête To porte un identifiant qu'aucun chiffrement ne peut cacher.",
        cause="identifier_in_routing_header",
    )
    args = argparse.Namespace(certificates=str(certs), password_file=None)
    lines = _why_not_protected(refusal, guard, data, args)
    assert NO_PASSWORD.removeprefix("leakguard: ") not in lines
    assert "The To header carries an identifier that no encryption can hide." in lines
