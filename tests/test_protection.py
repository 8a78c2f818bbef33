"""Tests of leakguard.protection: detecting encryption and applying S/MIME and AES ZIP."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import io
import os
import re
import shutil
import struct
import subprocess
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
import pyzipper
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import given, settings
from hypothesis import strategies as st

from certs_factory import (
    make_certificate,
    make_ec_key,
    make_rsa_key,
    write_certificate,
    write_private_key,
)
from docs_factory import (
    PGP_PUBLIC_KEY_ARMOUR,
    PGP_PUBLIC_KEY_BINARY,
    excel_globals,
    make_compound_file,
    word_fib,
)
from leakguard.core import Fingerprinter
from leakguard.errors import ProtectionError
from leakguard.guard import scan
from leakguard.message import load_message
from leakguard.protection import (
    CallableCertificates,
    CertificateProblem,
    CertificateStore,
    FolderCertificates,
    ProtectionState,
    container_encrypted,
    message_encrypted,
    new_password,
    protection_state,
    smime_encrypt,
    zip_attachments,
)

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")

AES256_CBC_OID = bytes.fromhex("060960864801650304012a")  # 2.16.840.1.101.3.4.1.42
AES128_CBC_OID = bytes.fromhex("0609608648016503040102")  # 2.16.840.1.101.3.4.1.2

# A PDF-like attachment: binary bytes, NULs, bare CR and LF, high bytes — anything a
# line-ending conversion would damage.
PDF_BYTES = (
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\r\n<< /Type /Catalog >>\rendobj\n"
    + bytes(range(256)) * 4
    + b"\r\n\r\n%%EOF\n"
)
BODY_TEXT = "Bonjour,\nvoici le compte rendu de l'examen.\nCordialement,\nDr Élise Martin\n"


# --------------------------------------------------------------------------- fixtures


class Party:
    """A recipient: key, certificate and their files on disk."""

    def __init__(self, address: str, folder: Path) -> None:
        self.address = address
        self.key = make_rsa_key()
        self.cert = make_certificate(self.key, address)
        self.key_path = write_private_key(self.key, folder / f"{address}.key")
        self.cert_path = write_certificate(self.cert, folder / f"{address}.pem")


@pytest.fixture(scope="session")
def parties(tmp_path_factory: pytest.TempPathFactory) -> tuple[Party, Party]:
    folder = tmp_path_factory.mktemp("parties")
    return Party("bob@example.org", folder), Party("carol@example.net", folder)


@pytest.fixture(scope="session")
def bob(parties: tuple[Party, Party]) -> Party:
    return parties[0]


@pytest.fixture(scope="session")
def carol(parties: tuple[Party, Party]) -> Party:
    return parties[1]


def clinic_message(*, attachments: int = 1, html: bool = False) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Secrétariat <secretariat@clinique.fr>"
    msg["To"] = "Bob <bob@example.org>"
    msg["Cc"] = "carol@example.net"
    msg["Subject"] = "Compte rendu d'examen"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    msg["Message-ID"] = "<cr-42@clinique.fr>"
    msg.set_content(BODY_TEXT)
    if html:
        msg.add_alternative("<html><body><p>Bonjour,</p></body></html>", subtype="html")
    for i in range(attachments):
        name = "compte-rendu.pdf" if i == 0 else f"annexe-{i}.pdf"
        msg.add_attachment(
            PDF_BYTES + bytes([i]), maintype="application", subtype="pdf", filename=name
        )
    return msg


def assert_same_content(decrypted: bytes, original: EmailMessage) -> None:
    inner = email.message_from_bytes(decrypted, policy=email.policy.default)
    assert isinstance(inner, EmailMessage)
    # RFC 9788: the real headers travel inside, the payload says so, and the text
    # starts with the real Subject for readers that do not know header protection.
    assert inner["Subject"] == original["Subject"]
    assert inner.get_param("hp") == "cipher"
    body = inner.get_body(preferencelist=("plain",))
    assert body is not None, "no text body in the decrypted entity"
    assert body.get_param("hp-legacy-display") == "1"
    legacy = f"Subject: {original['Subject']}\n\n"
    assert body.get_content().replace("\r\n", "\n") == legacy + BODY_TEXT
    got = [(a.get_filename(), a.get_content()) for a in inner.iter_attachments()]
    want = [(a.get_filename(), a.get_content()) for a in original.iter_attachments()]
    assert [n for n, _ in got] == [n for n, _ in want]
    assert all(g == w for (_, g), (_, w) in zip(got, want, strict=True)), "attachment changed"


def openssl_decrypt(eml: bytes, party: Party, tmp_path: Path) -> bytes:
    assert OPENSSL is not None
    src = tmp_path / "out.eml"
    src.write_bytes(eml)
    done = subprocess.run(
        [
            OPENSSL,
            "smime",
            "-decrypt",
            "-in",
            str(src),
            "-inkey",
            str(party.key_path),
            "-recip",
            str(party.cert_path),
        ],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def der_of(msg: EmailMessage) -> bytes:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


# --------------------------------------------------------------------------- S/MIME


@needs_openssl
def test_smime_decrypts_with_openssl(bob: Party, tmp_path: Path) -> None:
    original = clinic_message()
    out = smime_encrypt(original, [bob.cert])
    assert_same_content(openssl_decrypt(out.as_bytes(), bob, tmp_path), original)


def test_smime_decrypts_with_cryptography(bob: Party) -> None:
    original = clinic_message(attachments=2, html=True)
    out = smime_encrypt(original, [bob.cert])
    decrypted = pkcs7.pkcs7_decrypt_smime(out.as_bytes(), bob.cert, bob.key, [])
    assert_same_content(decrypted, original)


def test_smime_payload_is_the_original_entity_with_its_headers(bob: Party) -> None:
    """The decrypted entity is the original MIME tree (CRLF form) under every header of
    the message, with one HP-Outer line per header left outside (RFC 9788)."""
    original = clinic_message()
    original["X-Mailer"] = "Logiciel de cabinet 4.2"
    out = smime_encrypt(original, [bob.cert])
    decrypted = pkcs7.pkcs7_decrypt_smime(out.as_bytes(), bob.cert, bob.key, [])
    inner = email.message_from_bytes(decrypted, policy=email.policy.default)
    assert inner.get_content_type() == "multipart/mixed"
    assert inner.get_param("hp") == "cipher"
    assert inner.get_param("protected-headers") == "v1"
    for name in ("From", "To", "Cc", "Subject", "Date", "Message-ID", "X-Mailer"):
        assert inner[name] == original[name], name
    outside = [(k, v) for k, v in out.items() if not k.lower().startswith("content-")]
    recorded = inner.get_all("HP-Outer") or []
    assert recorded == [f"{k}: {v}" for k, v in outside if k != "MIME-Version"]
    assert "Subject: Message chiffré / Encrypted message" in recorded
    # The name stays readable before the first colon; only the value is encoded.
    assert re.search(rb"^HP-Outer: Subject: ", decrypted, re.M)
    again = email.message_from_bytes(original.as_bytes(), policy=email.policy.default)
    shape = [p.get_content_type() for p in inner.walk()]
    assert shape == [p.get_content_type() for p in again.walk()]
    assert b"\r\n" in decrypted
    assert re.search(rb"(?<!\r)\n", decrypted) is None, "bare LF inside the envelope"


def test_smime_uses_aes256_cbc(bob: Party) -> None:
    der = der_of(smime_encrypt(clinic_message(), [bob.cert]))
    assert AES256_CBC_OID in der
    assert AES128_CBC_OID not in der


@needs_openssl
def test_smime_cipher_as_openssl_reads_it(bob: Party, tmp_path: Path) -> None:
    assert OPENSSL is not None
    der_path = tmp_path / "env.der"
    der_path.write_bytes(der_of(smime_encrypt(clinic_message(), [bob.cert])))
    done = subprocess.run(
        [OPENSSL, "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(der_path)],
        capture_output=True,
        check=True,
        timeout=30,
    )
    printed = done.stdout.decode()
    assert "contentType: pkcs7-envelopedData (1.2.840.113549.1.7.3)" in printed
    assert re.search(
        r"contentEncryptionAlgorithm:\s+algorithm: aes-256-cbc \(2\.16\.840\.1\.101\.3\.4\.1\.42\)",
        printed,
    ), "content is not encrypted with AES-256-CBC"
    assert "aes-128" not in printed


@needs_openssl
def test_two_recipients_both_decrypt(bob: Party, carol: Party, tmp_path: Path) -> None:
    original = clinic_message()
    out = smime_encrypt(original, [bob.cert, carol.cert]).as_bytes()
    for party in (bob, carol):
        assert_same_content(pkcs7.pkcs7_decrypt_smime(out, party.cert, party.key, []), original)
        assert_same_content(openssl_decrypt(out, party, tmp_path), original)


def test_outsider_cannot_decrypt(bob: Party, carol: Party) -> None:
    out = smime_encrypt(clinic_message(), [bob.cert]).as_bytes()
    with pytest.raises(ValueError):
        pkcs7.pkcs7_decrypt_smime(out, carol.cert, carol.key, [])


def test_smime_outer_headers_and_type(bob: Party) -> None:
    original = clinic_message()
    original["Bcc"] = "archives@clinique.fr"
    original["Thread-Topic"] = "Compte rendu d'examen"
    original["Keywords"] = "examen"
    out = smime_encrypt(original, [bob.cert])
    for name in ("From", "To", "Cc", "Date", "Message-ID", "Bcc"):
        assert out[name] == original[name], name
    # What the message is about is only inside; outside, a neutral text.
    assert out["Subject"] == "Message chiffré / Encrypted message"
    assert out["Thread-Topic"] is None and out["Keywords"] is None
    assert b"Compte rendu" not in out.as_bytes()
    custom = smime_encrypt(original, [bob.cert], outer_subject="[...]")
    assert custom["Subject"] == "[...]"
    assert out.get_content_type() == "application/pkcs7-mime"
    assert out.get_param("smime-type") == "enveloped-data"
    assert out.get_param("name") == "smime.p7m"
    assert out.get_filename() == "smime.p7m"
    assert out["Content-Transfer-Encoding"] == "base64"
    assert out["MIME-Version"] == "1.0"
    assert len(out.get_all("Content-Type") or []) == 1
    # Neither the body nor the attachment is readable outside the envelope.
    raw = out.as_bytes()
    assert b"compte rendu de l'examen" not in raw
    assert b"compte-rendu.pdf" not in raw
    assert base64.b64encode(PDF_BYTES[:30]) not in raw
    assert original.get_content_type() == "multipart/mixed", "the input was modified"


def test_smime_single_part_message(bob: Party) -> None:
    msg = EmailMessage()
    msg["To"] = "bob@example.org"
    msg["Subject"] = "Simple"
    msg.set_content("Une ligne accentuée : é.\n")
    out = smime_encrypt(msg, [bob.cert])
    inner = email.message_from_bytes(
        pkcs7.pkcs7_decrypt_smime(out.as_bytes(), bob.cert, bob.key, []),
        policy=email.policy.default,
    )
    assert isinstance(inner, EmailMessage)
    assert inner.get_content() == "Subject: Simple\r\n\r\nUne ligne accentuée : é.\r\n"
    assert inner["Subject"] == "Simple"
    assert inner.get_param("hp") == "cipher"
    assert inner.get_param("hp-legacy-display") == "1"
    assert out["Subject"] == "Message chiffré / Encrypted message"


def test_smime_refuses_no_certificate_and_non_rsa() -> None:
    with pytest.raises(ProtectionError):
        smime_encrypt(clinic_message(), [])
    ec_key = make_ec_key()
    with pytest.raises(ProtectionError, match="RSA"):
        smime_encrypt(clinic_message(), [make_certificate(ec_key, "dave@example.org")])


# --------------------------------------------------------------------------- ZIP


def zip_of(msg: EmailMessage, name: str = "documents-chiffres.zip") -> bytes:
    found = [a for a in msg.iter_attachments() if a.get_filename() == name]
    assert len(found) == 1
    data = found[0].get_content()
    assert isinstance(data, bytes)
    return data


def aes_extra(info: zipfile.ZipInfo) -> tuple[int, bytes, int, int] | None:
    """(vendor version, vendor id, strength, real method) from the 0x9901 extra field."""
    extra = info.extra
    pos = 0
    while pos + 4 <= len(extra):
        header, size = struct.unpack_from("<HH", extra, pos)
        if header == 0x9901:
            version, vendor, strength, method = struct.unpack_from("<H2sBH", extra, pos + 4)
            return version, vendor, strength, method
        pos += 4 + size
    return None


def test_zip_opens_with_password_only() -> None:
    password = new_password()
    original = clinic_message(attachments=2)
    out = zip_attachments(original, password=password)
    data = zip_of(out)
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(password.encode())
        assert sorted(archive.namelist()) == ["annexe-1.pdf", "compte-rendu.pdf"]
        assert archive.read("compte-rendu.pdf") == PDF_BYTES + b"\x00"
        assert archive.read("annexe-1.pdf") == PDF_BYTES + b"\x01"
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive, pytest.raises(RuntimeError):
        archive.read("compte-rendu.pdf")
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(b"not-the-password")
        with pytest.raises(RuntimeError):
            archive.read("compte-rendu.pdf")
    with zipfile.ZipFile(io.BytesIO(data)) as plain, pytest.raises(RuntimeError):
        plain.read("compte-rendu.pdf")


def test_zip_members_are_winzip_aes_256() -> None:
    out = zip_attachments(clinic_message(attachments=2), password=new_password())
    with zipfile.ZipFile(io.BytesIO(zip_of(out))) as archive:
        infos = archive.infolist()
    assert len(infos) == 2
    for info in infos:
        assert info.compress_type == 99
        assert info.flag_bits & 0x1
        extra = aes_extra(info)
        assert extra is not None, "no AES extra field"
        _, vendor, strength, method = extra
        assert vendor == b"AE"
        assert strength == 3, "not AES-256"
        assert method == zipfile.ZIP_DEFLATED


def _read_as_text(msg: EmailMessage) -> str:
    """What ``msg`` holds that a person or a program reads as text, decoded: every header
    value, every text part, the archive's member names and comment."""
    pieces: list[str] = []
    for part in msg.walk():
        pieces += [str(value) for value in part.values()]
        if part.get_content_maintype() == "text":
            pieces.append(part.get_content())
    with zipfile.ZipFile(io.BytesIO(zip_of(msg))) as archive:
        pieces += archive.namelist()
        pieces.append(archive.comment.decode("latin-1"))
    return "\n".join(pieces)


