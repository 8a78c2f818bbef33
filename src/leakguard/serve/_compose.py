"""Turn a JSON check request into the RFC 5322 message it describes.

The guard then reads a real message, exactly as it would read the same message saved
as ``.eml``: the verdict cannot depend on which way the message reached the service.
The message is built with the email package's MIME classes under the ``compat32``
policy, which write headers as given: a third of the cost of the modern policy's header
objects, for the same bytes on the wire.
"""

from __future__ import annotations

import base64
import email.utils
from email import policy
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser

from leakguard.serve._schema import Address, Attachment, CheckRequest

__all__ = ["compose"]

_UTF8 = Charset("utf-8")
_UTF8.header_encoding = QP
_UTF8.body_encoding = BASE64


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


def _part(item: Attachment) -> Message:
    if item.eml_base64 is not None:
        raw = base64.b64decode(item.eml_base64)
        inner = BytesParser(policy=policy.compat32).parsebytes(raw)
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
    data = base64.b64decode(item.content_base64 or "")
    part = MIMEApplication(data, subtype)
    part.replace_header("Content-Type", f"{maintype}/{subtype}")
    del part["MIME-Version"]
    return _disposition(part, item)


def _body(req: CheckRequest) -> Message:
    text, html = req.body.text, req.body.html
    plain = MIMEText(text, "plain", "utf-8")
    if html is None:
        return plain
    rich = MIMEText(html, "html", "utf-8")
    if not text:
        return rich
    both = MIMEMultipart("alternative")
    both.attach(plain)
    both.attach(rich)
    return both


def compose(req: CheckRequest, /) -> bytes:
    """The message ``req`` describes, as bytes ready for ``Guard.check``."""
    msg = _body(req)
    if req.attachments:
        mixed = MIMEMultipart("mixed")
        mixed.attach(msg)
        for item in req.attachments:
            mixed.attach(_part(item))
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
    return msg.as_bytes(policy=policy.compat32)
