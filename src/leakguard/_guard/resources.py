"""What a guard is built from: the policy, the colleagues' directory, the patient
register, the certificates, the learned correspondents and the MSSanté directory, each
given as an object or a path, else taken from the path the policy names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from leakguard.correspondents import Correspondents
from leakguard.errors import DirectoryError
from leakguard.policy import Policy
from leakguard.protection import CallableCertificates, CertificateStore, FolderCertificates
from leakguard.recipients import Directory, HealthDirectory
from leakguard.register import PatientRegister

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

    from leakguard.core import Fingerprinter

__all__ = ["Certificates", "Resources", "load_resources"]

_T = TypeVar("_T")
Source = str | os.PathLike[str]
#: A certificate store, a function that finds an address's certificate, or a folder.
Certificates = CertificateStore | Callable[[str], "Certificate | None"] | Source


@dataclass(frozen=True, slots=True)
class Resources:
    """Everything a guard decides and protects with, loaded."""

    policy: Policy
    directory: Directory
    register: PatientRegister | None
    certificates: CertificateStore | None
    #: Correspondents learned from the Sent folder (``leakguard learn``), if any.
    correspondents: Correspondents | None
    #: The national MSSanté directory, if any.
    health_directory: HealthDirectory | None


def load_resources(
    policy: Policy | Source | None,
    *,
    directory: Directory | Source | None,
    register: PatientRegister | Source | None,
    certificates: Certificates | None,
    correspondents: Correspondents | Source | None,
    health_directory: HealthDirectory | Source | None,
    fingerprinter: Fingerprinter,
    internal_domains: Iterable[str],
    strict_directory: bool,
) -> Resources:
    """Each resource in turn: the one given (object or path), else the policy's.

    A file that cannot be used raises the error ``leakguard check`` reports for it.
    """
    chosen = _policy(policy, internal_domains)
    return Resources(
        policy=chosen,
        directory=_directory(directory, chosen, strict=strict_directory),
        register=_loaded(
            register,
            chosen.register_path,
            PatientRegister,
            partial(PatientRegister.load, fingerprinter=fingerprinter),
        ),
        certificates=_certificates(certificates, chosen),
        correspondents=_loaded(
            correspondents, chosen.correspondents_path, Correspondents, Correspondents.open
        ),
        health_directory=_loaded(
            health_directory, chosen.health_directory_path, HealthDirectory, HealthDirectory.load
        ),
    )


def _loaded(
    given: _T | Source | None,
    default: Source | None,
    kind: type[_T],
    load: Callable[[Source], _T],
) -> _T | None:
    """``given`` when it is already a ``kind``, else what ``load`` makes of it (or of the
    policy's ``default`` path when nothing is given); ``None`` when neither is set."""
    chosen = default if given is None else given
    if chosen is None or isinstance(chosen, kind):
        return chosen
    return load(chosen)  # type: ignore[arg-type]  # not a kind: a path


def _policy(given: Policy | Source | None, domains: Iterable[str]) -> Policy:
    if isinstance(domains, str):  # one domain given alone: not its letters
        domains = (domains,)
    policy = (
        given
        if isinstance(given, Policy)
        else Policy.default()
        if given is None
        else Policy.load(given)
    )
    added = tuple(d.strip().lower().rstrip(".") for d in domains if d.strip())
    if added:
        merged = tuple(dict.fromkeys(policy.internal_domains + added))
        policy = policy.replace(internal_domains=merged)
    return policy


def _directory(given: Directory | Source | None, policy: Policy, *, strict: bool) -> Directory:
    directory = _loaded(given, policy.directory_path, Directory, Directory.load)
    if directory is None:
        return Directory.from_addresses(())
    if strict and directory.issues:
        shown = directory.source or "directory"
        first = directory.issues[0]
        count = len(directory.issues)
        error = DirectoryError(
            f"{shown}: {count} unusable line(s), the first at line {first.line} "
            f"({first.reason.rstrip('.')}); strict_directory makes this an error.",
            fr=f"{shown} : {count} ligne(s) inutilisable(s), la première à la ligne "
            f"{first.line} ({first.reason_fr.rstrip('.')}) ; strict_directory en fait une "
            "erreur.",
        )
        error.issues = directory.issues
        error.source = shown
        raise error
    return directory


def _certificates(given: Certificates | None, policy: Policy) -> CertificateStore | None:
    if given is None:
        given = policy.certificates_path
    if given is None or isinstance(given, CertificateStore):
        return given
    if isinstance(given, str | os.PathLike):
        return FolderCertificates(given)
    return CallableCertificates(given)
