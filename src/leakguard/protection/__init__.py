"""Is a message protected, and protecting it: S/MIME enveloping and AES-256 ZIP archives.

- :mod:`.recognition` — is a message, or an attachment, encrypted (S/MIME, PGP/MIME,
  inline PGP, password PDF/ZIP/Office/ODF)?
- :mod:`.certificates` — recipients' certificates from a folder or a lookup, each
  checked, with the reason when one cannot be used.
- :mod:`.headers` — which headers may stay outside an encrypted message.
- :mod:`.smime` — S/MIME enveloping (AES-256-CBC) with RFC 9788 header protection.
- :mod:`.archive` — attachments moved into a password AES-256 ZIP, and the passwords.
- :mod:`.refusal` — the ``LeakBlocked`` raised when neither can be applied, naming
  each obstacle and its ``cause`` code.

Every public name is importable from ``leakguard.protection`` itself.
"""

from __future__ import annotations

from leakguard.protection.archive import new_password, zip_attachments
from leakguard.protection.certificates import (
    CERTIFICATE_CAUSES,
    CallableCertificates,
    CertificateProblem,
    CertificateReason,
    CertificateStore,
    FolderCertificates,
    find_certificate,
)
from leakguard.protection.headers import exposed_headers, header_text, renew_ids
from leakguard.protection.recognition import (
    Method,
    ProtectionState,
    container_encrypted,
    message_encrypted,
    protection_state,
)
from leakguard.protection.smime import smime_encrypt

__all__ = [
    "CERTIFICATE_CAUSES",
    "CallableCertificates",
    "CertificateProblem",
    "CertificateReason",
    "CertificateStore",
    "FolderCertificates",
    "Method",
    "ProtectionState",
    "container_encrypted",
    "exposed_headers",
    "find_certificate",
    "header_text",
    "message_encrypted",
    "new_password",
    "protection_state",
    "renew_ids",
    "smime_encrypt",
    "zip_attachments",
]
