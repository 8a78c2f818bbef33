"""``leakguard scan``: the content findings of messages or documents, without recipients."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from leakguard.cli._archives import add_batch_options, interrupted, scan_all
from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Result,
    add_output_options,
    exit_codes,
    lang,
    t,
)
from leakguard.cli._output import dump_json, json_doc, print_text, scan_summary
from leakguard.core import Fingerprinter, Severity


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "scan",
        help=t(
            "content findings for .eml files or documents",
            "constats de contenu pour des fichiers .eml ou des documents",
        ),
        description=t(
            "List the identifiers and health data found in messages or documents (PDF, "
            "office files, CSV, HTML, archives), without judging recipients.",
            "Liste les identifiants et données de santé trouvés dans des messages ou des "
            "documents (PDF, bureautique, CSV, HTML, archives), sans juger les "
            "destinataires.",
        ),
        epilog=exit_codes(
            t(
                "no finding reaches --fail-on, or --fail-on not given",
                "aucun constat n'atteint --fail-on, ou --fail-on absent",
            ),
            t(
                "a finding of the --fail-on severity or higher was found",
                "un constat de gravité --fail-on ou plus a été trouvé",
            ),
            stopped=t(
                "interrupted (Ctrl-C): what was finished is written, marked partial",
                "interrompu (Ctrl-C) : ce qui était fini est écrit, marqué partiel",
            ),
        ),
    )
    add_output_options(p, ("text", "json"))
    p.add_argument(
        "--fail-on",
        choices=tuple(s.value for s in Severity),
        default=None,
        help=t(
            "exit 1 when a finding of this severity or higher is found "
            "(default: never fail on findings)",
            "code de sortie 1 quand un constat de cette gravité ou plus est trouvé "
            "(par défaut : jamais d'échec pour des constats)",
        ),
    )
    add_batch_options(p, documents=True)  # PATH..., --jobs, --cluster, --report
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    fp = Fingerprinter()
    fail_on = Severity(args.fail_on) if args.fail_on else None
    results: list[Result] = []
    status = EXIT_OK
    unreadable = False
    checked = []
    try:
        for done in scan_all(fp, args):  # leakguard.batch, through cli/_archives.py
            checked.append(done)
            results.append(done.result)
            if done.result.error is not None:
                unreadable = True
            elif fail_on is not None and any(
                f.severity.rank >= fail_on.rank for f in done.result.findings
            ):
                status = EXIT_FAIL
        partial = False
    except KeyboardInterrupt:
        partial = True  # what was finished is written out below, marked partial
    if args.report:
        from leakguard.cli._report import write_report  # only with --report

        write_report(args.report, checked, lang(), with_action=False, partial=partial)
    status = EXIT_INTERRUPTED if partial else EXIT_ERROR if unreadable else status
    if args.format == "json":
        dump_json(json_doc(results, lang(), with_action=False, partial=partial), out)
    else:
        print_text(results, lang(), out, with_action=False, verbose=args.verbose)
        out.write(scan_summary(results, status, fail_on))
    if partial:
        return interrupted(
            f"the {len(results)} file(s) scanned until then are written; the output is partial.",
            f"les {len(results)} fichier(s) analysé(s) jusque-là sont écrits ; le résultat "
            "est partiel.",
        )
    return status
