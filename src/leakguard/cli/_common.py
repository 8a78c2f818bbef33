"""What every command shares: exit codes, language, the parser, inputs and the guard.

Help texts are written ``t(english, french)`` inside ``add_parser``: the language is
known before any parser is built (``--lang``, else the locale), so a new command only has
to follow that habit to be translated.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import stat
import sys
import textwrap
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from leakguard.core import Finding, Lang, Verdict
from leakguard.errors import DirectoryError, LeakguardError, ProtectionError

if TYPE_CHECKING:
    from leakguard.guard import Guard
    from leakguard.recipients import HealthDirectory

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
#: Stopped by Ctrl-C (SIGINT), as shells report 128 + 2; batch commands write out what
#: was finished and mark it partial.
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


def plural(count: int, en: tuple[str, str], fr: tuple[str, str]) -> str:
    """``1 message`` / ``3 messages`` in the output language, from the singular and plural
    forms of each language (French takes the singular for 0 and 1, English for 1 only)."""
    if lang() == "fr":
        return f"{count} {fr[0] if count <= 1 else fr[1]}"
    return f"{count} {en[0] if count == 1 else en[1]}"


def say(text: str) -> None:
    """One line on standard error, as ``leakguard: text``."""
    sys.stderr.write(t("leakguard: ", "leakguard : ") + text + "\n")


def heading(en: str, fr: str) -> str:
    """A ``--help`` section title; argparse adds the colon, French wants a space before it."""
    return t(en, fr + " ")


def exit_codes(ok: str, fail: str, error: str | None = None, *, stopped: str | None = None) -> str:
    """The exit-status paragraph every command shows at the end of its ``--help``
    (``error``: what status 2 means, ``stopped``: what status 130 leaves behind, when a
    command says more than the usual text)."""
    error = error or t(
        "usage error or unreadable input (the other inputs are still handled)",
        "erreur d'utilisation ou entrée illisible (les autres entrées sont traitées)",
    )
    stopped = stopped or t("interrupted by Ctrl-C", "interrompu par Ctrl-C")
    lines = [t("exit status:", "code de sortie :")]
    for code, text in ((0, ok), (1, fail), (2, error), (EXIT_INTERRUPTED, stopped)):
        head = f"  {code}  "
        lines += textwrap.wrap(text, 76, initial_indent=head, subsequent_indent=" " * len(head))
    return "\n".join(lines)


# --------------------------------------------------------------------------- parser


# The placeholder words of option values (metavars) in French. Every command's usage
# and option list go through HelpFormatter, so a metavar written in English anywhere
# (or taken from the option's name) reads in French under --lang fr.
_METAVARS_FR = {
    "ADDR": "ADRESSE",
    "ADDRESS": "ADRESSE",
    "BYTES": "OCTETS",
    "COMMAND": "COMMANDE",
    "DATE": "DATE",
    "DIR": "DOSSIER",
    "DOMAIN": "DOMAINE",
    "FILE": "FICHIER",
    "HOST": "HÔTE",
    "IN": "ENTRÉE",
    "MB": "Mo",
    "OUT": "SORTIE",
    "PATH": "CHEMIN",
    "SECONDS": "SECONDES",
    "SENT": "ENVOYÉS",
    "WORKERS": "N",
}
_METAVAR_WORD = re.compile(r"\b[A-Z][A-Z_]*\b")


def metavar_fr(text: str) -> str:
    """``text`` with its English placeholder words in French (``FILE`` → ``FICHIER``)."""
    return _METAVAR_WORD.sub(lambda m: _METAVARS_FR.get(m.group(), m.group()), text)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, with the ``usage:`` prefix and the placeholders of option
    values in the output language.

    A text of one paragraph (a description) is wrapped; a text with line breaks (the
    exit-status epilog) is kept as written.
    """

    def _metavar_formatter(
        self, action: argparse.Action, default_metavar: str
    ) -> Callable[[int], tuple[str, ...]]:
        english = super()._metavar_formatter(action, default_metavar)
        if lang() != "fr" or action.choices is not None:
            return english
        return lambda size: tuple(metavar_fr(m) if isinstance(m, str) else m for m in english(size))

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
        # A value refused by the option's own check, whose text is already French.
        (r"^argument (.+?): (.*)$", r"argument \1 : \2"),
    )
)


def usage_error_text(message: str) -> str:
    """argparse's error sentence in the output language."""
    if lang() != "fr":
        return message
    for pattern, french in _USAGE_ERRORS_FR:
        if pattern.match(message):
            return metavar_fr(pattern.sub(french, message))
    return metavar_fr(message)


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


def os_reason(exc: OSError, *, writing: bool = False) -> str:
    """Why a file could not be read (or, with ``writing``, written), in the output language."""
    from leakguard.batch._shards import file_problem

    if writing and exc.errno == errno.ENOENT:
        return t("its folder does not exist", "son dossier n'existe pas")
    return file_problem(exc, writing=writing).message(lang())


