"""Documents and messages that hide text where a quick reader does not look: PDF form
fields, annotations, embedded files, old revisions; Office headers, comments, embedded
workbooks, chart caches, document properties; calendar invites, vCards, uuencoded and
mislabelled parts. Each builder puts ``value`` (an identifier) in one such place only.

PDFs are written by fpdf2 and pypdf (form fields filled with their appearance, files
attached, incremental updates) or pypdfium2; Office and OpenDocument files as zipped
XML, as ``docs_factory`` does. Every builder returns ``bytes``.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import io
import lzma
import quopri
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from xml.sax.saxutils import escape, quoteattr

from docs_factory import (
    _A,
    _CT_HEAD,
    _P,
    _W,
    _a_para,
    _odf,
    _root_rels,
    _text_p,
    _w_para,
    _zip,
    make_csv,
    make_docx,
    make_pdf,
    make_xlsx,
)

__all__ = [
    "PDF_PLACES",
    "cte_lie",
    "make_docx_with",
    "make_ics",
    "make_pptx_with",
    "make_vcard",
    "make_xlsx_with",
    "raw_message",
]

LABEL = "Formulaire de demande, voir les champs ci-dessous."


# --------------------------------------------------------------------------- PDF


def _fpdf(lines: list[str] | None = None) -> object:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    for line in lines or [LABEL]:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return pdf


def _out(pdf: object) -> bytes:
    return bytes(pdf.output())  # type: ignore[attr-defined]


def pdf_form_field(value: str) -> bytes:
    """A form whose text field was filled in by a form program: the value in the field's
    ``/V`` and in the appearance it drew, nothing in the page's own content."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (
        ArrayObject,
        DictionaryObject,
        FloatObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_out(_fpdf()))))
    page = writer.pages[0]
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    field = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject("/Tx"),
            NameObject("/T"): TextStringObject("immatriculation"),
            NameObject("/Rect"): ArrayObject(
                [FloatObject(60), FloatObject(600), FloatObject(360), FloatObject(625)]
            ),
            NameObject("/F"): NumberObject(4),
            NameObject("/DA"): TextStringObject("/Helv 11 Tf 0 g"),
            NameObject("/P"): page.indirect_reference,
        }
    )
    ref = writer._add_object(field)
    page[NameObject("/Annots")] = ArrayObject([ref])
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {
            NameObject("/Fields"): ArrayObject([ref]),
            NameObject("/DA"): TextStringObject("/Helv 11 Tf 0 g"),
            NameObject("/DR"): DictionaryObject(
                {
                    NameObject("/Font"): DictionaryObject(
                        {NameObject("/Helv"): writer._add_object(font)}
                    )
                }
            ),
        }
    )
    writer.update_page_form_field_values(page, {"immatriculation": value}, auto_regenerate=False)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def pdf_xfa(value: str) -> bytes:
    """A form whose data lives in its XFA ``datasets`` packet (LiveCycle / Designer
    forms), with an empty AcroForm beside it."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, StreamObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_out(_fpdf()))))
    template = StreamObject()
    template.set_data(
        b'<template xmlns="http://www.xfa.org/schema/xfa-template/3.3/">'
        b'<subform name="form1"><field name="nir"/></subform></template>'
    )
    datasets = StreamObject()
    datasets.set_data(
        (
            '<xfa:datasets xmlns:xfa="http://www.xfa.org/schema/xfa-data/1.0/"><xfa:data>'
            f"<form1><nir>{escape(value)}</nir></form1></xfa:data></xfa:datasets>"
        ).encode()
    )
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {
            NameObject("/Fields"): ArrayObject([]),
            NameObject("/XFA"): ArrayObject(
                [
                    pypdf_text("template"),
                    writer._add_object(template),
                    pypdf_text("datasets"),
                    writer._add_object(datasets),
                ]
            ),
        }
    )
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def pypdf_text(text: str) -> object:
    from pypdf.generic import TextStringObject

    return TextStringObject(text)


def pdf_sticky_note(value: str) -> bytes:
    """A comment (sticky note) whose text, in ``/Contents``, shows when it is opened."""
    pdf = _fpdf()
    pdf.text_annotation(20, 40, f"Patient : {value}")  # type: ignore[attr-defined]
    return _out(pdf)


def pdf_free_text(value: str) -> bytes:
    """A text box added by a PDF editor (FreeText annotation)."""
    pdf = _fpdf()
    pdf.free_text_annotation(f"NIR {value}", x=20, y=40, w=120, h=12)  # type: ignore[attr-defined]
    return _out(pdf)


def pdf_embedded_file(value: str) -> bytes:
    """A PDF carrying a CSV in its ``/EmbeddedFiles`` (a portfolio, a ZUGFeRD-style
    attachment)."""
    pdf = _fpdf()
    csv = make_csv([["nom", "nir"], ["DUPONT", value]])
    pdf.embed_file(bytes=csv, basename="patients.csv")  # type: ignore[attr-defined]
    return _out(pdf)


def pdf_attachment_annotation(value: str, tmp: Callable[[str, bytes], str]) -> bytes:
    """A CSV attached to a page through a file attachment annotation (a paper clip)."""
    pdf = _fpdf()
    path = tmp("liste.csv", make_csv([["nom", "nir"], ["DUPONT", value]]))
    pdf.file_attachment_annotation(path, x=20, y=40)  # type: ignore[attr-defined]
    return _out(pdf)


def pdf_hidden_layer(value: str) -> bytes:
    """Text in an optional content group that is hidden on screen and in print."""
    pdf = _fpdf()
    with pdf.optional_content(on_view=False, on_print=False, label="masque"):  # type: ignore[attr-defined]
        pdf.cell(0, 8, f"NIR {value}", new_x="LMARGIN", new_y="NEXT")  # type: ignore[attr-defined]
    return _out(pdf)


def pdf_form_xobject(value: str) -> bytes:
    """A page whose text is drawn by a form XObject (a page placed inside another, as
    imposition and stamping tools do), written with pypdfium2."""
    import pypdfium2 as pdfium

    source = pdfium.PdfDocument(make_pdf([f"NIR {value}"]))
    target = pdfium.PdfDocument.new()
    xobject = source.page_as_xobject(0, target)
    page = target.new_page(595, 842)
    page.insert_obj(xobject.as_pageobject())
    page.gen_content()
    buf = io.BytesIO()
    target.save(buf)
    for doc in (target, source):
        doc.close()
    return buf.getvalue()


def pdf_info(value: str) -> bytes:
    """The value in the document's title and subject (File > Properties)."""
    pdf = _fpdf()
    pdf.set_title(f"Arrêt de travail {value}")  # type: ignore[attr-defined]
    pdf.set_subject(f"NIR {value}")  # type: ignore[attr-defined]
    return _out(pdf)


