"""The recipient guard: the colleagues' directory and lookalike detection.

A recipient who is not a colleague but sits a keystroke or a homoglyph away from one,
at a mistyped or imitated domain, or under a colleague's display name, is reported
before the message leaves. ``HealthDirectory`` holds the national MSSanté directory: the
secure mailboxes of health professionals. The parts live in ``leakguard._recipients``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from leakguard._recipients.directory import (
    Colleague,
    Directory,
    DirectoryIssue,
    DirectoryLoadError,
)
from leakguard._recipients.guard import Lookalike, RecipientGuard, name_key
from leakguard._recipients.mssante import HealthDirectory, Professionals, person_key
from leakguard._recipients.skeleton import skeleton
from leakguard._recipients.typo_domains import TRUE_DOMAINS, typo_domains

__all__ = [
    "TRUE_DOMAINS",
    "Colleague",
    "Directory",
    "DirectoryIssue",
    "DirectoryLoadError",
    "HealthDirectory",
    "HealthDirectoryFetchError",
    "Lookalike",
    "Professionals",
    "RecipientGuard",
    "fetch_health_directory",
    "name_key",
    "person_key",
    "skeleton",
    "typo_domains",
]

# Downloading needs urllib and ssl: loaded only when asked for.
_LAZY = {
    "HealthDirectoryFetchError": "leakguard._recipients.mssante_fetch",
    "fetch_health_directory": "leakguard._recipients.mssante_fetch",
}

if TYPE_CHECKING:
    from leakguard._recipients.mssante_fetch import (
        HealthDirectoryFetchError,
        fetch_health_directory,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'leakguard.recipients' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
