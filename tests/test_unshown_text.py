"""Text a message carries without a reader showing it is read all the same: custom
header fields, a part's description, the code of an HTML part's styles and scripts, its
links and other attributes, each body of an Outlook item, a document's fields, formulas
and bookmarks. A number there leaves with the mail like any other."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docs_factory import make_docx, make_xlsx, make_zip
from helpers import NIR, NIR_SPACED
from leakguard.content import _escaped_tokens, scan_text
from leakguard.core import Deadline, DeadlineExceeded, Finding, Fingerprinter, Location
from leakguard.detectors import health_data
from leakguard.extract.html import html_texts, html_to_text
from leakguard.guard import Guard, scan
from outlook_factory import OutlookItem, make_msg

FP = Fingerprinter(b"u" * 32)
PLAIN = next(f.fingerprint for f in scan(f"Subject: x\n\nNIR {NIR}\n".encode(), fingerprinter=FP))


def _mail(body: str = "Bonjour.\n", html: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "secretariat@clinique-exemple.fr"
    msg["To"] = "cabinet@gmail.com"
    msg["Subject"] = "Documents"
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def _nirs(data: bytes) -> dict[str, str | None]:
    """Place -> fingerprint of each NIR found."""
    return {str(f.location): f.fingerprint for f in scan(data, fingerprinter=FP) if f.kind == "nir"}


def _in_clear(found: list[Finding]) -> bool:
    return NIR in json.dumps([f.to_dict() for f in found]).replace(" ", "")


# --------------------------------------------------------------------------- header fields


def test_a_custom_header_field_is_read_at_its_place() -> None:
    msg = _mail()
    msg["X-Patient"] = f"Dossier NIR {NIR_SPACED}"
    assert _nirs(msg.as_bytes()) == {"header:x-patient": PLAIN}
    verdict = Guard().check(msg.as_bytes())
    assert verdict.action.name == "ENCRYPT"
    assert not _in_clear(list(verdict.findings)), "the NIR is in clear in the JSON"


def test_encoded_words_and_topic_fields_are_read() -> None:
    msg = _mail()
    word = base64.b64encode(f"Patient {NIR}".encode()).decode()
    msg["Keywords"] = f"=?utf-8?b?{word}?="
    assert _nirs(msg.as_bytes()) == {"header:keywords": PLAIN}


def test_a_field_name_holding_digits_is_read_with_its_value() -> None:
    raw = f"From: a@b.fr\nTo: c@d.fr\nSubject: x\nX-{NIR}: oui\n\nBonjour.\n".encode()
    found = _nirs(raw)
    assert list(found.values()) == [PLAIN]
    # The place is printed with its number masked.
    assert NIR not in next(iter(found))


def test_address_fields_are_read_for_identifiers_only() -> None:
    """A mail merge that writes a patient's number into a recipient's name sends it;
    a service's name in an address is no health data."""
    msg = _mail()
    del msg["To"]
    msg["To"] = f'"Dupont Jean {NIR_SPACED}" <cabinet@gmail.com>'
    del msg["From"]
    msg["From"] = '"Diagnostic principal (CIM-10) : E11.9" <secretariat@clinique-exemple.fr>'
    found = list(scan(msg.as_bytes(), fingerprinter=FP))
    assert [(f.kind, str(f.location), f.fingerprint) for f in found] == [
        ("nir", "header:to", PLAIN)
    ]
    assert not _in_clear(found), "the NIR is in clear in the JSON"
    word = base64.b64encode(f"Patient {NIR}".encode()).decode()
    raw = f"From: a@b.fr\nCc: =?utf-8?b?{word}?= <c@d.fr>\nSubject: x\n\nBonjour.\n"
    assert _nirs(raw.encode()) == {"header:cc": PLAIN}


def test_fields_past_the_header_limit_are_said_unread() -> None:
    msg = _mail()
    msg["X-Notes"] = "rien " * 20_000
    msg["X-Suite"] = "rien " * 10_000 + NIR  # past the 128 KB the fields share
    found = {(f.kind, str(f.location), f.detail) for f in scan(msg.as_bytes(), fingerprinter=FP)}
    assert found == {("unscannable_attachment", "header:x-suite", "too_large")}


def test_a_health_term_in_a_custom_field_is_found() -> None:
    msg = _mail()
    msg["X-Motif"] = "Diagnostic principal (CIM-10) : E11.9"
    kinds = {(f.kind, str(f.location)) for f in scan(msg.as_bytes(), fingerprinter=FP)}
    assert ("health_data", "header:x-motif") in kinds


def test_a_parts_description_is_read_at_the_parts_place() -> None:
    msg = _mail()
    msg.add_attachment(b"%PDF-1.4\n", maintype="application", subtype="pdf", filename="cr.pdf")
    part = msg.get_payload()[-1]
    part["Content-Description"] = f"Compte rendu de {NIR_SPACED}"
    assert _nirs(msg.as_bytes()).get("attachment:cr.pdf") == PLAIN


def test_fields_of_an_attached_message_are_read_at_its_place() -> None:
    inner = _mail()
    inner["X-Dossier"] = NIR
    outer = _mail()
    outer.add_attachment(inner, filename="transfert.eml")
    assert _nirs(outer.as_bytes()) == {"attachment:transfert.eml": PLAIN}


