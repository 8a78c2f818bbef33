"""``leakguard check``: allow, warn, encrypt or block for each message."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    Result,
    add_guard_options,
    build_guard,
    lang,
    readable,
    t,
)
from leakguard.cli._output import json_doc, print_text, sarif_doc
from leakguard.core import Action
from leakguard.errors import InputError
from leakguard.message import require_message


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check", help="decide allow / warn / encrypt / block for .eml messages"
    )
    add_guard_options(p)
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    p.add_argument("--fail-on", choices=("warn", "encrypt", "block"), default="encrypt")
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help=".eml file, folder, or - for standard input"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    guard = build_guard(args)
    fail_on = Action.parse(args.fail_on)
    results: list[Result] = []
    status = EXIT_OK
    unreadable = False
    for got in readable(args.paths, only_eml=True):
        if isinstance(got, Result):
            results.append(got)
            unreadable = True
            continue
        item, data = got
        try:
            # Not an e-mail (empty, binary, a document): a usage error for this input only.
            require_message(data)
            verdict = guard.check(data, source=item.source)
        except InputError as exc:
            results.append(Result(item.source, error=exc.message(lang())))
            unreadable = True
            continue
        except Exception as exc:  # one bad input never costs the others their results
            results.append(Result(item.source, error=_internal_error(exc)))
            unreadable = True
            continue
        results.append(Result(item.source, verdict=verdict))
        if verdict.action >= fail_on:
            status = EXIT_FAIL
    if args.format == "json":
        json.dump(json_doc(results, lang(), with_action=True), out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif args.format == "sarif":
        json.dump(sarif_doc(results, lang()), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        print_text(results, lang(), out, with_action=True)
    return EXIT_ERROR if unreadable else status


def _internal_error(exc: Exception) -> str:
    # The exception's text may quote the message: only its type is shown.
    name = type(exc).__name__
    return t(
        f"this message could not be checked (internal error {name}); please report it",
        f"ce message n'a pas pu être vérifié (erreur interne {name}) ; merci de la signaler",
    )
