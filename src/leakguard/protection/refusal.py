"""Why a message that must leave encrypted cannot be: the ``LeakBlocked`` that says so,
naming the certificate problems (with their files) and the archive's obstacle."""

from __future__ import annotations

from typing import NoReturn

from leakguard.core import Verdict
from leakguard.errors import LeakBlocked, ProtectionError
from leakguard.protection.certificates import (
    CertificateProblem,
    CertificateStore,
    FolderCertificates,
)

__all__ = ["Refusal"]


class Refusal:
    """Builds the ``LeakBlocked`` raised when a message that needs encryption cannot
    have it: why S/MIME was not possible, then why the archive was not either."""

    def __init__(
        self,
        verdict: Verdict,
        recipients: list[str],
        problems: list[CertificateProblem],
        smime_error: ProtectionError | None,
        store: CertificateStore | None,
    ) -> None:
        self.verdict = verdict
        self.recipients = recipients
        self.problems = problems
        self.smime_error = smime_error
        self.store = store

    def fail(self, cause: str, en: str, fr: str, *, verdict: Verdict | None = None) -> NoReturn:
        """Raise ``LeakBlocked``; ``cause`` is the archive's obstacle, replaced by the
        certificate's when a certificate exists but cannot be used, or by S/MIME's own
        when it failed (the real cause)."""
        why_en, why_fr = self._why_not_smime()
        unusable = [p for p in self.problems if p.reason != "missing"]
        chained = unusable[0].error() if unusable else self.smime_error
        if unusable:
            cause = unusable[0].cause
        elif self.smime_error is not None and self.smime_error.reason:
            cause = self.smime_error.reason
        raise LeakBlocked(
            verdict or self.verdict,
            f"This message must leave encrypted and cannot be. {why_en} {en}",
            fr=f"Ce message doit partir chiffré et ne peut pas l'être. {why_fr} {fr}",
            cause=cause,
        ) from chained

    def _why_not_smime(self) -> tuple[str, str]:
        if not self.recipients:
            return (
                "It has no recipient address to encrypt for.",
                "Il n'a aucune adresse de destinataire pour qui chiffrer.",
            )
        if self.smime_error is not None:
            err = self.smime_error
            return f"S/MIME failed: {err}", f"S/MIME a échoué : {err.message('fr')}"
        if self.store is None:
            return (
                "No certificates are configured for S/MIME.",
                "Aucun certificat n'est configuré pour S/MIME.",
            )
        shown = self.problems[:5]
        more = len(self.problems) - len(shown)
        en = " ".join(p.message("en") for p in shown)
        fr = " ".join(p.message("fr") for p in shown)
        if more:
            en += f" And {more} more recipient(s) without a usable certificate."
            fr += f" Et {more} autre(s) destinataire(s) sans certificat utilisable."
        unreadable = (
            self.store.unreadable_files() if isinstance(self.store, FolderCertificates) else ()
        )
        if unreadable and any(p.reason == "missing" for p in self.problems):
            files = ", ".join(unreadable[:5]) + (" …" if len(unreadable) > 5 else "")
            en += f" These certificate files could not be read: {files}."
            fr += f" Ces fichiers de certificat n'ont pas pu être lus : {files}."
        return f"S/MIME is not possible: {en}", f"S/MIME est impossible : {fr}"
