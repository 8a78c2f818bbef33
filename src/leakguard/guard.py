"""The guard: one verdict per message, and the protection that verdict asks for.

``Guard.check`` combines what the content, recipient and protection inspectors saw,
adds the message-level findings (unencrypted sensitive data, many people, another
person's document, bulk visible recipients) and lets the policy pick one action.
``Guard.protect`` returns the message ready to send or raises ``LeakBlocked``. ``scan``
gives the content findings alone, for scripts that only ask what a message carries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage, Message
from typing import BinaryIO

from leakguard._guard.decide import Judge
from leakguard._guard.protect import PasswordNotice, enforce
from leakguard._guard.recipients import Recipient
from leakguard._guard.resources import Certificates, load_resources
from leakguard.audit import AuditLog
from leakguard.content import scan_chunks
from leakguard.core import Deadline, Finding, Fingerprinter, Lang, Verdict
from leakguard.correspondents import Correspondents
from leakguard.errors import LeakguardError
from leakguard.extract._types import Limits
from leakguard.message import iter_content, load_message
from leakguard.policy import Policy
from leakguard.protection import CertificateStore
from leakguard.recipients import Directory, HealthDirectory
from leakguard.register import PatientRegister

__all__ = ["Guard", "PasswordNotice", "Recipient", "scan"]

MessageSource = bytes | str | os.PathLike[str] | Message | BinaryIO


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
        return enforce(
            msg,
            verdict,
            envelope=envelope_recipients,
            max_header_chars=self.limits.max_header_chars,
            policy=self.policy,
            certificates=self.certificates,
            on_password=self.on_password,
            recheck=lambda protected: self._decide(protected, envelope_recipients, None),
        )


# ---------------------------------------------------------------------- scan


def scan(
    message: MessageSource,
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
