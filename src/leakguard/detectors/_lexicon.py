"""Context words and medical vocabulary, one lexicon per language, as whole-word patterns.

Words are written plainly here; :func:`words` turns them into one compiled pattern that
ignores case and accents and matches whole words only (``lic`` never fires inside
``duplicate``). Acronyms are kept apart: they match in capitals only (``AME``, not ``âme``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping

from leakguard.detectors._programs import compiled

__all__ = [
    "CCAM_ACRONYMS",
    "CCAM_CONTEXT",
    "CCAM_WORDS",
    "CONTEXT",
    "FIELD_LABELS",
    "HEALTH_ACRONYMS",
    "HEALTH_WORDS",
    "ICD_ACRONYMS",
    "ICD_CONTEXT",
    "ICD_WORDS",
    "bare",
    "context_pattern",
    "fold_pattern",
    "fold_tokens",
    "words",
]

# Accented forms a person (or a PDF extractor) may use for each base letter.
_FOLD: Mapping[str, str] = {
    "a": "[aàâäáã]",
    "e": "[eéèêë]",
    "i": "[iîïí]",
    "o": "[oôöó]",
    "u": "[uùûüú]",
    "c": "[cç]",
    "n": "[nñ]",
    "y": "[y]",
}
# Inside a phrase: spaces (any kind, a few), an apostrophe of either shape, a hyphen.
_SPACE = r"[\s\u00a0\u202f]{1,3}"
_APOS = r"[\s\u00a0]?['’`´]?[\s\u00a0]?"
_HYPHEN = r"[\-\u2010\u2011\s\u00a0]{0,2}"


@functools.lru_cache(maxsize=4096)
def bare(phrase: str) -> str:
    """``phrase`` in lower case without accents (``Arrêt`` -> ``arret``). The lexicons'
    phrases are folded several times as the detectors' tables are built: kept."""
    return "".join(
        c for c in unicodedata.normalize("NFKD", phrase.lower()) if not unicodedata.combining(c)
    )


def fold_tokens(phrase: str, *, cased: bool = False) -> list[str]:
    """One regex fragment per character of ``phrase``, insensitive to accents.

    Spaces, apostrophes and hyphens accept their usual variants; ``°`` stands for "n°"
    style abbreviations and may be typed as ``º`` or ``o``. With ``cased``, every letter
    becomes an explicit class of both cases (for use without ``re.IGNORECASE``, whose
    Unicode folding also accepts look-alikes such as the Kelvin sign: the medical
    prefilter must see exactly what the pattern sees).
    """
    out: list[str] = []
    # Written with or without accents here, matched with or without them in the text.
    for ch in bare(phrase):
        if cased and ch.isalpha():
            forms = _FOLD.get(ch, f"[{ch}]")[1:-1]
            out.append(f"[{forms}{forms.upper()}]")
        elif ch in _FOLD:
            out.append(_FOLD[ch])
        elif ch == " ":
            out.append(_SPACE)
        elif ch in "'’":
            out.append(_APOS)
        elif ch == "-":
            out.append(_HYPHEN)
        elif ch == "°":
            out.append(r"(?:[°º]|o\.?|\.)")
        else:
            out.append(re.escape(ch))
    return out


def fold_pattern(phrase: str, *, cased: bool = False) -> str:
    """A regex fragment for ``phrase`` (see :func:`fold_tokens`)."""
    return "".join(fold_tokens(phrase, cased=cased))


def _alternation(phrases: Iterable[str]) -> str:
    # Longest first, so that "accident du travail" wins over a shorter prefix.
    return "|".join(fold_pattern(p) for p in sorted(set(phrases), key=lambda p: (-len(p), p)))


def words(
    phrases: Iterable[str], acronyms: Iterable[str] = (), *, cased: bool = False
) -> re.Pattern[str]:
    """One whole-word pattern for ``phrases`` (any case, any accents) and ``acronyms``."""
    ordered = sorted(set(phrases), key=lambda p: (-len(p), p))
    if cased:
        parts = ["|".join(fold_pattern(p, cased=True) for p in ordered)]
    else:
        parts = [f"(?i:{_alternation(ordered)})"]
    acr = sorted(set(acronyms), key=lambda a: (-len(a), a))
    if acr:
        parts.append("|".join(re.escape(a) for a in acr))
    return compiled(r"(?<![^\W_])(?:" + "|".join(parts) + r")(?![^\W_])")


