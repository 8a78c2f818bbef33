"""``leakguard scan``: the content findings of messages or documents, without recipients."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from leakguard.cli._common import EXIT_ERROR, EXIT_OK, Result, lang, readable
from leakguard.cli._output import json_doc, print_text
from leakguard.core import Fingerprinter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "scan", help="content findings for .eml files or documents"
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from leakguard.content import scan_chunks
    from leakguard.message import document_content, iter_content, load_message

    fp = Fingerprinter()
    results: list[Result] = []
    status = EXIT_OK
    for got in readable(args.paths, only_eml=False):
        if isinstance(got, Result):
            results.append(got)
            status = EXIT_ERROR
            continue
        item, data = got
        name = "stdin" if item.path is None else item.path.name
        if item.path is None or item.path.suffix.lower() in (".eml", ".msg822", ".mbox"):
            chunks = iter_content(load_message(data))
        else:
            chunks = document_content(data, name=name)
        report = scan_chunks(chunks, fingerprinter=fp)
        results.append(Result(item.source, findings=tuple(report.findings)))
    if args.format == "json":
        json.dump(json_doc(results, lang(), with_action=False), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        print_text(results, lang(), out, with_action=False)
    return status
