"""``leakguard milter``: check every message a Postfix or Sendmail server accepts."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from leakguard.cli._common import t


def add_parser(sub: Any) -> None:
    from leakguard.cli._gateway import add_gateway_options, gateway_exit_codes

    p: argparse.ArgumentParser = sub.add_parser(
        "milter",
        help=t(
            "run a milter for Postfix/Sendmail",
            "lancer un milter pour Postfix/Sendmail",
        ),
        description=t(
            "Check every message the mail server accepts, at end of data: a message to "
            "block is refused with 550 5.7.1, one to encrypt is encrypted or refused, one "
            "that could not be checked gets 451 4.7.1 so the server retries.",
            "Vérifie chaque message accepté par le serveur de messagerie, en fin de "
            "données : un message à bloquer est refusé (550 5.7.1), un message à chiffrer "
            "est chiffré ou refusé, un message qui n'a pas pu être vérifié reçoit 451 4.7.1 "
            "pour que le serveur réessaie.",
        ),
        epilog=gateway_exit_codes(
            t(
                "the milter was stopped (SIGTERM or SIGINT)",
                "le milter a été arrêté (SIGTERM ou SIGINT)",
            )
        ),
    )
    p.add_argument(
        "--listen",
        metavar="inet:HOST:PORT",
        default="inet:127.0.0.1:8899",
        help=t(
            "where Postfix connects (default: inet:127.0.0.1:8899)",
            "où Postfix se connecte (par défaut : inet:127.0.0.1:8899)",
        ),
    )
    add_gateway_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from leakguard.cli._gateway import build_keeper, run_server
    from leakguard.gateway.milter import parse_listen, serve

    host, port = parse_listen(args.listen)
    keeper = build_keeper(args, "milter")
    return run_server(
        "milter",
        host,
        port,
        out,
        lambda ready, reuse: serve(
            keeper,
            host,
            port,
            ready=ready,
            reuse_port=reuse,
            max_sessions=args.max_connections,
        ),
        processes=args.processes,
    )
