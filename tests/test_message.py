"""The message model: loading from every kind of source, and walking a message into
located text chunks and problems (bodies, attachments, forwarded messages, encryption,
charsets, mislabelled parts, malformed MIME)."""

from __future__ import annotations

import base64
import email
import io
import sys
from email.message import EmailMessage
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docs_factory import (
    PGP_SYMMETRIC_ARMOUR,
    SAMPLE_IBAN,
    SAMPLE_NIR,
    Attachment,
    contains_value,
    make_detached_signature,
    make_docx,
    make_eml,
    make_pdf,
    make_pgp_eml,
    make_signed_eml,
    make_smime_eml,
    make_xlsx,
    make_zip,
    mask,
)
from leakguard.errors import InputError
from leakguard.extract import Limits, Problem, TextChunk
from leakguard.extract.ocr import available as ocr_available
from leakguard.guard import scan
from leakguard.message import document_content, iter_content, load_message

NIR = SAMPLE_NIR
IBAN = SAMPLE_IBAN


def walk(raw: bytes | EmailMessage, **kw: Limits) -> list[TextChunk | Problem]:
    return list(iter_content(load_message(raw), **kw))


def texts(items: list[TextChunk | Problem]) -> dict[str, str]:
    """Text per location, all chunks of one location joined."""
    out: dict[str, str] = {}
    for item in items:
        if isinstance(item, TextChunk):
            out[item.location.where] = out.get(item.location.where, "") + "\n" + item.text
    return out


def problems(items: list[TextChunk | Problem]) -> list[tuple[str, str, str | None]]:
    return [(p.location.where, p.reason, p.container) for p in items if isinstance(p, Problem)]


def found_at(items: list[TextChunk | Problem], location: str, value: str) -> bool:
    return contains_value(texts(items).get(location, ""), value)


# --------------------------------------------------------------------------- loading


def test_load_message_from_every_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = make_eml(subject="Bonjour")
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    parsed = email.message_from_bytes(raw, policy=compat32)

    class Stdin:
        buffer = io.BytesIO(raw)

    monkeypatch.setattr(sys, "stdin", Stdin())
    sources: list[object] = [raw, bytearray(raw), str(path), path, io.BytesIO(raw), parsed, "-"]
    for source in sources:
        msg = load_message(source)  # type: ignore[arg-type]
        assert isinstance(msg, EmailMessage), type(source)
        assert msg["subject"] == "Bonjour", type(source)
    ready = load_message(raw)
    assert load_message(ready) is ready


def test_unreadable_paths_raise_input_error_with_a_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "nope.eml"
    with pytest.raises(InputError) as info:
        load_message(missing)
    assert str(info.value) == (
        f"Cannot read the message file {str(missing)!r}: there is no such file."
    )
    assert info.value.message("fr") == (
        f"Impossible de lire le fichier de message {str(missing)!r} : ce fichier n'existe pas."
    )
    with pytest.raises(InputError) as info:
        load_message(tmp_path)
    assert str(info.value).endswith("it is a folder, not a file.")
    assert info.value.message("fr").endswith("c'est un dossier, pas un fichier.")
    assert info.value.code == "input"


def test_load_message_never_raises_on_malformed_mime() -> None:
    for raw in (b"", b"\x00\xff" * 50, b"Content-Type: multipart/mixed\r\n\r\nno boundary",
                b"Subject: =?bogus?Q?x?=\r\n\r\nbody", b":::\r\n\r\n"):  # fmt: skip
        msg = load_message(raw)
        assert isinstance(msg, EmailMessage)
        assert all(isinstance(i, TextChunk | Problem) for i in iter_content(msg))


# --------------------------------------------------------------------------- walking


def test_subject_body_and_html_alternative() -> None:
    raw = make_eml(
        subject=f"Dossier {NIR}",
        body=f"IBAN : {IBAN}\n",
        html=f"<p>NIR <b>{NIR}</b></p><script>x</script>",
    )
    items = walk(raw)
    assert problems(items) == []
    assert found_at(items, "subject", NIR), f"subject lost {mask(NIR)}"
    body = texts(items)["body"]
    assert contains_value(body, IBAN) and contains_value(body, NIR), "body parts lost"
    assert "<b>" not in body and "script" not in body


