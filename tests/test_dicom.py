"""DICOM files: the text of their data elements is read (names, identifiers, comments,
nested sequences, private elements), a report kept inside is read as what it is, a
file cut short is reported, and a medical image is health data whatever its words."""

from __future__ import annotations

import warnings
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from docs_factory import make_dicom, make_pdf
from helpers import NIR, NIR_SPACED
from leakguard.core import Fingerprinter, Location
from leakguard.extract import Budget, Limits, TextChunk, extract, sniff
from leakguard.guard import Guard, scan

FP = Fingerprinter(b"d" * 32)


def _message(data: bytes, name: str = "scanner.dcm", subtype: str = "octet-stream") -> bytes:
    """A mail from the imaging service to an outside address, ``data`` attached."""
    msg = EmailMessage()
    msg["From"] = "imagerie@clinique-exemple.fr"
    msg["To"] = "cabinet@gmail.com"
    msg["Subject"] = "Examen"
    msg.set_content("Bonjour.\n")
    msg.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    return msg.as_bytes()


def _sent(data: bytes, name: str = "scanner.dcm") -> set[tuple[str, str, str | None]]:
    found = scan(_message(data, name), fingerprinter=FP)
    return {(f.kind, str(f.location), f.detail) for f in found}


def _texts(data: bytes) -> str:
    items = list(extract(data, Location.attachment("x.dcm"), budget=Budget(Limits())))
    return "\n".join(i.text for i in items if isinstance(i, TextChunk))


def test_a_medical_image_is_health_data_whatever_its_words() -> None:
    found = _sent(make_dicom(PatientName="DUPONT^JEAN", PatientID="IPP0042"))
    assert found == {("health_data", "attachment:scanner.dcm", "medical_act")}
    verdict = Guard().check(_message(make_dicom(PatientName="DUPONT^JEAN"), subtype="dicom"))
    assert verdict.action.name == "ENCRYPT"


def _item(**elements: object) -> Dataset:
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


@pytest.mark.parametrize(
    "elements",
    [
        {"OtherPatientIDs": NIR},
        {"PatientComments": f"NIR {NIR_SPACED}"},
        {"RequestedProcedureDescription": f"IRM, assuré {NIR_SPACED}"},
        {"ReferencedPatientSequence": Sequence([_item(PatientComments=f"NIR {NIR}")])},
        {"OtherPatientIDsSequence": Sequence([_item(PatientID=NIR, TypeOfPatientID="TEXT")])},
    ],
    ids=["other patient ids", "comments", "request", "sequence", "ids sequence"],
)
def test_the_number_in_any_element_is_found(elements: dict[str, object]) -> None:
    found = _sent(make_dicom(PatientName="DUPONT^JEAN", **elements))
    assert ("nir", "attachment:scanner.dcm", None) in found


def test_a_private_element_is_read() -> None:
    data = make_dicom(PatientName="X")
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    block = ds.private_block(0x0011, "CLINIQUE", create=True)
    block.add_new(0x01, "LO", NIR_SPACED)
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    assert ("nir", "attachment:scanner.dcm", None) in _sent(out.getvalue())


def test_the_bytes_decide_whatever_the_name_and_the_preamble() -> None:
    # A file both a TIFF viewer and a DICOM viewer open: the TIFF header in the preamble.
    data = make_dicom(preamble=b"II*\x00", OtherPatientIDs=NIR)
    assert sniff(data, filename="photo.tif", declared_type="image/tiff") == "dicom"
    assert ("nir", "attachment:image", None) in _sent(data, name="image")


def test_a_report_kept_inside_is_read_as_what_it_is() -> None:
    pdf = make_pdf(["Compte rendu", f"NIR {NIR_SPACED}"])
    data = make_dicom(EncapsulatedDocument=pdf, MIMETypeOfEncapsulatedDocument="application/pdf")
    assert ("nir", "attachment:scanner.dcm/document-1", None) in _sent(data)


