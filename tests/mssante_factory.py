"""Files shaped like the national MSSanté extraction, for tests and benchmarks.

``write_extraction`` writes the real layout (UTF-8, ``|``, one header line, 31 columns)
with personal (PER) and organisational (ORG) mailboxes, addresses repeated on several
lines, homonyms and a few bad rows, quickly enough to make 535,000 rows once per test
session. A few fixed people (``KNOWN``) sit at known places so tests can name them.
"""

from __future__ import annotations

import random
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HEADER = (
    "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|"
    "Type identifiant structure|Identification Structure|Service de rattachement|"
    "Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Catégorie profession|"
    "Libellé de catégorie profession|Code Profession|Libellé Profession|Code savoir-faire|"
    "Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|"
    "Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION|L3COMPLEMENTDISTRIBUTION|"
    "L4NUMEROVOIE|L4COMPLEMENTNUMEROVOIE|NL4TYPEVOIE|L4LIBELLEVOIE|L5LIEUDITMENTION|"
    "L6LIGNEACHEMINEMENT|Code postal|Département|Pays"
)
assert HEADER.count("|") == 30

ZIP_MEMBER = "Extraction_Correspondance_MSSante_{stamp}.txt"

FIRST = (
    "Jean Marie Pierre Sophie Luc Anne Paul Julie Nicolas Camille Thomas Léa François "
    "Hélène Louis Emma Hugo Chloé Arthur Manon Jules Inès Gabriel Sarah Raphaël Lucie "
    "Adam Zoé Léo Alice Nathan Clara Antoine Laura Mathieu Pauline Alexandre Marine "
    "Maxime Océane Julien Élodie Romain Céline Vincent Aurélie Guillaume Mathilde Benoît "
    "Isabelle Olivier Nathalie Philippe Sylvie Christophe Valérie Éric Sandrine Jérôme "
    "Agnès Bérénice Cédric Damien Estelle Fabrice Gaëlle Hervé Josiane Karine Laurent"
).split()
LAST = (
    "MARTIN BERNARD DUBOIS THOMAS ROBERT RICHARD PETIT DURAND LEROY MOREAU SIMON LAURENT "
    "LEFEBVRE MICHEL GARCIA DAVID BERTRAND ROUX VINCENT FOURNIER MOREL GIRARD ANDRE "
    "LEFEVRE MERCIER DUPONT LAMBERT BONNET FRANCOIS MARTINEZ LEGRAND GARNIER FAURE "
    "ROUSSEAU BLANC GUERIN MULLER HENRY ROUSSEL NICOLAS PERRIN MORIN MATHIEU CLEMENT "
    "GAUTHIER DUMONT LOPEZ FONTAINE CHEVALIER ROBIN MASSON SANCHEZ GERARD NGUYEN BOYER "
    "DENIS LEMAIRE DUVAL JOLY GAUTIER ROGER ROCHE ROY NOEL MEYER LUCAS MEUNIER JEAN PEREZ "
    "MARCHAND DUFOUR BLANCHARD BARBIER BRUN DUMAS BRUNET SCHMITT LEROUX COLIN "
    "FERNANDEZ RENARD ARNAUD ROLLAND CARON AUBERT GIRAUD LE-GOFF KERGOAT N'DIAYE "
    "DE LA TOUR SAINT-MARTIN BOUCHER CARPENTIER LECLERC VASSEUR HUET TESSIER"
).split()
PROFESSIONS = (
    ("10", "Médecin", "DR"),
    ("21", "Pharmacien", "DR"),
    ("40", "Chirurgien-Dentiste", "DR"),
    ("50", "Sage-Femme", "MME"),
    ("60", "Infirmier", ""),
    ("70", "Masseur-Kinésithérapeute", "M"),
    ("80", "Pédicure-Podologue", "M"),
    ("91", "Orthophoniste", "MME"),
)
CITIES = (
    "rouen havre caen lille nantes rennes brest lyon grenoble dijon nancy metz reims "
    "amiens tours angers poitiers limoges bordeaux pau toulouse nimes montpellier "
    "marseille nice toulon avignon valence annecy chambery besancon mulhouse colmar "
    "strasbourg troyes orleans blois chartres evreux dieppe cherbourg vannes lorient quimper"
).split()
SERVICES = ("secretariat", "accueil", "cardiologie", "radiologie", "urgences", "pharmacie")


