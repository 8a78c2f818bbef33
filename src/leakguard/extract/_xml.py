"""Safe XML parsing for office documents: entity declarations and external references
are refused (billion-laughs and external-entity attacks), names compared without their
namespace so strict and transitional variants read alike.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from leakguard.extract._common import Unreadable

if TYPE_CHECKING:
    # The parser is loaded by ``parse`` and ``iter_end``, when there is XML to read:
    # the text reader imports these helpers for the few text files that are XML.
    from xml.etree.ElementTree import Element

__all__ = ["MAX_NESTING", "attr", "element_lines", "iter_end", "local", "parse", "text_lines"]

# Deeper element nesting than this is not a real document; refusing it keeps the
# recursive walkers far from Python's recursion limit.
MAX_NESTING = 400


def local(tag: Any) -> str:
    """An element or attribute name without its ``{namespace}``."""
    if not isinstance(tag, str):
        return ""
    return _local(tag)


@functools.lru_cache(maxsize=2048)
def _local(tag: str) -> str:
    # A document repeats a few dozen names hundreds of thousands of times.
    return tag.rsplit("}", 1)[-1]


def attr(elem: Element, name: str) -> str | None:
    """The value of the attribute whose local name is ``name``, whatever its namespace."""
    for key, value in elem.attrib.items():
        if local(key) == name:
            return value
    return None


def parse(data: bytes) -> Element:
    """Parse a whole XML document; :class:`Unreadable` ``corrupt`` when it is bad or hostile."""
    from defusedxml import ElementTree as SafeET

    try:
        root: Element = SafeET.fromstring(
            data, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except Exception:
        raise Unreadable("corrupt") from None
    return root


def iter_end(data: bytes, names: frozenset[str]) -> Iterator[Element]:
    """Stream the elements named ``names`` as each one ends, emptying them afterwards.

    For large sheets, where building the whole tree would cost far more memory than
    the file. Consumers read the yielded element before asking for the next one.
    """
    from defusedxml import ElementTree as SafeET

    try:
        events = SafeET.iterparse(
            io.BytesIO(data),
            events=("end",),
            forbid_dtd=False,
            forbid_entities=True,
            forbid_external=True,
        )
        for _, elem in events:
            if local(elem.tag) in names:
                yield elem
                # Only an empty shell stays in the parent: memory grows by a few dozen
                # bytes per row instead of by the row's content.
                elem.clear()
    except Unreadable:
        raise
    except Exception:
        raise Unreadable("corrupt") from None


def text_lines(
    data: bytes,
    *,
    skip: frozenset[str] = frozenset(),
    attributes: frozenset[str] = frozenset(),
    every_attribute: bool = False,
    max_lines: int = 1_000_000,
) -> list[str]:
    """Every piece of text in an XML document, one line per element that holds some (and
    per attribute named in ``attributes``, or every attribute): for parts whose text is
    data rather than paragraphs (document properties, chart caches, form data,
    metadata). Elements named in ``skip`` are left out with everything inside them.
    :class:`Unreadable` ``corrupt`` when the XML is bad or hostile."""
    return element_lines(
        parse(data),
        skip=skip,
        attributes=attributes,
        every_attribute=every_attribute,
        max_lines=max_lines,
    )


def element_lines(
    root: Element,
    *,
    skip: frozenset[str] = frozenset(),
    attributes: frozenset[str] = frozenset(),
    every_attribute: bool = False,
    max_lines: int = 1_000_000,
) -> list[str]:
    """:func:`text_lines` of a tree already parsed."""
    lines: list[str] = []
    stack: list[tuple[Element, int]] = [(root, 0)]
    while stack and len(lines) < max_lines:
        elem, depth = stack.pop()
        if depth > MAX_NESTING:
            raise Unreadable("corrupt")
        if local(elem.tag) in skip:
            continue
        if attributes or every_attribute:
            lines.extend(
                value
                for key, value in elem.attrib.items()
                if value.strip() and (every_attribute or local(key) in attributes)
            )
        children = list(elem)
        if any(child.tail and not child.tail.isspace() for child in children):
            # Mixed content (``NIR <b>1 85</b> 05``): the element's text read as one line.
            lines.append(" ".join("".join(elem.itertext()).split()))
            continue
        if elem.text and not elem.text.isspace():
            lines.append(" ".join(elem.text.split()))
        stack.extend((child, depth + 1) for child in reversed(children))
    return lines
