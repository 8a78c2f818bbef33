"""Rebuild the Alliance Vision Sent folder: the month's mbox, the patient register, and
what ``leakguard affected`` must answer for the ex-client's address.

    pip install -e '.[test]' && python examples/build_sent_folder.py

Writes ``seeds/alliance-vision/sent-2023-06.mbox``, ``patients.csv`` and
``affected.toml``. The centre sent its June "télétransmission" files to the health
insurance fund, to a colleague and, by autocomplete, twice to an ex-client whose
address is one letter away from that colleague's. Every person and number is invented;
the numbers pass their checksums.
"""

from __future__ import annotations

import mailbox
from email import message_from_bytes
from email.policy import compat32

from build_examples import PDF, SEEDS, mail, nir, person, rib_parts

from docs_factory import make_pdf

FOLDER = SEEDS / "alliance-vision"
SENDER = "Secrétariat <secretariat@vision-lehavre-exemple.fr>"
EX_CLIENT = "m.lecompte@gmail.com"
PATIENTS = 30


def patient_id(i: int) -> str:
    return f"AV-{i + 1:03d}"


def rib(i: int) -> str:
    return " ".join(rib_parts(i))


def batch_pdf(indices: range) -> bytes:
    lines = ["Télétransmission - feuilles de soins (centre de vision, Le Havre)"]
    for i in indices:
        first, last = person(i)
        lines.append(f"{last} {first} - NIR {nir(100 + i, sex=1 + i % 2)} - acte BZQK001 (CCAM)")
        lines.append(f"   RIB {rib(i)}")
    return make_pdf(lines)


def sent_messages() -> list[bytes]:
    def dated(
        day: int,
        n: int,
        *,
        to: str,
        subject: str,
        body: str,
        attachments: list[tuple[bytes, tuple[str, str], str]] | None = None,
    ) -> bytes:
        msg = mail(sender=SENDER, to=to, subject=subject, body=body, attachments=attachments)
        msg.replace_header("Date", f"{day:02d} Jun 2023 10:{n:02d}:00 +0200")
        msg.replace_header("Message-ID", f"<juin-{n}@vision-lehavre-exemple.fr>")
        return bytes(msg)

    body = "Bonjour,\nVoici les fichiers de télétransmission.\n"
    return [
        dated(
            2,
            1,
            to="Télétransmission CPAM <teletransmission@cpam-exemple.fr>",
            subject="Télétransmission juin (lot complet)",
            body=body,
            attachments=[(batch_pdf(range(PATIENTS)), PDF, "teletransmission.pdf")],
        ),
        dated(
            5,
            2,
            to=f"Marc Lecompte <{EX_CLIENT}>",
            subject="Télétransmission juin (1/2)",
            body=body,
            attachments=[(batch_pdf(range(0, 12)), PDF, "teletransmission-1.pdf")],
        ),
        dated(
            9,
            3,
            to="Accueil <accueil@vision-lehavre-exemple.fr>",
            subject="Dossier à compléter",
            body=f"Bonjour,\nle dossier de {' '.join(person(25))} est à compléter.\n",
        ),
        dated(
            12,
            4,
            to="Marc Lecomte <m.lecomte@gmail.com>",
            subject="Télétransmission juin (centre)",
            body=body,
            attachments=[(batch_pdf(range(20, 30)), PDF, "teletransmission-centre.pdf")],
        ),
        dated(
            16,
            5,
            to=f"Marc Lecompte <{EX_CLIENT}>",
            subject="Télétransmission juin (2/2)",
            body=body,
            attachments=[(batch_pdf(range(8, 20)), PDF, "teletransmission-2.pdf")],
        ),
        dated(
            20,
            6,
            to=f"Marc Lecompte <{EX_CLIENT}>",
            subject="Re: Télétransmission juin",
            body="Bonjour,\npouvez-vous confirmer la bonne réception des deux lots ?\n",
        ),
        dated(
            26,
            7,
            to="Jean Durand <jean.durand@exemple.fr>",
            subject="Votre rendez-vous",
            body="Bonjour,\nvotre rendez-vous est confirmé le 3 juillet à 10 h.\n",
        ),
    ]


def main() -> None:
    path = FOLDER / "sent-2023-06.mbox"
    path.unlink(missing_ok=True)
    box = mailbox.mbox(str(path))
    for data in sent_messages():
        box.add(mailbox.mboxMessage(message_from_bytes(data, policy=compat32)))
    box.flush()
    box.close()
    rows = ["id,name,email,nir,rib"]
    for i in range(PATIENTS):
        first, last = person(i)
        email = f"{first.lower()}.{last.lower()}{i}@patient-exemple.fr"
        number = nir(100 + i, sex=1 + i % 2)
        rows.append(f"{patient_id(i)},{first} {last},{email},{number},{rib(i)}")
    (FOLDER / "patients.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    ids = ", ".join(f'"{patient_id(i)}"' for i in range(20))
    (FOLDER / "affected.toml").write_text(
        "# What `leakguard affected` must answer for this Sent folder.\n"
        "[affected]\n"
        'archive = "sent-2023-06.mbox"\n'
        'register = "patients.csv"\n'
        f'recipient = "{EX_CLIENT}"\n'
        "messages = 2  # messages to the ex-client that carried identifiers\n"
        f"patients = [{ids}]\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
