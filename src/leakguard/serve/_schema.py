"""The JSON shapes of ``POST /v1/check``: what the add-in sends and what it gets back."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Address",
    "Attachment",
    "Body",
    "CheckRequest",
    "CheckResponse",
    "SecureAddress",
    "Unread",
]

# A header value may not carry line breaks or other control characters: they would let
# a field write headers of its own into the message built from the request.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or control characters")
    return value


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid Base64") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=100_000_000)


class Address(_Strict):
    """A person: display name (may be empty) and e-mail address."""

    name: Annotated[str, Field(max_length=512)] = ""
    address: Annotated[str, Field(min_length=1, max_length=512)]

    _clean = field_validator("name", "address")(_no_control)


class Body(_Strict):
    """The message text; ``html`` when the message is written in HTML."""

    text: str = ""
    html: str | None = None


class Attachment(_Strict):
    """A file (``content_type`` + ``content_base64``), an attached message
    (``eml_base64``), or a cloud link that cannot be fetched (``url`` alone)."""

    name: Annotated[str, Field(min_length=1, max_length=1024)]
    content_type: Annotated[str, Field(max_length=255)] = "application/octet-stream"
    content_base64: str | None = None
    eml_base64: str | None = None
    url: Annotated[str, Field(max_length=8192)] | None = None
    inline: bool = False
    """Shown inside the message (a signature logo) rather than attached."""

    _clean = field_validator("name", "content_type", "url")(_no_control)
    _b64 = field_validator("content_base64", "eml_base64")(_base64)

    @model_validator(mode="after")
    def _one_kind(self) -> Attachment:
        given = [k for k in ("content_base64", "eml_base64", "url") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of content_base64, eml_base64 or url")
        return self


class CheckRequest(_Strict):
    """The message about to be sent, as the mail client sees it."""

    model_config = ConfigDict(populate_by_name=True)

    sender: Annotated[Address | None, Field(alias="from")] = None
    to: list[Address] = []
    cc: list[Address] = []
    bcc: list[Address] = []
    subject: Annotated[str, Field(max_length=10_000)] = ""
    body: Body = Body()
    attachments: list[Attachment] = []
    lang: Literal["fr", "en"] = "en"

    _clean = field_validator("subject")(_no_control)


class Unread(BaseModel):
    """A part of the message that was not read, and why (``detail``: ``timeout``,
    ``too_large``, ``corrupt``, ``unsupported``…); also among the findings."""

    location: str
    detail: str
    message: str


class SecureAddress(BaseModel):
    """An MSSanté address of the national directory to use instead of ``recipient``."""

    recipient: str
    address: str
    name: str = ""
    profession: str = ""
    count: int = 1
    """How many professionals of that name have an MSSanté mailbox (at most three are
    listed for one recipient)."""


class CheckResponse(BaseModel):
    """The decision: ``action``, the findings, a short text for the person, a reference,
    what could not be read (when anything was not, ``action`` is never ``allow``) and,
    when there are any, the secure addresses to use instead
    (``secure_address_available``, with the national MSSanté directory)."""

    action: Literal["allow", "warn", "encrypt", "block"]
    findings: list[dict[str, Any]]
    message: Annotated[str, Field(max_length=500)]
    verdict_id: str
    unread: list[Unread] = []
    suggestions: list[SecureAddress] = []