def write_file(
    path: str | os.PathLike[str], data: bytes, *, what: tuple[str, str], mode: int = 0o666
) -> None:
    """Write ``data`` to ``path`` (a new file gets ``mode``, less the umask), or raise the
    one-line error naming the file and why.

    ``what`` is what the file is, in English and French ("the report", "le rapport"). A
    regular file left half-written (a full disk) is removed: no truncated output remains.
    """
    target = Path(path)
    regular = False
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
            fh.write(data)
    except OSError as exc:
        if regular:
            with contextlib.suppress(OSError):
                target.unlink()
        reason = os_reason(exc, writing=True)
        raise LeakguardError(
            f"{target}: cannot write {what[0]} ({reason}).",
            fr=f"{target} : impossible d'écrire {what[1]} ({reason}).",
        ) from None


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
        "--health-directory",
        metavar=t("FILE", "FICHIER"),
        help=t(
            "the national MSSanté directory (the ANS extraction, .zip or .txt; default: "
            "none, or the policy's [recipients] health_directory): suggests a doctor's "
            "MSSanté address, and checks addresses at MSSanté domains; kept fresh by "
            "leakguard health-directory fetch",
            "l'annuaire national MSSanté (l'extraction de l'ANS, .zip ou .txt ; par "
            "défaut : aucun, ou [recipients] health_directory de la politique) : propose "
            "l'adresse MSSanté d'un médecin et vérifie les adresses des domaines MSSanté ; "
            "tenu à jour par leakguard health-directory fetch",
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


def _list_issues(shown: str, issues: Sequence[Any]) -> None:
    """The unusable lines of the colleagues' file, one per line on standard error."""
    for issue in issues:
        say(shown + t(": ", " : ") + issue.message(lang()))


#: Unusable rows of the MSSanté extraction listed one by one; the rest are counted.
HEALTH_ISSUES_SHOWN = 10


def report_health_directory(health: HealthDirectory, *, announce: bool = True) -> None:
    """On standard error: the extraction's unusable rows, its date when ``announce``, and
    a warning when it is out of date. Never a word of its content."""
    from leakguard._recipients.mssante import STALE_DAYS
    from leakguard._recipients.mssante_file import Tally

    shown = health.source or "--health-directory"
    colon = t(": ", " : ")
    for issue in health.issues[:HEALTH_ISSUES_SHOWN]:
        say(shown + colon + issue.message(lang()))
    if health.bad_rows:
        reasons = ", ".join(
            f"{Tally.reason(r, lang())}{colon}{n}" for r, n in sorted(health.bad_by_reason.items())
        )
        say(
            t(
                f"{shown}: {health.bad_rows} unusable row(s) ignored ({reasons}); the other "
                "rows are used.",
                f"{shown} : {health.bad_rows} ligne(s) inutilisable(s) ignorée(s) ({reasons}) ; "
                "les autres lignes sont prises en compte.",
            )
        )
    if announce:
        say(health.describe(lang()))
    if health.stale():
        age = health.age_days()
        say(
            t(
                f"{shown}: the MSSanté directory was generated {age} days ago (more than "
                f"{STALE_DAYS}): update it with 'leakguard health-directory fetch -o {shown}'.",
                f"{shown} : l'annuaire MSSanté a été généré il y a {age} jours (plus de "
                f"{STALE_DAYS}) : mettez-le à jour avec « leakguard health-directory fetch "
                f"-o {shown} ».",
            )
        )


def build_guard(args: argparse.Namespace, *, announce: bool = True) -> Guard:
    """The guard the command's options describe, built as a library user builds it
    (``Guard(policy, directory=..., ...)``); the unusable lines of the colleagues' file
    are listed on standard error. ``announce``: say on standard error which MSSanté
    directory is used (``check`` says it in its summary instead)."""
    from leakguard.guard import Guard

    try:
        guard = Guard(
            args.policy or None,
            directory=args.directory or None,
            strict_directory=args.strict_directory,
            internal_domains=args.internal_domain,
            # protect, milter and relay take certificates; only check takes a store
            certificates=getattr(args, "certificates", None) or None,
            correspondents=getattr(args, "correspondents", None) or None,
            health_directory=getattr(args, "health_directory", None) or None,
            lang=lang(),
        )
    except DirectoryError as exc:
        if not exc.issues:
            raise
        shown = exc.source or "--directory"
        _list_issues(shown, exc.issues)
        count = len(exc.issues)
        raise DirectoryError(
            f"{shown}: {count} unusable line(s); --strict-directory makes this an error.",
            fr=f"{shown} : {count} ligne(s) inutilisable(s) ; --strict-directory en fait une "
            "erreur.",
        ) from None
    except ProtectionError as exc:
        if exc.reason != "certificate_folder_missing" or not getattr(args, "certificates", None):
            raise
        folder = args.certificates
        raise ProtectionError(
            f"--certificates {folder}: no such folder.",
            fr=f"--certificates {folder} : ce dossier n'existe pas.",
        ) from None
    issues = guard.directory.issues
    if issues:
        shown = guard.directory.source or "--directory"
        _list_issues(shown, issues)
        say(
            t(
                f"{shown}: {len(issues)} unusable line(s) ignored; the other colleagues are "
                "used (--strict-directory makes this an error).",
                f"{shown} : {len(issues)} ligne(s) inutilisable(s) ignorée(s) ; les autres "
                "collègues sont pris en compte (--strict-directory en fait une erreur).",
            )
        )
    if guard.health_directory is not None:
        report_health_directory(guard.health_directory, announce=announce)
    return guard


def positive_int(value: str) -> int:
    """An option's whole number of at least 1 (argparse ``type``)."""
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(
            t(
                f"a whole number of at least 1, not {value!r}",
                f"un entier d'au moins 1, pas {value!r}",
            )
        )
    return int(value)
