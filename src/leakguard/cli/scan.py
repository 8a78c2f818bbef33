"""``leakguard scan``: the content findings of messages or documents, without recipients."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    Result,
    add_output_options,
    exit_codes,
    lang,
    readable,
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
    p.add_argument(
        "paths",
        nargs="+",
        metavar=t("PATH", "CHEMIN"),
        help=t(
            "message or document, folder (every file in it), or - for a message on standard input",
            "message ou document, dossier (tous ses fichiers), ou - pour un message sur "
            "l'entrée standard",
        ),
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from leakguard.content import scan_chunks
    from leakguard.message import document_content, iter_content, load_message

    fp = Fingerprinter()
    fail_on = Severity(args.fail_on) if args.fail_on else None
    results: list[Result] = []
    status = EXIT_OK
    unreadable = False
    for got in readable(args.paths, only_eml=False):
        if isinstance(got, Result):
            results.append(got)
            unreadable = True
            continue
        item, data = got
        name = "stdin" if item.path is None else item.path.name
        if item.path is None or item.path.suffix.lower() in (".eml", ".msg822", ".mbox"):
            chunks = iter_content(load_message(data))
        else:
            chunks = document_content(data, name=name)
        report = scan_chunks(chunks, fingerprinter=fp)
        results.append(Result(item.source, findings=tuple(report.findings)))
        if fail_on is not None and any(f.severity.rank >= fail_on.rank for f in report.findings):
            status = EXIT_FAIL
    status = EXIT_ERROR if unreadable else status
    if args.format == "json":
        dump_json(json_doc(results, lang(), with_action=False), out)
    else:
        print_text(results, lang(), out, with_action=False, verbose=args.verbose)
        out.write(scan_summary(results, status, fail_on))
    return status