# --------------------------------------------------------------------------- context words
# Words that, near a number, say which identifier it is. Per identifier, per language.

CONTEXT: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "nir": {
        "fr": (
            "numéro de sécurité sociale",
            "sécurité sociale",
            "n° SS",
            "n° de SS",
            "n° sécu",
            "numéro de sécu",
            "code sécu",
            "sécu",
            "NIR",
            "INSEE",
            "numéro INSEE",
            "INS",
            "matricule",
            "immatriculation",
            "carte Vitale",
            "assuré",
            "assurée",
            "assuré social",
        ),
        "en": ("social security number", "French social security"),
    },
    "be_niss": {
        "fr": ("numéro national", "registre national", "NISS", "numéro BIS", "BIS"),
        "nl": (
            "rijksregisternummer",
            "rijksregister",
            "INSZ",
            "identificatienummer",
            "BIS-nummer",
        ),
        "en": ("national number", "national register number"),
    },
    "qc_nam": {
        "fr": (
            "RAMQ",
            "NAM",
            "assurance maladie",
            "carte soleil",
            "numéro d'assurance maladie",
            "carte d'assurance maladie",
        ),
        "en": ("health insurance number", "health card", "Medicare"),
    },
    "ca_sin": {
        "fr": ("NAS", "numéro d'assurance sociale", "assurance sociale"),
        "en": ("SIN", "social insurance number", "social insurance"),
    },
}


# --------------------------------------------------------------------------- form fields
# The labels printed next to an identifier's boxes on forms and bank documents (CERFA
# sick-leave and care forms, salary attestations, bank details), per field. A field is an
# identifier kind, or a part of one: ``.key`` is a check key in boxes of its own (NIR or
# RIB), the ``rib.`` fields the four parts of bank details, ``other`` the fields next
# to them that hold no identifier (a field ends there). These are field labels, not
# context words: a form prints them right before (or above) the value.

FIELD_LABELS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "nir": {
        "fr": (
            "numéro d'immatriculation", "n° d'immatriculation", "n° immatriculation",
            "immatriculation", "numéro de sécurité sociale", "n° de sécurité sociale",
            "n° sécurité sociale", "sécurité sociale", "n° SS", "n° de SS", "numéro SS",
            "NIR", "n° NIR", "numéro INSEE", "n° INSEE",
        ),
        "en": ("social security number",),
    },
    ".key": {"fr": ("clé", "clef", "clé NIR")},
    "rib.bank": {
        "fr": (
            "code banque", "banque", "code établissement", "établissement", "code étab",
            "étab",
        ),
    },
    "rib.branch": {"fr": ("code guichet", "guichet")},
    "rib.account": {
        "fr": (
            "numéro de compte", "n° de compte", "n° compte", "numéro du compte", "compte",
        ),
    },
    # "cléRIB": as OCR often reads it.
    "rib.key": {"fr": ("clé RIB", "clé R.I.B.", "clef RIB", "cléRIB")},
    "iban": {"fr": ("IBAN", "n° IBAN", "numéro IBAN", "code IBAN")},
    "other": {"fr": ("BIC", "code BIC", "SWIFT", "code SWIFT")},
    "be_niss": {
        "fr": (
            "NISS", "n° NISS", "numéro NISS", "numéro de registre national",
            "n° de registre national", "n° registre national", "registre national",
            "numéro national", "numéro BIS", "n° BIS",
        ),
        "nl": ("rijksregisternummer", "rijksregister", "INSZ", "INSZ-nummer", "BIS-nummer"),
        "en": ("national register number", "national number"),
    },
    "qc_nam": {
        "fr": (
            "NAM", "numéro d'assurance maladie", "n° d'assurance maladie",
            "numéro de carte d'assurance maladie", "RAMQ", "n° RAMQ",
        ),
        "en": ("health insurance number",),
    },
    "ca_sin": {
        "fr": ("NAS", "numéro d'assurance sociale", "n° d'assurance sociale"),
        "en": ("SIN", "social insurance number"),
    },
}  # fmt: skip


