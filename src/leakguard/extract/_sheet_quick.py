"""A workbook's shared strings and sheet rows read by regular expressions, for parts
written as spreadsheet programs write them; the element tree reads the others.

An export of 100,000 rows is 65 MB of XML: an element object per cell costs a minute,
these expressions a few seconds. What they give is what the tree reader gives (the
property tests compare them); a part they were not made for (a DOCTYPE, a comment,
CDATA, a prefixed element name, another encoding, a ``>`` in an attribute value)
answers ``None`` and goes to the tree reader. Expat checks the part is well formed
first, so a damaged part is still ``corrupt``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from xml.parsers import expat

import numpy as np

from leakguard._child import LONG_TEXT, Child, ChildFailed
from leakguard.core import Deadline

__all__ = ["quick_rows", "quick_shared_strings"]

# What these expressions were not made for (each looked for on its own: one pattern
# with them all is tried at every character).
_PREFIXED = re.compile(r"</?[A-Za-z_][\w.\-]*:")
_OTHER_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")
_INSTRUCTION = re.compile(r"<\?(?!xml\s)")
_CLOSE_IN_VALUE = re.compile(r"=\s*(?:\"[^\"<]*>|'[^'<]*>)")


# An element name from its ``<`` (or ``</``) to the character before a colon.
_NAME = re.compile(r"</?[A-Za-z_][\w.\-]*")


def _prefixed(text: str) -> bool:
    """Whether ``_PREFIXED`` finds a prefixed element name in ``text``: a name runs
    from the last ``<`` before its colon, so only the colons need a look (a part
    holds few, but for the namespace declarations; with many, one pass is less)."""
    if text.count(":") * 64 > len(text):
        return _PREFIXED.search(text) is not None
    return _prefixed_at_colons(text)


def _prefixed_at_colons(text: str) -> bool:
    """``_PREFIXED.search(text) is not None``, looking only before each colon."""
    at = text.find(":")
    while at >= 0:
        opening = text.rfind("<", 0, at)
        if opening >= 0 and _NAME.fullmatch(text, opening, at) is not None:
            return True
        at = text.find(":", at + 1)
    return False


def _unusual(text: str) -> bool:
    return (
        "<!" in text
        or "\r" in text
        or ("<?" in text and _INSTRUCTION.search(text) is not None)
        or ("&" in text and _OTHER_ENTITY.search(text) is not None)
        or _prefixed(text)
        or _CLOSE_IN_VALUE.search(text) is not None
    )


_DECLARATION = re.compile(r"<\?xml\s[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")


def _text(xml: bytes) -> str | None:
    """The part as text when the expressions can read it, else ``None``; raises
    :class:`ValueError` when it is not well-formed XML."""
    text = _readable(xml)
    if text is not None:
        _well_formed(xml)
    return text


def _readable(xml: bytes) -> str | None:
    """The part as text when the expressions can read it (well formed or not), else
    ``None``."""
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.removeprefix("\ufeff")
    declared = _DECLARATION.match(text)
    if declared is not None and declared.group(1).lower().replace("_", "-") not in ("utf-8",):
        return None
    if _unusual(text):
        return None
    return text


def _well_formed(xml: bytes) -> None:
    """:class:`ValueError` when the part is not well-formed XML (expat says)."""
    parser = expat.ParserCreate()
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise ValueError("not well formed") from exc


_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _entity(m: re.Match[str]) -> str:
    name = m.group(1)
    if name[0] != "#":
        return _NAMED[name]
    return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))


def _unescaped(text: str) -> str:
    return _ENTITY.sub(_entity, text) if "&" in text else text


# A phonetic guide (left out), then the texts of ``t`` elements.
_PHONETIC = re.compile(r"<rPh(?=[\s/>])[^>]*?(?:/>|>.*?</rPh\s*>)", re.DOTALL)
_T = re.compile(r"<t(?=[\s/>])[^>]*?(?:/>|>(.*?)</t\s*>)", re.DOTALL)


def _texts(inner: str) -> str:
    """The ``t`` texts under an element (its content ``inner``), without phonetic guides."""
    if "<rPh" in inner:
        inner = _PHONETIC.sub("", inner)
    return "".join(_unescaped(t) for t in _T.findall(inner))


_SI = re.compile(r"<si(?=[\s/>])[^>]*?(?:/>|>(.*?)</si\s*>)", re.DOTALL)


# A shared string as spreadsheet programs write most: one text, no attribute but the
# one keeping its spaces.
_PLAIN_SI = re.compile(r'<si><t(?: xml:space="preserve")?>([^<]*)</t></si>')


def quick_shared_strings(xml: bytes) -> list[str] | None:
    """The shared strings, or ``None`` when the part is not one these expressions read;
    :class:`ValueError` when it is not well formed."""
    text = _text(xml)
    if text is None:
        return None
    plain = _PLAIN_SI.findall(text)
    if len(plain) == text.count("<si"):
        # Every string written plainly (each ``<si`` begins one): read at once.
        return [_unescaped(t) for t in plain] if "&" in text else plain
    return [_texts(inner) for inner in _SI.findall(text)]


_HEADERS = "oddHeader|oddFooter|evenHeader|evenFooter|firstHeader|firstFooter"
# A row, or a header or footer printed on every page (group 2 its name, 3 its content).
_ROW_OR_HEADER = re.compile(
    r"<row(?=[\s/>])[^>]*?(?:/>|>(.*?)</row\s*>)"
    rf"|<({_HEADERS})(?=[\s/>])[^>]*?(?:/>|>(.*?)</\2\s*>)",
    re.DOTALL,
)
# A cell as spreadsheet programs write it (its column letters, type and value), or
# any other (group 4, read by ``_CELL_PARTS``).
_CELL = re.compile(
    r'<c r="([A-Z]{1,3})[0-9]*"(?: s="[0-9]+")?(?: t="([a-zA-Z]+)")?(?: s="[0-9]+")?>'
    r"(?:<v>([^<&]*)</v>)?</c>"
    r"|(<c(?=[\s/>])[^>]*?(?:/>|>.*?</c\s*>))",
    re.DOTALL,
)
_CELL_PARTS = re.compile(r"<c([^>]*?)(?:/>|>(.*?)</c\s*>)", re.DOTALL)


@functools.lru_cache(maxsize=4096)
def _index(letters: str) -> int:
    """The column index (0 for A) of column letters."""
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


_NAMES: list[str] = []


def _columns(count: int) -> tuple[str, ...]:
    """The letters of the first ``count`` columns (``A``, ``B``… ``AA``…)."""
    while len(_NAMES) < count:
        n, name = len(_NAMES) + 1, ""
        while n:
            n, r = divmod(n - 1, 26)
            name = chr(65 + r) + name
        _NAMES.append(name)
    return tuple(_NAMES[:count])


_REF = re.compile(r"\sr\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_TYPE = re.compile(r"\st\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
# The first value of a cell: a direct child (a formula's text holds no element).
_V = re.compile(r"<v(?=[\s/>])[^>]*?(?:/>|>(.*?)</v\s*>)", re.DOTALL)
_IS = re.compile(r"<is(?=[\s/>])[^>]*?(?:/>|>(.*?)</is\s*>)", re.DOTALL)
# Elements a cell may hold around its value that could hide a ``v`` of their own.
_NESTED = re.compile(r"<(?:is|extLst)(?=[\s/>])")


def _attribute(pattern: re.Pattern[str], attrs: str) -> str | None:
    m = pattern.search(" " + attrs)
    if m is None:
        return None
    return _unescaped(m.group(1) if m.group(1) is not None else m.group(2))


def quick_rows(
    xml: bytes,
    shared: list[str],
    *,
    header: Callable[[str], str | None],
    cell: Callable[[str | None, str, str | None, list[str]], str],
    column: Callable[[str], int | None],
    max_skip: int,
    check: Callable[[], None],
    row: Callable[[Sequence[str], Sequence[str], list[str]], list[str]],
    deadline: Deadline | None = None,
) -> Iterator[str] | None:
    """The sheet's lines as the tree reader makes them (``header`` lays out a header's
        text, ``cell`` a cell's value from its type, its ``v`` text and its inline text),
        or ``None`` when the part is not one these expressions read; :class:`ValueError`
        when it is not well formed. ``check`` is called every thousand rows (it raises
    when the time is up). ``row`` makes the values of a row of plainly written cells at
    once from their types ("" for none) and ``v`` texts, as ``cell`` makes each.

    A sheet of ``LONG_TEXT`` characters or more is cut between two rows: a child
    process, where one may run (``leakguard._child``), checks the whole part is well
    formed and reads the rows after the cut, while this one reads those before; the
    shared strings the child's cells showed are marked here as shown (``shared.used``).
    A child that fails has this process do its work. Then the :class:`ValueError` of
    a damaged part comes after the lines before the cut; and ``DeadlineExceeded`` when
    ``deadline`` passes while the child's answer is awaited."""
    text = _readable(xml)
    if text is None:
        return None
    rows = functools.partial(_rows, text, shared, header, cell, row, column, max_skip, check)
    cut = _row_cut(text) if len(text) >= LONG_TEXT else None
    child = None
    if cut is not None:
        lines = getattr(shared, "lines", None)
        if callable(lines):
            lines()  # the strings as cells show them, made once before the two readings
        child = Child.start(functools.partial(_far_rows, xml, rows, cut, len(text), shared))
    if cut is None or child is None:
        _well_formed(xml)
        return rows(0, len(text))
    return _joined_rows(xml, rows, cut, len(text), shared, child, deadline)


