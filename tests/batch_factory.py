"""Archives for the batch and cluster tests: clinic-like messages in an mbox (with
``From`` lines in bodies, quoted as mboxrd does), a Maildir and a folder of ``.eml``."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

from helpers import make_nir

DOCTOR = "dr.martin@cabinet-exemple.fr"
RECIPIENTS = [
    f"Dr Martin <{DOCTOR}>",
    "Laboratoire <resultats@labo-exemple.fr>",
    "Jeanne Petit <jeanne.petit@orange.fr>",
    "accueil@clinique-exemple.fr",
]


def clinic_message(i: int) -> bytes:
    """Message ``i``: a few recipients in turn, a date, one NIR in every third message,
    a small CSV export in every fifth, and a line that starts with ``From`` in some."""
    msg = EmailMessage()
    msg["From"] = "Secrétariat <secretariat@clinique-exemple.fr>"
    msg["To"] = RECIPIENTS[i % len(RECIPIENTS)]
    if i % 7 == 0:
        msg["Cc"] = RECIPIENTS[(i + 1) % len(RECIPIENTS)]
    msg["Subject"] = f"Dossier {i}"
    msg["Date"] = f"{1 + i % 28:02d} Nov 2026 {8 + i % 10:02d}:{i % 60:02d}:00 +0100"
    msg["Message-ID"] = f"<batch-{i}@clinique-exemple.fr>"
    body = f"Bonjour,\nvoici le suivi du dossier {i}.\n"
    if i % 3 == 0:
        body += f"NIR {make_nir(i)}\n"
    if i % 4 == 0:
        body += "From the desk of the secretariat: see below.\n"
    msg.set_content(body + "Cordialement,\nLe secrétariat\n")
    if i % 5 == 0:
        rows = "nom;nir\n" + "".join(f"Patient {k};{make_nir(i + k)}\n" for k in range(3))
        msg.add_attachment(rows.encode(), maintype="text", subtype="csv", filename=f"e{i}.csv")
    return bytes(msg)


def plain_message(i: int) -> bytes:
    """Message ``i`` as :func:`clinic_message` writes it, without an attachment, built
    from a template: fast enough for archives of thousands of messages."""
    cc = f"Cc: {RECIPIENTS[(i + 1) % len(RECIPIENTS)]}\n" if i % 7 == 0 else ""
    nir = f"NIR {make_nir(i)}\n" if i % 3 == 0 else ""
    return (
        "From: =?utf-8?q?Secr=C3=A9tariat?= <secretariat@clinique-exemple.fr>\n"
        f"To: {RECIPIENTS[i % len(RECIPIENTS)]}\n{cc}"
        f"Subject: Dossier {i}\n"
        f"Date: {1 + i % 28:02d} Nov 2026 {8 + i % 10:02d}:{i % 60:02d}:00 +0100\n"
        f"Message-ID: <batch-{i}@clinique-exemple.fr>\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\n"
        f"Bonjour,\nvoici le suivi du dossier {i}.\n{nir}Cordialement,\nLe secrétariat\n"
    ).encode()


def write_mbox(path: Path, raws: list[bytes]) -> Path:
    """An mbox as mail programs write it: a ``From`` line before each message, body
    lines starting with ``From`` quoted ``>From``, a blank line after each message."""
    with path.open("wb") as fh:
        for data in raws:
            fh.write(b"From secretariat@clinique-exemple.fr Mon Nov 23 09:00:00 2026\n")
            for line in data.replace(b"\r\n", b"\n").splitlines(keepends=True):
                fh.write(b">" + line if line.startswith((b"From ", b">From ")) else line)
            fh.write(b"\n")
    return path


def write_maildir(path: Path, raws: list[bytes]) -> Path:
    box = mailbox.Maildir(str(path), create=True)
    for data in raws:
        box.add(data)
    return path


def write_emls(folder: Path, raws: list[bytes], *, first: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, data in enumerate(raws, start=first):
        (folder / f"{n:05d}.eml").write_bytes(data)
    return folder


def mixed_archive(folder: Path, count: int) -> list[Path]:
    """An mbox with half the messages, a Maildir with a quarter and a folder of ``.eml``
    with the rest: the three inputs of a Sent folder export."""
    raws = [clinic_message(i) for i in range(count)]
    half, three = count // 2, count * 3 // 4
    return [
        write_mbox(folder / "Sent.mbox", raws[:half]),
        write_maildir(folder / "Maildir", raws[half:three]),
        write_emls(folder / "eml", raws[three:], first=three),
    ]