# Labels of numbers that belong to no patient: professional, company and order numbers.
# A checksum-valid number right after one of them (and with no identifier word near) is
# that number, not a person's: a doctor's RPPS or INAMI number in a signature passes the
# NISS check about once in a hundred.
OTHER_NUMBER_LABELS: Mapping[str, tuple[str, ...]] = {
    "fr": (
        "RPPS", "ADELI", "FINESS", "SIRET", "SIREN", "RCS", "TVA", "TVA intracommunautaire",
        "INAMI", "n° de commande", "n° de facture", "n° de suivi", "EAN", "IMEI",
    ),
    "nl": ("RIZIV", "ondernemingsnummer", "btw-nummer", "BTW", "KBO"),
    "en": ("order number", "invoice number", "tracking number", "VAT number"),
}  # fmt: skip


def other_number_labels() -> re.Pattern[str]:
    """The whole-word pattern of every label in :data:`OTHER_NUMBER_LABELS`."""
    phrases = [p for lang in OTHER_NUMBER_LABELS.values() for p in lang]
    acr = [p for p in phrases if p.isupper() and " " not in p]
    return words([p for p in phrases if p not in acr], acr)


def context_pattern(kind: str) -> re.Pattern[str]:
    """The whole-word pattern of every context word for ``kind``, all languages."""
    phrases = [p for lang in CONTEXT[kind].values() for p in lang]
    # Short capital acronyms (NIR, NAS, SIN, BIS…) are matched in capitals only:
    # "sin", "nas" or "bis" in lower case are ordinary words.
    acr = [p for p in phrases if p.isupper() and " " not in p]
    rest = [p for p in phrases if p not in acr]
    return words(rest, acr)


# --------------------------------------------------------------------------- health words
# Medical vocabulary by category (the keys of ``core._HEALTH``), French, Dutch, English.
# Deliberately absent, because they are common outside medicine on their own:
# "prescription" alone (in French law, a time limit: "prescription de la créance"),
# "licence", "patient" (a French adjective), "operatie"/"operation", "recept" (a recipe),
# "traitement" (data processing), "soins" alone, "CSS" (style sheets).

