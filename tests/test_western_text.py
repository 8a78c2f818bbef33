"""8-bit text without a charset, or under one that lies: read as UTF-8 where it is UTF-8
and as Windows-1252 (what French mail clients assume) where it is not, so that a NIR
written among accented words and non-breaking spaces is found whatever the label."""

from __future__ import annotations

import base64
import codecs
import io
import os
import quopri
import re
import zipfile
from base64 import encodebytes as b64encode
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from docs_factory import SAMPLE_NIR, make_docx, mask
from leakguard.core import Action
from leakguard.extract.ocr import available as ocr_available
from leakguard.extract.text import decode_text, looks_ebcdic, readings
from mime_liars import HEAD, NIR, assert_caught, multipart, nir_found

# --------------------------------------------------------------------------- charsets

# Latin-1 texts that charset guessing misread (each found by a search over short texts):
# the bytes around the NIR were taken for Chinese or Korean letters glued to it.
LATIN_TEXTS = [
    f"père {NIR}\xa0élève",
    f"«\xa0{NIR}\xa0»",
    f"père élève mère : {NIR}\xa0ça père",
    f"N° de sécurité sociale\xa0: {NIR.replace(' ', chr(0xA0))}",
    f"Réf. {NIR} — déjà reçu, œuvre à «\xa0l'Hôpital\xa0»",
]


def text_message(body: bytes, content_type: bytes, *, cte: bytes = b"8bit") -> bytes:
    return (
        HEAD
        + b"MIME-Version: 1.0\nContent-Type: "
        + content_type
        + b"\nContent-Transfer-Encoding: "
        + cte
        + b"\n\n"
        + body
    )


