"""S/MIME enveloping (AES-256-CBC, RSA key transport) with header protection."""

from __future__ import annotations

import copy
import email.header
import email.message
import email.policy
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from leakguard.errors import ProtectionError
from leakguard.policy import DEFAULT_OUTER_SUBJECT
from leakguard.protection.headers import _INNER_PREFIX, _HeaderPlan, _plan_headers, renew_ids

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "set_envelope",
    "smime_encrypt",
]


def smime_encrypt(
    msg: email.message.EmailMessage,
    certificates: Sequence[x509.Certificate],
    /,
    *,
    outer_subject: str = DEFAULT_OUTER_SUBJECT,
) -> email.message.EmailMessage:
    """An S/MIME enveloped copy of ``msg`` (AES-256-CBC, RSA key transport) that shows
    nothing of its content outside.

    Header protection follows RFC 9788: the encrypted part carries the whole MIME
    entity with every header of the message (the real Subject included) and an
    ``HP-Outer`` line for each header left outside; it is marked ``hp="cipher"`` (and
    ``protected-headers="v1"`` for the clients that know the older scheme). The main
    text starts with a "Subject: …" line (``hp-legacy-display="1"``) so that readers
    unaware of header protection still show the real subject once decrypted.

    Outside stay the headers needed for delivery (From, To, Cc, Date, Message-ID…);
    the Subject becomes ``outer_subject``; Keywords, Comments and Thread-Topic are
    dropped; display names carrying an identifier or a health term are dropped (the
    addresses stay); any other header carrying one travels inside only. A Message-ID
    carrying an identifier is replaced by a new one (see :func:`renew_ids`). An
    identifier in an address itself cannot be hidden: ``ProtectionError`` with reason
    ``identifier_in_routing_header``.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.serialization import pkcs7

    if not certificates:
        raise ProtectionError(
            "S/MIME encryption needs at least one recipient certificate.",
            fr="Le chiffrement S/MIME demande au moins un certificat de destinataire.",
            reason="certificate_missing",
        )
    for cert in certificates:
        if not isinstance(cert.public_key(), rsa.RSAPublicKey):
            raise ProtectionError(
                "A recipient certificate has a non-RSA key, which S/MIME enveloping here "
                "cannot use.",
                fr="Un certificat de destinataire n'a pas de clé RSA, ce qu'exige le "
                "chiffrement S/MIME ici.",
                reason="certificate_unsupported_key",
            )
    msg = renew_ids(msg)
    plan = _plan_headers(msg, outer_subject)
    try:
        payload = _payload_entity(msg, plan)
    except _UNWRITABLE:
        raise ProtectionError(
            "The message is too damaged to be written out again for encryption.",
            fr="Le message est trop abîmé pour être réécrit en vue du chiffrement.",
            reason="message_unwritable",
        ) from None
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(payload)
    for cert in certificates:
        builder = builder.add_recipient(cert)
    builder = builder.set_content_encryption_algorithm(algorithms.AES256)
    # The entity is already in canonical CRLF form, so it must be taken byte for byte.
    der = builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])

    outer = email.message.EmailMessage(policy=_AS_GIVEN)
    for name, value in plan.outer:
        if name == "Subject":
            outer["Subject"] = str(value)
        else:
            outer.set_raw(name, _writable(value))
    set_envelope(outer, der)
    return outer


def set_envelope(msg: email.message.EmailMessage, der: bytes, /) -> None:
    """Make ``der`` (CMS enveloped data) the body of ``msg``, as RFC 8551 names it."""
    msg.set_content(
        der,
        maintype="application",
        subtype="pkcs7-mime",
        cte="base64",
        disposition="attachment",
        filename="smime.p7m",
        params={"smime-type": "enveloped-data", "name": "smime.p7m"},
    )


def _payload_entity(msg: email.message.EmailMessage, plan: _HeaderPlan) -> bytes:
    """The cryptographic payload: every header of ``msg``, the HP-Outer record of what
    stays outside, then the content headers and body, in CRLF form."""
    inner = copy.deepcopy(msg)
    items = list(inner.raw_items())
    for name in {n.lower() for n, _ in items}:
        del inner[name]
    for name, value in items:
        if not name.lower().startswith(_INNER_PREFIX) and name.lower() != "mime-version":
            inner.set_raw(name, value)
    for name, value in plan.outer:
        inner.set_raw("HP-Outer", _hp_outer(name, value))
    for name, value in items:
        if name.lower().startswith(_INNER_PREFIX):
            inner.set_raw(name, value)
    if inner.get("Content-Type") is None:
        inner["Content-Type"] = "text/plain; charset=us-ascii"
    if plan.hidden:
        lines = [f"{name}: {text}" for name, text in plan.hidden]
        for part in _main_text_parts(inner, 0):
            _lead_with(part, lines)
    for param, mark in (("hp", "cipher"), ("protected-headers", "v1")):
        try:
            inner.set_param(param, mark)
        except _UNWRITABLE:
            break  # a Content-Type too damaged to take the marks: the text still shows it
    for part in inner.walk():
        _make_writable(part)
    policy = _AS_GIVEN.clone(linesep="\r\n", max_line_length=998)
    try:
        return inner.as_bytes(policy=policy)
    except UnicodeError:
        # Text a damaged message was decoded into by the parser: written out as UTF-8.
        text = inner.as_string(policy=policy.clone(utf8=True))
        return text.encode("utf-8", "surrogateescape")


# Header values copied from the message are written as they came (already folded):
# refolding them would run the email package's parser over each again, which is slow
# on long values and may change them.
_AS_GIVEN = email.policy.default.clone(refold_source="none")


# What a damaged message may raise while it is copied and written out.
_UNWRITABLE = (ValueError, TypeError, LookupError, AttributeError, UnicodeError, RecursionError)


def _hp_outer(name: str, value: object) -> str:
    """One ``HP-Outer`` value: the header name in clear, then its value written as the
    outer header is (RFC 2047 encoded words only inside the value, so a reader can still
    split the name from the value at the first colon)."""
    written = _writable(value)
    text = written if isinstance(written, str) else str(written)
    try:
        text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        text = email.header.Header(text, "utf-8").encode()
    return f"{name}: {text}"


def _writable(value: object) -> object:
    """A header value the generator can write as it is: header objects fold
    themselves; text that is not ASCII (nor raw 8-bit bytes kept by the parser)
    becomes RFC 2047 encoded words."""
    if hasattr(value, "name"):
        try:
            value.fold(policy=_AS_GIVEN)  # type: ignore[attr-defined]
            return value
        except _UNWRITABLE:
            pass  # parsed from damaged text: written as plain encoded words below
    text = str(value)
    lines = text.splitlines()
    if any(not line[:1].isspace() or not line.strip() for line in lines[1:]):
        # A line break that does not continue the header would end it, or the block.
        text = " ".join(line.strip() for line in lines)
    try:
        text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        clean = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return email.header.Header(clean, "utf-8").encode()
    return text


def _make_writable(part: email.message.Message) -> None:
    items = list(part.raw_items())
    fixed = [(name, _writable(value)) for name, value in items]
    if any(a is not b for (_, a), (_, b) in zip(items, fixed, strict=True)):
        for name in {n.lower() for n, _ in items}:
            del part[name]
        for name, value in fixed:
            part.set_raw(name, value)  # type: ignore[arg-type]


def _main_text_parts(part: email.message.Message, depth: int) -> list[email.message.Message]:
    """The parts a reader shows as the message text (RFC 9788's main body parts)."""
    ctype = part.get_content_type()
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list) or not children or depth > 8:
            return []
        kids = [c for c in children if isinstance(c, email.message.Message)]
        if ctype == "multipart/alternative":
            return [p for child in kids for p in _main_text_parts(child, depth + 1)]
        if ctype in ("multipart/mixed", "multipart/related") and kids:
            return _main_text_parts(kids[0], depth + 1)
        return []
    if ctype not in ("text/plain", "text/html") or part.get_filename() is not None:
        return []
    if (part.get_content_disposition() or "").lower() == "attachment":
        return []
    return [part]


