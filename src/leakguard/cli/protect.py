"""``leakguard protect``: write the message ready to send, encrypted.

When the message cannot be protected, the reason names the option to change
(``--certificates``, ``--password-file``) and the real cause: which certificate file is
expired, not for encryption or unreadable, or which recipient has none.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from leakguard._files import read_limited
from leakguard.archives._read import MAX_MESSAGE_BYTES
from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    add_guard_options,
    build_guard,
    exit_codes,
    lang,
    os_reason,
    say,
    t,
    write_file,
)
from leakguard.core import Action
from leakguard.errors import InputError, LeakBlocked, LeakguardError, ProtectionError
from leakguard.message import require_message

if TYPE_CHECKING:
    from leakguard.guard import Guard, PasswordNotice


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "protect",
        help=t(
            "write the message ready to send, encrypted",
            "écrire le message prêt à envoyer, chiffré",
        ),
        description=t(
            "Check the message and write it ready to send: unchanged when it may leave as "
            "it is, S/MIME-encrypted when every recipient has a certificate in "
            "--certificates, else (with --password-file) its sensitive attachments in an "
            "AES-256 ZIP.",
            "Vérifie le message et l'écrit prêt à envoyer : inchangé s'il peut partir tel "
            "quel, chiffré en S/MIME si chaque destinataire a un certificat dans "
            "--certificates, sinon (avec --password-file) ses pièces jointes sensibles dans "
            "un ZIP AES-256.",
        ),
        epilog=exit_codes(
            t("the output file was written", "le fichier de sortie a été écrit"),
            t(
                "the message must not leave, or could not be protected: the reason names "
                "the option to change",
                "le message ne doit pas partir, ou n'a pas pu être protégé : la raison "
                "nomme l'option à changer",
            ),
        ),
    )
    p.add_argument(
        "--certificates",
        metavar=t("DIR", "DOSSIER"),
        required=True,
        help=t(
            "folder of recipients' certificates, named <address>.pem or <address>.der (required)",
            "dossier des certificats des destinataires, nommés <adresse>.pem ou "
            "<adresse>.der (obligatoire)",
        ),
    )
    add_guard_options(p)
    p.add_argument(
        "--password-file",
        metavar=t("FILE", "FICHIER"),
        help=t(
            "allow an AES-256 ZIP of the sensitive attachments when a recipient has no "
            "usable certificate; its password is written to FILE, readable by you only "
            "(default: no ZIP, such a message is refused)",
            "autoriser un ZIP AES-256 des pièces jointes sensibles quand un destinataire "
            "n'a pas de certificat utilisable ; son mot de passe est écrit dans FICHIER, "
            "lisible par vous seul (par défaut : pas de ZIP, un tel message est refusé)",
        ),
    )
    p.add_argument(
        "input",
        metavar="IN.eml",
        help=t("the message to protect", "le message à protéger"),
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.eml",
        required=True,
        help=t(
            "where to write the message ready to send (required)",
            "où écrire le message prêt à envoyer (obligatoire)",
        ),
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    passwords: list[PasswordNotice] = []
    guard = build_guard(args)
    guard.on_password = passwords.append if args.password_file else None
    src = Path(args.input)
    colon = t(": ", " : ")
    try:
        data = read_limited(src, MAX_MESSAGE_BYTES)
    except OSError as exc:
        say(f"{src}{colon}{os_reason(exc)}")
        return EXIT_ERROR
    try:
        require_message(data)  # an empty or binary file, a document: a usage error
    except InputError as exc:
        say(f"{src}{colon}{exc.message(lang())}")
        return EXIT_ERROR
    try:
        protected = guard.protect(data)
    except LeakBlocked as exc:
        verdict = exc.verdict
        say(f"{src}{colon}{verdict.action.label(lang())}")
        if verdict.action is Action.BLOCK:
            say(verdict.explain(lang()))
        else:
            for line in _why_not_protected(exc, guard, data, args):
                say(line)
            say(verdict.explain(lang()))
        return EXIT_FAIL
    if passwords:
        # The password goes to a separate file with owner-only permissions, never stdout;
        # it is written first, so a message is never left whose password was lost.
        pw = Path(args.password_file)
        secret = (passwords[-1].password + "\n").encode("utf-8")
        write_file(pw, secret, what=("the password", "le mot de passe"), mode=0o600)
        try:
            write_file(args.output, protected.as_bytes(), what=_MESSAGE)
        except LeakguardError:
            pw.unlink(missing_ok=True)  # no message: its password has no use
            raise
        out.write(
            t(
                f"written {args.output}; ZIP password in {pw}\n",
                f"écrit {args.output} ; mot de passe du ZIP dans {pw}\n",
            )
        )
    else:
        write_file(args.output, protected.as_bytes(), what=_MESSAGE)
        out.write(t(f"written {args.output}\n", f"écrit {args.output}\n"))
    return EXIT_OK


_MESSAGE = ("the message", "le message")


# --------------------------------------------------------------------------- why not


@dataclass(frozen=True, slots=True)
class _CertificateTrouble:
    cause: str  # certificate_expired, certificate_missing, ... (the LeakBlocked codes)
    address: str | None
    file: Path | None


def _cause_of(exc: LeakBlocked) -> tuple[str | None, str | None]:
    """The stable cause code (and file) of a refusal, wherever the library put it."""
    cause: object = getattr(exc, "cause", None)
    for candidate in (cause, exc.__cause__, exc.__context__):
        if isinstance(candidate, ProtectionError) and candidate.reason:
            return candidate.reason, candidate.path
    if isinstance(cause, str):
        path = getattr(exc, "path", None)
        return cause, path if isinstance(path, str) else None
    return None, None


def _recipients(guard: Guard, data: bytes) -> list[str]:
    """The recipients whose certificates the guard looked for: read as it reads them."""
    from leakguard._guard.recipients import read_recipients
    from leakguard.message import load_message

    try:
        msg = load_message(data)
    except Exception:  # a message that cannot be read only loses this detail
        return []
    found, _ = read_recipients(msg, None, guard.limits.max_header_chars)
    return sorted({r.address.strip().lower() for r in found})


def _certificate_troubles(guard: Guard, data: bytes) -> list[_CertificateTrouble]:
    from leakguard.protection import FolderCertificates

    store = guard.certificates
    if not isinstance(store, FolderCertificates):
        return []
    troubles: list[_CertificateTrouble] = []
    for address in _recipients(guard, data):
        problem = store.why_missing(address)
        if problem is not None:
            file = Path(problem.path) if problem.path else None
            troubles.append(_CertificateTrouble(problem.cause, address, file))
    return troubles


def _certificate_text(trouble: _CertificateTrouble, folder: Path) -> str:
    who = trouble.address or t("a recipient", "un destinataire")
    file = trouble.file or folder
    cause = trouble.cause
    if cause == "certificate_expired":
        return t(
            f"--certificates: the certificate of {who} has expired ({file}); ask for a new one",
            f"--certificates : le certificat de {who} a expiré ({file}) ; demandez-en un nouveau",
        )
    if cause == "certificate_not_yet_valid":
        return t(
            f"--certificates: the certificate of {who} is not valid yet ({file})",
            f"--certificates : le certificat de {who} n'est pas encore valide ({file})",
        )
    if cause in ("certificate_not_for_encryption", "certificate_unsupported_key"):
        return t(
            f"--certificates: the certificate of {who} may not be used for encryption "
            f"(its key usage lacks keyEncipherment, or its key is not RSA) ({file})",
            f"--certificates : le certificat de {who} ne permet pas le chiffrement "
            f"(usage de clé sans keyEncipherment, ou clé non RSA) ({file})",
        )
    if cause == "certificate_unreadable":
        return t(
            f"--certificates: {file} cannot be read as a PEM or DER certificate",
            f"--certificates : {file} ne peut pas être lu comme un certificat PEM ou DER",
        )
    return t(
        f"--certificates: no certificate for {who} in {folder} (expected {who}.pem or {who}.der)",
        f"--certificates : aucun certificat pour {who} dans {folder} "
        f"(attendu : {who}.pem ou {who}.der)",
    )


def _why_not_protected(
    exc: LeakBlocked, guard: Guard, data: bytes, args: argparse.Namespace
) -> list[str]:
    """Sentences naming the option to change and the real cause, in the output language."""
    folder = Path(args.certificates)
    code, path = _cause_of(exc)
    troubles = _certificate_troubles(guard, data)
    if not troubles and code and code.startswith("certificate_"):
        troubles = [_CertificateTrouble(code, None, Path(path) if path else None)]
    lines = [_certificate_text(trouble, folder) for trouble in troubles]
    in_text = [
        f
        for f in exc.verdict.findings
        if f.kind in guard.policy.sensitive_kinds and not f.location.is_attachment
    ]
    if in_text:
        lines.append(
            t(
                "sensitive data is in the message text or its subject, which an encrypted "
                "ZIP (--password-file) cannot protect: move it into an attachment, add the "
                "missing certificates to --certificates, or use secure health messaging",
                "des données sensibles figurent dans le texte ou l'objet du message, qu'un "
                "ZIP chiffré (--password-file) ne peut pas protéger : placez-les en pièce "
                "jointe, ajoutez les certificats manquants dans --certificates, ou "
                "utilisez une messagerie sécurisée de santé",
            )
        )
    elif code == "no_password_channel" or (
        not args.password_file and (code is None or code.startswith("certificate_"))
    ):
        lines.append(
            t(
                "no certificate for every recipient and no --password-file: give "
                "--password-file FILE to allow an AES-256 ZIP of the attachments",
                "pas de certificat pour chaque destinataire et pas de --password-file : "
                "ajoutez --password-file FICHIER pour autoriser un ZIP AES-256 des pièces "
                "jointes",
            )
        )
    else:
        reason = exc.message(lang())
        if reason != exc.verdict.explain(lang()):
            lines.append(reason)
    return lines