def _base64_inner(secret: bytes) -> list[bytes]:
    """The base64 characters that ``secret`` alone decides, at each of the three places
    it may start within a group of three bytes."""
    forms = []
    for lead in range(3):
        encoded = base64.b64encode(b"\0" * lead + secret)
        forms.append(encoded[-(-8 * lead // 6) : 8 * (lead + len(secret)) // 6])
    return forms


def test_password_appears_nowhere() -> None:
    password = new_password()
    other = new_password()  # the same message made with another password
    while set(other.split("-")) & set(password.split("-")):
        other = new_password()
    out = zip_attachments(clinic_message(attachments=2, html=True), password=password)
    raw = out.as_bytes()
    decoded = [p.get_payload(decode=True) or b"" for p in out.walk() if not p.is_multipart()]
    blobs = [raw, zip_of(out), repr(out).encode(), str(out).encode(), *decoded]
    groups = password.split("-")
    # The whole password, whatever separates its groups (or nothing), and in base64.
    whole = re.compile(rb"[^A-Za-z0-9]{0,3}".join(re.escape(g.encode()) for g in groups))
    encoded = [f for form in (password, "".join(groups)) for f in _base64_inner(form.encode())]
    for blob in blobs:
        assert not whole.search(blob), "password found in output"
        assert not any(form in blob for form in encoded), "password found in base64"
    # Each group in what is read as text: a group of four symbols may occur by chance
    # (in "contenu", say), so it counts as leaked when it occurs more often than in the
    # same message made with another password.
    text = _read_as_text(out)
    baseline = _read_as_text(
        zip_attachments(clinic_message(attachments=2, html=True), password=other)
    )
    for group in groups:
        assert text.count(group) <= baseline.count(group), "password fragment found in output"


def test_zip_keeps_body_and_adds_note_in_both_languages() -> None:
    out = zip_attachments(clinic_message(html=True), password=new_password())
    plain = out.get_body(preferencelist=("plain",))
    rich = out.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    text = plain.get_content()
    assert text.startswith(BODY_TEXT)
    assert "archive chiffrée" in text and "mot de passe" in text
    assert "encrypted archive" in text and "password" in text
    assert "documents-chiffres.zip" in text
    assert "archive chiffrée" in rich.get_content()
    assert rich.get_content().rstrip().endswith("</body></html>")
    names = [a.get_filename() for a in out.iter_attachments()]
    assert names == ["documents-chiffres.zip"]
    for name in ("From", "To", "Cc", "Subject", "Date", "Message-ID"):
        assert out[name] == clinic_message()[name]


def test_zip_selected_names_only() -> None:
    out = zip_attachments(
        clinic_message(attachments=3), password=new_password(), names={"annexe-2.pdf"}
    )
    names = sorted(a.get_filename() or "" for a in out.iter_attachments())
    assert names == ["annexe-1.pdf", "compte-rendu.pdf", "documents-chiffres.zip"]
    with zipfile.ZipFile(io.BytesIO(zip_of(out))) as archive:
        assert archive.namelist() == ["annexe-2.pdf"]


def test_zip_errors_never_show_the_password() -> None:
    with pytest.raises(ProtectionError) as missing:
        zip_attachments(clinic_message(attachments=0), password="Sup3rSecretPw")
    assert "Sup3rSecretPw" not in str(missing.value)
    assert missing.value.reason == "no_attachment"
    assert str(missing.value) == "There is no attachment to put in an encrypted archive."
    with pytest.raises(ProtectionError) as absent:
        zip_attachments(clinic_message(), password="Sup3rSecretPw", names={"absent.pdf"})
    assert absent.value.reason == "attachment_not_found"
    assert absent.value.message("fr") == "1 pièce(s) jointe(s) demandée(s) absente(s) du message."
    with pytest.raises(ValueError) as short:
        zip_attachments(clinic_message(), password="short")
    assert "short" not in str(short.value).replace("too short", "").replace("trop court", "")


def test_zip_member_names_cannot_escape() -> None:
    msg = clinic_message(attachments=0)
    for _ in range(2):
        msg.add_attachment(b"x", maintype="application", subtype="pdf", filename="../../etc/a.pdf")
    out = zip_attachments(msg, password=new_password())
    with zipfile.ZipFile(io.BytesIO(zip_of(out))) as archive:
        assert archive.namelist() == ["a.pdf", "a (2).pdf"]


def test_zip_member_names_carrying_a_number_are_replaced() -> None:
    """A ZIP encrypts its members, not their names: a name holding a NIR is replaced,
    and the archive made reads clean (the names are read even when encrypted)."""
    msg = clinic_message(attachments=0)
    nir_name = "compte rendu 1 85 05 75 112 345 29.pdf"
    msg.add_attachment(b"x", maintype="application", subtype="pdf", filename=nir_name)
    msg.add_attachment(b"y", maintype="application", subtype="pdf", filename="ordonnance.pdf")
    assert "nir" in [f.kind for f in scan(msg.as_bytes(), fingerprinter=Fingerprinter())]
    out = zip_attachments(msg, password=new_password())
    with zipfile.ZipFile(io.BytesIO(zip_of(out))) as archive:
        assert archive.namelist() == ["document-1.pdf", "ordonnance.pdf"]
    kinds = [f.kind for f in scan(out.as_bytes(), fingerprinter=Fingerprinter())]
    assert "nir" not in kinds


def test_an_encrypted_zips_member_names_are_read() -> None:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(b"a-long-password")
        archive.writestr("patient 1 85 05 75 112 345 29.txt", b"rien")
    msg = clinic_message(attachments=0)
    msg.add_attachment(buffer.getvalue(), maintype="application", subtype="zip", filename="a.zip")
    found = {(f.kind, f.detail) for f in scan(msg.as_bytes(), fingerprinter=Fingerprinter())}
    assert found == {("nir", None), ("unscannable_attachment", "encrypted")}


def test_zip_of_attachment_only_message() -> None:
    msg = EmailMessage()
    msg["To"] = "bob@example.org"
    msg.make_mixed()
    part = EmailMessage()
    part.set_content(b"data", maintype="application", subtype="pdf", filename="x.pdf")
    msg.attach(part)
    out = zip_attachments(msg, password=new_password())
    body = out.get_body(preferencelist=("plain",))
    assert body is not None and "mot de passe" in body.get_content()
    assert [a.get_filename() for a in out.iter_attachments()] == ["documents-chiffres.zip"]


def test_zip_result_is_seen_as_encrypted_attachment() -> None:
    out = zip_attachments(clinic_message(), password=new_password())
    state = protection_state(out)
    assert state == ProtectionState(False, None, ("documents-chiffres.zip",))


def test_new_password_shape() -> None:
    seen = {new_password() for _ in range(200)}
    assert len(seen) == 200
    for pw in seen:
        assert len(pw) >= 16
        assert re.fullmatch(r"[a-zA-Z2-9]{4}(-[a-zA-Z2-9]{4}){4}", pw)
        assert not set(pw) & set("0O1lIio")


# --------------------------------------------------------------------------- detection


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


ARMOUR = PGP_PUBLIC_KEY_ARMOUR.encode()


def test_state_of_smime_output_and_plain(bob: Party) -> None:
    assert protection_state(smime_encrypt(clinic_message(), [bob.cert])) == ProtectionState(
        True, "smime"
    )
    assert protection_state(clinic_message()) == ProtectionState(False, None, ())


def test_state_of_smime_variants(bob: Party) -> None:
    der = der_of(smime_encrypt(clinic_message(), [bob.cert]))
    b64 = base64.encodebytes(der)
    legacy = parse(
        b"To: x@y.fr\nMIME-Version: 1.0\n"
        b'Content-Type: application/x-pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\n'
        b"Content-Transfer-Encoding: base64\n\n" + b64
    )
    assert protection_state(legacy).method == "smime"
    by_name = parse(
        b"To: x@y.fr\nMIME-Version: 1.0\n"
        b'Content-Type: application/octet-stream; name="smime.p7m"\n'
        b"Content-Transfer-Encoding: base64\n\n" + b64
    )
    assert protection_state(by_name) == ProtectionState(True, "smime")
    auth = parse(
        b"To: x@y.fr\nMIME-Version: 1.0\n"
        b'Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"\n'
        b"Content-Transfer-Encoding: base64\n\n" + b64
    )
    assert protection_state(auth).encrypted


def test_state_of_pgp_mime_and_inline() -> None:
    pgp_mime = parse(
        b"To: x@y.fr\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="B"\n'
        b"\n--B\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n"
        b'\n--B\nContent-Type: application/octet-stream; name="encrypted.asc"\n\n'
        + ARMOUR
        + b"\n--B--\n"
    )
    assert protection_state(pgp_mime) == ProtectionState(True, "pgp")
    inline = parse(b"To: x@y.fr\nContent-Type: text/plain\n\n\n" + ARMOUR + b"\n\n")
    assert protection_state(inline) == ProtectionState(True, "pgp")
    half = EmailMessage()
    half.set_content(ARMOUR.decode())
    half.add_attachment(b"%PDF-1.4 plain", maintype="application", subtype="pdf", filename="a.pdf")
    assert not protection_state(half).encrypted
    quoted = parse(b"To: x@y.fr\n\nSee below\n" + ARMOUR)
    assert not protection_state(quoted).encrypted


def test_clear_text_between_armour_blocks_is_not_encrypted() -> None:
    block = ARMOUR.decode().strip()
    between = parse(f"To: x@y.fr\n\n{block}\nRappel : RDV lundi\n{block}\n".encode())
    assert not protection_state(between).encrypted
    trailing = with_attachment(ARMOUR + b"Rappel : RDV lundi\n", "notes.asc")
    assert protection_state(trailing).attachments_encrypted == ()
    assert protection_state(with_attachment(ARMOUR, "notes.asc")).attachments_encrypted == (
        "notes.asc",
    )


def test_message_level_answer_matches_the_full_state(bob: Party) -> None:
    armoured_with_gpg = EmailMessage()
    armoured_with_gpg.set_content(ARMOUR.decode())
    armoured_with_gpg.add_attachment(
        ARMOUR, maintype="application", subtype="octet-stream", filename="cr.pdf.asc"
    )
    half = EmailMessage()
    half.set_content(ARMOUR.decode())
    half.add_attachment(b"%PDF-1.4 plain", maintype="application", subtype="pdf", filename="a.pdf")
    cases = [
        parse(b"To: x@y.fr\nContent-Type: text/plain\n\n\n" + ARMOUR + b"\n\n"),
        parse(b"To: x@y.fr\n\nSee below\n" + ARMOUR),
        armoured_with_gpg,
        half,
        with_attachment(ARMOUR, "notes.asc"),
        parse(b"\xff\xfe garbage"),
    ]
    for msg in cases:
        assert message_encrypted(msg) == protection_state(msg).encrypted
    assert message_encrypted(armoured_with_gpg) and not message_encrypted(half)


def test_container_check_is_the_readers_own() -> None:
    from leakguard.extract import encryption

    assert container_encrypted is encryption.container_encrypted


def test_pgp_mime_inside_signature_counts() -> None:
    signed = parse(
        b"To: x@y.fr\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary="S"\n'
        b"\n--S\n"
        b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="B"\n'
        b"\n--B\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n"
        b"\n--B\nContent-Type: application/octet-stream\n\n" + ARMOUR + b"\n--B--\n"
        b"\n--S\nContent-Type: application/pgp-signature\n\nsig\n--S--\n"
    )
    assert protection_state(signed) == ProtectionState(True, "pgp")


def test_signed_only_is_not_encrypted(bob: Party) -> None:
    content = b"Content-Type: text/plain\r\n\r\nCompte rendu en clair\r\n"
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content)
    builder = builder.add_signer(bob.cert, bob.key, hashes.SHA256())
    detached = builder.sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
    msg = parse(b"From: a@clinique.fr\r\nTo: bob@example.org\r\n" + detached)
    assert msg.get_content_type() == "multipart/signed"
    assert protection_state(msg) == ProtectionState(False, None, ())

    opaque = base64.encodebytes(builder.sign(serialization.Encoding.DER, []))
    typed = parse(
        b"To: x@y.fr\nMIME-Version: 1.0\n"
        b'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\n'
        b"Content-Transfer-Encoding: base64\n\n" + opaque
    )
    assert protection_state(typed) == ProtectionState(False, None, ())
    # No smime-type: the CMS content type inside says "signed", whatever the file name.
    untyped = parse(
        b"To: x@y.fr\nMIME-Version: 1.0\n"
        b'Content-Type: application/pkcs7-mime; name="smime.p7m"\n'
        b"Content-Transfer-Encoding: base64\n\n" + opaque
    )
    assert not protection_state(untyped).encrypted


def test_signed_then_encrypted_is_encrypted(bob: Party) -> None:
    content = b"Content-Type: text/plain\r\n\r\nCompte rendu\r\n"
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content)
    builder = builder.add_signer(bob.cert, bob.key, hashes.SHA256())
    signed = parse(b"To: bob@example.org\r\n" + builder.sign(serialization.Encoding.SMIME, []))
    assert protection_state(smime_encrypt(signed, [bob.cert])).method == "smime"


def with_attachment(data: bytes, name: str, subtype: str = "octet-stream") -> EmailMessage:
    msg = clinic_message(attachments=0)
    msg.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    return msg


def pdf_bytes(*, user: str | None = None, owner: str | None = None) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Compte rendu")
    if owner is not None:
        pdf.set_encryption(
            owner_password=owner, user_password=user, encryption_method=EncryptionMethod.AES_256
        )
    return bytes(pdf.output())


def test_encrypted_pdf_attachment() -> None:
    locked = protection_state(with_attachment(pdf_bytes(user="u", owner="o"), "cr.pdf", "pdf"))
    assert locked == ProtectionState(False, None, ("cr.pdf",))
    # An owner password alone restricts printing, not reading: not protection.
    owner_only = protection_state(with_attachment(pdf_bytes(owner="o"), "cr.pdf", "pdf"))
    assert owner_only.attachments_encrypted == ()
    assert (
        protection_state(with_attachment(pdf_bytes(), "cr.pdf", "pdf")).attachments_encrypted == ()
    )


def plain_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_detection_needs_every_member_encrypted() -> None:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(b"password-123")
        archive.writestr("a.txt", b"secret")
    assert container_encrypted(buffer.getvalue())
    # Add a clear member to the same archive: the clear one would leak.
    with pyzipper.AESZipFile(buffer, "a") as archive:
        archive.writestr("b.txt", b"clear")
    assert not container_encrypted(buffer.getvalue())
    assert not container_encrypted(plain_zip({"a.txt": b"clear"}))


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["A1"] = "Patient"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_encrypted_office_attachment() -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = xlsx_bytes()
    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(plain)).encrypt("password-123", encrypted)
    state = protection_state(with_attachment(encrypted.getvalue(), "paie.xlsx"))
    assert state.attachments_encrypted == ("paie.xlsx",)
    assert protection_state(with_attachment(plain, "paie.xlsx")).attachments_encrypted == ()