# Where the rows of a long sheet are cut: between a row's end tag and the next row,
# where nothing but a row can start (see ``_row_cut``).
_BETWEEN_ROWS = "</row><row"


def _row_cut(text: str) -> int | None:
    """A place past ``CUT_AT`` of ``text`` where one row ends and the next begins
    (``</row><row`` and a space, ``/`` or ``>``), or ``None``. A reading from there
    meets what a reading from the start meets: the expression of a row ends at the
    first ``</row>`` after its start, so a row's end tag is always the end of a row
    read, or outside every row read."""
    at = text.find(_BETWEEN_ROWS, int(len(text) * CUT_AT))
    while 0 <= at < len(text) * 7 // 8:
        cut = at + len("</row>")
        if text[cut + 4 : cut + 5] in (" ", "\t", "\n", "/", ">"):
            return cut
        at = text.find(_BETWEEN_ROWS, at + 1)
    return None


# The share of a long sheet this process reads: more than half, since the child also
# checks the whole part is well formed.
CUT_AT = 0.6


def _far_rows(
    xml: bytes,
    rows: Callable[[int, int], Iterator[str]],
    cut: int,
    end: int,
    shared: list[str],
) -> tuple[bool, list[str], bytes | None]:
    """In the child: whether the part is well formed, the lines of the rows after
    ``cut``, and which shared strings they showed."""
    try:
        _well_formed(xml)
    except ValueError:
        return False, [], None
    lines = list(rows(cut, end))
    used = getattr(shared, "used", None)
    return True, lines, None if used is None else bytes(used)


