"""Core types shared by every layer: actions, locations, findings, verdicts, masking.

This module imports nothing else of the package. Nothing defined here ever holds or
prints an identifier in clear: findings carry a masked form and a keyed fingerprint.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, cast

__all__ = [
    "CONTENT_KINDS",
    "HEALTH_DIRECTORY_KINDS",
    "IDENTIFIER_KINDS",
    "KINDS",
    "LEARNED_KINDS",
    "UNREAD_KINDS",
    "Action",
    "Deadline",
    "DeadlineExceeded",
    "Finding",
    "Fingerprinter",
    "Lang",
    "Location",
    "Severity",
    "Suggestion",
    "Verdict",
    "describe",
    "group_findings",
    "highest",
    "identifier_finding",
    "identifier_sentence",
    "mask_numbers",
]

Lang = Literal["fr", "en"]


class Action(enum.Enum):
    """What may happen to a message, ordered ``allow < warn < encrypt < block``."""

    ALLOW = "allow"
    WARN = "warn"
    ENCRYPT = "encrypt"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _ACTION_RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.rank >= other.rank

    def label(self, lang: Lang = "en") -> str:
        """The short upper-case label shown for this action (``ENCRYPT``, ``À CHIFFRER``)."""
        return _ACTION_LABEL["fr" if lang == "fr" else "en"][self]

    @classmethod
    def parse(cls, value: str) -> Action:
        """Read an action name (``"allow"``, ``"warn"``, ``"encrypt"``, ``"block"``)."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            allowed = ", ".join(a.value for a in cls)
            raise ValueError(f"unknown action {value!r}; allowed: {allowed}") from None


_ACTION_RANK = {Action.ALLOW: 0, Action.WARN: 1, Action.ENCRYPT: 2, Action.BLOCK: 3}


class Severity(enum.Enum):
    """How bad a single finding is on its own."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return {"low": 0, "medium": 1, "high": 2}[self.value]

    def label(self, lang: Lang = "en") -> str:
        """The severity as a word of the reader's language (``high``, ``haute``)."""
        if lang == "fr":
            return {"low": "basse", "medium": "moyenne", "high": "haute"}[self.value]
        return self.value


IDENTIFIER_KINDS = frozenset({"nir", "rib", "iban", "be_niss", "qc_nam", "ca_sin"})
CONTENT_KINDS = IDENTIFIER_KINDS | {
    "health_data",
    "unscannable_attachment",
    "mislabelled_attachment",
}
KINDS = CONTENT_KINDS | {
    "many_people",
    "other_person_data",
    "lookalike_recipient",
    "lookalike_domain",
    "display_name_mismatch",
    "bulk_visible_recipients",
    "unencrypted_sensitive",
    "unreadable_recipients",
}
# Learned from the Sent folder (leakguard learn): only with a correspondents store.
LEARNED_KINDS = frozenset({"first_time_recipient", "dormant_recipient", "unusual_recipient"})
KINDS = KINDS | LEARNED_KINDS
# Compared with the national MSSanté directory: only with a health directory.
HEALTH_DIRECTORY_KINDS = frozenset({"secure_address_available", "unknown_secure_address"})
KINDS = KINDS | HEALTH_DIRECTORY_KINDS
# Findings that say some content was not read. An ``unscannable_attachment`` whose
# ``detail`` is ``encrypted`` is not among them: that part is protected, not unread.
UNREAD_KINDS = frozenset({"unscannable_attachment"})


# --------------------------------------------------------------------------- time


class DeadlineExceeded(Exception):
    """Raised inside a loop that honours a :class:`Deadline` once it has passed.

    An internal signal, never an error for a user: the layer that started the work
    catches it and reports the content concerned as not read (``timeout``).
    """


