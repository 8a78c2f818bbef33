"""Build real test documents and messages in memory: PDF (fpdf2), DOCX/XLSX/PPTX and
ODT/ODS/ODP (zipped XML, or openpyxl), ZIP (plain, AES, nested), RTF, HTML, CSV, e-mails
with attachments and forwarded messages, and encrypted containers.

Shared by the tests, examples and benchmarks. Every builder returns ``bytes``.
"""

from __future__ import annotations

import base64
import datetime
import io
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = [
    "PGP_PUBLIC_KEY_ARMOUR",
    "PGP_PUBLIC_KEY_BINARY",
    "PGP_SYMMETRIC_ARMOUR",
    "SAMPLE_IBAN",
    "SAMPLE_NIR",
    "Attachment",
    "compact",
    "contains_value",
    "excel_globals",
    "make_compound_file",
    "make_csv",
    "make_detached_signature",
    "make_docx",
    "make_eml",
    "make_encrypted_office",
    "make_html",
    "make_legacy_doc",
    "make_legacy_xls",
    "make_nested_zip",
    "make_odp",
    "make_ods",
    "make_odt",
    "make_pdf",
    "make_pgp_eml",
    "make_pptx",
    "make_rtf",
    "make_signed_eml",
    "make_smime_eml",
    "make_xlsx",
    "make_zip",
    "mask",
    "word_fib",
    "write_zero_bomb",
]

# Checked vectors from the identifier rules (valid key / valid mod-97).
SAMPLE_NIR = "1 85 05 75 112 345 29"
SAMPLE_IBAN = "FR76 3000 6000 0112 3456 7890 189"

_SEPARATORS = re.compile(r"[\s\u00a0\u202f.\-/]+")

Table = Sequence[Sequence[str | Sequence[str]]]
"""Rows of cells; a cell is a string, or a list of paragraphs shown in that one cell."""


# --------------------------------------------------------------------------- assertions


def compact(value: str) -> str:
    """A value without its separators (spaces, tabs, line breaks, dots, dashes, slashes)."""
    return _SEPARATORS.sub("", value).upper()


def contains_value(text: str, value: str) -> bool:
    """True when ``value`` appears in ``text``, whatever separators split it."""
    return compact(value) in compact(text)


def mask(value: str) -> str:
    """A value safe to print in a failure message: first and last two characters only."""
    c = compact(value)
    return c[:2] + "*" * max(0, len(c) - 4) + c[-2:]


def _cell_paragraphs(cell: str | Sequence[str]) -> list[str]:
    return [cell] if isinstance(cell, str) else list(cell)


def _zip(members: Mapping[str, bytes | str], *, first_stored: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if first_stored is not None:
            content = members[first_stored]
            zf.writestr(zipfile.ZipInfo(first_stored), content, compress_type=zipfile.ZIP_STORED)
        for name, content in members.items():
            if name != first_stored:
                zf.writestr(name, content)
    return buf.getvalue()


# --------------------------------------------------------------------------- PDF


def make_pdf(lines: Sequence[str], pages: int = 1, *, password: str | None = None) -> bytes:
    """A real PDF: ``lines`` written on each of ``pages`` pages.

    The built-in Helvetica font covers latin-1 only: other characters are written as
    ``?``. With ``password`` the PDF is AES-256 encrypted and needs it to be opened. With no
    lines the pages carry no text at all (like a scan).
    """
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for _ in range(pages):
        pdf.add_page()
        for line in lines:
            text = line.encode("latin-1", "replace").decode("latin-1")
            pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    if password is not None:
        pdf.set_encryption(
            owner_password=password + "-owner",
            user_password=password,
            encryption_method=EncryptionMethod.AES_256,
        )
    return bytes(pdf.output())


# --------------------------------------------------------------------------- OOXML

_CT_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
)
_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_OFFICE_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_A = "http://schemas.openxmlformats.org/drawingml/2006/main"
_P = "http://schemas.openxmlformats.org/presentationml/2006/main"


def _root_rels(target: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS_NS}">'
        f'<Relationship Id="rId1" Type="{_OFFICE_DOC}" Target="{target}"/></Relationships>'
    )


def _w_para(text: str) -> str:
    # A tab stop in the paragraph properties, to make sure readers do not take it for text.
    runs = "".join(
        f'<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">{escape(part)}</w:t></w:r>'
        if i == 0
        else f'<w:r><w:tab/><w:t xml:space="preserve">{escape(part)}</w:t></w:r>'
        for i, part in enumerate(text.split("\t"))
    )
    return f'<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>{runs}</w:p>'