def test_fields_mail_software_writes_are_not_read_as_text() -> None:
    """A message through Exchange and a relay: kilobytes of base64 verdicts, signatures,
    routes and identifiers with long digit runs. None of it is a finding, and reading
    the message takes no longer for them."""
    blob = base64.b64encode(bytes(range(256)) * 24).decode()
    digits = "1" + NIR[1:]  # NIR-shaped, in fields written by servers
    raw = (
        f"Received: from mx.clinique-exemple.fr (10.0.0.1) by relay id {digits};"
        " Sun, 6 Dec 2026 10:00:00 +0100\n"
        f"DKIM-Signature: v=1; a=rsa-sha256; d=clinique-exemple.fr; b={blob[:400]}\n"
        f"ARC-Seal: i=1; a=rsa-sha256; b={blob[:400]}\n"
        f"X-Microsoft-Antispam-Message-Info: {blob}\n"
        f"X-MS-Exchange-AntiSpam-MessageData-0: {blob}\n"
        "Thread-Index: AQHaR2Xw1lU4xZ5bT0K7qC1h8d3gNQ==\n"
        f"Message-ID: <{digits}.{digits}@clinique-exemple.fr>\n"
        "From: secretariat@clinique-exemple.fr\nTo: cabinet@gmail.com\n"
        "Subject: Rendez-vous\nX-Mailer: Microsoft Outlook 16.0\n"
        "Content-Language: fr-FR\n\nBonjour, a demain.\n"
    ).encode()
    assert list(scan(raw, fingerprinter=FP)) == []
    plain = (
        b"From: secretariat@clinique-exemple.fr\nTo: cabinet@gmail.com\nSubject: x\n\nBonjour.\n"
    )
    guard = Guard()
    guard.check(raw)

    def best(data: bytes) -> float:
        times = []
        for _ in range(15):
            start = time.perf_counter()
            guard.check(data)
            times.append(time.perf_counter() - start)
        return min(times)

    # Reading the 13 kB of machine fields as text would take several milliseconds.
    assert best(raw) < best(plain) + 0.002


# --------------------------------------------------------------------------- HTML


@pytest.mark.parametrize(
    "html",
    [
        f"<p>Bonjour</p><style>/* NIR {NIR_SPACED} */ p {{ color: red }}</style>",
        f'<style>p::after {{ content: "{NIR_SPACED}" }}</style><p>Bonjour</p>',
        f"<p>Bonjour</p><script>var dossier = '{NIR}';</script>",
        f'<p>Bonjour <a href="https://rdv.example.fr/?nir={NIR}">votre rendez-vous</a></p>',
        f'<p>Bonjour <a href="https://rdv.example.fr/?nir={quote(NIR_SPACED)}">ici</a></p>',
        f'<p>Bonjour <a href="https://rdv.example.fr/p/{NIR}/dossier">ici</a></p>',
        f'<p><span data-patient="{NIR_SPACED}">Bonjour</span></p>',
        f'<p><img src="https://img.example.fr/{NIR}.png"></p>',
        '<p><a href="data:text/plain;base64,'
        + base64.b64encode(f"NIR {NIR}".encode()).decode()
        + '">la fiche</a></p>',
        f'<p><a href="data:,NIR%20{NIR}">la fiche</a></p>',
    ],
    ids=[
        "css comment",
        "css content",
        "script",
        "query",
        "escaped query",
        "path",
        "data-*",
        "img src",
        "data: base64",
        "data: escaped",
    ],
)
def test_what_an_html_part_holds_unshown_is_read(html: str) -> None:
    assert _nirs(_mail(html=html).as_bytes()) == {"body": PLAIN}


def test_an_html_file_attachment_is_read_unshown_too() -> None:
    msg = _mail()
    page = f'<html><body><a href="https://x.fr/?id={NIR}">lien</a></body></html>'
    msg.add_attachment(page.encode(), maintype="text", subtype="html", filename="lien.html")
    assert _nirs(msg.as_bytes()) == {"attachment:lien.html": PLAIN}


def test_the_shown_text_keeps_its_layout_and_the_unshown_is_apart() -> None:
    html = (
        '<style>td { padding: 2px }</style><table><tr><td><a href="https://x.fr/a?b=1">'
        'Nom</a></td><td>Dupont</td></tr></table><img src="data:image/png;base64,'
        'iVBORw0KGgo=" alt="logo">'
    )
    shown, unshown = html_texts(html)
    assert shown.splitlines() == ["Nom\tDupont", "logo"]
    assert html_to_text(html) == shown
    # The style's code and the link, URL escapes read; a picture's bytes are no text.
    assert unshown.splitlines() == ["td { padding: 2px }", "https://x.fr/a?b=1"]


_HIDING = [
    'style="font-size:0"',
    'style="display:none"',
    'style="color:#ffffff"',
    'style="mso-hide:all"',
    "hidden",
    'class="cache"',
]


# White text is hidden only on a white background (which the page does not say): its
# letter is read apart from the number when glued before or after it, not inside it.
_GLUES = [
    (hiding, side)
    for hiding in _HIDING
    for side in ("before", "after", "inside")
    if not (side == "inside" and "color" in hiding)
]


@pytest.mark.parametrize(("hiding", "side"), _GLUES)
def test_a_hidden_element_glued_to_a_number_does_not_hide_it(hiding: str, side: str) -> None:
    # The reader sees "NIR 1 85 05 …" alone; the page holds a letter against it.
    glue = f"<span {hiding}>x</span>"
    number = {
        "before": glue + NIR_SPACED,
        "after": NIR_SPACED + glue + "merci",
        "inside": NIR_SPACED[:8] + glue + NIR_SPACED[8:],
    }[side]
    html = f"<style>.cache {{ display: none }}</style><p>Bonjour, NIR {number}</p>"
    assert _nirs(_mail(html=html).as_bytes()) == {"body": PLAIN}


