"""``leakguard affected``: whose data left, to one recipient or domain, from an archive.

After a misdirected send, the data-protection officer must tell who is concerned. This
command reads a Sent folder (mbox, Maildir, PST or a folder of ``.eml``), keeps the
messages sent to ``--recipient`` (or to anyone at ``--domain``), and writes one CSV row
per distinct identifier value found in them::

    kind,masked,fingerprint,messages,first_date,last_date,patient_id,patient_name

With ``--register``, each value is looked up in the patient register (a CSV with an
``id`` and a ``name`` column and one column per identifier kind: ``nir``, ``rib``,
``iban``, ``be_niss``, ``qc_nam``, ``ca_sin``) so that every person can be told. Values
are never written in clear: the masked form and a keyed fingerprint only (stable
between runs when ``LEAKGUARD_FINGERPRINT_KEY`` is set).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from leakguard import batch
from leakguard.cli._archives import (
    add_jobs_option,
    file_error,
    interrupted,
    progress_bar,
    runs_on,
)
from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    exit_codes,
    lang,
    plural,
    say,
    t,
)
from leakguard.core import Fingerprinter
from leakguard.errors import LeakguardError

__all__ = ["COLUMNS", "Register", "add_parser", "run"]

COLUMNS = (
    "kind",
    "masked",
    "fingerprint",
    "messages",
    "first_date",
    "last_date",
    "patient_id",
    "patient_name",
)
# Register column names accepted for each identifier kind.
_ALIASES = {
    "nir": "nir",
    "rib": "rib",
    "iban": "iban",
    "be_niss": "be_niss",
    "niss": "be_niss",
    "qc_nam": "qc_nam",
    "nam": "qc_nam",
    "ca_sin": "ca_sin",
    "sin": "ca_sin",
    "nas": "ca_sin",
}


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "affected",
        help=t(
            "list the people whose data an archive sent to a recipient or domain",
            "lister les personnes dont une archive a envoyé les données à un destinataire "
            "ou un domaine",
        ),
        description=t(
            "After a misdirected send: read a Sent folder, keep the messages sent to a "
            "recipient or a domain, and write one CSV row per identifier that left in them "
            "(masked, with a fingerprint), named from the patient register when one is "
            "given. A summary goes to standard error.",
            "Après un envoi au mauvais destinataire : lit un dossier d'envoi, garde les "
            "messages envoyés à un destinataire ou à un domaine, et écrit une ligne CSV par "
            "identifiant parti dans ces messages (masqué, avec une empreinte), avec le "
            "patient du registre quand il est donné. Un résumé va sur la sortie d'erreur.",
        ),
        epilog=exit_codes(
            t(
                "no identifier was sent to that recipient or domain",
                "aucun identifiant n'a été envoyé à ce destinataire ou ce domaine",
            ),
            t(
                "identifiers were sent there: the CSV lists them",
                "des identifiants y ont été envoyés : le CSV les liste",
            ),
            stopped=t(
                "interrupted (Ctrl-C): the rows of the messages read are written; "
                "the list is partial",
                "interrompu (Ctrl-C) : les lignes des messages lus sont écrites ; la "
                "liste est partielle",
            ),
        )
        + t(
            "\n\nExit status 2 also when no message could be read, or when no message "
            "read went to --recipient or --domain (a misspelt address?): never an empty "
            "list with status 0.",
            "\n\nCode 2 aussi quand aucun message n'a pu être lu, ou quand aucun message "
            "lu n'est allé à --recipient ou --domain (adresse mal écrite ?) : jamais une "
            "liste vide avec le code 0.",
        ),
    )
    p.add_argument(
        "archive",
        nargs="+",
        metavar="ARCHIVE",
        help=t(
            "mbox file, Maildir, PST file or folder of .eml messages (the Sent folder)",
            "fichier mbox, Maildir, fichier PST ou dossier de messages .eml (les éléments envoyés)",
        ),
    )
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "--recipient",
        metavar=t("ADDR", "ADRESSE"),
        help=t(
            "only messages sent to this address (To, Cc or Bcc)",
            "seulement les messages envoyés à cette adresse (À, Cc ou Cci)",
        ),
    )
    who.add_argument(
        "--domain",
        metavar=t("DOMAIN", "DOMAINE"),
        help=t(
            "only messages sent to an address of this domain or its sub-domains",
            "seulement les messages envoyés à une adresse de ce domaine ou de ses sous-domaines",
        ),
    )
    p.add_argument(
        "--since",
        type=_since,
        metavar=t("YYYY-MM-DD", "AAAA-MM-JJ"),
        help=t(
            "only messages dated on or after this day (undated messages are kept)",
            "seulement les messages datés de ce jour ou après (ceux sans date sont gardés)",
        ),
    )
    p.add_argument(
        "--register",
        metavar=t("FILE", "FICHIER"),
        help=t(
            "patient register CSV (id, name, and nir/rib/iban/... columns)",
            "registre des patients en CSV (id, name et colonnes nir/rib/iban/...)",
        ),
    )
    p.add_argument(
        "-o",
        "--output",
        metavar=t("FILE.csv", "FICHIER.csv"),
        help=t(
            "write the CSV here (default: standard output)",
            "écrire le CSV dans ce fichier (par défaut : la sortie standard)",
        ),
    )
    add_jobs_option(p)
    p.set_defaults(run=run)


def _since(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            t(
                f"expected a date as YYYY-MM-DD, got {value!r}",
                f"date attendue au format AAAA-MM-JJ : {value!r}",
            )
        ) from None


# --------------------------------------------------------------------------- register


@dataclass(frozen=True, slots=True)
class Patient:
    id: str
    name: str


class Register:
    """Patients by the fingerprints of their identifiers; no number is kept in clear."""

    def __init__(self, by_fingerprint: dict[str, Patient], /) -> None:
        self._by_fingerprint = by_fingerprint

    @classmethod
    def load(cls, path: str | Path, /, *, fingerprinter: Fingerprinter) -> Register:
        from leakguard._files import read_limited
        from leakguard.detectors import as_seen, find_identifiers, get
        from leakguard.register import MAX_REGISTER_BYTES, read_table

        p = Path(path)
        try:
            raw = read_limited(p, MAX_REGISTER_BYTES)
        except OSError as exc:
            raise file_error(
                p,
                exc,
                "cannot read the patient register",
                "impossible de lire le registre des patients",
            ) from None
        reader, fields = read_table(raw)
        id_col = fields.get("id") or fields.get("patient_id")
        kinds = {_ALIASES[k]: f for k, f in fields.items() if k in _ALIASES}
        if id_col is None or not kinds:
            raise LeakguardError(
                f"{p}: the patient register needs an 'id' column and at least one of "
                f"nir, rib, iban, be_niss, qc_nam, ca_sin (found: {', '.join(sorted(fields))}).",
                fr=f"{p} : le registre des patients doit avoir une colonne 'id' et au moins "
                f"une des colonnes nir, rib, iban, be_niss, qc_nam, ca_sin "
                f"(trouvé : {', '.join(sorted(fields))}).",
            )
        name_col = fields.get("name") or fields.get("nom")
        found: dict[str, Patient] = {}
        for row in reader:
            pid = (row.get(id_col) or "").strip()
            if not pid:
                continue
            patient = Patient(pid, (row.get(name_col) or "").strip() if name_col else "")
            for kind, col in kinds.items():
                value = as_seen(row.get(col) or "").strip()
                if not value:
                    continue
                detector = get(kind)
                if detector.is_valid(value):
                    found.setdefault(fingerprinter(kind, detector.validate(value)), patient)
                for m in find_identifiers(value):  # the form detection gives, if it differs
                    found.setdefault(fingerprinter(m.kind, m.compact), patient)
        return cls(found)

    def get(self, fingerprint: str | None, /) -> Patient | None:
        return self._by_fingerprint.get(fingerprint) if fingerprint else None

    def __len__(self) -> int:
        return len(set(self._by_fingerprint.values()))

    def __repr__(self) -> str:
        return f"Register(patients={len(self)})"


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace, out: TextIO) -> int:
    fp = Fingerprinter()
    register = Register.load(args.register, fingerprinter=fp) if args.register else None
    sink = _open(args.output) if args.output else None  # before the work, not after
    bar = progress_bar(None)
    try:
        try:
            found = batch.affected(
                args.archive,
                recipient=args.recipient,
                domain=args.domain,
                since=args.since,
                fingerprinter=fp,
                progress=bar.update,
                lang=lang(),
                **runs_on(args),
            )
        except batch.Interrupted as stop:
            found = stop.result  # what was read until then: written, marked partial
        finally:
            bar.close()
        _write(sink or out, found.values, register)
    finally:
        if sink is not None:
            sink.close()
    return _conclude(args, found, register)


def _conclude(args: argparse.Namespace, found: batch.Affected, register: Register | None) -> int:
    """The summary on standard error, and the exit status."""
    if found.partial:
        _summary(found, register)
        _errors(found)
        return interrupted(
            f"the list holds what the {found.read} message(s) read until then carried; "
            "it is partial.",
            f"la liste contient ce que portaient les {found.read} message(s) lu(s) "
            "jusque-là ; elle est partielle.",
        )
    if found.read == 0:
        _errors(found)  # each input named, with why nothing could be read
        if not found.errors:
            say(t("no message found in the inputs.", "aucun message trouvé dans les entrées."))
        return EXIT_ERROR
    if found.sent == 0 and (args.recipient or args.domain):
        say(_nobody(args, found.read))
        _errors(found)
        return EXIT_ERROR
    _summary(found, register)
    _errors(found)
    if found.errors:
        return EXIT_ERROR
    return EXIT_FAIL if found.values else EXIT_OK


def _nobody(args: argparse.Namespace, read: int) -> str:
    """``no message to X in N message(s) read``: a misspelt address must not read as
    "nobody affected"."""
    since = args.since.isoformat() if args.since else None
    if args.recipient:
        who_en = who_fr = args.recipient
    else:
        dom = args.domain.strip().lstrip("@")
        who_en = f"anyone at {dom} (or its sub-domains)"
        who_fr = f"une adresse de {dom} (ou de ses sous-domaines)"
    return t(
        f"no message to {who_en}{f' since {since}' if since else ''} in the {read} "
        "message(s) read: check the address; no list of people can be drawn.",
        f"aucun message à {who_fr}{f' depuis le {since}' if since else ''} parmi les "
        f"{read} message(s) lu(s) : vérifiez l'adresse ; aucune liste de personnes ne "
        "peut en être tirée.",
    )


def _open(path: str) -> TextIO:
    try:
        return Path(path).open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise file_error(
            path, exc, "cannot write the list", "impossible d'écrire la liste", writing=True
        ) from None


def _write(out: TextIO, rows: list[batch.Value], register: Register | None) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for v in rows:
        patient = register.get(v.fingerprint) if register else None
        w.writerow(
            [
                v.kind,
                v.masked,
                v.fingerprint,
                v.messages,
                _day(v.first),
                _day(v.last),
                patient.id if patient else "",
                patient.name if patient else "",
            ]
        )


def _day(when: datetime | None) -> str:
    return when.astimezone(UTC).date().isoformat() if when else ""


def _summary(found: batch.Affected, register: Register | None) -> None:
    from leakguard.content import PERSON_KINDS

    rows = found.values
    n_msg = found.with_identifiers
    if register is not None:
        people = {p.id for v in rows if (p := register.get(v.fingerprint)) is not None}
        unknown = sum(1 for v in rows if register.get(v.fingerprint) is None)
        who = plural(len(people), ("person", "people"), ("personne", "personnes"))
        line = t(
            f"{who} from the register, in {n_msg} message(s); "
            f"{unknown} value(s) not in the register.",
            f"{who} du registre, dans {n_msg} message(s) ; "
            f"{unknown} valeur(s) absente(s) du registre.",
        )
    else:
        people_n = sum(1 for v in rows if v.kind in PERSON_KINDS)
        who = plural(people_n, ("person", "people"), ("personne", "personnes"))
        line = t(
            f"{who} (distinct personal numbers) in {n_msg} message(s); "
            f"{len(rows)} identifier value(s) in all.",
            f"{who} (numéros personnels distincts) dans {n_msg} message(s) ; "
            f"{len(rows)} valeur(s) d'identifiant en tout.",
        )
    say(line)


def _errors(found: batch.Affected) -> None:
    colon = t(": ", " : ")
    for r in found.errors:
        say(f"{r.source}{colon}{t('error', 'erreur')}{colon}{r.error}")