def pdf_xmp(value: str) -> bytes:
    """The value in the XMP metadata only (a description field)."""
    pdf = _fpdf()
    pdf.set_xmp_metadata(  # type: ignore[attr-defined]
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/'
        "elements/1.1/\"><dc:description><rdf:Alt><rdf:li xml:lang='x-default'>NIR "
        f"{escape(value)}</rdf:li></rdf:Alt></dc:description></rdf:Description></rdf:RDF>"
        "</x:xmpmeta>"
    )
    return _out(pdf)


def pdf_old_revision(value: str) -> bytes:
    """A PDF edited in place: its first revision showed the value, an incremental update
    replaced the page's content; the old content is still in the file."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, StreamObject

    first = make_pdf([f"NIR {value}"])
    writer = PdfWriter(PdfReader(io.BytesIO(first)), incremental=True)
    page = writer.pages[0]
    content = StreamObject()
    content.set_data(b"")
    page[NameObject("/Contents")] = writer._add_object(content)
    buf = io.BytesIO()
    writer.write(buf)
    out = buf.getvalue()
    assert out.startswith(first[: len(first) - 64])
    return out


def pdf_appearance_only(value: str) -> bytes:
    """A filled form whose field value was emptied afterwards: what the field shows (its
    appearance stream) still holds the value."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_form_field(value))))
    for annot in writer.pages[0]["/Annots"]:
        annot.get_object()[NameObject("/V")] = TextStringObject("")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


PDF_PLACES: dict[str, Callable[[str], bytes]] = {
    "appearance_only": pdf_appearance_only,
    "form_field": pdf_form_field,
    "xfa_datasets": pdf_xfa,
    "sticky_note": pdf_sticky_note,
    "free_text": pdf_free_text,
    "embedded_file": pdf_embedded_file,
    "hidden_layer": pdf_hidden_layer,
    "form_xobject": pdf_form_xobject,
    "info": pdf_info,
    "xmp": pdf_xmp,
    "old_revision": pdf_old_revision,
}


# --------------------------------------------------------------------------- OOXML

_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CORE = (
    'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)
_C = "http://schemas.openxmlformats.org/drawingml/2006/chart"
_S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _doc(body: str, extra_ns: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W}" '
        f'xmlns:r="{_REL}" xmlns:a="{_A}" {extra_ns}><w:body>{body}<w:sectPr/></w:body>'
        "</w:document>"
    )


