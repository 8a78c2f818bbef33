"""The decision on one message: what its content carries, who it goes to, the findings
only the whole message shows (unencrypted sensitive data, many people, another
person's document, bulk visible recipients) and the one action the policy picks.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import Message

from leakguard._guard.recipients import Recipient, read_recipients
from leakguard._guard.resources import Resources
from leakguard._headers import sender
from leakguard._recipients.addresses import lenient
from leakguard.content import PERSON_KINDS, ContentReport, scan_chunks
from leakguard.core import (
    Action,
    Deadline,
    Finding,
    Fingerprinter,
    Lang,
    Location,
    Severity,
    Verdict,
)
from leakguard.extract._types import Budget, Limits
from leakguard.message import iter_content
from leakguard.other_person import OtherPersonCheck, capped
from leakguard.policy import Policy
from leakguard.protection import message_encrypted
from leakguard.recipients import HealthDirectory, RecipientGuard

__all__ = ["Judge"]


class Judge:
    """Decides messages with the resources it was built from; thread-safe."""

    def __init__(self, resources: Resources, /) -> None:
        self.resources = resources
        policy = resources.policy
        long_len = policy.long_address_length
        self._recipients = RecipientGuard(
            resources.directory,
            max_distance=policy.lookalike_distance,
            long_address_distance=2 if long_len else None,
            long_address_length=long_len or 24,
            acknowledged=policy.acknowledged,
        )
        self._other_person = OtherPersonCheck(
            resources.directory,
            resources.register,
            is_secure=policy.is_secure,
            correspondents=resources.correspondents,
            regular=policy.frequent_messages,
        )
        pairs = policy.acknowledged
        self._health_ack = frozenset((lenient(a), lenient(b)) for a, b in pairs) | frozenset(
            (lenient(b), lenient(a)) for a, b in pairs
        )

    def decide(
        self,
        msg: Message,
        envelope: Sequence[str] | None,
        source: str | None,
        *,
        limits: Limits,
        fingerprinter: Fingerprinter,
        lang: Lang,
        deadline: Deadline | None = None,
    ) -> Verdict:
        """The verdict on ``msg``, sent to its header recipients and ``envelope``."""
        # With no internal domain set, the sender's domain is the internal one.
        policy = self.resources.policy.for_sender(sender(msg))
        try:
            encrypted = message_encrypted(msg)
        except Exception:  # a part no reader copes with: judged as not encrypted
            encrypted = False
        recipients, unreadable = read_recipients(msg, envelope, limits.max_header_chars)
        outside = [r for r in recipients if not policy.is_internal(r.domain)]
        health = self.resources.health_directory
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
        budget = Budget(limits, deadline)
        report = scan_chunks(
            iter_content(msg, limits=limits, budget=budget),
            fingerprinter=fingerprinter,
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
        if self.resources.correspondents is not None:
            findings.extend(self._learned(policy, named, findings, sensitive))
        findings.extend(report.findings)

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
        return Verdict(
            action=_action(policy, findings, sensitive, protected=encrypted or not unprotected),
            findings=tuple(findings),
            encrypted=encrypted,
            source=source,
            lang=lang,
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
            if address in listed or address in already or address in self.resources.directory:
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
        correspondents = self.resources.correspondents
        assert correspondents is not None
        return correspondents.check(
            recipients,
            sensitive=sensitive,
            is_outside=lambda a: not policy.is_internal(a.rpartition("@")[2]),
            is_colleague=self.resources.directory.__contains__,
            dormant_months=policy.dormant_months,
            quiet_days=policy.quiet_days,
            frequent=policy.frequent_messages,
            usual_group=policy.usual_group_messages,
            lookalike_distance=policy.lookalike_distance,
            already_lookalike=[
                f.recipient for f in found if f.kind == "lookalike_recipient" and f.recipient
            ],
        )


def _action(policy: Policy, findings: list[Finding], sensitive: bool, *, protected: bool) -> Action:
    """The strictest action the policy asks for the findings; encryption is not asked of a
    message that already leaves encrypted or through secure messaging (``protected``)."""
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
    return action


def _where_people(report: ContentReport) -> Location:
    counts: dict[Location, int] = {}
    for f in report.findings:
        if f.kind in PERSON_KINDS:
            counts[f.location] = counts.get(f.location, 0) + 1
    if not counts:
        return Location.body()
    return max(counts, key=lambda loc: counts[loc])