@dataclass(frozen=True, slots=True)
class Person:
    """A professional planted at a known line of a generated file."""

    civility: str
    first: str
    last: str
    profession: str
    address: str


#: Fixed people written into every generated file (before the random rows).
KNOWN: tuple[Person, ...] = (
    Person("DR", "Jérôme", "DUPONT-LEFÈVRE", "Médecin", "jerome.dupont-lefevre@medecin.mssante.fr"),
    Person("MME", "Agnès", "KERGUELEN", "Sage-Femme", "agnes.kerguelen@ch-brest.mssante.fr"),
    # Homonyms: four professionals named Bérénice Quintard, one of them twice (two lines).
    Person("DR", "Bérénice", "QUINTARD", "Médecin", "berenice.quintard@medecin.mssante.fr"),
    Person("", "Bérénice", "QUINTARD", "Infirmier", "berenice.quintard@infirmier.mssante.fr"),
    Person("DR", "Bérénice", "QUINTARD", "Pharmacien", "b.quintard@pharmacien.mssante.fr"),
    Person("DR", "Bérénice", "QUINTARD", "Médecin", "berenice.quintard2@medecin.mssante.fr"),
    Person("DR", "Bérénice", "QUINTARD", "Médecin", "berenice.quintard@medecin.mssante.fr"),
)
#: An organisational mailbox planted in every generated file.
KNOWN_ORG = "secretariat.cardiologie@chu-rouen.mssante.fr"


_TAIL = (
    "C|Civil|{code}|{label}|{skill_code}|{skill}|O|{org}||{l2}||{num}||RUE|{street}||{city}|"
    "{cp}|{dep}|FRANCE"
)
_ORG = "|".join(
    ["ORG", "{address}", "", "", "", "1", "R10000000000042", "Secrétariat"]
    + [""] * 9
    + ["O", "CENTRE HOSPITALIER", "CH"]
    + [""] * 7
    + ["76000 ROUEN", "76000", "76", "FRANCE"]
)
assert _ORG.count("|") == 30


def _row(
    kind: str, address: str, civility: str, last: str, first: str, code: str, label: str
) -> str:
    if kind == "ORG":
        return _ORG.format(address=address)
    head = (
        f"{kind}|{address}|8|10003456789|810003456789|1|R10000000000042||{civility}|{last}|{first}|"
    )
    return head + _TAIL.format(
        code=code,
        label=label,
        skill_code="",
        skill="",
        org="",
        l2="",
        num="12",
        street="DE LA PAIX",
        city="76000 ROUEN",
        cp="76000",
        dep="76",
    )


def known_rows() -> list[str]:
    rows = [_row("PER", p.address, p.civility, p.last, p.first, "10", p.profession) for p in KNOWN]
    rows.append(_row("ORG", KNOWN_ORG, "", "", "", "", ""))
    return rows


_ACCENTS = str.maketrans("éèêëàâîïôöûüçÉÈÊËÀÂÎÏÔÖÛÜÇ' ", "eeeeaaiioouucEEEEAAIIOOUUC--")
_SYLLABLES = (
    "ber nar du bois mar tin le roy mo reau si mon lau rent fe bvre mi chel gar cia "
    "da vid bou cher car pen tier vas seur hu et tes sier pou lain"
).split()


def _ascii(text: str) -> str:
    return text.translate(_ACCENTS).lower()


