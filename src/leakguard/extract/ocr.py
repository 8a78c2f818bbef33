"""Text in pictures: scanned pages, photographed cards, faxes, read by OCR.

OCR is the optional extra ``leakguard[ocr]``: Pillow decodes the picture here (sizes are
checked before anything is decoded), and the Tesseract program reads it, with French and
English. The picture goes to Tesseract through a pipe and its text comes back the same
way: nothing is written to disk and nothing is downloaded. Without Pillow or Tesseract,
:func:`available` is False and pictures are reported ``no_ocr``.

OCR misreads the gaps of a printed number (``1 85 05 :78 006``, ``185 0578``);
:func:`normalise` adds a cleaned copy of each line that carries a long run of digits, so
the detectors see the number whole. It only ever adds text: the checksums still decide.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from leakguard.core import Location
from leakguard.extract._boxes import without_box_lines
from leakguard.extract._common import Context, Item, Unreadable, text_items
from leakguard.extract._types import Budget, Problem
from leakguard.extract.sniff import document_sized
from leakguard.extract.text import decode_text

__all__ = ["COPY", "available", "normalise", "ocr_picture", "placed_picture", "read_image"]

# Tesseract's own page segmentation, with the inter-word spaces it saw kept.
_TESSERACT_ARGS = ("--psm", "3", "-c", "preserve_interword_spaces=1")
# Below this many pixels on the long side, a picture is enlarged before OCR: Tesseract
# reads characters about 20 to 40 pixels high best.
_SMALL_SIDE = 1400
# Tesseract's languages, in order of preference, among those installed.
_LANGUAGES = ("fra", "eng")
# A picture whose darkest and lightest pixels are this close is blank.
_BLANK_SPREAD = 24
# Pictures up to this many times the pixel limit are decoded, then scaled down.
_DECODE_FACTOR = 3

# OCR noise between the groups of a number: a colon, a quote, a bar read from a speck.
_NOISE = re.compile(r"(?<=[0-9])[ \t]{0,2}[:;,'‘’`\"|_~«»^*°]+[ \t]{0,2}(?=[ \t]?[0-9])")
# A letter read in place of a digit, between two digits.
_LOOKALIKE = re.compile(
    r"(?:(?<=[0-9])|(?<=[0-9][ \t]))[OoIl|!](?=[0-9])|(?<=[0-9])[OoIl|!](?=[ \t][0-9])"
)
_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "|": "1", "!": "1"})
# Groups of digits (a group may carry upper-case letters, as RIB accounts do) separated by
# up to three spaces, eight characters or more in all.
_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9A-Z]*[0-9][0-9A-Z]*(?:[ \t]{1,3}[0-9A-Z]*[0-9][0-9A-Z]*)+")
_RUN_MIN = 8
# Marks the start of a cleaned copy (U+2060 WORD JOINER: no letter, no space, invisible).
COPY = "\u2060"


def normalise(text: str) -> str:
    """``text`` with, after each line whose numbers OCR may have broken, that line again
    cleaned: noise between digits removed (or, in a second reading, letters that look
    like digits taken as digits), and each run of digit groups written whole.

    Nothing is taken away, so whatever the detectors found in ``text`` they still find;
    a wrong reading adds a number whose checksum fails, which no detector reports. Each
    added line begins with :data:`COPY` (invisible), so that a reader of the page's
    layout (the form fields) reads every value once.
    """
    out: list[str] = []
    for line in text.split("\n"):
        out.append(line)
        as_noise = _NOISE.sub(" ", line)
        as_digits = _NOISE.sub(" ", _LOOKALIKE.sub(_digit, line))
        for cleaned in dict.fromkeys((as_noise, as_digits)):
            if cleaned != line:
                out.append(COPY + cleaned)
            joined = _RUN.sub(_join_run, cleaned)
            if joined != cleaned:
                out.append(COPY + joined)
    return "\n".join(out)


def _digit(m: re.Match[str]) -> str:
    return m.group().translate(_LOOKALIKES)


def _join_run(m: re.Match[str]) -> str:
    run = m.group()
    whole = re.sub(r"[ \t]+", "", run)
    return whole if len(whole) >= _RUN_MIN else run


# --------------------------------------------------------------------------- engine


@functools.cache
def _engine() -> tuple[str, str] | None:
    """The Tesseract program and the ``-l`` argument to give it, or None without OCR."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return None
    program = shutil.which("tesseract")
    if program is None:
        return None
    try:
        listed = subprocess.run(
            [program, "--list-langs"], capture_output=True, timeout=30, check=False, env=_env()
        )
    except (OSError, subprocess.SubprocessError):
        return None
    installed = set(listed.stdout.decode("utf-8", "replace").split())
    langs = [lang for lang in _LANGUAGES if lang in installed]
    if listed.returncode != 0 or not langs:
        return None
    return program, "+".join(langs)


