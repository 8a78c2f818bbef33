"""The text as a reader sees it, for the detectors.

A number can be written so that it shows plainly on the screen while its characters are
not the ASCII digits the detectors look for: a zero-width space or a soft hyphen between
two digits (pasted from a web page, a PDF or a word processor's hyphenation, or put there
to slip past a filter), digits of another script or full-width digits and letters, an
accent written as a separate mark. :func:`as_seen` gives the text with those read as
they show:

* characters that print nothing are dropped: Unicode's default-ignorable code points
  (soft hyphen, zero-width spaces and joiners, direction marks, word joiner, byte-order
  mark, variation selectors, tags…) and the marks written over the character before
  them (a decomposed "é" reads as "e", as the detectors' folded copy reads it anyway);
* every digit (a decimal digit of any script: Arabic-Indic, Devanagari, full-width,
  mathematical…; or a digit written otherwise: superscript, subscript, circled) is the
  ASCII digit of the same value;
* full-width ASCII forms are their ASCII character, the ideographic space a space.

The answer serves the detectors only: offsets into it are not offsets into the text
given. A text in plain ASCII, or in Latin-1 without a soft hyphen, is returned as it is
without being copied (its superscript one, two and three stay: a number written with
those alone is no identifier's); any other text is read once, a megabyte of characters
at a time, with numpy.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import numpy.typing as npt

__all__ = ["as_seen"]

_SOFT_HYPHEN = "\u00ad"
# Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt), ranges.
_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_DROP = -1
_STEP = 1 << 20


def seen_as(code: int, /) -> int:
    """What the character ``code`` reads as: another code point, itself, or ``-1`` when
    it prints nothing."""
    if any(lo <= code <= hi for lo, hi in _IGNORABLE):
        return _DROP
    if 0xFF01 <= code <= 0xFF5E:  # full-width forms of the printable ASCII characters
        return code - 0xFEE0
    if code == 0x3000:
        return 0x20
    char = chr(code)
    # A decimal digit of any script, or a digit written otherwise (superscript,
    # subscript, circled, with a full stop): it shows as the digit it is.
    digit = unicodedata.digit(char, -1)
    if digit >= 0:
        return 0x30 + digit
    if unicodedata.category(char) == "Mn":
        return _DROP
    return code


def as_seen(text: str, /) -> str:
    """``text`` with what prints nothing dropped and every digit, full-width letter and
    sign read as its ASCII character (see the module's notes); ``text`` itself when
    nothing changes."""
    if text.isascii():
        return text
    try:
        text.encode("latin-1")  # a copy of a one-byte string: no character beyond it
    except UnicodeEncodeError:
        return _wide(text)
    return text.replace(_SOFT_HYPHEN, "") if _SOFT_HYPHEN in text else text


# What each character of the Basic Multilingual Plane reads as (``seen_as``), filled in
# as characters are met; ``_UNKNOWN`` where not yet. Writes from two threads at once
# write the same value.
_UNKNOWN = -2
_BMP = np.full(0x10000, _UNKNOWN, dtype=np.int32)


def _read_as(points: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
    """``seen_as`` of each code point of ``points``."""
    bmp = points < 0x10000
    lookup = np.where(bmp, points, 0)
    new = _BMP.take(lookup).astype(np.int64)
    unknown = (new == _UNKNOWN) & bmp
    if unknown.any():
        for code in set(lookup[unknown].tolist()):
            _BMP[code] = seen_as(code)
        new = _BMP.take(lookup).astype(np.int64)
    if not bmp.all():
        beyond = np.flatnonzero(~bmp)
        distinct, inverse = np.unique(points.take(beyond), return_inverse=True)
        each = np.array([seen_as(c) for c in distinct.tolist()], dtype=np.int64)
        new[beyond] = each.take(inverse)
    return new


def _wide(text: str) -> str:
    parts: list[str] = []
    changed = False
    for lo in range(0, len(text), _STEP):
        piece = text[lo : lo + _STEP]
        points = np.frombuffer(piece.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        # Beyond Latin-1, and the few characters of it that read otherwise: the soft
        # hyphen, and the superscript one, two and three.
        latin = (points == 0xAD) | (points == 0xB2) | (points == 0xB3) | (points == 0xB9)
        where = np.flatnonzero((points > 0xFF) | latin)
        codes = points.take(where)
        mapped = _read_as(codes)
        if bool((mapped == codes).all()):
            parts.append(piece)
            continue
        changed = True
        out = points.copy()
        out[where] = np.maximum(mapped, 0).astype(np.uint32)
        keep = np.ones(len(points), dtype=np.bool_)
        keep[where[mapped == _DROP]] = False
        parts.append(out[keep].tobytes().decode("utf-32-le", "surrogatepass"))
    return "".join(parts) if changed else text