def random_rows(count: int, *, seed: int = 20) -> Iterator[str]:
    """``count`` rows of PER (about 85 %) and ORG mailboxes; about one address in ten
    appears on a second line, as for a professional working in two places. Surnames
    are drawn from common ones (many homonyms) and made-up ones (few)."""
    rnd = random.Random(seed)
    domains = [f"ch-{c}.mssante.fr" for c in CITIES] + [f"chu-{c}.mssante.fr" for c in CITIES]
    domains += [f"ght-{c}{i}.mssante.fr" for c in CITIES for i in range(20)]
    tails = {
        code: _TAIL.format(
            code=code,
            label=label,
            skill_code="SM54" if code == "10" else "",
            skill="Qualifié en médecine générale" if code == "10" else "",
            org="CABINET MEDICAL",
            l2="Bâtiment B",
            num="12",
            street="DE LA REPUBLIQUE",
            city="76000 ROUEN",
            cp="76000",
            dep="76",
        )
        for code, label, _ in PROFESSIONS
    }
    job_domains = {
        code: f"{_ascii(label).split('-')[0]}.mssante.fr" for code, label, _ in PROFESSIONS
    }
    used: set[str] = set()
    previous = ""
    randoms = [rnd.random() for _ in range(4 * count + 16)]
    firsts = rnd.choices(FIRST, k=count)
    commons = rnd.choices(LAST, k=count)
    made = ["".join(rnd.choices(_SYLLABLES, k=2 + (i % 2))).upper() for i in range(count)]
    jobs = rnd.choices(PROFESSIONS, k=count)
    picks = rnd.choices(domains, k=count)
    services = rnd.choices(SERVICES, k=count)
    for i in range(count):
        r = randoms[4 * i : 4 * i + 4]
        if previous and r[0] < 0.1:
            yield previous  # the same mailbox on a second line
            continue
        if r[1] < 0.15:
            previous = _ORG.format(address=f"{services[i]}.{i}@{picks[i]}")
            yield previous
            continue
        first = firsts[i]
        last = commons[i] if r[2] < 0.4 else made[i]
        code, _, civility = jobs[i]
        domain = job_domains[code] if r[3] < 0.5 else picks[i]
        local = f"{_ascii(first)}.{_ascii(last)}"
        address = f"{local}@{domain}"
        if address in used:
            address = f"{local}{i}@{domain}"
        used.add(address)
        previous = (
            f"PER|{address}|8|10003456789|810003456789|1|R10000000000042||{civility}|"
            f"{last}|{first}|{tails[code]}"
        )
        yield previous


def bad_rows() -> list[str]:
    """Rows a loader must count and skip: wrong column count, no address, bad type."""
    return [
        "PER|trop.court@medecin.mssante.fr|8|1000",  # 4 columns
        _row("PER", "trop.long@medecin.mssante.fr", "DR", "LONG", "Paul", "10", "Médecin")
        + "|extra",
        _row("PER", "", "DR", "SANSADRESSE", "Paul", "10", "Médecin"),
        _row("XYZ", "type.inconnu@medecin.mssante.fr", "DR", "TYPE", "Paul", "10", "Médecin"),
        _row("PER", "pas une adresse", "DR", "INVALIDE", "Paul", "10", "Médecin"),
    ]


def lines(
    rows: int, *, seed: int = 20, with_bad: bool = True, extra: Sequence[str] = ()
) -> Iterable[str]:
    """The header then ``rows`` data rows: the known people, ``extra``, random rows, and
    the bad rows spread through the file."""
    yield HEADER
    fixed = [*known_rows(), *extra]
    bad = bad_rows() if with_bad else []
    yield from fixed
    left = rows - len(fixed) - len(bad)
    step = max(1, left // (len(bad) + 1))
    for i, row in enumerate(random_rows(max(0, left), seed=seed)):
        if bad and i % step == step - 1:
            yield bad.pop()
        yield row
    yield from bad


def write_extraction(
    path: Path,
    rows: int = 2_000,
    *,
    seed: int = 20,
    with_bad: bool = True,
    extra: Sequence[str] = (),
    zipped: bool = False,
    stamp: str = "202405061432",
) -> Path:
    """Write a file of ``rows`` data rows (the header not counted) at ``path``.

    ``zipped``: a ZIP holding one ``Extraction_Correspondance_MSSante_<stamp>.txt``, as the
    ANS serves it.
    """
    text = "\n".join(lines(rows, seed=seed, with_bad=with_bad, extra=extra)) + "\n"
    data = text.encode("utf-8")
    if zipped:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            z.writestr(ZIP_MEMBER.format(stamp=stamp), data)
    else:
        path.write_bytes(data)
    return path
