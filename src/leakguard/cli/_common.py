"""What every command shares: exit codes, language, inputs and the guard they build."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from leakguard.core import Finding, Lang, Verdict

if TYPE_CHECKING:
    from leakguard.guard import Guard

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def lang() -> Lang:
    """The language of the person at the terminal, from the locale variables."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var, "")
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


def t(en: str, fr: str) -> str:
    """Pick the English or French text for the current language."""
    return fr if lang() == "fr" else en


@dataclass(frozen=True, slots=True)
class Input:
    source: str
    path: Path | None  # None for standard input


@dataclass(slots=True)
class Result:
    source: str
    verdict: Verdict | None = None
    findings: tuple[Finding, ...] = ()
    error: str | None = None


def _inputs(paths: Sequence[str], *, only_eml: bool) -> Iterator[Input | Result]:
    for raw in paths:
        if raw == "-":
            yield Input("-", None)
            continue
        p = Path(raw)
        if p.is_dir():
            pattern = "*.eml" if only_eml else "*"
            found = sorted(q for q in p.rglob(pattern) if q.is_file())
            if not found:
                yield Result(
                    raw,
                    error=t(
                        "no file to check in this folder",
                        "aucun fichier à vérifier dans ce dossier",
                    ),
                )
            for q in found:
                yield Input(str(q), q)
        elif p.is_file():
            yield Input(raw, p)
        else:
            yield Result(raw, error=t("no such file", "fichier introuvable"))


def _read(item: Input) -> bytes:
    if item.path is None:
        return sys.stdin.buffer.read()
    return item.path.read_bytes()


def readable(paths: Sequence[str], *, only_eml: bool) -> Iterator[tuple[Input, bytes] | Result]:
    """Each input with its bytes, or a result that says why it could not be read."""
    for item in _inputs(paths, only_eml=only_eml):
        if isinstance(item, Result):
            yield item
            continue
        try:
            yield item, _read(item)
        except OSError as exc:
            yield Result(item.source, error=exc.strerror or type(exc).__name__)


def add_guard_options(p: argparse.ArgumentParser) -> None:
    """The options that configure a guard: policy, colleagues and internal domains."""
    p.add_argument("--policy", metavar="FILE", help="policy TOML file (default: embedded policy)")
    p.add_argument("--directory", metavar="FILE", help="colleagues: CSV, plain list, vCard or LDIF")
    p.add_argument(
        "--internal-domain",
        metavar="DOMAIN",
        action="append",
        default=[],
        help="the organisation's own domain (repeatable)",
    )


def build_guard(args: argparse.Namespace) -> Guard:
    """A guard from the policy, directory and internal-domain options."""
    from leakguard.guard import Guard
    from leakguard.policy import Policy
    from leakguard.protection import FolderCertificates
    from leakguard.recipients import Directory

    policy = Policy.load(args.policy) if args.policy else Policy.default()
    domains = tuple(d.strip().lower() for d in args.internal_domain if d.strip())
    if domains:
        policy = policy.replace(
            internal_domains=tuple(dict.fromkeys(policy.internal_domains + domains))
        )
    directory = Directory.load(args.directory) if args.directory else None
    folder = getattr(args, "certificates", None)  # only `protect` takes certificates
    certificates = FolderCertificates(folder) if folder else None
    store = getattr(args, "correspondents", None)  # only `check` takes a store
    return Guard(policy, directory=directory, certificates=certificates, correspondents=store)
