"""What every command shares: exit codes, language, the parser, inputs and the guard.

Help texts are written ``t(english, french)`` inside ``add_parser``: the language is
known before any parser is built (``--lang``, else the locale), so a new command only has
to follow that habit to be translated.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from leakguard.core import Finding, Lang, Verdict
from leakguard.errors import DirectoryError, ProtectionError

if TYPE_CHECKING:
    from leakguard.guard import Guard

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
#: Ctrl-C (SIGINT): what was finished is written out and marked partial.
EXIT_INTERRUPTED = 130

LANGS: tuple[Lang, ...] = ("en", "fr")

# The language chosen with --lang for the command being run (None: follow the locale).
_chosen: ContextVar[Lang | None] = ContextVar("leakguard_cli_lang", default=None)


def locale_lang() -> Lang:
    """The language of the person at the terminal, from the locale variables."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var, "")
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


def lang() -> Lang:
    """The language of the output: ``--lang`` when given, else the locale."""
    return _chosen.get() or locale_lang()


def use_lang(value: Lang | None) -> Any:
    """Make ``value`` the output language (None: the locale); returns a reset token."""
    return _chosen.set(value)


def reset_lang(token: Any) -> None:
    _chosen.reset(token)


def t(en: str, fr: str) -> str:
    """Pick the English or French text for the current language."""
    return fr if lang() == "fr" else en


def say(text: str) -> None:
    """One line on standard error, as ``leakguard: text``."""
    sys.stderr.write(t("leakguard: ", "leakguard : ") + text + "\n")


def heading(en: str, fr: str) -> str:
    """A ``--help`` section title; argparse adds the colon, French wants a space before it."""
    return t(en, fr + " ")


def exit_codes(ok: str, fail: str, *more: tuple[int, str]) -> str:
    """The exit-status paragraph every command shows at the end of its ``--help``;
    ``more``: further (status, meaning) pairs."""
    error = t(
        "usage error or unreadable input (the other inputs are still handled)",
        "erreur d'utilisation ou entrée illisible (les autres entrées sont traitées)",
    )
    lines = [t("exit status:", "code de sortie :")]
    for code, text in ((0, ok), (1, fail), (2, error), *more):
        lines += textwrap.wrap(text, 76, initial_indent=f"  {code}  ", subsequent_indent=" " * 5)
    return "\n".join(lines)


# --------------------------------------------------------------------------- parser


class HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, with the ``usage:`` prefix in the output language.

    A text of one paragraph (a description) is wrapped; a text with line breaks (the
    exit-status epilog) is kept as written.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def add_usage(
        self,
        usage: str | None,
        actions: Any,
        groups: Any,
        prefix: str | None = None,
    ) -> None:
        if prefix is None:
            prefix = t("usage: ", "utilisation : ")
        super().add_usage(usage, actions, groups, prefix)


# argparse's own error sentences (Python 3.11 to 3.13) and their French.
_USAGE_ERRORS_FR: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(en), fr)
    for en, fr in (
        (r"^the following arguments are required: (.*)$", r"arguments obligatoires manquants : \1"),
        (r"^unrecognized arguments: (.*)$", r"arguments non reconnus : \1"),
        (r"^ambiguous option: (\S+) could match (.*)$", r"option ambiguë : \1 peut être \2"),
        (
            r"^argument (.+?): invalid choice: (.+?) \(choose from (.*)\)$",
            r"argument \1 : choix invalide : \2 (choix possibles : \3)",
        ),
        (r"^argument (.+?): expected one argument$", r"argument \1 : une valeur est attendue"),
        (
            r"^argument (.+?): expected at least one argument$",
            r"argument \1 : au moins une valeur est attendue",
        ),
        (r"^argument (.+?): ignored explicit argument (.*)$", r"argument \1 : valeur ignorée \2"),
        (r"^argument (.+?): invalid (\S+) value: (.*)$", r"argument \1 : valeur invalide : \3"),
        (
            r"^argument (.+?): not allowed with argument (.*)$",
            r"argument \1 : incompatible avec l'argument \2",
        ),
    )
)


def usage_error_text(message: str) -> str:
    """argparse's error sentence in the output language."""
    if lang() != "fr":
        return message
    for pattern, french in _USAGE_ERRORS_FR:
        if pattern.match(message):
            return pattern.sub(french, message)
    return message


