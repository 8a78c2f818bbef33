"""``leakguard relay``: an SMTP filter between the mail server and the next hop."""

from __future__ import annotations

import argparse
import ssl
from typing import Any, TextIO

from leakguard.cli._common import EXIT_ERROR, positive_int, say, t


def add_parser(sub: Any) -> None:
    from leakguard.cli._gateway import add_gateway_options, gateway_exit_codes

    p: argparse.ArgumentParser = sub.add_parser(
        "relay",
        help=t(
            "run an SMTP relay that checks each message before the next hop "
            "(needs leakguard[gateway])",
            "lancer un relais SMTP qui vérifie chaque message avant le serveur suivant "
            "(nécessite leakguard[gateway])",
        ),
        description=t(
            "Receive mail by SMTP, check each message and pass it to the next hop: 250 only "
            "once the next hop accepted it, 550 5.7.1 for a message to block, 451 4.7.1 "
            "when it could not be checked or the next hop is unavailable.",
            "Reçoit le courrier en SMTP, vérifie chaque message et le transmet au serveur "
            "suivant : 250 seulement une fois que celui-ci l'a accepté, 550 5.7.1 pour un "
            "message à bloquer, 451 4.7.1 s'il n'a pas pu être vérifié ou si le serveur "
            "suivant est indisponible.",
        ),
        epilog=gateway_exit_codes(
            t(
                "the relay was stopped (SIGTERM or SIGINT)",
                "le relais a été arrêté (SIGTERM ou SIGINT)",
            )
        ),
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:10025",
        help=t(
            "where clients connect (default: 127.0.0.1:10025)",
            "où les clients se connectent (par défaut : 127.0.0.1:10025)",
        ),
    )
    p.add_argument(
        "--next-hop",
        metavar="HOST:PORT",
        required=True,
        help=t(
            "the server that receives accepted messages",
            "le serveur qui reçoit les messages acceptés",
        ),
    )
    p.add_argument(
        "--next-hop-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help=t(
            "time the next hop has for one message, from connecting to its answer to the "
            "end of the data, before 451 (default: 30.0)",
            "temps accordé au serveur suivant pour un message, de la connexion à sa réponse "
            "à la fin des données, avant 451 (par défaut : 30.0)",
        ),
    )
    p.add_argument(
        "--starttls",
        action="store_true",
        help=t("use STARTTLS towards the next hop", "utiliser STARTTLS vers le serveur suivant"),
    )
    p.add_argument(
        "--tls-ca",
        metavar="FILE",
        help=t(
            "CA certificates that sign the next hop's certificate (default: system ones)",
            "certificats d'AC du serveur suivant (par défaut : ceux du système)",
        ),
    )
    p.add_argument(
        "--tls-cert",
        metavar="FILE",
        help=t(
            "certificate chain (PEM) to offer STARTTLS to clients",
            "chaîne de certificats (PEM) pour proposer STARTTLS aux clients",
        ),
    )
    p.add_argument(
        "--tls-key",
        metavar="FILE",
        help=t("private key (PEM) of --tls-cert", "clé privée (PEM) de --tls-cert"),
    )
    p.add_argument(
        "--size-limit",
        type=int,
        default=25 * 1024 * 1024,
        metavar="BYTES",
        help=t(
            "largest message accepted, announced in EHLO (default: 26214400, 25 MiB)",
            "plus grand message accepté, annoncé dans EHLO (par défaut : 26214400, 25 Mio)",
        ),
    )
    p.add_argument(
        "--allow-client",
        action="append",
        default=[],
        metavar="CIDR",
        help=t(
            "a network (or address) whose clients may use the relay, besides this machine "
            "(repeatable; default: loopback only)",
            "un réseau (ou une adresse) dont les clients peuvent utiliser le relais, en plus "
            "de cette machine (répétable ; par défaut : boucle locale seulement)",
        ),
    )
    p.add_argument(
        "--auth-file",
        metavar="FILE",
        help=t(
            "password file (user:$scrypt$… lines): every client must log in (SMTP AUTH, "
            "over TLS or from this machine)",
            "fichier de mots de passe (lignes utilisateur:$scrypt$…) : chaque client doit "
            "s'authentifier (SMTP AUTH, en TLS ou depuis cette machine)",
        ),
    )
    p.add_argument(
        "--max-recipients",
        type=positive_int,
        default=1000,
        metavar="N",
        help=t(
            "recipients in one message; the next ones get 452 and are sent again in "
            "another message (default: 1000)",
            "destinataires d'un message ; les suivants reçoivent 452 et sont renvoyés dans "
            "un autre message (par défaut : 1000)",
        ),
    )
    add_gateway_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from leakguard.cli._gateway import build_keeper, missing_extra, run_server

    try:
        from leakguard.gateway.passwords import PasswordFile
        from leakguard.gateway.relay import NextHop, parse_client_network, parse_hostport, serve
    except ImportError:
        return missing_extra("the relay", "le relais")
    host, port = parse_hostport(args.listen, "--listen")
    hop_host, hop_port = parse_hostport(args.next_hop, "--next-hop")
    networks = [parse_client_network(v) for v in args.allow_client]
    passwords = PasswordFile.load(args.auth_file) if args.auth_file else None
    try:
        context = ssl.create_default_context(cafile=args.tls_ca) if args.starttls else None
        server_tls = None
        if args.tls_cert:
            server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_tls.load_cert_chain(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        say(
            t(
                f"cannot load the TLS certificate or key: {reason}",
                f"impossible de charger le certificat ou la clé TLS : {reason}",
            )
        )
        return EXIT_ERROR
    hop = NextHop(
        hop_host,
        hop_port,
        timeout=args.next_hop_timeout,
        starttls=args.starttls,
        tls_context=context,
    )
    keeper = build_keeper(args, "relay")
    return run_server(
        "relay",
        host,
        port,
        out,
        lambda ready, reuse: serve(
            keeper,
            host,
            port,
            hop,
            size_limit=args.size_limit,
            tls_context=server_tls,
            ready=ready,
            reuse_port=reuse,
            allow_clients=networks,
            passwords=passwords,
            max_recipients=max(1, args.max_recipients),
            max_connections=args.max_connections,
        ),
        processes=args.processes,
    )