def test_attachments_named_unnamed_and_inline() -> None:
    raw = make_eml(
        attachments=[
            Attachment(make_pdf([f"NIR {NIR}"]), "bordereau.pdf", "application/pdf"),
            Attachment(make_xlsx([["x", IBAN]]), None),
            Attachment(make_docx([NIR]), "lettre.docx", inline=True),
            Attachment(b"\x89PNG\r\n\x1a\n" + bytes(40), "logo.png", "image/png", inline=True),
            Attachment(b"\xff\xd8\xff\xe0" + bytes(40), "photo.jpg", "image/jpeg"),
        ]
    )
    items = walk(raw)
    assert found_at(items, "attachment:bordereau.pdf", NIR)
    assert found_at(items, "attachment:part-3.xlsx", IBAN), sorted(texts(items))
    assert found_at(items, "attachment:lettre.docx", NIR)
    # An inline picture is decoration; an attached photo may be a scanned document, so it
    # goes to OCR (this one is damaged), or is reported when OCR is not installed.
    reason = "corrupt" if ocr_available() else "no_ocr"
    assert problems(items) == [("attachment:photo.jpg", reason, None)]


def test_encoded_and_long_filenames() -> None:
    raw = _raw_attachment_message(
        b'Content-Type: application/octet-stream; name="=?utf-8?b?Y29tcHRlLXJlbmR1LnR4dA==?="'
    )
    assert _places(walk(raw)) == ["subject", "attachment:compte-rendu.txt"]
    raw = _raw_attachment_message(
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sultat.txt"
    )
    assert _places(walk(raw)) == ["subject", "attachment:résultat.txt"]
    raw = _raw_attachment_message(
        b'Content-Type: text/plain; name="C:\\Users\\moi\\' + b"x" * 300 + b'.txt"'
    )
    assert _places(walk(raw)) == ["subject", "attachment:" + "x" * 196 + ".txt"]


def _places(items: list[TextChunk | Problem]) -> list[str]:
    """The places read, in order, each once (a file's name and its text share one)."""
    return list(dict.fromkeys(i.location.where for i in items))


def _raw_attachment_message(part_headers: bytes) -> bytes:
    return (
        b'Subject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n'
        b"\r\n--b\r\n" + part_headers + b"\r\n\r\nNIR " + NIR.encode() + b"\r\n--b--\r\n"
    )


def test_invented_names_are_stable() -> None:
    raw = make_eml(attachments=[Attachment(make_pdf(["a"]), None), Attachment(b"x", None)])
    first = [i.location.where for i in walk(raw)]
    assert first == [i.location.where for i in walk(raw)]
    assert "attachment:part-2.pdf" in first


def test_mislabelled_attachments_are_read_by_their_bytes() -> None:
    raw = make_eml(
        attachments=[
            Attachment(make_pdf([f"NIR {NIR}"]), "scan.bin", "application/octet-stream"),
            Attachment(make_docx([f"IBAN {IBAN}"]), "notes.txt", "text/plain"),
        ]
    )
    items = walk(raw)
    assert problems(items) == []
    assert found_at(items, "attachment:scan.bin", NIR), "PDF named .bin not read"
    assert found_at(items, "attachment:notes.txt", IBAN), "DOCX named .txt not read"


def test_a_document_in_an_unnamed_text_part_is_not_taken_for_the_body() -> None:
    msg = EmailMessage()
    msg["Subject"] = "x"
    msg.set_content("corps")
    msg.add_attachment(make_docx([NIR]), maintype="text", subtype="plain")
    part = msg.get_payload()[-1]
    del part["Content-Disposition"]
    items = walk(msg)
    assert found_at(items, "attachment:part-2.docx", NIR), sorted(texts(items))


