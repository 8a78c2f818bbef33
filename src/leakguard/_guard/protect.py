"""Sending a message as its verdict allows: S/MIME when every recipient has a usable
certificate, else the sensitive attachments in an AES-256 ZIP whose password goes
through another channel, else a refusal (``LeakBlocked``) naming the obstacle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

from leakguard._guard.recipients import read_recipients
from leakguard._headers import first_field
from leakguard.core import IDENTIFIER_KINDS, Action, Verdict
from leakguard.errors import LeakBlocked, ProtectionError
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

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = ["PasswordNotice", "enforce"]

log = logging.getLogger("leakguard")


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


def enforce(
    msg: EmailMessage,
    verdict: Verdict,
    /,
    *,
    envelope: Sequence[str] | None,
    max_header_chars: int,
    policy: Policy,
    certificates: CertificateStore | None,
    on_password: Callable[[PasswordNotice], None] | None,
    recheck: Callable[[EmailMessage], Verdict],
) -> EmailMessage:
    """``msg`` as ``verdict`` lets it leave (see :meth:`leakguard.guard.Guard.enforce`).

    ``recheck`` gives the verdict on the message with its attachments in the archive,
    which must no longer ask for encryption.
    """
    if verdict.action is Action.BLOCK:
        raise LeakBlocked(verdict)
    if verdict.action < Action.ENCRYPT or verdict.encrypted:
        return msg
    found, _ = read_recipients(msg, envelope, max_header_chars)
    recipients = [r.address for r in found]
    certs: list[Certificate] = []
    problems: list[CertificateProblem] = []
    for address in recipients:
        cert, problem = find_certificate(certificates, address)
        if cert is not None:
            certs.append(cert)
        elif problem is not None:
            problems.append(problem)
    smime_error: ProtectionError | None = None
    if recipients and not problems:
        try:
            return smime_encrypt(msg, certs, outer_subject=policy.outer_subject)
        except ProtectionError as exc:
            if exc.reason == "identifier_in_routing_header":
                raise LeakBlocked(verdict, exc.message("en"), fr=exc.fr, cause=exc.reason) from exc
            log.warning("S/MIME encryption failed: %s", exc)
            smime_error = exc
    refusal = Refusal(verdict, recipients, problems, smime_error, certificates)
    return _zip_protect(msg, verdict, recipients, refusal, policy, on_password, recheck)


def _zip_protect(
    msg: EmailMessage,
    verdict: Verdict,
    recipients: list[str],
    refusal: Refusal,
    policy: Policy,
    on_password: Callable[[PasswordNotice], None] | None,
    recheck: Callable[[EmailMessage], Verdict],
) -> EmailMessage:
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
    if on_password is None:
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
    after = recheck(protected)
    if after.action >= Action.ENCRYPT:
        refusal.fail(
            "still_unprotected",
            "Even with its sensitive attachments in an encrypted archive, the message "
            "still needs encryption: " + after.explain("en"),
            "Même avec ses pièces jointes sensibles dans une archive chiffrée, le message "
            "doit encore être chiffré : " + after.explain("fr"),
            verdict=after,
        )
    on_password(
        PasswordNotice(
            recipients=tuple(recipients),
            archive_name=archive,
            password=password,
            message_id=_strip(first_field(msg, "message-id")),
        )
    )
    return protected


def _strip(value: str | None) -> str | None:
    return None if value is None else value.strip()