@dataclass(frozen=True, slots=True)
class Deadline:
    """The moment (on the ``time.monotonic`` clock) a check must be finished by.

    A value passed down to every loop that can run long (readers, decompression, OCR,
    detectors), each of which stops when it has passed and says what it did not read.
    """

    at: float

    @classmethod
    def after(cls, seconds: float, /) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(time.monotonic() + max(0.0, seconds))

    @classmethod
    def never(cls) -> Deadline:
        return cls(float("inf"))

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self.at - time.monotonic())

    def check(self) -> None:
        """Raise :class:`DeadlineExceeded` once the deadline has passed."""
        if time.monotonic() >= self.at:
            raise DeadlineExceeded

    def sooner(self, seconds: float, /) -> Deadline:
        """This deadline or one ``seconds`` from now, whichever comes first."""
        return Deadline(min(self.at, time.monotonic() + max(0.0, seconds)))


# A run of digits with separators long enough to hold an identifier (every identifier
# leakguard knows has at least eight digits; six characters keep a margin for a cut one).
# Any character that is neither a letter nor a digit may separate the groups, as the
# detectors allow ("1,85,05,75,112,345,29" is a NIR to them, so it is masked here too).
_LONG_NUMBER = re.compile(r"\d(?:(?:[^\w]|_)*\d)+")
_SHORTEST = 6


_DIGIT = re.compile(r"\d")


def mask_numbers(text: str, /) -> str:
    """``text`` with every digit of a long number starred: the masking of free text
    (a file name, a header value, a server's reply) that may hold an identifier.

    ``"patient 1 85 05 75 112 345 29.txt"`` → ``"patient * ** ** ** *** *** **.txt"``.
    """
    if _LONG_NUMBER.search(text) is None:
        return text
    return _LONG_NUMBER.sub(_star, text)


def _star(found: re.Match[str]) -> str:
    run = found.group()
    return _DIGIT.sub("*", run) if len(run) >= _SHORTEST else run


@functools.lru_cache(maxsize=1024)
def _shown(where: str) -> str:
    # A location is printed once per finding, and a long export has a million findings
    # in one place.
    return mask_numbers(where)


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """Where a finding sits, printed as in the contract.

    ``body``, ``subject``, ``header:to``, ``attachment:<name>`` or
    ``attachment:<archive>/<member>`` for nested parts. ``where`` keeps the names as
    the message gives them, to find the part again; what is printed (``str()``,
    :meth:`label`) has its long numbers masked (:func:`mask_numbers`), since a file
    name may hold an identifier (``patient 1 85 05 75 112 345 29.txt``).
    """

    where: str

    @classmethod
    def body(cls) -> Location:
        return cls("body")

    @classmethod
    def subject(cls) -> Location:
        return cls("subject")

    @classmethod
    def header(cls, name: str) -> Location:
        return cls(f"header:{name.lower()}")

    @classmethod
    def attachment(cls, *path: str) -> Location:
        clean = [p.replace("\n", " ").replace("\r", " ") for p in path if p]
        return cls("attachment:" + "/".join(clean or ["(unnamed)"]))

    def child(self, name: str) -> Location:
        """The location of a member inside this attachment (or inside the body)."""
        name = name.replace("\n", " ").replace("\r", " ") or "(unnamed)"
        if self.where.startswith("attachment:"):
            return Location(f"{self.where}/{name}")
        return Location(f"attachment:{name}")

    @property
    def is_attachment(self) -> bool:
        return self.where.startswith("attachment:")

    @property
    def top_level(self) -> Location:
        """The attachment of the message this location lies in (itself when not nested)."""
        if not self.is_attachment:
            return self
        return Location(self.where.split("/", 1)[0])

    def label(self, lang: Lang = "en") -> str:
        """The location for a reader: the contract form in English, French words in
        French; long numbers masked."""
        shown = str(self)
        if lang != "fr":
            return shown
        if shown == "body":
            return "corps du message"
        if shown == "subject":
            return "objet"
        if shown.startswith("header:"):
            return "en-tête " + shown.removeprefix("header:").capitalize()
        if self.is_attachment:
            return "pièce jointe " + shown.removeprefix("attachment:")
        return shown

    def __str__(self) -> str:
        return _shown(self.where)


# --------------------------------------------------------------------------- fingerprints