def test_encrypted_odf_attachment() -> None:
    manifest = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        b'<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x">'
        b"</manifest:encryption-data></manifest:file-entry></manifest:manifest>"
    )
    mimetype = b"application/vnd.oasis.opendocument.text"
    locked = plain_zip(
        {"mimetype": mimetype, "META-INF/manifest.xml": manifest, "content.xml": b"?"}
    )
    assert container_encrypted(locked)
    clear_manifest = manifest.replace(b"encryption-data", b"other-data")
    clear = plain_zip(
        {"mimetype": mimetype, "META-INF/manifest.xml": clear_manifest, "content.xml": b"<x/>"}
    )
    assert not container_encrypted(clear)


def test_pgp_and_smime_file_attachments(bob: Party) -> None:
    assert protection_state(with_attachment(ARMOUR, "cr.pdf.asc")).attachments_encrypted == (
        "cr.pdf.asc",
    )
    der = der_of(smime_encrypt(clinic_message(), [bob.cert]))
    assert protection_state(with_attachment(der, "cr.p7m")).attachments_encrypted == ("cr.p7m",)
    # A real OpenPGP binary message: a public-key session-key packet, then SEIPD.
    assert container_encrypted(PGP_PUBLIC_KEY_BINARY)
    # Packet headers alone prove nothing: a session-key packet with no encrypted data
    # after it, or encrypted data whose bytes are clear text, is no encrypted message.
    assert not container_encrypted(bytes([0x85, 0x01, 0x0C, 0x03]) + bytes(range(64)))
    assert not container_encrypted(bytes([0xC1, 0x40, 0x03]) + bytes(range(64)))
    assert not container_encrypted(bytes([0x85, 0x01, 0x0C, 0x09]) + bytes(range(64)))
    clear = b"Patients: liste en clair, rien de chiffre ici " * 4
    esk = PGP_PUBLIC_KEY_BINARY[: 2 + PGP_PUBLIC_KEY_BINARY[1]]
    seipd = bytes([0xD2, len(clear) + 1, 1]) + clear
    assert not container_encrypted(esk + seipd)
    assert not container_encrypted(b"\x89PNG\r\n\x1a\n" + bytes(64))


