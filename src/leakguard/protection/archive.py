"""Password archives: attachments moved into one AES-256 ZIP (WinZip AES), and the
random passwords for them."""

from __future__ import annotations

import copy
import email.message
import email.policy
import html
import io
import re
import secrets
from collections.abc import Collection

from leakguard.detectors import as_seen, find_identifiers
from leakguard.errors import ProtectionError
from leakguard.protection.recognition import _short_name

__all__ = [
    "new_password",
    "zip_attachments",
]


# The content headers a part loses when its body is replaced.
_CONTENT_PREFIX = "content-"

_NOTE = (
    "\n\n--\n"
    "Les pièces jointes de ce message ont été placées dans une archive chiffrée "
    "(AES-256) : {archive}. Le mot de passe vous est communiqué séparément.\n"
    "The attachments of this message have been placed in an encrypted archive "
    "(AES-256): {archive}. The password is sent to you separately.\n"
)


def zip_attachments(
    msg: email.message.EmailMessage,
    /,
    *,
    password: str,
    names: Collection[str] | None = None,
    archive_name: str = "documents-chiffres.zip",
) -> email.message.EmailMessage:
    """A copy of ``msg`` whose attachments are replaced by one AES-256 ZIP archive.

    ``names`` selects attachments by file name (default: every attachment; inline
    parts of an HTML body stay). A short note in French and English is added to the
    body; the password itself is never written into the message.
    """
    import pyzipper

    if len(password) < 8:
        raise ValueError(
            "The archive password is too short (at least 8 characters) / "
            "le mot de passe de l'archive est trop court (8 caractères au moins)."
        )
    out = copy.deepcopy(msg)
    wanted = None if names is None else set(names)
    chosen = _select_attachments(out, wanted)
    if wanted:
        present = {_part_name(p, 0) for _, p in chosen}
        present |= {_short_name(n) or "" for n in present}
        missing = len(wanted - present)
        if missing:
            raise ProtectionError(
                f"{missing} attachment(s) asked for are not in the message.",
                fr=f"{missing} pièce(s) jointe(s) demandée(s) absente(s) du message.",
                reason="attachment_not_found",
            )
    if not chosen:
        raise ProtectionError(
            "There is no attachment to put in an encrypted archive.",
            fr="Il n'y a aucune pièce jointe à placer dans une archive chiffrée.",
            reason="no_attachment",
        )

    buffer = io.BytesIO()
    used: set[str] = set()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode("utf-8"))
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for index, (_, part) in enumerate(chosen, start=1):
            member = _unique(_safe_member_name(_part_name(part, index), index), used)
            payload = part.get_payload(decode=True)
            if part.get_content_type() == "message/rfc822" or not isinstance(payload, bytes):
                payload = _part_bytes(part)
            archive.writestr(member, payload)

    for parent, part in chosen:
        _detach(parent, part)
    _prune_empty(out)
    _add_note(out, archive_name)
    out.add_attachment(
        buffer.getvalue(),
        maintype="application",
        subtype="zip",
        filename=archive_name,
    )
    return out


def _select_attachments(
    msg: email.message.EmailMessage, wanted: set[str] | None
) -> list[tuple[email.message.Message, email.message.Message]]:
    """``(parent, part)`` pairs of the attachments to move into the archive."""
    chosen: list[tuple[email.message.Message, email.message.Message]] = []
    stack: list[email.message.Message] = [msg]
    while stack:
        parent = stack.pop()
        if not parent.is_multipart() or parent.get_content_type() == "message/rfc822":
            continue
        children = parent.get_payload()
        if not isinstance(children, list):
            continue
        for child in children:
            if not isinstance(child, email.message.Message):
                continue
            if child.is_multipart() and child.get_content_type() != "message/rfc822":
                stack.append(child)
                continue
            disposition = (child.get_content_disposition() or "").lower()
            filename = child.get_filename()
            if wanted is not None:
                if filename is not None and (filename in wanted or _short_name(filename) in wanted):
                    chosen.append((parent, child))
            elif disposition == "attachment" or (filename is not None and disposition != "inline"):
                chosen.append((parent, child))
    return chosen