class Fingerprinter:
    """Keyed hash (HMAC-SHA256) of compact identifier values.

    The key is random per process unless given (or set in ``LEAKGUARD_FINGERPRINT_KEY``),
    so equal values give equal fingerprints within one run and cannot be reversed by
    hashing every possible number without the key.
    """

    __slots__ = ("_inner", "_key", "_outer")

    def __init__(self, key: bytes | str | None = None) -> None:
        if key is None:
            env = os.environ.get("LEAKGUARD_FINGERPRINT_KEY")
            key = env if env else os.urandom(32)  # what secrets.token_bytes reads
        self._key = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        # HMAC (RFC 2104) with the padded key hashed in once: each value then costs two
        # copies of these states (a large batch of findings makes millions of them).
        block = self._key if len(self._key) <= 64 else hashlib.sha256(self._key).digest()
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def __call__(self, kind: str, compact: str) -> str:
        inner = self._inner.copy()
        inner.update(f"{kind}:{compact}".encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:20]

    def __repr__(self) -> str:
        return "Fingerprinter(key=<hidden>)"

    def __reduce__(self) -> tuple[type[Fingerprinter], tuple[bytes]]:
        # Rebuilt from its key in another process (a batch worker), so the fingerprints
        # there agree with this process's; the prepared hash states do not pickle.
        return (Fingerprinter, (self._key,))


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A secure mailbox to use instead of a recipient's address: a health professional's
    MSSanté address from the national directory, with the name and profession listed
    there (public data, never a patient's)."""

    address: str
    name: str = ""
    profession: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"address": self.address, "name": self.name, "profession": self.profession}

    def label(self) -> str:
        """``Dr Jean DUPONT (Médecin) <jean.dupont@medecin.mssante.fr>``, as much as known."""
        who = self.name
        if self.profession:
            who = f"{who} ({self.profession})" if who else self.profession
        return f"{who} <{self.address}>" if who else self.address


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing leakguard noticed. Never holds an identifier in clear.

    ``detail`` is a short machine word that refines the kind (the health-data category,
    the reason a part was unreadable, the encryption seen) and is never free text from
    the message.
    """

    kind: str
    location: Location
    severity: Severity
    masked: str | None = None
    fingerprint: str | None = None
    count: int | None = None
    recipient: str | None = None
    similar_to: str | None = None
    distance: int | None = None
    detail: str | None = None
    confidence: float = 1.0
    last_seen: str | None = None  # ISO date of the last message to the recipient
    # ISO date of the national MSSanté directory a recipient was compared with.
    directory_date: str | None = None
    # Secure mailboxes to use instead (secure_address_available), at most three.
    suggestions: tuple[Suggestion, ...] = ()

    def message(self, lang: Lang = "en") -> str:
        """A sentence for a person, in French or English."""
        return describe(self, lang)

    def to_dict(self, lang: Lang = "en") -> dict[str, Any]:
        """The JSON shape of a finding (a stable contract, see docs/output.md)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "location": str(self.location),
            "severity": self.severity._value_,
        }
        # Written out rather than looped over: a scan of an export writes a million.
        if self.masked is not None:
            out["masked"] = self.masked
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint
        if self.count is not None:
            out["count"] = self.count
        if self.recipient is not None:
            out["recipient"] = self.recipient
        if self.similar_to is not None:
            out["similar_to"] = self.similar_to
        if self.distance is not None:
            out["distance"] = self.distance
        if self.last_seen is not None:
            out["last_seen"] = self.last_seen
        if self.directory_date is not None:
            out["directory_date"] = self.directory_date
        if self.suggestions:
            out["suggestions"] = [s.to_dict() for s in self.suggestions]
        if self.detail is not None:
            out["detail"] = self.detail
        out["message"] = self.message(lang)
        return out

    def __repr__(self) -> str:
        parts = [f"kind={self.kind!r}", f"location={str(self.location)!r}"]
        for name in (
            "masked",
            "count",
            "recipient",
            "similar_to",
            "distance",
            "last_seen",
            "directory_date",
            "detail",
        ):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        return "Finding(" + ", ".join(parts) + ")"

    __str__ = __repr__