def test_forwarded_encrypted_message_is_an_encrypted_attachment(bob: Party) -> None:
    inner = smime_encrypt(clinic_message(), [bob.cert])
    outer = clinic_message(attachments=0)
    outer.add_attachment(inner, filename="transfert.eml")
    state = protection_state(outer)
    assert state == ProtectionState(False, None, ("transfert.eml",))


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.sampled_from(
        [b"", b"PK\x03\x04", b"%PDF-1.7\n/Encrypt", bytes.fromhex("d0cf11e0a1b11ae1"), b"\x30\x80"]
    ),
    tail=st.binary(max_size=2048),
)
def test_container_detection_never_raises_on_junk(prefix: bytes, tail: bytes) -> None:
    assert container_encrypted(prefix + tail) in (True, False)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=1024), ctype=st.sampled_from(["pkcs7-mime", "octet-stream"]))
def test_state_never_raises_on_junk_smime(data: bytes, ctype: str) -> None:
    msg = EmailMessage()
    msg.set_content(data, maintype="application", subtype=ctype, filename="smime.p7m")
    assert isinstance(protection_state(msg), ProtectionState)


# --------------------------------------------------------------- compound files (MS-CFB)


def test_compound_file_builder_is_read_by_olefile() -> None:
    olefile = pytest.importorskip("olefile")
    data = make_compound_file({"WordDocument": b"abc", "Data": b"xyz"})
    ole = olefile.OleFileIO(io.BytesIO(data))
    assert sorted(e[0] for e in ole.listdir()) == ["Data", "WordDocument"]