def make_docx(paragraphs: Sequence[str], table: Table | None = None) -> bytes:
    """A Word document: the paragraphs, then the table (if any).

    A cell given as a list of strings holds one paragraph per string.
    """
    body = "".join(_w_para(p) for p in paragraphs)
    if table is not None:
        rows = []
        for row in table:
            cells = "".join(
                "<w:tc><w:tcPr><w:tcW w:w='2000' w:type='dxa'/></w:tcPr>"
                + "".join(_w_para(p) for p in _cell_paragraphs(cell))
                + "</w:tc>"
                for cell in row
            )
            rows.append(f"<w:tr>{cells}</w:tr>")
        body += (
            "<w:tbl><w:tblPr><w:tblW w:w='0' w:type='auto'/></w:tblPr>"
            "<w:tblGrid><w:gridCol w:w='2000'/></w:tblGrid>" + "".join(rows) + "</w:tbl>"
        )
    document = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W}">'
        f"<w:body>{body}<w:sectPr/></w:body></w:document>"
    )
    return _zip(
        {
            "[Content_Types].xml": _CT_HEAD
            + '<Override PartName="/word/document.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
            "_rels/.rels": _root_rels("word/document.xml"),
            "word/document.xml": document,
        }
    )


def make_xlsx(
    rows: Sequence[Sequence[str | int | float | None]], *, inline_strings: bool = False
) -> bytes:
    """A workbook with one sheet holding ``rows``.

    By default written by openpyxl (text in shared strings); with ``inline_strings``
    written by hand with ``t="inlineStr"`` cells, as some exporters do.
    """
    if not inline_strings:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        assert ws is not None
        for row in rows:
            ws.append(list(row))
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    xml_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{chr(ord('A') + c)}{r}"
            if value is None:
                continue
            if isinstance(value, str):
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel_ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}"><sheetData>'
        + "".join(xml_rows)
        + "</sheetData></worksheet>"
    )
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}" xmlns:r="{rel_ns}">'
        '<sheets><sheet name="Feuil1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    wb_rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS_NS}">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    )
    return _zip(
        {
            "[Content_Types].xml": _CT_HEAD + "</Types>",
            "_rels/.rels": _root_rels("xl/workbook.xml"),
            "xl/workbook.xml": workbook,
            "xl/_rels/workbook.xml.rels": wb_rels,
            "xl/worksheets/sheet1.xml": sheet,
        }
    )


def _a_para(text: str) -> str:
    return f"<a:p><a:pPr/><a:r><a:rPr lang='fr-FR'/><a:t>{escape(text)}</a:t></a:r></a:p>"


def make_pptx(slides: Sequence[Sequence[str]], table: Table | None = None) -> bytes:
    """A presentation: one slide per list of lines; the table (if any) on the last slide."""
    members: dict[str, bytes | str] = {
        "[Content_Types].xml": _CT_HEAD + "</Types>",
        "_rels/.rels": _root_rels("ppt/presentation.xml"),
        "ppt/presentation.xml": f'<?xml version="1.0"?><p:presentation xmlns:p="{_P}"/>',
    }
    for n, lines in enumerate(slides, start=1):
        shapes = (
            "<p:sp><p:nvSpPr><p:cNvPr id='2' name='t'/></p:nvSpPr><p:txBody><a:bodyPr/>"
            + "".join(_a_para(line) for line in lines)
            + "</p:txBody></p:sp>"
        )
        if table is not None and n == len(slides):
            rows = "".join(
                "<a:tr h='0'>"
                + "".join(
                    "<a:tc><a:txBody><a:bodyPr/>"
                    + "".join(_a_para(p) for p in _cell_paragraphs(cell))
                    + "</a:txBody><a:tcPr/></a:tc>"
                    for cell in row
                )
                + "</a:tr>"
                for row in table
            )
            shapes += (
                "<p:graphicFrame><a:graphic><a:graphicData><a:tbl><a:tblGrid/>"
                f"{rows}</a:tbl></a:graphicData></a:graphic></p:graphicFrame>"
            )
        members[f"ppt/slides/slide{n}.xml"] = (
            f'<?xml version="1.0"?><p:sld xmlns:p="{_P}" xmlns:a="{_A}"><p:cSld><p:spTree>'
            f"{shapes}</p:spTree></p:cSld></p:sld>"
        )
    return _zip(members)


