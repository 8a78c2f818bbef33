"""DICOM files (medical images and the reports kept with them) read with pydicom.

A DICOM file carries, beside its pixels, data elements a person or a program wrote about
the patient and the exam: names, identifiers (the national one among the "other patient
IDs"), birth date, the request's and the study's descriptions, comments. Every element
that holds text is read, one ``Keyword: value`` line each, nested sequences and private
elements included; a document kept inside (an encapsulated PDF or CDA report) is read as
what it is. The pixel data is no text and is not read (text burnt into the picture is
not seen). Whatever its words, a DICOM file is health data: its text chunks say so by
their content type, ``DICOM_TYPE``.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from leakguard.core import Location
from leakguard.extract._common import (
    Context,
    Item,
    Unreadable,
    inner_items,
    mostly_printable,
    text_items,
)
from leakguard.extract._types import DICOM_TYPE, Problem
from leakguard.extract._xml import MAX_NESTING

__all__ = ["read_dicom"]

# Value representations that hold text (strings, names, codes, dates, numbers written as
# text). Unique identifiers (UI) are dotted numbers a machine made: not read.
_TEXT = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}
)
# An element of unknown representation ("UN": a private one in an implicit-VR file) is
# read as text when it is short and printable.
_MAX_UNKNOWN = 1 << 16
# Elements read from one file: more is no image's header, and the rest is reported.
_MAX_ELEMENTS = 100_000
# Values larger than this are left in the file until asked for (pixels, waveforms).
_DEFER = 1 << 20


def read_dicom(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """A DICOM file: the text of its data elements, then the documents kept inside it."""
    try:
        import pydicom
    except ImportError:  # pragma: no cover - a core dependency
        yield Problem(location, "unsupported")
        return
    walk = _Walk(ctx)
    # pydicom warns of, and logs, every value that breaks the standard's rules, the value
    # in clear ("Invalid value for VR IS: '<NIR>'"): the file is read all the same, and
    # nothing of it may reach a log. Its records made while this thread reads are dropped.
    _quiet_logger()
    with warnings.catch_warnings(), _Reading():
        warnings.simplefilter("ignore")
        try:
            dataset = pydicom.dcmread(io.BytesIO(data), defer_size=_DEFER)
            whole = _whole(dataset, data)
        except Exception:
            raise Unreadable("corrupt") from None
        meta = getattr(dataset, "file_meta", None)
        kind = getattr(getattr(meta, "MediaStorageSOPClassUID", None), "name", "")
        walk.lines.append(f"DICOM {kind}".strip())
        problem: str | None = None
        try:
            if meta is not None:
                walk.dataset(meta, 0)
            walk.dataset(dataset, 0)
        except Unreadable as err:
            problem = err.reason
    if not whole:
        # Cut short: what was read is read, and the file reported.
        yield Problem(location, "corrupt")
    if problem is not None:
        yield Problem(location, problem)
    yield from text_items("\n".join(walk.lines), location, ctx.budget, DICOM_TYPE)
    for count, document in enumerate(walk.documents, 1):
        yield from inner_items(document, location.child(f"document-{count}"), ctx)


_READING = threading.local()


class _Reading:
    """Marks this thread as reading a DICOM file (see :class:`_Quiet`)."""

    def __enter__(self) -> None:
        _READING.on = True

    def __exit__(self, *exc: object) -> None:
        _READING.on = False


class _Quiet(logging.Filter):
    """Drops pydicom's records made by a thread reading a file for leakguard."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_READING, "on", False)


_QUIET = _Quiet()


def _quiet_logger() -> None:
    logger = logging.getLogger("pydicom")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)


_UNDEFINED = 0xFFFFFFFF
# The end of a sequence of undefined length (little and big endian).
_SEQUENCE_ENDS = (b"\xfe\xff\xdd\xe0\x00\x00\x00\x00", b"\xff\xfe\xe0\xdd\x00\x00\x00\x00")


def _whole(dataset: Any, data: bytes) -> bool:
    """Whether the file holds all it declares: pydicom reads a file cut short without a
    word, leaving out the elements past the cut or their ends. Every element's value must
    end within the file, and a last sequence of undefined length must be closed."""
    if not len(dataset):
        return False
    last = None
    for tag in list(dataset.keys()):
        last = dataset.get_item(tag)
        length = getattr(last, "length", None)
        tell = getattr(last, "value_tell", None)
        if length is None or tell is None or length == _UNDEFINED:
            continue
        if tell + length > len(data):
            return False
    if last is not None and getattr(last, "length", None) == _UNDEFINED:
        return data.endswith(_SEQUENCE_ENDS)
    return True


class _Walk:
    """Collects the text lines and kept documents of a dataset, in element order."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.lines: list[str] = []
        self.documents: list[bytes] = []
        self.count = 0

    def dataset(self, dataset: Any, depth: int) -> None:
        if depth > MAX_NESTING:
            raise Unreadable("too_deep")
        for element in _elements(dataset):
            self.count += 1
            if self.count > _MAX_ELEMENTS:
                raise Unreadable("too_many_members")
            if self.count % 1000 == 0 and self.ctx.budget.expired():
                raise Unreadable("timeout")
            vr = str(getattr(element, "VR", ""))
            if vr == "SQ":
                for item in element.value or ():
                    self.dataset(item, depth + 1)
            elif element.keyword == "EncapsulatedDocument":
                value = element.value
                if isinstance(value, bytes) and value:
                    self.documents.append(value)
            elif vr in _TEXT or vr == "UN":
                text = _text(element.value, vr)
                if text:
                    self.lines.append(f"{element.keyword or element.tag}: {text}")


def _elements(dataset: Any) -> Iterator[Any]:
    """The data elements of ``dataset``; one that cannot be decoded is left out (a value
    in a character set pydicom does not know is still read from its raw bytes)."""
    for tag in list(dataset.keys()):
        try:
            yield dataset[tag]
        except Exception:
            raw = dataset.get_item(tag)
            value = getattr(raw, "value", None)
            if isinstance(value, bytes):
                yield _Raw(tag, value)


class _Raw:
    """An element whose value pydicom could not decode, read as unknown bytes."""

    VR = "UN"
    keyword = ""

    def __init__(self, tag: Any, value: bytes) -> None:
        self.tag = tag
        self.value = value


def _text(value: Any, vr: str) -> str:
    """A value as one line of text ("" for none, or for bytes that are no text)."""
    from pydicom.multival import MultiValue

    if value is None:
        return ""
    if isinstance(value, bytes):
        if len(value) > _MAX_UNKNOWN:
            return ""
        text = value.decode("latin-1").strip("\x00 ")
        return " ".join(text.split()) if mostly_printable(text) else ""
    if isinstance(value, list | tuple | MultiValue):
        text = " ".join(str(v) for v in value)
    else:
        text = str(value)
    if vr == "PN":
        # Name parts are cut by "^", name groups by "=".
        text = text.replace("^", " ").replace("=", " ")
    return " ".join(text.split())
