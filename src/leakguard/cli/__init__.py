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
import importlib
import os
import sys
from collections.abc import Sequence

from leakguard import __version__
from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    Parser,
    add_lang_option,
    exit_codes,
    heading,
    lang,
    requested_lang,
    reset_lang,
    say,
    t,
    use_lang,
)
from leakguard.errors import LeakguardError

__all__ = ["COMMANDS", "main"]

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
)


def _parser() -> argparse.ArgumentParser:
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
        action="version",
        version=f"leakguard {__version__}",
        help=t("show the version and exit", "afficher la version et quitter"),
    )
    add_lang_option(p)
    sub = p.add_subparsers(
        dest="command",
        required=True,
        parser_class=Parser,
        title=heading("commands", "commandes"),
        metavar=t("COMMAND", "COMMANDE"),
    )
    for name in COMMANDS:
        importlib.import_module(f"leakguard.cli.{name}").add_parser(sub)
    for command in sub.choices.values():
        # Accepted after the command name too; the value was already read before parsing.
        add_lang_option(command, default=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    token = use_lang(requested_lang(arguments))
    try:
        args = _parser().parse_args(arguments)
        return _run(args)
    finally:
        reset_lang(token)


def _run(args: argparse.Namespace) -> int:
    try:
        status: int = args.run(args, sys.stdout)
        return status
    except LeakguardError as exc:
        say(exc.message(lang()))
        return EXIT_ERROR
    except KeyboardInterrupt:
        # Ctrl-C outside a command's own handling (while starting, or a second one while
        # writing out what was finished): one line, no traceback.
        say(t("interrupted.", "interrompu."))
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