@pytest.mark.parametrize(
    ("streams", "expected"),
    [
        (
            {
                "EncryptionInfo": struct.pack("<HHI", 4, 4, 0x40),
                "EncryptedPackage": struct.pack("<Q", 5000) + os.urandom(5008),
            },
            True,
        ),
        # The same streams, but an EncryptionInfo of no known version, or a package
        # that is a clear ZIP: the names lie.
        (
            {
                "EncryptionInfo": b"i",
                "EncryptedPackage": struct.pack("<Q", 5000) + os.urandom(5008),
            },
            False,
        ),
        (
            {
                "EncryptionInfo": struct.pack("<HHI", 4, 4, 0x40),
                "EncryptedPackage": struct.pack("<Q", 30) + b"PK\x03\x04" + bytes(26),
            },
            False,
        ),
        (
            {
                "WordDocument": word_fib(True)
                + bytes(600)
                + "Patient NIR en clair".encode("utf-16-le")
            },
            False,
        ),
        ({"WordDocument": word_fib(True)}, True),
        ({"WordDocument": word_fib(False)}, False),
        ({"Workbook": excel_globals(True)}, True),
        ({"Workbook": excel_globals(False)}, False),
        ({"PowerPoint Document": b"x", "EncryptedSummary": b"y"}, True),
        ({"PowerPoint Document": b"x"}, False),
    ],
)
def test_legacy_office_encryption(streams: dict[str, bytes], expected: bool) -> None:
    assert container_encrypted(make_compound_file(streams)) is expected