def _rels(targets: Mapping[str, tuple[str, str]]) -> str:
    items = "".join(
        f'<Relationship Id="{rid}" Type="{_REL}/{kind}" Target="{target}"/>'
        for rid, (kind, target) in targets.items()
    )
    head = f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG_REL}">'
    return f"{head}{items}</Relationships>"


def core_properties(value: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties {_CORE}>'
        f"<dc:title>Dossier {escape(value)}</dc:title><dc:creator>secretariat</dc:creator>"
        "</cp:coreProperties>"
    )


def custom_properties(value: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Properties xmlns="http://schemas.openxmlformats'
        '.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org'
        '/officeDocument/2006/docPropsVTypes"><property fmtid="{D5CDD505-2E9C-101B-9397-'
        '08002B2CF9AE}" pid="2" name="NumeroPatient">'
        f"<vt:lpwstr>{escape(value)}</vt:lpwstr></property></Properties>"
    )


def chart_xml(value: str) -> str:
    """A chart whose category labels are cached in the chart part (``c:strCache``)."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><c:chartSpace xmlns:c="{_C}" xmlns:a="{_A}">'
        "<c:chart><c:plotArea><c:barChart><c:ser><c:cat><c:strRef><c:f>Feuil1!$A$2</c:f>"
        f'<c:strCache><c:ptCount val="1"/><c:pt idx="0"><c:v>{escape(value)}</c:v></c:pt>'
        "</c:strCache></c:strRef></c:cat></c:ser></c:barChart></c:plotArea></c:chart>"
        "</c:chartSpace>"
    )


def diagram_data(value: str) -> str:
    """SmartArt: the text of its nodes lives in the diagram's data part."""
    dgm = "http://schemas.openxmlformats.org/drawingml/2006/diagram"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><dgm:dataModel xmlns:dgm="{dgm}" '
        f'xmlns:a="{_A}"><dgm:ptLst><dgm:pt modelId="1"><dgm:t><a:bodyPr/>'
        f"{_a_para('NIR ' + value)}</dgm:t></dgm:pt></dgm:ptLst></dgm:dataModel>"
    )


def _docx_base(body: str, members: Mapping[str, str | bytes], rels: str | None = None) -> bytes:
    files: dict[str, str | bytes] = {
        "[Content_Types].xml": _CT_HEAD
        + '<Override PartName="/word/document.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        "_rels/.rels": _root_rels("word/document.xml"),
        "word/document.xml": _doc(body),
    }
    if rels is not None:
        files["word/_rels/document.xml.rels"] = rels
    files.update(members)
    return _zip(files)


_PLAIN = _w_para("Compte rendu de consultation.")


def make_docx_with(place: str, value: str) -> bytes:
    """A Word document holding ``value`` only in ``place`` (see DOCX_PLACES)."""
    text = f"NIR {value}"
    if place == "core_properties":
        return _docx_base(_PLAIN, {"docProps/core.xml": core_properties(value)})
    if place == "custom_properties":
        return _docx_base(_PLAIN, {"docProps/custom.xml": custom_properties(value)})
    if place == "custom_xml":
        return _docx_base(
            _PLAIN,
            {"customXml/item1.xml": f"<patient><nir>{escape(value)}</nir></patient>"},
        )
    if place == "embedded_xlsx":
        sheet = make_xlsx([["nom", "nir"], ["DUPONT", value]])
        body = (
            _PLAIN
            + '<w:p><w:r><w:object><o:OLEObject r:id="rId9" '
            + 'xmlns:o="urn:schemas-microsoft-com:office:office"/></w:object></w:r></w:p>'
        )
        return _docx_base(
            body,
            {"word/embeddings/Microsoft_Excel_Worksheet.xlsx": sheet},
            _rels({"rId9": ("package", "embeddings/Microsoft_Excel_Worksheet.xlsx")}),
        )
    if place == "embedded_ole_package":
        csv = make_csv([["nom", "nir"], ["DUPONT", value]])
        return _docx_base(
            _PLAIN,
            {"word/embeddings/oleObject1.bin": ole_package("liste.csv", csv)},
            _rels({"rId9": ("oleObject", "embeddings/oleObject1.bin")}),
        )
    if place == "alt_chunk":
        html = f"<html><body><p>{escape(text)}</p></body></html>"
        return _docx_base(
            _PLAIN + '<w:altChunk r:id="rId9"/>',
            {"word/afchunk.htm": html},
            _rels({"rId9": ("aFChunk", "afchunk.htm")}),
        )
    if place == "chart_cache":
        return _docx_base(
            _PLAIN,
            {"word/charts/chart1.xml": chart_xml(value)},
            _rels({"rId9": ("chart", "charts/chart1.xml")}),
        )
    if place == "smartart":
        return _docx_base(
            _PLAIN,
            {"word/diagrams/data1.xml": diagram_data(value)},
            _rels({"rId9": ("diagramData", "diagrams/data1.xml")}),
        )
    if place == "fallback_textbox":
        # A text box written twice, as Word writes it: the modern shape in the Choice,
        # the legacy VML one in the Fallback. A liar puts the text in the Fallback only.
        mc = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
        body = (
            _PLAIN + f"<w:p><w:r><mc:AlternateContent {mc}><mc:Choice Requires='wps'>"
            "<w:drawing/></mc:Choice><mc:Fallback><w:pict><v:shape "
            "xmlns:v='urn:schemas-microsoft-com:vml'><v:textbox><w:txbxContent>"
            f"{_w_para(text)}</w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback>"
            "</mc:AlternateContent></w:r></w:p>"
        )
        return _docx_base(body, {})
    if place == "field_code":
        # A field whose displayed result was cleared: its code still holds the text.
        body = (
            _PLAIN + '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r>'
            f'<w:instrText xml:space="preserve"> QUOTE "{escape(text)}" </w:instrText></w:r>'
            '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r>'
            '<w:fldChar w:fldCharType="end"/></w:r></w:p>'
        )
        return _docx_base(body, {})
    if place == "glossary":
        return _docx_base(
            _PLAIN,
            {
                "word/glossary/document.xml": _doc(_w_para(text)).replace(
                    "w:document", "w:glossaryDocument"
                )
            },
        )
    if place == "image":
        return docx_with_picture(scan_png(text))
    raise ValueError(place)