class _Unfrozen:
    """Finding's slots in Finding's order, without the frozen dataclass's ``__init__``
    (one ``object.__setattr__`` per field): :func:`identifier_finding` fills one in with
    plain stores, then makes it the Finding it is. The layouts are the same, which is
    what lets an object change class."""

    __slots__ = Finding.__slots__

    def __init__(
        self,
        kind: str,
        location: Location,
        severity: Severity,
        masked: str,
        fingerprint: str,
        confidence: float,
    ) -> None:
        self.kind = kind
        self.location = location
        self.severity = severity
        self.masked = masked
        self.fingerprint = fingerprint
        self.count = None
        self.recipient = None
        self.similar_to = None
        self.distance = None
        self.detail = None
        self.confidence = confidence
        self.last_seen = None
        self.directory_date = None
        self.suggestions = ()


def identifier_finding(
    kind: str,
    location: Location,
    severity: Severity,
    masked: str,
    fingerprint: str,
    confidence: float,
    /,
) -> Finding:
    """``Finding(kind=kind, location=location, severity=severity, masked=masked,
    fingerprint=fingerprint, confidence=confidence)``, made five times faster (a scan of
    a large export makes a million findings)."""
    made: Any = _Unfrozen(kind, location, severity, masked, fingerprint, confidence)
    made.__class__ = Finding
    return cast(Finding, made)


def _check_identifier_finding() -> None:
    # Every field of Finding set, and set as the dataclass sets it.
    if {f.name for f in fields(Finding)} != set(_Unfrozen.__slots__):  # pragma: no cover
        raise RuntimeError("Finding's fields changed: _Unfrozen must follow")
    here = Location("body")
    made = identifier_finding("nir", here, Severity.HIGH, "*", "0", 0.5)
    usual = Finding("nir", here, Severity.HIGH, "*", "0", confidence=0.5)
    if made != usual or [getattr(made, n) for n in _Unfrozen.__slots__] != [
        getattr(usual, n) for n in _Unfrozen.__slots__
    ]:  # pragma: no cover
        raise RuntimeError("identifier_finding no longer makes what Finding makes")


_check_identifier_finding()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The one answer for a message: an action and the findings that led to it."""

    action: Action
    findings: tuple[Finding, ...] = ()
    encrypted: bool = False
    source: str | None = None
    #: The language of :meth:`explain` when none is asked (the guard's ``lang``).
    lang: Lang = field(default="en", compare=False)

    def kinds(self) -> frozenset[str]:
        return frozenset(f.kind for f in self.findings)

    @property
    def unread(self) -> tuple[Finding, ...]:
        """The findings that say some content was not read (too big, past the time
        budget, damaged, unsupported). Where no person decides (milter, relay) a message
        with any of them is never accepted as it is."""
        return tuple(f for f in self.findings if f.kind in UNREAD_KINDS and f.detail != "encrypted")

    def explain(self, lang: Lang | None = None, *, limit: int | None = 5) -> str:
        """A short text for a person: the decision, then the findings grouped by kind.

        ``lang`` is ``"en"`` or ``"fr"``; without it, the verdict's own ``lang``.

        At most ``limit`` findings of one kind are listed (all when ``limit`` is None);
        one line then says how many more of that kind there are.
        """
        lang = "fr" if (lang or self.lang) == "fr" else "en"
        if not self.findings:
            return _ACTION_TEXT[lang][self.action]
        head = _ALLOW_WITH_FINDINGS[lang] if self.action is Action.ALLOW else None
        lines = [head or _ACTION_TEXT[lang][self.action]]
        for kind, group in group_findings(self.findings):
            shown = group if limit is None else group[:limit]
            lines.extend(f"- [{f.location.label(lang)}] {f.message(lang)}" for f in shown)
            more = len(group) - len(shown)
            if more:
                lines.append(
                    _t(
                        lang,
                        f"- ... and {more} more finding(s) of kind {kind}.",
                        f"- ... et {more} autre(s) constat(s) de type {kind}.",
                    )
                )
        return "\n".join(lines)

    def to_dict(self, lang: Lang = "en") -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.source is not None:
            out["source"] = self.source
        out["action"] = self.action.value
        out["findings"] = [f.to_dict(lang) for f in self.findings]
        return out

    def __repr__(self) -> str:
        return (
            f"Verdict(action={self.action.value!r}, kinds={sorted(self.kinds())!r}, "
            f"findings={len(self.findings)})"
        )

    __str__ = __repr__


def group_findings(findings: Iterable[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings gathered by kind: the most severe kinds first, then in order of appearance."""
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.kind, []).append(f)
    order = sorted(
        enumerate(groups.items()),
        key=lambda item: (-max(f.severity.rank for f in item[1][1]), item[0]),
    )
    return [pair for _, pair in order]


