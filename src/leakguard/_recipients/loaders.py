"""Readers for the colleagues' directory files: CSV, plain list, vCard and LDIF.

Each reader turns a file's text into raw entries (line number, address as written,
name) and problems with their line numbers; it never decides what a valid address is.
A file that cannot be used at all raises ``DirectoryLoadError`` with a sentence naming
the file, the line and what is wrong, in English and French.
"""

from __future__ import annotations

import base64
import csv
import email.utils
import os
import quopri
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from leakguard._files import NotRegular, TooLarge, read_limited
from leakguard.errors import DirectoryError

__all__ = ["DirectoryLoadError", "RawEntry", "RawProblem", "read_directory_file"]

MAX_FILE_BYTES = 512 * 1024 * 1024
_MAX_FIELD = 1 << 20


class DirectoryLoadError(DirectoryError):
    """A colleagues' file that cannot be used at all.

    ``message("fr")`` (also kept as ``message_fr``) says it in French.
    """

    def __init__(self, message: str, message_fr: str) -> None:
        super().__init__(message, fr=message_fr)
        self.message_fr = message_fr


@dataclass(frozen=True, slots=True)
class RawEntry:
    line: int
    address: str
    name: str | None


@dataclass(frozen=True, slots=True)
class RawProblem:
    line: int
    reason: str
    reason_fr: str


Parsed = tuple[list[RawEntry], list[RawProblem]]


