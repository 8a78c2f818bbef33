"""The exceptions leakguard raises, as one small tree.

    LeakguardError                 (code: "leakguard")
    ├── PolicyError                (code: "policy")        a policy file or value is wrong
    ├── DirectoryError             (code: "directory")     a colleagues' file cannot be loaded
    ├── InputError                 (code: "input")         a message or document cannot be read
    ├── ProtectionError            (code: "protection")    encryption could not be applied
    └── LeakBlocked                (code: "blocked")       the message must not leave as it is

Every message is a sentence a person can act on and never contains an identifier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leakguard.core import Verdict

__all__ = [
    "DirectoryError",
    "InputError",
    "LeakBlocked",
    "LeakguardError",
    "PolicyError",
    "ProtectionError",
]


class LeakguardError(Exception):
    """Base of every leakguard error; ``code`` is stable for scripts."""

    code = "leakguard"


class PolicyError(LeakguardError, ValueError):
    """A policy file or setting is wrong: the text names the file, the key and what is allowed."""

    code = "policy"


class DirectoryError(LeakguardError, ValueError):
    """The colleagues' directory cannot be loaded."""

    code = "directory"


class InputError(LeakguardError, OSError):
    """A message or document given to leakguard cannot be read at all."""

    code = "input"


class ProtectionError(LeakguardError):
    """Encryption was needed but could not be applied."""

    code = "protection"


class LeakBlocked(LeakguardError):
    """The message may not leave as it is; ``verdict`` says why."""

    code = "blocked"

    def __init__(self, verdict: Verdict, reason: str | None = None) -> None:
        self.verdict = verdict
        text = reason or verdict.explain("en")
        super().__init__(text)
