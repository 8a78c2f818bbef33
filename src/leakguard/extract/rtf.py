"""RTF to text with striprtf; table cells become tabs and rows lines, like every other
table leakguard reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import cast

from leakguard.core import Location
from leakguard.extract._common import Context, Item, text_items

__all__ = ["read_rtf", "rtf_text"]

# Rewritten before striprtf sees the document: a cell end becomes a tab, a row end a
# paragraph end. The look-ahead keeps ``\cellx`` (a cell width) and ``\rowd`` intact.
_CELL = re.compile(rb"\\(?:nest)?cell(?![a-z])")
_ROW = re.compile(rb"\\(?:nest)?row(?![a-z])")


def rtf_text(data: bytes) -> str:
    """Readable text of an RTF document (never raises on odd control words)."""
    from striprtf import striprtf

    rtf_to_text = cast("Callable[..., str]", striprtf.rtf_to_text)

    data = _ROW.sub(rb"\\par", _CELL.sub(rb"\\tab", data))
    raw = data.decode("latin-1")
    text = rtf_to_text(raw, encoding="cp1252", errors="replace")
    # The last cell of a row leaves a tab before the line end.
    return "\n".join(line.rstrip("\t ") for line in text.splitlines())


def read_rtf(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """An RTF file: its text."""
    yield from text_items(rtf_text(data), location, ctx.budget, "application/rtf")
