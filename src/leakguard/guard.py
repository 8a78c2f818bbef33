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

from leakguard._guard.recipients import Recipient, read_recipients, sender
from leakguard._guard.resources import Certificates, load_resources
from leakguard._recipients.addresses import lenient
from leakguard.audit import AuditLog
from leakguard.content import PERSON_KINDS, ContentReport, scan_chunks
from leakguard.core import (
    IDENTIFIER_KINDS,
    Action,
    Deadline,
    Finding,
    Fingerprinter,
    Lang,
    Location,
    Severity,
    Verdict,
)
from leakguard.correspondents import Correspondents
from leakguard.errors import LeakBlocked, LeakguardError, ProtectionError
from leakguard.extract._types import Budget, Limits
from leakguard.message import iter_content, load_message
from leakguard.other_person import OtherPersonCheck, capped
from leakguard.policy import Policy
from leakguard.protection import (
    CertificateProblem,
    CertificateStore,
    exposed_headers,
    find_certificate,
    message_encrypted,
    new_password,
    renew_ids,
    smime_encrypt,
    zip_attachments,
)
from leakguard.protection.refusal import Refusal
from leakguard.recipients import Directory, HealthDirectory, RecipientGuard
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
        long_len = self.policy.long_address_length
        self._recipients = RecipientGuard(
            self.directory,
            max_distance=self.policy.lookalike_distance,
            long_address_distance=2 if long_len else None,
            long_address_length=long_len or 24,
            acknowledged=self.policy.acknowledged,
        )
        self._other_person = OtherPersonCheck(
            self.directory,
            self.register,
            is_secure=self.policy.is_secure,
            correspondents=self.correspondents,
            regular=self.policy.frequent_messages,
        )
        self.on_password = on_password
        self.audit = audit if audit is not None else AuditLog()
        pairs = self.policy.acknowledged
        self._health_ack = frozenset((lenient(a), lenient(b)) for a, b in pairs) | frozenset(
            (lenient(b), lenient(a)) for a, b in pairs
        )

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
        policy = self.policy.for_sender(sender(msg))  # no internal domain set: the sender's
        try:
            encrypted = message_encrypted(msg)
        except Exception:  # a part no reader copes with: judged as not encrypted
            encrypted = False
        recipients, unreadable = read_recipients(msg, envelope, self.limits.max_header_chars)
        outside = [r for r in recipients if not policy.is_internal(r.domain)]
        health = self.health_directory
        canonical: dict[str, str] = {}
        listed: set[str] = set()
        if health is not None:
            canonical = {r.address: lenient(r.address) for r in recipients}
            listed = health.listed(canonical.values())
        # An address of the national MSSanté directory is a secure channel, whatever its domain.
        unprotected = [
            r
            for r in outside
            if not policy.is_secure(r.domain) and canonical.get(r.address) not in listed
        ]
        single_outside = len(outside) == 1 and not encrypted
        budget = Budget(self.limits, deadline)
        report = scan_chunks(
            iter_content(msg, limits=self.limits, budget=budget),
            fingerprinter=self.fingerprinter,
            # Attachment texts are kept only for the other-person check, which needs them.
            keep_texts=single_outside,
            deadline=budget.until,
        )
        if encrypted:
            # The whole message is enveloped: the content inspector saw only ciphertext.
            report.findings[:] = [
                f
                for f in report.findings
                if not (f.kind == "unscannable_attachment" and f.detail == "encrypted")
            ]
        sensitive = any(f.kind in policy.sensitive_kinds for f in report.findings)

        findings: list[Finding] = list(unreadable)
        named = [(r.name, r.address, r.location) for r in recipients]
        findings.extend(self._recipients.check(named))
        if health is not None:
            findings.extend(
                self._health_checks(health, policy, recipients, canonical, listed, findings)
            )
        if self.correspondents is not None:
            findings.extend(self._learned(policy, named, findings, sensitive))
        findings.extend(report.findings)

        protected = encrypted or not unprotected
        if sensitive and unprotected and not encrypted:
            findings.append(
                Finding(
                    kind="unencrypted_sensitive",
                    location=unprotected[0].location,
                    severity=Severity.HIGH,
                )
            )
            if health is not None:
                for r in unprotected:
                    suggestion = health.suggest(r.name, canonical[r.address], r.location)
                    if suggestion is not None:
                        findings.append(suggestion)
        people = report.distinct_people()
        if outside and people >= policy.many_people_threshold:
            bulk = people >= policy.bulk_export_threshold
            findings.append(
                Finding(
                    kind="many_people",
                    location=_where_people(report),
                    severity=Severity.HIGH if bulk else Severity.MEDIUM,
                    count=people,
                    detail="bulk_export" if bulk else None,
                )
            )
        if single_outside:
            other = self._other_person.check(outside[0].name, outside[0].address, report)
            if other is not None:
                findings.append(other)
        visible = [r for r in outside if r.location.where in ("header:to", "header:cc")]
        if len(visible) >= policy.bulk_visible_threshold:
            findings.append(
                Finding(
                    kind="bulk_visible_recipients",
                    location=Location.header("to"),
                    severity=Severity.MEDIUM,
                    count=len(visible),
                )
            )

        action = Action.ALLOW
        for f in findings:
            a = policy.action_for(f.kind, sensitive=sensitive, detail=f.detail)
            if f.kind == "many_people" and f.detail == "bulk_export":
                a = Action.BLOCK
            a = capped(f, a)  # a guess that another person is concerned never blocks
            if a is Action.ENCRYPT and protected:
                continue  # already leaves encrypted or through secure messaging
            if a > action:
                action = a
        return Verdict(
            action=action,
            findings=tuple(findings),
            encrypted=encrypted,
            source=source,
            lang=self.lang,
        )

    def _health_checks(
        self,
        health: HealthDirectory,
        policy: Policy,
        recipients: list[Recipient],
        canonical: dict[str, str],
        listed: set[str],
        found: list[Finding],
    ) -> list[Finding]:
        """Look-alikes of the national directory's mailboxes and unknown MSSanté addresses.

        A listed address, a colleague's, or a recipient already reported as a colleague's
        look-alike is not judged again; an internal address is never ``unknown``.
        """
        already = {f.recipient for f in found if f.kind == "lookalike_recipient"}
        todo: list[tuple[str, Location]] = []
        unknown: list[str] = []
        for r in recipients:
            address = canonical[r.address]
            if address in listed or address in already or address in self.directory:
                continue
            todo.append((address, r.location))
            if not policy.is_internal(r.domain):
                unknown.append(address)
        return health.check(todo, acknowledged=self._health_ack, warn_unknown=unknown)

    def _learned(
        self,
        policy: Policy,
        recipients: list[tuple[str, str, Location]],
        found: list[Finding],
        sensitive: bool,
    ) -> list[Finding]:
        """First-time, dormant and unusual recipients, and look-alikes of frequent
        correspondents, from the correspondents store."""
        assert self.correspondents is not None
        return self.correspondents.check(
            recipients,
            sensitive=sensitive,
            is_outside=lambda a: not policy.is_internal(a.rpartition("@")[2]),
            is_colleague=self.directory.__contains__,
            dormant_months=policy.dormant_months,
            quiet_days=policy.quiet_days,
            frequent=policy.frequent_messages,
            usual_group=policy.usual_group_messages,
            lookalike_distance=policy.lookalike_distance,
            already_lookalike=[
                f.recipient for f in found if f.kind == "lookalike_recipient" and f.recipient
            ],
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


def _where_people(report: ContentReport) -> Location:
    counts: dict[Location, int] = {}
    for f in report.findings:
        if f.kind in PERSON_KINDS:
            counts[f.location] = counts.get(f.location, 0) + 1
    if not counts:
        return Location.body()
    return max(counts, key=lambda loc: counts[loc])


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
