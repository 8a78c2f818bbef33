"""``leakguard check``: allow, warn, encrypt or block for each message."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from leakguard.cli._archives import add_batch_options, check_all
from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    Result,
    add_guard_options,
    build_guard,
    lang,
    t,
)
from leakguard.cli._output import json_doc, print_text, sarif_doc
from leakguard.cli._report import write_report
from leakguard.core import Action


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check", help="decide allow / warn / encrypt / block for .eml messages"
    )
    add_guard_options(p)
    p.add_argument(
        "--correspondents",
        metavar="FILE",
        help=t(
            "correspondents learned by leakguard learn: first-time, dormant and unusual "
            "recipients (default: the policy's [recipients] correspondents, else none)",
            "correspondants appris par leakguard learn : destinataires nouveaux, oubliés ou "
            "inhabituels (par défaut : celui de la politique [recipients], sinon aucun)",
        ),
    )
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    p.add_argument("--fail-on", choices=("warn", "encrypt", "block"), default="encrypt")
    add_batch_options(p, documents=False)  # PATH..., --jobs, --report
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    guard = build_guard(args)
    fail_on = Action.parse(args.fail_on)
    results: list[Result] = []
    status = EXIT_OK
    unreadable = False
    checked = []
    for done in check_all(guard, args):  # archives, --jobs and progress: cli/_archives.py
        checked.append(done)
        results.append(done.result)
        if done.result.verdict is None:
            unreadable = True
        elif done.result.verdict.action >= fail_on:
            status = EXIT_FAIL
    if args.report:
        write_report(args.report, checked, lang(), with_action=True)
    if args.format == "json":
        json.dump(json_doc(results, lang(), with_action=True), out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif args.format == "sarif":
        json.dump(sarif_doc(results, lang()), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        print_text(results, lang(), out, with_action=True)
    return EXIT_ERROR if unreadable else status
