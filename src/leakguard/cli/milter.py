"""``leakguard milter``: check every message a Postfix or Sendmail server accepts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from leakguard.cli._common import EXIT_ERROR, EXIT_OK, t


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
    try:
        from leakguard.gateway.milter import parse_listen, serve
    except ImportError:
        sys.stderr.write(
            t(
                "leakguard: the milter needs the gateway extra: pip install 'leakguard[gateway]'\n",
                "leakguard : le milter nécessite l'extra gateway : "
                "pip install 'leakguard[gateway]'\n",
            )
        )
        return EXIT_ERROR
    from leakguard.cli._gateway import build_keeper

    host, port = parse_listen(args.listen)
    keeper = build_keeper(args, "milter")

    def ready() -> None:
        out.write(
            t(
                f"leakguard milter listening on {host}:{port}\n",
                f"leakguard milter à l'écoute sur {host}:{port}\n",
            )
        )
        out.flush()

    try:
        asyncio.run(serve(keeper, host, port, ready=ready))
    except OSError as exc:  # the address is taken or not ours
        sys.stderr.write(
            t(
                f"leakguard: cannot listen on {host}:{port}: {exc.strerror or exc}\n",
                f"leakguard : impossible d'écouter sur {host}:{port} : {exc.strerror or exc}\n",
            )
        )
        return EXIT_ERROR
    return EXIT_OK
