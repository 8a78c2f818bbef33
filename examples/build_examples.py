"""Rebuild the bundled example messages and the incident scenarios under seeds/.

    pip install -e '.[test]' && python examples/build_examples.py

The outputs are committed, so users need nothing but ``pip install -e .`` to try
``leakguard check examples/``. Every person, address and number here is invented;
the numbers are built to pass their checksums.
"""

from __future__ import annotations

import sys
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from docs_factory import make_csv, make_docx, make_pdf, make_xlsx, make_zip  # noqa: E402

EXAMPLES = ROOT / "examples"
SEEDS = ROOT / "seeds"

PDF = ("application", "pdf")
DOCX = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
ZIP = ("application", "zip")
CSV = ("text", "csv")

FIRST = ["Jean", "Marie", "Paul", "Lucie", "Henri", "Chloé", "Louis", "Emma", "Hugo", "Léa"]
LAST = ["Durand", "Moreau", "Lefèvre", "Garnier", "Roux", "Fournier", "Girard", "Bonnet"]


def nir(i: int, *, sex: int = 1) -> str:
    """A valid NIR (born in a mainland department), spaced as on a Vitale card."""
    year = 40 + i % 60
    month = 1 + i % 12
    dept = 10 + i % 80
    first = f"{sex}{year:02d}{month:02d}{dept:02d}{100 + i % 800:03d}{(7 * i) % 1000:03d}"
    key = 97 - int(first) % 97
    v = f"{first}{key:02d}"
    return f"{v[0]} {v[1:3]} {v[3:5]} {v[5:7]} {v[7:10]} {v[10:13]} {v[13:]}"


def rib_parts(i: int) -> tuple[str, str, str, str]:
    bank, branch = "30006", f"{10000 + i:05d}"
    account = f"{40000000000 + 7919 * i:011d}"
    key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
    return bank, branch, account, f"{key:02d}"


def iban(i: int) -> str:
    bank, branch, account, key = rib_parts(i)
    bban = f"{bank}{branch}{account}{key}"
    check = 98 - int(bban + "152700") % 97  # FR -> 15 27, then 00
    v = f"FR{check:02d}{bban}"
    return " ".join(v[k : k + 4] for k in range(0, len(v), 4))


def niss(i: int) -> str:
    yy, mm, dd = 60 + i % 39, 1 + i % 12, 1 + i % 28
    first = f"{yy:02d}{mm:02d}{dd:02d}{100 + 2 * i:03d}"
    check = 97 - int(first) % 97
    return f"{first[0:2]}.{first[2:4]}.{first[4:6]}-{first[6:9]}.{check:02d}"


def nam(i: int, last: str, first: str) -> str:
    letters = (last.upper().replace("È", "E").replace("É", "E")[:3] + first.upper()[0]).ljust(
        4, "X"
    )
    yy, mm, dd = 30 + i % 60, 1 + i % 12, 1 + i % 28
    if i % 2:
        mm += 50
    return f"{letters} {yy:02d}{mm:02d} {dd:02d}{10 + i % 80:02d}"


def person(i: int) -> tuple[str, str]:
    return FIRST[i % len(FIRST)], LAST[(i * 3) % len(LAST)]


def mail(
    *,
    to: str,
    subject: str,
    body: str,
    sender: str = "Secrétariat <secretariat@clinique-exemple.fr>",
    cc: str | None = None,
    attachments: list[tuple[bytes, tuple[str, str], str]] | None = None,
    n: int = 1,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 09:00:00 +0100"
    msg["Message-ID"] = f"<example-{n}@clinique-exemple.fr>"
    msg.set_content(body)
    for data, (maintype, subtype), name in attachments or []:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def write(path: Path, msg: EmailMessage) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(msg))


# ---------------------------------------------------------------------- examples