def available() -> bool:
    """True when OCR can run: Pillow importable and Tesseract installed with French or
    English."""
    return _engine() is not None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # One thread per picture: a mail server reads several messages at once.
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def _seconds_left(budget: Budget) -> float:
    return min(budget.limits.max_ocr_seconds - budget.ocr_seconds, budget.remaining())


def ocr_picture(image: Any, budget: Budget) -> str:
    """The text of one decoded Pillow picture, within the message's OCR limits, with the
    cleaned copies of broken numbers that :func:`normalise` adds.

    Raises :class:`Unreadable` (``too_large`` past the page count, ``timeout`` past the
    time limit). A blank picture is not given to Tesseract and reads as no text.
    """
    engine = _engine()
    if engine is None:
        raise Unreadable("no_ocr")
    limits = budget.limits
    if budget.ocr_pages >= limits.max_ocr_pages:
        raise Unreadable("too_large")
    if _seconds_left(budget) <= 0:
        raise Unreadable("timeout")
    started = time.monotonic()
    # Preparing counts in the OCR time: a median filter over 25 megapixels is not free.
    gray = _prepared(image, limits.max_ocr_pixels)
    budget.ocr_seconds += time.monotonic() - started
    low, high = gray.getextrema()
    if high - low < _BLANK_SPREAD:
        return ""
    left = _seconds_left(budget)
    if left <= 0:
        raise Unreadable("timeout")
    buffer = io.BytesIO()
    gray.save(buffer, format="PNG", compress_level=1)
    program, langs = engine
    budget.ocr_pages += 1
    started = time.monotonic()
    try:
        done = subprocess.run(
            [program, "stdin", "stdout", "-l", langs, *_TESSERACT_ARGS],
            input=buffer.getvalue(),
            capture_output=True,
            timeout=left,
            check=False,
            env=_env(),
        )
    except subprocess.TimeoutExpired:
        raise Unreadable("timeout") from None
    except OSError:
        raise Unreadable("no_ocr") from None
    finally:
        budget.ocr_seconds += time.monotonic() - started
    if done.returncode != 0:
        raise Unreadable("corrupt")
    return normalise(done.stdout.decode("utf-8", "replace"))


def _prepared(image: Any, max_pixels: int) -> Any:
    """Gray, cleaned of specks, scaled so that it is neither too small to read nor over
    the pixel limit."""
    from PIL import Image, ImageFilter

    gray = image.convert("L")
    width, height = gray.size
    if width * height > max_pixels:
        gray = gray.resize(_fit(width, height, max_pixels), Image.Resampling.LANCZOS)
        width, height = gray.size
    # The frames of boxed numbers and tables: read, they break the digits apart. (Before
    # the median filter, which thins a one-pixel line into dashes.)
    gray = without_box_lines(gray)
    # A 3×3 median removes the salt-and-pepper specks of scanners and faxes, which
    # Tesseract otherwise reads as extra digits.
    gray = gray.filter(ImageFilter.MedianFilter(3))
    if max(width, height) < _SMALL_SIDE:
        scale = min(2.0, _SMALL_SIDE / max(width, height, 1))
        target = min(max_pixels, int(width * height * scale * scale))
        gray = gray.resize(_fit(width, height, target), Image.Resampling.LANCZOS)
    return gray


def _fit(width: int, height: int, pixels: int) -> tuple[int, int]:
    """The size of a ``width`` × ``height`` picture scaled to about ``pixels`` pixels."""
    scale = (pixels / max(width * height, 1)) ** 0.5
    return max(1, int(width * scale)), max(1, int(height * scale))


# --------------------------------------------------------------------------- pictures


def _open_heif() -> None:
    """Let Pillow read HEIC/HEIF photos when ``pillow-heif`` is installed."""
    try:
        from pillow_heif import register_heif_opener  # type: ignore[import-not-found]
    except ImportError:
        return
    register_heif_opener()


