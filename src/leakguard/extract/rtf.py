"""RTF to text with striprtf; table cells become tabs and rows lines, like every other
table leakguard reads. Headers, footers, footnotes, comments, text boxes, field codes and
the document's properties are read too (striprtf leaves those groups out), and so are
the files of embedded objects (``\\objdata``).
"""

from __future__ import annotations

import binascii
import re
import struct
from collections.abc import Callable, Iterator
from typing import cast

from leakguard.core import Location
from leakguard.extract._common import Context, Item, inner_items, text_items, without_marks
from leakguard.extract._types import Problem

__all__ = ["embedded_objects", "read_rtf", "rtf_text", "rtf_texts"]

# Rewritten before striprtf sees the document: a cell end becomes a tab, a row end a
# paragraph end. The look-ahead keeps ``\cellx`` (a cell width) and ``\rowd`` intact.
_CELL = re.compile(rb"\\(?:nest)?cell(?![a-z])")
_ROW = re.compile(rb"\\(?:nest)?row(?![a-z])")


# Groups striprtf leaves out whose text a person sees (headers, footers, footnotes,
# comments, drawing text boxes, form field texts, field codes, bookmarks' names, the
# document's properties): their control word is taken away, so that the group reads as
# ordinary text.
_SHOWN = re.compile(
    rb"\{(?:\\\*)?\\(?:annotation|header[lrf]?|footer[lrf]?|footnote|dptxbxtext|info|title"
    rb"|subject|author|keywords|doccomm|comment|company|manager|category|operator|docvar"
    rb"|ffdeftext|ffstattext|ffhelptext|fldinst|bkmkstart)(?![A-Za-z])"
)
# Each such group is ended by a paragraph mark too, so its last word is not glued to the
# text after it; at most this many groups, each looked through this far for its end.
_MAX_SHOWN = 10_000
_SHOWN_REACH = 1 << 20


def _shown(data: bytes) -> bytes:
    starts = [m.start() for m in _SHOWN.finditer(data)][:_MAX_SHOWN]
    if not starts:
        return data
    # Edits in the document's own positions, made from the last one back so that each
    # leaves the positions before it where they were.
    edits: list[tuple[int, int, bytes]] = []
    for start in starts:
        word = _SHOWN.match(data, start)
        if word is not None:
            edits.append((start, word.end(), b"{\\par "))
        end = _group_end(data, start)
        if end is not None:
            edits.append((end, end, b"\\par "))
    out = bytearray(data)
    for begin, stop, text in sorted(edits, reverse=True):
        out[begin:stop] = text
    return bytes(out)


def _group_end(data: bytes, start: int) -> int | None:
    """Where the group opened at ``start`` closes (its ``}``), or None past the reach."""
    depth = 0
    i = start
    stop = min(len(data), start + _SHOWN_REACH)
    while i < stop:
        byte = data[i]
        if byte == 0x5C:  # a backslash escapes the next character
            i += 2
            continue
        if byte == 0x7B:
            depth += 1
        elif byte == 0x7D:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


_OBJDATA = re.compile(rb"\{\\\*\\objdata(?![A-Za-z])")
_OBJECT_MAX = 64


def rtf_text(data: bytes) -> str:
    """Readable text of an RTF document (never raises on odd control words)."""
    from striprtf import striprtf

    rtf_to_text = cast("Callable[..., str]", striprtf.rtf_to_text)

    data = _shown(data)
    data = _ROW.sub(rb"\\par", _CELL.sub(rb"\\tab", data))
    raw = data.decode("latin-1")
    text = rtf_to_text(raw, encoding="cp1252", errors="replace")
    # The last cell of a row leaves a tab before the line end.
    return "\n".join(line.rstrip("\t ") for line in text.splitlines())


def rtf_texts(data: bytes) -> list[str]:
    """:func:`rtf_text`, then, where the document hides text (hidden text, a tiny font,
    white text) and holds a digit, the readings of the lines where
    that matters: as shown (hidden text left out), and with a space at each group's
    edge beside a digit. Hidden or unseen text glued to a number must not hide it."""
    texts = [rtf_text(data)]
    if _DIGIT.search(data) is not None and _can_hide(data):
        texts += without_marks(rtf_text(_marked(data)))[1]
    return texts


# What can keep a reader from seeing text: the hidden switch, a font of at most 1.5
# points; and white text (a colour of the colour table used as the text's).
_HIDING = re.compile(rb"\\v(?![A-Za-z0-9])|\\v[1-9]|\\fs[0-3](?![0-9])")
_DIGIT = re.compile(rb"[0-9]")
_COLOURS = re.compile(rb"\{\\colortbl([^{}]*)\}")
_WHITE = re.compile(rb"\\red255\s*\\green255\s*\\blue255")


def _can_hide(data: bytes) -> bool:
    """Whether the document uses hidden text, a tiny font, or white text."""
    if _HIDING.search(data) is not None:
        return True
    table = _COLOURS.search(data)
    if table is None:
        return False
    white = [i for i, entry in enumerate(table.group(1).split(b";")) if _WHITE.search(entry)]
    return any(re.search(rb"\\cf%d(?![0-9])" % i, data) is not None for i in white)