def build_examples() -> None:
    (EXAMPLES / "colleagues.csv").write_text(
        "email,name\n"
        "accueil@clinique-exemple.fr,Accueil\n"
        "dr.martin@cabinet-exemple.fr,Claire Martin\n"
        "claire.martin@cabinet.mssante.fr,Claire Martin\n"
        "m.lecomte@gmail.com,Marc Lecomte\n"
        "teletransmission@cpam-exemple.fr,Télétransmission CPAM\n",
        encoding="utf-8",
    )
    ex = EXAMPLES
    write(
        ex / "01-rendez-vous.eml",
        mail(
            to="Claire Martin <dr.martin@cabinet-exemple.fr>",
            subject="Réunion de service",
            body="Bonjour,\nLa réunion de service est déplacée à jeudi 14 h.\nBonne journée\n",
            n=1,
        ),
    )
    report = make_pdf(
        [
            "Compte rendu de consultation",
            "Patient : Jean DURAND",
            f"Numéro de sécurité sociale : {nir(1)}",
            "Diagnostic : glaucome chronique (CIM-10 H40.1)",
            "Ordonnance jointe ; arrêt de travail de 3 jours.",
        ],
        pages=3,
    )
    write(
        ex / "02-compte-rendu-pdf.eml",
        mail(
            to="Claire Martin <dr.martin@cabinet-exemple.fr>",
            subject="Compte rendu M. Durand",
            body="Bonjour Docteur,\nVoici le compte rendu de votre patient.\nCordialement\n",
            attachments=[(report, PDF, "compte-rendu.pdf")],
            n=2,
        ),
    )
    first, last = person(2)
    invoice = make_docx(
        ["Facture n° 2026-118", f"Patiente : {first} {last}", "Remboursement par virement."],
        table=[["Titulaire", "IBAN"], [f"{first} {last}", iban(2)]],
    )
    write(
        ex / "03-facture-docx.eml",
        mail(
            to=f"{first} {last} <{first.lower()}.{last.lower()}@example.org>",
            subject="Votre facture",
            body="Bonjour,\nVeuillez trouver votre facture ci-jointe.\n",
            attachments=[(invoice, DOCX, "facture.docx")],
            n=3,
        ),
    )
    rows: list[list[str | int | float | None]] = [["Nom", "Prénom", "NIR", "Acte"]]
    for i in range(8):
        f, la = person(i)
        rows.append([la, f, nir(10 + i, sex=1 + i % 2), "Consultation"])
    write(
        ex / "04-export-xlsx.eml",
        mail(
            to="Service facturation <facturation@prestataire-exemple.fr>",
            subject="Export du mois",
            body="Bonjour,\nCi-joint l'export des consultations du mois.\n",
            attachments=[(make_xlsx(rows), XLSX, "export-consultations.xlsx")],
            n=4,
        ),
    )
    letter = make_docx(
        [f"Numéro de sécurité sociale : {nir(30)}", "Affection de longue durée (ALD)"]
    )
    listing = make_csv([["nom", "nir"], ["Garnier", nir(31, sex=2)]])
    archive = make_zip({"dossier/courrier.docx": letter, "dossier/liste.csv": listing})
    write(
        ex / "05-archive-zip.eml",
        mail(
            to="Mutuelle <gestion@mutuelle-exemple.fr>",
            subject="Dossier complet",
            body="Bonjour,\nLe dossier complet est dans l'archive.\n",
            attachments=[(archive, ZIP, "dossier.zip")],
            n=5,
        ),
    )
    inner = mail(
        to="accueil@clinique-exemple.fr",
        subject="Certificat",
        sender="Dr Peeters <dr.peeters@huisarts-exemple.be>",
        body="Bonjour,\nVoici le certificat.\n",
        attachments=[
            (
                make_pdf(
                    [
                        "Certificat d'incapacité de travail / arbeidsongeschiktheid",
                        f"NISS : {niss(3)}",
                    ]
                ),
                PDF,
                "certificat.pdf",
            )
        ],
        n=60,
    )
    fwd = mail(
        to="Médecine du travail <medecine@employeur-exemple.fr>",
        subject="TR: Certificat",
        body="Pour information, voir le message transféré.\n",
        n=6,
    )
    fwd.add_attachment(inner, filename="certificat.eml")
    write(ex / "06-transfert.eml", fwd)
    write(
        ex / "07-autocompletion.eml",
        mail(
            to="Marc Lecompte <m.lecompte@gmail.com>",
            subject="Télétransmission juin",
            body="Bonjour Marc,\nVoici les fichiers de télétransmission.\n",
            attachments=[(alliance_pdf(6), PDF, "teletransmission.pdf")],
            n=7,
        ),
    )
    write(
        ex / "08-interne.eml",
        mail(
            to="accueil@clinique-exemple.fr",
            subject="Dossier à classer",
            body=f"Merci de classer le dossier, NIR {nir(40)}.\n",
            n=8,
        ),
    )
    write(
        ex / "09-mssante.eml",
        mail(
            to="Dr Claire Martin <claire.martin@cabinet.mssante.fr>",
            subject="Compte rendu",
            body="Bonjour,\nCompte rendu via la messagerie sécurisée.\n",
            attachments=[(report, PDF, "compte-rendu.pdf")],
            n=9,
        ),
    )
    write(
        ex / "10-publipostage.eml",
        mail(
            to="Jeanne Petit <jeanne.petit@example.org>",
            subject="Votre attestation",
            body="Bonjour Madame Petit,\nVeuillez trouver votre attestation ci-jointe.\n",
            attachments=[
                (
                    make_pdf(
                        [
                            "Attestation de droits",
                            "Assuré : Paul DURAND",
                            f"NIR : {nir(50)}",
                        ]
                    ),
                    PDF,
                    "attestation.pdf",
                )
            ],
            n=10,
        ),
    )