HEALTH_WORDS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "diagnosis": {
        "fr": (
            "diagnostic médical",
            "diagnostic",
            "diagnostiqué",
            "diagnostiquée",
            "pathologie",
            "antécédents médicaux",
        ),
        "nl": ("diagnose", "gediagnosticeerd", "medische voorgeschiedenis"),
        "en": ("diagnosis", "diagnosed", "medical history"),
    },
    "prescription": {
        "fr": (
            "ordonnance",
            "ordonnances",
            "ordonnance médicale",
            "prescription médicale",
            "prescriptions médicales",
            "sur prescription",
            "prescription de médicaments",
        ),
        "nl": (
            "voorschrift",
            "medisch voorschrift",
            "doktersvoorschrift",
            "geneesmiddelenvoorschrift",
        ),
        "en": (
            "medical prescription",
            "prescription drug",
            "prescription drugs",
            "prescription medication",
            "prescribed medication",
        ),
    },
    "sick_leave": {
        "fr": (
            "arrêt de travail",
            "arrêts de travail",
            "arrêt maladie",
            "congé maladie",
            "congé de maladie",
            "incapacité de travail",
            "taux d'incapacité",
            "incapacité permanente",
            "invalidité",
            "mi-temps thérapeutique",
        ),
        "nl": (
            "arbeidsongeschiktheid",
            "arbeidsongeschikt",
            "ziekteverlof",
            "graad van arbeidsongeschiktheid",
            "ongeschiktheidsgraad",
            "ziektebriefje",
        ),
        "en": (
            "sick leave",
            "sick note",
            "work incapacity",
            "incapacity for work",
            "medical leave",
            "disability rate",
        ),
    },
    "work_accident": {
        "fr": (
            "accident du travail",
            "accident de travail",
            "accidents du travail",
            "maladie professionnelle",
            "accident de trajet",
        ),
        "nl": ("arbeidsongeval", "arbeidsongevallen", "beroepsziekte", "ongeval op het werk"),
        "en": (
            "work accident",
            "workplace accident",
            "workplace injury",
            "occupational disease",
            "work-related injury",
        ),
    },
    "medical_act": {
        "fr": (
            "acte médical",
            "actes médicaux",
            "intervention chirurgicale",
            "chirurgie",
            "hospitalisation",
            "hospitalisé",
            "hospitalisée",
            "consultation médicale",
            "acte chirurgical",
            "actes chirurgicaux",
        ),
        "nl": (
            "medische handeling",
            "medische handelingen",
            "chirurgische ingreep",
            "ziekenhuisopname",
            "gehospitaliseerd",
        ),
        "en": (
            "medical procedure",
            "surgical procedure",
            "surgery",
            "hospitalisation",
            "hospitalization",
            "hospitalised",
            "hospitalized",
        ),
    },
    "medical_report": {
        "fr": (
            "compte rendu opératoire",
            "compte-rendu opératoire",
            "compte rendu d'hospitalisation",
            "compte rendu médical",
            "certificat médical",
            "certificats médicaux",
            "dossier médical",
            "rapport médical",
            "résultats d'analyses",
            "examen médical",
            "contrôle médical",
            "lettre de liaison",
        ),
        "nl": (
            "medisch verslag",
            "medisch attest",
            "medisch getuigschrift",
            "medisch dossier",
            "operatieverslag",
            "ontslagbrief",
            "medische controle",
        ),
        "en": (
            "medical report",
            "medical record",
            "medical records",
            "medical certificate",
            "operative report",
            "discharge summary",
            "medical examination",
        ),
    },
    "coverage": {
        "fr": (
            "affection de longue durée",
            "affections de longue durée",
            "aide médicale de l'État",
            "aide médicale d'État",
            "complémentaire santé solidaire",
            "prise en charge à 100 %",
            "couverture maladie universelle",
            "pension d'invalidité",
        ),
        "nl": ("verhoogde tegemoetkoming", "invaliditeitsuitkering", "chronische aandoening"),
        "en": ("long-term condition", "chronic condition", "disability benefit"),
    },
    "care": {
        "fr": (
            "médecin traitant",
            "traitement médical",
            "soins médicaux",
            "soins infirmiers",
            "kinésithérapie",
            "séances de kiné",
            "suivi médical",
            "traitement médicamenteux",
        ),
        "nl": (
            "huisarts",
            "behandelend arts",
            "behandelende arts",
            "medische behandeling",
            "kinesitherapie",
            "thuisverpleging",
        ),
        "en": (
            "attending physician",
            "treating physician",
            "general practitioner",
            "medical treatment",
            "nursing care",
            "physiotherapy",
        ),
    },
}

# Capital-only acronyms by category: they mean nothing medical in lower case ("âme").
HEALTH_ACRONYMS: Mapping[str, tuple[str, ...]] = {
    "coverage": ("ALD", "AME", "CMU-C", "CMU", "C2S", "AAH"),
    "work_accident": ("AT/MP",),
    "sick_leave": ("IJSS",),
}

# Words that make a letter+digits token an ICD-10 code, or a 4+3 token a CCAM act code.
ICD_WORDS = ("code diagnostic", "diagnostic", "diagnostics", "diagnosis", "diagnose")
ICD_ACRONYMS = ("CIM-10", "CIM10", "CIM", "ICD-10", "ICD10", "ICD")
# "acte" alone is too common ("acte de naissance", "prendre acte"): only act phrases.
CCAM_WORDS = (
    "code acte",
    "codes actes",
    "code de l'acte",
    "acte médical",
    "actes médicaux",
    "acte technique",
    "actes techniques",
    "actes CCAM",
    "acte CCAM",
)
CCAM_ACRONYMS = ("CCAM", "NGAP")
ICD_CONTEXT = words(ICD_WORDS, ICD_ACRONYMS, cased=True)
CCAM_CONTEXT = words(CCAM_WORDS, CCAM_ACRONYMS, cased=True)
