"""``leakguard serve``: the HTTPS service the Outlook add-in asks before a message leaves."""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path
from typing import Any, TextIO

from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_OK,
    add_guard_options,
    build_guard,
    exit_codes,
    say,
    t,
)

TOKEN_VARIABLE = "LEAKGUARD_TOKEN"
MIN_TOKEN = 16


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help=t(
            "run the HTTPS service behind the Outlook add-in (extra: leakguard[serve])",
            "lancer le service HTTPS du complément Outlook (extra : leakguard[serve])",
        ),
        description=t(
            "Answer the Outlook add-in's pre-send checks over HTTPS: POST /v1/check gives "
            "the same action as leakguard check for the same message.",
            "Répond en HTTPS aux vérifications avant envoi du complément Outlook : "
            "POST /v1/check donne la même action que leakguard check pour le même message.",
        ),
        epilog=exit_codes(
            t("the service was stopped", "le service a été arrêté"),
            t("(not used)", "(non utilisé)"),
        ),
    )
    add_guard_options(p)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help=t(
            "address to listen on (default: 127.0.0.1)",
            "adresse d'écoute (par défaut : 127.0.0.1)",
        ),
    )
    p.add_argument(
        "--port",
        type=int,
        default=8443,
        help=t("port to listen on (default: 8443)", "port d'écoute (par défaut : 8443)"),
    )
    p.add_argument(
        "--certfile", metavar="FILE", help=t("TLS certificate (PEM)", "certificat TLS (PEM)")
    )
    p.add_argument(
        "--keyfile", metavar="FILE", help=t("TLS private key (PEM)", "clé privée TLS (PEM)")
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help=t(
            f"file holding the bearer token (default: the {TOKEN_VARIABLE} variable)",
            f"fichier du jeton d'accès (par défaut : la variable {TOKEN_VARIABLE})",
        ),
    )
    p.add_argument(
        "--allow-origin",
        metavar="URL",
        action="append",
        default=[],
        help=t(
            "another web origin allowed to call the service (repeatable)",
            "autre origine web autorisée à appeler le service (répétable)",
        ),
    )
    p.add_argument(
        "--max-request-mb",
        type=float,
        default=35.0,
        metavar="MB",
        help=t(
            "largest request accepted, in MB (default: 35.0)",
            "plus grande requête acceptée, en Mo (par défaut : 35.0)",
        ),
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=8.0,
        metavar="SECONDS",
        help=t(
            "time one check may take (default: 8.0); past it the verdict says what was not read",
            "durée permise pour une vérification (par défaut : 8.0) ; au-delà le verdict dit "
            "ce qui n'a pas été lu",
        ),
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        metavar="N",
        help=t(
            "checks run at once (default: one per core)",
            "vérifications simultanées (par défaut : une par cœur)",
        ),
    )
    p.set_defaults(run=run)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(args: argparse.Namespace) -> str:
    """The bearer token from --token-file or the environment; at least 16 characters."""
    from leakguard.errors import InputError

    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            from leakguard.cli._common import os_reason

            reason = os_reason(exc)
            raise InputError(
                f"--token-file {args.token_file}: cannot read the token file ({reason})",
                fr=f"--token-file {args.token_file} : impossible de lire le fichier du jeton "
                f"({reason})",
            ) from None
    else:
        token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if len(token) < MIN_TOKEN:
        raise InputError(
            f"a token of at least {MIN_TOKEN} characters is needed: --token-file FILE or "
            f"the {TOKEN_VARIABLE} variable",
            fr=f"il faut un jeton d'au moins {MIN_TOKEN} caractères : --token-file FICHIER ou "
            f"la variable {TOKEN_VARIABLE}",
        )
    return token


def _log_to_stderr() -> None:
    """Audit records and the service's own lines go to standard error (journald, docker logs)."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("leakguard")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def run(args: argparse.Namespace, out: TextIO) -> int:
    try:
        import uvicorn

        from leakguard.serve import ServeConfig, addin_dir
        from leakguard.serve._app import create_app
    except ImportError:
        say(
            t(
                "serve needs the serve extra: pip install 'leakguard[serve]'",
                "serve a besoin de l'extra serve : pip install 'leakguard[serve]'",
            )
        )
        return EXIT_ERROR
    from dataclasses import replace

    if bool(args.certfile) != bool(args.keyfile):
        say(
            t(
                "give --certfile and --keyfile together",
                "donnez --certfile et --keyfile ensemble",
            )
        )
        return EXIT_ERROR
    if not args.certfile and not _loopback(args.host):
        say(
            t(
                "without --certfile the service listens on loopback only "
                "(plain HTTP must not cross the network)",
                "sans --certfile le service n'écoute qu'en boucle locale "
                "(le HTTP en clair ne doit pas traverser le réseau)",
            )
        )
        return EXIT_ERROR
    guard = build_guard(args)
    guard.limits = replace(guard.limits, max_seconds=args.time_budget)
    config = ServeConfig(
        token=read_token(args),
        allow_origins=tuple(args.allow_origin),
        max_body_bytes=int(args.max_request_mb * 1024 * 1024),
        time_budget=args.time_budget,
        max_concurrent=max(1, args.max_concurrent or os.cpu_count() or 2),
        addin=addin_dir(),
    )
    _log_to_stderr()
    scheme = "https" if args.certfile else "http"
    if scheme == "http":
        out.write(
            t(
                "Plain HTTP on loopback only: Outlook needs HTTPS (--certfile, --keyfile).\n",
                "HTTP en clair, en boucle locale seulement : Outlook exige HTTPS "
                "(--certfile, --keyfile).\n",
            )
        )
    out.write(f"leakguard serve: {scheme}://{args.host}:{args.port}/v1/check\n")
    out.flush()
    uvicorn.run(
        create_app(guard, config),
        host=args.host,
        port=args.port,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        access_log=False,  # request lines may carry the add-in's ?token=
        server_header=False,
        log_level="info",
        limit_concurrency=config.max_concurrent + config.max_waiting + 16,
        timeout_keep_alive=5,
    )
    return EXIT_OK
