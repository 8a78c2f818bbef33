"""What text extraction yields: readable text chunks, or problems, under limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from leakguard.core import Deadline, Location

__all__ = ["DICOM_TYPE", "Budget", "Limits", "Problem", "TextChunk"]

MB = 1024 * 1024

#: The content type of a DICOM file's text: health data whatever its words.
DICOM_TYPE = "application/dicom"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one message may cost to inspect.

    Past any of them, the part concerned is reported unscannable and the rest of the
    message is still inspected.
    """

    max_part_bytes: int = 50 * MB
    """Largest single part or archive member (decoded size)."""
    max_total_bytes: int = 200 * MB
    """Total decoded and decompressed bytes for one message."""
    max_members: int = 2000
    """Most members read from one archive, or attachments from one Outlook item
    (``.msg``) or ``winmail.dat``."""
    max_ratio: float = 200.0
    """Highest compression ratio accepted for an archive member."""
    max_depth: int = 8
    """Deepest nesting of archives / forwarded messages."""
    max_seconds: float = 20.0
    """Wall-clock budget for one message."""
    max_text_chars: int = 50_000_000
    """Most extracted characters kept for one message."""
    max_pdf_pages: int = 2000
    """Most PDF pages read from one document."""
    max_ocr_pages: int = 20
    """Most images, image-only PDF pages and TIFF frames read by OCR for one message."""
    max_ocr_pixels: int = 25_000_000
    """Largest picture handed to OCR, in pixels: a larger one is scaled down to this size
    first, and one over three times this size is not decoded at all (``too_large``)."""
    max_ocr_seconds: float = 15.0
    """Time OCR may take for one message, all pictures together (within ``max_seconds``)."""
    max_header_chars: int = 128 * 1024
    """Most characters read from one header of the message (Subject, To, Cc, Bcc, all
    their occurrences together); what lies past it is reported unread."""


@dataclass(frozen=True, slots=True)
class TextChunk:
    """Readable text from one location of a message.

    Table rows come out as cells joined by a tab, one row per line, so that a number
    split over the cells of one row reads as one.

    ``identifiers_only`` marks text that names people and services rather than telling
    about a patient (an address field: "Service de cardiologie <…>"): it is read for
    identifiers, and its words are not taken for health data.
    """

    location: Location
    text: str
    content_type: str = "text/plain"
    identifiers_only: bool = False

    def __repr__(self) -> str:
        return f"TextChunk(location={self.location.where!r}, chars={len(self.text)})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Problem:
    """A part that could not be (fully) read.

    ``reason`` is one of: ``encrypted``, ``too_large``, ``too_many_members``,
    ``compression_ratio``, ``too_deep``, ``timeout``, ``corrupt``, ``unsupported``,
    ``no_ocr`` (a picture or scan, and OCR is not installed), or ``mislabelled``: the
    part claims to be encrypted (its type, name, armour or structure) but is not, and
    its content was read as clear.
    ``container`` names the encryption seen when ``reason == "encrypted"``, or claimed
    when ``reason == "mislabelled"`` (``pdf``, ``zip``, ``office``, ``smime``, ``pgp``).
    """

    location: Location
    reason: str
    container: str | None = None


@dataclass(slots=True)
class Budget:
    """Running totals for one message, checked against :class:`Limits`.

    ``deadline`` is when the whole check must end; by default ``limits.max_seconds``
    from the budget's creation. A caller with a tighter one (a service answering within
    its own budget) passes it, and the earlier of the two applies.
    """

    limits: Limits = field(default_factory=Limits)
    deadline: Deadline | None = None
    bytes_used: int = 0
    chars_used: int = 0
    ocr_pages: int = 0
    ocr_seconds: float = 0.0

    def __post_init__(self) -> None:
        own = Deadline.after(self.limits.max_seconds)
        self.deadline = own if self.deadline is None else Deadline(min(own.at, self.deadline.at))

    @property
    def until(self) -> Deadline:
        """The deadline as a value to pass down."""
        assert self.deadline is not None
        return self.deadline

    def expired(self) -> bool:
        return self.until.expired()

    def remaining(self) -> float:
        """Seconds left before the message's time limit."""
        return self.until.remaining()

    def take_bytes(self, n: int) -> bool:
        """Account ``n`` decoded bytes; False when the message total would be exceeded."""
        if self.bytes_used + n > self.limits.max_total_bytes:
            return False
        self.bytes_used += n
        return True