def _part_name(part: email.message.Message, index: int) -> str:
    name = part.get_filename()
    if name:
        return name
    return (
        f"message-{index}.eml"
        if part.get_content_type() == "message/rfc822"
        else (f"piece-jointe-{index}.bin")
    )


def _part_bytes(part: email.message.Message) -> bytes:
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
        return inner[0].as_bytes(policy=email.policy.SMTP)
    raw = part.get_payload(decode=True)
    return raw if isinstance(raw, bytes) else b""


def _safe_member_name(name: str, index: int) -> str:
    # Keep only the last path component: a member must never unpack outside its folder.
    base = re.split(r"[\\/]", name)[-1].strip().lstrip(".")
    base = "".join(ch for ch in base if ch.isprintable())[:200]
    if find_identifiers(as_seen(base)):
        # A ZIP encrypts its members' content, not their names: a name that carries a
        # number ("compte rendu <NIR>.pdf") would travel in clear, and is replaced.
        ext = re.search(r"\.[A-Za-z]{1,5}$", base)
        base = f"document-{index}{ext.group() if ext else ''}"
    return base or "piece-jointe"


def _unique(name: str, used: set[str]) -> str:
    candidate = name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 2
    while candidate.lower() in used:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        n += 1
    used.add(candidate.lower())
    return candidate


def _detach(parent: email.message.Message, part: email.message.Message) -> None:
    children = parent.get_payload()
    if isinstance(children, list):
        parent.set_payload([c for c in children if c is not part])


def _prune_empty(part: email.message.Message) -> bool:
    """Drop multiparts left empty; True when ``part`` itself is now empty."""
    if not part.is_multipart() or part.get_content_type() == "message/rfc822":
        return False
    children = part.get_payload()
    if not isinstance(children, list):
        return False
    kept: list[email.message.Message[str, str] | str] = [
        c for c in children if isinstance(c, email.message.Message) and not _prune_empty(c)
    ]
    part.set_payload(kept)
    return not kept


def _add_note(msg: email.message.EmailMessage, archive_name: str) -> None:
    note = _NOTE.format(archive=archive_name)
    if msg.is_multipart() and not msg.get_payload():
        # Only attachments were there: the note becomes the body.
        for name in [n for n in msg if n.lower().startswith(_CONTENT_PREFIX)]:
            del msg[name]
        msg.set_content(note.lstrip())
        return
    plain = msg.get_body(preferencelist=("plain",))
    rich = msg.get_body(preferencelist=("html",))
    try:
        if isinstance(plain, email.message.EmailMessage):
            plain.set_content(str(plain.get_content()) + note, subtype="plain")
        if isinstance(rich, email.message.EmailMessage):
            text = str(rich.get_content())
            block = "<p>" + html.escape(note.strip()).replace("\n", "<br>\n") + "</p>"
            cut = text.lower().rfind("</body>")
            text = text[:cut] + block + text[cut:] if cut >= 0 else text + block
            rich.set_content(text, subtype="html")
    except (LookupError, UnicodeError, ValueError):
        # A body in an unknown charset is left alone; the note travels beside it.
        plain = rich = None
    if plain is None and rich is None:
        if msg.get_content_type() != "multipart/mixed":
            msg.make_mixed()
        msg.attach(_note_part(note))


def _note_part(note: str) -> email.message.EmailMessage:
    part = email.message.EmailMessage()
    part.set_content(note.lstrip())
    return part


# --------------------------------------------------------------------------- passwords

_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_password() -> str:
    """A random password for an archive: 20 symbols (about 115 bits) in groups of four.

    The alphabet leaves out look-alikes (0/O/o, 1/l/I/i) so it can be read out or
    typed from a text message.
    """
    symbols = [secrets.choice(_ALPHABET) for _ in range(20)]
    return "-".join("".join(symbols[i : i + 4]) for i in range(0, 20, 4))