# --------------------------------------------------------------------------- ODF

_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'office:version="1.3"'
)


def _odf(mimetype: str, body: str, *, encrypted: bool = False, label_only: bool = False) -> bytes:
    content: str | bytes = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODF_NS}>'
        f"<office:body>{body}</office:body></office:document-content>"
    )
    if encrypted and not label_only:
        assert isinstance(content, str)
        content = _odf_cipher(content.encode())
    entry = (
        "<manifest:file-entry manifest:full-path='content.xml' manifest:media-type='text/xml'>"
        + (
            "<manifest:encryption-data manifest:checksum-type='SHA1/1K' manifest:checksum='AAAA'/>"
            if encrypted or label_only
            else ""
        )
        + "</manifest:file-entry>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        f"<manifest:file-entry manifest:full-path='/' manifest:media-type='{mimetype}'/>"
        f"{entry}</manifest:manifest>"
    )
    return _zip(
        {"mimetype": mimetype, "content.xml": content, "META-INF/manifest.xml": manifest},
        first_stored="mimetype",
    )


def _odf_cipher(content: bytes) -> bytes:
    """What ODF stores for an encrypted part: the deflated bytes, AES-256-CBC encrypted
    (here with a random key nobody keeps)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = deflater.compress(content) + deflater.flush()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(packed) + padder.finalize()
    encryptor = Cipher(algorithms.AES(os.urandom(32)), modes.CBC(os.urandom(16))).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _text_p(text: str) -> str:
    # Runs of spaces and tabs written the ODF way (text:s, text:tab).
    out = escape(text).replace("\t", "<text:tab/>")
    out = re.sub(r"  +", lambda m: f' <text:s text:c="{len(m.group()) - 1}"/>', out)
    return f"<text:p>{out}</text:p>"


def _odf_table(table: Table) -> str:
    rows = "".join(
        "<table:table-row>"
        + "".join(
            '<table:table-cell office:value-type="string">'
            + "".join(_text_p(p) for p in _cell_paragraphs(cell))
            + "</table:table-cell>"
            for cell in row
        )
        + '<table:table-cell table:number-columns-repeated="16384"/>'
        + "</table:table-row>"
        for row in table
    )
    return (
        "<table:table table:name='T1'><table:table-column/>"
        + rows
        + '<table:table-row table:number-rows-repeated="1048000"><table:table-cell/>'
        "</table:table-row></table:table>"
    )


def make_odt(
    paragraphs: Sequence[str],
    table: Table | None = None,
    *,
    encrypted: bool = False,
    label_only: bool = False,
) -> bytes:
    """An OpenDocument text: paragraphs, then the table (if any).

    ``encrypted`` writes a password-protected document: its manifest lists the
    encryption and ``content.xml`` is ciphertext. ``label_only`` writes the same
    manifest over a ``content.xml`` left in clear: a liar.
    """
    body = "".join(_text_p(p) for p in paragraphs)
    if table is not None:
        body += _odf_table(table)
    return _odf(
        "application/vnd.oasis.opendocument.text",
        f"<office:text>{body}</office:text>",
        encrypted=encrypted,
        label_only=label_only,
    )


def make_ods(rows: Table) -> bytes:
    """An OpenDocument spreadsheet with one sheet; every row ends with the huge repeated
    empty cell LibreOffice writes, and the sheet with a million repeated empty rows."""
    return _odf(
        "application/vnd.oasis.opendocument.spreadsheet",
        f"<office:spreadsheet>{_odf_table(rows)}</office:spreadsheet>",
    )


def make_odp(slides: Sequence[Sequence[str]]) -> bytes:
    """An OpenDocument presentation: one page per list of lines, in a text box."""
    pages = "".join(
        f"<draw:page draw:name='p{n}'><draw:frame><draw:text-box>"
        + "".join(_text_p(line) for line in lines)
        + "</draw:text-box></draw:frame></draw:page>"
        for n, lines in enumerate(slides, start=1)
    )
    return _odf(
        "application/vnd.oasis.opendocument.presentation",
        f"<office:presentation>{pages}</office:presentation>",
    )


# --------------------------------------------------------------------------- archives


def make_zip(members: Mapping[str, bytes], password: str | None = None) -> bytes:
    """A ZIP of ``members``; with ``password``, every member is AES-256 encrypted."""
    if password is None:
        return _zip(dict(members))
    import pyzipper

    buf = io.BytesIO()
    with pyzipper.AESZipFile(
        buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as zf:
        zf.setpassword(password.encode())
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def make_nested_zip(levels: int, members: Mapping[str, bytes]) -> bytes:
    """``members`` in a ZIP, inside a ZIP, … ``levels`` deep (``levels >= 1``)."""
    data = make_zip(members)
    for level in range(levels - 1, 0, -1):
        data = make_zip({f"level{level}.zip": data})
    return data


def write_zero_bomb(path: Path, size: int, *, name: str = "zeros.bin") -> Path:
    """Write a ZIP (with ZIP64 sizes) whose one member inflates to ``size`` zero bytes.

    Cheap however large: one mebibyte of zeros is deflated once, ending on a full
    flush, and that identical block is repeated; only the CRC walks the whole size.
    About 1 KB on disk per MiB expanded.
    """
    mib = 1 << 20
    block = bytes(mib)
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
    whole = squeezer.compress(block) + squeezer.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(size, mib)
    # The full flush leaves the stream byte-aligned: a fresh stream's blocks may follow,
    # its last block closing the whole.
    closer = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = closer.compress(bytes(rest)) + closer.flush()
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(bytes(rest), crc)
    compressed = len(whole) * count + len(tail)
    encoded = name.encode()
    extra = struct.pack("<HHQQ", 0x0001, 16, size, compressed)
    when = (0, (2024 - 1980) << 9 | 1 << 5 | 1)
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0, 8, *when, crc, 0xFFFFFFFF, 0xFFFFFFFF,
        len(encoded), len(extra),
    )  # fmt: skip
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, 0, 8, *when, crc, 0xFFFFFFFF,
        0xFFFFFFFF, len(encoded), len(extra), 0, 0, 0, 0, 0,
    )  # fmt: skip
    with path.open("wb") as out:
        out.write(local + encoded + extra)
        for _ in range(count):
            out.write(whole)
        out.write(tail)
        directory_at = out.tell()
        record = central + encoded + extra
        out.write(record)
        end = (b"PK\x05\x06", 0, 0, 1, 1, len(record), directory_at, 0)
        out.write(struct.pack("<4sHHHHIIH", *end))
    return path


def deflate_ratio(data: bytes) -> float:
    """How much ``data`` shrinks under deflate (useful to pick bomb sizes)."""
    return len(data) / max(1, len(zlib.compress(data)))


# --------------------------------------------------------------------------- text formats


def make_rtf(lines: Sequence[str], table: Table | None = None) -> bytes:
    """An RTF document (cp1252): lines as paragraphs, then the table as RTF rows."""

    def enc(text: str) -> str:
        out = []
        for ch in text:
            if ch in "\\{}":
                out.append("\\" + ch)
            elif ord(ch) < 128:
                out.append(ch)
            else:
                out.append(f"\\u{ord(ch) if ord(ch) < 32768 else ord(ch) - 65536}?")
        return "".join(out)

    body = "".join(f"{enc(line)}\\par\n" for line in lines)
    if table is not None:
        for row in table:
            cells = "".join(f"\\cellx{1500 * (i + 1)}" for i in range(len(row)))
            texts = "".join(
                "\\pard\\intbl " + " \\par ".join(enc(p) for p in _cell_paragraphs(c)) + "\\cell "
                for c in row
            )
            body += f"\\trowd{cells}\n{texts}\\row\n"
    return ("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Arial;}}\n" + body + "}").encode(
        "cp1252"
    )


def make_html(paragraphs: Sequence[str], table: Table | None = None) -> bytes:
    """An HTML page (UTF-8) with a script and a style that readers must skip."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    if table is not None:
        body += (
            "<table>"
            + "".join(
                "<tr>"
                + "".join(
                    "<td>" + "".join(f"<p>{escape(p)}</p>" for p in _cell_paragraphs(c)) + "</td>"
                    for c in row
                )
                + "</tr>"
                for row in table
            )
            + "</table>"
        )
    return (
        "<!DOCTYPE html><html><head><title>Doc</title><style>p{color:red}</style>"
        "<script>var hidden = '9999';</script></head>"
        f"<body>{body}</body></html>"
    ).encode()


