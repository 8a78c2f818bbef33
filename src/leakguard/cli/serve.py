"""``leakguard serve``: the HTTPS service the Outlook add-in asks before a message leaves."""

from __future__ import annotations

import argparse
import errno
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
ADDIN_WAIT = 15.0  # the add-in's own wait (outlook-addin/src/launchevent.js)
GRACE = 1.0
# The answer comes by budget + grace; the add-in must still be waiting for it.
MAX_BUDGET = ADDIN_WAIT - GRACE - 1.0


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
            t(
                "usage error or unreadable input: a wrong option, an unreadable certificate, "
                "key or token, or the address cannot be listened on (port in use, no "
                "permission)",
                "erreur d'utilisation ou entrée illisible : option erronée, certificat, clé "
                "ou jeton illisible, ou écoute impossible sur l'adresse (port déjà utilisé, "
                "permission refusée)",
            ),
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
            f"time one request may take, its upload included (default: 8.0, at most "
            f"{MAX_BUDGET:g}: the add-in waits {ADDIN_WAIT:g}); past it the verdict says what "
            "was not read",
            f"durée permise pour une requête, envoi compris (par défaut : 8.0, au plus "
            f"{MAX_BUDGET:g} : le complément attend {ADDIN_WAIT:g}) ; au-delà le verdict dit ce "
            "qui n'a pas été lu",
        ),
    )
    p.add_argument(
        "--max-memory-mb",
        type=float,
        default=512.0,
        metavar="MB",
        help=t(
            "memory the requests being checked may hold together, in MB (default: 512.0); "
            "past it a request gets 503 with Retry-After at once",
            "mémoire que les requêtes en cours peuvent occuper ensemble, en Mo (par défaut : "
            "512.0) ; au-delà une requête reçoit aussitôt 503 avec Retry-After",
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


def check_tls(certfile: str, keyfile: str) -> None:
    """Raise :class:`~leakguard.errors.InputError` naming the file and the reason when the
    certificate or the key cannot serve TLS."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from leakguard.errors import InputError

    def read(path: str, what: str, quoi: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise InputError(
                f"cannot read the TLS {what} {path}: {reason}",
                fr=f"impossible de lire {quoi} TLS {path} : {reason}",
            ) from None

    cert = read(certfile, "certificate", "le certificat")
    key = read(keyfile, "private key", "la clé privée")
    try:
        x509.load_pem_x509_certificates(cert)
    except ValueError:
        raise InputError(
            f"{certfile} is not a TLS certificate (PEM, -----BEGIN CERTIFICATE-----)",
            fr=f"{certfile} n'est pas un certificat TLS (PEM, -----BEGIN CERTIFICATE-----)",
        ) from None
    try:
        serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError, NotImplementedError):
        raise InputError(
            f"{keyfile} is not a TLS private key (PEM, without a password)",
            fr=f"{keyfile} n'est pas une clé privée TLS (PEM, sans mot de passe)",
        ) from None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError):
        raise InputError(
            f"the private key {keyfile} does not belong to the certificate {certfile}",
            fr=f"la clé privée {keyfile} ne correspond pas au certificat {certfile}",
        ) from None


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return t(
            f"cannot listen on {where}: port {port} is already in use (another service, "
            "or leakguard serve already running)",
            f"impossible d'écouter sur {where} : le port {port} est déjà utilisé (un autre "
            "service, ou leakguard serve déjà lancé)",
        )
    if exc.errno == errno.EACCES:
        return t(
            f"cannot listen on {where}: permission denied (ports below 1024 need privileges)",
            f"impossible d'écouter sur {where} : permission refusée (les ports sous 1024 "
            "demandent des privilèges)",
        )
    reason = exc.strerror or type(exc).__name__
    return t(f"cannot listen on {where}: {reason}", f"impossible d'écouter sur {where} : {reason}")


def run(args: argparse.Namespace, out: TextIO) -> int:
    try:
        import hypercorn  # noqa: F401

        from leakguard.serve import ServeConfig, addin_dir
        from leakguard.serve._app import create_app
        from leakguard.serve._server import serve, server_config, try_listen
    except ImportError:
        say(
            t(
                "serve needs the serve extra: pip install 'leakguard[serve]'",
                "serve a besoin de l'extra serve : pip install 'leakguard[serve]'",
            )
        )
        return EXIT_ERROR
    import asyncio
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
    if not 0 < args.time_budget <= MAX_BUDGET:
        say(
            t(
                f"--time-budget must be more than 0 and at most {MAX_BUDGET:g} seconds: the "
                f"add-in waits {ADDIN_WAIT:g} s for the answer",
                f"--time-budget doit être supérieur à 0 et d'au plus {MAX_BUDGET:g} secondes : "
                f"le complément attend la réponse {ADDIN_WAIT:g} s",
            )
        )
        return EXIT_ERROR
    if args.max_memory_mb <= 0 or args.max_request_mb <= 0:
        say(
            t(
                "--max-memory-mb and --max-request-mb must be more than 0",
                "--max-memory-mb et --max-request-mb doivent être supérieurs à 0",
            )
        )
        return EXIT_ERROR
    if args.certfile:
        check_tls(args.certfile, args.keyfile)
    token = read_token(args)
    guard = build_guard(args)
    guard.limits = replace(guard.limits, max_seconds=args.time_budget)
    config = ServeConfig(
        token=token,
        allow_origins=tuple(args.allow_origin),
        max_body_bytes=int(args.max_request_mb * 1024 * 1024),
        time_budget=args.time_budget,
        max_concurrent=max(1, args.max_concurrent or os.cpu_count() or 2),
        max_memory_bytes=int(args.max_memory_mb * 1024 * 1024),
        grace=GRACE,
        addin=addin_dir(),
    )
    scheme = "https" if args.certfile else "http"
    if scheme == "http":
        out.write(
            t(
                "Plain HTTP on loopback only: Outlook needs HTTPS (--certfile, --keyfile).\n",
                "HTTP en clair, en boucle locale seulement : Outlook exige HTTPS "
                "(--certfile, --keyfile).\n",
            )
        )
    _log_to_stderr()
    server = server_config(
        config, host=args.host, port=args.port, certfile=args.certfile, keyfile=args.keyfile
    )
    try:
        try_listen(args.host, args.port)
        out.write(f"leakguard serve: {scheme}://{args.host}:{args.port}/v1/check\n")
        out.flush()
        asyncio.run(serve(create_app(guard, config), server))
    except OSError as exc:
        say(_cannot_listen(args.host, args.port, exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        pass
    return EXIT_OK