_ACTION_LABEL: Mapping[str, Mapping[Action, str]] = {
    "en": {
        Action.ALLOW: "ALLOW",
        Action.WARN: "WARN",
        Action.ENCRYPT: "ENCRYPT",
        Action.BLOCK: "BLOCK",
    },
    "fr": {
        Action.ALLOW: "AUTORISÉ",
        Action.WARN: "À VÉRIFIER",
        Action.ENCRYPT: "À CHIFFRER",
        Action.BLOCK: "BLOQUÉ",
    },
}

# An allowed message that still has findings must not read as if nothing was found.
_ALLOW_WITH_FINDINGS: Mapping[str, str] = {
    "en": "Allowed: the points below do not stop this message; read them before sending it.",
    "fr": "Autorisé : les points ci-dessous n'empêchent pas l'envoi ; lisez-les avant "
    "d'envoyer ce message.",
}

_ACTION_TEXT: Mapping[str, Mapping[Action, str]] = {
    "en": {
        Action.ALLOW: "Allowed: nothing found that stops this message.",
        Action.WARN: "Warning: please check this message before sending it.",
        Action.ENCRYPT: "Encrypt: this message may leave only encrypted or through secure "
        "health messaging.",
        Action.BLOCK: "Blocked: this message must not be sent.",
    },
    "fr": {
        Action.ALLOW: "Autorisé : rien n'a été trouvé qui empêche l'envoi de ce message.",
        Action.WARN: "Attention : vérifiez ce message avant de l'envoyer.",
        Action.ENCRYPT: "Chiffrement requis : ce message ne peut partir que chiffré ou par "
        "une messagerie sécurisée de santé.",
        Action.BLOCK: "Bloqué : ce message ne doit pas être envoyé.",
    },
}

_NAMES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "nir": "a French social security number (NIR)",
        "rib": "French bank details (RIB)",
        "iban": "a bank account number (IBAN)",
        "be_niss": "a Belgian national register number (NISS)",
        "qc_nam": "a Québec health insurance number (NAM)",
        "ca_sin": "a Canadian social insurance number (SIN)",
    },
    "fr": {
        "nir": "un numéro de sécurité sociale (NIR)",
        "rib": "des coordonnées bancaires (RIB)",
        "iban": "un numéro de compte bancaire (IBAN)",
        "be_niss": "un numéro de registre national belge (NISS)",
        "qc_nam": "un numéro d'assurance maladie du Québec (NAM)",
        "ca_sin": "un numéro d'assurance sociale canadien (NAS)",
    },
}

_CONTAINS: Mapping[str, Mapping[str, str]] = {
    "en": {k: f"Contains {name}: %s." for k, name in _NAMES["en"].items()},
    "fr": {k: f"Contient {name} : %s." for k, name in _NAMES["fr"].items()},
}

_HEALTH: Mapping[str, Mapping[str, str]] = {
    "en": {
        "diagnosis": "a diagnosis",
        "prescription": "a prescription",
        "sick_leave": "sick leave or work incapacity",
        "work_accident": "a work accident",
        "medical_act": "medical acts",
        "medical_report": "a medical report",
        "coverage": "health-cover rights revealing a condition",
        "medical_code": "medical codes (ICD-10 or CCAM)",
        "care": "medical care",
    },
    "fr": {
        "diagnosis": "un diagnostic",
        "prescription": "une ordonnance",
        "sick_leave": "un arrêt de travail ou une incapacité",
        "work_accident": "un accident du travail",
        "medical_act": "des actes médicaux",
        "medical_report": "un compte rendu médical",
        "coverage": "des droits de santé révélant une affection",
        "medical_code": "des codes médicaux (CIM-10 ou CCAM)",
        "care": "des soins médicaux",
    },
}

