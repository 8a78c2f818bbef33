"""Pieces shared by the format readers: the reading context, the text budget, and the
exception a reader raises to say a part cannot be read (and why).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote_plus

import numpy as np

from leakguard.core import Location
from leakguard.extract._types import Budget, Problem, TextChunk

__all__ = ["Context", "Item", "Unreadable", "inner_items", "mostly_printable", "text_items"]

Item = TextChunk | Problem


class Unreadable(Exception):
    """Raised inside a reader: the whole part is reported with ``reason``.

    The message is never shown to anyone; only ``reason`` and ``container`` travel on.
    """

    def __init__(self, reason: str, container: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.container = container


class MessageReader(Protocol):
    """Reads a message found inside a document (an ``.eml`` in a ZIP, an attached item).

    Reading messages is the layer above this package; it hands its reader down through
    :func:`leakguard.extract.extract`, so extraction never imports it back.
    """

    def __call__(
        self, data: bytes, location: Location, /, *, budget: Budget, depth: int = 0
    ) -> Iterator[TextChunk | Problem]: ...


@dataclass(frozen=True, slots=True)
class Context:
    """What a reader needs besides the bytes: the running budget, where it sits, and the
    reader for messages nested in it (None: a nested message is reported unsupported)."""

    budget: Budget
    depth: int = 0
    filename: str | None = None
    messages: MessageReader | None = None


# Marks put in a text as it is read: where an inline element starts or ends (an HTML
# ``<span>``, a Word run), and around what a hidden element holds. They are taken out
# of the text read; :func:`without_marks` makes the other readings from them.
EDGE, HIDE, SHOW = "\ue000", "\ue001", "\ue002"
MARKS = re.compile("[\ue000-\ue002]")
# The class of each ASCII character beside an edge: 1 a letter, 2 a digit, 0 anything
# else; any other character counts as both (a letter with an accent, a digit of another
# script): a run of edges glues when one side may be a digit and the other a letter or
# a digit.
_SIDE = np.zeros(128, dtype=np.uint8)
_SIDE[[ord(c) for c in string.ascii_letters]] = 1
_SIDE[[ord(c) for c in string.digits]] = 2
_EITHER = 3
# A short text (a paragraph) is searched for glue with this expression instead.
_GLUED = re.compile(rf"[^\W_]{EDGE}+[0-9]|[0-9]{EDGE}+[^\W_]")
_SHORT = 4096
_HIDING = re.compile(f"[{HIDE}{SHOW}]")
# Past this many places of glue, the whole text is read again rather than line by line.
_MANY_LINES = 1000


def without_marks(text: str, /) -> tuple[str, list[str]]:
    """``text`` with its marks taken out, and the other readings to read apart: the lines
    that hold hidden text, as a reader sees them (what hidden elements hold left out),
    and the lines where an edge lies between a digit and a letter or another digit, with
    a space at each edge. Hidden text must not glue itself to a number the reader sees
    alone ("<span style=font-size:0>x</span>" before it, or inside it between two
    groups). Only those lines are read again: the others read the same every way."""
    others: list[str] = []
    if HIDE in text:
        others.append(_visible_lines(text).replace(EDGE, ""))
        text = _HIDING.sub("", text)
    if EDGE in text:
        glued = _glued_lines(text)
        if glued:
            others.append(glued)
        text = text.replace(EDGE, "")
    return text, others


def _glue_places(text: str) -> list[int]:
    """Where a run of edges lies between a digit and a letter or another digit (found
    with numpy: a regular expression's walk over every character of a long page would
    cost tens of milliseconds a megabyte)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    edge = codes == ord(EDGE)
    where = np.flatnonzero(edge)
    if not len(where):
        return []
    n = len(codes)
    before = np.ones(len(where), dtype=np.bool_)  # the character before is no edge
    before[1:] = where[1:] != where[:-1] + 1
    after = np.ones(len(where), dtype=np.bool_)  # the character after is no edge
    after[:-1] = where[:-1] + 1 != where[1:]
    starts, ends = where[before], where[after]
    side = np.where(codes < 128, _SIDE.take(np.minimum(codes, 127)), _EITHER)
    left = np.where(starts > 0, side.take(np.maximum(starts - 1, 0)), 0)
    right = np.where(ends < n - 1, side.take(np.minimum(ends + 1, n - 1)), 0)
    glued = ((left & 2) != 0) & (right != 0) | ((right & 2) != 0) & (left != 0)
    return [int(x) for x in starts[glued]]