# --------------------------------------------------------------------------- certificates


@pytest.fixture(scope="session")
def spare_key() -> rsa.RSAPrivateKey:
    return make_rsa_key()


def test_folder_finds_by_address_case_insensitive(
    tmp_path: Path, spare_key: rsa.RSAPrivateKey, bob: Party
) -> None:
    write_certificate(bob.cert, tmp_path / "Bob@Example.ORG.pem")
    der_cert = make_certificate(spare_key, None, common_name="Carol")
    write_certificate(der_cert, tmp_path / "carol@example.net.DER", der=True)
    store = FolderCertificates(tmp_path)
    assert isinstance(store, CertificateStore)
    assert store.certificate_for("bob@example.org") == bob.cert
    assert store.certificate_for(" BOB@example.org ") == bob.cert
    assert store.certificate_for("<bob@EXAMPLE.org>") == bob.cert
    assert store.certificate_for("Carol@Example.Net") == der_cert
    assert store.certificate_for("dave@example.org") is None
    assert store.problems == ()


def test_folder_reads_addresses_inside_certificates(
    tmp_path: Path, spare_key: rsa.RSAPrivateKey
) -> None:
    by_san = make_certificate(spare_key, "Dupont@Cabinet.fr")
    by_subject = make_certificate(spare_key, "eve@labo.fr", in_san=False, in_subject=True)
    anonymous = make_certificate(spare_key, None)
    write_certificate(by_san, tmp_path / "certificat-dupont.crt")
    write_certificate(by_subject, tmp_path / "labo.cer", der=True)
    write_certificate(anonymous, tmp_path / "inconnu.pem")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "junk.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n")
    store = FolderCertificates(tmp_path)
    assert store.certificate_for("dupont@cabinet.fr") == by_san
    assert store.certificate_for("eve@labo.fr") == by_subject
    reasons = {(p.file, p.reason) for p in store.problems}
    assert reasons == {("inconnu.pem", "no_address"), ("junk.pem", "unreadable")}


