"""A document given on its own (``leakguard scan`` of a file): read by the extractors, and
as a message only when its bytes are one.

Apart from the message walker so that reading a PDF or a text file does not load the
mail parser, the MIME walk and the HTML reader, which only a message needs.
"""

from __future__ import annotations

from collections.abc import Iterator

from leakguard.core import Location
from leakguard.extract import extract, sniff
from leakguard.extract._types import Budget, Limits, Problem, TextChunk


def document_content(
    data: bytes, /, *, name: str, limits: Limits | None = None
) -> Iterator[TextChunk | Problem]:
    """A single document given on its own, read at ``attachment:<name>``.

    When the bytes are an RFC 822 message they are read as a message instead (subject,
    body, attachments). Never raises.
    """
    budget = Budget(limits if limits is not None else Limits())
    location = Location.attachment(name)
    try:
        if not budget.take_bytes(len(data)):
            yield Problem(location, "too_large")
            return
        if sniff(data, filename=name) == "eml":
            from leakguard.message._walk import document_message

            yield from document_message(data, location, budget)
            return
        yield from extract(data, location, budget=budget, filename=name, messages=_embedded)
    except Exception:
        yield Problem(location, "corrupt")


def _embedded(
    data: bytes, location: Location, /, *, budget: Budget, depth: int = 0
) -> Iterator[TextChunk | Problem]:
    """A message found inside the document (an ``.eml`` in a ZIP), read by the walker,
    which is loaded when a document holds one."""
    from leakguard.message._walk import iter_embedded

    yield from iter_embedded(data, location, budget=budget, depth=depth)
