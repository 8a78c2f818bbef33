"""The ``leakguard`` command: one module per sub-command, each with ``add_parser``.

Exit status: 0 when no message reaches the ``--fail-on`` action, 1 when one does, 2 for
a usage error or an unreadable input (the other inputs are still checked and reported),
130 after Ctrl-C (what was finished is written out and marked partial).
A new command is a module with ``add_parser(subparsers)`` that sets ``run`` as its
default, listed in ``COMMANDS``; its help texts are written ``t(english, french)``.
The output language (``--lang``, else the locale) is known before any parser is built.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import gc
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

# The detectors use numpy for array arithmetic, never its linear algebra: its BLAS
# threads (one per core, started at import) would only lengthen every command's start.
# The command owns its process; a value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from leakguard import __version__
from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    Parser,
    add_lang_option,
    exit_codes,
    heading,
    lang,
    os_reason,
    requested_lang,
    reset_lang,
    say,
    t,
    use_lang,
)
from leakguard.errors import LeakguardError

__all__ = ["COMMANDS", "main", "run"]

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = (
    "check",
    "scan",
    "protect",
    "serve",
    "addin_manifest",
    "milter",
    "relay",
    "affected",
    "learn",
    "health_directory",
)


def _command(arguments: Sequence[str]) -> str | None:
    """The module of the command a command line runs, when it plainly names one (its
    first word that is not an option, past ``--lang VALUE``); ``None`` otherwise (help,
    version, a misspelt command, an abbreviated option): then every command's parser
    is built."""
    words = iter(arguments)
    for arg in words:
        if arg == "--lang":
            next(words, None)
        elif arg.startswith("--lang="):
            continue
        elif arg.startswith("-"):
            return None
        else:
            # Commands are named with dashes (``addin-manifest``), modules with underscores.
            name = arg.replace("-", "_")
            return name if name in COMMANDS and "_" not in arg else None
    return None


def _parser(arguments: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The command line's parser: with the one command ``arguments`` run (importing a
    command's module can cost a tenth of a second: the gateway's, asyncio's and TLS's),
    or with all of them."""
    p = Parser(
        prog="leakguard",
        description=t(
            "Check outgoing e-mail for health data and misdirected recipients before it is sent.",
            "Vérifier un courriel sortant (données de santé, destinataires erronés) avant "
            "son envoi.",
        ),
        epilog=exit_codes(
            t(
                "nothing reaches the command's --fail-on level",
                "rien n'atteint le seuil --fail-on de la commande",
            ),
            t(
                "something does (check, scan), or protect could not protect the message",
                "un élément l'atteint (check, scan), ou protect n'a pas pu protéger le message",
            ),
        )
        + t(
            "\n\nRun 'leakguard COMMAND --help' for the options of a command.",
            "\n\n« leakguard COMMANDE --help » donne les options d'une commande.",
        ),
    )
    p.add_argument(
        "--version",
        action=_Version,
        nargs=0,
        help=t(
            "show the version and the content engine, and exit",
            "afficher la version et le moteur de contenu, et quitter",
        ),
    )
    add_lang_option(p)
    sub = p.add_subparsers(
        dest="command",
        required=True,
        parser_class=Parser,
        title=heading("commands", "commandes"),
        metavar=t("COMMAND", "COMMANDE"),
    )
    only = _command(arguments)
    for name in (only,) if only is not None else COMMANDS:
        importlib.import_module(f"leakguard.cli.{name}").add_parser(sub)
    for command in sub.choices.values():
        # Accepted after the command name too; the value was already read before parsing.
        add_lang_option(command, default=argparse.SUPPRESS)
    return p


class _Version(argparse.Action):
    """``--version``: the version, and which engine reads content (found when asked:
    it loads the compiled engine)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from leakguard.detectors import HEALTH

        running = HEALTH.engine()
        engine = (
            t(f"{running}, compiled", f"{running}, compilé")
            if running
            else t("pure Python (numpy)", "Python pur (numpy)")
        )
        label = t("content engine", "moteur de contenu")
        sys.stdout.write(f"leakguard {__version__}\n{label}{t(': ', ' : ')}{engine}\n")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    token = use_lang(requested_lang(arguments))
    # A scan of an export makes a million findings, none in a cycle: collecting cycles
    # every 700 new objects would walk them again and again (an eighth of the run).
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 100_000), *thresholds[1:])
    try:
        args = _parser(arguments).parse_args(arguments)
        return _run(args)
    except KeyboardInterrupt:
        # Ctrl-C outside a batch command's own handling (which writes out what was
        # finished), or a second one while that is written: what was already printed
        # stays; the rest of the work is not done.
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            _drop_stdout()
        say(t("interrupted (Ctrl-C).", "interrompu (Ctrl-C)."))
        return EXIT_INTERRUPTED
    finally:
        gc.set_threshold(*thresholds)
        reset_lang(token)


def run() -> NoReturn:
    """The ``leakguard`` command: :func:`main`, then the process ends at once.

    Once the command is done, what Python does as it exits (every module and object
    freed one by one: 30 ms, a tenth of scanning 20 MB of letters, more than the whole
    check of a message) serves no one: its output is flushed, the exit handlers run
    (temporary folders removed, logs flushed), and the process ends there. Where
    another thread still runs, or the output cannot be flushed, Python exits as usual
    (waiting for the thread, reporting the write error).
    """
    status = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(status) from None
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_handlers is None or threading.active_count() > 1:
        raise SystemExit(status)
    run_handlers()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def _run(args: argparse.Namespace) -> int:
    try:
        status: int = args.run(args, sys.stdout)
        sys.stdout.flush()  # a full disk shows here, not as Python exits
        return status
    except LeakguardError as exc:
        say(exc.message(lang()))
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other filters do.
        _drop_stdout()
        return EXIT_ERROR
    except OSError as exc:
        if exc.filename is not None or exc.errno not in _WRITE_ERRORS:
            raise
        # Writing the results failed (a full disk, a quota): say so on one line.
        say(t("standard output: ", "sortie standard : ") + os_reason(exc, writing=True))
        _drop_stdout()
        return EXIT_ERROR


# Errors of a write to standard output redirected to a file.
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def _drop_stdout() -> None:
    """Point standard output at /dev/null, so what is still buffered is not written again
    (and fails again) as Python exits."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