def docx_with_picture(png: bytes) -> bytes:
    """A Word document with a picture placed in it."""
    return _docx_base(
        _PLAIN,
        {"word/media/image1.png": png},
        _rels({"rId9": ("image", "media/image1.png")}),
    )


DOCX_PLACES = (
    "core_properties", "custom_properties", "custom_xml", "embedded_xlsx",
    "embedded_ole_package", "alt_chunk", "chart_cache", "smartart", "fallback_textbox",
    "field_code", "glossary",
)  # fmt: skip
"""Places of a Word document tried without OCR (``image`` needs it)."""


def make_docx_read_already(place: str, value: str) -> bytes:
    """Places the Word reader read before: header, footnote, comment, text box, deleted
    and hidden text."""
    text = f"NIR {value}"
    if place == "header":
        return _docx_base(
            _PLAIN, {"word/header1.xml": _doc(_w_para(text)).replace("w:document", "w:hdr")}
        )
    if place == "footnote":
        return _docx_base(
            _PLAIN, {"word/footnotes.xml": _doc(_w_para(text)).replace("w:document", "w:footnotes")}
        )
    if place == "comment":
        return _docx_base(
            _PLAIN, {"word/comments.xml": _doc(_w_para(text)).replace("w:document", "w:comments")}
        )
    if place == "textbox":
        body = _PLAIN + f"<w:p><w:r><w:txbxContent>{_w_para(text)}</w:txbxContent></w:r></w:p>"
        return _docx_base(body, {})
    if place == "deleted":
        body = (
            _PLAIN
            + '<w:p><w:del w:id="1" w:author="x"><w:r>'
            + f"<w:delText>{escape(text)}</w:delText></w:r></w:del></w:p>"
        )
        return _docx_base(body, {})
    if place == "hidden":
        body = _PLAIN + f"<w:p><w:r><w:rPr><w:vanish/></w:rPr><w:t>{escape(text)}</w:t></w:r></w:p>"
        return _docx_base(body, {})
    raise ValueError(place)


def _workbook(
    sheets: list[tuple[str, str, str]], extra: Mapping[str, str | bytes], names: str = ""
) -> bytes:
    """A workbook from (name, state, sheet XML) triples and extra members."""
    wb_sheets = "".join(
        f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"'
        + (f' state="{state}"' if state else "")
        + "/>"
        for i, (name, state, _) in enumerate(sheets, start=1)
    )
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_S}" xmlns:r="{_REL}">'
        f"<sheets>{wb_sheets}</sheets>{names}</workbook>"
    )
    rels = _rels(
        {f"rId{i}": ("worksheet", f"worksheets/sheet{i}.xml") for i in range(1, len(sheets) + 1)}
    )
    members: dict[str, str | bytes] = {
        "[Content_Types].xml": _CT_HEAD + "</Types>",
        "_rels/.rels": _root_rels("xl/workbook.xml"),
        "xl/workbook.xml": workbook,
        "xl/_rels/workbook.xml.rels": rels,
    }
    for i, (_, _, xml) in enumerate(sheets, start=1):
        members[f"xl/worksheets/sheet{i}.xml"] = xml
    members.update(extra)
    return _zip(members)