def make_csv(
    rows: Sequence[Sequence[str]], *, delimiter: str = ";", encoding: str = "utf-8"
) -> bytes:
    """A CSV file; cells holding the delimiter, quotes or line breaks are quoted."""
    import csv

    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode(encoding)


# --------------------------------------------------------------------------- e-mails


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file. ``filename=None`` leaves it unnamed; ``inline`` marks it so."""

    content: bytes
    filename: str | None = None
    content_type: str = "application/octet-stream"
    inline: bool = False
    extra_headers: Mapping[str, str] = field(default_factory=dict)


def make_eml(
    *,
    subject: str = "Dossier",
    body: str | None = "Bonjour,\nveuillez trouver le document.\n",
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
    forwarded: Iterable[bytes] = (),
    sender: str = "alice@hopital.example",
    to: str = "bob@partenaire.example",
    charset: str = "utf-8",
) -> bytes:
    """A complete message: text body (and HTML alternative), attachments, and forwarded
    messages attached as ``message/rfc822``."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0100"
    msg["Message-ID"] = "<factory-1@hopital.example>"
    if body is not None:
        msg.set_content(body, charset=charset)
    if html is not None:
        if body is None:
            msg.set_content(html, subtype="html", charset=charset)
        else:
            msg.add_alternative(html, subtype="html", charset=charset)
    for att in attachments:
        ctype, *params = (p.strip() for p in att.content_type.split(";"))
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(
            att.content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=att.filename,
            disposition="inline" if att.inline else "attachment",
        )
        part = msg.get_payload()[-1]
        for param in params:
            key, _, value = param.partition("=")
            part.set_param(key, value.strip('"'))
        if att.filename is None:
            del part["Content-Disposition"]
            if not att.inline:
                part["Content-Disposition"] = "attachment"
        for key, value in att.extra_headers.items():
            part[key] = value
    for raw in forwarded:
        from email import message_from_bytes
        from email.policy import default

        inner = message_from_bytes(raw, policy=default)
        msg.add_attachment(inner)
    return msg.as_bytes(policy=SMTP)