def _lead_with(part: email.message.Message, lines: list[str]) -> None:
    """Start a text part with the hidden headers, marked as RFC 9788's legacy display."""
    if not isinstance(part, email.message.EmailMessage):
        return
    try:
        text = str(part.get_content())
        text.encode("utf-8")
    except (LookupError, UnicodeError, ValueError, KeyError, AssertionError):
        return  # a text in an unknown charset, or with broken bytes, is left as it is
    lines = [line.encode("utf-8", "replace").decode("utf-8") for line in lines]
    subtype = part.get_content_subtype()
    if subtype == "html":
        block = (
            '<div class="header-protection-legacy-display"><pre>'
            + html.escape("\n".join(lines))
            + "</pre></div>"
        )
        opening = re.search(r"<body[^>]{0,2000}>", text, re.IGNORECASE)
        cut = opening.end() if opening else 0
        text = text[:cut] + block + text[cut:]
    else:
        text = "\n".join(lines) + "\n\n" + text
    # Keep the part's own transfer encoding where the new text allows it.
    original = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if text.isascii():
        cte = None
    elif original in ("8bit", "base64"):
        cte = original
    else:
        cte = "quoted-printable"
    part.set_content(text, subtype=subtype, charset="utf-8", cte=cte)
    part.set_param("hp-legacy-display", "1")