def test_names_read_as_names() -> None:
    text = _texts(make_dicom(PatientName="DUPONT^JEAN^^DR", StudyDescription="IRM  cérébrale"))
    assert "PatientName: DUPONT JEAN DR" in text.splitlines()
    assert "StudyDescription: IRM cérébrale" in text.splitlines()
    assert text.splitlines()[0] == "DICOM CT Image Storage"


@pytest.mark.parametrize("cut", [10, 100, 150])
def test_a_file_cut_short_is_reported_and_read_as_far_as_it_goes(cut: int) -> None:
    data = make_dicom(PatientComments=f"NIR {NIR_SPACED}", ImageComments="x" * 200)
    # The comments come before the description: a cut in the description keeps them.
    short = data[: len(data) - cut]
    found = _sent(short)
    assert ("unscannable_attachment", "attachment:scanner.dcm", "corrupt") in found
    assert ("nir", "attachment:scanner.dcm", None) in found


def test_a_header_cut_short_is_reported() -> None:
    data = make_dicom(PatientName="X")
    found = _sent(data[:140])
    assert ("unscannable_attachment", "attachment:scanner.dcm", "corrupt") in found


def test_an_open_sequence_at_the_end_is_reported() -> None:
    import io

    import pydicom

    data = make_dicom(PatientName="X", ReferencedPatientSequence=Sequence([_item(PatientID="1")]))
    ds = pydicom.dcmread(io.BytesIO(data))
    del ds.PatientName
    ds.ReferencedPatientSequence.is_undefined_length = True
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    whole = out.getvalue()
    assert _texts(whole)
    assert ("unscannable_attachment", "attachment:scanner.dcm", "corrupt") not in _sent(whole)
    assert ("unscannable_attachment", "attachment:scanner.dcm", "corrupt") in _sent(whole[:-8])


def test_no_warning_reaches_the_person_running_the_check() -> None:
    # A value that breaks the standard's rules (a name with control characters, an
    # integer string that is no integer): pydicom warns, the file is read all the same.
    data = make_dicom(PatientName="X")
    bad = data.replace(b"CT", b"C\x01", 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _sent(bad)
    assert [str(w.message) for w in caught] == []


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="\\"),
        min_size=1,
        max_size=200,
    )
)
def test_a_comment_reads_as_written(comment: str) -> None:
    text = _texts(make_dicom(PatientComments=comment))
    shown = " ".join(comment.split())
    if shown:
        assert f"PatientComments: {shown}" in text.splitlines()


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_damaged_files_never_raise(data: st.DataObject) -> None:
    whole = bytearray(make_dicom(PatientName="DUPONT^JEAN", OtherPatientIDs=NIR))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(132, len(whole) - 1))
        whole[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(132, len(whole)))
    items = list(extract(bytes(whole[:cut]), Location.attachment("x.dcm"), budget=Budget(Limits())))
    assert items


def _with_invalid_integer_string(data: bytes, value: bytes) -> bytes:
    """``data`` with its Series Number (an integer string, IS) replaced by ``value``."""
    at = data.index(b"\x20\x00\x11\x00IS")
    length = int.from_bytes(data[at + 6 : at + 8], "little")
    head = data[: at + 6] + len(value).to_bytes(2, "little")
    return head + value + data[at + 8 + length :]


def test_nothing_of_the_file_reaches_a_log(caplog: pytest.LogCaptureFixture) -> None:
    # pydicom logs an invalid value with the value in clear; read for leakguard, its
    # records are dropped (and the value is still read, as text).
    data = _with_invalid_integer_string(
        make_dicom(PatientName="X", SeriesNumber="1"), f"NIR {NIR} ".encode()
    )
    with caplog.at_level("DEBUG"):
        found = _sent(data)
        import logging

        logging.getLogger("pydicom").warning("a record of the program's own")
    assert ("nir", "attachment:scanner.dcm", None) in found
    assert NIR not in caplog.text, "a log record holds the number in clear"
    assert [r.getMessage() for r in caplog.records if r.name == "pydicom"] == [
        "a record of the program's own"
    ]