def test_forwarded_messages_are_read_recursively_with_nested_locations() -> None:
    innermost = make_eml(
        subject=f"Innermost {NIR}",
        body="deep body",
        attachments=[Attachment(make_pdf([f"IBAN {IBAN}"]), "rib.pdf", "application/pdf")],
    )
    middle = make_eml(subject="Middle", body=f"middle body {NIR}", forwarded=[innermost])
    outer = make_eml(
        subject="Outer",
        body="see below",
        forwarded=[middle],
        attachments=[Attachment(make_zip({"mail.eml": innermost}), "mails.zip")],
    )
    items = walk(outer)
    assert problems(items) == []
    located = texts(items)
    assert contains_value(located["attachment:part-3.eml"], NIR), sorted(located)
    assert contains_value(located["attachment:part-3.eml/part-2.eml"], NIR)
    assert contains_value(located["attachment:part-3.eml/part-2.eml/rib.pdf"], IBAN)
    # A message inside a ZIP is read as a message too.
    assert contains_value(located["attachment:mails.zip/mail.eml"], NIR)
    assert contains_value(located["attachment:mails.zip/mail.eml/rib.pdf"], IBAN)


def test_forwarded_message_in_base64_is_decoded() -> None:
    inner = make_eml(subject="x", body=f"NIR {NIR}")
    import base64

    raw = (
        b"From: a@b.example\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain'
        b"\r\n\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(inner).replace(b"\n", b"\r\n")
        + b"\r\n--b--\r\n"
    )
    assert found_at(walk(raw), "attachment:part-2.eml", NIR)


def test_forwarding_depth_is_limited() -> None:
    raw = make_eml(subject="0", body=NIR)
    for level in range(1, 5):
        raw = make_eml(subject=str(level), body="x", forwarded=[raw])
    items = walk(raw, limits=Limits(max_depth=2))
    assert [reason for _, reason, _ in problems(items)] == ["too_deep"]


def test_smime_and_pgp_encryption_are_reported() -> None:
    secret = f"Content-Type: text/plain\r\n\r\nNIR {NIR}\r\n".encode()
    items = walk(make_smime_eml(secret))
    assert problems(items) == [("body", "encrypted", "smime")]
    items = walk(make_smime_eml(secret, as_attachment=True))
    assert ("attachment:smime.p7m", "encrypted", "smime") in problems(items)
    items = walk(make_pgp_eml())
    assert problems(items) == [("body", "encrypted", "pgp")]
    inline = make_eml(body=PGP_SYMMETRIC_ARMOUR)
    assert problems(walk(inline)) == [("body", "encrypted", "pgp")]


def test_opaque_signed_content_is_read() -> None:
    inner = make_eml(
        subject="inner",
        body=f"NIR {NIR}",
        attachments=[Attachment(make_pdf([f"IBAN {IBAN}"]), "rib.pdf", "application/pdf")],
    )
    entity = inner.split(b"\r\n\r\n", 1)
    headers = b"\r\n".join(
        line for line in entity[0].split(b"\r\n") if line.lower().startswith(b"content-")
    )
    items = walk(make_signed_eml(headers + b"\r\n\r\n" + entity[1]))
    assert problems(items) == []
    assert found_at(items, "body", NIR), sorted(texts(items))
    assert found_at(items, "attachment:rib.pdf", IBAN)


def test_pkcs7_parsing_tolerates_junk() -> None:
    from leakguard.extract.pkcs7 import cms_kind, signed_content

    for junk in (b"", b"\x30", b"\x30\x80", b"\x30\x84\xff\xff\xff\xff", b"\x30\x80" * 200):
        assert cms_kind(junk) is None
        assert signed_content(junk) is None


def test_signatures_are_skipped_not_reported() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
        b'boundary="s"\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\nNIR '
        + NIR.encode()
        + b"\r\n--s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(make_detached_signature(b"NIR " + NIR.encode()))
        + b"\r\n--s--\r\n"
    )
    items = walk(raw)
    assert problems(items) == []
    assert found_at(items, "body", NIR)