# Real OpenPGP messages written by GnuPG 2.4 ("Compte rendu confidentiel\n"): with a
# pass phrase (SKESK v4, then SEIPD v1), and to a Curve25519 key (PKESK v3, then SEIPD).
PGP_SYMMETRIC_ARMOUR = """-----BEGIN PGP MESSAGE-----

jA0ECQMCxVXnJVchSdb/0lgBJmkHLlq35IkrMHZgT5UqgZmhXa4evH5NbSgV9psh
z7gul+4izSgplyZps1AcWqH1ZmnUvXAyyc7OYTpT4BS62xXtkTDp/4s5sN0Z7mvp
TkrGyZ+kjlya
=cni5
-----END PGP MESSAGE-----
"""
PGP_PUBLIC_KEY_ARMOUR = """-----BEGIN PGP MESSAGE-----

hF4Dp1RU30BcBIASAQdA7AHTeen33Hcxr5MsJ7MYBp0XQbeBdmt+xGXxxmfY9Ugw
XddEJUweGwybNEl9educvTOK9X5J3yi9rwE3FnyP4ejnwfX2nzotj404wwLrbPsH
0l4BwBr9gB3jEEDG/SNOA4Ggv7aKiR3g8+yYkUaevitnkRw/c7vm0uebVbgE0AWI
v82JJ5lnAftOh8CyfKqoqhVBZKXIt/a/l6/NZEJcZ+r1jmdFAXLxrZv1MKqM0uwd
=q7rq
-----END PGP MESSAGE-----
"""
PGP_PUBLIC_KEY_BINARY = base64.b64decode(
    "hF4Dp1RU30BcBIASAQdAXMT1mWLPBDZsMDD1JJ74sNzkDUo6G4MjeC3be/jq3S4wQ5t/rjhvf7/tdd3ZOGUgVX"
    "TmbYAjbgDRa05kUFgjuGSGFITM5J1M8zp4POEqIAPq0l4BSN0RBbVTpAEjjxO9DJX0DHC6gBiq1sdycqCuHM8Zd"
    "jGbHro+XjGUj/33tSl2T7hiFbu4aDXuIAjewL1Ro22Wo57ECYEuLUN12z03tn2LodECGwmLBEwO+OYAGVXZ"
)