def _decode(data: bytes, shown: str) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DirectoryLoadError(
            f"{shown} is not a text file (line {line} holds binary data).",
            f"{shown} n'est pas un fichier texte (la ligne {line} contient des données binaires).",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Outlook on Windows exports contacts in the ANSI code page.
        return data.decode("cp1252", errors="replace")


def _simplify(header: str) -> str:
    """``"Adresse de messagerie"`` -> ``"adressedemessagerie"``: no accents, case, spaces."""
    text = unicodedata.normalize("NFKD", header)
    return "".join(c for c in text.lower() if c.isalnum())


# --------------------------------------------------------------------------- CSV

_FIRST = ("firstname", "givenname", "prenom", "first")
_MIDDLE = ("middlename", "deuxiemeprenom", "secondprenom", "autresprenoms")
_LAST = ("lastname", "surname", "familyname", "nomdefamille", "last")
_FULL = (
    "displayname",
    "name",
    "fullname",
    "nomcomplet",
    "nomafficher",
    "nomaafficher",
    "nom",
    "cn",
    "emaildisplayname",
    "nomcompletdeladressedemessagerie",
)
_NOT_ADDRESS = ("type", "display", "name", "nom", "affich", "kind")


def _is_address_header(simple: str) -> bool:
    if not any(word in simple for word in ("mail", "courriel", "messagerie")):
        return False
    return not any(word in simple for word in _NOT_ADDRESS)


@dataclass(frozen=True, slots=True)
class _Columns:
    addresses: tuple[int, ...]
    full: int | None
    first: int | None
    middle: int | None
    last: int | None


def _columns(header: Sequence[str]) -> _Columns | None:
    simple = [_simplify(h) for h in header]
    addresses = tuple(i for i, h in enumerate(simple) if _is_address_header(h))
    if not addresses:
        return None

    def find(names: Sequence[str]) -> int | None:
        for name in names:
            if name in simple:
                return simple.index(name)
        return None

    first = find(_FIRST)
    last = find(_LAST)
    if last is None and first is not None and "nom" in simple:
        last = simple.index("nom")  # French Outlook: "Prénom" then "Nom" (family name)
    nom_is_last = last is not None and simple[last] == "nom"
    full_names = [n for n in _FULL if not (n == "nom" and nom_is_last)]
    return _Columns(addresses, find(full_names), first, find(_MIDDLE), last)


def _cell(row: Sequence[str], i: int | None) -> str:
    if i is None or i >= len(row):
        return ""
    return row[i].strip()


def _row_name(row: Sequence[str], cols: _Columns) -> str | None:
    full = _cell(row, cols.full)
    if full and "@" not in full:
        return full
    parts = [_cell(row, cols.first), _cell(row, cols.middle), _cell(row, cols.last)]
    joined = " ".join(p for p in parts if p)
    return joined or (full or None)


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _parse_csv(text: str, shown: str) -> Parsed:
    lines = text.splitlines()
    first_line = next((ln for ln in lines if ln.strip()), "")
    csv.field_size_limit(_MAX_FIELD)
    reader = csv.reader(lines, delimiter=_delimiter(first_line))
    entries: list[RawEntry] = []
    problems: list[RawProblem] = []
    cols: _Columns | None = None
    headerless = False
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if cols is None:
                cols = _columns(row)
                if cols is None:
                    if not any("@" in cell for cell in row):
                        raise DirectoryLoadError(
                            f"{shown}, line {line}: no e-mail column; name one column "
                            "email (or E-mail Address, Adresse de messagerie, courriel).",
                            f"{shown}, ligne {line} : aucune colonne d'adresse ; nommez une "
                            "colonne email (ou E-mail Address, Adresse de messagerie, "
                            "courriel).",
                        )
                    headerless = True
                    cols = _Columns((), None, None, None, None)
                else:
                    continue
            if headerless:
                # No header: the first cell holding an '@' is the address, the first
                # other filled cell the name.
                at = next((i for i, cell in enumerate(row) if "@" in cell), 0)
                others = [i for i, cell in enumerate(row) if i != at and cell.strip()]
                cols = _Columns((at,), others[0] if others else None, None, None, None)
            name = _row_name(row, cols)
            cells = [_cell(row, i) for i in cols.addresses]
            cells = [c for c in cells if c]
            if not cells:
                problems.append(
                    RawProblem(
                        line, "no e-mail address on this line", "aucune adresse sur cette ligne"
                    )
                )
                continue
            entries.extend(RawEntry(line, cell, name) for cell in cells)
    except csv.Error as exc:
        raise DirectoryLoadError(
            f"{shown}, line {reader.line_num}: the CSV text is malformed ({exc}).",
            f"{shown}, ligne {reader.line_num} : le texte CSV est mal formé ({exc}).",
        ) from None
    return entries, problems


# --------------------------------------------------------------------------- plain list


def _parse_list(text: str, shown: str) -> Parsed:
    entries: list[RawEntry] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        if "<" in item and item.endswith(">"):
            name, address = email.utils.parseaddr(item)
            entries.append(RawEntry(line, address or item, name or None))
        else:
            entries.append(RawEntry(line, item, None))
    return entries, []


# --------------------------------------------------------------------------- vCard


def _unfold(text: str, *, quoted_printable_aware: bool) -> Iterator[tuple[int, str]]:
    """Logical lines with the number of their first physical line."""
    current: str | None = None
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if current is not None and raw[:1] in (" ", "\t"):
            current += raw[1:]
            continue
        if (
            quoted_printable_aware
            and current is not None
            and current.endswith("=")
            and "QUOTED-PRINTABLE" in current.split(":", 1)[0].upper()
        ):
            current = current[:-1] + raw
            continue
        if current is not None:
            yield start, current
        current, start = raw, number
    if current is not None:
        yield start, current


def _vcard_unescape(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            out.append("\n" if nxt in ("n", "N") else nxt)
        else:
            out.append(c)
    return "".join(out)


def _vcard_value(params: Sequence[str], value: str) -> str:
    upper = [p.upper() for p in params]
    if "ENCODING=QUOTED-PRINTABLE" in upper or "QUOTED-PRINTABLE" in upper:
        charset = next(
            (p.split("=", 1)[1] for p in params if p.upper().startswith("CHARSET=")), "utf-8"
        )
        raw = quopri.decodestring(value.encode("latin-1", errors="replace"))
        try:
            return raw.decode(charset, errors="replace")
        except LookupError:
            return raw.decode("utf-8", errors="replace")
    return _vcard_unescape(value)


def _parse_vcard(text: str, shown: str) -> Parsed:
    entries: list[RawEntry] = []
    problems: list[RawProblem] = []
    inside = False
    seen_card = False
    card_line = 0
    emails: list[tuple[int, str]] = []
    fn = ""
    n_name = ""
    for line, logical in _unfold(text, quoted_printable_aware=True):
        head, colon, value = logical.partition(":")
        if not colon:
            continue
        params = head.split(";")
        prop = params[0].rsplit(".", 1)[-1].strip().upper()
        if prop == "BEGIN" and value.strip().upper() == "VCARD":
            inside, seen_card, card_line = True, True, line
            emails, fn, n_name = [], "", ""
            continue
        if not inside:
            continue
        if prop == "END" and value.strip().upper() == "VCARD":
            inside = False
            name = fn or n_name or None
            if not emails:
                problems.append(
                    RawProblem(
                        card_line,
                        "contact card without an e-mail address",
                        "fiche de contact sans adresse électronique",
                    )
                )
            entries.extend(RawEntry(at, address, name) for at, address in emails)
            continue
        decoded = _vcard_value(params[1:], value)
        if prop == "EMAIL":
            emails.append((line, decoded.strip()))
        elif prop == "FN":
            fn = decoded.strip()
        elif prop == "N":
            parts = [p.strip() for p in decoded.split(";")] + ["", ""]
            n_name = " ".join(p for p in (parts[1], parts[0]) if p)
    if not seen_card:
        raise DirectoryLoadError(
            f"{shown}, line 1: not a vCard file (no BEGIN:VCARD).",
            f"{shown}, ligne 1 : ce n'est pas un fichier vCard (aucun BEGIN:VCARD).",
        )
    if inside:
        problems.append(
            RawProblem(
                card_line,
                "contact card not closed by END:VCARD; its addresses are ignored",
                "fiche de contact non fermée par END:VCARD ; ses adresses sont ignorées",
            )
        )
    return entries, problems


# --------------------------------------------------------------------------- LDIF

_PERSON_ATTRS = frozenset({"cn", "sn", "givenname", "displayname"})


def _parse_ldif(text: str, shown: str) -> Parsed:
    entries: list[RawEntry] = []
    problems: list[RawProblem] = []
    record: list[tuple[int, str, str]] = []
    saw_dn = False

    def flush() -> None:
        nonlocal record
        if not record:
            return
        attrs: dict[str, list[tuple[int, str]]] = {}
        for at, key, value in record:
            attrs.setdefault(key, []).append((at, value))
        record = []
        mails = attrs.get("mail", [])
        name = None
        for key in ("displayname", "cn"):
            if attrs.get(key):
                name = attrs[key][0][1]
                break
        if name is None and (attrs.get("givenname") or attrs.get("sn")):
            given = attrs.get("givenname", [(0, "")])[0][1]
            family = attrs.get("sn", [(0, "")])[0][1]
            name = f"{given} {family}".strip() or None
        if not mails:
            if _PERSON_ATTRS & attrs.keys():
                first_line = min(at for values in attrs.values() for at, _ in values)
                problems.append(
                    RawProblem(
                        first_line,
                        "directory entry without a mail attribute",
                        "entrée d'annuaire sans attribut mail",
                    )
                )
            return
        entries.extend(RawEntry(at, value, name) for at, value in mails)

    for line, logical in _unfold(text, quoted_printable_aware=False):
        if not logical.strip():
            flush()
            continue
        if logical.startswith("#"):
            continue
        key, colon, value = logical.partition(":")
        if not colon:
            problems.append(
                RawProblem(
                    line, "not an LDIF attribute line", "ligne qui n'est pas un attribut LDIF"
                )
            )
            continue
        key = key.split(";", 1)[0].strip().lower()
        if key == "version" and not record:
            continue
        if key == "dn":
            flush()
            saw_dn = True
        if value.startswith(":"):
            try:
                value = base64.b64decode(value[1:].strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                # binascii.Error is a ValueError, and so is a value with a character
                # beyond ASCII, which b64decode refuses before decoding anything.
                problems.append(
                    RawProblem(
                        line, "value is not valid base64 UTF-8 text", "valeur base64 invalide"
                    )
                )
                continue
        elif value.startswith("<"):
            problems.append(
                RawProblem(
                    line,
                    "values read from a URL are not supported",
                    "les valeurs lues depuis une URL ne sont pas prises en charge",
                )
            )
            continue
        record.append((line, key, value.strip()))
    flush()
    if not saw_dn:
        raise DirectoryLoadError(
            f"{shown}, line 1: not an LDIF file (no dn: line).",
            f"{shown}, ligne 1 : ce n'est pas un fichier LDIF (aucune ligne dn:).",
        )
    return entries, problems


# --------------------------------------------------------------------------- dispatch


def _sniff(text: str, suffix: str) -> str:
    if suffix in (".vcf", ".vcard"):
        return "vcard"
    if suffix == ".ldif":
        return "ldif"
    if suffix in (".csv", ".tsv"):
        return "csv"
    meaningful = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    first = meaningful[0] if meaningful else ""
    if first.upper().startswith("BEGIN:VCARD"):
        return "vcard"
    if first.lower().startswith(("dn:", "version:")):
        return "ldif"
    cells = next(csv.reader([first], delimiter=_delimiter(first)), [])
    if "@" not in first and _columns(cells) is not None:
        return "csv"  # a header row naming an address column, even a lone "email"
    return "list"


def read_directory_file(path: str | os.PathLike[str], /) -> tuple[str, Parsed]:
    """Read and parse a directory file; returns its shown name and what it holds."""
    file = Path(path)
    shown = str(path)
    try:
        data = read_limited(file, MAX_FILE_BYTES)
    except TooLarge:
        raise DirectoryLoadError(
            f"The colleagues' directory {shown} is larger than 512 MB.",
            f"L'annuaire des collègues {shown} dépasse 512 Mo.",
        ) from None
    except NotRegular:
        raise DirectoryLoadError(
            f"Cannot read the colleagues' directory {shown}: not a regular file (a device, "
            "a pipe or a socket).",
            f"Impossible de lire l'annuaire des collègues {shown} : ce n'est pas un fichier "
            "ordinaire (un périphérique, un tube ou une socket).",
        ) from None
    except FileNotFoundError:
        raise DirectoryLoadError(
            f"Cannot read the colleagues' directory {shown}: file not found.",
            f"Impossible de lire l'annuaire des collègues {shown} : fichier introuvable.",
        ) from None
    except IsADirectoryError:
        raise DirectoryLoadError(
            f"Cannot read the colleagues' directory {shown}: it is a folder, not a file.",
            f"Impossible de lire l'annuaire des collègues {shown} : c'est un dossier, "
            "pas un fichier.",
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DirectoryLoadError(
            f"Cannot read the colleagues' directory {shown}: {reason}.",
            f"Impossible de lire l'annuaire des collègues {shown} : {reason}.",
        ) from None
    text = _decode(data, shown)
    if not text.strip():
        raise DirectoryLoadError(
            f"The colleagues' directory {shown} is empty.",
            f"L'annuaire des collègues {shown} est vide.",
        )
    kind = _sniff(text, file.suffix.lower())
    parser = {"csv": _parse_csv, "vcard": _parse_vcard, "ldif": _parse_ldif, "list": _parse_list}
    return shown, parser[kind](text, shown)
