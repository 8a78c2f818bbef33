"""leakguard: check an outgoing e-mail before it is sent and stop health data leaking.

    import leakguard
    guard = leakguard.Guard()                 # embedded default policy
    guard = leakguard.Guard("policy.toml", directory="colleagues.csv",
                            internal_domains=["clinique-exemple.fr"])  # as `check` takes
    verdict = guard.check(message)            # bytes, EmailMessage or path
    print(verdict.action, verdict.explain("fr"))

Heavy parts (PDF reading, cryptography, SMTP) load only when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from leakguard.core import Action, Finding, Fingerprinter, Location, Severity, Verdict
from leakguard.errors import (
    DirectoryError,
    InputError,
    LeakBlocked,
    LeakguardError,
    PolicyError,
    ProtectionError,
)

__version__ = "1.0.0"

__all__ = [
    "Action",
    "AuditLog",
    "Directory",
    "DirectoryError",
    "Finding",
    "Fingerprinter",
    "Guard",
    "GuardedSMTP",
    "GuardedSMTP_SSL",
    "InputError",
    "LeakBlocked",
    "LeakguardError",
    "Limits",
    "Location",
    "PasswordNotice",
    "PatientRegister",
    "Policy",
    "PolicyError",
    "ProtectionError",
    "RecipientGuard",
    "Severity",
    "Verdict",
    "__version__",
    "hook_smtplib",
    "scan",
]

_LAZY = {
    "AuditLog": "leakguard.audit",
    "Directory": "leakguard.recipients",
    "Guard": "leakguard.guard",
    "GuardedSMTP": "leakguard.smtp",
    "GuardedSMTP_SSL": "leakguard.smtp",
    "Limits": "leakguard.extract._types",
    "PasswordNotice": "leakguard.guard",
    "PatientRegister": "leakguard.register",
    "Policy": "leakguard.policy",
    "RecipientGuard": "leakguard.recipients",
    "hook_smtplib": "leakguard.smtp",
    "scan": "leakguard.guard",
}

if TYPE_CHECKING:
    from leakguard.audit import AuditLog
    from leakguard.extract._types import Limits
    from leakguard.guard import Guard, PasswordNotice, scan
    from leakguard.policy import Policy
    from leakguard.recipients import Directory, RecipientGuard
    from leakguard.register import PatientRegister
    from leakguard.smtp import GuardedSMTP, GuardedSMTP_SSL, hook_smtplib


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'leakguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
