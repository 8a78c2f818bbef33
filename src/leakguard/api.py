"""Content-only scanning for scripts: what identifiers and health data a message carries."""

from __future__ import annotations

import os
from email.message import Message
from typing import BinaryIO

from leakguard.content import scan_chunks
from leakguard.core import Finding, Fingerprinter
from leakguard.extract._types import Limits
from leakguard.message import iter_content, load_message

__all__ = ["scan"]


def scan(
    message: bytes | str | os.PathLike[str] | Message | BinaryIO,
    /,
    *,
    limits: Limits | None = None,
    fingerprinter: Fingerprinter | None = None,
) -> list[Finding]:
    """Content findings (identifiers, health data, unreadable parts) of one message."""
    msg = load_message(message)
    report = scan_chunks(
        iter_content(msg, limits=limits), fingerprinter=fingerprinter or Fingerprinter()
    )
    return report.findings
