"""The clinic's mail merge: one appointment letter per row of merge-rows.csv.

Each letter goes to the patient's secure health mailbox with an attestation that
carries the patient's name and social security number.
"""

from __future__ import annotations

import csv
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
SENDER = "Secrétariat <secretariat@clinique-exemple.fr>"

LETTER = """Bonjour {name},

Votre rendez-vous est confirmé le {day} à {time}.
Vous trouverez en pièce jointe votre attestation.

Le secrétariat
"""

ATTESTATION = """Attestation de rendez-vous
Patient : {name}
N° de sécurité sociale : {nir}
Rendez-vous : {day} à {time}
"""


def rows(path: Path = HERE / "merge-rows.csv") -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def render(row: dict[str, str]) -> EmailMessage:
    day, time = row["appointment"].split(" ")
    fields = {"name": row["name"], "nir": row["nir"], "day": day, "time": time}
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = f"{row['name']} <{row['email']}>"
    msg["Subject"] = f"Votre rendez-vous du {day}"
    msg.set_content(LETTER.format(**fields))
    msg.add_attachment(
        ATTESTATION.format(**fields).encode("utf-8"),
        maintype="text",
        subtype="plain",
        filename="attestation.txt",
    )
    return msg


def newsletter() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = "Patients <patients@clinique-exemple.fr>"
    msg["Subject"] = "Horaires d'hiver"
    msg.set_content("Bonjour,\nLa clinique ouvre de 8 h à 18 h du 1er décembre au 1er mars.\n")
    return msg
