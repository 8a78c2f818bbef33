"""The ``leakguard`` command: one module per sub-command, each with ``add_parser``.

Exit status: 0 when no message reaches the ``--fail-on`` action, 1 when one does, 2 for
a usage error or an unreadable input (the other inputs are still checked and reported).
A new command is a module with ``add_parser(subparsers)`` that sets ``run`` as its
default, listed in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from leakguard import __version__
from leakguard.cli._common import EXIT_ERROR
from leakguard.errors import LeakguardError

__all__ = ["main"]

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("check", "scan", "protect", "affected", "learn")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors exit 2, as documented
        self.print_usage(sys.stderr)
        sys.stderr.write(f"leakguard: error: {message}\n")
        raise SystemExit(EXIT_ERROR)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="leakguard", description="Check outgoing e-mail for health data before it is sent."
    )
    p.add_argument("--version", action="version", version=f"leakguard {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"leakguard.cli.{name}").add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        status: int = args.run(args, out)
        return status
    except LeakguardError as exc:
        sys.stderr.write(f"leakguard: {exc}\n")
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