_UNSCANNABLE: Mapping[str, Mapping[str, str]] = {
    "en": {
        "encrypted": "it is encrypted, so its content could not be checked",
        "too_large": "it is larger than the size limit",
        "too_many_members": "the archive holds too many files",
        "compression_ratio": "it expands far more than a normal file (possible zip bomb)",
        "too_deep": "archives are nested too deeply",
        "timeout": "reading it took longer than the time limit",
        "corrupt": "it is damaged or not in the format it claims",
        "unsupported": "its format cannot be read",
        "no_ocr": "it is a picture or a scan, and text recognition (OCR) is not installed "
        "(pip install 'leakguard[ocr]' and the tesseract program)",
    },
    "fr": {
        "encrypted": "il est chiffré, son contenu n'a pas pu être vérifié",
        "too_large": "il dépasse la taille maximale",
        "too_many_members": "l'archive contient trop de fichiers",
        "compression_ratio": "il se décompresse bien plus qu'un fichier normal "
        "(bombe de décompression ?)",
        "too_deep": "les archives sont imbriquées trop profondément",
        "timeout": "sa lecture a dépassé le temps maximal",
        "corrupt": "il est endommagé ou n'est pas au format annoncé",
        "unsupported": "son format ne peut pas être lu",
        "no_ocr": "c'est une image ou un document numérisé, et la reconnaissance de texte "
        "(OCR) n'est pas installée (pip install 'leakguard[ocr]' et le programme tesseract)",
    },
}


_CLAIMS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "smime": "S/MIME",
        "pgp": "OpenPGP",
        "zip": "encrypted ZIP",
        "pdf": "password PDF",
        "office": "password Office document",
    },
    "fr": {
        "smime": "S/MIME",
        "pgp": "OpenPGP",
        "zip": "ZIP chiffré",
        "pdf": "PDF protégé par mot de passe",
        "office": "document Office protégé par mot de passe",
    },
}


def _t(lang: str, en: str, fr: str) -> str:
    return fr if lang == "fr" else en


def identifier_sentence(kind: str, lang: Lang = "en") -> str:
    """The sentence :func:`describe` makes for an identifier of ``kind``, with ``%s``
    where the masked value goes (a writer of a million findings formats it directly)."""
    return _CONTAINS["fr" if lang == "fr" else "en"][kind]


