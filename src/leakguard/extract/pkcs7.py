"""CMS / PKCS #7 (RFC 5652) read with asn1crypto: tell S/MIME that is really encrypted
(enveloped data with at least one recipient and a ciphertext that is not clear) from
signed data, and take out the content a structure carries readable.

No signature is verified and nothing is decrypted: leakguard only needs what the
message would disclose.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["clear_content", "cms_kind", "signed_content"]

_ENVELOPED = frozenset({"enveloped_data", "authenticated_enveloped_data"})
# What asn1crypto may raise on bytes that are not the structure it reads.
_BAD = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


def _load(der: bytes) -> Any | None:
    """The parsed ContentInfo and its content, or None when the bytes are not CMS."""
    from asn1crypto import cms
    from asn1crypto.core import Void

    if len(der) < 8 or der[0] != 0x30:
        return None
    try:
        info = cms.ContentInfo.load(der, strict=False)
        kind = info["content_type"].native
        content = info["content"]
        if content is None or isinstance(content, Void):
            return None
        return kind, content
    except _BAD:
        return None


def _ciphertext(content: Any) -> bytes | None:
    """The encrypted content of an EncryptedContentInfo (None when absent)."""
    value = content["encrypted_content_info"]["encrypted_content"].native
    return bytes(value) if value else None


def cms_kind(der: bytes, /) -> Literal["signed", "encrypted"] | None:
    """``"signed"``, ``"encrypted"``, or None when ``der`` is not CMS we recognise.

    ``"encrypted"`` means enveloped (or authenticated-enveloped) data with at least one
    recipient info, or encrypted data, whose ciphertext does not read as clear content.
    """
    from leakguard.extract.encryption import readable_clear

    loaded = _load(der)
    if loaded is None:
        return None
    kind, content = loaded
    try:
        if kind == "signed_data":
            content["signer_infos"].native  # noqa: B018 (parsed to be sure it is SignedData)
            return "signed"
        if kind in _ENVELOPED and len(content["recipient_infos"]) < 1:
            return None
        if kind in _ENVELOPED or kind == "encrypted_data":
            ciphertext = _ciphertext(content)
            if ciphertext is not None and not readable_clear(ciphertext):
                return "encrypted"
    except _BAD:
        return None
    return None


def signed_content(der: bytes, /) -> bytes | None:
    """The content embedded in an opaque-signed CMS structure, or None."""
    loaded = _load(der)
    if loaded is None or loaded[0] != "signed_data":
        return None
    try:
        encap = loaded[1]["encap_content_info"]["content"]
        if encap is None or encap.contents is None:
            return None  # detached signature: the content travels beside it
        value = encap.parsed.native if hasattr(encap, "parsed") else encap.native
        if isinstance(value, bytes):
            return value
        return bytes(encap.contents) if encap.contents else None
    except _BAD:
        return None


def clear_content(der: bytes, /) -> bytes | None:
    """What a CMS structure carries readable: the content of signed data, or the
    "encrypted" content of an enveloped structure whose bytes are clear."""
    from leakguard.extract.encryption import readable_clear

    loaded = _load(der)
    if loaded is None:
        return None
    kind, content = loaded
    if kind == "signed_data":
        return signed_content(der)
    try:
        if kind in _ENVELOPED or kind == "encrypted_data":
            ciphertext = _ciphertext(content)
            return ciphertext if ciphertext is not None and readable_clear(ciphertext) else None
        if kind == "data":
            value = content.native
            return bytes(value) if isinstance(value, bytes) else None
    except _BAD:
        return None
    return None
