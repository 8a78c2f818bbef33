"""Fail closed in the readers: no label makes a part count as encrypted (each liar is clear
content under an encrypted type, name, armour or structure; the real thing, made by the
real tools, still counts), and every reader stays within its caps and the deadline on
hostile input (inflation bombs, lying sizes, damaged TNEF and PST, mbox look-alikes)."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import shutil
import smtplib
import struct
import subprocess
import sys
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP
from pathlib import Path

import httpx
import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from certs_factory import make_certificate, make_rsa_key, write_certificate
from cli_helpers import run
from docs_factory import (
    PGP_PUBLIC_KEY_ARMOUR,
    PGP_PUBLIC_KEY_BINARY,
    PGP_SYMMETRIC_ARMOUR,
    make_docx,
    make_encrypted_office,
    make_odt,
    make_pdf,
    make_pgp_eml,
    make_xlsx,
    make_zip,
)
from gateway_parts import Sink, free_port, wait_port
from helpers import make_nir, message
from leakguard import Guard
from leakguard.archives import iter_messages
from leakguard.core import Action, Deadline, Location, Verdict
from leakguard.extract import Budget, Limits, Problem, TextChunk, extract
from leakguard.extract._common import Context
from leakguard.extract.tnef import read_tnef
from leakguard.message import iter_content, load_message
from leakguard.protection import message_encrypted, protection_state
from outlook_factory import TnefAttachment, compress_rtf, make_tnef
from serve_helpers import AUTH, running

NIRS = [make_nir(i) for i in range(3)]
CSV = ("nom;nir\n" + "".join(f"Patient {i};{n}\n" for i, n in enumerate(NIRS))).encode()
OUTSIDE = "Dr Martin <dr.martin@gmail.com>"


def outside_message(*, body: str = "Bonjour,\nci-joint.\n") -> EmailMessage:
    return message(to=OUTSIDE, body=body)


def with_part(data: bytes, ctype: str, name: str | None, **params: str) -> EmailMessage:
    msg = outside_message()
    maintype, subtype = ctype.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name, params=params)
    return msg


def raw_message(content_type: str, body: bytes, *, cte: str = "base64") -> bytes:
    encoded = base64.encodebytes(body) if cte == "base64" else body
    return (
        f"From: secretariat@clinique-exemple.fr\r\nTo: {OUTSIDE}\r\nSubject: Export\r\n"
        f"Message-ID: <liar@clinique-exemple.fr>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode() + encoded


def armour(payload: bytes) -> bytes:
    """PGP message armour around bytes that are not OpenPGP packets."""
    return (
        b"-----BEGIN PGP MESSAGE-----\n\n"
        + base64.encodebytes(payload)
        + b"=AAAA\n-----END PGP MESSAGE-----\n"
    )


def pgp_mime(inner: bytes) -> bytes:
    return raw_message(
        'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"',
        b"--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
        b'--b\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
        + inner
        + b"\r\n--b--\r\n",
        cte="7bit",
    )


def enveloped_around(content: bytes) -> bytes:
    """A real CMS EnvelopedData (a recipient, an algorithm) whose "encrypted" content is
    replaced by ``content`` in clear: it parses as what it claims, and lies."""
    key = make_rsa_key()
    der = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(b"x" * 64)
        .add_recipient(make_certificate(key, "bob@example.org"))
        .encrypt(Encoding.DER, [])
    )
    info = cms.ContentInfo.load(der)
    info["content"]["encrypted_content_info"]["encrypted_content"] = content
    return bytes(info.dump(force=True))


# ------------------------------------------------------------------ hand-made PDF


def pdf_file(pages: list[list[bytes]], *, encrypt: bool = False) -> bytes:
    """A PDF whose pages draw the given content streams (already encoded, each with its
    dictionary entries), in Helvetica. ``encrypt`` adds a standard security handler
    whose keys open nothing, over streams left in clear."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b""]
    objects[2] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    kids = []
    for streams in pages:
        refs = []
        for entries, data in streams:  # type: ignore[misc]
            objects.append(b"<< /Length %d %s >>stream\n" % (len(data), entries) + data)
            refs.append(len(objects))
        contents = b"[" + b" ".join(b"%d 0 R" % r for r in refs) + b"]"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font "
            b"<< /F1 3 0 R >> >> /Contents " + contents + b" >>"
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (
        len(kids),
        b" ".join(b"%d 0 R" % k for k in kids),
    )
    trailer_extra = b""
    if encrypt:
        objects.append(
            b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 /O <"
            + bytes(range(32)).hex().encode()
            + b"> /U <"
            + bytes(range(32, 64)).hex().encode()
            + b"> >>"
        )
        trailer_extra = b" /Encrypt %d 0 R /ID [<%s><%s>]" % (
            len(objects),
            b"00" * 16,
            b"00" * 16,
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body
        if b"stream\n" in body:
            out += b"\nendstream"
        out += b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer_extra,
        xref,
    )
    return bytes(out)


