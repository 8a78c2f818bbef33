"""Every place a format can hide text, tried with a liar: a NIR put in that one place of
a real file (a PDF form filled in, a comment, an attached file, an earlier revision; a
Word document's properties, chart cache or embedded workbook; a calendar invitation's
folded line; a uuencoded file in a body; a part whose transfer encoding or charset
lies…). Each place is either read (the NIR is found) or reported unread
(``unscannable_attachment`` with its reason); none passes in silence.

docs/content.md lists the places and what is done with each.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import content_factory as cf
from docs_factory import (
    Attachment,
    make_csv,
    make_docx,
    make_eml,
    make_pdf,
    make_zip,
    mask,
)
from helpers import NIR, NIR_SPACED
from leakguard.content import scan_chunks
from leakguard.core import Finding, Fingerprinter
from leakguard.extract import Budget, Limits, Problem, TextChunk, extract
from leakguard.extract.ocr import available
from leakguard.guard import scan

FP = Fingerprinter(b"c" * 32)
NIR_PRINT = FP("nir", NIR)
CSV = make_csv([["nom", "nir"], ["DUPONT", NIR_SPACED]])

needs_ocr = pytest.mark.skipif(not available(), reason="OCR (Pillow and Tesseract) not installed")


def _findings(message: bytes) -> list[Finding]:
    return scan(message, fingerprinter=FP)


def _attached(data: bytes, name: str | None, ctype: str = "application/octet-stream") -> bytes:
    return make_eml(attachments=[Attachment(data, name, ctype)])


def _where_found(findings: list[Finding]) -> list[str]:
    return [f.location.where for f in findings if f.kind == "nir" and f.fingerprint == NIR_PRINT]


def _unread(findings: list[Finding]) -> list[tuple[str, str | None]]:
    return [
        (f.location.where, f.detail)
        for f in findings
        if f.kind == "unscannable_attachment" and f.detail != "encrypted"
    ]


def _assert_read(findings: list[Finding], where: str | None = None) -> None:
    found = _where_found(findings)
    assert found, f"{mask(NIR)} not found; unread: {_unread(findings)}"
    if where is not None:
        assert where in found, f"{mask(NIR)} found at {found}, not at {where}"


# --------------------------------------------------------------------------- PDF


@pytest.mark.parametrize(
    "place",
    [
        "form_field",
        "appearance_only",
        "xfa_datasets",
        "sticky_note",
        "free_text",
        "info",
        "xmp",
        "old_revision",
    ],
)
def test_pdf_text_outside_the_pages_is_read(place: str) -> None:
    pdf = cf.PDF_PLACES[place](NIR_SPACED)
    _assert_read(_findings(_attached(pdf, "cerfa.pdf", "application/pdf")), "attachment:cerfa.pdf")


def test_pdf_form_value_is_in_no_page_content() -> None:
    # The liar is real: PDFium's page text of the filled form has no NIR in it.
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(cf.pdf_form_field(NIR_SPACED))
    try:
        text = doc[0].get_textpage().get_text_range()
    finally:
        doc.close()
    assert "85" not in text


@pytest.mark.parametrize("place", ["hidden_layer", "form_xobject"])
def test_pdf_hidden_layers_and_form_xobjects_stay_read(place: str) -> None:
    pdf = cf.PDF_PLACES[place](NIR_SPACED)
    _assert_read(_findings(_attached(pdf, "doc.pdf", "application/pdf")))


def test_pdf_embedded_file_is_read_under_the_pdf() -> None:
    pdf = cf.pdf_embedded_file(NIR_SPACED)
    findings = _findings(_attached(pdf, "facture.pdf", "application/pdf"))
    _assert_read(findings, "attachment:facture.pdf/patients.csv")


def test_pdf_file_attachment_annotation_is_read(tmp_path: Path) -> None:
    def write(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    pdf = cf.pdf_attachment_annotation(NIR_SPACED, write)
    _assert_read(
        _findings(_attached(pdf, "doc.pdf", "application/pdf")), "attachment:doc.pdf/liste.csv"
    )


def test_a_zip_inside_a_pdf_inside_a_zip_is_read() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.embed_file(bytes=make_zip({"liste.csv": CSV}), basename="inner.zip")
    outer = make_zip({"doc.pdf": bytes(pdf.output())})
    findings = _findings(_attached(outer, "envoi.zip"))
    _assert_read(findings, "attachment:envoi.zip/doc.pdf/inner.zip/liste.csv")


def test_pdf_attachments_past_the_member_limit_are_reported() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    for i in range(5):
        pdf.embed_file(bytes=b"x", basename=f"f{i}.txt")
    items = list(extract(bytes(pdf.output()), _loc("p.pdf"), budget=Budget(Limits(max_members=3))))
    assert any(isinstance(i, Problem) and i.reason == "too_many_members" for i in items)


def test_an_earlier_revision_pdfium_cannot_open_is_reported() -> None:
    # Two end markers with nothing readable before the first: the earlier "revision" is
    # damage, and is said to be.
    pdf = make_pdf(["Rien a signaler"])
    broken = b"%PDF-1.7\n1 0 obj garbage\n%%EOF\n" + pdf
    items = list(extract(broken, _loc("p.pdf"), budget=Budget()))
    reasons = [i.reason for i in items if isinstance(i, Problem)]
    assert reasons in ([], ["corrupt"])  # PDFium may rebuild it from its objects


def _loc(name: str) -> object:
    from leakguard.core import Location

    return Location.attachment(name)


# --------------------------------------------------------------------------- Office


@pytest.mark.parametrize("place", cf.DOCX_PLACES)
def test_word_document_places_are_read(place: str) -> None:
    findings = _findings(_attached(cf.make_docx_with(place, NIR_SPACED), "courrier.docx"))
    _assert_read(findings)
    assert not _unread(findings)


def test_a_workbook_embedded_in_a_word_document_is_read_at_its_own_name() -> None:
    data = cf.make_docx_with("embedded_xlsx", NIR_SPACED)
    findings = _findings(_attached(data, "courrier.docx"))
    _assert_read(findings, "attachment:courrier.docx/Microsoft_Excel_Worksheet.xlsx")


@pytest.mark.parametrize("place", ["header", "footnote", "comment", "textbox", "deleted", "hidden"])
def test_word_places_read_before_stay_read(place: str) -> None:
    _assert_read(_findings(_attached(cf.make_docx_read_already(place, NIR_SPACED), "c.docx")))


@needs_ocr
def test_a_picture_in_a_word_document_is_read_by_ocr() -> None:
    data = cf.make_docx_with("image", NIR_SPACED)
    _assert_read(_findings(_attached(data, "courrier.docx")), "attachment:courrier.docx/image1.png")


@pytest.mark.parametrize("place", cf.XLSX_PLACES)
def test_workbook_places_are_read(place: str) -> None:
    findings = _findings(_attached(cf.make_xlsx_with(place, NIR_SPACED), "export.xlsx"))
    _assert_read(findings)
    assert not _unread(findings)


@pytest.mark.parametrize("place", cf.PPTX_PLACES)
def test_presentation_places_are_read(place: str) -> None:
    findings = _findings(_attached(cf.make_pptx_with(place, NIR_SPACED), "staff.pptx"))
    _assert_read(findings)
    assert not _unread(findings)


@pytest.mark.parametrize("place", ["meta", "form_control", "embedded_object"])
def test_opendocument_places_are_read(place: str) -> None:
    findings = _findings(_attached(cf.make_odt_with(place, NIR_SPACED), "courrier.odt"))
    _assert_read(findings)
    assert not _unread(findings)


def test_a_package_with_too_many_extra_members_is_reported() -> None:
    members = {f"customXml/item{i}.xml": "<a>x</a>" for i in range(6)}
    base = make_docx(["Compte rendu"])
    import zipfile

    buf = io.BytesIO(base)
    with zipfile.ZipFile(buf, "a") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    items = list(extract(buf.getvalue(), _loc("c.docx"), budget=Budget(Limits(max_members=3))))
    assert any(isinstance(i, Problem) and i.reason == "too_many_members" for i in items)


def test_a_file_packaged_in_an_ole_object_is_read() -> None:
    findings = _findings(_attached(cf.ole_package("liste.csv", CSV), "oleObject1.bin"))
    _assert_read(findings, "attachment:oleObject1.bin/liste.csv")
    assert not _unread(findings)  # read for what it is, not skimmed as an unknown file


# --------------------------------------------------------------------------- RTF and HTML


def _rtf(body: str) -> bytes:
    return (
        "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Arial;}}\nTexte\\par\n" + body + "}"
    ).encode()


@pytest.mark.parametrize(
    "group",
    [
        "{\\*\\atnid JD}\\chatn{\\*\\annotation\\pard NIR %s}",  # a comment
        "{\\header NIR %s\\par}",
        "{\\footnote NIR %s}",
        "{\\info{\\title Dossier}{\\subject NIR %s}}",
    ],
    ids=["annotation", "header", "footnote", "info"],
)
def test_rtf_groups_a_person_sees_are_read(group: str) -> None:
    data = _rtf(group % NIR_SPACED + "Suite du texte\\par")
    _assert_read(_findings(_attached(data, "lettre.rtf", "application/rtf")))


def test_rtf_embedded_object_is_read() -> None:
    ole = cf.ole_package("liste.csv", CSV)
    cls = b"Package\0"
    header = (
        (0x0501).to_bytes(4, "little") + (2).to_bytes(4, "little")
        + len(cls).to_bytes(4, "little") + cls + bytes(8) + len(ole).to_bytes(4, "little")
    )  # fmt: skip
    body = "{\\object\\objemb{\\*\\objclass Package}{\\*\\objdata " + (header + ole).hex() + "}}"
    _assert_read(_findings(_attached(_rtf(body), "lettre.rtf", "application/rtf")))


@needs_ocr
def test_rtf_picture_is_read_by_ocr() -> None:
    picture = cf.scan_png(f"NIR {NIR_SPACED}").hex()
    body = "{\\*\\shppict{\\pict\\pngblip\\picw100\\pich40 " + picture + "}}"
    _assert_read(_findings(_attached(_rtf(body), "lettre.rtf", "application/rtf")))


@pytest.mark.parametrize(
    "html",
    [
        "<html><head><title>x</title><p>NIR %s</p></html>",  # a head never closed
        "<html><head><title>NIR %s</title></head><body>x</body></html>",
        "<html><body><form><input name=n value='%s'></form></body></html>",
        "<html><body><img src='x.png' alt='NIR %s'></body></html>",
        "<html><body><!-- NIR %s --><p>x</p></body></html>",
        "<html><body><noscript>NIR %s</noscript></body></html>",
    ],
    ids=["unclosed_head", "title", "input_value", "alt_text", "comment", "noscript"],
)
def test_html_text_outside_the_flow_is_read(html: str) -> None:
    data = (html % NIR_SPACED).encode()
    _assert_read(_findings(_attached(data, "page.html", "text/html")))


# --------------------------------------------------------------------------- mail formats


def test_calendar_invitation_with_the_number_escaped_and_folded() -> None:
    ics = cf.make_ics(NIR)
    assert NIR.encode() not in ics  # the fold does cut the number
    _assert_read(_findings(_attached(ics, "invite.ics", "text/calendar; method=REQUEST")))


def test_vcard_quoted_printable_note() -> None:
    vcf = cf.make_vcard(NIR)
    assert NIR.encode() not in vcf
    _assert_read(_findings(_attached(vcf, "contact.vcf", "text/vcard")))


def test_calendar_attachment_carried_inline_in_base64() -> None:
    encoded = base64.b64encode(CSV).decode()
    ics = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:RDV\r\n"
        + cf.fold(f"ATTACH;ENCODING=BASE64;VALUE=BINARY;FMTTYPE=text/csv:{encoded}", 74)
        + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    _assert_read(_findings(_attached(ics, "invite.ics", "text/calendar")))


@pytest.mark.parametrize(
    ("build", "name", "ctype"),
    [
        (lambda: cf.make_json(NIR), "patient.json", "application/fhir+json"),
        (lambda: cf.make_json_twice(NIR_SPACED), "patient.json", "application/json"),
        (lambda: cf.make_fhir_attachment(NIR_SPACED), "doc.json", "application/json"),
        (lambda: cf.make_cda(NIR_SPACED), "cda.xml", "text/xml"),
        (lambda: cf.make_xml_charrefs(NIR), "export.xml", "application/xml"),
    ],
    ids=[
        "json_escapes",
        "json_key_given_twice",
        "fhir_base64_attachment",
        "cda_base64_pdf",
        "xml_character_references",
    ],
)
def test_health_exchange_formats(build: Callable[[], bytes], name: str, ctype: str) -> None:
    _assert_read(_findings(_attached(build(), name, ctype)))


def test_enriched_text_commands_inside_the_number() -> None:
    data = cf.make_enriched(NIR)
    _assert_read(_findings(_attached(data, None, "text/enriched")))


@pytest.mark.parametrize(
    "encode", [cf.uuencoded, cf.yencoded, cf.binhexed], ids=["uuencode", "yenc", "binhex"]
)
def test_file_written_into_the_body(encode: Callable[[str, bytes], str]) -> None:
    body = "Bonjour,\nvoici la liste.\n\n" + encode("liste.csv", CSV) + "\n\nCordialement\n"
    findings = _findings(make_eml(body=body))
    _assert_read(findings, "attachment:liste.csv")


def test_file_written_into_a_text_attachment() -> None:
    data = cf.uuencoded("liste.csv", CSV).encode()
    _assert_read(
        _findings(_attached(data, "notes.txt", "text/plain")), "attachment:notes.txt/liste.csv"
    )


def test_binhex_part() -> None:
    data = cf.binhexed("liste.csv", CSV).encode()
    _assert_read(_findings(_attached(data, "liste.hqx", "application/mac-binhex40")))


def test_a_uuencoded_file_cut_short_is_read_as_far_as_it_goes_and_reported() -> None:
    text = cf.uuencoded("liste.csv", CSV * 20)
    cut = text[: len(text) * 2 // 3]  # no "end" line
    findings = _findings(make_eml(body="Bonjour\n" + cut))
    _assert_read(findings)
    assert ("attachment:liste.csv", "corrupt") in _unread(findings)


@pytest.mark.parametrize(
    "report",
    ["message/delivery-status", "message/disposition-notification", "text/rfc822-headers"],
)
def test_reports_quoting_header_fields(report: str) -> None:
    encoded = base64.b64encode(f"Dossier {NIR_SPACED}".encode()).decode()
    body = (
        "Reporting-MTA: dns; mx.clinique-exemple.fr\r\n\r\n"
        "Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"X-Original-Subject: =?utf-8?B?{encoded}?=\r\n"
    ).encode()
    findings = _findings(cf.raw_message([({"Content-Type": report}, body)]))
    _assert_read(findings)


def test_message_fragment_is_reported_unsupported() -> None:
    fragment = base64.encodebytes(f"Patient NIR {NIR_SPACED}, suite du dossier.".encode())
    headers = {"Content-Type": 'message/partial; id="frag@clinique"; number=2; total=2'}
    findings = _findings(cf.raw_message([(headers, fragment)]))
    assert any(detail == "unsupported" for _, detail in _unread(findings))


@pytest.mark.parametrize("kind", ["base64_over_plain", "qp_over_base64"])
def test_transfer_encoding_that_lies(kind: str) -> None:
    text = f"Patient suivi en consultation, NIR {NIR_SPACED}, merci de votre retour."
    _assert_read(_findings(cf.raw_message([cf.cte_lie(kind, text)])))


@pytest.mark.parametrize("charset", ["cp037", "cp500", "utf-32"])
def test_charset_in_which_ascii_is_not_ascii_declared_over_ascii(charset: str) -> None:
    part = ({"Content-Type": f"text/plain; charset={charset}"}, f"NIR {NIR_SPACED}".encode())
    _assert_read(_findings(cf.raw_message([part])))


def test_a_real_utf16_text_declared_utf16_is_still_read() -> None:
    part = (
        {"Content-Type": "text/plain; charset=utf-16-le", "Content-Transfer-Encoding": "base64"},
        base64.encodebytes(f"NIR {NIR_SPACED}".encode("utf-16-le")),
    )
    _assert_read(_findings(cf.raw_message([part])))


@pytest.mark.parametrize(
    ("data", "name", "ctype", "inline"),
    [
        (CSV, "liste.pdf", "application/pdf", False),
        (f"NIR {NIR_SPACED}".encode(), "photo.png", "image/png", True),
        (make_zip({"liste.csv": CSV}), None, "text/plain", False),
        (make_docx([f"NIR {NIR_SPACED}"]), None, "application/octet-stream", False),
        (
            make_csv(
                [["nom", "né le", "nir"], ["Hélène", "01/02/1985", NIR_SPACED]], encoding="latin-1"
            ),
            "liste.csv",
            "text/csv",
            False,
        ),
    ],
    ids=["csv_as_pdf", "text_as_png", "zip_as_text", "docx_unnamed", "csv_semicolon_latin1"],
)
def test_types_and_names_that_lie_stay_read(
    data: bytes, name: str | None, ctype: str, inline: bool
) -> None:
    message = make_eml(attachments=[Attachment(data, name, ctype, inline=inline)])
    _assert_read(_findings(message))


def test_outlook_items_inside_each_other_stay_read() -> None:
    from outlook_factory import MsgAttachment, OutlookItem, TnefAttachment, make_msg, make_tnef

    inner_msg = make_msg(
        OutlookItem(subject="Liste", attachments=[MsgAttachment("liste.csv", CSV)])
    )
    outer_msg = make_msg(
        OutlookItem(subject="Envoi", attachments=[MsgAttachment("fwd.msg", inner_msg)])
    )
    inner_tnef = make_tnef(subject="Liste", attachments=[TnefAttachment("liste.csv", CSV)])
    outer_tnef = make_tnef(subject="Envoi", attachments=[TnefAttachment("winmail.dat", inner_tnef)])
    for data, name in ((outer_msg, "envoi.msg"), (outer_tnef, "winmail.dat")):
        _assert_read(_findings(_attached(data, name)))


# --------------------------------------------------------------------------- archives


@pytest.mark.parametrize("kind", ["bz2", "xz"])
def test_compressed_files(kind: str) -> None:
    data = cf.compress(kind, CSV)
    _assert_read(_findings(_attached(data, f"liste.csv.{kind}")))


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_archives(mode: str) -> None:
    data = cf.make_tar({"export/liste.csv": CSV}, mode)
    _assert_read(_findings(_attached(data, "export.tar")))


def test_tar_members_past_the_limit_are_reported() -> None:
    data = cf.make_tar({f"f{i}.txt": b"x" for i in range(5)})
    items = list(extract(data, _loc("a.tar"), budget=Budget(Limits(max_members=3))))
    assert any(isinstance(i, Problem) and i.reason == "too_many_members" for i in items)


def test_bzip2_bomb_is_stopped() -> None:
    data = cf.compress("bz2", bytes(40 * 1024 * 1024))
    items = list(extract(data, _loc("z.bz2"), budget=Budget()))
    assert [i.reason for i in items if isinstance(i, Problem)] == ["compression_ratio"]


@pytest.mark.parametrize(
    ("head", "name"),
    [(b"7z\xbc\xaf\x27\x1c", "a.7z"), (b"Rar!\x1a\x07\x01\x00", "a.rar")],
)
def test_archives_without_a_reader_are_reported_unsupported(head: bytes, name: str) -> None:
    findings = _findings(_attached(head + bytes(256), name))
    assert (f"attachment:{name}", "unsupported") in _unread(findings)


# --------------------------------------------------------------------------- pictures


@needs_ocr
@pytest.mark.parametrize(
    "build", [cf.png_with_text_chunk, cf.jpeg_with_exif], ids=["png_text", "jpeg_exif"]
)
def test_text_in_a_pictures_properties(build: Callable[[str], bytes]) -> None:
    _assert_read(_findings(_attached(build(NIR_SPACED), "photo.img", "image/jpeg")))


@needs_ocr
def test_a_photo_shown_inside_the_message_is_read() -> None:
    from scan_factory import encode, render_scan

    card = render_scan(
        ["CARTE VITALE", "DUPONT JEAN", NIR_SPACED, "Assurance maladie", "Valable"], card=True
    )
    assert card.width * card.height >= 150_000
    photo = encode(card, "png")
    message = make_eml(attachments=[Attachment(photo, "IMG_0001.png", "image/png", inline=True)])
    _assert_read(_findings(message))


@needs_ocr
def test_a_logo_shown_inside_the_message_is_not_read() -> None:
    from scan_factory import encode, render_scan

    logo = render_scan([f"Clinique {NIR_SPACED}"], size=12)
    assert logo.width * logo.height < 150_000
    message = make_eml(
        attachments=[Attachment(encode(logo, "png"), "logo.png", "image/png", inline=True)]
    )
    findings = _findings(message)
    assert not _where_found(findings) and not _unread(findings)


def test_without_ocr_pictures_the_size_of_a_document_are_reported_unread(
    tmp_path: Path,
) -> None:
    """Tesseract missing from the PATH: a picture the size of a document (a scan, a
    photographed card), shown in the text, attached or placed in a Word or RTF file, is
    reported ``no_ocr``; one the size of a signature banner is left (it would make every
    message of a clinic without OCR unreadable)."""
    import json
    import os
    import subprocess
    import sys

    from PIL import Image

    def png(width: int, height: int) -> bytes:
        buf = io.BytesIO()
        Image.new("L", (width, height), 200).save(buf, "PNG")
        return buf.getvalue()

    scan, banner = png(1000, 700), png(600, 200)
    docx = cf.docx_with_picture(scan)
    rtf = b"{\\rtf1 Courrier {\\pict\\pngblip " + scan.hex().encode() + b"}}"
    mail = tmp_path / "m.eml"
    mail.write_bytes(
        make_eml(
            attachments=[
                Attachment(banner, "banniere.png", "image/png", inline=True),
                Attachment(scan, "photo.png", "image/png", inline=True),
                Attachment(scan, "scan.png", "image/png"),
                Attachment(
                    docx,
                    "courrier.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                ),
                Attachment(rtf, "lettre.rtf", "application/rtf"),
            ]
        )
    )
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "leakguard.cli", "scan", "--format", "json", str(mail)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=str(empty)),
        check=False,
    )
    doc = json.loads(proc.stdout)
    findings = {(f["location"], f.get("detail")) for m in doc["messages"] for f in m["findings"]}
    assert findings == {
        ("attachment:photo.png", "no_ocr"),
        ("attachment:scan.png", "no_ocr"),
        ("attachment:courrier.docx/image1.png", "no_ocr"),
        ("attachment:lettre.rtf/picture-1", "no_ocr"),
    }, proc.stderr


# --------------------------------------------------------------------------- hostile input

_TAR_HEAD = cf.make_tar({"a.txt": b"x"})[:512]
_NEW_PREFIXES = [
    b"BZh91AY&SY",
    b"\xfd7zXZ\x00",
    _TAR_HEAD,
    b"BEGIN:VCALENDAR\r\nDESCRIPTION;ENCODING=QUOTED-PRINTABLE:",
    b'{"data": "',
    b"<?xml version='1.0'?><a b='",
    b"begin 644 x.csv\n",
    b"=ybegin line=128 name=x\n",
    b"(This file must be converted with BinHex 4.0)\n:",
    b"{\\rtf1{\\header{\\*\\objdata 0105",
    b"%PDF-1.7\n1 0 obj<</Type/Annot/Subtype/FreeText/Contents(",
]


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(_NEW_PREFIXES), st.binary(max_size=2048))
def test_new_readers_never_raise_on_damaged_input(prefix: bytes, rest: bytes) -> None:
    items = list(extract(prefix + rest, _loc("r"), budget=Budget(), filename="r.txt"))
    assert all(isinstance(i, TextChunk | Problem) for i in items)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=600))
def test_damaged_bodies_never_raise(rest: bytes) -> None:
    text = rest.decode("latin-1")
    for head in (
        "begin 644 f.csv\n",
        "=ybegin name=f\n",
        "(This file must be converted with BinHex 4.0)\n:",
    ):
        raw = make_eml(body="Bonjour\n" + head + text)
        assert all(f.kind for f in _findings(raw))


# --------------------------------------------------------------------------- cost


def test_an_ordinary_word_document_gives_the_same_findings_chunk_for_chunk() -> None:
    # Reading the extra parts of an ordinary document adds its properties, nothing else.
    data = make_docx(["Compte rendu", f"NIR {NIR_SPACED}"])
    chunks = list(extract(data, _loc("c.docx"), budget=Budget()))
    report = scan_chunks(chunks, fingerprinter=FP)
    assert [f.kind for f in report.findings if f.kind == "nir"] == ["nir"]
