"""Messages that keep every compiled search of the guard busy at once: long texts (read
by the bulk engines), medical phrases and form labels at places that differ from one
message to the next, identifiers in boxes and in clear. For the tests that run several
checks in parallel through a service and compare each answer with the one it gets alone.
"""

from __future__ import annotations

import random

from forms_factory import as_text, boxes
from helpers import make_nir

_FILLER = ("réunion", "dossier", "courrier", "planning", "salle", "agenda", "note", "bureau")
_MEDICAL = (
    "Compte rendu d'hospitalisation : diabète de type 2, traitement par insuline.",
    "Le patient présente une insuffisance cardiaque, suivi en cardiologie.",
    "Arrêt de travail de quinze jours. Ordonnance : amoxicilline 1 g.",
    "Résultats d'analyse : sérologie VIH négative, hépatite C positive.",
    "Consultation de psychiatrie pour un épisode dépressif sévère.",
)


def busy_text(seed: int, *, lines: int = 6000) -> str:
    """About 400 kB of ordinary words with, at places drawn from ``seed``, medical
    phrases, a form with a NIR in boxes and a NIR written in clear."""
    rng = random.Random(seed)
    body = [" ".join(rng.choice(_FILLER) for _ in range(10)) for _ in range(lines)]
    inserts = [rng.choice(_MEDICAL) for _ in range(1 + seed % 3)]
    inserts.append(as_text(boxes("nir", make_nir(100 + seed))))
    inserts += [f"NIR du patient : {make_nir(200 + seed + k)}" for k in range(seed % 4)]
    for insert in inserts:
        body.insert(rng.randrange(len(body)), insert)
    return "\n".join(body) + "\n"


def busy_message(seed: int, to: str = "dr.x@gmail.com", tag: str = "") -> bytes:
    """A whole message around :func:`busy_text`, to an outside address; ``tag`` tells
    apart copies of the same message (in their Message-ID)."""
    head = (
        f"From: secretariat@clinique-exemple.fr\r\nTo: {to}\r\nSubject: dossier {seed}\r\n"
        f"Message-ID: <busy-{seed}{tag}@clinique-exemple.fr>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return (head + busy_text(seed).replace("\n", "\r\n")).encode()
