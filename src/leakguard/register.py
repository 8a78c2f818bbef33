"""The patient register: who each patient address belongs to, for the other-person check.

A CSV with ``email``, ``name`` and ``nir`` columns. Only keyed fingerprints of the
numbers are kept in memory, never the numbers themselves.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from leakguard._files import read_limited, reason_fr
from leakguard.core import Fingerprinter
from leakguard.detectors import as_seen, nir
from leakguard.errors import DirectoryError

__all__ = ["Patient", "PatientRegister", "read_table"]


def read_table(raw: bytes) -> tuple[csv.DictReader[str], dict[str, str]]:
    """The rows of a register in CSV (UTF-8 with or without BOM; comma, semicolon or tab,
    sniffed) and its column names by their stripped, lower-case form."""
    text = raw.decode("utf-8-sig", errors="replace")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
    return reader, fields


@dataclass(frozen=True, slots=True)
class Patient:
    email: str
    name: str
    nir_fingerprint: str | None

    def __repr__(self) -> str:
        return f"Patient(email={self.email!r}, name={self.name!r})"


#: A patient register larger than this is not read (a large hospital's holds some
#: hundreds of thousands of rows: tens of megabytes).
MAX_REGISTER_BYTES = 512 * 1024 * 1024


class PatientRegister:
    """Patients by e-mail address, with the fingerprint of their NIR."""

    def __init__(self, patients: dict[str, Patient], /) -> None:
        self._by_email = patients

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], /, *, fingerprinter: Fingerprinter
    ) -> PatientRegister:
        p = Path(path)
        try:
            raw = read_limited(p, MAX_REGISTER_BYTES)
        except OSError as exc:
            pourquoi = reason_fr(exc) or (
                "fichier introuvable" if isinstance(exc, FileNotFoundError) else "erreur"
            )
            raise DirectoryError(
                f"{p}: cannot read the patient register ({exc.strerror or exc}).",
                fr=f"{p} : impossible de lire le registre des patients ({pourquoi}).",
            ) from None
        reader, fields = read_table(raw)
        if "email" not in fields:
            raise DirectoryError(
                f"{p}: the patient register needs an 'email' column (found: "
                f"{', '.join(sorted(fields)) or 'none'}).",
                fr=f"{p} : le registre des patients doit avoir une colonne 'email' (trouvé : "
                f"{', '.join(sorted(fields)) or 'aucune'}).",
            )
        patients: dict[str, Patient] = {}
        for row in reader:
            email = (row.get(fields["email"]) or "").strip().lower()
            if not email:
                continue
            name = (row.get(fields.get("name", ""), "") or "").strip() if "name" in fields else ""
            value = as_seen(row.get(fields["nir"]) or "") if "nir" in fields else ""
            fp = fingerprinter("nir", nir.compact(value)) if value and nir.is_valid(value) else None
            patients[email] = Patient(email=email, name=name, nir_fingerprint=fp)
        return cls(patients)

    def get(self, email: str, /) -> Patient | None:
        return self._by_email.get(email.strip().lower())

    def __len__(self) -> int:
        return len(self._by_email)

    def __repr__(self) -> str:
        return f"PatientRegister(patients={len(self._by_email)})"