def _sheet(rows: str = "", tail: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_S}"><sheetData>{rows}'
        f"</sheetData>{tail}</worksheet>"
    )


def _inline_row(r: int, *cells: str) -> str:
    inner = "".join(
        f'<c r="{chr(65 + i)}{r}" t="inlineStr"><is><t>{escape(c)}</t></is></c>'
        for i, c in enumerate(cells)
    )
    return f'<row r="{r}">{inner}</row>'


_PLAIN_SHEET = _sheet(_inline_row(1, "Consultation", "12/03/2024"))


def make_xlsx_with(place: str, value: str) -> bytes:
    """A workbook holding ``value`` only in ``place`` (see XLSX_PLACES)."""
    text = f"NIR {value}"
    if place == "very_hidden_sheet":
        return _workbook(
            [
                ("Feuil1", "", _PLAIN_SHEET),
                ("cache", "veryHidden", _sheet(_inline_row(1, "NIR", value))),
            ],
            {},
        )
    if place == "header_footer":
        tail = f"<headerFooter><oddHeader>&amp;L{escape(text)}</oddHeader></headerFooter>"
        return _workbook([("Feuil1", "", _sheet(_inline_row(1, "Consultation"), tail))], {})
    if place == "defined_name":
        names = (
            '<definedNames><definedName name="nir_patient">'
            f'"{escape(value)}"</definedName></definedNames>'
        )
        return _workbook([("Feuil1", "", _PLAIN_SHEET)], {}, names)
    if place == "threaded_comment":
        tc = (
            '<?xml version="1.0" encoding="UTF-8"?><ThreadedComments xmlns="http://schemas.'
            'microsoft.com/office/spreadsheetml/2018/threadedcomments"><threadedComment '
            f'ref="A1" id="{{1}}"><text>{escape(text)}</text></threadedComment></ThreadedComments>'
        )
        return _workbook(
            [("Feuil1", "", _PLAIN_SHEET)], {"xl/threadedComments/threadedComment1.xml": tc}
        )
    if place == "drawing_textbox":
        xdr = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
        drawing = (
            f'<?xml version="1.0" encoding="UTF-8"?><xdr:wsDr xmlns:xdr="{xdr}" xmlns:a="{_A}">'
            "<xdr:twoCellAnchor><xdr:sp><xdr:txBody><a:bodyPr/>"
            f"{_a_para(text)}</xdr:txBody></xdr:sp></xdr:twoCellAnchor></xdr:wsDr>"
        )
        return _workbook([("Feuil1", "", _PLAIN_SHEET)], {"xl/drawings/drawing1.xml": drawing})
    if place == "chart_cache":
        return _workbook([("Feuil1", "", _PLAIN_SHEET)], {"xl/charts/chart1.xml": chart_xml(value)})
    if place == "pivot_cache":
        definition = (
            f'<?xml version="1.0" encoding="UTF-8"?><pivotCacheDefinition xmlns="{_S}">'
            '<cacheFields count="1"><cacheField name="nir"><sharedItems count="1">'
            f"<s v={quoteattr(value)}/></sharedItems></cacheField></cacheFields>"
            "</pivotCacheDefinition>"
        )
        return _workbook(
            [("Feuil1", "", _PLAIN_SHEET)],
            {"xl/pivotCache/pivotCacheDefinition1.xml": definition},
        )
    if place == "external_link":
        link = (
            f'<?xml version="1.0" encoding="UTF-8"?><externalLink xmlns="{_S}"><externalBook>'
            '<sheetNames><sheetName val="Patients"/></sheetNames><sheetDataSet><sheetData '
            f'sheetId="0"><row r="1"><cell r="A1" t="str"><v>{escape(value)}</v></cell></row>'
            "</sheetData></sheetDataSet></externalBook></externalLink>"
        )
        return _workbook(
            [("Feuil1", "", _PLAIN_SHEET)], {"xl/externalLinks/externalLink1.xml": link}
        )
    if place == "embedded_docx":
        inner = make_docx([text])
        return _workbook(
            [("Feuil1", "", _PLAIN_SHEET)],
            {"xl/embeddings/Microsoft_Word_Document.docx": inner},
        )
    if place == "core_properties":
        return _workbook(
            [("Feuil1", "", _PLAIN_SHEET)], {"docProps/core.xml": core_properties(value)}
        )
    raise ValueError(place)


XLSX_PLACES = (
    "very_hidden_sheet", "header_footer", "defined_name", "threaded_comment",
    "drawing_textbox", "chart_cache", "pivot_cache", "external_link", "embedded_docx",
    "core_properties",
)  # fmt: skip


