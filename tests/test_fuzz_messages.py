"""Mutation fuzz over the message entry points, seeded with the project's real messages.

Each example takes a message from ``examples/`` or ``seeds/``, damages it the way broken
mailers and hostile senders do (flipped bytes, cut and doubled ranges, stray quotes,
angle brackets, groups, encoded words, header lines), then checks it through every entry
point: no exception escapes, each check ends in time, and the verdict does not depend on
how the message was parsed (bytes, ``compat32``, ``email.policy.default``).

CI runs a short campaign; run a longer one by hand with, for example,
``LEAKGUARD_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_messages.py``.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import time
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakguard.core import Verdict
from leakguard.errors import InputError
from leakguard.guard import Guard
from leakguard.message import document_content, is_message, require_message
from leakguard.policy import Policy
from leakguard.recipients import Directory

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [
    p.read_bytes()
    for p in sorted(ROOT.glob("examples/*.eml")) + sorted(ROOT.glob("seeds/*/message.eml"))
]
EXAMPLES = int(os.environ.get("LEAKGUARD_FUZZ_EXAMPLES", "40"))
# Generous for a loaded two-core machine: an honest message takes well under a second.
MAX_SECONDS = 10.0

SNIPPETS = [
    b"<", b">", b"<<", b'"', b"(", b")", b"\\", b":", b";", b":;", b",", b"@", b"@@", b".",
    b"[", b"]", b"=?utf-8?b?", b"=?utf-8?q?=C3=A9?=", b"?=", b"=?x?q?", b"\r\n ", b"\n",
    b"\r\n\r\n", b"\x00", b"\xff\xfe", b"\xc3", b"*0*=utf-8''", b"; filename*1=", b"--",
    b"unlisted-recipients:; (no To-header on input)", b"Equipe: Marc <m.lecompte@gmail.com;",
    b"m.lecompte@", b"multipart/mixed; boundary=", b"message/rfc822",
]  # fmt: skip
HEADER_LINES = [
    b"To", b"Cc", b"Bcc", b"Subject", b"From", b"Content-Type", b"Content-Disposition",
    b"Content-Transfer-Encoding", b"MIME-Version",
]  # fmt: skip

GUARD = Guard(
    Policy.default().replace(internal_domains=("clinique-exemple.fr",)),
    directory=Directory.from_addresses(
        ["m.lecomte@gmail.com", "m.lecomte@clinique-exemple.fr", "dr.martin@cabinet-exemple.fr"]
    ),
)


class Mutated(bytes):
    """A mutated message; its repr (printed by hypothesis on failure) shows its size and
    digest, never its text, which carries the seeds' test identifiers."""

    def __repr__(self) -> str:
        return f"Mutated({len(self)} bytes, sha256 {hashlib.sha256(self).hexdigest()[:16]})"


@st.composite
def mutated(draw: st.DrawFn) -> Mutated:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    head = data.find(b"\n\n")
    head = len(data) if head < 0 else head
    for _ in range(draw(st.integers(1, 6))):
        # Most damage goes to the header block, where the parsers are most fragile.
        limit = head if draw(st.booleans()) else len(data)
        pos = draw(st.integers(0, max(0, min(limit, len(data)))))
        op = draw(st.sampled_from(["flip", "insert", "delete", "double", "header", "repeat"]))
        if op == "flip" and data:
            pos = min(pos, len(data) - 1)
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(SNIPPETS))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 200))]
        elif op == "double":
            size = draw(st.integers(1, 400))
            data[pos:pos] = data[pos : pos + size]
        elif op == "header":
            name = draw(st.sampled_from(HEADER_LINES))
            value = b"".join(draw(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=8)))
            at = 0 if draw(st.booleans()) else pos
            data[at:at] = name + b": " + value + b"\r\n"
        else:
            data[pos:pos] = draw(st.sampled_from(SNIPPETS)) * draw(st.integers(2, 3000))
    return Mutated(data)


def signature(verdict: Verdict) -> tuple[str, list[tuple[str, str, str]]]:
    return verdict.action.value, sorted(
        (f.kind, str(f.location), f.detail or "") for f in verdict.findings
    )


def timed_check(source: bytes | Message) -> Verdict:
    # Processor time: the check's own cost, whatever else the machine is doing.
    started = time.process_time()
    verdict = GUARD.check(source)
    elapsed = time.process_time() - started
    assert elapsed < MAX_SECONDS, f"check took {elapsed:.1f} s"
    return verdict


def user_parse(data: bytes, policy: email.policy.Policy) -> Message | None:
    """The message as a script would parse it; None when the standard library itself
    cannot (that is the script's parse failing, before leakguard is called)."""
    try:
        return email.message_from_bytes(data, policy=policy)
    except Exception:
        return None


@pytest.mark.timeout(max(120, EXAMPLES))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(mutated())
def test_mutated_messages_are_judged_the_same_through_every_entry_point(data: bytes) -> None:
    expected = signature(timed_check(data))
    for policy in (email.policy.compat32, email.policy.default):
        parsed = user_parse(data, policy)
        if parsed is not None:
            assert signature(timed_check(parsed)) == expected, policy
    # What `leakguard check` does first, and what `leakguard scan` does.
    try:
        require_message(data)
        assert is_message(data)
    except InputError:
        assert not is_message(data)
    started = time.process_time()
    items = list(document_content(data, name="message.eml"))
    assert time.process_time() - started < MAX_SECONDS
    assert all(hasattr(i, "location") for i in items)


def test_a_lone_carriage_return_before_the_headers_is_a_blank_line() -> None:
    """Found by the campaign above: the standard library's parser ends a line at a lone
    CR, so a message opening with one had no headers to it (no recipient: a warning),
    while the same message parsed by a script and handed over was read with its
    headers (allowed). Both now skip the blank line, as mail readers do."""
    data = (
        b"\rFrom: secretariat@clinique-exemple.fr\nTo: Claire Martin "
        b"<dr.martin@cabinet-exemple.fr>\nSubject: Rendez-vous\n\nBonjour.\n"
    )
    verdicts = [signature(GUARD.check(data))]
    for policy in (email.policy.compat32, email.policy.default):
        verdicts.append(signature(GUARD.check(email.message_from_bytes(data, policy=policy))))
    assert verdicts == [("allow", [])] * 3
    assert is_message(data)
