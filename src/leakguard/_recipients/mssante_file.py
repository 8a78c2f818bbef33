"""Reading the national MSSanté extraction: the ``.txt`` or the ``.zip`` the ANS serves.

The file is read as a stream, one line at a time, and only the columns the checks use
are kept: type of mailbox (PER/ORG), address, civility, names and profession. Rows that
cannot be used are counted with their line numbers and a reason, never their content:
nothing of the directory is ever written to a log or a message about the file.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from leakguard._recipients.loaders import DirectoryLoadError

__all__ = [
    "ANS_URL",
    "COLUMNS",
    "DEFAULT_URL",
    "MIN_ROWS",
    "Extraction",
    "Tally",
    "generation_from_name",
    "open_extraction",
    "read_rows",
]

#: The open-data portal's copy of the extraction (plain text, public certificate).
DEFAULT_URL = "https://www.data.gouv.fr/api/1/datasets/r/afe01105-d9a1-41fe-921f-e40ea48b2ba6"
#: The ANS's own service (a ZIP); its certificate chains to the IGC-Santé root, which must
#: be given with ``ca_file``.
ANS_URL = (
    "https://service.annuaire.sante.fr/annuaire-sante-webservices/V300/services/extraction/"
    "Extraction_Correspondance_MSSante"
)
#: Fewer rows than this is not the national extraction (it has about 535,000).
MIN_ROWS = 100_000
#: The 31 columns of the extraction, in their order.
COLUMNS = (
    "Type de BAL",
    "Adresse BAL",
    "Type Identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Type identifiant structure",
    "Identification Structure",
    "Service de rattachement",
    "Civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Catégorie profession",
    "Libellé de catégorie profession",
    "Code Profession",
    "Libellé Profession",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Dématérialisation",
    "Raison Sociale structure BAL",
    "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION",
    "L3COMPLEMENTDISTRIBUTION",
    "L4NUMEROVOIE",
    "L4COMPLEMENTNUMEROVOIE",
    "NL4TYPEVOIE",
    "L4LIBELLEVOIE",
    "L5LIEUDITMENTION",
    "L6LIGNEACHEMINEMENT",
    "Code postal",
    "Département",
    "Pays",
)
TYPE, ADDRESS, CIVILITY, LAST, FIRST, PROFESSION = 0, 1, 8, 9, 10, 14
_SEPARATORS = len(COLUMNS) - 1

# The extraction is about 90 MB of text; far more is not the extraction.
MAX_TEXT_BYTES = 2 * 1024**3
# A row is a few hundred characters; a longer line is not a row (and is not kept whole).
MAX_LINE = 64 * 1024
# Problems kept with their line number; the rest are only counted.
ISSUES_KEPT = 20

_STAMP = re.compile(r"Extraction_Correspondance_MSSante_(\d{12})(?!\d)", re.IGNORECASE)
# Plain lower-case ASCII addresses, the shape of nearly every row: taken as they are.
# Anything else goes through email-validator.
_PLAIN = re.compile(
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)

_REASONS = {
    "columns": ("wrong number of columns", "nombre de colonnes incorrect"),
    "address": ("no address", "pas d'adresse"),
    "invalid": ("invalid address", "adresse invalide"),
    "type": ("mailbox type is neither PER nor ORG", "type de boîte ni PER ni ORG"),
}


def _simple(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text.lower() if c.isalnum())


def generation_from_name(name: str) -> datetime | None:
    """The generation time written in ``Extraction_Correspondance_MSSante_AAAAMMJJhhmm``."""
    found = _STAMP.search(name)
    if found is None:
        return None
    try:
        return datetime.strptime(found[1], "%Y%m%d%H%M")
    except ValueError:
        return None


@dataclass(slots=True)
class Tally:
    """Rows read and rows set aside, with the first few problems' line numbers."""

    rows: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    issues: list[tuple[int, str]] = field(default_factory=list)
    last_line_complete: bool = True

    def reject(self, line: int, reason: str) -> None:
        self.bad[reason] = self.bad.get(reason, 0) + 1
        if len(self.issues) < ISSUES_KEPT:
            self.issues.append((line, reason))

    @property
    def bad_rows(self) -> int:
        return sum(self.bad.values())

    @staticmethod
    def reason(reason: str, lang: str = "en") -> str:
        en, fr = _REASONS.get(reason, (reason, reason))
        return fr if lang == "fr" else en


@dataclass(frozen=True, slots=True)
class Extraction:
    """Where the rows come from: the file, its form and when the ANS generated it."""

    path: str
    form: str  # "zip" or "txt"
    member: str | None
    generated: datetime | None
    generated_from: str  # "name" (of the file or the ZIP member) or "mtime"


def _error(shown: str, en: str, fr: str) -> DirectoryLoadError:
    return DirectoryLoadError(f"{shown}: {en}.", f"{shown} : {fr}.")


def _os_error(shown: str, exc: OSError) -> DirectoryLoadError:
    if isinstance(exc, FileNotFoundError):
        return _error(shown, "no such file", "fichier introuvable")
    if isinstance(exc, IsADirectoryError):
        return _error(shown, "it is a folder, not a file", "c'est un dossier, pas un fichier")
    if isinstance(exc, PermissionError):
        return _error(shown, "permission denied", "accès refusé")
    return _error(shown, f"cannot be read ({exc.strerror or exc})", "lecture impossible")


