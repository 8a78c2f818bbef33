"""HTML to text with the standard library parser: block elements on their own lines,
table cells joined by a tab so a table row reads as one line. The head's title, the
values of form fields, pictures' alternative texts, tooltips and comments are read as
lines of their own.

What the page holds but does not show (the code of scripts and styles, links and every
other attribute's value, URL escapes decoded, text carried in ``data:`` URLs) is a second
text of its own: it leaves with the message all the same.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from urllib.parse import unquote

from leakguard.core import Location
from leakguard.extract._common import (
    EDGE,
    HIDE,
    MARKS,
    SHOW,
    Context,
    Item,
    Unreadable,
    text_items,
    url_text,
    without_marks,
)
from leakguard.extract._types import Budget
from leakguard.extract.text import readings

__all__ = ["html_items", "html_texts", "html_to_text", "read_html"]

# Code, not text. (The head is not skipped as a whole: a page whose head is never closed
# shows the rest as its body, and its title is shown too.)
_SKIP = frozenset({"script", "style"})
# Attributes whose value a person sees: a form field's value or hint, a picture's
# alternative text, a tooltip.
_SHOWN_ATTRIBUTES = frozenset({"value", "placeholder", "alt", "title", "label"})
_VALUE_TAGS = frozenset({"input", "option", "button", "textarea", "select", "output", "data"})
_TAG = re.compile(r"<[^>]{0,4096}>")
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2",
        "h3", "h4", "h5", "h6", "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre",
        "section", "summary", "table", "tbody", "tfoot", "thead", "title", "ul",
    }
)  # fmt: skip
_CELL = frozenset({"td", "th"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
# Inline styles that show nothing of an element, and the rules of a style sheet (the
# classes a rule names, the declarations it makes).
_HIDDEN_STYLE = re.compile(
    r"(?:^|[;{\s])(?:display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all"
    r"|(?:font-size|opacity)\s*:\s*(?:0+(?:\.0*)?|\.0+)(?:px|pt|em|rem|%)?\s*"
    r"(?:!\s*important\s*)?(?:;|$))",
    re.IGNORECASE,
)
_RULE = re.compile(r"([^{}]*)\{([^{}]*)\}")
_CLASS = re.compile(r"\.(-?[_a-zA-Z][-\w]*)")
# Open elements remembered (for their ends), and how deep an end tag is looked for.
_MAX_OPEN = 4096
_END_REACH = 64
_FEED = 64 * 1024
_SPACES = re.compile(r"[^\S\t\n]+")
_TAB_SPACES = re.compile(r" ?\t ?")


def _unshown_value(value: str) -> str:
    """An attribute's value as text: URL escapes decoded, and the text of a ``data:``
    URL (a picture's bytes are no text, and are left)."""
    if value[:5].lower() != "data:":
        return url_text(value)
    head, _, payload = value[5:].partition(",")
    media = head.split(";", 1)[0].strip().lower()
    if media and not media.startswith("text/"):
        return ""
    if ";base64" not in head.lower():
        return unquote(payload)
    try:
        data = binascii.a2b_base64(unquote(payload))
    except (binascii.Error, ValueError):
        return payload
    return data.decode("utf-8", "replace")


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.unshown: list[str] = []
        self.skip = 0
        self.cell = 0
        self.row_has_cell = False
        # Elements open within a hidden one (name, hidden), the style sheets' text, the
        # classes they hide.
        self.open: list[tuple[str, bool]] = []
        self.sheet: list[str] | None = None
        self.hidden_classes: set[str] = set()

    def _hides(self, attrs: list[tuple[str, str | None]]) -> bool:
        """Whether an element with ``attrs`` shows nothing of its content: the ``hidden``
        attribute, an inline style, or a class a style sheet of the page hides."""
        for key, value in attrs:
            if key == "hidden":
                return True
            if not value:
                continue
            if key == "style":
                if _HIDDEN_STYLE.search(value) is not None:
                    return True
            elif key == "class" and not self.hidden_classes.isdisjoint(value.split()):
                return True
        return False

    def _sheet_read(self) -> None:
        """The classes the style sheet just read hides (simple rules: ``.name {…}``)."""
        for rule in _RULE.finditer("".join(self.sheet or ())):
            if _HIDDEN_STYLE.search(rule.group(2)) is not None:
                self.hidden_classes.update(_CLASS.findall(rule.group(1)))
        self.sheet = None

    def _newline(self) -> None:
        # Inside a cell a block boundary is only a space: a cell's paragraphs stay on its row.
        self.out.append(" " if self.cell else "\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attributes(tag, attrs)
        if tag in _SKIP:
            self.skip += 1
            if tag == "style":
                self.sheet = []
            return
        if tag not in _VOID:
            hides = bool(attrs) and self._hides(attrs)
            # Elements are remembered from a hidden one on, until it ends: its end tag
            # is told from those of the elements it holds.
            if hides or self.open:
                if len(self.open) >= _MAX_OPEN:
                    # Elements never closed (``<p>`` after ``<p>``): only the hidden ones
                    # are still waited for.
                    self.open = [entry for entry in self.open if entry[1]][-_MAX_OPEN // 2 :]
                self.open.append((tag, hides))
            if hides:
                self.out.append(HIDE)
        if tag in _CELL:
            if self.row_has_cell:
                self.out.append("\t")
            self.row_has_cell = True
            self.cell += 1
        elif tag == "tr":
            self.out.append("\n")
            self.row_has_cell = False
        elif tag == "br" or tag in _BLOCK:
            self._newline()
        else:
            self.out.append(EDGE)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attributes(tag, attrs)
        if tag == "br" or tag in _BLOCK:
            self._newline()
        elif tag not in _CELL and tag != "tr":
            self.out.append(EDGE)

    def _attributes(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if not value or value.isspace():
                continue
            if (
                self.skip
                or key not in _SHOWN_ATTRIBUTES
                or (
                    key == "value" and tag not in _VALUE_TAGS  # a list item's number, a parameter
                )
            ):
                self.unshown.append(_unshown_value(value))
                continue
            # Inside a cell, on the cell's row.
            self.out.append(f" {value} " if self.cell else f"\n{value}\n")

    def handle_comment(self, data: str) -> None:
        # Not shown, but a look at the source shows it: its text, tags taken out.
        if not self.skip and data.strip():
            self.out.append("\n" + _TAG.sub(" ", data) + "\n")

    def _closed(self, tag: str) -> None:
        """The element ``tag`` ends, with any left open inside it."""
        opened = self.open
        if not opened:
            return  # no hidden element open: nothing to tell
        if opened[-1][0] == tag:  # the usual case
            if opened.pop()[1]:
                self.out.append(SHOW)
            return
        if all(name != tag for name, _ in opened[-_END_REACH:]):
            return  # an end tag without its start: nothing closes
        while self.open:
            name, hides = self.open.pop()
            if hides:
                self.out.append(SHOW)
            if name == tag:
                return

    def close(self) -> None:
        super().close()
        self.out.extend(SHOW for _, hides in self.open if hides)
        self.open.clear()

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self.sheet is not None:
            self._sheet_read()
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        self._closed(tag)
        if tag in _CELL:
            self.cell = max(0, self.cell - 1)
        elif tag == "tr":
            self.out.append("\n")
            self.row_has_cell = False
        elif tag in _BLOCK:
            self._newline()
        else:
            self.out.append(EDGE)

    def handle_data(self, data: str) -> None:
        if self.skip:
            self.unshown.append(data)
            if self.sheet is not None:
                self.sheet.append(data)
            return
        if not data.isascii() and MARKS.search(data) is not None:
            data = MARKS.sub("", data)
        if self.cell:
            data = data.replace("\n", " ").replace("\r", " ")
        self.out.append(data)


def html_texts(html: str, *, expired: Callable[[], bool] | None = None) -> tuple[str, str]:
    """The text an HTML document or fragment shows (:func:`html_to_text`), and the text
    it holds without showing it: the code of its scripts and styles and the values of
    its other attributes (links, sources, data), one per line. Never raises on bad
    markup.

    Two more readings end the unshown text when they differ from the shown one: the
    text without what hidden elements hold (hidden by the ``hidden`` attribute, an
    inline style or a class of the page's style sheets), as a reader sees it, and, when
    an inline element's edge lies between a digit and a letter or another digit, the
    text with a space at each such edge
    (:func:`leakguard.extract._common.without_marks`): hidden text must not glue itself
    to a number the reader sees alone.

    ``expired`` is asked between slices of input so a huge page stops on time
    (:class:`Unreadable` ``timeout``).
    """
    parser = _TextParser()
    for start in range(0, len(html), _FEED):
        if expired is not None and expired():
            raise Unreadable("timeout")
        parser.feed(html[start : start + _FEED])
    parser.close()
    text = "".join(parser.out)
    unshown = [v.strip() for v in parser.unshown if v and not v.isspace()]
    text, others = without_marks(text)
    unshown += (_lines(other) for other in others)
    return _lines(text), "\n".join(unshown)


def _lines(text: str) -> str:
    """``text`` with runs of blanks made one space, around a tab none, empty lines left."""
    lines = (_TAB_SPACES.sub("\t", _SPACES.sub(" ", line)).strip(" ") for line in text.split("\n"))
    return "\n".join(line for line in lines if line.strip())


def html_to_text(html: str, *, expired: Callable[[], bool] | None = None) -> str:
    """Readable text of an HTML document or fragment: what it shows (scripts and styles
    left out). Never raises on bad markup.

    ``expired`` is asked between slices of input so a huge page stops on time
    (:class:`Unreadable` ``timeout``).
    """
    return html_texts(html, expired=expired)[0]


def read_html(
    data: bytes, location: Location, ctx: Context, declared: str | None = None
) -> Iterator[Item]:
    """An HTML file: the text it shows, then the text it holds unshown."""
    decoded, other = readings(data, declared)
    yield from html_items(decoded, location, ctx.budget)
    if other is not None:
        yield from html_items(other, location, ctx.budget)


def html_items(html: str, location: Location, budget: Budget) -> Iterator[Item]:
    """The text ``html`` shows, then the text it holds unshown, at ``location``."""
    shown, unshown = html_texts(html, expired=budget.expired)
    yield from text_items(shown, location, budget, "text/html")
    yield from text_items(unshown, location, budget, "text/html")