def text_stream(line: str, *, flate: bool = True) -> tuple[bytes, bytes]:
    ops = b"BT /F1 12 Tf 72 700 Td (" + line.encode("latin-1") + b") Tj ET"
    if flate:
        return b"/Filter /FlateDecode", zlib.compress(ops)
    return b"", ops


def bomb_stream(size: int) -> tuple[bytes, bytes]:
    """A content stream of blanks that inflates to ``size`` bytes from about size/1000."""
    packer = zlib.compressobj(9)
    block = b" " * (1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    return b"/Filter /FlateDecode", b"".join(parts) + packer.flush()


# ------------------------------------------------------------------ hand-made ZIP


def zip_file(name: str, method: int, stored: bytes, *, crc: int, size: int, flag: int,
             extra: bytes = b"") -> bytes:  # fmt: skip
    """One member written by hand, so that its flags, sizes and CRC can lie."""
    encoded = name.encode()
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 51, flag, method, 0, 0, crc, len(stored), size,
        len(encoded), len(extra),
    )  # fmt: skip
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 51, 51, flag, method, 0, 0, crc, len(stored),
        size, len(encoded), len(extra), 0, 0, 0, 0, 0,
    )  # fmt: skip
    body = local + encoded + extra + stored
    directory = central + encoded + extra
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


