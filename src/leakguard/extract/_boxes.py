"""Box lines taken out of a scanned form before OCR: the frames that print a number one
character per box, and the rules of tables.

Tesseract reads a box's sides as ``|``, ``I``, ``l``, ``[`` or as a ``1`` glued to the
digit inside, and a digit framed on four sides often as a letter. Without the frames
it reads the digits in a row. Thin long lines go; so do the short vertical strokes that
join two of them (the sides of boxes and table cells). Letters, filled areas and short
strokes stay. Numpy only, a few passes over the picture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["without_box_lines"]

# Darker than this is ink (after the scanner specks are filtered out); a scanned line
# drawn thin and a little askew is a light gray.
_INK = 200
# A line is at least a fiftieth of the page's width (a box on an A4 page scanned at 200
# dpi) and never under 32 pixels; from a sixteenth on (a rule, or a row of boxes) it goes
# whatever is joined to it. A shorter one goes only when sides join it at both ends, as
# a box's top and bottom have and no letter's bar (E, T, F) has.
_LINE_SHARE = 50
_LINE_MIN = 32
_RULE_SHARE = 16
# Thicker than this (in pixels) is a filled area, not a line.
_THICK = 10
# Slack for a page scanned a few degrees askew: a line's pixels may step this many rows
# (a vertical side: columns) along its length.
_SLANT = 2


def without_box_lines(gray: Any) -> Any:
    """``gray`` (a Pillow picture in mode ``L``) without its box and table lines; the
    same picture when it has none."""
    from PIL import Image

    pixels = np.asarray(gray)
    if pixels.ndim != 2 or min(pixels.shape) < 3:
        return gray
    ink = pixels < _INK
    width = ink.shape[1]
    length = max(_LINE_MIN, width // _LINE_SHARE)
    # Horizontal lines: long runs of ink (a slanted line's steps joined by looking a row
    # or two up and down), thin.
    starts, ends, row = _run_bounds(_spread(ink, axis=0))
    long = ends - starts >= length
    starts, ends = starts[long], ends[long]
    if not len(starts):
        return gray
    along = _fill(starts, ends, ink.shape, row)
    thin = ~_runs(along.T, _THICK + 2 * _SLANT + 1).T
    # The sides first joining any two lines, then the lines with sides at both ends (or
    # long), then only the sides joining those.
    sides = _sides(ink, along & thin)
    near = _flat(_spread(_spread(sides, axis=1, by=3), axis=0, by=_SLANT), row)
    keep = (ends - starts >= max(length, width // _RULE_SHARE)) | (near[starts] & near[ends - 1])
    lines = _fill(starts[keep], ends[keep], ink.shape, row) & thin
    if not lines.any():
        return gray
    # The ink of those lines (a run found in the widened copy may lie a row or two off).
    lines = ink & _spread(lines, axis=0, by=1)
    gone = lines | _sides(ink, lines)
    out = pixels.copy()
    out[gone] = 255
    return Image.fromarray(out, mode="L")


def _sides(ink: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Runs of ink down a column (slant tolerated) whose top and bottom lie on
    ``lines``, as the sides of a box or a table cell do and no letter does."""
    ends = _spread(_spread(lines, axis=0, by=2), axis=1, by=2)
    return _joining(_spread(ink, axis=1).T, ends.T).T


def _flat(mask: np.ndarray, row: int) -> np.ndarray:
    """``mask`` laid out as :func:`_run_bounds` indexes its rows."""
    pad = np.zeros((mask.shape[0], row - mask.shape[1]), dtype=np.bool_)
    return np.concatenate((mask, pad), axis=1).ravel()


def _spread(mask: np.ndarray, axis: int, by: int = _SLANT) -> np.ndarray:
    """``mask`` widened by ``by`` pixels both ways along ``axis``."""
    out = mask.copy()
    for step in range(1, by + 1):
        if axis == 0:
            out[step:] |= mask[:-step]
            out[:-step] |= mask[step:]
        else:
            out[:, step:] |= mask[:, :-step]
            out[:, :-step] |= mask[:, step:]
    return out


def _run_bounds(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Where each run of True along the rows of ``mask`` begins and ends, as indexes in
    the rows laid end to end with one False between them, and that row width."""
    rows, cols = mask.shape
    padded = np.zeros((rows, cols + 1), dtype=np.bool_)
    padded[:, :cols] = mask
    flat = padded.ravel()
    starts = np.flatnonzero(flat[1:] > flat[:-1]) + 1
    if flat[0]:
        starts = np.concatenate(([0], starts))
    ends = np.flatnonzero(flat[1:] < flat[:-1]) + 1
    return starts, ends, cols + 1


def _fill(starts: np.ndarray, ends: np.ndarray, shape: tuple[int, int], row: int) -> np.ndarray:
    """The mask of the runs ``[starts, ends)`` (indexes as :func:`_run_bounds` gives)."""
    marks = np.zeros(shape[0] * row + 1, dtype=np.int8)
    marks[starts] += 1
    marks[ends] -= 1
    return np.cumsum(marks[:-1], dtype=np.int8).reshape(shape[0], row)[:, : shape[1]] > 0


def _runs(mask: np.ndarray, length: int) -> np.ndarray:
    """The pixels of ``mask`` in runs along its rows at least ``length`` long."""
    starts, ends, row = _run_bounds(mask)
    keep = ends - starts >= length
    return _fill(starts[keep], ends[keep], mask.shape, row)


def _joining(mask: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The runs along the rows of ``mask`` whose first and last pixels lie on ``ends``."""
    starts, stops, row = _run_bounds(mask)
    on = _flat(ends, row)
    keep = on[starts] & on[stops - 1] & (stops - starts > 2)
    return _fill(starts[keep], stops[keep], mask.shape, row)
