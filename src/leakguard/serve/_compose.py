"""Turn a JSON check request into the RFC 5322 message it describes.

The guard then reads a real message, exactly as it would read the same message saved
as ``.eml``: the verdict cannot depend on which way the message reached the service.
The message is built with the email package's MIME classes under the ``compat32``
policy, which write headers as given: a third of the cost of the modern policy's header
objects, for the same bytes on the wire. Bodies and files are written in afterwards as
Base64 in lines of 988 characters (RFC 5322 allows 998): the package's generator writes a
long body line by line in Python (seconds for 25 MB), and the parser that reads the
message again goes line by line too, so fewer, longer lines cost it a third less.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
import secrets
from email import policy
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart

from leakguard.message import TooManyParts, bounded_parser
from leakguard.serve._schema import Address, Attachment, CheckRequest

__all__ = ["compose"]

_UTF8 = Charset("utf-8")
_UTF8.header_encoding = QP
_UTF8.body_encoding = BASE64
_TOKEN = re.compile(rb"(leakguard-payload-[0-9]{6}-[0-9a-f]{16})")
_LINE = 988  # Base64 characters per line: a multiple of 4 within RFC 5322's 998


def _base64_lines(encoded: bytes) -> bytes:
    return b"\n".join([encoded[i : i + _LINE] for i in range(0, len(encoded), _LINE)])


class _Payloads:
    """Parts whose body is a placeholder in the message written, filled in afterwards."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def part(
        self, maintype: str, subtype: str, encoded: bytes, charset: str | None = None
    ) -> Message:
        """A part whose body is ``encoded`` (Base64, on one line)."""
        part = MIMEBase(maintype, subtype)
        if charset is not None:
            part.set_param("charset", charset)
        token = f"leakguard-payload-{len(self.data):06d}-{secrets.token_hex(8)}"
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(token)
        self.data[token.encode("ascii")] = encoded
        return part

    def text(self, subtype: str, text: str) -> Message:
        encoded = binascii.b2a_base64(text.encode("utf-8"), newline=False)
        return self.part("text", subtype, encoded, charset="utf-8")

    def fill(self, raw: bytes) -> bytes:
        pieces = _TOKEN.split(raw)
        for i in range(1, len(pieces), 2):
            data = self.data.get(pieces[i])
            if data is not None:
                pieces[i] = _base64_lines(data)
        return b"".join(pieces)


def _addresses(people: list[Address]) -> str:
    return ", ".join(email.utils.formataddr((p.name, p.address), charset="utf-8") for p in people)


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, _UTF8).encode()


def _disposition(part: Message, item: Attachment) -> Message:
    kind = "inline" if item.inline else "attachment"
    part.add_header("Content-Disposition", kind, filename=_filename(item.name))
    return part


def _filename(name: str) -> str | tuple[str, str, str]:
    return name if name.isascii() else ("utf-8", "", name)  # RFC 2231 for other letters


def _part(item: Attachment, payloads: _Payloads) -> Message:
    if item.eml_base64 is not None:
        raw = base64.b64decode(item.eml_base64)
        try:
            inner = bounded_parser(policy.compat32).parsebytes(raw)
        except TooManyParts:
            # Not rebuilt part by part: attached as the file it is, which the guard
            # opens as a message and reports as more parts than it reads.
            whole = MIMEBase("application", "octet-stream")
            whole.set_payload(base64.encodebytes(raw).decode("ascii"))
            whole["Content-Transfer-Encoding"] = "base64"
            return _disposition(whole, item)
        return _disposition(MIMEMessage(inner), item)
    if item.url is not None:
        # A cloud link: the file itself is not in the message. It is named by reference
        # (RFC 2046 external body) so the guard reports it as a part it could not read.
        ref = MIMEBase("message", "external-body")
        ref.set_param("access-type", "URL")
        ref.set_param("URL", item.url)
        ref.attach(Message())
        return _disposition(ref, item)
    maintype, _, subtype = item.content_type.lower().partition("/")
    if not maintype or not subtype or maintype == "multipart":
        maintype, subtype = "application", "octet-stream"
    # Already Base64, checked to hold nothing but its alphabet: written in as it came.
    encoded = (item.content_base64 or "").encode("ascii")
    return _disposition(payloads.part(maintype, subtype, encoded), item)


def _body(req: CheckRequest, payloads: _Payloads) -> Message:
    text, html = req.body.text, req.body.html
    plain = payloads.text("plain", text)
    if html is None:
        return plain
    rich = payloads.text("html", html)
    if not text:
        return rich
    both = MIMEMultipart("alternative")
    both.attach(plain)
    both.attach(rich)
    return both


def compose(req: CheckRequest, /) -> bytes:
    """The message ``req`` describes, as bytes ready for ``Guard.check``."""
    payloads = _Payloads()
    msg = _body(req, payloads)
    if req.attachments:
        mixed = MIMEMultipart("mixed")
        mixed.attach(msg)
        for item in req.attachments:
            mixed.attach(_part(item, payloads))
        msg = mixed
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]
    if req.sender is not None:
        msg["From"] = _addresses([req.sender])
    for name, people in (("To", req.to), ("Cc", req.cc), ("Bcc", req.bcc)):
        if people:
            msg[name] = _addresses(people)
    msg["Subject"] = _header(req.subject)
    return payloads.fill(msg.as_bytes(policy=policy.compat32))