def _slide(inner: str) -> str:
    return (
        f'<?xml version="1.0"?><p:sld xmlns:p="{_P}" xmlns:a="{_A}"><p:cSld><p:spTree>'
        f"{inner}</p:spTree></p:cSld></p:sld>"
    )


def _shape(text: str) -> str:
    return (
        "<p:sp><p:nvSpPr><p:cNvPr id='2' name='t'/></p:nvSpPr><p:txBody><a:bodyPr/>"
        f"{_a_para(text)}</p:txBody></p:sp>"
    )


def make_pptx_with(place: str, value: str) -> bytes:
    """A presentation holding ``value`` only in ``place`` (see PPTX_PLACES)."""
    text = f"NIR {value}"
    members: dict[str, str | bytes] = {
        "[Content_Types].xml": _CT_HEAD + "</Types>",
        "_rels/.rels": _root_rels("ppt/presentation.xml"),
        "ppt/presentation.xml": f'<?xml version="1.0"?><p:presentation xmlns:p="{_P}"/>',
        "ppt/slides/slide1.xml": _slide(_shape("Réunion de service")),
    }
    if place == "slide_master":
        members["ppt/slideMasters/slideMaster1.xml"] = (
            _slide(_shape(text))
            .replace("p:sld ", "p:sldMaster ")
            .replace("</p:sld>", "</p:sldMaster>")
        )
    elif place == "slide_layout":
        members["ppt/slideLayouts/slideLayout1.xml"] = (
            _slide(_shape(text))
            .replace("p:sld ", "p:sldLayout ")
            .replace("</p:sld>", "</p:sldLayout>")
        )
    elif place == "comment":
        members["ppt/comments/comment1.xml"] = (
            f'<?xml version="1.0"?><p:cmLst xmlns:p="{_P}"><p:cm authorId="0">'
            f"<p:text>{escape(text)}</p:text></p:cm></p:cmLst>"
        )
    elif place == "chart_cache":
        members["ppt/charts/chart1.xml"] = chart_xml(value)
    elif place == "smartart":
        members["ppt/diagrams/data1.xml"] = diagram_data(value)
    elif place == "embedded_xlsx":
        members["ppt/embeddings/Microsoft_Excel_Worksheet.xlsx"] = make_xlsx([["nir"], [value]])
    elif place == "core_properties":
        members["docProps/core.xml"] = core_properties(value)
    else:
        raise ValueError(place)
    return _zip(members)


PPTX_PLACES = (
    "slide_master", "slide_layout", "comment", "chart_cache", "smartart", "embedded_xlsx",
    "core_properties",
)  # fmt: skip


# --------------------------------------------------------------------------- ODF

_ODF_TEXT = "application/vnd.oasis.opendocument.text"


def _odf_with(members: Mapping[str, str | bytes], body: str = "") -> bytes:
    base = _odf(_ODF_TEXT, f"<office:text>{body or _text_p('Compte rendu.')}</office:text>")
    with zipfile.ZipFile(io.BytesIO(base)) as zf:
        files = {info.filename: zf.read(info) for info in zf.infolist()}
    files.update({k: v.encode() if isinstance(v, str) else v for k, v in members.items()})
    return _zip(files, first_stored="mimetype")


def make_odt_with(place: str, value: str) -> bytes:
    """An OpenDocument text holding ``value`` only in ``place`` (see ODT_PLACES)."""
    text = f"NIR {value}"
    if place == "meta":
        meta = (
            '<?xml version="1.0" encoding="UTF-8"?><office:document-meta xmlns:office="urn:'
            'oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:dc="http://purl.org/dc/elements'
            '/1.1/" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"><office:meta>'
            f"<dc:title>Dossier</dc:title><meta:user-defined meta:name='nir'>{escape(value)}"
            "</meta:user-defined></office:meta></office:document-meta>"
        )
        return _odf_with({"meta.xml": meta})
    if place == "form_control":
        form = (
            '<office:forms xmlns:form="urn:oasis:names:tc:opendocument:xmlns:form:1.0">'
            f"<form:form><form:text form:name='nir' form:current-value={quoteattr(value)}/>"
            "</form:form></office:forms>"
        )
        return _odf_with({}, form + _text_p("Compte rendu."))
    if place == "embedded_object":
        inner = (
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:'
            'oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:'
            'opendocument:xmlns:text:1.0"><office:body><office:text>'
            f"{_text_p(text)}</office:text></office:body></office:document-content>"
        )
        return _odf_with({"Object 1/content.xml": inner})
    if place == "annotation":
        body = _text_p("Compte rendu.").replace(
            "</text:p>",
            "<office:annotation><text:p>" + escape(text) + "</text:p></office:annotation></text:p>",
        )
        return _odf_with({}, body)
    if place == "tracked_deletion":
        body = (
            "<text:tracked-changes><text:changed-region text:id='c1'><text:deletion>"
            f"{_text_p(text)}</text:deletion></text:changed-region></text:tracked-changes>"
            + _text_p("Compte rendu.")
        )
        return _odf_with({}, body)
    raise ValueError(place)