def make_pgp_eml(*, subject: str = "Confidentiel", armored: str = PGP_PUBLIC_KEY_ARMOUR) -> bytes:
    """A PGP/MIME message (RFC 3156 layout) around an armored block (by default a real
    encrypted one)."""
    return (
        "From: alice@hopital.example\r\nTo: bob@partenaire.example\r\n"
        f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
        'boundary="pgpb"\r\n\r\n--pgpb\r\nContent-Type: application/pgp-encrypted\r\n\r\n'
        "Version: 1\r\n\r\n--pgpb\r\nContent-Type: application/octet-stream; "
        'name="encrypted.asc"\r\n\r\n' + armored.replace("\n", "\r\n") + "\r\n--pgpb--\r\n"
    ).encode()


def make_detached_signature(content: bytes) -> bytes:
    """A real detached CMS signature of ``content`` (DER), as an S/MIME signature part."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert, key = _self_signed()
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(cert, key, hashes.SHA256())  # type: ignore[arg-type]
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])
    )


def _self_signed() -> tuple[object, object]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bob@partenaire.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_smime_eml(inner: bytes, *, as_attachment: bool = False) -> bytes:
    """``inner`` (a MIME entity) S/MIME-enveloped for a fresh self-signed certificate.

    The whole message is enveloped, or, with ``as_attachment``, the enveloped entity is
    attached as ``smime.p7m`` to a plain message.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert, _ = _self_signed()
    assert isinstance(cert, x509.Certificate)
    enveloped = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(inner)
        .add_recipient(cert)
        .encrypt(serialization.Encoding.SMIME, [])
    )
    if not as_attachment:
        head = b"From: alice@hopital.example\r\nTo: bob@partenaire.example\r\nSubject: Chiffre\r\n"
        return head + enveloped.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    der = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(inner)
        .add_recipient(cert)
        .encrypt(serialization.Encoding.DER, [])
    )
    return make_eml(
        attachments=[
            Attachment(der, "smime.p7m", "application/pkcs7-mime; smime-type=enveloped-data")
        ]
    )