def read_image(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """The text of a picture (every frame of a multi-page TIFF), read by OCR.

    A picture in which OCR finds no text yields nothing: it was looked at, and holds no
    identifier. Without OCR it is reported ``no_ocr``.
    """
    if not available():
        yield Problem(location, "no_ocr")
        return
    from PIL import Image, UnidentifiedImageError

    budget = ctx.budget
    _open_heif()
    try:
        picture = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        # Pillow reads every common format itself; only HEIC/AVIF photos need a plug-in.
        raise Unreadable("unsupported" if data[4:8] == b"ftyp" else "corrupt") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard against huge pictures (the warning counts when a host
        # application turns warnings into errors).
        raise Unreadable("too_large") from None
    with picture:
        yield from text_items("\n".join(picture_notes(picture)), location, budget, "image/ocr")
        width, height = picture.size
        if width * height > _DECODE_FACTOR * budget.limits.max_ocr_pixels:
            raise Unreadable("too_large")
        if picture.format == "JPEG" and width * height > budget.limits.max_ocr_pixels:
            # Decode a large photograph straight at a reduced scale.
            picture.draft("L", (width // 2, height // 2))
        # A TIFF's frames are the pages of a fax; a GIF's are an animation, read once.
        frames = getattr(picture, "n_frames", 1) if picture.format == "TIFF" else 1
        for frame in range(frames):
            try:
                picture.seek(frame)
                picture.load()
                text = ocr_picture(picture, budget)
            except Unreadable as err:
                yield Problem(location, err.reason, err.container)
                return
            except (OSError, ValueError, Image.DecompressionBombError):
                yield Problem(location, "corrupt")
                return
            yield from text_items(text, location, budget, "image/ocr")


def placed_picture(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """A picture placed inside a document, read by OCR when it is installed; without
    OCR one the size of a document (a scanned form, a photographed card) is reported
    unread (``no_ocr``) and a logo or a signature is left."""
    if not available():
        if document_sized(data):
            yield Problem(location, "no_ocr")
        return
    try:
        yield from read_image(data, location, ctx)
    except Unreadable as err:
        yield Problem(location, err.reason, err.container)


# EXIF tags a photo's properties show: description, artist, copyright, and the Windows
# title, comment, author, keywords and subject (UTF-16).
_EXIF_TEXT = (0x010E, 0x013B, 0x8298)
_EXIF_WINDOWS = (0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F)
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
# Technical entries of Pillow's ``info`` that are not text anyone wrote.
_TECHNICAL = frozenset(
    {"dpi", "gamma", "transparency", "icc_profile", "exif", "aspect", "jfif", "jfif_version",
     "jfif_unit", "jfif_density", "progressive", "progression", "adobe", "adobe_transform",
     "compression", "duration", "loop", "background", "version", "extension", "mp", "srgb",
     "chromaticity"}
)  # fmt: skip


def picture_notes(picture: Any) -> list[str]:
    """The texts a picture carries besides its pixels: a PNG's text chunks, a JPEG's
    comment, EXIF description, author, copyright, Windows title and comments, the
    user comment, XMP metadata. A file's properties show them."""
    notes: list[str] = []
    for key, value in dict(picture.info).items():
        if key in _TECHNICAL:
            continue
        if isinstance(value, bytes):
            value = decode_text(value)
        if isinstance(value, str) and value.strip():
            notes.append(_XML_TAGS.sub(" ", value) if "<" in value else value)
    try:
        exif = picture.getexif()
    except Exception:
        return notes
    for tag in _EXIF_TEXT:
        value = exif.get(tag)
        if isinstance(value, str | bytes):
            notes.append(value if isinstance(value, str) else value.decode("utf-8", "replace"))
    for tag in _EXIF_WINDOWS:
        value = exif.get(tag)
        if isinstance(value, bytes | tuple):
            notes.append(bytes(value).decode("utf-16-le", "replace").rstrip("\x00"))
    try:
        comment = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except Exception:
        comment = None
    if isinstance(comment, bytes):
        body = comment[8:]
        notes.append(body.decode("utf-16-le" if comment.startswith(b"UNICODE") else "latin-1",
                                 "replace"))  # fmt: skip
    elif isinstance(comment, str):
        notes.append(comment)
    return [note for note in notes if note.strip()]


_XML_TAGS = re.compile(r"<[^>]{0,4096}>")