def describe(finding: Finding, lang: Lang = "en") -> str:
    """Render a finding as a sentence; only masked values ever appear."""
    lang = "fr" if lang == "fr" else "en"
    k = finding.kind
    if k in IDENTIFIER_KINDS:
        # "Contains {name}: {masked}." (one formatting: an export has a million).
        return _CONTAINS[lang][k] % finding.masked
    if k == "health_data":
        what = _HEALTH[lang].get(finding.detail or "", _HEALTH[lang]["care"])
        return _t(
            lang,
            f"Contains health information: {what}.",
            f"Contient des données de santé : {what}.",
        )
    if k == "unscannable_attachment":
        why = _UNSCANNABLE[lang].get(finding.detail or "", _UNSCANNABLE[lang]["corrupt"])
        if not finding.location.is_attachment:  # the subject or the body itself
            return _t(
                lang,
                f"This part of the message could not be checked in full: {why}.",
                f"Cette partie du message n'a pas pu être vérifiée en entier : {why}.",
            )
        return _t(
            lang,
            f"This attachment could not be checked: {why}.",
            f"Cette pièce jointe n'a pas pu être vérifiée : {why}.",
        )
    if k == "mislabelled_attachment":
        what = _CLAIMS[lang].get(finding.detail or "", _CLAIMS[lang]["smime"])
        if not finding.location.is_attachment:
            return _t(
                lang,
                f"This part of the message claims to be encrypted ({what}) but is readable "
                "by anyone: it was checked as clear content.",
                f"Cette partie du message se présente comme chiffrée ({what}) mais est "
                "lisible par tous : elle a été vérifiée comme un contenu en clair.",
            )
        return _t(
            lang,
            f"This attachment claims to be encrypted ({what}) but is readable by anyone: "
            "it was checked as clear content. A mislabelled file is suspicious.",
            f"Cette pièce jointe se présente comme chiffrée ({what}) mais est lisible par "
            "tous : elle a été vérifiée comme un contenu en clair. Un fichier mal étiqueté "
            "est suspect.",
        )
    if k == "many_people":
        return _t(
            lang,
            f"Identifiers of {finding.count} different people are leaving the organisation.",
            f"Des identifiants de {finding.count} personnes différentes sortent de "
            "l'établissement.",
        )
    if k == "other_person_data":
        return _t(
            lang,
            "The attachment concerns someone other than its single recipient "
            "(mail-merge mistake?).",
            "La pièce jointe concerne une autre personne que son unique destinataire "
            "(erreur de publipostage ?).",
        )
    if k in LEARNED_KINDS or (k == "lookalike_recipient" and finding.detail == "correspondent"):
        return _describe_learned(finding, lang)
    if k in HEALTH_DIRECTORY_KINDS or (k == "lookalike_recipient" and finding.detail == "mssante"):
        return _describe_health_directory(finding, lang)
    if k == "lookalike_recipient" and finding.detail == "homoglyph":
        return _t(
            lang,
            f"{finding.recipient} is not a colleague but looks identical to "
            f"{finding.similar_to} (look-alike letters from another alphabet).",
            f"{finding.recipient} n'est pas un collègue mais s'affiche comme "
            f"{finding.similar_to} (lettres d'un autre alphabet qui se ressemblent).",
        )
    if k == "lookalike_recipient":
        return _t(
            lang,
            f"{finding.recipient} is not a colleague but is {finding.distance} keystroke(s) "
            f"away from {finding.similar_to}: autocomplete error?",
            f"{finding.recipient} n'est pas un collègue mais ne diffère que de "
            f"{finding.distance} caractère(s) de {finding.similar_to} : erreur "
            "d'autocomplétion ?",
        )
    if k == "lookalike_domain":
        return _t(
            lang,
            f"The domain of {finding.recipient} looks like {finding.similar_to} "
            "but is not the same.",
            f"Le domaine de {finding.recipient} ressemble à {finding.similar_to} "
            "sans être le même.",
        )
    if k == "display_name_mismatch":
        return _t(
            lang,
            f"{finding.recipient} carries the name of colleague {finding.similar_to} "
            "but is not that colleague's address.",
            f"{finding.recipient} porte le nom du collègue {finding.similar_to} "
            "mais n'est pas son adresse.",
        )
    if k == "bulk_visible_recipients":
        return _t(
            lang,
            f"{finding.count} outside addresses are visible to each other in To/Cc: "
            "use Bcc or a mailing tool.",
            f"{finding.count} adresses externes sont visibles de tous en À/Cc : "
            "utilisez Cci ou un outil de diffusion.",
        )
    if k == "unreadable_recipients":
        return _unreadable_recipients(finding, lang)
    if k == "unencrypted_sensitive":
        return _t(
            lang,
            "Sensitive data would leave unencrypted to an outside recipient: encrypt it or "
            "use secure health messaging (MSSanté).",
            "Des données sensibles partiraient en clair vers un destinataire externe : "
            "chiffrez-les ou utilisez une messagerie sécurisée de santé (MSSanté).",
        )
    return _t(lang, f"Finding of kind {k}.", f"Constat de type {k}.")


def _unreadable_recipients(finding: Finding, lang: str) -> str:
    shown = f" ({finding.recipient})" if finding.recipient else ""
    if finding.detail == "none":
        return _t(
            lang,
            f"No recipient could be read{shown}: nobody can say where this message goes.",
            f"Aucun destinataire lisible{shown} : impossible de savoir où part ce message.",
        )
    if finding.detail == "too_long":
        return _t(
            lang,
            "The recipient header is longer than the size limit: only its beginning was checked.",
            "L'en-tête de destinataires dépasse la taille maximale : seul son début a été vérifié.",
        )
    return _t(
        lang,
        f"The recipient header{shown} is malformed: check each address before sending "
        "(the addresses found in it were still checked).",
        f"L'en-tête de destinataires{shown} est mal formé : vérifiez chaque adresse avant "
        "l'envoi (les adresses qu'il contient ont tout de même été vérifiées).",
    )