# What marking needs: group braces, the hidden switch and ``\plain`` (which ends it),
# escaped braces and backslashes (no braces), ``\binN`` (N bytes of data follow).
_TOKENS = re.compile(rb"\\bin(\d+) ?|\\v(-?\d+)?(?![A-Za-z])|\\plain(?![A-Za-z])|\\[\\{}]|[{}]")
# The marks as RTF: each a group of its own, whose Unicode escape skips its one fallback
# character whatever the document's ``\uc`` says (U+E000 to U+E002: EDGE, HIDE, SHOW).
_EDGE_RTF = rb"{\uc1\u-8192?}"
_HIDE_RTF = rb"{\uc1\u-8191?}"
_SHOW_RTF = rb"{\uc1\u-8190?}"


def _marked(data: bytes) -> bytes:
    """``data`` with a mark at each group's edges, and marks around hidden text."""
    out: list[bytes] = []
    pos = at = 0
    hidden = [False]  # per open group, whether its text is hidden
    while (m := _TOKENS.search(data, at)) is not None:
        token, at = m.group(), m.end()
        if m.group(1) is not None:
            at += int(m.group(1))  # binary data: nothing to read in it
        elif token == b"{":
            # (None around the document's own group: a reader stops at its end.)
            edge = [_EDGE_RTF] if len(hidden) > 1 else []
            out += [data[pos : m.start()], *edge, token]
            hidden.append(hidden[-1])
            pos = at
        elif token == b"}":
            closing = hidden.pop() if len(hidden) > 1 else hidden[-1]
            out.append(data[pos:at])
            if len(hidden) > 1:
                out.append(_EDGE_RTF)
                if closing and not hidden[-1]:
                    out.append(_SHOW_RTF)
            pos = at
        elif token.startswith((b"\\v", b"\\plain")):
            on = token.startswith(b"\\v") and m.group(2) != b"0"
            if on != hidden[-1]:
                out += [data[pos:at], _HIDE_RTF if on else _SHOW_RTF]
                pos = at
            hidden[-1] = on
    out.append(data[pos:])
    return b"".join(out)


def read_rtf(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """An RTF file: its text (and the readings of what hidden text touches), its pictures
    by OCR when it is installed, then the files of its embedded objects."""
    for text in rtf_texts(data):
        yield from text_items(text, location, ctx.budget, "application/rtf")
    yield from _pictures(data, location, ctx)
    budget = ctx.budget
    for count, (name, content) in enumerate(embedded_objects(data, budget.limits.max_part_bytes)):
        where = location.child(name or f"object-{count + 1}")
        if count >= _OBJECT_MAX:
            yield Problem(location, "too_many_members")
            return
        if not content:
            yield Problem(where, "too_large")
            continue
        if not budget.take_bytes(len(content)):
            yield Problem(where, "too_large")
            return
        yield from inner_items(content, where, ctx, name)


def embedded_objects(data: bytes, max_bytes: int) -> Iterator[tuple[str | None, bytes]]:
    """The (name, bytes) of each object embedded in an RTF document: an OLE 1 object in
    hexadecimal (``{\\*\\objdata 0105…}``), whose native data is a compound file (an
    Office document, a packaged file) or, for a package, the file itself. Empty bytes
    for an object over ``max_bytes``."""
    for m in _OBJDATA.finditer(data):
        end = data.find(b"}", m.end())
        hexa = data[m.end() : end if end >= 0 else len(data)]
        if len(hexa) > 2 * max_bytes + 4096:
            yield None, b""
            continue
        try:
            raw = binascii.unhexlify(hexa.translate(None, b" \t\r\n"))
        except (binascii.Error, ValueError):
            continue
        found = _ole1(raw)
        if found is not None:
            yield found


def _ole1(raw: bytes) -> tuple[str | None, bytes] | None:
    """An OLE 1 object header (version, format, class, topic, item), then native data."""
    try:
        pos = 8
        names: list[bytes] = []
        for _ in range(3):
            (size,) = struct.unpack_from("<I", raw, pos)
            names.append(raw[pos + 4 : pos + 4 + size].rstrip(b"\0"))
            pos += 4 + size
        (size,) = struct.unpack_from("<I", raw, pos)
        native = raw[pos + 4 : pos + 4 + size]
    except struct.error:
        return None
    if names[0] == b"Package" and not native.startswith(b"\xd0\xcf\x11\xe0"):
        from leakguard.extract.office import package_native

        return package_native(native)
    return None, native


_PICT = re.compile(rb"\{\\pict(?![A-Za-z])")
_BLIP = re.compile(rb"\\(?:pngblip|jpegblip)(?![A-Za-z])")
_INNER_GROUP = re.compile(rb"\{[^{}]*\}")
_CONTROL_WORD = re.compile(rb"\\[A-Za-z]+-?\d* ?")
_PICTURES_MAX = 64


def _pictures(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """The PNG and JPEG pictures of an RTF document (a pasted scan, a photographed card),
    read by OCR when it is installed; without it, one the size of a document is reported
    unread (``no_ocr``) and a logo or a signature is left."""
    from leakguard.extract import ocr

    if b"blip" not in data:
        return
    budget = ctx.budget
    for count, m in enumerate(_PICT.finditer(data)):
        if count >= _PICTURES_MAX:
            yield Problem(location, "too_many_members")
            return
        end = _group_end(data, m.start())
        group = data[m.end() : end if end is not None else len(data)]
        if len(group) > 2 * budget.limits.max_part_bytes or not _BLIP.search(group):
            continue
        hexa = _CONTROL_WORD.sub(b"", _INNER_GROUP.sub(b"", group))
        try:
            picture = binascii.unhexlify(hexa.translate(None, b" \t\r\n"))
        except (binascii.Error, ValueError):
            continue
        yield from ocr.placed_picture(picture, location.child(f"picture-{count + 1}"), ctx)