def alliance_pdf(patients: int) -> bytes:
    lines = ["Télétransmission - feuilles de soins (centre de vision, Le Havre)"]
    for i in range(patients):
        f, la = person(i)
        bank, branch, account, key = rib_parts(i)
        lines.append(f"{la} {f} - NIR {nir(100 + i, sex=1 + i % 2)} - acte BZQK001 (CCAM)")
        lines.append(f"   RIB {bank} {branch} {account} {key}")
    return make_pdf(lines)


# ---------------------------------------------------------------------- seeds


def seed(name: str, msg: EmailMessage, scenario: str, policy: str, colleagues: str | None) -> None:
    folder = SEEDS / name
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "message.eml", msg)
    (folder / "scenario.toml").write_text(scenario, encoding="utf-8")
    (folder / "policy.toml").write_text(policy, encoding="utf-8")
    if colleagues is not None:
        (folder / "colleagues.csv").write_text(colleagues, encoding="utf-8")


def build_seeds() -> None:
    vision_colleagues = (
        "email,name\n"
        "m.lecomte@gmail.com,Marc Lecomte\n"
        "accueil@vision-lehavre-exemple.fr,Accueil\n"
        "teletransmission@cpam-exemple.fr,Télétransmission CPAM\n"
    )
    vision_policy = (
        '[organisation]\ninternal_domains = ["vision-lehavre-exemple.fr"]\n'
        '[directory]\npath = "colleagues.csv"\n'
    )
    seed(
        "alliance-vision",
        mail(
            sender="Secrétariat <secretariat@vision-lehavre-exemple.fr>",
            to="Marc Lecompte <m.lecompte@gmail.com>",
            subject="Télétransmission juin",
            body="Bonjour,\nVoici les fichiers de télétransmission du mois.\n",
            attachments=[(alliance_pdf(20), PDF, "teletransmission.pdf")],
        ),
        '[incident]\nname = "Alliance Vision, Le Havre (June 2023)"\n'
        'what = "Autocomplete picked an ex-client one letter away from a colleague; '
        'the attachment held NIR, bank details and medical acts of twenty patients."\n'
        '[expect]\naction = "block"\n'
        'kinds = ["lookalike_recipient", "nir", "rib", "health_data", "many_people", '
        '"unencrypted_sensitive"]\n',
        vision_policy,
        vision_colleagues,
    )
    seed(
        "alliance-vision-right-colleague",
        mail(
            sender="Secrétariat <secretariat@vision-lehavre-exemple.fr>",
            to="Marc Lecomte <m.lecomte@gmail.com>",
            subject="Télétransmission juin",
            body="Bonjour,\nVoici les fichiers de télétransmission du mois.\n",
            attachments=[(alliance_pdf(20), PDF, "teletransmission.pdf")],
        ),
        '[incident]\nname = "Alliance Vision, control: the right colleague"\n'
        'what = "The same file to the real colleague, a personal mailbox outside: it must '
        'be encrypted, but nobody is a look-alike."\n'
        '[expect]\naction = "encrypt"\nkinds = ["nir", "many_people", "unencrypted_sensitive"]\n'
        'absent = ["lookalike_recipient", "lookalike_domain"]\n',
        vision_policy,
        vision_colleagues,
    )
    rows: list[list[str | int | float | None]] = [
        ["Nom", "Prénom", "Adresse", "Âge", "NAM", "Dossier", "Service visité"]
    ]
    for i in range(80):
        f, la = person(i)
        rows.append(
            [
                la,
                f,
                f"{10 + i} rue Principale, Longueuil",
                30 + i % 50,
                nam(i, la, f),
                f"D{100000 + i}",
                "Cardiologie",
            ]
        )
    seed(
        "unicause-quebec",
        mail(
            sender="Fondation <fondation@hopital-exemple.qc.ca>",
            to="Campagne <campagne@agence-publipostage-exemple.ca>",
            subject="Liste pour la campagne de dons",
            body="Bonjour,\nVoici la liste des patients pour le publipostage.\n",
            attachments=[(make_xlsx(rows), XLSX, "liste-campagne.xlsx")],
        ),
        '[incident]\nname = "Unicause / CISSS de la Montérégie-Centre (2023)"\n'
        'what = "Patient records handed to a fundraising agency for a mail-merge campaign."\n'
        '[expect]\naction = "block"\nkinds = ["qc_nam", "many_people", "unencrypted_sensitive"]\n',
        '[organisation]\ninternal_domains = ["hopital-exemple.qc.ca"]\n',
        None,
    )
    nir_rows = [["nom", "prenom", "date_naissance", "nir", "organisme", "garanties"]]
    for i in range(300):
        f, la = person(i)
        nir_rows.append(
            [
                la,
                f,
                f"{1 + i % 28:02d}/{1 + i % 12:02d}/19{40 + i % 60}",
                nir(1000 + i, sex=1 + i % 2),
                "Mutuelle Exemple",
                "Optique 200 %",
            ]
        )
    seed(
        "viamedis-almerys",
        mail(
            sender="Gestion <gestion@tiers-payant-exemple.fr>",
            to="Partenaire <echange@partenaire-exemple.com>",
            subject="Extraction bénéficiaires",
            body="Bonjour,\nCi-joint l'extraction demandée.\n",
            attachments=[(make_csv(nir_rows), CSV, "beneficiaires.csv")],
        ),
        '[incident]\nname = "Viamedis and Almerys (2024)"\n'
        'what = "Files listing NIR with civil status: a bulk export that must never travel '
        'by plain e-mail."\n'
        '[expect]\naction = "block"\nkinds = ["nir", "many_people", "unencrypted_sensitive"]\n',
        '[organisation]\ninternal_domains = ["tiers-payant-exemple.fr"]\n',
        None,
    )
    rights = [
        "Extraction des droits - portail professionnel",
        *(
            f"{person(i)[1]} {person(i)[0]} NIR {nir(2000 + i)} médecin traitant déclaré ; "
            + (
                "ALD (affection de longue durée) 100 %"
                if i % 2
                else "complémentaire santé solidaire"
            )
            for i in range(5)
        ),
    ]
    seed(
        "portail-assurance-maladie",
        mail(
            sender="Cabinet <contact@cabinet-exemple.fr>",
            to="Contact <contact@inconnu-exemple.com>",
            subject="Droits des assurés",
            body="Voici les droits consultés.\n",
            attachments=[(make_pdf(rights), PDF, "droits.pdf")],
        ),
        '[incident]\nname = "Assurance maladie professional portal (2024)"\n'
        'what = "Rights data (declared GP, solidarity cover, long-term illness) with NIR: '
        'health data that reveals chronic illness."\n'
        '[expect]\naction = "encrypt"\nkinds = ["nir", "health_data", "many_people", '
        '"unencrypted_sensitive"]\n',
        '[organisation]\ninternal_domains = ["cabinet-exemple.fr"]\n',
        None,
    )
    table = [["Naam / Nom", "NISS", "Attest", "Arbeidsongeschiktheid", "Opmerking"]]
    for i in range(12):
        f, la = person(i)
        table.append(
            [
                f"{la} {f}",
                niss(i),
                "certificat médical",
                f"{50 + i * 4} %",
                "accident du travail" if i % 3 == 0 else "ziekte",
            ]
        )
    seed(
        "medicheck-belgique",
        mail(
            sender="Contrôle <controle@medicheck-exemple.be>",
            to="RH <rh@employeur-exemple.be>",
            subject="Rapports de contrôle / controleverslagen",
            body="Bonjour,\nLes rapports de contrôle de la semaine.\n",
            attachments=[
                (make_docx(["Rapports de contrôle médical"], table=table), DOCX, "rapports.docx")
            ],
        ),
        '[incident]\nname = "MediCheck, Belgium (September 2024)"\n'
        'what = "Sick-leave control records: national numbers, incapacity percentage, '
        'work accidents, in French and Dutch."\n'
        '[expect]\naction = "encrypt"\nkinds = ["be_niss", "health_data", "many_people", '
        '"unencrypted_sensitive"]\n',
        '[organisation]\ninternal_domains = ["medicheck-exemple.be"]\n',
        None,
    )


if __name__ == "__main__":
    build_examples()
    build_seeds()
    print("examples and seeds written")