@pytest.mark.parametrize("text", LATIN_TEXTS)
@pytest.mark.parametrize(
    "content_type",
    [
        b"text/plain",
        b"text/plain; charset=us-ascii",  # the usual lie of an old mail program
        b"text/plain; charset=utf-8",
        b'text/plain; charset="ISO-8859-1"',
        b"text/plain; CHARSET='Latin1'",
        b"text/plain; charset=Windows-1252",
        b"text/plain; charset=x-unknown",
        b"text/plain;\n charset=\n iso-8859-15",
    ],
)
def test_latin1_body_without_a_trustworthy_charset(
    text: str, content_type: bytes, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert_caught(text_message(text.encode("cp1252"), content_type), capsys, tmp_path)


@pytest.mark.parametrize("text", LATIN_TEXTS[:3])
@pytest.mark.parametrize(
    "content_type",
    [b"text/plain; name=note.txt", b"text/csv; name=note.csv", b"application/octet-stream; name=n"],
)
def test_latin1_attachment_without_a_charset(
    text: str, content_type: bytes, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert_caught(attached_as(content_type, text.encode("latin-1")), capsys, tmp_path)


def attached_as(content_type: bytes, data: bytes) -> bytes:
    """A message with ``data`` attached in base64 under ``content_type``."""
    head = b"Content-Type: " + content_type + b"\nContent-Transfer-Encoding: base64\n"
    return multipart(head, base64.encodebytes(data))


@pytest.mark.parametrize("text", LATIN_TEXTS[:3])
def test_latin1_after_a_utf8_byte_order_mark(
    text: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The mark says UTF-8, the text after it is not: it is read as Western text, not as
    # replacement characters in place of the separators.
    body = codecs.BOM_UTF8 + text.replace(" ", "\xa0").encode("latin-1")
    assert_caught(text_message(body, b"text/plain"), capsys, tmp_path)


def test_utf8_with_a_stray_latin1_byte_keeps_its_separators() -> None:
    # A UTF-8 text (non-breaking spaces inside the NIR) with one Latin-1 byte pasted in:
    # the UTF-8 is read as UTF-8 and the stray byte as Windows-1252.
    text = f"Dossier de l'élève, né à Orléans : {NIR.replace(' ', chr(0xA0))} ; mère : "
    data = text.encode("utf-8") + "Hélène".encode("latin-1")
    assert decode_text(data) == text + "Hélène"
    assert decode_text(data, "utf-8") == text + "Hélène"


def test_valid_utf8_wins_and_cp1252_fills_the_gaps() -> None:
    assert decode_text("élève".encode()) == "élève"
    assert decode_text("élève".encode(), "iso-8859-1") == "élève"
    # Windows-1252's letters where ISO 8859-1 has control codes, as mail clients read it.
    assert decode_text("cœur – l’œil €".encode("cp1252"), "iso-8859-1") == "cœur – l’œil €"
    assert decode_text(b"\x81\x8d\x8f\x90\x9d\xe9") == "\x81\x8d\x8f\x90\x9dé"


_CP1252_TEXT = st.text(
    alphabet=st.characters(
        codec="cp1252", exclude_categories=("Cc", "Cs"), include_characters="\n\t"
    ),
    max_size=40,
)


def _utf8_dominates(data: bytes) -> bool:
    """Whether more characters of ``data`` read as UTF-8 sequences than as stray bytes."""
    text = data.decode("utf-8", "surrogateescape")
    stray = len(re.findall("[\udc80-\udcff]", text))
    multi = len(re.findall("[^\x00-\x7f\udc80-\udcff]", text))
    return multi > stray


@settings(max_examples=300, deadline=None)
@given(text=_CP1252_TEXT, declared=st.sampled_from([None, "us-ascii", "utf-8", "windows-1252"]))
def test_western_text_reads_back_as_written(text: str, declared: str | None) -> None:
    """Any Windows-1252 text not written mostly in UTF-8 sequences reads back exactly,
    whatever charset was declared over it (none, a lie, or the truth)."""
    data = text.encode("cp1252")
    assume(not _utf8_dominates(data))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        assume(data.isascii())
    assert decode_text(data, declared) == text


_WORDS = st.sampled_from(
    ["élève", "père", "mère", "né", "à", "À", "ça", "déjà", "où", "Hôpital", "Françoise",
     "Orléans", "sécurité", "sociale", "n°", "réf.", "œuvre", "cœur", "Noël", "naïf",
     "dossier", "Dr", "«", "»", "—", "’", "€", "±", "²", "µg", "ÉCOLE", "Îles"]
)  # fmt: skip
_AROUND = st.lists(_WORDS, max_size=6).map(" ".join)
_EDGE = st.sampled_from([" ", "\xa0", " : ", "\xa0:\xa0", "\n", " «\xa0", "\xa0» ", "(", ")"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=_AROUND,
    after=_AROUND,
    left=_EDGE,
    right=_EDGE,
    separator=st.sampled_from([" ", "\xa0", ".", "-"]),
    encoding=st.sampled_from(["latin-1", "cp1252"]),
    declared=st.sampled_from([b"", b"; charset=us-ascii", b"; charset=utf-8"]),
)
def test_a_nir_in_western_text_is_found_whatever_surrounds_it(
    before: str,
    after: str,
    left: str,
    right: str,
    separator: str,
    encoding: str,
    declared: bytes,
) -> None:
    text = before + left + SAMPLE_NIR.replace(" ", separator) + right + after
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("cp1252")
    action, found = nir_found(text_message(data, b"text/plain" + declared))
    assert ("nir", "body") in found, f"NIR {mask(SAMPLE_NIR)} not found: {found}"
    assert action is not Action.ALLOW


# --------------------------------------------------------------------------- inside files

LATIN_NOTE = f"Né à Orléans, n°\xa0{NIR.replace(' ', chr(0xA0))}"


def attached(name: str, content_type: str, data: bytes) -> bytes:
    head = f"Content-Type: {content_type}; name={name}\nContent-Disposition: attachment\n"
    return multipart(head.encode() + b"Content-Transfer-Encoding: base64\n", b64encode(data))


@pytest.mark.parametrize("charset", ["", ";CHARSET=UTF-8", ";CHARSET=X-NONE"])
def test_a_vcard_note_in_latin1_quoted_printable(
    charset: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    qp = quopri.encodestring(LATIN_NOTE.encode("latin-1")).decode().replace("=\n", "")
    note = f"NOTE;ENCODING=QUOTED-PRINTABLE{charset}:{qp}"
    card = f"BEGIN:VCARD\nVERSION:2.1\nN:Durand;Marie\n{note}\nEND:VCARD\n"
    assert_caught(attached("carte.vcf", "text/vcard", card.encode()), capsys, tmp_path)


def test_a_damaged_latin1_xml_member_of_a_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Not well-formed and without its encoding: read as text between the tags, in the
    # charset its bytes are in.
    docx = io.BytesIO(make_docx(["Compte rendu"]))
    with zipfile.ZipFile(docx, "a") as zf:
        zf.writestr("customXml/item1.xml", b"<note><p>" + LATIN_NOTE.encode("latin-1") + b"</note>")
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert_caught(attached("cr.docx", mime, docx.getvalue()), capsys, tmp_path)


@pytest.mark.skipif(not ocr_available() and not os.environ.get("CI"), reason="OCR not installed")
def test_a_latin1_picture_comment(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(out, "JPEG", comment=LATIN_NOTE.encode("latin-1"))
    assert_caught(attached("photo.jpg", "image/jpeg", out.getvalue()), capsys, tmp_path)


LYING_CHARSETS = ["gb18030", "gbk", "big5hkscs", "johab", "koi8-r", "cp437", "cp037", "utf-16"]


@pytest.mark.parametrize("charset", LYING_CHARSETS)
@pytest.mark.parametrize(
    ("content_type", "name"),
    [("text/plain", None), ("text/html", None), ("text/plain", "n.txt"), ("text/csv", "n.csv")],
)
def test_a_charset_that_turns_western_text_into_other_letters(
    charset: str, content_type: str, name: str | None
) -> None:
    """Nearly any bytes decode in these charsets: a French text labelled so is read in
    the charset said and as Western text, and its NIR found either way."""
    for text in LATIN_TEXTS:
        data = text.encode("cp1252")
        declared = f"{content_type}; charset={charset}"
        raw = (
            text_message(data, declared.encode())
            if name is None
            else attached(name, declared, data)
        )
        action, found = nir_found(raw)
        assert action is not Action.ALLOW and "nir" in [k for k, _ in found], (
            f"NIR {mask(NIR)} hidden by charset={charset}: {found}"
        )


def test_an_honest_foreign_charset_is_read_as_declared() -> None:
    # Russian in KOI8-R: read as the label says (the Western reading comes on top).
    text = f"Полис: {NIR}"
    assert decode_text(text.encode("koi8-r"), "koi8-r") == text


@pytest.mark.parametrize("charset", ["utf-8", "us-ascii", "x-unknown", "gb18030", "koi8-r"])
@pytest.mark.parametrize("encoding", ["Q", "B"])
def test_a_latin1_subject_in_encoded_words_under_any_label(
    charset: str, encoding: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = LATIN_NOTE.encode("latin-1")
    if encoding == "B":
        word = base64.b64encode(data).decode()
    else:
        word = "".join(f"={b:02X}" if b > 126 or b in b" =?_" else chr(b) for b in data)
    raw = HEAD.replace(b"Subject: Dossier", f"Subject: =?{charset}?{encoding}?{word}?=".encode())
    assert_caught(raw + b"\nBonjour\n", capsys, tmp_path)


# --------------------------------------------------------------------------- EBCDIC

# A mainframe's export: records of numbers, or lines of text, in EBCDIC. Read as 8-bit
# Western text, its digits are the letters "ðñòóôõö÷øù" and its spaces "@".
EBCDIC_EXPORTS = [
    f"ASSURE DUPONT JEAN NIR {NIR} CAISSE 441 MONTANT 23,50",
    f"Patient : Mme Martin, n° de sécurité sociale {NIR}, remboursement effectué.",
    "\n".join(f"{NIR.replace(' ', '')};{d:08d};{d % 97:02d}" for d in range(20)),
]


@pytest.mark.parametrize("text", EBCDIC_EXPORTS, ids=["record", "letter", "rows"])
@pytest.mark.parametrize(
    "content_type",
    [b"application/octet-stream; name=export.dat", b"text/plain; charset=us-ascii"],
    ids=["octet-stream", "us-ascii"],
)
def test_an_ebcdic_export_is_read_in_ebcdic(
    text: str, content_type: bytes, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert_caught(attached_as(content_type, text.encode("cp500")), capsys, tmp_path)


WESTERN_WORDS = st.lists(
    st.sampled_from(
        ["le", "patient", "élève", "reçu", "à", "N°", "ðñòó", "@", "a@b.fr", "1 85", ";", "-"]
    ),
    min_size=4,
    max_size=40,
).map(" ".join)
# Prose as a mainframe would hold it: words, a few accents, numbers, little punctuation.
PROSE_WORDS = st.lists(
    st.sampled_from(
        ["le", "patient", "dossier", "numéro", "reçu", "madame", "remboursement", "1 85 05"]
    ),
    min_size=3,
    max_size=40,
).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(WESTERN_WORDS, st.sampled_from(["latin-1", "utf-8", "cp1252"]))
def test_western_text_is_not_taken_for_ebcdic(text: str, charset: str) -> None:
    # Words and spaces (even "@" and the letters EBCDIC digits read as, on purpose):
    # the ASCII space is there, so the text is read as it was written.
    data = text.encode(charset)
    assert not looks_ebcdic(data)
    assert readings(data)[0] == decode_text(data)


@settings(max_examples=200, deadline=None)
@given(PROSE_WORDS.filter(lambda t: len(t) >= 16))
def test_ebcdic_text_reads_back_as_written(text: str) -> None:
    data = text.encode("cp500")
    assert looks_ebcdic(data)
    assert readings(data)[0] == text


def test_binary_data_is_not_taken_for_ebcdic() -> None:
    rng = __import__("random").Random(7)
    assert not any(looks_ebcdic(rng.randbytes(4096)) for _ in range(2000))