class Parser(argparse.ArgumentParser):
    """An argument parser that speaks the output language and exits 2 on usage errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        add_help = kwargs.pop("add_help", True)
        kwargs["add_help"] = False
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self._positionals.title = heading("arguments", "arguments")
        self._optionals.title = heading("options", "options")
        if add_help:
            self.add_argument(
                "-h",
                "--help",
                action="help",
                default=argparse.SUPPRESS,
                help=t("show this help and exit", "afficher cette aide et quitter"),
            )

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(
            t(f"{self.prog}: error: ", f"{self.prog} : erreur : ")
            + usage_error_text(message)
            + "\n"
        )
        raise SystemExit(EXIT_ERROR)


def add_lang_option(p: argparse.ArgumentParser, *, default: Any = None) -> None:
    """``--lang fr|en``: the output language, overriding the locale."""
    p.add_argument(
        "--lang",
        choices=LANGS,
        default=default,
        help=t(
            "language of the output, help and errors (default: from the locale, "
            "LC_ALL / LC_MESSAGES / LANG)",
            "langue des résultats, de l'aide et des erreurs (par défaut : celle de la "
            "locale, LC_ALL / LC_MESSAGES / LANG)",
        ),
    )


def requested_lang(argv: Sequence[str]) -> Lang | None:
    """The last valid ``--lang`` value of a command line, read before parsing it."""
    found: Lang | None = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--lang="):
            value = arg.partition("=")[2]
        else:
            continue
        if value == "fr":
            found = "fr"
        elif value == "en":
            found = "en"
    return found


# --------------------------------------------------------------------------- inputs


@dataclass(slots=True)
class Result:
    source: str
    verdict: Verdict | None = None
    findings: tuple[Finding, ...] = ()
    error: str | None = None


def os_reason(exc: OSError) -> str:
    """Why a file could not be read, in the output language."""
    from leakguard.batch._shards import file_problem

    return file_problem(exc).message(lang())


def add_output_options(p: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    """``--format`` and ``--verbose``, shared by the commands that report findings."""
    p.add_argument(
        "--format",
        choices=formats,
        default="text",
        help=t(
            f"output format: {', '.join(formats)} (default: text)",
            f"format de sortie : {', '.join(formats)} (par défaut : text)",
        ),
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=t(
            "text output: list every finding (default: at most 5 of each kind)",
            "sortie texte : lister tous les constats (par défaut : 5 au plus de chaque type)",
        ),
    )


# --------------------------------------------------------------------------- guard


def add_guard_options(p: argparse.ArgumentParser) -> None:
    """The options that configure a guard: policy, colleagues and internal domains."""
    p.add_argument(
        "--policy",
        metavar=t("FILE", "FICHIER"),
        help=t(
            "policy TOML file (default: the embedded policy)",
            "fichier de politique TOML (par défaut : la politique intégrée)",
        ),
    )
    p.add_argument(
        "--directory",
        metavar=t("FILE", "FICHIER"),
        help=t(
            "the colleagues: CSV with an email column, plain list, vCard or LDIF "
            "(default: none, or the policy's [directory] path); unusable lines are listed "
            "on standard error",
            "les collègues : CSV avec une colonne email, liste simple, vCard ou LDIF "
            "(par défaut : aucun, ou le chemin [directory] de la politique) ; les lignes "
            "inutilisables sont listées sur la sortie d'erreur",
        ),
    )
    p.add_argument(
        "--strict-directory",
        action="store_true",
        help=t(
            "stop with exit status 2 when a line of the directory cannot be used",
            "s'arrêter avec le code 2 si une ligne de l'annuaire est inutilisable",
        ),
    )
    p.add_argument(
        "--internal-domain",
        metavar=t("DOMAIN", "DOMAINE"),
        action="append",
        default=[],
        help=t(
            "the organisation's own mail domain (repeatable; added to the policy's "
            "internal_domains)",
            "domaine de messagerie de l'établissement (répétable ; s'ajoute aux "
            "internal_domains de la politique)",
        ),
    )


def _report_directory(directory: Any, *, strict: bool) -> None:
    """List the unusable lines of the colleagues' file on standard error."""
    issues = directory.issues
    if not issues:
        return
    shown = directory.source or "--directory"
    for issue in issues:
        say(shown + t(": ", " : ") + issue.message(lang()))
    count = len(issues)
    if strict:
        raise DirectoryError(
            f"{shown}: {count} unusable line(s); --strict-directory makes this an error.",
            fr=f"{shown} : {count} ligne(s) inutilisable(s) ; --strict-directory en fait une "
            "erreur.",
        )
    say(
        t(
            f"{shown}: {count} unusable line(s) ignored; the other colleagues are used "
            "(--strict-directory makes this an error).",
            f"{shown} : {count} ligne(s) inutilisable(s) ignorée(s) ; les autres collègues "
            "sont pris en compte (--strict-directory en fait une erreur).",
        )
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
    directory_file = args.directory or policy.directory_path
    directory = Directory.load(directory_file) if directory_file else None
    if directory is not None:
        _report_directory(directory, strict=args.strict_directory)
    folder = getattr(args, "certificates", None)  # protect, milter and relay take certificates
    certificates = None
    if folder:
        if not Path(folder).is_dir():
            raise ProtectionError(
                f"--certificates {folder}: no such folder.",
                fr=f"--certificates {folder} : ce dossier n'existe pas.",
            )
        certificates = FolderCertificates(folder)
    store = getattr(args, "correspondents", None)  # only `check` takes a store
    return Guard(policy, directory=directory, certificates=certificates, correspondents=store)