def test_the_visible_reading_leaves_out_what_hidden_elements_hold() -> None:
    html = (
        "<style>p { margin: 0 } .pre, .x { display: none }</style>"
        '<p>Bonjour <span class="pre">aperçu <b>caché</b></span>Madame '
        '<span style="FONT-SIZE: 0PX !important">rien</span>Dupont<span hidden>x</span></p>'
        '<div style="display:none"><p>bloc</div><p>fin</p>'
    )
    shown, unshown = html_texts(html)
    assert shown == "Bonjour aperçu cachéMadame rienDupontx\nbloc\nfin"
    # After the style's code and the attributes' values: the lines that hold hidden text
    # as a reader sees them (the hidden block's own line shows nothing; "fin" reads the
    # same every way, and is not read again).
    lines = unshown.splitlines()
    assert "Bonjour Madame Dupont" in lines and "fin" not in lines
    # Styles that show the text: nothing more is read.
    for style in ("font-size:10px", "opacity:0.5", "display:block", "font-size:0.8em"):
        assert html_texts(f'<p>a <span style="{style}">b</span> c</p>') == ("a b c", style)


def test_the_shown_text_has_no_mark_of_inline_elements() -> None:
    shown, unshown = html_texts("<p>Or<b>don</b>nance <i>n°</i>12<wbr>34, <span>réf</span></p>")
    assert shown == "Ordonnance n°1234, réf"
    # A digit against another element's text: read a second time with spaces between.
    assert unshown == "Or don nance n° 12 34, réf"
    shown, unshown = html_texts("<p>Bonjour <b>Madame</b> <i>Dupont</i>, le <b>12</b> mai</p>")
    assert (shown, unshown) == ("Bonjour Madame Dupont, le 12 mai", "")
    assert "\ue000" not in html_texts("<p>a\ue000<b>1</b></p>")[0]


def _docx_body(paragraph: str) -> bytes:
    document = (
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p>{paragraph}</w:p></w:body></w:document>"
    )
    return _rezipped(make_docx(["x"]), {"word/document.xml": document.encode()})


@pytest.mark.parametrize(
    "hidden",
    ["<w:vanish/>", '<w:sz w:val="1"/>', '<w:color w:val="FFFFFF"/>', '<w:rStyle w:val="Cache"/>'],
)
def test_a_hidden_run_glued_to_a_number_does_not_hide_it(hidden: str) -> None:
    runs = (
        '<w:r><w:t xml:space="preserve">NIR </w:t></w:r>'
        f"<w:r><w:rPr>{hidden}</w:rPr><w:t>x</w:t></w:r>"
        f"<w:r><w:t>{NIR_SPACED}</w:t></w:r>"
    )
    assert _sent(_docx_body(runs), "a.docx", _DOCX) == {"attachment:a.docx": PLAIN}
    if "vanish" in hidden:
        # Hidden text between two groups of the number: read as Word shows it.
        inside = (
            f'<w:r><w:t xml:space="preserve">NIR {NIR_SPACED[:8]}</w:t></w:r>'
            f"<w:r><w:rPr>{hidden}</w:rPr><w:t>x</w:t></w:r>"
            f"<w:r><w:t>{NIR_SPACED[8:]}</w:t></w:r>"
        )
        assert _sent(_docx_body(inside), "a.docx", _DOCX) == {"attachment:a.docx": PLAIN}
        shown = inside.replace("<w:vanish/>", '<w:vanish w:val="0"/>')
        assert _sent(_docx_body(shown), "a.docx", _DOCX) == {}
    # A number written in several runs is read whole, as before.
    split = "".join(f"<w:r><w:t>{c}</w:t></w:r>" for c in NIR)
    assert _sent(_docx_body("<w:r><w:t>NIR </w:t></w:r>" + split), "a.docx", _DOCX) == {
        "attachment:a.docx": PLAIN
    }


def test_a_hidden_span_of_an_opendocument_text_does_not_glue() -> None:
    from leakguard.extract.odf import odf_lines

    xml = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body>'
        f'<office:text><text:p>NIR <text:span text:style-name="Cache">x</text:span>{NIR}'
        "</text:p></office:text></office:body></office:document-content>"
    )
    assert odf_lines(xml.encode()) == [f"NIR x{NIR}", f"NIR  x {NIR}"]


def test_a_link_with_ordinary_numbers_is_no_finding() -> None:
    html = (
        '<p><a href="https://suivi.example.fr/c?u=1733512345678&id=4815162342">Suivi</a>'
        '<img src="https://cdn.example.fr/img/2026/12/06/logo-9876543210.png"></p>'
    )
    assert list(scan(_mail(html=html).as_bytes(), fingerprinter=FP)) == []


# --------------------------------------------------------------------------- around the parts


@pytest.mark.parametrize("where", ["preamble", "epilogue"])
def test_the_text_around_the_parts_of_a_multipart_is_read(where: str) -> None:
    preamble = f"NIR {NIR_SPACED}" if where == "preamble" else "This is a MIME message."
    epilogue = f"NIR {NIR_SPACED}" if where == "epilogue" else ""
    raw = (
        "From: a@clinique-exemple.fr\nTo: b@gmail.com\nSubject: x\nMIME-Version: 1.0\n"
        f"Content-Type: multipart/mixed; boundary=BB\n\n{preamble}\n--BB\n"
        f"Content-Type: text/plain\n\nBonjour.\n--BB--\n{epilogue}\n"
    ).encode()
    assert _nirs(raw) == {"body": PLAIN}


# --------------------------------------------------------------------------- documents' links


def _pdf_with_link(uri: bytes) -> bytes:
    return _pdf(
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Annots[4 0 R]>>",
        b"<</Type/Annot/Subtype/Link/Rect[0 0 100 100]/A<</S/URI/URI(" + uri + b")>>>>",
    )


