"""The recipient guard: the colleagues' directory and lookalike detection.

A recipient who is not a colleague but sits a keystroke or a homoglyph away from one,
at a mistyped or imitated domain, or under a colleague's display name, is reported
before the message leaves. The parts live in ``leakguard._recipients``.
"""

from __future__ import annotations

from leakguard._recipients.directory import (
    Colleague,
    Directory,
    DirectoryIssue,
    DirectoryLoadError,
)
from leakguard._recipients.guard import Lookalike, RecipientGuard, name_key
from leakguard._recipients.skeleton import skeleton
from leakguard._recipients.typo_domains import TRUE_DOMAINS, typo_domains

__all__ = [
    "TRUE_DOMAINS",
    "Colleague",
    "Directory",
    "DirectoryIssue",
    "DirectoryLoadError",
    "Lookalike",
    "RecipientGuard",
    "name_key",
    "skeleton",
    "typo_domains",
]
