"""``leakguard scan``: the content findings of messages or documents, without recipients."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from leakguard.cli._archives import add_batch_options, scan_all
from leakguard.cli._common import EXIT_ERROR, EXIT_OK, Result, lang
from leakguard.cli._output import json_doc, print_text
from leakguard.cli._report import write_report
from leakguard.core import Fingerprinter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "scan", help="content findings for .eml files or documents"
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_batch_options(p, documents=True)  # PATH..., --jobs, --report
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    fp = Fingerprinter()
    results: list[Result] = []
    status = EXIT_OK
    checked = []
    for done in scan_all(fp, args):  # archives, --jobs and progress: cli/_archives.py
        checked.append(done)
        results.append(done.result)
        if done.result.error is not None:
            status = EXIT_ERROR
    if args.report:
        write_report(args.report, checked, lang(), with_action=False)
    if args.format == "json":
        json.dump(json_doc(results, lang(), with_action=False), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        print_text(results, lang(), out, with_action=False)
    return status
