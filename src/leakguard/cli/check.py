"""``leakguard check``: allow, warn, encrypt or block for each message."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any, TextIO

from leakguard.cli._archives import add_batch_options, check_all, interrupted
from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Result,
    add_guard_options,
    add_output_options,
    build_guard,
    exit_codes,
    lang,
    t,
)
from leakguard.cli._output import check_summary, dump_json, json_doc, print_text, sarif_doc
from leakguard.core import Action


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check",
        help=t(
            "decide allow / warn / encrypt / block for .eml messages",
            "décider allow / warn / encrypt / block pour des messages .eml",
        ),
        description=t(
            "Decide for each message whether it may leave as it is: allow, warn, encrypt "
            "or block, with the findings that led there.",
            "Décide pour chaque message s'il peut partir tel quel : allow (autoriser), "
            "warn (vérifier), encrypt (chiffrer) ou block (bloquer), avec les constats "
            "qui y mènent.",
        ),
        epilog=exit_codes(
            t(
                "no message reaches the --fail-on action",
                "aucun message n'atteint l'action --fail-on",
            ),
            t(
                "at least one message reaches the --fail-on action",
                "au moins un message atteint l'action --fail-on",
            ),
            stopped=t(
                "interrupted (Ctrl-C): what was finished is written, marked partial",
                "interrompu (Ctrl-C) : ce qui était fini est écrit, marqué partiel",
            ),
        ),
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
    add_output_options(p, ("text", "json", "sarif"))
    p.add_argument(
        "--fail-on",
        choices=("warn", "encrypt", "block"),
        default="encrypt",
        help=t(
            "exit 1 when a message gets this action or a stronger one (default: encrypt)",
            "code de sortie 1 quand un message reçoit cette action ou une plus forte "
            "(par défaut : encrypt)",
        ),
    )
    add_batch_options(p, documents=False)  # PATH..., --jobs, --cluster, --report
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    guard = build_guard(args, announce=args.format != "text")
    if args.time_budget is not None:
        guard.limits = replace(guard.limits, max_seconds=args.time_budget)
    fail_on = Action.parse(args.fail_on)
    results: list[Result] = []
    status = EXIT_OK
    unreadable = False
    checked = []
    try:
        for done in check_all(guard, args):  # leakguard.batch, through cli/_archives.py
            checked.append(done)
            results.append(done.result)
            if done.result.verdict is None:
                unreadable = True
            elif done.result.verdict.action >= fail_on:
                status = EXIT_FAIL
        partial = False
    except KeyboardInterrupt:
        partial = True  # what was finished is written out below, marked partial
    if args.report:
        from leakguard.cli._report import write_report  # only with --report

        write_report(args.report, checked, lang(), with_action=True, partial=partial)
    status = EXIT_INTERRUPTED if partial else EXIT_ERROR if unreadable else status
    if args.format == "json":
        dump_json(json_doc(results, lang(), with_action=True, partial=partial), out)
    elif args.format == "sarif":
        dump_json(sarif_doc(results, lang(), partial=partial), out)
    else:
        print_text(results, lang(), out, with_action=True, verbose=args.verbose)
        out.write(check_summary(results, status, fail_on))
        if guard.health_directory is not None:
            out.write(guard.health_directory.describe(lang()) + ".\n")
    if partial:
        return interrupted(
            f"the {len(results)} message(s) checked until then are written; the output is partial.",
            f"les {len(results)} message(s) vérifié(s) jusque-là sont écrits ; le résultat "
            "est partiel.",
        )
    return status