ODT_PLACES = ("meta", "form_control", "embedded_object", "annotation", "tracked_deletion")


# --------------------------------------------------------------------------- OLE


def ole_package(name: str, data: bytes) -> bytes:
    """An OLE Package object as Office embeds a file (``\\x01Ole10Native`` stream)."""
    from docs_factory import make_compound_file

    label = name.encode() + b"\0"
    path = b"C:\\tmp\\" + name.encode() + b"\0"
    native = (
        struct.pack("<H", 2) + label + path + struct.pack("<HH", 0, 3)
        + struct.pack("<I", len(path)) + path + struct.pack("<I", len(data)) + data
    )  # fmt: skip
    body = struct.pack("<I", len(native)) + native
    return make_compound_file({"\x01Ole10Native": body})


# --------------------------------------------------------------------------- text formats


def fold(line: str, width: int = 40) -> str:
    """An iCalendar / vCard content line folded at ``width`` characters (RFC 5545 3.1)."""
    out = [line[:width]]
    rest = line[width:]
    while rest:
        out.append(" " + rest[: width - 1])
        rest = rest[width - 1 :]
    return "\r\n".join(out)


def make_ics(value: str) -> bytes:
    """A meeting invitation whose description carries the value after an escaped line
    break (``\\n``, as Outlook writes one) and across a folded line."""
    line = f"DESCRIPTION:Consultation de suivi\\, patient :\\n{value}\\nSalle 3"
    # Folded in the middle of the number, as a writer folding at 75 octets may.
    description = fold(line, line.index(value) + 6)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Clinique//FR\r\nMETHOD:REQUEST\r\n"
        "BEGIN:VEVENT\r\nUID:1@clinique\r\nDTSTART:20260302T100000Z\r\nSUMMARY:Rendez-vous\r\n"
        f"{description}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def make_vcard(value: str) -> bytes:
    """A vCard 2.1 whose note is quoted-printable, the value after an encoded line break
    and across a soft line break (as Outlook exports contacts)."""
    note = quopri.encodestring(f"Patient suivi, NIR :\r\n{value}".encode()).decode()
    note = note.replace("\r\n", "=0D=0A").replace("\n", "=0A")
    half = note.index(value[:3]) + 3
    note = note[:half] + "=\r\n" + note[half:]
    return (
        "BEGIN:VCARD\r\nVERSION:2.1\r\nN:Dupont;Jean\r\nFN:Jean Dupont\r\n"
        f"NOTE;ENCODING=QUOTED-PRINTABLE:{note}\r\nEND:VCARD\r\n"
    ).encode()


def make_json(value: str) -> bytes:
    """A FHIR Patient resource whose identifier's digits are written as JSON escapes."""
    escaped = "".join(f"\\u{ord(c):04x}" for c in value)
    return (
        '{"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", '
        f'"value": "{escaped}"}}]}}'
    ).encode()


def make_json_twice(value: str) -> bytes:
    """A JSON object that gives its identifier's key twice, the number first: a reader
    of the file sees both values, a parser's dictionary keeps the last."""
    return ('{"patient": {"nir": "' + value + '", "nir": "inconnu"}}').encode()


def make_fhir_attachment(value: str) -> bytes:
    """A FHIR DocumentReference carrying a CSV as base64 (``attachment.data``)."""
    data = base64.b64encode(make_csv([["nom", "nir"], ["DUPONT", value]])).decode()
    return (
        '{"resourceType": "DocumentReference", "content": [{"attachment": '
        f'{{"contentType": "text/csv", "data": "{data}"}}}}]}}'
    ).encode()


def make_cda(value: str) -> bytes:
    """A CDA R2 document whose body is a base64 PDF (non-XML body, as DMP documents are)."""
    pdf = base64.encodebytes(make_pdf([f"NIR {value}"])).decode()
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ClinicalDocument xmlns="urn:hl7-org:v3">'
        "<title>Compte rendu</title><component><nonXMLBody>"
        f'<text mediaType="application/pdf" representation="B64">{pdf}</text>'
        "</nonXMLBody></component></ClinicalDocument>"
    ).encode()


