"""The other-person check: is the document sent to one person about someone else?

Two ways to tell. With a patient register the recipient's own NIR is known, so an
attachment carrying another NIR is a fact and the policy's action applies in full.
Without it, the person a document names ("Patient : Paul DURAND") is compared with the
recipient's display name: a guess, which never does more than warn and says nothing
when the recipient is a health professional, who receives patients' documents as a
matter of course (a title or a care profession in the name or the address, a care
institution's domain, a secure health-messaging domain, the directory, a correspondent
who regularly receives sensitive documents).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from leakguard.content import PERSON_KINDS, ContentReport
from leakguard.core import Action, Finding, Location, Severity
from leakguard.correspondents import Correspondents
from leakguard.recipients import Directory
from leakguard.register import PatientRegister

__all__ = [
    "GUESS",
    "GUESS_CEILING",
    "KIND",
    "REGISTER",
    "OtherPersonCheck",
    "capped",
    "is_health_professional",
]

KIND = "other_person_data"
# ``detail`` of the finding: how it was found.
REGISTER = "register"
GUESS = "display_name"
# The strongest action a guess may lead to, whatever the policy says for the kind.
GUESS_CEILING = Action.WARN


def capped(finding: Finding, action: Action, /) -> Action:
    """``action`` for ``finding``, lowered to ``GUESS_CEILING`` when the finding is a guess."""
    if finding.kind == KIND and finding.detail != REGISTER and action > GUESS_CEILING:
        return GUESS_CEILING
    return action


class OtherPersonCheck:
    """Finds a document sent to a single outside person that concerns someone else."""

    __slots__ = ("_correspondents", "_directory", "_is_secure", "_register", "_regular")

    def __init__(
        self,
        directory: Directory,
        register: PatientRegister | None,
        /,
        *,
        is_secure: Callable[[str], bool],
        correspondents: Correspondents | None = None,
        regular: int = 3,
    ) -> None:
        """``is_secure(domain)`` says whether a domain is secure health messaging (the
        policy's ``secure_domains``); an address of ``correspondents`` that received
        sensitive data in at least ``regular`` messages is a known care correspondent."""
        self._directory = directory
        self._register = register
        self._is_secure = is_secure
        self._correspondents = correspondents
        self._regular = regular

    def check(self, name: str, address: str, report: ContentReport, /) -> Finding | None:
        """The finding for the one recipient ``name <address>``, or ``None``.

        ``report`` must hold the attachment texts (``keep_texts``).
        """
        if self._register is not None:
            patient = self._register.get(address)
            if patient is not None and patient.nir_fingerprint is not None:
                for f in report.findings:
                    if (
                        f.kind == "nir"
                        and f.location.is_attachment
                        and f.fingerprint != patient.nir_fingerprint
                    ):
                        return _finding(f.location, REGISTER)
                return None
        if is_health_professional(
            name,
            address,
            is_secure=self._is_secure,
            directory=self._directory,
            correspondents=self._correspondents,
            regular=self._regular,
        ):
            return None
        display = _name_tokens(name)
        if len(display) < 2 or display & _ROLE_WORDS:
            return None  # not a person's name: a service, a mailbox, a single word
        for location, texts in report.texts.items():
            has_personal = any(
                f.location.top_level == location
                for f in report.findings
                if f.kind in PERSON_KINDS or f.kind == "health_data"
            )
            if not has_personal:
                continue
            named = _distinct_people(_named_people("\n".join(texts)))
            # A personal document names one person; a list of many is many_people's case.
            if len(named) == 1 and not (display & named[0]):
                return _finding(location, GUESS)
        return None


def is_health_professional(
    name: str,
    address: str,
    /,
    *,
    is_secure: Callable[[str], bool],
    directory: Directory | None = None,
    correspondents: Correspondents | None = None,
    regular: int = 3,
) -> bool:
    """True for a recipient who receives patients' documents as part of care.

    A doctor's or professor's title (``Dr``, ``Dre``, ``Pr``, ``Docteur``,
    ``Professeur``) or a care profession (``infirmière``, ``kinésithérapeute``,
    ``cardiologue``…) in the display name or the address (``dr.martin@``), a care
    institution's domain (``chu-…``, ``clinique-…``), an address at a secure
    health-messaging domain (``is_secure``: the policy's ``*.mssante.fr``…), a colleague
    or partner listed in the ``directory``, or an address of ``correspondents`` that
    already received sensitive data in at least ``regular`` messages.
    """
    local, _, domain = address.rpartition("@")
    if is_secure(domain):
        return True
    if directory is not None and address in directory:
        return True
    words = _words(name) | _address_words(local)
    if words & _CARE_PERSON:
        return True
    if _address_words(domain.rpartition(".")[0]) & _CARE_DOMAIN:
        return True
    if correspondents is not None:
        learned = correspondents.get(address)
        if learned is not None and learned.sensitive_messages >= max(1, regular):
            return True
    return False


def _finding(location: Location, how: str) -> Finding:
    severity = Severity.HIGH if how == REGISTER else Severity.MEDIUM
    return Finding(kind=KIND, location=location, severity=severity, detail=how)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_TOKEN = re.compile(r"[^\W\d_]{2,}")
_CARE_TITLES = frozenset(
    {"dr", "dre", "docteur", "docteure", "pr", "prof", "professeur", "professeure"}
)
_TITLES = _CARE_TITLES | {"mme", "mlle", "madame", "monsieur", "mr", "mrs", "ms", "m"}


# "sage-femme" (midwife) is one word for the care professions below.
_MIDWIFE = re.compile(r"sage[\s._\-]*femme")


def _words(name: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(_MIDWIFE.sub("sagefemme", _fold(name))))


def _address_words(part: str) -> frozenset[str]:
    """The words of an address part, split at dots, dashes, underscores and plus signs
    (``dr.martin`` → ``dr``, ``martin``)."""
    folded = _MIDWIFE.sub("sagefemme", _fold(part))
    return frozenset(w for w in re.split(r"[._+\-]+", folded) if w)


# Care professions, folded (no accents), as words of a display name or an address.
_CARE_WORDS = frozenset(
    {
        "medecin",
        "generaliste",
        "infirmier",
        "infirmiere",
        "ide",
        "idel",
        "kine",
        "kinesitherapeute",
        "kinesitherapie",
        "masseur",
        "sagefemme",
        "maieuticien",
        "pharmacien",
        "pharmacienne",
        "orthophoniste",
        "orthoptiste",
        "psychomotricien",
        "psychomotricienne",
        "podologue",
        "pedicure",
        "osteopathe",
        "chiropracteur",
        "dentiste",
        "chirurgien",
        "chirurgienne",
        "orthodontiste",
        "anesthesiste",
        "urgentiste",
        "dieteticien",
        "dieteticienne",
        "audioprothesiste",
        "ambulancier",
        "ambulanciere",
        "physician",
        "nurse",
        "midwife",
        "pharmacist",
        "physiotherapist",
        "dentist",
        "surgeon",
        "gp",
        "allergologue",
        "angiologue",
        "cardiologue",
        "dermatologue",
        "diabetologue",
        "endocrinologue",
        "gastroenterologue",
        "gynecologue",
        "hematologue",
        "infectiologue",
        "nephrologue",
        "neurologue",
        "oncologue",
        "ophtalmologue",
        "pneumologue",
        "psychologue",
        "radiologue",
        "rhumatologue",
        "stomatologue",
        "urologue",
        "pediatre",
        "psychiatre",
        "geriatre",
        "phoniatre",
        "ergotherapeute",
        "psychotherapeute",
        "physiotherapeute",
        "cardiologist",
        "dermatologist",
        "gynecologist",
        "neurologist",
        "oncologist",
        "radiologist",
        "psychologist",
        "pediatrician",
        "psychiatrist",
        "therapist",
    }
)
# Words of a care institution's domain: chu-rouen.fr, clinique-exemple.fr.
_CARE_PLACES = frozenset(
    {
        "chu",
        "chru",
        "aphp",
        "hcl",
        "hopital",
        "hopitaux",
        "hospital",
        "clinique",
        "polyclinique",
        "ehpad",
        "medical",
        "medicale",
        "sagefemme",
    }
)
_CARE_PERSON = _CARE_TITLES | _CARE_WORDS
_CARE_DOMAIN = _CARE_PLACES | _CARE_WORDS


def _name_tokens(name: str) -> frozenset[str]:
    return _words(name) - _TITLES


# A person named by a label in a document: "Patient : Jean DURAND", "Nom: Durand",
# "Madame Lucie Martin". Capitalised words only, at most three.
_NAMED = re.compile(
    r"\b(?:Nom(?: du patient| de l'assuré| de naissance)?|Patient(?:e)?|Assuré(?:e)?|"
    r"Bénéficiaire|Madame|Monsieur|Mme|Mlle|M\.|Mr\.?|Mrs\.?|Ms\.?|Name|Naam|Dhr\.|Mevr\.)"
    r"[ \t]*:?[ \t]+((?:[A-ZÀ-Ý][A-Za-zÀ-ÿ'\-]+[ \t]?){1,3})"
)


_ROLE_WORDS = frozenset(
    {
        "service",
        "secretariat",
        "accueil",
        "contact",
        "facturation",
        "rh",
        "campagne",
        "gestion",
        "partenaire",
        "mutuelle",
        "cabinet",
        "clinique",
        "hopital",
        "centre",
        "equipe",
        "direction",
        "comptabilite",
        "info",
        "admin",
        "support",
        "team",
        "office",
        "billing",
        "reception",
        "fondation",
        "laboratoire",
        "pharmacie",
        "medecine",
    }
)


def _distinct_people(named: Iterable[frozenset[str]]) -> list[frozenset[str]]:
    """Merge mentions that share a word ("Paul DURAND", "M. Durand") into one person."""
    people: list[frozenset[str]] = []
    for tokens in named:
        for i, known in enumerate(people):
            if known & tokens:
                people[i] = known | tokens
                break
        else:
            people.append(tokens)
    return people


def _named_people(text: str) -> list[frozenset[str]]:
    out = []
    for m in _NAMED.finditer(text[:200_000]):
        tokens = _name_tokens(m.group(1))
        if tokens:
            out.append(tokens)
    return out
