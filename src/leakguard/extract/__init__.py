"""Text extraction from documents: find what a document really is, then read its text
under the message's limits.

:func:`sniff` names the family of a document from its bytes; :func:`extract` yields its
text chunks, or :class:`Problem` records for whatever could not be read. Neither ever
raises on bad input: an unexpected failure inside a reader becomes ``corrupt``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from leakguard.core import Location
from leakguard.extract._common import Context, Item, MessageReader, Unreadable, inner_items
from leakguard.extract._types import Budget, Limits, Problem, TextChunk
from leakguard.extract.encryption import claimed_encryption
from leakguard.extract.sniff import FAMILIES, sniff

__all__ = [
    "FAMILIES",
    "Budget",
    "Limits",
    "Problem",
    "TextChunk",
    "extract",
    "sniff",
]


def _charset(declared_type: str | None) -> str | None:
    """The ``charset`` parameter of a declared content type, if any."""
    if not declared_type:
        return None
    for param in declared_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


def _read(
    family: str, data: bytes, location: Location, ctx: Context, declared_type: str | None
) -> Iterator[Item]:
    charset = _charset(declared_type)
    if family in ("text", "binary"):
        sealed = _sealed(family, data, location, ctx)
        if sealed is not None:
            return sealed
    if family == "pdf":
        from leakguard.extract.pdf import read_pdf

        return read_pdf(data, location, ctx)
    if family == "docx":
        from leakguard.extract.office import read_docx

        return read_docx(data, location, ctx)
    if family == "xlsx":
        from leakguard.extract.office import read_xlsx

        return read_xlsx(data, location, ctx)
    if family == "pptx":
        from leakguard.extract.office import read_pptx

        return read_pptx(data, location, ctx)
    if family == "ole":
        from leakguard.extract.office import read_ole

        return read_ole(data, location, ctx)
    if family == "msg":
        from leakguard.extract.outlook_msg import read_msg

        return read_msg(data, location, ctx)
    if family == "tnef":
        from leakguard.extract.tnef import read_tnef

        return read_tnef(data, location, ctx)
    if family in ("odt", "ods", "odp"):
        from leakguard.extract.odf import read_odf

        return read_odf(data, location, ctx)
    if family == "zip":
        from leakguard.extract.archive import read_zip

        return read_zip(data, location, ctx)
    if family == "gzip":
        from leakguard.extract.archive import read_gzip

        return read_gzip(data, location, ctx)
    if family in ("bzip2", "xz"):
        from leakguard.extract.archive import read_compressed

        return read_compressed(family, data, location, ctx)
    if family == "tar":
        from leakguard.extract.archive import read_tar

        return read_tar(data, location, ctx)
    if family == "rtf":
        from leakguard.extract.rtf import read_rtf

        return read_rtf(data, location, ctx)
    if family == "html":
        from leakguard.extract.html import read_html

        return read_html(data, location, ctx, charset)
    if family == "csv":
        from leakguard.extract.text import read_csv

        return read_csv(data, location, ctx, charset)
    if family == "text":
        from leakguard.extract.text import read_text

        return read_text(data, location, ctx, charset, declared_type)
    if family == "eml":
        if ctx.messages is None:
            return iter([Problem(location, "unsupported")])
        return ctx.messages(data, location, budget=ctx.budget, depth=ctx.depth)
    if family == "dicom":
        from leakguard.extract.dicom import read_dicom

        return read_dicom(data, location, ctx)
    if family == "image":
        # Read by OCR when installed; otherwise reported, never passed as clean.
        from leakguard.extract.ocr import read_image

        return read_image(data, location, ctx)
    return iter([Problem(location, "unsupported")])


def _sealed(family: str, data: bytes, location: Location, ctx: Context) -> Iterator[Item] | None:
    """An OpenPGP or CMS message saved as a file (``.asc``, ``.gpg``, ``.p7m``): encrypted
    for real (reported), or carrying its content readable (read, and reported
    mislabelled). None for anything else.
    """
    from leakguard.extract.encryption import openpgp_encrypted
    from leakguard.extract.openpgp import read_openpgp
    from leakguard.extract.pkcs7 import clear_content, cms_kind

    if openpgp_encrypted(data):
        return iter([Problem(location, "encrypted", "pgp")])
    limit = ctx.budget.limits.max_part_bytes
    pgp = read_openpgp(data, limit=limit)
    if pgp is not None and family == "text":
        # Armour among clear lines: the text is read, and the armour judged by its packets.
        said = Problem(location, "encrypted" if pgp.encrypted else "mislabelled", "pgp")
        inner = inner_items(pgp.clear, location, ctx) if pgp.clear else iter(())
        return chain(_read_text(data, location, ctx), inner, iter([said]))
    if pgp is not None and pgp.clear:
        return chain(inner_items(pgp.clear, location, ctx), iter([_mislabelled(location, "pgp")]))
    if family != "binary":
        return None
    kind = cms_kind(data)
    if kind == "encrypted":
        return iter([Problem(location, "encrypted", "smime")])
    content = clear_content(data)
    if content is not None:
        # Signed data is honest about being readable; an envelope around clear bytes lies.
        told = iter(()) if kind == "signed" else iter([_mislabelled(location, "smime")])
        return chain(inner_items(content, location, ctx), told)
    return None


def _signed(data: bytes) -> bool:
    from leakguard.extract.pkcs7 import cms_kind

    return cms_kind(data) == "signed"


def _mislabelled(location: Location, claim: str) -> Problem:
    return Problem(location, "mislabelled", claim)


# The documents kept as ZIP packages whose parts are read by name.
_PACKAGES = frozenset({"docx", "xlsx", "pptx", "odt", "ods", "odp"})


def _shadowed(data: bytes, budget: Budget) -> bool:
    """Whether a package holds two members of the same name (its format forbids it)."""
    from leakguard.extract.archive import open_zip

    try:
        with open_zip(data, budget) as zf:
            names = zf.namelist()
    except Unreadable:
        return False  # the reader says what is wrong
    return len(set(names)) < len(names)


def _read_text(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    from leakguard.extract.text import read_text

    return read_text(data, location, ctx, None)


def extract(
    data: bytes,
    location: Location,
    /,
    *,
    budget: Budget,
    filename: str | None = None,
    declared_type: str | None = None,
    depth: int = 0,
    messages: MessageReader | None = None,
) -> Iterator[TextChunk | Problem]:
    """Text chunks of one document, or the problems that stopped it being read.

    ``messages`` reads a message found inside the document (``leakguard.message`` passes
    its own reader); without it a nested message is reported ``unsupported``.

    ``depth`` counts the archives and forwarded messages around the document; past
    ``limits.max_depth`` it is reported ``too_deep``. Over any limit, or damaged, the
    document yields a :class:`Problem` for its location and the caller goes on with the
    rest of the message. Never raises.
    """
    limits = budget.limits
    if depth > limits.max_depth:
        yield Problem(location, "too_deep")
        return
    if budget.expired():
        yield Problem(location, "timeout")
        return
    if len(data) > limits.max_part_bytes:
        yield Problem(location, "too_large")
        return
    ctx = Context(budget=budget, depth=depth, filename=filename, messages=messages)
    claim = claimed_encryption(data, filename=filename, content_type=declared_type)
    if claim == "smime" and _signed(data):
        claim = None  # ``.p7m`` names signed data as well: readable, and honestly so
    sealed = False
    try:
        family = sniff(data, filename=filename, declared_type=declared_type)
        if family in _PACKAGES and _shadowed(data, budget):
            # Two members of one name: a package's reader takes one, whatever opens the
            # file may show the other. What the first holds is not read: reported.
            yield Problem(location, "corrupt")
        for item in _read(family, data, location, ctx, declared_type):
            if isinstance(item, Problem) and item.location == location:
                sealed = sealed or item.reason in ("encrypted", "mislabelled")
            yield item
    except Unreadable as err:
        sealed = sealed or err.reason == "encrypted"
        yield Problem(location, err.reason, err.container)
    except Exception:
        # Whatever a reader trips over on hostile input, the message goes on being read.
        yield Problem(location, "corrupt")
    if claim is not None and not sealed:
        # Its name, type or armour says encrypted, its bytes say otherwise: read as clear
        # content above, and reported.
        yield Problem(location, "mislabelled", claim)
