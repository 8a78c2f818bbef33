"""The guard: one verdict per message, and the protection that verdict asks for.

``Guard.check`` combines what the content, recipient and protection inspectors saw,
adds the message-level findings (unencrypted sensitive data, many people, another
person's document, bulk visible recipients) and lets the policy pick one action.
``Guard.protect`` returns the message ready to send or raises ``LeakBlocked``. ``scan``
gives the content findings alone, for scripts that only ask what a message carries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import TYPE_CHECKING, BinaryIO

from leakguard._guard.decide import Judge
from leakguard._guard.recipients import Recipient, read_recipients
from leakguard._guard.resources import Certificates, load_resources
from leakguard.audit import AuditLog
from leakguard.content import scan_chunks
from leakguard.core import (
    IDENTIFIER_KINDS,
    Action,
    Deadline,
    Finding,
    Fingerprinter,
    Lang,
    Verdict,
)
from leakguard.correspondents import Correspondents
from leakguard.errors import LeakBlocked, LeakguardError, ProtectionError
from leakguard.extract._types import Limits
from leakguard.message import iter_content, load_message
from leakguard.policy import Policy
from leakguard.protection import (
    CertificateProblem,
    CertificateStore,
    exposed_headers,
    find_certificate,
    new_password,
    renew_ids,
    smime_encrypt,
    zip_attachments,
)
from leakguard.protection.refusal import Refusal
from leakguard.recipients import Directory, HealthDirectory
from leakguard.register import PatientRegister

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = ["Guard", "PasswordNotice", "Recipient", "scan"]

log = logging.getLogger("leakguard")

MessageSource = bytes | str | os.PathLike[str] | Message | BinaryIO


@dataclass(frozen=True, slots=True)
class PasswordNotice:
    """Handed to the password callback when attachments were put in an encrypted ZIP.

    Send ``password`` to the recipients through another channel (SMS, phone). It is
    never written into the message or any log, and ``repr`` hides it.
    """

    recipients: tuple[str, ...]
    archive_name: str
    password: str
    message_id: str | None

    def __repr__(self) -> str:
        return (
            f"PasswordNotice(recipients={self.recipients!r}, archive_name={self.archive_name!r}, "
            "password=<hidden>)"
        )

    __str__ = __repr__


class Guard:
    """Checks messages against a policy; thread-safe once built.

    Every resource can be given as an object or as a path, as on the command line:
    ``policy`` (a :class:`~leakguard.policy.Policy` or a TOML file), ``directory`` (a
    :class:`~leakguard.recipients.Directory` or a colleagues' file), ``register``,
    ``certificates`` (a store, a lookup function or a folder) and ``correspondents``. One
    left out comes from the policy's own path when it names one. ``internal_domains``
    adds to the policy's; ``strict_directory`` refuses a colleagues' file with unusable
    lines (``DirectoryError`` whose ``issues`` lists them) instead of ignoring those
    lines; ``lang`` (``"en"`` or ``"fr"``) is the language of ``verdict.explain()``
    and of ``str()`` of the errors the guard raises when no language is asked. A file
    that cannot be used raises the same errors as ``leakguard check`` reports
    (:mod:`leakguard.errors`).
    """

    def __init__(
        self,
        policy: Policy | str | os.PathLike[str] | None = None,
        *,
        directory: Directory | str | os.PathLike[str] | None = None,
        register: PatientRegister | str | os.PathLike[str] | None = None,
        certificates: Certificates | None = None,
        on_password: Callable[[PasswordNotice], None] | None = None,
        fingerprinter: Fingerprinter | None = None,
        limits: Limits | None = None,
        audit: AuditLog | None = None,
        correspondents: Correspondents | str | os.PathLike[str] | None = None,
        health_directory: HealthDirectory | str | os.PathLike[str] | None = None,
        internal_domains: Iterable[str] = (),
        strict_directory: bool = False,
        lang: Lang = "en",
    ) -> None:
        self.lang: Lang = "fr" if lang == "fr" else "en"
        self.fingerprinter = fingerprinter or Fingerprinter()
        self.limits = limits or Limits()
        try:
            self._resources = load_resources(
                policy,
                directory=directory,
                register=register,
                certificates=certificates,
                correspondents=correspondents,
                health_directory=health_directory,
                fingerprinter=self.fingerprinter,
                internal_domains=internal_domains,
                strict_directory=strict_directory,
            )
        except LeakguardError as exc:
            exc.lang = self.lang
            raise
        self._judge = Judge(self._resources)
        self.on_password = on_password
        self.audit = audit if audit is not None else AuditLog()

    @classmethod
    def from_policy(cls, path: str | os.PathLike[str], /, **options: object) -> Guard:
        """A guard with the policy read from a TOML file."""
        return cls(Policy.load(path), **options)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        health = "" if self.health_directory is None else f", mssante={len(self.health_directory)}"
        return f"Guard(policy={self.policy.source!r}, colleagues={len(self.directory)}{health})"

    # ------------------------------------------------------------------ resources
    # What the guard was built from: read-only, since the checkers are built from them.

    @property
    def policy(self) -> Policy:
        return self._resources.policy

    @property
    def directory(self) -> Directory:
        return self._resources.directory

    @property
    def register(self) -> PatientRegister | None:
        return self._resources.register

    @property
    def certificates(self) -> CertificateStore | None:
        return self._resources.certificates

    @property
    def correspondents(self) -> Correspondents | None:
        """Correspondents learned from the Sent folder (``leakguard learn``), if any."""
        return self._resources.correspondents

    @property
    def health_directory(self) -> HealthDirectory | None:
        """The national MSSanté directory, if any."""
        return self._resources.health_directory

    # ------------------------------------------------------------------ check

    def check(
        self,
        message: MessageSource,
        /,
        *,
        envelope_recipients: Sequence[str] | None = None,
        source: str | None = None,
        deadline: Deadline | float | None = None,
    ) -> Verdict:
        """Inspect ``message`` (bytes, ``EmailMessage``, path or binary file) and decide.

        ``deadline`` (a :class:`~leakguard.core.Deadline`, or seconds from now) bounds the
        check on top of ``limits.max_seconds``: when it passes, the content not yet read
        is reported ``unscannable_attachment`` (``timeout``) and the verdict is given.
        """
        if isinstance(deadline, int | float):
            deadline = Deadline.after(float(deadline))
        msg = load_message(message)
        verdict = self._decide(msg, envelope_recipients, source, deadline)
        self.audit.record(verdict, msg)
        return verdict

    def _decide(
        self,
        msg: Message,
        envelope: Sequence[str] | None,
        source: str | None,
        deadline: Deadline | None = None,
    ) -> Verdict:
        return self._judge.decide(
            msg,
            envelope,
            source,
            limits=self.limits,
            fingerprinter=self.fingerprinter,
            lang=self.lang,
            deadline=deadline,
        )

    # ------------------------------------------------------------------ protect

    def protect(
        self,
        message: MessageSource,
        /,
        *,
        envelope_recipients: Sequence[str] | None = None,
    ) -> EmailMessage:
        """The message ready to send, encrypted when the verdict asks for it.

        Raises ``LeakBlocked`` (with the verdict) when the message must not leave or
        cannot be protected.
        """
        msg = load_message(message)
        verdict = self.check(msg, envelope_recipients=envelope_recipients)
        return self.enforce(msg, verdict, envelope_recipients=envelope_recipients)

    def enforce(
        self,
        msg: EmailMessage,
        verdict: Verdict,
        /,
        *,
        envelope_recipients: Sequence[str] | None = None,
    ) -> EmailMessage:
        """Apply an already computed verdict to ``msg`` (see :meth:`protect`).

        S/MIME when every recipient has a usable certificate (nothing about the
        content stays outside: the real Subject travels inside, the outer one is the
        policy's ``outer_subject``); else an AES-256 ZIP of the sensitive attachments
        when a password channel is set and nothing sensitive shows in the text or the
        headers; else ``LeakBlocked`` whose ``cause`` names the obstacle.
        """
        if verdict.action is Action.BLOCK:
            raise LeakBlocked(verdict)
        if verdict.action < Action.ENCRYPT or verdict.encrypted:
            return msg
        found, _ = read_recipients(msg, envelope_recipients, self.limits.max_header_chars)
        recipients = [r.address for r in found]
        certs: list[Certificate] = []
        problems: list[CertificateProblem] = []
        for address in recipients:
            cert, problem = find_certificate(self.certificates, address)
            if cert is not None:
                certs.append(cert)
            elif problem is not None:
                problems.append(problem)
        smime_error: ProtectionError | None = None
        if recipients and not problems:
            try:
                return smime_encrypt(msg, certs, outer_subject=self.policy.outer_subject)
            except ProtectionError as exc:
                if exc.reason == "identifier_in_routing_header":
                    raise LeakBlocked(
                        verdict, exc.message("en"), fr=exc.fr, cause=exc.reason
                    ) from exc
                log.warning("S/MIME encryption failed: %s", exc)
                smime_error = exc
        refusal = Refusal(verdict, recipients, problems, smime_error, self.certificates)
        return self._zip_protect(msg, verdict, recipients, envelope_recipients, refusal)

    def _zip_protect(
        self,
        msg: EmailMessage,
        verdict: Verdict,
        recipients: list[str],
        envelope: Sequence[str] | None,
        refusal: Refusal,
    ) -> EmailMessage:
        policy = self.policy
        msg = renew_ids(msg)
        exposed = exposed_headers(msg)
        if exposed:
            shown = ", ".join(exposed)
            refusal.fail(
                "sensitive_in_headers",
                f"The {shown} header carries an identifier or health information, which an "
                "encrypted archive cannot hide (only S/MIME can): remove it from there, or "
                "provide a certificate for every recipient.",
                f"L'en-tête {shown} contient un identifiant ou une information de santé, "
                "qu'une archive chiffrée ne peut pas cacher (seul S/MIME le peut) : "
                "retirez-le, ou fournissez un certificat pour chaque destinataire.",
            )
        # Whatever the policy counts as sensitive, the archive never leaves an
        # identifier or a health term readable in the text.
        never_in_text = policy.sensitive_kinds | IDENTIFIER_KINDS | {"health_data"}
        in_text = [
            f for f in verdict.findings if f.kind in never_in_text and not f.location.is_attachment
        ]
        if in_text:
            refusal.fail(
                "sensitive_in_text",
                "Sensitive data is in the message text, which an encrypted archive cannot "
                "protect: move it into an attachment or use secure messaging.",
                "Des données sensibles figurent dans le texte du message, qu'une archive "
                "chiffrée ne peut pas protéger : placez-les en pièce jointe ou utilisez une "
                "messagerie sécurisée.",
            )
        if self.on_password is None:
            refusal.fail(
                "no_password_channel",
                "No channel is configured to hand over a password, so the sensitive "
                "attachments cannot go in an encrypted archive instead.",
                "Aucun canal n'est configuré pour transmettre un mot de passe : les pièces "
                "jointes sensibles ne peuvent pas partir dans une archive chiffrée à la place.",
            )
        names = sorted(
            {
                f.location.top_level.where.removeprefix("attachment:")
                for f in verdict.findings
                if f.kind in policy.sensitive_kinds and f.location.is_attachment
            }
        )
        password = new_password()
        archive = "documents-chiffres.zip"
        try:
            protected = zip_attachments(msg, password=password, names=names, archive_name=archive)
        except ProtectionError as exc:
            refusal.fail(exc.reason or "archive_failed", exc.message("en"), exc.message("fr"))
        after = self._decide(protected, envelope, None)
        if after.action >= Action.ENCRYPT:
            refusal.fail(
                "still_unprotected",
                "Even with its sensitive attachments in an encrypted archive, the message "
                "still needs encryption: " + after.explain("en"),
                "Même avec ses pièces jointes sensibles dans une archive chiffrée, le message "
                "doit encore être chiffré : " + after.explain("fr"),
                verdict=after,
            )
        self.on_password(
            PasswordNotice(
                recipients=tuple(recipients),
                archive_name=archive,
                password=password,
                message_id=next(
                    (str(v).strip() for k, v in msg.raw_items() if k.lower() == "message-id"),
                    None,
                ),
            )
        )
        return protected


# ---------------------------------------------------------------------- helpers


def scan(
    message: bytes | str | os.PathLike[str] | Message | BinaryIO,
    /,
    *,
    limits: Limits | None = None,
    fingerprinter: Fingerprinter | None = None,
) -> list[Finding]:
    """Content findings (identifiers, health data, unreadable parts) of one message, without
    judging its recipients: what a script asks when it only wants to know what a message
    carries."""
    msg = load_message(message)
    report = scan_chunks(
        iter_content(msg, limits=limits), fingerprinter=fingerprinter or Fingerprinter()
    )
    return report.findings