def make_xml_charrefs(value: str) -> bytes:
    """An XML export whose digits are written as character references."""
    refs = "".join(f"&#{ord(c)};" for c in value)
    return f'<?xml version="1.0"?><patients><patient nir="x">{refs}</patient></patients>'.encode()


def make_enriched(value: str) -> bytes:
    """``text/enriched`` (RFC 1896) with the number broken by formatting commands."""
    half = len(value) // 2
    return f"Patient <bold>NIR</bold> {value[:half]}<italic>{value[half:]}</italic>\n".encode()


def uuencoded(name: str, data: bytes) -> str:
    """``data`` uuencoded as old mail programs put a file inside the text."""
    lines = [f"begin 644 {name}"]
    for i in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n"))
    lines += ["`", "end"]
    return "\n".join(lines)


def yencoded(name: str, data: bytes) -> str:
    """``data`` yEnc-encoded (``=ybegin`` … ``=yend``)."""
    out = bytearray()
    for b in data:
        c = (b + 42) % 256
        if c in (0, 10, 13, 61):
            out += b"=" + bytes([(c + 64) % 256])
        else:
            out.append(c)
    body = out.decode("latin-1")
    lines = [body[i : i + 128] for i in range(0, len(body), 128)]
    return "\n".join(
        [f"=ybegin line=128 size={len(data)} name={name}", *lines, f"=yend size={len(data)}"]
    )


_HQX = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"


def _crc_hqx(data: bytes, crc: int = 0) -> int:
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def binhexed(name: str, data: bytes) -> str:
    """``data`` in BinHex 4.0, as Macintosh mail programs sent files."""
    header = bytes([len(name)]) + name.encode() + b"\0" + b"TEXTttxt" + b"\0\0"
    header += struct.pack(">II", len(data), 0)
    raw = bytearray()
    for chunk in (header, data, b""):
        raw += chunk + struct.pack(">H", _crc_hqx(chunk + b"\0\0"))
    raw = bytes(raw).replace(b"\x90", b"\x90\x00")
    bits = "".join(f"{b:08b}" for b in raw)
    bits += "0" * (-len(bits) % 6)
    encoded = "".join(_HQX[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    body = ":" + encoded + ":"
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "(This file must be converted with BinHex 4.0)\n" + "\n".join(lines)


# --------------------------------------------------------------------------- archives


def make_tar(members: Mapping[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def compress(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    raise ValueError(kind)


# --------------------------------------------------------------------------- pictures


def scan_png(text: str) -> bytes:
    """A picture of typed text (needs Pillow)."""
    from scan_factory import encode, render_scan

    return encode(render_scan([text]), "png")


def png_with_text_chunk(value: str) -> bytes:
    """A blank picture whose ``tEXt`` chunk (a description) carries the value."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Description", f"Patient NIR {value}")
    buf = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_with_exif(value: str) -> bytes:
    """A blank photo whose EXIF image description carries the value."""
    from PIL import Image

    image = Image.new("RGB", (64, 64), (255, 255, 255))
    exif = image.getexif()
    exif[0x010E] = f"Carte vitale {value}"
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


# --------------------------------------------------------------------------- messages


def raw_message(parts: list[tuple[Mapping[str, str], bytes]], *, subject: str = "Dossier") -> bytes:
    """A multipart/mixed message whose parts are written exactly as given (headers and
    already-encoded body): for labels that lie."""
    out = [
        b"From: secretariat@clinique-exemple.fr\r\nTo: dr.martin@cabinet-exemple.fr\r\n",
        f"Subject: {subject}\r\n".encode(),
        b"Message-ID: <liar-1@clinique-exemple.fr>\r\nMIME-Version: 1.0\r\n",
        b'Content-Type: multipart/mixed; boundary="LIAR"\r\n\r\n',
        b"--LIAR\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\nci-joint.\r\n",
    ]
    for headers, body in parts:
        out.append(b"--LIAR\r\n")
        for key, value in headers.items():
            out.append(f"{key}: {value}\r\n".encode())
        out.append(b"\r\n" + body + b"\r\n")
    out.append(b"--LIAR--\r\n")
    return b"".join(out)


def cte_lie(kind: str, text: str) -> tuple[Mapping[str, str], bytes]:
    """A text part whose transfer encoding label lies: ``base64`` over quoted-printable
    (or plain) text, ``quoted-printable`` over base64."""
    data = text.encode()
    if kind == "base64_over_plain":
        return {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Transfer-Encoding": "base64",
        }, data
    if kind == "qp_over_base64":
        return (
            {
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Transfer-Encoding": "quoted-printable",
            },
            base64.encodebytes(data),
        )
    raise ValueError(kind)


def zlib_raw(data: bytes) -> bytes:
    return zlib.compress(data)