def test_folder_skips_unusable_certificates_with_reason(
    tmp_path: Path, spare_key: rsa.RSAPrivateKey
) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = make_certificate(
        spare_key,
        "old@example.org",
        not_before=now - dt.timedelta(days=800),
        not_after=now - dt.timedelta(days=1),
    )
    future = make_certificate(spare_key, "new@example.org", not_before=now + dt.timedelta(days=2))
    sign_only = make_certificate(spare_key, "sign@example.org", key_usage="sign")
    no_usage = make_certificate(spare_key, "free@example.org", key_usage=None)
    ec_cert = make_certificate(make_ec_key(), "ec@example.org")
    for cert, name in [
        (expired, "old@example.org.pem"),
        (future, "new@example.org.pem"),
        (sign_only, "sign@example.org.pem"),
        (no_usage, "free@example.org.pem"),
        (ec_cert, "ec@example.org.pem"),
    ]:
        write_certificate(cert, tmp_path / name)
    store = FolderCertificates(tmp_path)
    assert store.certificate_for("old@example.org") is None
    assert store.certificate_for("new@example.org") is None
    assert store.certificate_for("sign@example.org") is None
    assert store.certificate_for("ec@example.org") is None
    assert store.certificate_for("free@example.org") == no_usage
    why = {a: store.why_missing(a) for a in store.addresses()}
    assert {a: (w.reason if w else None) for a, w in why.items()} == {
        "old@example.org": "expired",
        "new@example.org": "not_yet_valid",
        "sign@example.org": "no_key_encipherment",
        "ec@example.org": "unsupported_key",
        "free@example.org": None,
    }
    missing = store.why_missing("nobody@example.org")
    assert missing is not None and missing.reason == "missing"
    assert {p.reason for p in store.problems} == {
        "expired",
        "not_yet_valid",
        "no_key_encipherment",
        "unsupported_key",
    }
    problem = why["old@example.org"]
    assert problem is not None
    old_file = tmp_path / "old@example.org.pem"
    assert problem.message("fr") == f"old@example.org : le certificat a expiré ({old_file})."
    assert problem.message("en") == f"old@example.org: the certificate has expired ({old_file})."
    assert problem.cause == "certificate_expired"
    assert missing.message("en") == "nobody@example.org: no certificate was found."
    assert missing.message("fr") == "nobody@example.org : aucun certificat n'a été trouvé."
    junk = CertificateProblem("junk.pem", "unreadable")
    assert junk.message("en") == "junk.pem: the file is not a PEM or DER certificate."


def test_folder_prefers_the_valid_certificate_and_follows_the_clock(
    tmp_path: Path, spare_key: rsa.RSAPrivateKey, bob: Party
) -> None:
    now = dt.datetime.now(dt.UTC)
    old = make_certificate(
        spare_key,
        "bob@example.org",
        not_before=now - dt.timedelta(days=900),
        not_after=now - dt.timedelta(days=30),
    )
    write_certificate(old, tmp_path / "ancien-bob.pem")
    write_certificate(bob.cert, tmp_path / "bob@example.org.pem")
    store = FolderCertificates(tmp_path)
    assert store.certificate_for("bob@example.org") == bob.cert
    later = FolderCertificates(tmp_path, clock=lambda: now + dt.timedelta(days=400))
    assert later.certificate_for("bob@example.org") is None
    why = later.why_missing("bob@example.org")
    assert why is not None and why.reason == "expired"


def test_folder_certificate_encrypts_for_openssl(bob: Party, tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    write_certificate(bob.cert, folder / "bob@example.org.der", der=True)
    cert = FolderCertificates(folder).certificate_for("bob@example.org")
    assert cert is not None
    out = smime_encrypt(clinic_message(), [cert])
    assert_same_content(
        pkcs7.pkcs7_decrypt_smime(out.as_bytes(), bob.cert, bob.key, []), clinic_message()
    )


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProtectionError) as caught:
        FolderCertificates(tmp_path / "absent")
    assert caught.value.reason == "certificate_folder_missing"
    assert caught.value.path == str(tmp_path / "absent")
    assert caught.value.message("fr") == (
        f"Le dossier de certificats {tmp_path / 'absent'} n'existe pas ou n'est pas un dossier."
    )


def test_callable_certificates(bob: Party) -> None:
    table: dict[str, x509.Certificate] = {"bob@example.org": bob.cert}
    store = CallableCertificates(table.get)
    assert isinstance(store, CertificateStore)
    assert store.certificate_for(" bob@example.org") == bob.cert
    assert store.certificate_for("carol@example.net") is None


