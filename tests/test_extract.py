"""Text extraction per format: planted identifiers come out readable, table rows stay on
one line, mislabelled files are recognised, encrypted and over-limit parts are reported."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docs_factory import (
    PGP_PUBLIC_KEY_ARMOUR,
    PGP_PUBLIC_KEY_BINARY,
    PGP_SYMMETRIC_ARMOUR,
    SAMPLE_IBAN,
    SAMPLE_NIR,
    contains_value,
    make_csv,
    make_docx,
    make_encrypted_office,
    make_html,
    make_legacy_doc,
    make_legacy_xls,
    make_nested_zip,
    make_odp,
    make_ods,
    make_odt,
    make_pdf,
    make_pptx,
    make_rtf,
    make_xlsx,
    make_zip,
    mask,
)
from leakguard.core import Location
from leakguard.extract import Budget, Limits, Problem, TextChunk, extract, sniff
from leakguard.extract.encryption import container_encrypted, encrypted_container
from leakguard.extract.html import html_to_text
from leakguard.extract.text import csv_delimiter, csv_rows_read, csv_rows_text, decode_text

NIR = SAMPLE_NIR
IBAN = SAMPLE_IBAN
# The NIR split over two cells of one table row, as mail-merge tables often do.
LEFT, RIGHT = "1 85 05 75", "112 345 29"
SPLIT_ROW = [["Nom", "Numéro"], [LEFT, RIGHT]]


def run(
    data: bytes, name: str = "doc", *, limits: Limits | None = None, **kw: str
) -> list[TextChunk | Problem]:
    budget = Budget(limits or Limits())
    return list(extract(data, Location.attachment(name), budget=budget, **kw))


def text_of(items: list[TextChunk | Problem]) -> str:
    return "\n".join(i.text for i in items if isinstance(i, TextChunk))


def problems(items: list[TextChunk | Problem]) -> list[tuple[str, str, str | None]]:
    return [(p.location.where, p.reason, p.container) for p in items if isinstance(p, Problem)]


def has_row(text: str, left: str, right: str) -> bool:
    """A line holding ``left`` and ``right`` joined by one tab (spaces around allowed)."""
    return any(
        "\t".join(part.strip() for part in line.split("\t")).find(f"{left}\t{right}") >= 0
        for line in text.splitlines()
    )


# --------------------------------------------------------------------------- formats

BUILDERS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "pdf": ("pdf", lambda: make_pdf(["Attestation", f"NIR : {NIR}", f"IBAN : {IBAN}"], pages=2)),
    "docx": ("docx", lambda: make_docx(["Attestation", f"NIR : {NIR}", f"IBAN : {IBAN}"])),
    "xlsx": ("xlsx", lambda: make_xlsx([["nir", "iban"], [NIR, IBAN]])),
    "xlsx-inline": ("xlsx", lambda: make_xlsx([["nir", "iban"], [NIR, IBAN]], inline_strings=True)),
    "pptx": ("pptx", lambda: make_pptx([["Titre"], [f"NIR {NIR}", f"IBAN {IBAN}"]])),
    "odt": ("odt", lambda: make_odt(["Attestation", f"NIR :  {NIR}", f"IBAN\t{IBAN}"])),
    "ods": ("ods", lambda: make_ods([["nir", "iban"], [NIR, IBAN]])),
    "odp": ("odp", lambda: make_odp([[f"NIR {NIR}"], [f"IBAN {IBAN}"]])),
    "rtf": ("rtf", lambda: make_rtf(["Attestation é", f"NIR {NIR}", f"IBAN {IBAN}"])),
    "html": ("html", lambda: make_html([f"NIR {NIR}", f"IBAN {IBAN}"])),
    "zip": ("zip", lambda: make_zip({"a.txt": NIR.encode(), "d/b.docx": make_docx([IBAN])})),
}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_each_format_gives_its_planted_identifiers(kind: str) -> None:
    family, build = BUILDERS[kind]
    data = build()
    assert sniff(data) == family
    items = run(data, f"doc.{family}")
    assert problems(items) == []
    text = text_of(items)
    for value in (NIR, IBAN):
        assert contains_value(text, value), f"{kind}: {mask(value)} not extracted"


def test_csv_and_text_files() -> None:
    data = make_csv([["nom", "nir"], ["Durand", NIR]], delimiter=";")
    assert sniff(data, filename="export.csv") == "csv"
    text = text_of(run(data, "export.csv", filename="export.csv"))
    assert "Durand\t" + NIR in text.splitlines(), "CSV row not laid out with tabs"
    assert sniff(b"plain words", filename="a.txt") == "text"
    assert contains_value(text_of(run(NIR.encode(), "a.txt")), NIR)


def test_csv_sniffs_the_delimiter_and_keeps_quoted_line_breaks_on_the_row() -> None:
    text = csv_rows_text('a,b,c\r\n"x\ny",' + LEFT + "," + RIGHT + "\r\n")
    assert has_row(text, LEFT, RIGHT), "comma CSV row split"
    assert "x y" in text
    text = csv_rows_text(f"a\tb\n{LEFT}\t{RIGHT}\n")
    assert has_row(text, LEFT, RIGHT), "TSV row split"


@given(
    st.text(alphabet="ab1 ;,\t|\r\n\x00'é", max_size=300),
    st.sampled_from([",", ";", "\t", "|"]),
)
@settings(max_examples=400, deadline=None)
def test_csv_without_quotes_is_laid_out_as_the_csv_module_reads_it(
    text: str, delimiter: str
) -> None:
    """The quick layout of a CSV with no quoted cell gives what the csv module reads."""
    text = text.replace(";", delimiter)
    assert csv_rows_text(text) == csv_rows_read(text, csv_delimiter(text[: 16 * 1024]))


def test_xlsx_numbers_in_exponent_form_are_written_out() -> None:
    items = run(make_xlsx([[185057511234529], [1.85057511234529e14]], inline_strings=True))
    assert contains_value(text_of(items), NIR), "number cell not written in full"


def test_docx_headers_and_deleted_text_are_read() -> None:
    doc = make_docx(["corps"])
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(doc)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "word/document.xml":
                content = content.replace(
                    b"</w:body>",
                    b"<w:p><w:del><w:r><w:delText>" + IBAN.encode() + b"</w:delText></w:r>"
                    b"</w:del></w:p></w:body>",
                )
            dst.writestr(info, content)
        dst.writestr(
            "word/header1.xml",
            b'<w:hdr xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            b"<w:p><w:r><w:t>" + NIR.encode() + b"</w:t></w:r></w:p></w:hdr>",
        )
    text = text_of(run(buf.getvalue()))
    assert contains_value(text, NIR), "header not read"
    assert contains_value(text, IBAN), "tracked deletion not read"


# --------------------------------------------------------------------------- table rows

TABLE_BUILDERS: dict[str, Callable[[], bytes]] = {
    "docx": lambda: make_docx(["Tableau"], table=SPLIT_ROW),
    "xlsx": lambda: make_xlsx(SPLIT_ROW),
    "xlsx-inline": lambda: make_xlsx(SPLIT_ROW, inline_strings=True),
    "pptx": lambda: make_pptx([["Tableau"]], table=SPLIT_ROW),
    "odt": lambda: make_odt(["Tableau"], table=SPLIT_ROW),
    "ods": lambda: make_ods(SPLIT_ROW),
    "html": lambda: make_html(["Tableau"], table=SPLIT_ROW),
    "rtf": lambda: make_rtf(["Tableau"], table=SPLIT_ROW),
}


@pytest.mark.parametrize("kind", sorted(TABLE_BUILDERS))
def test_a_number_split_over_two_cells_of_a_row_reads_as_one_line(kind: str) -> None:
    text = text_of(run(TABLE_BUILDERS[kind]()))
    assert has_row(text, LEFT, RIGHT), f"{kind}: cells of one row not joined by a tab"
    assert contains_value(text, NIR), f"{kind}: {mask(NIR)} not readable"


@pytest.mark.parametrize("kind", ["docx", "odt", "html"])
def test_paragraphs_of_one_cell_stay_on_the_row(kind: str) -> None:
    table = [["a", ["1 85 05", "75"], RIGHT]]
    build = {"docx": make_docx, "odt": make_odt, "html": make_html}[kind]
    text = text_of(run(build(["x"], table)))
    assert has_row(text, "a\t1 85 05 75", RIGHT), f"{kind}: cell paragraphs broke the row"


def test_ods_repeats_are_capped() -> None:
    # The builder ends each row with 16384 repeated empty cells and a million empty rows.
    text = text_of(run(make_ods([["x"]])))
    assert text.strip() == "x"


# --------------------------------------------------------------------------- sniffing


def test_sniff_trusts_bytes_over_names_and_types() -> None:
    pdf = make_pdf(["x"])
    assert sniff(pdf, filename="scan.bin", declared_type="application/octet-stream") == "pdf"
    assert sniff(make_docx(["x"]), filename="notes.txt", declared_type="text/plain") == "docx"
    assert sniff(make_xlsx([["x"]]), filename="a.pdf") == "xlsx"
    assert sniff(make_zip({"a.txt": b"x"}), filename="a.docx") == "zip"
    assert sniff(b"{\\rtf1 hello}") == "rtf"
    assert sniff(gzip.compress(b"x")) == "gzip"
    assert sniff(b"\x89PNG\r\n\x1a\n" + bytes(20)) == "image"
    assert sniff(bytes(range(256))) == "binary"
    assert sniff(b"<html><body>x</body></html>") == "html"
    assert sniff(b"x", declared_type="text/html") == "html"
    assert sniff(b"a;b\n1;2\n", filename="x.CSV") == "csv"
    assert sniff(b"From: a@b.example\r\nSubject: x\r\n\r\nbody") == "eml"
    assert sniff(b"Note: one\nTodo: two\n") == "text"
    assert sniff(b"") == "text"


def test_sniff_recognises_a_truncated_office_file() -> None:
    doc = make_docx(["x" * 50])
    # The end (central directory) is lost, as in an interrupted transfer.
    assert sniff(doc[:-120]) == "docx"


# --------------------------------------------------------------------------- problems


def test_encrypted_containers_are_reported_encrypted() -> None:
    cases = {
        "pdf": make_pdf([NIR], password="secret"),
        "zip": make_zip({"a.txt": NIR.encode()}, password="secret"),
        "office": make_encrypted_office(make_docx([NIR]), "secret"),
    }
    for container, data in cases.items():
        items = run(data, "x")
        assert problems(items) == [("attachment:x", "encrypted", container)], container
        # Nothing of the content; a ZIP's member names are not encrypted, and are read.
        assert text_of(items) == ("a.txt" if container == "zip" else "")
    items = run(make_odt([NIR], encrypted=True), "x")
    assert problems(items) == [("attachment:x", "encrypted", "office")]


def test_zipcrypto_flag_over_clear_data_is_read() -> None:
    # Traditional PKWARE encryption is announced by bit 0 of the general-purpose flags,
    # in the local header and in the central directory. Set over a member stored in
    # clear, the flag lies: the member is read, and reported.
    data = bytearray(make_zip({"a.txt": f"Patient NIR {NIR}".encode()}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature) + offset
        data[at] |= 0x01
    items = run(bytes(data), "old.zip")
    assert problems(items) == [("attachment:old.zip/a.txt", "mislabelled", "zip")]
    assert contains_value(text_of(items), NIR), f"{mask(NIR)} not read"
    assert not container_encrypted(bytes(data))


def test_zip_with_one_encrypted_member_still_reads_the_others() -> None:
    inner = make_zip({"a.txt": b"hidden"}, password="pw")
    with zipfile.ZipFile(io.BytesIO(inner)) as zf:
        assert zf.infolist()[0].flag_bits & 1
    outer = make_zip({"clear.txt": NIR.encode(), "locked.zip": inner})
    items = run(outer, "all.zip")
    assert ("attachment:all.zip/locked.zip", "encrypted", "zip") in problems(items)
    assert contains_value(text_of(items), NIR)


def test_pdf_pages_are_capped() -> None:
    items = run(make_pdf([NIR], pages=5), "p.pdf", limits=Limits(max_pdf_pages=2))
    assert problems(items) == [("attachment:p.pdf", "too_large", None)]
    assert text_of(items).count("85") == 2


def test_text_budget_cuts_and_reports() -> None:
    items = run(("word " * 1000).encode(), "t.txt", limits=Limits(max_text_chars=100))
    assert len(text_of(items)) == 100
    assert problems(items) == [("attachment:t.txt", "too_large", None)]


def test_part_size_limit() -> None:
    items = run(b"x" * 2000, "t.txt", limits=Limits(max_part_bytes=1000))
    assert problems(items) == [("attachment:t.txt", "too_large", None)]


def test_member_count_limit_reads_the_first_members() -> None:
    data = make_zip({f"m{i}.txt": f"line {i}".encode() for i in range(10)})
    items = run(data, "a.zip", limits=Limits(max_members=3))
    assert problems(items) == [("attachment:a.zip", "too_many_members", None)]
    # Each member read gives its name, then its text.
    assert text_of(items).split("\n") == [
        "m0.txt",
        "line 0",
        "m1.txt",
        "line 1",
        "m2.txt",
        "line 2",
    ]


def test_nesting_depth_limit() -> None:
    data = make_nested_zip(5, {"deep.txt": NIR.encode()})
    items = run(data, "n.zip", limits=Limits(max_depth=2))
    reasons = [reason for _, reason, _ in problems(items)]
    assert reasons == ["too_deep"]
    # The names of the archives listed up to the limit are read, nothing inside the last.
    assert text_of(items) == "level1.zip\nlevel2.zip\nlevel3.zip"
    assert contains_value(text_of(run(data, "n.zip")), NIR)


def test_xml_entity_bomb_is_corrupt() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>"
    )
    doc = make_docx(["x"])
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(doc)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, bomb if info.filename == "word/document.xml" else src.read(info))
    assert problems(run(buf.getvalue(), "b.docx")) == [("attachment:b.docx", "corrupt", None)]


def test_gzip_is_read_and_its_bomb_stopped() -> None:
    assert contains_value(text_of(run(gzip.compress(NIR.encode()), "a.txt.gz")), NIR)
    bomb = gzip.compress(bytes(20 * 1024 * 1024))
    assert problems(run(bomb, "z.gz")) == [("attachment:z.gz", "compression_ratio", None)]


def test_legacy_ole_is_skimmed_and_reported_unsupported() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100) + NIR.encode("utf-16-le") + bytes(50)
    items = run(ole, "old.doc")
    assert problems(items) == [("attachment:old.doc", "unsupported", None)]
    assert contains_value(text_of(items), NIR)


@pytest.mark.parametrize(
    ("name", "build"),
    [("old.doc", make_legacy_doc), ("old.xls", make_legacy_xls)],
)
def test_encrypted_legacy_office_is_reported_encrypted(
    name: str, build: Callable[..., bytes]
) -> None:
    items = run(build(f"NIR {NIR}", encrypted=True), name)
    assert problems(items) == [(f"attachment:{name}", "encrypted", "office")]
    assert text_of(items) == ""


@pytest.mark.parametrize(
    ("name", "build"),
    [("old.doc", make_legacy_doc), ("old.xls", make_legacy_xls)],
)
def test_legacy_office_flagged_encrypted_over_clear_text_is_read(
    name: str, build: Callable[..., bytes]
) -> None:
    # The flag says encrypted, the stream holds the text as is: the flag lies.
    items = run(build(f"Patient NIR {NIR}", label_only=True), name)
    assert (f"attachment:{name}", "mislabelled", "office") in problems(items)
    assert contains_value(text_of(items), NIR), f"{mask(NIR)} not read"


@pytest.mark.parametrize(
    ("name", "build"),
    [("old.doc", make_legacy_doc), ("old.xls", make_legacy_xls)],
)
def test_plain_legacy_office_is_still_skimmed(name: str, build: Callable[..., bytes]) -> None:
    data = build(f"NIR {NIR}")
    assert sniff(data) == "ole"
    items = run(data, name)
    assert problems(items) == [(f"attachment:{name}", "unsupported", None)]
    assert contains_value(text_of(items), NIR), f"{mask(NIR)} not skimmed"


def test_legacy_file_naming_the_encryption_streams_in_its_text_is_read() -> None:
    # Words in the text are not streams: only the compound file's directory says so.
    words = "EncryptionInfo EncryptedPackage"
    items = run(make_legacy_doc(f"{words} NIR {NIR}"), "notes.doc")
    assert problems(items) == [("attachment:notes.doc", "unsupported", None)]
    assert contains_value(text_of(items), NIR), f"{mask(NIR)} not skimmed"


ARMOUR = PGP_PUBLIC_KEY_ARMOUR.encode()


def test_openpgp_files_are_reported_encrypted() -> None:
    cases = (
        ("cr.asc", ARMOUR),
        ("cr.gpg", PGP_PUBLIC_KEY_BINARY),
        ("cr.pgp", PGP_SYMMETRIC_ARMOUR.encode()),
    )
    for name, data in cases:
        assert problems(run(data, name)) == [(f"attachment:{name}", "encrypted", "pgp")], name
        assert text_of(run(data, name)) == ""


def test_clear_text_around_armour_is_read_and_not_encrypted() -> None:
    # Armour first, readable lines after: the file is not protected, its text is read
    # (the armour itself is reported encrypted: its content could not be read).
    data = ARMOUR + f"Patient NIR {NIR}\n".encode()
    items = run(data, "notes.txt")
    assert problems(items) == [("attachment:notes.txt", "encrypted", "pgp")]
    assert contains_value(text_of(items), NIR), f"{mask(NIR)} not read"
    assert not container_encrypted(data)


def test_pdf_with_a_security_handler_pdfium_cannot_open_is_encrypted() -> None:
    # Same encrypted PDF, its standard handler renamed: PDFium's "unsupported security
    # scheme", as for certificate-encrypted PDFs.
    locked = make_pdf([NIR], password="secret")
    assert b"/Filter /Standard" in locked
    foreign = locked.replace(b"/Filter /Standard", b"/Filter /PubSecXX")
    assert problems(run(foreign, "x.pdf")) == [("attachment:x.pdf", "encrypted", "pdf")]
    assert container_encrypted(foreign)


# What a document is, and the encryption the reader reports for it (None: read clear).
CONTAINERS: dict[str, tuple[Callable[[], bytes], str | None]] = {
    "pdf": (lambda: make_pdf([NIR]), None),
    "pdf-password": (lambda: make_pdf([NIR], password="secret"), "pdf"),
    "zip": (lambda: make_zip({"a.txt": NIR.encode()}), None),
    "zip-aes": (lambda: make_zip({"a.txt": NIR.encode()}, password="secret"), "zip"),
    "docx": (lambda: make_docx([NIR]), None),
    "docx-password": (lambda: make_encrypted_office(make_docx([NIR]), "secret"), "office"),
    "odt": (lambda: make_odt([NIR]), None),
    "odt-encrypted": (lambda: make_odt([NIR], encrypted=True), "office"),
    "doc": (lambda: make_legacy_doc(NIR), None),
    "doc-encrypted": (lambda: make_legacy_doc(NIR, encrypted=True), "office"),
    "xls": (lambda: make_legacy_xls(NIR), None),
    "xls-encrypted": (lambda: make_legacy_xls(NIR, encrypted=True), "office"),
    "asc": (lambda: ARMOUR, "pgp"),
    "text": (lambda: NIR.encode(), None),
}


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_reader_and_container_check_give_one_answer(kind: str) -> None:
    build, expected = CONTAINERS[kind]
    data = build()
    reported = [c for _, reason, c in problems(run(data, "x")) if reason == "encrypted"]
    assert reported == ([] if expected is None else [expected])
    assert encrypted_container(data) == expected
    assert container_encrypted(data) is (expected is not None)


def test_utf16_text_without_bom_is_read() -> None:
    data = f"NIR {NIR}".encode("utf-16-le")
    assert sniff(data) == "text"
    assert contains_value(text_of(run(data, "u.txt")), NIR)


# --------------------------------------------------------------------------- charsets


def test_decode_text_recovers_wrong_and_missing_charsets() -> None:
    word = "Sécurité sociale, arrêt de travail"
    assert decode_text(word.encode("latin-1"), "utf-8") == word
    assert decode_text(word.encode("utf-8"), "iso-8859-1") == word
    assert decode_text(word.encode("utf-8"), None) == word
    assert decode_text(word.encode("cp1252"), None) == word
    assert decode_text(word.encode("utf-16"), None) == word
    assert decode_text(word.encode("utf-16-le"), None) == word
    assert decode_text(word.encode("utf-16-be"), None) == word
    assert decode_text(word.encode("latin-1"), "no-such-charset") == word
    assert decode_text(word.encode("cp1252"), "windows-1252") == word


def test_html_to_text_skips_scripts_and_lays_out_blocks() -> None:
    text = html_to_text(
        "<style>x{}</style><script>var s='1 85';</script><div>a</div><div>b<br>c</div>"
        "<table><tr><th>h1</th><th>h2</th></tr><tr><td>1</td><td>2</td></tr></table>"
    )
    assert text.splitlines() == ["a", "b", "c", "h1\th2", "1\t2"]


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4096), st.sampled_from([None, "a.pdf", "a.docx", "a.zip", "a.csv"]))
def test_extract_never_raises_on_random_bytes(data: bytes, name: str | None) -> None:
    items = list(extract(data, Location.attachment("r"), budget=Budget(), filename=name))
    assert all(isinstance(i, TextChunk | Problem) for i in items)
    assert sniff(data, filename=name) in {
        "pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp", "zip", "rtf", "html", "csv",
        "text", "eml", "ole", "msg", "tnef", "gzip", "bzip2", "xz", "tar", "image", "binary",
    }  # fmt: skip


_PREFIXES = [b"%PDF-1.7\n", b"PK\x03\x04", b"{\\rtf1 ", b"\x1f\x8b\x08", b"<html>",
             b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_PREFIXES), st.binary(max_size=2048))
def test_extract_never_raises_on_random_bytes_behind_a_real_signature(
    prefix: bytes, rest: bytes
) -> None:
    items = list(extract(prefix + rest, Location.attachment("r"), budget=Budget()))
    assert all(isinstance(i, TextChunk | Problem) for i in items)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.sampled_from(sorted(BUILDERS)))
def test_truncated_documents_never_raise(cut: int, kind: str) -> None:
    data = BUILDERS[kind][1]()
    items = list(
        extract(data[: cut % max(1, len(data))], Location.attachment("t"), budget=Budget())
    )
    assert all(isinstance(i, TextChunk | Problem) for i in items)


def test_a_message_inside_an_archive_is_read_by_the_reader_the_caller_gives() -> None:
    # Extraction sits below message reading: it reads a nested .eml only through the
    # reader it is handed, and says "unsupported" rather than passing it unread.
    import subprocess
    import sys

    from docs_factory import make_eml
    from leakguard.message import iter_embedded

    archive = make_zip({"courrier.eml": make_eml(body=f"NIR : {NIR}\n")})
    alone = run(archive, "a.zip")
    assert problems(alone) == [("attachment:a.zip/courrier.eml", "unsupported", None)]
    budget = Budget(Limits())
    read = list(
        extract(archive, Location.attachment("a.zip"), budget=budget, messages=iter_embedded)
    )
    assert problems(read) == []
    assert contains_value(text_of(read), NIR)
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, leakguard.extract; print('leakguard.message' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "False"


@given(st.text(alphabet=st.sampled_from(["1", "8", " ", "\ufffe", "\x02", "\r", "\n", "é"])))
def test_pdf_page_text_loses_pdfiums_marks_and_nothing_else(text: str) -> None:
    """PDFium marks hyphenation points and unknown glyphs inside words ("1 85\\x0205"):
    a number cut by one must read whole, and no other character may go."""
    from leakguard.extract.pdf import _NOISE

    cleaned = _NOISE.sub("", text)
    assert cleaned == "".join(c for c in text if c not in "\ufffe\x02\r")