def _member(archive: zipfile.ZipFile, shown: str) -> zipfile.ZipInfo:
    files = [i for i in archive.infolist() if not i.is_dir()]
    texts = [i for i in files if i.filename.lower().endswith(".txt")]
    if len(files) != 1 or len(texts) != 1:
        raise _error(
            shown,
            f"the ZIP should hold one .txt file (the extraction), it holds {len(files)} file(s)",
            f"le ZIP devrait contenir un seul fichier .txt (l'extraction), il en contient "
            f"{len(files)}",
        )
    if texts[0].file_size > MAX_TEXT_BYTES:
        raise _error(
            shown, "the file in the ZIP is far too large", "le fichier du ZIP est bien trop gros"
        )
    return texts[0]


@contextlib.contextmanager
def open_extraction(path: str | os.PathLike[str]) -> Iterator[tuple[Extraction, IO[str]]]:
    """The extraction at ``path`` (a ZIP holding it, or the text itself) as a text stream.

    Raises ``DirectoryLoadError`` naming the file when it cannot be opened as either.
    """
    p = Path(path)
    shown = str(p)
    try:
        raw = p.open("rb")
    except OSError as exc:
        raise _os_error(shown, exc) from None
    with contextlib.ExitStack() as stack:
        stack.enter_context(raw)
        try:
            head = raw.read(4)
            stat = os.fstat(raw.fileno())
            raw.seek(0)
        except OSError as exc:
            raise _os_error(shown, exc) from None
        mtime = datetime.fromtimestamp(stat.st_mtime)
        if head[:2] == b"PK":
            try:
                archive = stack.enter_context(zipfile.ZipFile(raw))
                info = _member(archive, shown)
                binary: IO[bytes] = stack.enter_context(archive.open(info))
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError):
                raise _error(
                    shown, "damaged or unreadable ZIP", "ZIP endommagé ou illisible"
                ) from None
            when = generation_from_name(info.filename) or generation_from_name(p.name)
            source = Extraction(
                shown, "zip", info.filename, when or mtime, "name" if when else "mtime"
            )
        else:
            if stat.st_size > MAX_TEXT_BYTES:
                raise _error(shown, "far too large", "bien trop gros")
            binary = raw
            when = generation_from_name(p.name)
            source = Extraction(shown, "txt", None, when or mtime, "name" if when else "mtime")
        text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
        yield source, text


def _check_header(line: str, shown: str) -> None:
    if "\x00" in line or not line.strip():
        raise _error(
            shown,
            "not the MSSanté extraction (no header line)",
            "ce n'est pas l'extraction MSSanté (pas de ligne d'en-tête)",
        )
    cells = line.lstrip("\ufeff").rstrip("\r\n").split("|")
    if len(cells) != len(COLUMNS):
        raise _error(
            shown,
            f"not the MSSanté extraction: the header has {len(cells)} column(s), "
            f"{len(COLUMNS)} expected",
            f"ce n'est pas l'extraction MSSanté : l'en-tête a {len(cells)} colonne(s), "
            f"{len(COLUMNS)} attendues",
        )
    for number, (got, want) in enumerate(zip(cells, COLUMNS, strict=True), start=1):
        if _simple(got) != _simple(want):
            shown_got = got.strip()[:60]
            raise _error(
                shown,
                f"not the MSSanté extraction: column {number} is {shown_got!r}, {want!r} expected",
                f"ce n'est pas l'extraction MSSanté : la colonne {number} est « {shown_got} », "
                f"« {want} » attendue",
            )


#: One usable row: its cells up to the profession (``TYPE``, ``ADDRESS``, ``CIVILITY``,
#: ``LAST``, ``FIRST``, ``PROFESSION`` index it), the type upper-case and the address
#: in its canonical form; the other cells as written.
Row = list[str]


def read_rows(text: IO[str], tally: Tally, shown: str) -> Iterator[Row]:
    """The usable rows of an opened extraction; the others are counted in ``tally``."""
    from leakguard._recipients import addresses as _addr  # email-validator: when reading

    try:
        readline = text.readline
        _check_header(readline(MAX_LINE), shown)
        plain = _PLAIN.fullmatch
        line_no = 1
        line = last = ""
        rows = 0
        while True:
            # Lines are read up to a bound: a file without line breaks costs no memory.
            line = readline(MAX_LINE)
            if not line:
                break
            last = line
            line_no += 1
            if len(line) == MAX_LINE and not line.endswith("\n"):
                while len(line) == MAX_LINE and not line.endswith("\n"):
                    line = last = readline(MAX_LINE)
                tally.reject(line_no, "columns")
                continue
            if line.count("|") != _SEPARATORS:
                if line.strip():
                    tally.reject(line_no, "columns")
                continue
            cells = line.split("|", PROFESSION + 1)
            kind = cells[TYPE]
            if kind != "PER" and kind != "ORG":
                kind = kind.strip().upper()
                if kind != "PER" and kind != "ORG":
                    tally.reject(line_no, "type")
                    continue
                cells[TYPE] = kind
            address = cells[ADDRESS].lower()
            if not plain(address):
                address = address.strip()
                if not address:
                    tally.reject(line_no, "address")
                    continue
                try:
                    address = _addr.strict(address)
                except _addr.InvalidAddress:
                    tally.reject(line_no, "invalid")
                    continue
            cells[ADDRESS] = address
            rows += 1
            tally.rows = rows
            yield cells
        tally.last_line_complete = not last or last.endswith("\n")
    except (zipfile.BadZipFile, EOFError, zlib.error):
        raise _error(
            shown,
            "damaged ZIP (its content does not match its checksum or is cut short)",
            "ZIP endommagé (contenu tronqué ou somme de contrôle fausse)",
        ) from None
    except OSError as exc:
        raise _os_error(shown, exc) from None