def test_a_signature_part_that_is_no_signature_is_read() -> None:
    listing = f"nom;nir\nDupont;{NIR}\n".encode()
    raw = (
        b"From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
        b'boundary="s"\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n'
        b"--s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(listing) + b"--s--\r\n"
    )
    items = walk(raw)
    assert ("attachment:smime.p7s", "mislabelled", "smime") in problems(items)
    assert found_at(items, "attachment:smime.p7s", NIR)


# --------------------------------------------------------------------------- charsets


def _raw_text_message(body: bytes, content_type: str, cte: str = "8bit") -> bytes:
    return (
        b"From: a@b.example\r\nSubject: c\r\nMIME-Version: 1.0\r\nContent-Type: "
        + content_type.encode()
        + b"\r\nContent-Transfer-Encoding: "
        + cte.encode()
        + b"\r\n\r\n"
        + body
    )


WORDS = "Arrêt de travail, sécurité sociale, médecin traitant"


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [
        ("latin-1", "text/plain; charset=utf-8"),
        ("utf-8", "text/plain; charset=iso-8859-1"),
        ("utf-8", "text/plain"),
        ("cp1252", "text/plain"),
        ("latin-1", "text/html; charset=utf-8"),
        ("utf-8", "text/plain; charset=x-unknown-charset"),
    ],
)
def test_wrong_and_missing_charsets_are_recovered(encoding: str, declared: str) -> None:
    body = WORDS.encode(encoding)
    if "html" in declared:
        body = b"<p>" + body + b"</p>"
    items = walk(_raw_text_message(body, declared))
    assert texts(items)["body"].strip() == WORDS


def test_a_message_built_in_python_with_8bit_unicode() -> None:
    msg = EmailMessage()
    msg["Subject"] = "Arrêt"
    msg.set_content(f"{WORDS} € {NIR}\n")
    items = walk(msg)
    assert texts(items)["body"].startswith("\n" + WORDS + " €")
    assert found_at(items, "body", NIR)


def test_body_over_the_part_limit_is_reported() -> None:
    items = walk(make_eml(body="x" * 5000), limits=Limits(max_part_bytes=1000))
    assert problems(items) == [("body", "too_large", None)]


def test_encoded_and_raw_8bit_subjects() -> None:
    raw = b"Subject: =?utf-8?q?Arr=C3=AAt?= de travail\r\n\r\nx"
    assert texts(walk(raw))["subject"].strip() == "Arrêt de travail"
    raw = "Subject: Arrêt de travail\r\n\r\nx".encode("latin-1")
    assert texts(walk(raw))["subject"].strip() == "Arrêt de travail"


@pytest.mark.parametrize("subject", ["Réf", "Hépatite C", "N° SS 1850575112345"])
def test_a_short_latin_1_subject_is_read_as_written(subject: str) -> None:
    # Too short for a charset guess (one read "N° SS" as Japanese, losing the keyword a
    # NIR without its key needs): unencoded 8-bit bytes are UTF-8, else Windows-1252.
    raw = f"Subject: {subject}\r\n\r\nx".encode("latin-1")
    assert texts(walk(raw))["subject"].strip() == subject
    if "SS" in subject:
        assert [(f.kind, str(f.location)) for f in scan(raw)] == [("nir", "subject")]


# --------------------------------------------------------------------------- encodings


def test_quoted_printable_body() -> None:
    body = b"NIR =\r\n1 85 05 75 112 345 29 caf=C3=A9"
    raw = _raw_text_message(body, "text/plain; charset=utf-8", "quoted-printable")
    assert found_at(walk(raw), "body", NIR)


def test_base64_without_padding_or_with_junk_is_decoded_as_far_as_possible() -> None:
    import base64

    encoded = base64.b64encode(f"NIR {NIR} fin".encode()).rstrip(b"=")
    items = walk(_raw_text_message(encoded, "text/plain", "base64"))
    assert problems(items) == []
    assert found_at(items, "body", NIR)
    damaged = encoded[:8] + b"!!" + encoded[8:]
    items = walk(_raw_text_message(damaged, "text/plain", "base64"))
    assert problems(items) == [("body", "corrupt", None)]
    assert found_at(items, "body", NIR), "the readable part of a damaged body was dropped"