def _pdf(*objects: bytes) -> bytes:
    """A PDF of these objects (numbered from 1, the first the catalog) with its xref."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_a_pdf_links_address_is_read() -> None:
    msg = _mail()
    pdf = _pdf_with_link(b"https://rdv.example.fr/?nir=" + quote(NIR_SPACED).encode())
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="lien.pdf")
    assert _nirs(msg.as_bytes()) == {"attachment:lien.pdf": PLAIN}
    msg = _mail()
    pdf = _pdf_with_link(b"https://rdv.example.fr/?id=4815162342")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="lien.pdf")
    assert _nirs(msg.as_bytes()) == {}


def test_an_office_documents_external_links_are_read() -> None:
    rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/hyperlink" Target="https://x.fr/?nir='
        f'{NIR}" TargetMode="External"/><Relationship Id="rId1" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    assert _nirs_of_docx(rels=rels) == {"attachment:lettre.docx": PLAIN}


def test_relationships_that_cannot_be_read_are_reported() -> None:
    found = _docx_findings(rels="<Relationships><Relationship Target=")
    assert {(f.kind, str(f.location), f.detail) for f in found} == {
        ("unscannable_attachment", "attachment:lettre.docx", "corrupt")
    }


def _nirs_of_docx(xml: str = "", rels: str | None = None) -> dict[str, str | None]:
    """The NIRs found in a mail sending a Word document whose body starts with ``xml``
    and whose relationships are ``rels``."""
    return {str(f.location): f.fingerprint for f in _docx_findings(xml, rels) if f.kind == "nir"}


def _docx_findings(xml: str = "", rels: str | None = None) -> list[Finding]:
    docx = zipfile.ZipFile(io.BytesIO(make_docx(["Bonjour"])))
    members = {name: docx.read(name) for name in docx.namelist()}
    body = members["word/document.xml"]
    members["word/document.xml"] = body.replace(b"<w:body>", b"<w:body>" + xml.encode())
    if rels is not None:
        members["word/_rels/document.xml.rels"] = rels.encode()
    msg = _mail()
    msg.add_attachment(
        make_zip(members),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="lettre.docx",
    )
    return list(scan(msg.as_bytes(), fingerprinter=FP))


@pytest.mark.parametrize(
    "xml",
    [
        f'<w:p><w:hyperlink w:tooltip="NIR {NIR_SPACED}"><w:r><w:t>lien</w:t></w:r>'
        "</w:hyperlink></w:p>",
        '<w:p><w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/'
        f'drawingml/2006/wordprocessingDrawing"><wp:docPr id="1" name="x" descr="{NIR}"/>'
        "</wp:inline></w:drawing></w:r></w:p>",
    ],
    ids=["tooltip", "alternative text"],
)
def test_what_a_word_document_shows_on_hover_is_read(xml: str) -> None:
    assert _nirs_of_docx(xml) == {"attachment:lettre.docx": PLAIN}


@pytest.mark.parametrize(
    "xml",
    [
        f'<w:p><w:fldSimple w:instr="QUOTE {NIR_SPACED}"><w:r><w:t>x</w:t></w:r></w:fldSimple>'
        "</w:p>",
        f'<w:sdt><w:sdtPr><w:alias w:val="NIR {NIR_SPACED}"/></w:sdtPr><w:sdtContent><w:p>'
        "<w:r><w:t>x</w:t></w:r></w:p></w:sdtContent></w:sdt>",
        f'<w:sdt><w:sdtPr><w:tag w:val="{NIR}"/></w:sdtPr><w:sdtContent><w:p><w:r><w:t>x'
        "</w:t></w:r></w:p></w:sdtContent></w:sdt>",
        '<w:p><w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:textInput>'
        f'<w:default w:val="{NIR_SPACED}"/></w:textInput></w:ffData></w:fldChar></w:r></w:p>',
        f'<w:p><w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:helpText w:val="{NIR}"/>'
        "</w:ffData></w:fldChar></w:r></w:p>",
        f'<w:p><w:bookmarkStart w:id="0" w:name="nir_{NIR}"/><w:bookmarkEnd w:id="0"/></w:p>',
    ],
    ids=[
        "simple field code",
        "control title",
        "control tag",
        "form field default",
        "form field help",
        "bookmark name",
    ],
)
def test_what_a_word_document_keeps_in_its_fields_and_controls_is_read(xml: str) -> None:
    assert _nirs_of_docx(xml) == {"attachment:lettre.docx": PLAIN}


def test_the_bookmarks_word_makes_for_itself_are_left() -> None:
    # "_Toc…", "_Hlk…": named by Word, never by a person.
    xml = f'<w:p><w:bookmarkStart w:id="0" w:name="_Toc{NIR}"/><w:bookmarkEnd w:id="0"/></w:p>'
    assert _nirs_of_docx(xml) == {}


def test_an_rtf_documents_bookmark_names_are_read() -> None:
    rtf = f"{{\\rtf1\\ansi Bonjour {{\\*\\bkmkstart nir_{NIR}}}x{{\\*\\bkmkend nir_{NIR}}}}}"
    assert _sent(rtf.encode(), "lettre.rtf", "rtf") == {"attachment:lettre.rtf": PLAIN}


_RTF_HEAD = "{\\rtf1\\ansi{\\colortbl;\\red0\\green0\\blue0;\\red255\\green255\\blue255;}"
_RTF_GLUES = [
    # Hidden, tiny or white text glued before the number, after it, or between groups.
    f"NIR {{\\v x}}{NIR_SPACED}",
    f"NIR {NIR_SPACED}{{\\v x}}",
    f"NIR {NIR_SPACED[:8]}{{\\v x}}{NIR_SPACED[8:]}",
    f"NIR {NIR_SPACED[:8]}\\v x\\v0 {NIR_SPACED[8:]}",
    f"NIR {NIR_SPACED[:8]}{{\\b\\v x\\plain}}{NIR_SPACED[8:]}",
    f"NIR {{\\fs1 x}}{NIR_SPACED}",
    f"NIR {{\\cf2 x}}{NIR_SPACED}",
]


@pytest.mark.parametrize(
    "body",
    _RTF_GLUES,
    ids=["hidden-before", "hidden-after", "hidden-inside", "switch", "plain", "tiny", "white"],
)
def test_hidden_rtf_text_glued_to_a_number_does_not_hide_it(body: str) -> None:
    rtf = f"{_RTF_HEAD}{body}\\par}}"
    assert _sent(rtf.encode(), "lettre.rtf", "rtf") == {"attachment:lettre.rtf": PLAIN}
    # An Outlook item's RTF body is read the same way.
    item = make_msg(OutlookItem(subject="Courrier", rtf=rtf.encode()))
    msg = _mail()
    msg.add_attachment(item, maintype="application", subtype="vnd.ms-outlook", filename="c.msg")
    assert PLAIN in _nirs(msg.as_bytes()).values()


def test_shown_rtf_text_glued_to_a_number_stays_a_reference() -> None:
    # Letters a reader sees glued to the digits make a reference, not a NIR, as in plain
    # text: in a document that can hide nothing, a group's edge changes nothing either.
    glued = f"{_RTF_HEAD}NIR x{NIR_SPACED}\\par}}"
    plain = f"{{\\rtf1\\ansi NIR {{\\b x}}{NIR}\\par}}"
    for name, rtf in (("glued", glued), ("plain", plain)):
        assert _sent(rtf.encode(), "lettre.rtf", "rtf") == {}, name


RTF_PIECES = st.sampled_from(
    [
        "Bonjour ", "1 85 05 ", "75", "{\\b ", "{\\i 12}", "}", "{", "\\par ", "\\'e9",
        "\\u233?", "{\\uc0\\u233 e}", "{\\*\\bkmkstart b}", "\\tab ", "{\\f1 x}",
        "\\\\", "\\{", "\\}", "caf\\'e9 ", "{\\fs20 9}",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(RTF_PIECES, max_size=30).map("".join))
def test_the_marked_reading_of_an_rtf_document_reads_its_text(body: str) -> None:
    # Marks at every group's edge are invisible: taken out, the text is the document's.
    from leakguard.extract._common import MARKS
    from leakguard.extract.rtf import _marked, rtf_text

    rtf = ("{\\rtf1\\ansi{\\fonttbl{\\f0 Arial;}{\\f1 Symbol;}}" + body + "}").encode()

    def lines(text: str) -> list[str]:
        # (A mark may end a line, or stand on a last line of its own.)
        out = [line.rstrip("\t ") for line in MARKS.sub("", text).split("\n")]
        while out and not out[-1]:
            out.pop()
        return out

    assert lines(rtf_text(_marked(rtf))) == lines(rtf_text(rtf))


def _sent(data: bytes, name: str, subtype: str) -> dict[str, str | None]:
    msg = _mail()
    msg.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    return _nirs(msg.as_bytes())


_XLSX = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_DOCX = "vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_a_workbooks_formulas_are_read_when_no_value_was_worked_out() -> None:
    # A script writes the formula; no value is stored until a spreadsheet program opens
    # the file, and then it shows the NIR.
    from openpyxl import Workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    for fill in ("formula", "validation"):
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws["A1"] = "Patient"
        if fill == "formula":
            ws["B1"] = f'=CONCATENATE("NIR ", "{NIR_SPACED}")'
        else:
            rule = DataValidation(type="list", formula1=f'"{NIR_SPACED},autre"')
            ws.add_data_validation(rule)
            rule.add("B1")
        out = io.BytesIO()
        wb.save(out)
        assert _sent(out.getvalue(), "liste.xlsx", _XLSX) == {"attachment:liste.xlsx": PLAIN}, fill


def test_formula_text_with_entities_and_a_prefix_is_read() -> None:
    sheet = (
        '<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<x:sheetData><x:row r="1"><x:c r="A1" t="str"><x:f>&quot;NIR&quot;&amp;&quot; '
        f'{NIR_SPACED}&quot;</x:f><x:v></x:v></x:c><x:c r="B1"><x:f t="shared" si="0"/>'
        "</x:c></x:row></x:sheetData></x:worksheet>"
    )
    from leakguard.extract.office import _formula_lines

    assert _formula_lines(sheet.encode()) == [f'"NIR"&" {NIR_SPACED}"']
    assert _formula_lines(sheet.encode("utf-16")) == [f'"NIR"&" {NIR_SPACED}"']
    assert _formula_lines(b"<worksheet><sheetData/></worksheet>") == []


def _rezipped(data: bytes, change: dict[str, bytes]) -> bytes:
    change = dict(change)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, change.pop(info.filename, zin.read(info.filename)))
        for name, content in change.items():
            zout.writestr(name, content)
    return out.getvalue()


_MAIN = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_GUIDE = f'<rPh sb="0" eb="1"><t>{NIR_SPACED}</t></rPh>'


def _book_with_shared(second: str, guide: str = "", *, cell: str = "") -> bytes:
    """A workbook whose row is "Patient" and ``second`` (a shared string followed by
    ``guide``), and ``cell`` added to the row."""
    book = make_xlsx([["Patient", "x"]])
    with zipfile.ZipFile(io.BytesIO(book)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    sheet = sheet.replace('t="inlineStr"><is><t>x</t></is>', 't="s"><v>0</v>')
    sheet = sheet.replace("</row>", cell + "</row>", 1)
    shared = f'<sst {_MAIN} count="1" uniqueCount="1"><si><t>{second}</t>{guide}</si></sst>'
    return _rezipped(
        book,
        {"xl/worksheets/sheet1.xml": sheet.encode(), "xl/sharedStrings.xml": shared.encode()},
    )


@pytest.mark.parametrize("where", ["shared string", "inline string", "comment"])
def test_a_workbooks_phonetic_guides_are_read(where: str) -> None:
    # A phonetic guide (a reading aid a spreadsheet shows on demand over East Asian
    # text) holds the only copy of the number: the cell shows "Dupont".
    if where == "shared string":
        book = _book_with_shared("Dupont", _GUIDE)
    elif where == "inline string":
        inline = f'<c r="C1" t="inlineStr"><is><t>Dupont</t>{_GUIDE}</is></c>'
        book = _book_with_shared("Dupont", cell=inline)
    else:
        comments = (
            f'<comments {_MAIN}><commentList><comment ref="B1"><text><t>vu</t>{_GUIDE}'
            "</text></comment></commentList></comments>"
        )
        book = _rezipped(_book_with_shared("Dupont"), {"xl/comments1.xml": comments.encode()})
    assert _sent(book, "liste.xlsx", _XLSX) == {"attachment:liste.xlsx": PLAIN}, where
    assert _sent(_book_with_shared("Dupont"), "liste.xlsx", _XLSX) == {}


def test_a_cell_shows_its_text_without_its_phonetic_guide() -> None:
    from leakguard.extract._types import TextChunk
    from leakguard.message import document_content

    book = _book_with_shared("山田", '<rPh sb="0" eb="2"><t>ヤマダ</t></rPh>')
    texts = [c.text for c in document_content(book, name="a.xlsx") if isinstance(c, TextChunk)]
    assert texts[0].splitlines() == ["Patient\t山田"]
    assert "ヤマダ" not in texts[0] and any("ヤマダ" in t for t in texts[1:])


_ODS = "vnd.oasis.opendocument.spreadsheet"


@pytest.mark.parametrize(
    "cell",
    [
        # A number shown in exponent form: only the stored value has every digit.
        f'<table:table-cell office:value-type="float" office:value="{NIR}"><text:p>'
        "1,85058E+14</text:p></table:table-cell>",
        f'<table:table-cell office:value-type="string" office:string-value="{NIR_SPACED}">'
        "<text:p>voir dossier</text:p></table:table-cell>",
        f'<table:table-cell table:formula="of:=CONCATENATE(&quot;{NIR_SPACED}&quot;)" '
        'office:value-type="string"><text:p/></table:table-cell>',
    ],
    ids=["stored number", "stored string", "formula"],
)
def test_an_opendocument_cells_stored_value_and_formula_are_read(cell: str) -> None:
    from docs_factory import make_ods

    ods = zipfile.ZipFile(io.BytesIO(make_ods([["Patient", "x"]])))
    members = {name: ods.read(name) for name in ods.namelist()}
    shown = b'<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>'
    assert shown in members["content.xml"]
    members["content.xml"] = members["content.xml"].replace(shown, cell.encode())
    assert _sent(make_zip(members), "liste.ods", _ODS) == {"attachment:liste.ods": PLAIN}


def test_an_opendocument_cell_showing_its_value_is_read_once() -> None:
    from leakguard.extract.odf import odf_lines

    xml = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
        'office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><table:table>'
        '<table:table-row><table:table-cell office:value-type="float" office:value="12">'
        "<text:p>12</text:p></table:table-cell><table:table-cell office:value-type="
        '"currency" office:value="12.5"><text:p>12,50 €</text:p></table:table-cell>'
        "</table:table-row></table:table></office:body></office:document-content>"
    )
    assert odf_lines(xml.encode()) == ["12\t12,50 € 12.5"]


def _pdf_with_outline(uri: bytes) -> bytes:
    """A PDF whose outline holds a bookmark, its child opening ``uri``, and the child's
    next sibling pointing back at the first (a loop)."""
    return _pdf(
        b"<</Type/Catalog/Pages 2 0 R/Outlines 4 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>",
        b"<</Type/Outlines/First 5 0 R/Last 5 0 R/Count 1>>",
        b"<</Title(Dossier)/Parent 4 0 R/First 6 0 R/Last 6 0 R/Count 1/Dest[3 0 R/Fit]>>",
        b"<</Title(Compte rendu)/Parent 5 0 R/Next 5 0 R/A<</S/URI/URI(" + uri + b")>>>>",
    )


def test_a_pdfs_bookmarks_are_read() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.start_section(f"Patient {NIR_SPACED}")
    pdf.cell(text="Compte rendu")
    assert _sent(bytes(pdf.output()), "cr.pdf", "pdf") == {"attachment:cr.pdf": PLAIN}
    looped = _pdf_with_outline(b"https://x.fr/?nir=" + quote(NIR_SPACED).encode())
    assert _sent(looped, "cr.pdf", "pdf") == {"attachment:cr.pdf": PLAIN}


def test_a_pdf_outline_is_read_in_order_and_once() -> None:
    import pypdfium2

    from leakguard.extract._pdf_parts import outline_lines

    doc = pypdfium2.PdfDocument(_pdf_with_outline(b"https://x.fr/a%20b"))
    try:
        assert outline_lines(doc, 10) == (["Dossier", "Compte rendu https://x.fr/a b"], False)
        assert outline_lines(doc, 1) == (["Dossier"], True)
    finally:
        doc.close()


def _pdf_with_names(labels: bytes, destinations: bytes) -> bytes:
    """A one-page PDF whose page label and named destinations are given."""
    return _pdf(
        b"<</Type/Catalog/Pages 2 0 R/PageLabels<</Nums[0<<" + labels + b">>]>>"
        b"/Names<</Dests<</Names[" + destinations + b"]>>>>>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>",
    )


def test_a_pdfs_page_labels_and_destination_names_are_read() -> None:
    # A reader shows the page label in its page box; a destination's name can be listed.
    spaced = NIR_SPACED.encode()
    labelled = _pdf_with_names(b"/P(" + spaced + b" - )/S/D", b"(intro)[3 0 R/Fit]")
    assert _sent(labelled, "cr.pdf", "pdf") == {"attachment:cr.pdf": PLAIN}
    named = _pdf_with_names(b"/S/r", b"(patient " + spaced + b")[3 0 R/Fit]")
    assert _sent(named, "cr.pdf", "pdf") == {"attachment:cr.pdf": PLAIN}


def test_many_destination_names_are_read_and_more_are_said_unread() -> None:
    import pypdfium2

    from leakguard.extract._pdf_parts import destination_names, page_label

    # Sorted as a name tree must be; the last holds the number.
    names = b"".join(b"(page.%05d)[3 0 R/Fit]" % i for i in range(3000))
    pdf = _pdf_with_names(b"/S/D/St 7", names + b"(zz " + NIR_SPACED.encode() + b")[3 0 R/Fit]")
    doc = pypdfium2.PdfDocument(pdf)
    try:
        assert page_label(doc, 0) == "7"
        found, more = destination_names(doc, 5000)
        assert (len(found), found[0], found[-1][:3], more) == (3001, "page.00000", "zz ", False)
        assert destination_names(doc, 10) == ([f"page.{i:05d}" for i in range(10)], True)
    finally:
        doc.close()
    # A LaTeX book's thousands of names are read without a word; the number is found.
    msg = _mail()
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="livre.pdf")
    found = scan(msg.as_bytes(), fingerprinter=FP)
    assert [(f.kind, f.fingerprint) for f in found] == [("nir", PLAIN)]


def test_zip_comments_are_read() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("a.txt")
        info.comment = f"Dossier {NIR_SPACED}".encode()
        archive.writestr(info, "rien")
        archive.comment = f"Patient {NIR}".encode("cp437")
    msg = _mail()
    msg.add_attachment(buffer.getvalue(), maintype="application", subtype="zip", filename="a.zip")
    assert _nirs(msg.as_bytes()) == {"attachment:a.zip": PLAIN, "attachment:a.zip/a.txt": PLAIN}


# --------------------------------------------------------------------------- base64 in a text


def _text_attachment(text: str, name: str = "notes.txt") -> dict[str, str | None]:
    msg = _mail()
    msg.add_attachment(text.encode(), maintype="text", subtype="plain", filename=name)
    return _nirs(msg.as_bytes())


def _hl7(report: bytes, segments: int = 0) -> str:
    """An HL7 v2 result whose OBX segment carries ``report`` as encapsulated data."""
    filler = "".join(f"NTE|{i}||Commentaire du laboratoire numero {i}\r" for i in range(segments))
    data = base64.b64encode(report).decode()
    return (
        "MSH|^~\\&|LAB|CLINIQUE|DPI|CH|20261206||ORU^R01|1|P|2.5\r"
        "PID|1||IPP123^^^CLINIQUE||DUPONT^JEAN\r"
        f"{filler}OBX|1|ED|PDF^Compte rendu||^application^pdf^Base64^{data}||||||F\r"
    )


def test_an_hl7_results_pdf_is_read() -> None:
    from docs_factory import make_pdf

    pdf = make_pdf(["Compte rendu de biologie", f"NIR {NIR_SPACED}"])
    found = _text_attachment(_hl7(pdf), "resultat.hl7")
    assert found == {"attachment:resultat.hl7/document-1": PLAIN}
    # However long the file: the field is found by its encoding's name.
    long = _hl7(pdf, segments=8000)
    assert len(long) > 300_000
    assert _text_attachment(long, "resultats.hl7") == {"attachment:resultats.hl7/document-1": PLAIN}


def test_a_file_pasted_in_base64_is_read() -> None:
    from docs_factory import make_pdf

    pdf = base64.encodebytes(make_pdf([f"NIR {NIR_SPACED}"])).decode()
    text = f"Voici le fichier :\n{pdf}Cordialement\n"
    assert _text_attachment(text) == {"attachment:notes.txt/document-1": PLAIN}
    body = f"Bonjour,\nle dossier : {base64.b64encode(f'NIR {NIR_SPACED}'.encode()).decode()}\n"
    assert _nirs(_mail(body).as_bytes()) == {"attachment:document-1": PLAIN}
    # A text in Latin-1, as an older script encodes it.
    latin = base64.b64encode(f"Numéro de sécurité sociale : {NIR_SPACED}".encode("cp1252"))
    assert _nirs(_mail(f"Données : {latin.decode()}\n").as_bytes()) == {
        "attachment:document-1": PLAIN
    }


def test_base64_that_is_no_document_is_left() -> None:
    import hashlib

    noise = [
        hashlib.sha256(b"x").hexdigest(),
        base64.b64encode(hashlib.sha512(b"y").digest()).decode(),
        "anticonstitutionnellementXYZ",
        # A run of letters is base64 too, of bytes no one wrote.
        "a" * 3000,
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.encodebytes(bytes(range(200))).decode()
        + "-----END PUBLIC KEY-----",
    ]
    from leakguard.extract.encoded import encoded_files

    for text in noise:
        assert encoded_files(f"Bonjour,\n{text}\nMerci.", 1 << 20) == []
    raw = _mail("\n".join(noise) + f"\nNIR {NIR_SPACED}\n").as_bytes()
    found = list(scan(raw, fingerprinter=FP))
    assert {(f.kind, str(f.location)) for f in found} == {("nir", "body")}


def test_a_uuencoded_base64_file_is_read_once() -> None:
    data = base64.encodebytes(f"NIR {NIR_SPACED}\n".encode()).decode()
    text = f"begin-base64 644 fiche.txt\n{data}====\n"
    assert _text_attachment(text) == {"attachment:notes.txt/fiche.txt": PLAIN}


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80))
def test_a_text_encoded_in_base64_is_read(words: str) -> None:
    encoded = base64.b64encode(f"{words} NIR {NIR_SPACED}".encode()).decode()
    assert _nirs(_mail(f"Bonjour,\n{encoded}\nMerci.\n").as_bytes()) == {
        "attachment:document-1": PLAIN
    }


# --------------------------------------------------------------------------- URL escapes


@pytest.mark.parametrize(
    "link",
    [
        f"https://rdv.example.fr/?nir={quote(NIR_SPACED)}",
        "https://rdv.example.fr/?nir=" + NIR_SPACED.replace(" ", "+"),
        f"<https://rdv.example.fr/dossier/{quote(NIR_SPACED, safe='')}>",
    ],
    ids=["%20", "+", "path"],
)
def test_a_link_written_with_url_escapes_is_read_decoded(link: str) -> None:
    assert _nirs(_mail(f"Bonjour,\nvotre dossier : {link}\nCordialement.\n").as_bytes()) == {
        "body": PLAIN
    }


def test_percent_signs_and_sums_are_no_escapes() -> None:
    assert _escaped_tokens("Taux 50 %, 3 + 4, +33 6 12 34 56 78, 100%.") == ""
    assert _escaped_tokens("a 3+4 b 10%20") == "3 4\n10 "
    # A token too long to be a link (a base64 block) is left as it is.
    assert _escaped_tokens("x" * 5000 + "%20") == ""


def test_a_text_made_of_escapes_stops_at_the_deadline() -> None:
    """Millions of tiny escaped tokens cost a Python step each: the reading stops when
    the time is out, and says so."""
    text = "1+1 " * 3_000_000  # ten seconds of decoding without a deadline
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        _escaped_tokens(text, Deadline.after(0.2))
    assert time.perf_counter() - start < 1.5
    found = scan_text(text, Location.body(), fingerprinter=FP, deadline=Deadline.after(0.2))
    assert time.perf_counter() - start < 3
    assert [(f.kind, f.detail) for f in found] == [("unscannable_attachment", "timeout")]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_an_escaped_token_reads_as_the_text_it_encodes(text: str) -> None:
    token = "https://x.fr/?q=" + quote(text, safe="")
    decoded = _escaped_tokens(f"voir {token} merci")
    assert decoded in ("", f"https://x.fr/?q={text}")
    assert decoded or "%" not in token


# --------------------------------------------------------------------------- Outlook items


def test_each_body_of_an_outlook_item_is_read() -> None:
    item = OutlookItem(
        subject="Rendez-vous",
        body="Bonjour, à demain.",
        html=f"<html><body><p>Bonjour, à demain.</p><!-- {NIR} --></body></html>",
    )
    msg = _mail()
    msg.add_attachment(make_msg(item), maintype="application", subtype="vnd.ms-outlook",
                       filename="rdv.msg")  # fmt: skip
    assert _nirs(msg.as_bytes()) == {"attachment:rdv.msg": PLAIN}
    rtf = b"{\\rtf1 NIR " + NIR.encode() + b"}"
    item = OutlookItem(subject="Rendez-vous", body="Bonjour.", rtf=rtf)
    msg = _mail()
    msg.add_attachment(make_msg(item), maintype="application", subtype="vnd.ms-outlook",
                       filename="rdv.msg")  # fmt: skip
    assert _nirs(msg.as_bytes()) == {"attachment:rdv.msg": PLAIN}


# --------------------------------------------------------------------------- short texts


_PIECES = [*health_data.ANCHORS, "AME", "ALD", "ame", "Ald", "le ", "de", "é", "_", " ", "É",
           "\u2019", "x", "0", "\n"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_the_quick_places_of_a_short_text_are_the_bulk_ones(text: str) -> None:
    """Short texts find the medical anchors' places without numpy: the same places,
    with the same bits, as the path long texts take."""
    quick = health_data._quick_candidates(text, None)
    bulk = health_data._bulk_candidates(text, None)
    folded = health_data.folded_copy(text.encode("latin-1", "replace"))
    given_copy = health_data._quick_candidates(text, folded)
    same = [a.tolist() for a in quick] == [b.tolist() for b in bulk]
    assert same and [a.tolist() for a in given_copy] == [b.tolist() for b in bulk]


def test_short_texts_find_the_medical_terms_long_ones_do() -> None:
    for text in ["Suivi de diabète", "AME", "chimiothérapie", "Dossier ALD 30", "K50.1 colite"]:
        padded = text + " " * (health_data._QUICK_MAX + 10)
        assert health_data.categories(text) == health_data.categories(padded), text
        assert len(text) <= health_data._QUICK_MAX


def test_hidden_text_after_many_elements_never_closed_is_still_left_out() -> None:
    padding = "<p>x" * 10_000
    html = f"{padding}<p>NIR {NIR_SPACED[:8]}<span hidden>x</span>{NIR_SPACED[8:]}</p>"
    assert _nirs(_mail(html=html).as_bytes()) == {"body": PLAIN}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab12 -.\ue000\n", max_size=40))
def test_glue_is_found_exactly_where_an_edge_touches_a_digit(text: str) -> None:
    # The numpy search agrees with the plain definition, on ASCII text.
    import re

    from leakguard.extract._common import EDGE, _glue_places, without_marks

    definition = re.compile(f"[a-z0-9]{EDGE}+[0-9]|[0-9]{EDGE}+[a-z0-9]")
    places = _glue_places(text)
    assert bool(places) == (definition.search(text) is not None)
    # A short text is searched with an expression, a long one with numpy: the same.
    assert bool(without_marks(text)[1]) == bool(without_marks(text + " " * 5000)[1])
    assert all(text[p] == EDGE and (p == 0 or text[p - 1] != EDGE) for p in places)
