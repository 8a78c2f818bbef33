"""Command-line options and set-up shared by ``leakguard milter`` and ``leakguard relay``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from leakguard.cli._common import EXIT_ERROR, EXIT_OK, add_guard_options, build_guard, t

if TYPE_CHECKING:
    from leakguard.gateway._decide import Gatekeeper


def add_gateway_options(p: argparse.ArgumentParser) -> None:
    """Guard options, certificates, limits, reply language and audit file."""
    add_guard_options(p)
    p.add_argument(
        "--certificates",
        metavar="DIR",
        help=t(
            "folder of <address>.pem/.der certificates: messages that need encryption are "
            "encrypted when every recipient has one",
            "dossier de certificats <adresse>.pem/.der : les messages à chiffrer le sont "
            "quand chaque destinataire en a un",
        ),
    )
    p.add_argument(
        "--on-encrypt",
        choices=("protect", "reject"),
        default="protect",
        help=t(
            "what to do with a message that must be encrypted (default: protect)",
            "que faire d'un message à chiffrer (défaut : protect)",
        ),
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help=t(
            "longest check of one message before answering 451 (default: 20)",
            "durée maximale de vérification d'un message avant de répondre 451 (défaut : 20)",
        ),
    )
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help=t(
            "checks run at the same time (default: 2)", "vérifications simultanées (défaut : 2)"
        ),
    )
    p.add_argument(
        "--max-pending",
        type=int,
        default=64,
        metavar="N",
        help=t(
            "messages checked or waiting before new ones get 451 (default: 64)",
            "messages en cours ou en attente avant de répondre 451 aux suivants (défaut : 64)",
        ),
    )
    p.add_argument(
        "--reply-lang",
        choices=("fr", "en", "both"),
        default="both",
        help=t(
            "language of refusals when the message does not name its own (default: both)",
            "langue des refus quand le message n'indique pas la sienne (défaut : both)",
        ),
    )
    p.add_argument(
        "--audit-log",
        metavar="FILE",
        help=t(
            "append the audit (one JSON line per decision) to FILE (default: standard error)",
            "ajouter l'audit (une ligne JSON par décision) à FILE (défaut : erreur standard)",
        ),
    )


def build_keeper(args: argparse.Namespace, interface: str) -> Gatekeeper:
    """The gatekeeper the options describe, with the audit log attached."""
    from leakguard.gateway._decide import Gatekeeper

    audit = logging.getLogger("leakguard.audit")
    audit.setLevel(logging.INFO)
    audit.propagate = False
    handler: logging.Handler
    if args.audit_log:
        handler = logging.FileHandler(Path(args.audit_log), encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit.addHandler(handler)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    return Gatekeeper(
        build_guard(args),
        interface=interface,
        timeout=args.timeout,
        workers=max(1, args.workers),
        max_pending=max(1, args.max_pending),
        encrypt=args.on_encrypt,
        lang=args.reply_lang,
        audit=audit,
    )


def missing_extra(what_en: str, what_fr: str) -> int:
    """Say that the gateway extra is not installed; the exit status for it."""
    sys.stderr.write(
        t(
            f"leakguard: {what_en} needs the gateway extra: pip install 'leakguard[gateway]'\n",
            f"leakguard : {what_fr} nécessite l'extra gateway : pip install 'leakguard[gateway]'\n",
        )
    )
    return EXIT_ERROR


def run_server(
    name: str,
    host: str,
    port: int,
    out: TextIO,
    server: Callable[[Callable[[], None]], Coroutine[Any, Any, None]],
) -> int:
    """Run ``server(ready)`` until it stops; a clear message when it cannot listen."""

    def ready() -> None:
        out.write(
            t(
                f"leakguard {name} listening on {host}:{port}\n",
                f"leakguard {name} à l'écoute sur {host}:{port}\n",
            )
        )
        out.flush()

    try:
        asyncio.run(server(ready))
    except OSError as exc:  # the address is taken or not ours
        sys.stderr.write(
            t(
                f"leakguard: cannot listen on {host}:{port}: {exc.strerror or exc}\n",
                f"leakguard : impossible d'écouter sur {host}:{port} : {exc.strerror or exc}\n",
            )
        )
        return EXIT_ERROR
    return EXIT_OK
