"""``leakguard health-directory fetch``: download the national MSSanté directory.

The new extraction replaces the old file only once it is whole and checked, so a
scheduled update that fails leaves the services with yesterday's directory.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    add_lang_option,
    exit_codes,
    lang,
    say,
    t,
)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "health-directory",
        help=t(
            "keep the national MSSanté directory up to date (fetch)",
            "tenir à jour l'annuaire national MSSanté (fetch)",
        ),
        description=t(
            "The national MSSanté directory that --health-directory reads.",
            "L'annuaire national MSSanté que lit --health-directory.",
        ),
        epilog=exit_codes(
            t("the action succeeded", "l'action a réussi"),
            t(
                "the action failed (fetch: FILE is unchanged)",
                "l'action a échoué (fetch : FICHIER est inchangé)",
            ),
        ),
    )
    actions = p.add_subparsers(
        dest="action",
        required=True,
        parser_class=type(p),
        metavar=t("ACTION", "ACTION"),
    )
    from leakguard._recipients.mssante_file import ANS_URL, DEFAULT_URL, MIN_ROWS

    f: argparse.ArgumentParser = actions.add_parser(
        "fetch",
        help=t("download the extraction", "télécharger l'extraction"),
        description=t(
            "Download the extraction of the MSSanté mailboxes, check it (header, every row, "
            "the ZIP's checksums, the number of rows) and only then replace FILE with it. "
            f"The ANS's own address ({ANS_URL}) needs its IGC-Santé root: --ca-file.",
            "Télécharge l'extraction des boîtes MSSanté, la vérifie (en-tête, chaque ligne, "
            "sommes de contrôle du ZIP, nombre de lignes) et seulement alors remplace "
            f"FICHIER. L'adresse de l'ANS ({ANS_URL}) demande sa racine IGC-Santé : "
            "--ca-file.",
        ),
        epilog=exit_codes(
            t("FILE was replaced by the new extraction", "FICHIER a été remplacé"),
            t(
                "the download failed or was refused; FILE is unchanged",
                "le téléchargement a échoué ou a été refusé ; FICHIER est inchangé",
            ),
        ),
    )
    f.add_argument(
        "-o",
        "--output",
        metavar=t("FILE", "FICHIER"),
        required=True,
        help=t(
            "the file to replace (the one --health-directory reads)",
            "le fichier à remplacer (celui que lit --health-directory)",
        ),
    )
    f.add_argument(
        "--url",
        default=DEFAULT_URL,
        help=t(
            "where to download from (default: the data.gouv.fr copy)",
            "adresse de téléchargement (par défaut : la copie de data.gouv.fr)",
        ),
    )
    f.add_argument(
        "--ca-file",
        metavar=t("FILE", "FICHIER"),
        help=t(
            "trust only these certificate authorities (PEM), e.g. the IGC-Santé root for "
            "the ANS's address (default: the system's)",
            "ne faire confiance qu'à ces autorités de certification (PEM), par exemple la "
            "racine IGC-Santé pour l'adresse de l'ANS (par défaut : celles du système)",
        ),
    )
    f.add_argument(
        "--min-rows",
        type=int,
        default=MIN_ROWS,
        metavar="N",
        help=t(
            f"refuse a file with fewer usable rows (default: {MIN_ROWS})",
            f"refuser un fichier de moins de N lignes utilisables (par défaut : {MIN_ROWS})",
        ),
    )
    f.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar=t("SECONDS", "SECONDES"),
        help=t(
            "give up when the server is silent this long (default: 60)",
            "abandonner si le serveur reste muet aussi longtemps (par défaut : 60)",
        ),
    )
    add_lang_option(f, default=argparse.SUPPRESS)  # after the action too
    f.set_defaults(run=run_fetch)


def run_fetch(args: argparse.Namespace, out: TextIO) -> int:
    from leakguard._recipients.mssante_fetch import (
        HealthDirectoryFetchError,
        fetch_health_directory,
    )

    try:
        done = fetch_health_directory(
            args.output,
            url=args.url,
            ca_file=args.ca_file,
            timeout=args.timeout,
            min_rows=max(1, args.min_rows),
        )
    except HealthDirectoryFetchError as exc:
        say(exc.message(lang()))
        say(t(f"{args.output} is unchanged.", f"{args.output} est inchangé."))
        return EXIT_ERROR if exc.reason in ("output", "ca_file") else EXIT_FAIL
    when = done.generated.strftime("%Y-%m-%d %H:%M")
    origin = {
        "name": t("file name", "nom du fichier"),
        "last-modified": t("server date", "date du serveur"),
        "download": t("download time", "heure du téléchargement"),
    }[done.generated_from]
    rows = f"{done.rows:,}".replace(",", " " if lang() == "fr" else ",")
    out.write(
        t(
            f"{done.path}: MSSanté directory updated, {rows} rows ({done.form}, "
            f"{done.size / 1024**2:.1f} MB), generated {when} ({origin}).\n",
            f"{done.path} : annuaire MSSanté mis à jour, {rows} lignes ({done.form}, "
            f"{done.size / 1024**2:.1f} Mo), généré le {when} ({origin}).\n",
        )
    )
    if done.bad_rows:
        out.write(
            t(
                f"{done.bad_rows} unusable row(s) ignored.\n",
                f"{done.bad_rows} ligne(s) inutilisable(s) ignorée(s).\n",
            )
        )
    if done.directory is not None and done.directory.cache == "unwritable":
        out.write(
            t(
                "The compiled cache could not be written next to it: each start reads the "
                "whole file.\n",
                "Le cache compilé n'a pas pu être écrit à côté : chaque démarrage relira tout "
                "le fichier.\n",
            )
        )
    return EXIT_OK
