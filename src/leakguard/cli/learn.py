"""``leakguard learn``: learn the correspondents from a Sent folder into a local store."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from leakguard.cli._archives import add_jobs_option, cores, progress_bar
from leakguard.cli._common import EXIT_ERROR, EXIT_OK, exit_codes, t


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "learn",
        help=t(
            "learn who is written to from a Sent folder (kept locally)",
            "apprendre à qui l'on écrit depuis un dossier Envoyés (conservé localement)",
        ),
        description=t(
            "Read the messages already sent and keep, per address and per domain, how "
            "many messages went there, when, under which names, and whether sensitive "
            "data was ever sent. No subject, body or identifier is stored.",
            "Lit les messages déjà envoyés et conserve, par adresse et par domaine, le "
            "nombre de messages, leurs dates, les noms affichés et si des données "
            "sensibles y ont été envoyées. Aucun objet, corps ni identifiant n'est conservé.",
        ),
        epilog=exit_codes(
            t("the store was written", "le fichier a été écrit"),
            t("(not used)", "(non utilisé)"),
        ),
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="SENT",
        help=t(
            "Sent folder: mbox, Maildir, folder of .eml files or PST",
            "dossier Envoyés : mbox, Maildir, dossier de fichiers .eml ou PST",
        ),
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help=t(
            "the correspondents store to write (SQLite), e.g. correspondents.db",
            "le fichier de correspondants à écrire (SQLite), par exemple correspondents.db",
        ),
    )
    p.add_argument(
        "--update",
        action="store_true",
        help=t(
            "add the messages not learned yet to an existing store instead of rebuilding "
            "it (default: rebuild)",
            "ajouter à un fichier existant les messages pas encore appris au lieu de le "
            "recréer (par défaut : recréer)",
        ),
    )
    p.add_argument(
        "--policy",
        metavar="FILE",
        help=t(
            "policy TOML file: which findings count as sensitive (default: embedded policy)",
            "fichier de politique TOML : quels constats sont sensibles "
            "(par défaut : politique intégrée)",
        ),
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help=t("output format (default: text)", "format de sortie (par défaut : text)"),
    )
    add_jobs_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from leakguard.guard import Guard
    from leakguard.learn import learn
    from leakguard.policy import Policy

    guard = Guard(Policy.load(args.policy) if args.policy else Policy.default())
    bar = progress_bar(None)
    try:
        summary = learn(
            args.paths,
            args.output,
            guard=guard,
            update=args.update,
            jobs=args.jobs or cores(),
            progress=bar.update,
        )
    finally:
        bar.close()
    if args.format == "json":
        doc = {
            "store": str(summary.path),
            "read": summary.read,
            "learned": summary.learned,
            "already_known": summary.already_known,
            "sensitive": summary.sensitive,
            "unreadable": summary.unreadable,
            "messages": summary.messages,
            "addresses": summary.addresses,
            "domains": summary.domains,
            "groups": summary.groups,
            "oldest": summary.oldest.date().isoformat() if summary.oldest else None,
            "newest": summary.newest.date().isoformat() if summary.newest else None,
            "bytes": summary.size,
        }
        json.dump(doc, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        for source in summary.unreadable:
            out.write(
                t(f"{source}: unreadable, not learned\n", f"{source} : illisible, non appris\n")
            )
        span = ""
        if summary.oldest and summary.newest:
            first, last = summary.oldest.date().isoformat(), summary.newest.date().isoformat()
            span = t(f", from {first} to {last}", f", du {first} au {last}")
        out.write(
            t(
                f"{summary.learned} new message(s) learned ({summary.sensitive} with sensitive "
                f"data), {summary.already_known} already known.\n"
                f"{summary.path}: {summary.messages} message(s){span}, {summary.addresses} "
                f"address(es), {summary.domains} domain(s), {summary.groups} group(s), "
                f"{summary.size // 1024} KB.\n",
                f"{summary.learned} nouveau(x) message(s) appris ({summary.sensitive} avec des "
                f"données sensibles), {summary.already_known} déjà connu(s).\n"
                f"{summary.path} : {summary.messages} message(s){span}, {summary.addresses} "
                f"adresse(s), {summary.domains} domaine(s), {summary.groups} groupe(s), "
                f"{summary.size // 1024} Ko.\n",
            )
        )
    return EXIT_ERROR if summary.unreadable else EXIT_OK