def _glued_lines(text: str) -> str:
    """The lines of ``text`` where an edge touches a digit, a space at each edge."""
    if len(text) <= _SHORT:
        return text.replace(EDGE, " ") if _GLUED.search(text) is not None else ""
    places = _glue_places(text)
    if len(places) >= _MANY_LINES:
        return text.replace(EDGE, " ")  # glue all over: the whole text at once
    lines: list[str] = []
    end = -1
    for place in places:
        if place < end:
            continue  # on the line just taken
        start = text.rfind("\n", 0, place) + 1
        end = text.find("\n", place)
        end = len(text) if end < 0 else end
        lines.append(text[start:end].replace(EDGE, " "))
    return "\n".join(lines)


def _visible_lines(text: str) -> str:
    """The lines of ``text`` that hold hidden text (between a :data:`HIDE` and its
    :data:`SHOW`), without it; lines wholly hidden are left out."""
    lines: list[str] = []
    depth = 0
    for line in text.split("\n"):
        if depth == 0 and HIDE not in line and SHOW not in line:
            continue  # nothing hidden: read as it is already
        kept: list[str] = []
        pos = 0
        for mark in _HIDING.finditer(line):
            if depth == 0:
                kept.append(line[pos : mark.start()])
            depth = depth + 1 if mark.group() == HIDE else max(0, depth - 1)
            pos = mark.end()
        if depth == 0:
            kept.append(line[pos:])
        visible = "".join(kept)
        if visible.strip():
            lines.append(visible)
    return "\n".join(lines)


def mostly_printable(text: str, /) -> bool:
    """Whether nine characters of ``text`` in ten are printable (tabs and line breaks
    count as such): bytes decoded from a format's raw value read as a text, not noise."""
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return bool(text) and printable >= len(text) * 0.9


def url_text(value: str, /) -> str:
    """An address as text: its URL escapes decoded (``%20``, ``+`` for a space), so that
    a number written in a link's query or path reads as it would in a sentence."""
    return unquote_plus(value) if "%" in value or "+" in value else value


def text_items(
    text: str,
    location: Location,
    budget: Budget,
    content_type: str = "text/plain",
    *,
    identifiers_only: bool = False,
) -> Iterator[Item]:
    """Yield ``text`` as a chunk, cut to what the message's character budget still allows.

    Past the budget the part is reported ``too_large`` so nobody believes it was fully read.
    """
    if not text or text.isspace():  # (not a stripped copy of a long text)
        return
    room = budget.limits.max_text_chars - budget.chars_used
    if room <= 0:
        yield Problem(location, "too_large")
        return
    if len(text) > room:
        budget.chars_used += room
        yield TextChunk(location, text[:room], content_type, identifiers_only)
        yield Problem(location, "too_large")
        return
    budget.chars_used += len(text)
    yield TextChunk(location, text, content_type, identifiers_only)


def name_items(name: str | None, where: Location, budget: Budget) -> Iterator[Item]:
    """A file's name (an attachment's, an archive member's path) read as text at the
    file's place: whoever receives the file sees it ("compte rendu <NIR>.pdf")."""
    if name:
        yield from text_items(name, where, budget)


def inner_items(
    data: bytes, where: Location, ctx: Context, filename: str | None = None
) -> Iterator[Item]:
    """A document found inside the one being read (an archive member, an attached or
    embedded file), read as what it is at ``where``, one level deeper. Its name
    (``filename``, a member's path in an archive) is read as text there too: whoever
    opens the document sees it."""
    from leakguard.extract import extract

    yield from name_items(filename, where, ctx.budget)
    yield from extract(
        data,
        where,
        budget=ctx.budget,
        filename=filename,
        depth=ctx.depth + 1,
        messages=ctx.messages,
    )