def test_zip_note_beside_a_body_in_an_unknown_charset() -> None:
    msg = parse(
        b"To: bob@example.org\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="M"\n\n'
        b"--M\nContent-Type: text/plain; charset=x-unknown-charset\n\nBonjour\n"
        b'--M\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="a.pdf"\n'
        b"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQ=\n--M--\n"
    )
    out = zip_attachments(msg, password=new_password())
    texts = [p for p in out.walk() if p.get_content_type() == "text/plain"]
    assert len(texts) == 2
    assert str(texts[0].get_payload()).strip() == "Bonjour"
    assert "mot de passe" in texts[1].get_content()
    assert [a.get_filename() for a in out.iter_attachments()][-1] == "documents-chiffres.zip"


def gpg(tmp_path: Path, *args: str) -> bytes:
    exe = shutil.which("gpg")
    if exe is None:
        pytest.skip("gpg is not installed")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    source = tmp_path / "clear.txt"
    source.write_bytes(b"Compte rendu confidentiel\n")
    done = subprocess.run(
        [
            exe,
            "--homedir",
            str(home),
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "pass-phrase-1",
            "--symmetric",
            *args,
            "-o",
            "-",
            str(source),
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    # gpg starts an agent for this home folder: stop it, or it outlives the test run.
    gpgconf = shutil.which("gpgconf")
    if gpgconf is not None:
        subprocess.run(
            [gpgconf, "--homedir", str(home), "--kill", "gpg-agent"],
            capture_output=True,
            check=False,
            timeout=30,
        )
    if done.returncode != 0:
        pytest.skip("gpg could not encrypt here")
    return done.stdout


def test_real_openpgp_files_are_encrypted_containers(tmp_path: Path) -> None:
    binary = gpg(tmp_path)
    armoured = gpg(tmp_path, "--armor")
    assert container_encrypted(binary)
    assert container_encrypted(armoured)
    state = protection_state(with_attachment(binary, "cr.pdf.gpg"))
    assert state.attachments_encrypted == ("cr.pdf.gpg",)


def test_names_match_as_findings_locate_them() -> None:
    """A client may send a Windows path as file name; findings use its last component."""
    msg = clinic_message(attachments=0)
    msg.add_attachment(
        pdf_bytes(user="u", owner="o"),
        maintype="application",
        subtype="pdf",
        filename="C:\\Users\\secretariat\\scan.pdf",
    )
    msg.add_attachment(b"clear", maintype="text", subtype="csv", filename="liste.csv")
    assert protection_state(msg).attachments_encrypted == ("scan.pdf",)
    out = zip_attachments(msg, password=new_password(), names=["scan.pdf"])
    remaining = sorted(a.get_filename() or "" for a in out.iter_attachments())
    assert remaining == ["documents-chiffres.zip", "liste.csv"]
    with zipfile.ZipFile(io.BytesIO(zip_of(out))) as archive:
        assert archive.namelist() == ["scan.pdf"]


_HEADER_JUNK = st.lists(
    st.sampled_from(
        [
            *"abc/;=\"'*%-_.@ \t0129é",
            "smime-type",
            "protocol",
            "application/pkcs7-mime",
            "multipart/encrypted",
            "name*0*=utf-8''",
            "filename",
            "smime.p7m",
            "%ZZ",
        ]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(ctype=_HEADER_JUNK, disposition=_HEADER_JUNK, body=st.binary(max_size=300))
def test_state_never_raises_on_malformed_messages(
    ctype: str, disposition: str, body: bytes
) -> None:
    raw = (
        b"To: x@y.fr\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\n"
        + f"Content-Type: {ctype}\r\nContent-Disposition: {disposition}\r\n".encode()
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + body
        + b"\r\n--Z--\r\n"
    )
    assert protection_state(load_message(raw)).encrypted in (True, False)
    for policy in (email.policy.default, email.policy.compat32):
        try:
            msg = email.message_from_bytes(raw, policy=policy)
        except Exception:  # the standard library's own parser gives up on this header
            continue
        state = protection_state(msg)
        assert state.encrypted in (True, False)


def test_folder_file_with_a_chain_picks_the_recipient_certificate(
    tmp_path: Path, spare_key: rsa.RSAPrivateKey, bob: Party
) -> None:
    now = dt.datetime.now(dt.UTC)
    authority = make_certificate(
        spare_key,
        None,
        common_name="Clinic CA",
        key_usage=None,
        authority=True,
        not_after=now + dt.timedelta(days=3000),
    )
    leaf = make_certificate(spare_key, None, common_name="Bob")
    pem = serialization.Encoding.PEM
    (tmp_path / "bob@example.org.pem").write_bytes(
        authority.public_bytes(pem) + leaf.public_bytes(pem)
    )
    (tmp_path / "carol@example.net.pem").write_bytes(
        authority.public_bytes(pem) + bob.cert.public_bytes(pem)
    )
    store = FolderCertificates(tmp_path)
    assert store.certificate_for("bob@example.org") == leaf
    # The file name decides whose it is; of the two certificates, never the authority's.
    assert store.certificate_for("carol@example.net") == bob.cert
    (tmp_path / "carol@example.net.pem").unlink()
    (tmp_path / "dave@example.org.pem").write_bytes(authority.public_bytes(pem))
    # A lone authority certificate without KeyUsage is still taken: the file says so.
    assert FolderCertificates(tmp_path).certificate_for("dave@example.org") == authority


def test_zip_takes_a_forwarded_message_whole() -> None:
    forwarded = clinic_message()
    outer = clinic_message(attachments=0)
    outer.add_attachment(forwarded)  # message/rfc822 without a file name
    password = new_password()
    out = zip_attachments(outer, password=password)
    with pyzipper.AESZipFile(io.BytesIO(zip_of(out))) as archive:
        archive.setpassword(password.encode())
        assert archive.namelist() == ["message-1.eml"]
        inner = parse(archive.read("message-1.eml"))
    assert inner["Message-ID"] == forwarded["Message-ID"]
    assert [a.get_content() for a in inner.iter_attachments()] == [PDF_BYTES + b"\x00"]
    assert not any(p.get_content_type() == "message/rfc822" for p in out.walk())