# --------------------------------------------------------------------------- documents alone


def test_document_content_reads_a_document_or_a_message() -> None:
    items = list(document_content(make_pdf([NIR]), name="report.pdf"))
    assert found_at(items, "attachment:report.pdf", NIR)
    items = list(document_content(make_eml(subject=NIR, body=IBAN), name="m.eml"))
    assert found_at(items, "subject", NIR) and found_at(items, "body", IBAN)
    items = list(document_content(b"x" * 100, name="big.txt", limits=Limits(max_part_bytes=10)))
    assert problems(items) == [("attachment:big.txt", "too_large", None)]


def test_limits_and_budget_are_honoured() -> None:
    raw = make_eml(body="word " * 200)
    items = walk(raw, limits=Limits(max_text_chars=50))
    assert sum(len(i.text) for i in items if isinstance(i, TextChunk)) == 50
    assert ("body", "too_large", None) in problems(items)
    big = make_eml(attachments=[Attachment(b"y" * 5000, "a.txt", "text/plain")])
    items = walk(big, limits=Limits(max_total_bytes=3000))
    assert ("attachment:a.txt", "too_large", None) in problems(items)


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(data: bytes) -> None:
    items = list(iter_content(load_message(data)))
    assert all(isinstance(i, TextChunk | Problem) for i in items)


_CTYPES = [
    "text/plain", "text/html", "application/pdf", "application/octet-stream",
    "message/rfc822", "multipart/mixed", "multipart/alternative", "multipart/encrypted",
    "application/pkcs7-mime", "image/png", "text/csv", "application/zip", "bogus",
    "text/plain; charset=bogus", "text/plain; charset=utf-16",
]  # fmt: skip
_CTES = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus"]


@st.composite
def mime_messages(draw: st.DrawFn, depth: int = 0) -> bytes:
    boundary = draw(st.sampled_from(["b", "bb", "x y", ""]))
    headers = [
        f'Content-Type: {draw(st.sampled_from(_CTYPES))}; boundary="{boundary}"',
        f"Content-Transfer-Encoding: {draw(st.sampled_from(_CTES))}",
        f"Content-Disposition: {draw(st.sampled_from(['attachment', 'inline', 'x']))}; "
        f'filename="{draw(st.text(max_size=10))}"',
        f"Subject: {draw(st.text(max_size=30))}",
    ]
    chosen = draw(st.lists(st.sampled_from(headers), max_size=4, unique=True))
    parts = [draw(st.binary(max_size=300))]
    if depth < 2:
        parts += draw(st.lists(mime_messages(depth + 1), max_size=3))
    body = b"".join(b"\r\n--" + boundary.encode() + b"\r\n" + p for p in parts)
    if draw(st.booleans()):
        body += b"\r\n--" + boundary.encode() + b"--\r\n"
    head = "\r\n".join(chosen).encode("utf-8", "surrogatepass")
    return head + b"\r\n\r\n" + body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mime_messages())
def test_random_mime_never_raises_and_terminates(raw: bytes) -> None:
    items = list(iter_content(load_message(raw)))
    assert all(isinstance(i, TextChunk | Problem) for i in items)
    assert all(i.location.where for i in items)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80), st.text("AB+/=\n\r -_x", max_size=6), st.integers(0, 120))
def test_base64_fast_path_decodes_as_the_segments_do(data: bytes, noise: str, at: int) -> None:
    # A large attachment in clean base64 is decoded at once; anything unusual (junk,
    # URL-safe letters, padding inside, a cut stream) goes through the segments.
    from leakguard.message import _b64_segments, _b64decode

    clean = base64.encodebytes(data)
    for raw in (
        clean,
        clean[:at] + noise.encode() + clean[at:],
        clean.rstrip(b"\n="),
        clean + b"=",
        noise.encode(),
    ):
        assert _b64decode(raw) == _b64_segments(raw)