def _describe_learned(finding: Finding, lang: str) -> str:
    """The findings that come from the correspondents learned from the Sent folder."""
    k, r = finding.kind, finding.recipient
    if k == "first_time_recipient" and finding.detail == "new_domain":
        return _t(
            lang,
            f"First message to {r}: nothing was ever sent to this address, nor to anyone "
            "at its domain.",
            f"Premier message à {r} : rien n'a jamais été envoyé à cette adresse, ni à "
            "personne de son domaine.",
        )
    if k == "first_time_recipient":
        return _t(
            lang,
            f"First message to {r}: nothing was ever sent to this address before.",
            f"Premier message à {r} : rien n'a jamais été envoyé à cette adresse.",
        )
    if k == "dormant_recipient":
        return _t(
            lang,
            f"First message to {r} since {finding.last_seen}: is this still the right person?",
            f"Premier message à {r} depuis le {finding.last_seen} : est-ce toujours la "
            "bonne personne ?",
        )
    if k == "unusual_recipient":
        return _t(
            lang,
            f"{r} has never received sensitive data, and the other recipients were written "
            f"to {finding.count} times without this address.",
            f"{r} n'a jamais reçu de données sensibles, et les autres destinataires ont "
            f"reçu {finding.count} messages sans cette adresse.",
        )
    return _t(
        lang,
        f"{r} has rarely or never been written to, but is {finding.distance} keystroke(s) "
        f"away from {finding.similar_to}, an address often written to: autocomplete error?",
        f"{r} n'a jamais ou presque jamais reçu de message, mais ne diffère que de "
        f"{finding.distance} caractère(s) de {finding.similar_to}, une adresse souvent "
        "utilisée : erreur d'autocomplétion ?",
    )


def _describe_health_directory(finding: Finding, lang: str) -> str:
    """The findings that come from the national MSSanté directory."""
    k, r = finding.kind, finding.recipient
    of = f" ({finding.directory_date})" if finding.directory_date else ""
    if k == "lookalike_recipient":
        return _t(
            lang,
            f"{r} is not in the national MSSanté directory{of} but is {finding.distance} "
            f"keystroke(s) away from {finding.similar_to}, a mailbox that is: typing error?",
            f"{r} n'est pas dans l'annuaire national MSSanté{of} mais ne diffère que de "
            f"{finding.distance} caractère(s) de {finding.similar_to}, une boîte qui y "
            "figure : faute de frappe ?",
        )
    if k == "unknown_secure_address":
        return _t(
            lang,
            f"{r} is at an MSSanté domain but is not in the national MSSanté directory"
            f"{of}: check the address (a mailbox created since, or not listed, is possible).",
            f"{r} est sur un domaine MSSanté mais ne figure pas dans l'annuaire national "
            f"MSSanté{of} : vérifiez l'adresse (boîte créée depuis, ou non publiée, possible).",
        )
    shown = finding.suggestions
    count = finding.count or len(shown)
    if count <= 1 and shown:
        one = shown[0]
        who = one.name or _t(lang, "This professional", "Ce professionnel")
        job = f" ({one.profession})" if one.profession else ""
        return _t(
            lang,
            f"{r} is not a secure address, but {who}{job} has an MSSanté mailbox in the "
            f"national directory: send to {one.address} instead.",
            f"{r} n'est pas une adresse sécurisée, mais {who}{job} a une boîte MSSanté dans "
            f"l'annuaire national : envoyez plutôt à {one.address}.",
        )
    listed = ", ".join(s.label() for s in shown)
    more = f" {_t(lang, 'e.g.', 'par exemple')} {listed}" if listed else ""
    return _t(
        lang,
        f"{r} is not a secure address, and {count} health professionals of this name have "
        f"an MSSanté mailbox in the national directory:{more}. If one is your correspondent, "
        "send to that address instead.",
        f"{r} n'est pas une adresse sécurisée, et {count} professionnels de santé de ce nom "
        f"ont une boîte MSSanté dans l'annuaire national :{more}. Si l'un d'eux est votre "
        "correspondant, envoyez plutôt à son adresse.",
    )


def highest(actions: Iterable[Action]) -> Action:
    """The strongest of some actions (``allow`` when there are none)."""
    best = Action.ALLOW
    for a in actions:
        if a > best:
            best = a
    return best
