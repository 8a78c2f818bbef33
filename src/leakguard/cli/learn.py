"""``leakguard learn``: learn the correspondents from a Sent folder into a local store."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from leakguard.learn import LearnSummary

from leakguard.cli._archives import add_jobs_option, interrupted, progress_bar, runs_on
from leakguard.cli._common import EXIT_ERROR, EXIT_OK, exit_codes, lang, say, t


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
            stopped=t(
                "interrupted (Ctrl-C): with --update, or when there was no store, what "
                "was learned is saved (learn again with --update to finish); a store "
                "being rebuilt is left as it was",
                "interrompu (Ctrl-C) : avec --update, ou s'il n'y avait pas de fichier, "
                "ce qui a été appris est enregistré (relancez avec --update pour finir) ; "
                "un fichier en cours de reconstruction reste tel quel",
            ),
        )
        + t(
            "\n\nWhen no message could be read (an empty or wrong folder), the store is "
            "left as it was and the exit status is 2; when some could not be read, the "
            "others are learned, they are listed and the exit status is 2.",
            "\n\nSi aucun message n'a pu être lu (dossier vide ou erroné), le fichier reste "
            "tel quel et le code de sortie est 2 ; si certains sont illisibles, les autres "
            "sont appris, ils sont listés et le code de sortie est 2.",
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
    from leakguard.batch import Interrupted
    from leakguard.guard import Guard
    from leakguard.learn import NothingRead, learn
    from leakguard.policy import Policy

    guard = Guard(Policy.load(args.policy) if args.policy else Policy.default())
    bar = progress_bar(None)
    summary: LearnSummary
    try:
        summary = learn(
            args.paths,
            args.output,
            guard=guard,
            update=args.update,
            progress=bar.update,
            lang=lang(),
            **runs_on(args),
        )
    except NothingRead as exc:
        bar.close()
        if args.format == "text":
            _unreadable(exc.summary, out)
        say(exc.message(lang()))
        return EXIT_ERROR
    except Interrupted as stop:
        bar.close()
        summary = stop.result
        if args.format == "text":
            _unreadable(summary, out)
        if summary.saved:
            _report(summary, out, args.format)
            return interrupted(
                f"{summary.path} holds the {summary.learned} message(s) learned until "
                "then; run the same command with --update to learn the rest.",
                f"{summary.path} contient les {summary.learned} message(s) appris "
                "jusque-là ; relancez la même commande avec --update pour apprendre le reste.",
            )
        return interrupted(
            f"nothing was written; {summary.path} was left as it was.",
            f"rien n'a été écrit ; {summary.path} est resté tel quel.",
        )
    finally:
        bar.close()
    if args.format == "text":
        _unreadable(summary, out)
    _report(summary, out, args.format)
    return EXIT_ERROR if summary.unreadable else EXIT_OK


def _unreadable(summary: LearnSummary, out: TextIO) -> None:
    for source in summary.unreadable:
        why = summary.why.get(source)
        if why:
            out.write(
                t(
                    f"{source}: unreadable, not learned ({why})\n",
                    f"{source} : illisible, non appris ({why})\n",
                )
            )
        else:
            out.write(
                t(f"{source}: unreadable, not learned\n", f"{source} : illisible, non appris\n")
            )


def _report(summary: LearnSummary, out: TextIO, fmt: str) -> None:
    if fmt == "json":
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
        if summary.interrupted:
            doc["partial"] = True
        json.dump(doc, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
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
