"""Pieces shared by the format readers: the reading context, the text budget, and the
exception a reader raises to say a part cannot be read (and why).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote_plus

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
