"""``leakguard milter``: check every message a Postfix or Sendmail server accepts."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from leakguard.cli._common import t


def add_parser(sub: Any) -> None:
    from leakguard.cli._gateway import add_gateway_options

    p: argparse.ArgumentParser = sub.add_parser(
        "milter",
        help=t(
            "run a milter for Postfix/Sendmail (needs leakguard[gateway])",
            "lancer un milter pour Postfix/Sendmail (nécessite leakguard[gateway])",
        ),
    )
    p.add_argument(
        "--listen",
        metavar="inet:HOST:PORT",
        default="inet:127.0.0.1:8899",
        help=t(
            "where Postfix connects (default: inet:127.0.0.1:8899)",
            "où Postfix se connecte (défaut : inet:127.0.0.1:8899)",
        ),
    )
    add_gateway_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from leakguard.cli._gateway import build_keeper, missing_extra, run_server

    try:
        from leakguard.gateway.milter import parse_listen, serve
    except ImportError:
        return missing_extra("the milter", "le milter")
    host, port = parse_listen(args.listen)
    keeper = build_keeper(args, "milter")
    return run_server(
        "milter",
        host,
        port,
        out,
        lambda ready, reuse: serve(keeper, host, port, ready=ready, reuse_port=reuse),
        processes=args.processes,
    )