def make_signed_eml(inner: bytes) -> bytes:
    """``inner`` (a MIME entity) in an opaque-signed S/MIME message
    (``application/pkcs7-mime; smime-type=signed-data``): the content sits inside the
    signature structure."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert, key = _self_signed()
    assert isinstance(cert, x509.Certificate) and isinstance(key, rsa.RSAPrivateKey)
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(inner)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [])
    )
    return (
        b"From: alice@hopital.example\r\nTo: bob@partenaire.example\r\nSubject: Signe\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data;"
        b' name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(der).replace(b"\n", b"\r\n")
    )


def make_encrypted_office(document: bytes, password: str) -> bytes:
    """A password-protected Office file (ECMA-376 agile encryption, via msoffcrypto-tool):
    an OLE compound file with ``EncryptionInfo`` and ``EncryptedPackage`` streams."""
    import msoffcrypto
    from msoffcrypto.format.ooxml import OOXMLFile

    if len(document) < 8192:
        # msoffcrypto-tool writes a package smaller than 4 KB into the mini stream over
        # its EncryptionInfo (the file cannot be decrypted, not even by itself): a
        # member of random bytes keeps the package in regular sectors.
        document = _appended(document)
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(document)).encrypt(password, out)
    check = msoffcrypto.OfficeFile(io.BytesIO(out.getvalue()))
    check.load_key(password=password)
    check.decrypt(io.BytesIO())  # the vector is a real encrypted file
    return out.getvalue()


def _appended(document: bytes) -> bytes:
    buf = io.BytesIO(document)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("customXml/padding.bin", os.urandom(8192))
    return buf.getvalue()


# --------------------------------------------------------------- OLE compound files


def make_compound_file(streams: Mapping[str, bytes]) -> bytes:
    """A minimal version-3 compound file (MS-CFB) holding the given streams, at most
    three; a shorter stream is padded to 4096 bytes so that it lives in regular sectors."""
    sector = 512
    padded = {n: d.ljust(4096, b"\x00") for n, d in streams.items()}
    layout: list[tuple[str, int, int]] = []
    next_sector = 2  # 0 = FAT, 1 = directory
    for name, data in padded.items():
        count = -(-len(data) // sector)
        layout.append((name, next_sector, count))
        next_sector += count
    fat = [0xFFFFFFFF] * (sector // 4)
    fat[0] = 0xFFFFFFFD  # FAT sector
    fat[1] = 0xFFFFFFFE  # directory, one sector
    for _, start, count in layout:
        for s in range(start, start + count - 1):
            fat[s] = s + 1
        fat[start + count - 1] = 0xFFFFFFFE
    assert next_sector <= len(fat)

    def entry(name: str, kind: int, start: int, size: int, child: int, right: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        raw = encoded.ljust(64, b"\x00")
        raw += struct.pack("<HBB", len(encoded), kind, 1)
        raw += struct.pack("<III", 0xFFFFFFFF, right, child)
        raw += bytes(16) + bytes(4) + bytes(16)
        raw += struct.pack("<II", start, size) + bytes(4)
        assert len(raw) == 128
        return raw

    entries = [entry("Root Entry", 5, 0xFFFFFFFE, 0, 1 if layout else 0xFFFFFFFF, 0xFFFFFFFF)]
    for i, (name, start, _) in enumerate(layout):
        right = i + 2 if i + 1 < len(layout) else 0xFFFFFFFF
        entries.append(entry(name, 2, start, len(padded[name]), 0xFFFFFFFF, right))
    directory = b"".join(entries).ljust(sector, b"\x00")
    assert len(directory) == sector, "test builder holds at most four directory entries"

    header = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(16)
    header += struct.pack("<HHHH", 0x3E, 3, 0xFFFE, 9)
    header += struct.pack("<H", 6) + bytes(6)
    header += struct.pack("<IIIIIIII", 0, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE)
    header += struct.pack("<I", 0)
    difat = [0] + [0xFFFFFFFF] * 108
    header += struct.pack("<109I", *difat)
    assert len(header) == 512
    body = struct.pack(f"<{len(fat)}I", *fat) + directory
    for name, _, _ in layout:
        body += padded[name].ljust(-(-len(padded[name]) // sector) * sector, b"\x00")
    return header + body


def word_fib(encrypted: bool) -> bytes:
    """The head of a Word ``WordDocument`` stream: the FIB base, ``fEncrypted`` set or not."""
    flags = 0x0100 if encrypted else 0
    return struct.pack("<HHHHHH", 0xA5EC, 0x00C1, 0, 0, 0, flags)


def excel_globals(encrypted: bool) -> bytes:
    """The head of an Excel ``Workbook`` stream: BOF, then FILEPASS when encrypted."""
    bof = struct.pack("<HH", 0x0809, 16) + bytes(16)
    following = struct.pack("<HH", 0x002F if encrypted else 0x00E1, 2) + bytes(2)
    return bof + following


def _stream_cipher(data: bytes) -> bytes:
    """Bytes as an encrypted document stores them: AES-CTR under a random key."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(os.urandom(16))).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def make_legacy_doc(text: str = "", *, encrypted: bool = False, label_only: bool = False) -> bytes:
    """A legacy Word file (.doc) whose ``WordDocument`` stream carries ``text`` in
    UTF-16 after the FIB. With ``encrypted`` the FIB says the document is encrypted and
    the text is ciphertext; with ``label_only`` the FIB says so over the clear text."""
    body = text.encode("utf-16-le")
    if encrypted and not label_only:
        body = _stream_cipher(body)
    stream = word_fib(encrypted or label_only).ljust(512, b"\x00") + body
    return make_compound_file({"WordDocument": stream})


def make_legacy_xls(text: str = "", *, encrypted: bool = False, label_only: bool = False) -> bytes:
    """A legacy Excel file (.xls) whose ``Workbook`` stream opens with BOF (and FILEPASS
    when ``encrypted`` or ``label_only``) and carries ``text`` in UTF-16 further on,
    encrypted or not as for :func:`make_legacy_doc`."""
    body = text.encode("utf-16-le")
    if encrypted and not label_only:
        body = _stream_cipher(body)
    stream = excel_globals(encrypted or label_only).ljust(512, b"\x00") + body
    return make_compound_file({"Workbook": stream})


def make_dicom(preamble: bytes = b"", **elements: object) -> bytes:
    """A DICOM Part 10 file (a CT image's header, explicit VR little endian) holding
    ``elements`` (pydicom keywords and values); ``preamble`` fills the first 128 bytes
    (another format's header, for files two programs open)."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    if preamble:
        ds.preamble = preamble.ljust(128, b"\0")[:128]
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()
