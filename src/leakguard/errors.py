"""The exceptions leakguard raises, as one small tree.

    LeakguardError                 (code: "leakguard")
    ├── PolicyError                (code: "policy")        a policy file or value is wrong
    ├── DirectoryError             (code: "directory")     a colleagues' file cannot be loaded
    ├── InputError                 (code: "input")         a message or document cannot be read
    ├── ProtectionError            (code: "protection")    encryption could not be applied
    └── LeakBlocked                (code: "blocked")       the message must not leave as it is

Every message is a sentence a person can act on and never contains an identifier. It is
written in English and, when ``fr`` is given, in French: ``exc.message("en")`` and
``exc.message("fr")``; ``str(exc)`` is the text in ``exc.lang``, English unless the guard
that raised it was built with ``lang="fr"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leakguard._recipients.directory import DirectoryIssue
    from leakguard.core import Lang, Verdict

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
    #: The language of ``str(exc)``.
    lang: Lang = "en"

    def __init__(self, message: str = "", /, *, fr: str | None = None) -> None:
        super().__init__(message)
        self.fr = fr

    def __str__(self) -> str:
        return self.message(self.lang)

    def message(self, lang: Lang = "en") -> str:
        """The message in one language (English when no French text was given)."""
        if lang == "fr" and self.fr:
            return self.fr
        return str(self.args[0]) if self.args else ""


class PolicyError(LeakguardError, ValueError):
    """A policy file or setting is wrong: the text names the file, the key and what is allowed."""

    code = "policy"


class DirectoryError(LeakguardError, ValueError):
    """The colleagues' directory cannot be loaded.

    When the file was refused for its unusable lines (``strict_directory``), ``issues``
    lists them and ``source`` names the file.
    """

    code = "directory"
    issues: tuple[DirectoryIssue, ...] = ()
    source: str | None = None


class InputError(LeakguardError, OSError):
    """A message or document given to leakguard cannot be read at all."""

    code = "input"


class ProtectionError(LeakguardError):
    """Encryption was needed but could not be applied.

    ``reason`` is a stable machine code for the cause (for example
    ``"certificate_expired"``, ``"certificate_unreadable"``, ``"no_password_channel"``) and
    ``path`` the file at fault when there is one, so an interface can name its own option.
    """

    code = "protection"

    def __init__(
        self,
        message: str = "",
        /,
        *,
        fr: str | None = None,
        reason: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, fr=fr)
        self.reason = reason
        self.path = path


class LeakBlocked(LeakguardError):
    """The message may not leave as it is; ``verdict`` says why.

    ``cause`` is a stable machine code when the message was stopped for another reason
    than a ``block`` verdict (for example ``"no_password_channel"`` or
    ``"certificate_expired"`` when encryption was needed and could not be applied), so
    an interface can name its own option; None when the verdict itself blocks.
    """

    code = "blocked"

    def __init__(
        self,
        verdict: Verdict,
        reason: str | None = None,
        *,
        fr: str | None = None,
        cause: str | None = None,
    ) -> None:
        self.verdict = verdict
        self.cause = cause
        self.lang = verdict.lang
        if reason is None:
            reason, fr = verdict.explain("en"), verdict.explain("fr")
        super().__init__(reason, fr=fr)
