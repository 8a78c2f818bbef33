"""Parse an e-mail and walk everything it carries: subject, body, attachments, forwarded
messages, archives. Each part becomes text chunks at its location, or a problem saying
why it could not be read; a bad part never stops the rest of the message being read.

``_mail`` says whether bytes are a message, ``_load`` parses them (header blocks
repaired as mail clients read them), ``_part`` reads one part's headers and bytes,
``_walk`` turns every part into located text, and ``_document`` reads a document given
on its own.

The names below are loaded on first use: a document's scan needs none of the mail
parser, which costs every short command its start-up time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leakguard.extract._types import TextChunk as TextChunk
    from leakguard.message._document import document_content
    from leakguard.message._load import MAX_PARTS as MAX_PARTS
    from leakguard.message._load import RecoveredFields as RecoveredFields
    from leakguard.message._load import TooManyParts as TooManyParts
    from leakguard.message._load import UnparsedStructure as UnparsedStructure
    from leakguard.message._load import UnrepairedPart as UnrepairedPart
    from leakguard.message._load import bounded_parser as bounded_parser
    from leakguard.message._load import load_message
    from leakguard.message._mail import is_message, require_message
    from leakguard.message._part import _b64_segments as _b64_segments
    from leakguard.message._part import _b64decode as _b64decode
    from leakguard.message._walk import iter_content, iter_embedded

__all__ = [
    "document_content",
    "is_message",
    "iter_content",
    "iter_embedded",
    "load_message",
    "require_message",
]

# Where each name is defined.
_HOMES = {
    "TextChunk": "leakguard.extract._types",
    "document_content": "leakguard.message._document",
    "MAX_PARTS": "leakguard.message._load",
    "RecoveredFields": "leakguard.message._load",
    "TooManyParts": "leakguard.message._load",
    "UnparsedStructure": "leakguard.message._load",
    "UnrepairedPart": "leakguard.message._load",
    "bounded_parser": "leakguard.message._load",
    "load_message": "leakguard.message._load",
    "is_message": "leakguard.message._mail",
    "require_message": "leakguard.message._mail",
    "_b64_segments": "leakguard.message._part",
    "_b64decode": "leakguard.message._part",
    "iter_content": "leakguard.message._walk",
    "iter_embedded": "leakguard.message._walk",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
