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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from leakguard.cli._archives import (
    Checked,
    Entry,
    add_jobs_option,
    cores,
    entries,
    file_error,
    recipients_of,
    run_scan,
)
from leakguard.cli._common import EXIT_ERROR, EXIT_FAIL, EXIT_OK, Result, exit_codes, plural, say, t
from leakguard.core import IDENTIFIER_KINDS, Finding, Fingerprinter
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
        from leakguard.detectors import find_identifiers, get
        from leakguard.register import read_table

        p = Path(path)
        try:
            raw = p.read_bytes()
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
                value = (row.get(col) or "").strip()
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


@dataclass(slots=True)
class _Value:
    kind: str
    masked: str
    fingerprint: str
    sources: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None

    def seen(self, source: str, when: datetime | None) -> None:
        self.sources.add(source)
        if when is not None:
            self.first = when if self.first is None else min(self.first, when)
            self.last = when if self.last is None else max(self.last, when)


def _wanted(
    items: Iterator[Entry | Result],
    *,
    recipient: str | None,
    domain: str | None,
    since: date | None,
) -> Iterator[Entry | Result]:
    rcpt = recipient.strip().lower() if recipient else None
    dom = domain.strip().lower().lstrip("@") if domain else None
    for item in items:
        if isinstance(item, Result):
            yield item
            continue
        if since is not None and item.date is not None and item.date.astimezone(UTC).date() < since:
            continue
        addresses = recipients_of(item.data)
        if rcpt is not None and rcpt not in addresses:
            continue
        if dom is not None and not any(
            a.rpartition("@")[2] == dom or a.rpartition("@")[2].endswith("." + dom)
            for a in addresses
        ):
            continue
        yield item


def run(args: argparse.Namespace, out: TextIO) -> int:
    fp = Fingerprinter()
    register = Register.load(args.register, fingerprinter=fp) if args.register else None
    sink = _open(args.output) if args.output else None  # before the work, not after
    items = _wanted(
        entries(args.archive, only_eml=True),
        recipient=args.recipient,
        domain=args.domain,
        since=args.since,
    )
    values: dict[tuple[str, str], _Value] = {}
    messages: set[str] = set()
    errors: list[Result] = []
    try:
        for done in run_scan(fp, items, args.jobs or cores()):
            if done.result.error is not None:
                errors.append(done.result)
                continue
            _collect(done, values, messages)
        rows = sorted(values.values(), key=lambda v: (v.first or _NEVER, v.kind, v.masked))
        _write(sink or out, rows, register)
    finally:
        if sink is not None:
            sink.close()
    _summary(rows, messages, register, errors)
    if errors:
        return EXIT_ERROR
    return EXIT_FAIL if rows else EXIT_OK


def _open(path: str) -> TextIO:
    try:
        return Path(path).open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise file_error(
            path, exc, "cannot write the list", "impossible d'écrire la liste"
        ) from None


_NEVER = datetime.min.replace(tzinfo=UTC)


def _collect(done: Checked, values: dict[tuple[str, str], _Value], messages: set[str]) -> None:
    source = done.result.source
    found: list[Finding] = [
        f for f in done.result.findings if f.kind in IDENTIFIER_KINDS and f.fingerprint
    ]
    if found:
        messages.add(source)
    for f in found:
        assert f.fingerprint is not None
        key = (f.kind, f.fingerprint)
        value = values.get(key)
        if value is None:
            value = values[key] = _Value(f.kind, f.masked or "", f.fingerprint)
        value.seen(source, done.date)


def _write(out: TextIO, rows: list[_Value], register: Register | None) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for v in rows:
        patient = register.get(v.fingerprint) if register else None
        w.writerow(
            [
                v.kind,
                v.masked,
                v.fingerprint,
                len(v.sources),
                _day(v.first),
                _day(v.last),
                patient.id if patient else "",
                patient.name if patient else "",
            ]
        )


def _day(when: datetime | None) -> str:
    return when.astimezone(UTC).date().isoformat() if when else ""


def _summary(
    rows: list[_Value], messages: set[str], register: Register | None, errors: list[Result]
) -> None:
    from leakguard.content import PERSON_KINDS

    n_msg = len(messages)
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
    colon = t(": ", " : ")
    for r in errors:
        say(f"{r.source}{colon}{t('error', 'erreur')}{colon}{r.error}")