def deflated(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def aes_header_liar(content: bytes) -> bytes:
    """A member that says WinZip AES-256 (method 99, the AE extra field) over a fake salt
    and password check, clear deflate data and a fake authentication code."""
    extra = struct.pack("<HHH2sBH", 0x9901, 7, 2, b"AE", 3, zipfile.ZIP_DEFLATED)
    stored = os.urandom(18) + deflated(content) + os.urandom(10)
    return zip_file("export.csv", 99, stored, crc=0, size=len(content), flag=1, extra=extra)


def ole_package_liar(package: bytes) -> bytes:
    """A compound file with EncryptionInfo (agile, 4.4) and an EncryptedPackage that is
    the clear document."""
    from docs_factory import make_compound_file

    return make_compound_file(
        {
            "EncryptionInfo": struct.pack("<HHI", 4, 4, 0x40) + b"<encryption/>",
            "EncryptedPackage": struct.pack("<Q", len(package)) + package,
        }
    )


# ------------------------------------------------------------------ the liars

LIARS: dict[str, Callable[[], EmailMessage | bytes]] = {
    "pkcs7-mime enveloped-data": lambda: with_part(
        CSV, "application/pkcs7-mime", "export.p7m", **{"smime-type": "enveloped-data"}
    ),
    "pkcs7-mime, no smime-type": lambda: with_part(CSV, "application/pkcs7-mime", "export.csv"),
    "x-pkcs7-mime authenveloped": lambda: with_part(
        CSV, "application/x-pkcs7-mime", "smime.p7m", **{"smime-type": "authenveloped-data"}
    ),
    "pkcs7-mime certs-only": lambda: with_part(
        CSV, "application/pkcs7-mime", "certs.p7c", **{"smime-type": "certs-only"}
    ),
    "name .p7m": lambda: with_part(CSV, "application/octet-stream", "export.p7m"),
    "name .p7e": lambda: with_part(CSV, "application/octet-stream", "export.p7e"),
    "name .pgp": lambda: with_part(CSV, "application/octet-stream", "export.csv.pgp"),
    "name .gpg": lambda: with_part(CSV, "application/octet-stream", "export.gpg"),
    "name .asc": lambda: with_part(CSV, "text/plain", "export.asc"),
    "type pgp-encrypted": lambda: with_part(CSV, "application/pgp-encrypted", "export.bin"),
    "armour of clear bytes": lambda: with_part(armour(CSV), "text/plain", "export.asc"),
    "armour in the body": lambda: outside_message(body=armour(CSV).decode()),
    "multipart/encrypted over clear": lambda: pgp_mime(CSV),
    "multipart/encrypted over armour of clear": lambda: pgp_mime(armour(CSV)),
    "whole message enveloped-data": lambda: raw_message(
        'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"',
        b"Content-Type: text/csv\r\n\r\n" + CSV,
    ),
    "CMS envelope around clear bytes": lambda: with_part(
        enveloped_around(CSV),
        "application/pkcs7-mime",
        "export.p7m",
        **{"smime-type": "enveloped-data"},
    ),
    "signature part": lambda: raw_message(
        'multipart/signed; protocol="application/pkcs7-signature"; boundary="s"',
        b"--s\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n--s\r\n"
        b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(CSV) + b"--s--\r\n",
        cte="7bit",
    ),
    "PDF /Encrypt over clear streams": lambda: with_part(
        pdf_file([[text_stream(f"NIR {NIRS[0]}")]], encrypt=True), "application/pdf", "a.pdf"
    ),
    "ZipCrypto flag over clear": lambda: with_part(
        zip_file("export.csv", 8, deflated(CSV), crc=zlib.crc32(CSV), size=len(CSV), flag=1),
        "application/zip",
        "export.zip",
    ),
    "AES header over clear": lambda: with_part(
        aes_header_liar(CSV), "application/zip", "export.zip"
    ),
    "Office package in clear": lambda: with_part(
        ole_package_liar(make_docx([f"NIR {n}" for n in NIRS])),
        "application/vnd.ms-office",
        "export.docx",
    ),
    "ODF manifest over clear": lambda: with_part(
        make_odt([f"NIR {n}" for n in NIRS], label_only=True),
        "application/vnd.oasis.opendocument.text",
        "export.odt",
    ),
}


def _bytes(build: Callable[[], EmailMessage | bytes]) -> bytes:
    built = build()
    return built if isinstance(built, bytes) else built.as_bytes()


def _kinds(verdict: Verdict) -> set[str]:
    return {f.kind for f in verdict.findings}


@pytest.mark.parametrize("case", sorted(LIARS))
def test_clear_content_under_an_encrypted_label_is_read_and_reported(case: str) -> None:
    raw = _bytes(LIARS[case])
    verdict = Guard().check(raw)
    kinds = _kinds(verdict)
    assert "mislabelled_attachment" in kinds, (case, sorted(kinds))
    assert "nir" in kinds, (case, sorted(kinds))
    assert not verdict.encrypted
    assert verdict.action >= Action.ENCRYPT, (case, verdict.action)
    assert "unencrypted_sensitive" in kinds
    # Nothing of it is vouched for as encrypted, by any recognizer.
    msg = load_message(raw)
    assert not message_encrypted(msg)
    assert not protection_state(msg).encrypted
    encrypted = [
        f
        for f in verdict.findings
        if f.kind == "unscannable_attachment" and f.detail == "encrypted"
    ]
    assert encrypted == [], case


def test_mislabelled_content_to_a_colleague_is_still_suspicious() -> None:
    msg = with_part(CSV, "application/pkcs7-mime", "export.p7m", **{"smime-type": "enveloped-data"})
    msg.replace_header("To", "collegue@clinique-exemple.fr")
    verdict = Guard().check(msg)
    assert "unencrypted_sensitive" not in _kinds(verdict)
    assert verdict.action is Action.BLOCK
    quiet = with_part(b"rien de sensible ici\n" * 4, "application/octet-stream", "note.p7m")
    quiet.replace_header("To", "collegue@clinique-exemple.fr")
    assert Guard().check(quiet).action is Action.WARN


def test_the_finding_speaks_both_languages() -> None:
    verdict = Guard().check(LIARS["name .p7m"]())
    [f] = [f for f in verdict.findings if f.kind == "mislabelled_attachment"]
    assert str(f.location) == "attachment:export.p7m"
    assert f.detail == "smime"
    assert f.message("en").startswith("This attachment claims to be encrypted (S/MIME)")
    assert f.message("fr").startswith("Cette pièce jointe se présente comme chiffrée (S/MIME)")


# ------------------------------------------------------------------ the real things


def _openssl_smime(tmp_path: Path) -> bytes:
    exe = shutil.which("openssl")
    if exe is None:
        pytest.fail("openssl is needed for the real S/MIME vector")
    key = make_rsa_key()
    cert = write_certificate(make_certificate(key, "bob@example.org"), tmp_path / "bob.pem")
    source = tmp_path / "clear.eml"
    source.write_bytes(
        f"From: secretariat@clinique-exemple.fr\r\nTo: {OUTSIDE}\r\nSubject: S\r\n\r\n".encode()
        + CSV
    )
    done = subprocess.run(
        [exe, "smime", "-encrypt", "-aes256", "-in", str(source), str(cert)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    head = f"From: secretariat@clinique-exemple.fr\r\nTo: {OUTSIDE}\r\n".encode()
    return head + done.stdout


REAL: dict[str, Callable[[Path], EmailMessage | bytes]] = {
    "S/MIME by openssl": _openssl_smime,
    "S/MIME attachment by cryptography": lambda _: with_part(
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(CSV)
        .add_recipient(make_certificate(make_rsa_key(), "bob@example.org"))
        .encrypt(Encoding.DER, []),
        "application/pkcs7-mime",
        "export.p7m",
        **{"smime-type": "enveloped-data"},
    ),
    "PGP/MIME by gpg": lambda _: make_pgp_eml(),
    "inline PGP by gpg": lambda _: outside_message(body=PGP_SYMMETRIC_ARMOUR),
    "binary .gpg by gpg": lambda _: with_part(
        PGP_PUBLIC_KEY_BINARY, "application/octet-stream", "export.gpg"
    ),
    "armoured .asc by gpg": lambda _: with_part(
        PGP_PUBLIC_KEY_ARMOUR.encode(), "text/plain", "export.asc"
    ),
    "AES ZIP by pyzipper": lambda _: with_part(
        make_zip({"export.csv": CSV}, password="secret"), "application/zip", "export.zip"
    ),
    "encrypted PDF by fpdf2": lambda _: with_part(
        make_pdf([f"NIR {NIRS[0]}"], password="secret"), "application/pdf", "a.pdf"
    ),
    "encrypted Office by msoffcrypto-tool": lambda _: with_part(
        make_encrypted_office(make_docx([f"NIR {NIRS[0]}"]), "secret"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "a.docx",
    ),
    "encrypted ODF": lambda _: with_part(
        make_odt([f"NIR {NIRS[0]}"], encrypted=True),
        "application/vnd.oasis.opendocument.text",
        "a.odt",
    ),
}


@pytest.mark.parametrize("case", sorted(REAL))
def test_real_encryption_is_still_recognised(case: str, tmp_path: Path) -> None:
    built = REAL[case](tmp_path)
    raw = built if isinstance(built, bytes) else built.as_bytes()
    verdict = Guard().check(raw)
    kinds = _kinds(verdict)
    assert "mislabelled_attachment" not in kinds, case
    assert "nir" not in kinds, case
    sealed = [f for f in verdict.findings if f.detail == "encrypted"]
    assert verdict.encrypted or sealed, case
    assert verdict.action is Action.ALLOW, (case, verdict.explain())


# ------------------------------------------------------------------ through each interface


def test_check_does_not_allow_a_mislabelled_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.eml"
    path.write_bytes(_bytes(LIARS["pkcs7-mime enveloped-data"]))
    code, out, err = run(capsys, "check", "--format", "json", str(path))
    assert code == 1, err
    [answer] = json.loads(out)["messages"]
    assert answer["action"] != "allow"
    kinds = {f["kind"] for f in answer["findings"]}
    assert {"mislabelled_attachment", "nir", "unencrypted_sensitive"} <= kinds
    assert not any(n in out for n in NIRS)


def test_serve_does_not_answer_allow(tmp_path: Path) -> None:
    raw = _bytes(LIARS["whole message enveloped-data"])
    with (
        running(Guard()) as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=60) as client,
    ):
        answer = client.post("/v1/check", content=raw, headers={"Content-Type": "message/rfc822"})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["action"] != "allow"
    assert "mislabelled_attachment" in {f["kind"] for f in got["findings"]}


def test_relay_does_not_forward_a_mislabelled_export_as_allowed(tmp_path: Path) -> None:
    pytest.importorskip("aiosmtpd")
    sink = Sink().start()
    port = free_port()
    log = (tmp_path / "relay.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "leakguard.cli", "relay", "--listen", f"127.0.0.1:{port}",
            "--next-hop", f"127.0.0.1:{sink.port}", "--next-hop-timeout", "5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )  # fmt: skip
    try:
        wait_port(port, 30)
        raw = _bytes(LIARS["pkcs7-mime enveloped-data"])
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail("secretariat@clinique-exemple.fr", ["dr.martin@gmail.com"], raw)
        except smtplib.SMTPResponseException as refused:
            assert refused.smtp_code in (451, 550, 554), refused
        sink.wait_for(1, timeout=2)
        for arrival in sink.received:
            delivered = BytesParser(policy=SMTP).parsebytes(arrival.data)
            assert not str(delivered.get("X-Leakguard", "")).startswith("allow")
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        sink.stop()


# ------------------------------------------------------------------ bounded readers


def _items(data: bytes, name: str) -> list[TextChunk | Problem]:
    return list(extract(data, _loc(name), budget=Budget(), filename=name))


def _loc(name: str) -> Location:
    return Location.attachment(name)


def _text(items: list[TextChunk | Problem]) -> str:
    return "\n".join(i.text for i in items if isinstance(i, TextChunk))


def _problems(items: list[TextChunk | Problem]) -> list[tuple[str, str]]:
    return [(p.reason, str(p.container)) for p in items if isinstance(p, Problem)]


_RSS_PROBE = """
import resource, sys, time
from leakguard.core import Location
from leakguard.extract import Budget, Problem, TextChunk, extract
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
items = list(extract(data, Location.attachment("a.pdf"), budget=Budget(), filename="a.pdf"))
text = "".join(i.text for i in items if isinstance(i, TextChunk))
print(
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before,
    time.monotonic() - started,
    ",".join(sorted({i.reason for i in items if isinstance(i, Problem)})),
    "|".join(n for n in sys.argv[2:] if n in text.replace(" ", "")),
)
"""


def test_a_pdf_inflation_bomb_is_dropped_and_what_follows_is_read(tmp_path: Path) -> None:
    # 1 GiB of blanks in ~1 MB, then a stream with a NIR on the same page, and a second
    # page with another: PDFium never sees the bomb, the rest is read, the drop reported.
    pdf = pdf_file(
        [
            [bomb_stream(1 << 30), text_stream(f"NIR {NIRS[0]}")],
            [text_stream(f"NIR {NIRS[1]}", flate=False)],
        ]
    )
    assert len(pdf) < 2_000_000
    path = tmp_path / "bomb.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(path), *NIRS[:2]],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grown_kb, seconds, reasons, found = done.stdout.split(" ")
    assert found.strip().split("|") == NIRS[:2], "a NIR after the bomb was lost"
    assert reasons == "too_large"
    assert int(grown_kb) < 300 * 1024, f"peak memory grew by {int(grown_kb) // 1024} MB"
    assert float(seconds) < 30


def test_each_pdf_filter_is_capped_as_it_decodes() -> None:
    from leakguard.extract.pdf_streams import Oversized, measure, streams

    blanks = b" " * 300_000
    lzw_like = pdf_file([[(b"/Filter /ASCIIHexDecode", blanks.hex().encode() + b">")]])
    [stream] = [s for s in streams(lzw_like) if s.filters]
    assert measure(lzw_like, stream, 400_000, lambda: False) == len(blanks)
    with pytest.raises(Oversized):
        measure(lzw_like, stream, 100_000, lambda: False)
    run_length = pdf_file([[(b"/Filter /RunLengthDecode", b"\x81 " * 5000 + b"\x80")]])
    [stream] = [s for s in streams(run_length) if s.filters]
    with pytest.raises(Oversized):
        measure(run_length, stream, 100_000, lambda: False)
    double = zlib.compress(zlib.compress(b" " * 5_000_000))
    nested = pdf_file([[(b"/Filter [/FlateDecode /FlateDecode]", double)]])
    [stream] = [s for s in streams(nested) if s.filters]
    with pytest.raises(Oversized):
        measure(nested, stream, 1_000_000, lambda: False)


def test_a_zip_member_that_lies_about_its_size_is_read_to_its_end() -> None:
    # The headers say 40 bytes (and give their CRC); the deflate stream holds the whole
    # file, as unzip reads it.
    content = b"Liste des patients\n" * 40 + f"NIR {NIRS[2]}\n".encode()
    head = content[:40]
    data = zip_file("liste.txt", 8, deflated(content), crc=zlib.crc32(head), size=40, flag=0)
    items = _items(data, "liste.zip")
    assert NIRS[2] in _text(items).replace(" ", "")
    assert ("corrupt", "None") in _problems(items)


def _with_a_twin(package: bytes, member: str, first: bytes) -> bytes:
    """``package`` with a member of the name ``member`` holding ``first`` written before
    its own: two members of one name, which the package formats forbid."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            if info.filename == member:
                zout.writestr(member, first)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
                zout.writestr(info, zin.read(info.filename))
    return out.getvalue()


@pytest.mark.parametrize(
    ("build", "member", "name"),
    [
        (lambda: make_docx(["Bonjour"]), "word/document.xml", "lettre.docx"),
        (lambda: make_xlsx([["Bonjour"]]), "xl/worksheets/sheet1.xml", "liste.xlsx"),
        (lambda: make_odt(["Bonjour"]), "content.xml", "lettre.odt"),
    ],
    ids=["docx", "xlsx", "odt"],
)
def test_a_package_holding_a_part_twice_is_reported_corrupt(
    build: Callable[[], bytes], member: str, name: str
) -> None:
    # Its reader takes one of the two parts (the last); the NIR in the other is not read,
    # and the document is not passed as read whole.
    package = build()
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        own = zf.read(member)
    twin = own.replace(b"Bonjour", f"NIR {NIRS[0]}".encode())
    items = _items(_with_a_twin(package, member, twin), name)
    assert ("corrupt", "None") in _problems(items)
    assert "Bonjour" in _text(items)
    # The same package without its twin: read, nothing reported.
    assert _problems(_items(package, name)) == []


# ------------------------------------------------------------------ TNEF and LZFU


def _tnef_items(data: bytes, budget: Budget | None = None) -> list[TextChunk | Problem]:
    ctx = Context(budget=budget or Budget())
    return list(read_tnef(data, _loc("winmail.dat"), ctx))


def test_tnef_attachment_carried_as_pr_attach_data_bin_is_read() -> None:
    data = make_tnef(
        body="Bonjour", attachments=[TnefAttachment("export.csv", CSV, as_property=True)]
    )
    items = _tnef_items(data)
    chunks = [i for i in items if isinstance(i, TextChunk)]
    where = {str(c.location) for c in chunks if NIRS[0] in c.text}
    assert where == {"attachment:winmail.dat/export.csv"}
    assert _problems(items) == []


def test_tnef_with_a_wrong_checksum_or_trailing_bytes_is_read() -> None:
    data = make_tnef(body="Bonjour", attachments=[TnefAttachment("export.csv", CSV)])
    for damaged in (data[:-1] + bytes([data[-1] ^ 0xFF]), data + b"\x00", data + b"\r\n"):
        items = _tnef_items(damaged)
        assert NIRS[0] in _text(items)
        assert _problems(items) == []


def test_tnef_cut_short_keeps_what_was_read_and_says_the_rest() -> None:
    data = make_tnef(body=f"NIR {NIRS[0]}", attachments=[TnefAttachment("export.csv", CSV)])
    items = _tnef_items(data[: len(data) - 40])
    assert NIRS[0] in _text(items)
    assert ("corrupt", "None") in _problems(items)


def _lzfu_bomb(declared: int, produced: int) -> bytes:
    """LZFu whose header declares ``declared`` bytes and whose references produce
    ``produced`` bytes (17 per reference, from the dictionary)."""
    out = bytearray()
    write = 207
    refs = produced // 17
    for start in range(0, refs, 8):
        group = min(8, refs - start)
        out.append((1 << group) - 1)
        for _ in range(group):
            offset = (write + 100) % 4096
            out += struct.pack(">H", (offset << 4) | 15)
            write = (write + 17) % 4096
    out += b"\x01" + struct.pack(">H", (write << 4) | 0)
    return struct.pack("<IIII", len(out) + 12, declared, 0x75465A4C, 0) + bytes(out)


def test_lzfu_never_expands_past_its_declared_size() -> None:
    from leakguard.extract._mapi import lzfu_decompress

    started = time.monotonic()
    rtf, short = lzfu_decompress(_lzfu_bomb(10, 3_000_000), 50 * 1024 * 1024)
    assert time.monotonic() - started < 1
    assert len(rtf) == 10
    assert short == "corrupt"
    plain = b"{\\rtf1 Patient " + NIRS[0].encode() + b"}"
    assert lzfu_decompress(compress_rtf(plain), 1000) == (plain, None)


def test_lzfu_honours_the_deadline_and_says_so() -> None:
    from leakguard.extract._mapi import MapiMessage, message_items

    body = _lzfu_bomb(30_000_000, 30_000_000)
    budget = Budget(deadline=Deadline.after(0.3))
    started = time.monotonic()
    items = list(
        message_items(MapiMessage(rtf_compressed=body), _loc("winmail.dat"), Context(budget))
    )
    assert time.monotonic() - started < 5
    assert ("timeout", "None") in _problems(items)


# ------------------------------------------------------------------ archives


def test_a_single_eml_that_starts_with_a_from_line_is_one_message(tmp_path: Path) -> None:
    path = tmp_path / "export.eml"
    path.write_bytes(
        b"From secretariat@clinique-exemple.fr Mon Jan  5 09:00:00 2026\n"
        b"From: secretariat@clinique-exemple.fr\nTo: dr.martin@gmail.com\nSubject: Liste\n\n"
        b"Voici la liste.\nFrom the registry, patient:\n" + CSV
    )
    [item] = list(iter_messages(path))
    verdict = Guard().check(item.data)
    assert "nir" in _kinds(verdict)


def test_an_mbox_with_a_byte_order_mark_is_an_mbox(tmp_path: Path) -> None:
    path = tmp_path / "Sent"
    first = b"From: a@clinique-exemple.fr\nTo: b@gmail.com\nSubject: un\n\n" + CSV
    second = b"From: a@clinique-exemple.fr\nTo: c@gmail.com\nSubject: deux\n\nRien.\n"
    path.write_bytes(
        b"\xef\xbb\xbfFrom a@x Mon Jan  5 09:00:00 2026\n" + first
        + b"\nFrom a@x Mon Jan  5 10:00:00 2026\n" + second
    )  # fmt: skip
    items = list(iter_messages(path))
    assert [i.source for i in items] == [f"{path}#1", f"{path}#2"]
    assert "nir" in _kinds(Guard().check(items[0].data))


def test_a_damaged_pst_is_reported_item_by_item_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pypff")
    from test_archives_pst import enron_pst

    source = enron_pst.__wrapped__()  # type: ignore[attr-defined]
    data = bytearray(source.read_bytes())
    # Eight bytes changed at random places: with this seed libpff raises OSError from
    # inside the folder walk.
    rng = random.Random(19)
    for _ in range(8):
        data[rng.randrange(len(data))] = rng.randrange(256)
    damaged = tmp_path / "damaged.pst"
    damaged.write_bytes(bytes(data))
    items = list(iter_messages(damaged))
    assert any(i.error is not None for i in items)
    assert sum(1 for i in items if i.error is None) > 0
    other = tmp_path / "other.eml"
    other.write_bytes(outside_message(body=f"NIR {NIRS[0]}").as_bytes())
    code, out, err = run(capsys, "scan", "--format", "json", str(damaged), str(other))
    assert "Traceback" not in err
    assert code in (0, 1, 2)
    sources = [m["source"] for m in json.loads(out)["messages"]]
    assert str(other) in sources
    assert any(s.startswith(str(damaged)) for s in sources)


def test_readers_budget_bytes_are_counted_for_pdf_streams() -> None:
    budget = Budget(Limits(max_total_bytes=10_000_000))
    pdf = pdf_file([[text_stream(f"NIR {NIRS[0]}")]])
    items = list(extract(pdf, _loc("a.pdf"), budget=budget, filename="a.pdf"))
    assert NIRS[0] in _text(items).replace(" ", "")
    assert budget.bytes_used > 0


def test_iter_content_reads_a_liar_with_the_same_answer_as_check() -> None:
    raw = _bytes(LIARS["name .pgp"])
    items = list(iter_content(load_message(raw)))
    assert ("mislabelled", "pgp") in _problems(items)
