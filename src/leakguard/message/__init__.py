"""Parse an e-mail and walk everything it carries: subject, body, attachments, forwarded
messages, archives. Each part becomes text chunks at its location, or a problem saying
why it could not be read; a bad part never stops the rest of the message being read.

``_mail`` says whether bytes are a message, ``_load`` parses them (header blocks
repaired as mail clients read them), ``_part`` reads one part's headers and bytes, and
``_walk`` turns every part into located text.
"""

from __future__ import annotations

from leakguard.extract._types import TextChunk as TextChunk
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
from leakguard.message._walk import document_content, iter_content, iter_embedded

__all__ = [
    "document_content",
    "is_message",
    "iter_content",
    "iter_embedded",
    "load_message",
    "require_message",
]