def _joined_rows(
    xml: bytes,
    rows: Callable[[int, int], Iterator[str]],
    cut: int,
    end: int,
    shared: list[str],
    child: Child[tuple[bool, list[str], bytes | None]],
    deadline: Deadline | None,
) -> Iterator[str]:
    try:
        yield from rows(0, cut)
        try:
            whole, lines, shown = child.result(deadline)
        except ChildFailed:
            _well_formed(xml)
            yield from rows(cut, end)
            return
        if not whole:
            raise ValueError("not well formed")
        used = getattr(shared, "used", None)
        if used is not None and shown is not None and len(shown) == len(used):
            mine = np.frombuffer(used, dtype=np.uint8)
            used[:] = (mine | np.frombuffer(shown, dtype=np.uint8)).tobytes()
        yield from lines
    finally:
        child.close()


def _rows(
    text: str,
    shared: list[str],
    header: Callable[[str], str | None],
    cell: Callable[[str | None, str, str | None, list[str]], str],
    row: Callable[[Sequence[str], Sequence[str], list[str]], list[str]],
    column: Callable[[str], int | None],
    max_skip: int,
    check: Callable[[], None],
    start: int,
    end: int,
) -> Iterator[str]:
    for n, m in enumerate(_ROW_OR_HEADER.finditer(text, start, end)):
        if n % 1000 == 0:
            check()
        if m.group(2) is not None:
            line = header(_unescaped(m.group(3) or ""))
            if line:
                yield line
            continue
        found = _CELL.findall(m.group(1) or "")
        if found:
            names, types, texts, others = zip(*found, strict=True)
            if not any(others) and names == _columns(len(names)):
                # Every cell written as spreadsheet programs write one, in columns A, B,
                # C…: what the loop below makes, without its steps for the others.
                values = row(types, texts, shared)
                while values and not values[-1]:
                    values.pop()
                if any(values):
                    yield "\t".join(values)
                continue
        cells: list[str] = []
        for c in _CELL.finditer(m.group(1) or ""):
            letters, kind, raw, other = c.groups()
            inline: str | None = None
            at: int | None
            if other is None:
                # Written as spreadsheet programs write a cell: nothing else to read.
                at = _index(letters)
                raw = raw or ""
            else:
                attrs, inner = _CELL_PARTS.match(other).groups()  # type: ignore[union-attr]
                inner = inner or ""
                ref = _attribute(_REF, attrs)
                at = column(ref or "")
                kind = _attribute(_TYPE, attrs)
                if kind == "inlineStr":
                    inline = _texts(inner)
                elif _NESTED.search(inner) is not None:
                    # A ``v`` inside another child is not the cell's: only direct ones are.
                    inner = _NESTED_BLOCK.sub("", inner)
                v = _V.search(inner)
                raw = _unescaped(v.group(1) or "") if v is not None else ""
            if at is not None and len(cells) < at <= len(cells) + max_skip:
                cells.extend([""] * (at - len(cells)))
            cells.append(cell(kind, raw, inline, shared))
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            yield "\t".join(cells)


_NESTED_BLOCK = re.compile(
    r"<(is|extLst)(?=[\s/>])[^>]*?(?:/>|>.*?</\1\s*>)",
    re.DOTALL,
)
