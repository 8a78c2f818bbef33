"""Turn a JSON check request into the RFC 5322 message it describes.

The guard then reads a real message, exactly as it would read the same message saved
as ``.eml``: the verdict cannot depend on which way the message reached the service.
"""

from __future__ import annotations

import base64
import email.utils
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from leakguard.serve._schema import Address, Attachment, CheckRequest

__all__ = ["compose"]


def _addresses(people: list[Address]) -> str:
    return ", ".join(email.utils.formataddr((p.name, p.address), charset="utf-8") for p in people)


def _attach(msg: EmailMessage, item: Attachment) -> None:
    if item.eml_base64 is not None:
        inner = BytesParser(policy=policy.default).parsebytes(base64.b64decode(item.eml_base64))
        msg.add_attachment(inner, filename=item.name)
        return
    if item.url is not None:
        # A cloud link: the file itself is not in the message. It is named by reference
        # (RFC 2046 external body) so the guard reports it as a part it could not read.
        part = EmailMessage(policy=policy.default)
        part.set_content(
            EmailMessage(policy=policy.default),
            subtype="external-body",
            disposition="attachment",
            filename=item.name,
        )
        part.set_param("access-type", "URL")
        part.set_param("URL", item.url)
        msg.make_mixed()
        msg.attach(part)
        return
    maintype, _, subtype = item.content_type.partition("/")
    if not maintype or not subtype or maintype == "multipart":
        maintype, subtype = "application", "octet-stream"
    data = base64.b64decode(item.content_base64 or "")
    msg.add_attachment(
        data,
        maintype=maintype.lower(),
        subtype=subtype.lower(),
        filename=item.name,
        disposition="inline" if item.inline else "attachment",
    )


def compose(req: CheckRequest, /) -> bytes:
    """The message ``req`` describes, as bytes ready for ``Guard.check``."""
    msg = EmailMessage(policy=policy.default)
    if req.sender is not None:
        msg["From"] = _addresses([req.sender])
    for header, people in (("To", req.to), ("Cc", req.cc), ("Bcc", req.bcc)):
        if people:
            msg[header] = _addresses(people)
    msg["Subject"] = req.subject
    msg["MIME-Version"] = "1.0"
    text, html = req.body.text, req.body.html
    if html is not None and not text:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    for item in req.attachments:
        _attach(msg, item)
    return msg.as_bytes()
