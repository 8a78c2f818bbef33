"""Command-line options and set-up shared by ``leakguard milter`` and ``leakguard relay``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_OK,
    add_guard_options,
    build_guard,
    exit_codes,
    positive_int,
    say,
    t,
)
from leakguard.errors import LeakguardError

if TYPE_CHECKING:
    from leakguard.gateway._decide import Gatekeeper


def gateway_exit_codes(stopped: str) -> str:
    """The exit-status paragraph of a mail service's ``--help``; ``stopped`` says which."""
    return exit_codes(
        stopped,
        t("(not used)", "(non utilisé)"),
        t(
            "usage error or unreadable input: a wrong option or file, an audit log "
            "that cannot be written, an address that cannot be listened on, or a worker "
            "process that failed",
            "erreur d'utilisation ou entrée illisible : une option ou un fichier "
            "erroné, un journal d'audit impossible à écrire, une adresse où l'écoute est "
            "impossible, ou un processus de travail en échec",
        ),
    )


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
            "que faire d'un message à chiffrer (par défaut : protect)",
        ),
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help=t(
            "time budget of one message, from the end of its data: past it the check stops and the "
            "message gets 451 (default: 20.0)",
            "temps accordé à un message, depuis la fin de ses données : au-delà la vérification "
            "s'arrête et le message reçoit 451 (par défaut : 20.0)",
        ),
    )
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help=t(
            "checks run at the same time (default: 2)", "vérifications simultanées (par défaut : 2)"
        ),
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help=t(
            "worker processes sharing the port, for machines with several cores (default: 1)",
            "processus qui se partagent le port, pour les machines à plusieurs cœurs "
            "(par défaut : 1)",
        ),
    )
    p.add_argument(
        "--max-pending",
        type=int,
        default=64,
        metavar="N",
        help=t(
            "messages checked or waiting before new ones get 451 (default: 64)",
            "messages en cours ou en attente avant de répondre 451 aux suivants (par défaut : 64)",
        ),
    )
    p.add_argument(
        "--max-memory",
        type=positive_int,
        default=512,
        metavar="MIB",
        help=t(
            "memory for messages being received and checked, per process; past it new "
            "messages get 451 (default: 512)",
            "mémoire pour les messages en réception et en vérification, par processus ; "
            "au-delà les nouveaux messages reçoivent 451 (par défaut : 512)",
        ),
    )
    p.add_argument(
        "--max-connections",
        type=positive_int,
        default=256,
        metavar="N",
        help=t(
            "connections served at once per process; the next ones are turned away (default: 256)",
            "connexions servies en même temps par processus ; les suivantes sont refusées "
            "(par défaut : 256)",
        ),
    )
    p.add_argument(
        "--reply-lang",
        choices=("fr", "en", "both"),
        default="both",
        help=t(
            "language of refusals when the message does not name its own (default: both)",
            "langue des refus quand le message n'indique pas la sienne (par défaut : both)",
        ),
    )
    p.add_argument(
        "--audit-log",
        metavar="FILE",
        help=t(
            "append the audit (one JSON line per decision) to FILE (default: standard error)",
            "ajouter l'audit (une ligne JSON par décision) à FILE (par défaut : erreur standard)",
        ),
    )


def _audit_file(path: Path) -> logging.Handler:
    """The audit log's file handler, or one clear line naming the file and the reason."""
    try:
        return logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, FileNotFoundError):
            fr = "dossier introuvable (créez-le d'abord)"
            reason += " (create the folder first)"
        elif isinstance(exc, IsADirectoryError):
            fr = "c'est un dossier, pas un fichier"
        elif isinstance(exc, PermissionError):
            fr = "accès refusé"
        else:
            fr = reason
        raise LeakguardError(
            f"cannot write the audit log {path}: {reason}",
            fr=f"impossible d'écrire le journal d'audit {path} : {fr}",
        ) from None


def build_keeper(args: argparse.Namespace, interface: str) -> Gatekeeper:
    """The gatekeeper the options describe, with the audit log attached."""
    from leakguard.gateway._decide import Gatekeeper

    handler: logging.Handler
    if args.audit_log:
        handler = _audit_file(Path(args.audit_log))
    else:
        handler = logging.StreamHandler(sys.stderr)
    audit = logging.getLogger("leakguard.audit")
    audit.setLevel(logging.INFO)
    audit.propagate = False
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit.addHandler(handler)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    return Gatekeeper(
        build_guard(args),
        interface=interface,
        timeout=args.timeout,
        workers=max(1, args.workers),
        max_pending=max(1, args.max_pending),
        max_memory=args.max_memory << 20,
        encrypt=args.on_encrypt,
        lang=args.reply_lang,
        audit=audit,
    )


def missing_extra(what_en: str, what_fr: str) -> int:
    """Say that the gateway extra is not installed; the exit status for it."""
    say(
        t(
            f"{what_en} needs the gateway extra: pip install 'leakguard[gateway]'",
            f"{what_fr} nécessite l'extra gateway : pip install 'leakguard[gateway]'",
        )
    )
    return EXIT_ERROR


Server = Callable[[Callable[[], None], bool], Coroutine[Any, Any, None]]


def run_server(
    name: str, host: str, port: int, out: TextIO, server: Server, *, processes: int = 1
) -> int:
    """Run ``server(ready, reuse_port)`` until it stops, in one or several processes.

    With ``processes`` > 1 the workers are forked before any event loop or thread exists
    and share the port (SO_REUSEPORT); SIGTERM/SIGINT go to every worker, and a worker
    that fails stops the others, so a supervisor (systemd) restarts the whole service.
    """

    def ready() -> None:
        more = t(f" ({processes} processes)", f" ({processes} processus)") if processes > 1 else ""
        out.write(
            t(
                f"leakguard {name} listening on {host}:{port}{more}\n",
                f"leakguard {name} à l'écoute sur {host}:{port}{more}\n",
            )
        )
        out.flush()

    def one(announce: bool, reuse_port: bool) -> int:
        try:
            asyncio.run(server(ready if announce else lambda: None, reuse_port))
        except OSError as exc:  # the address is taken or not ours
            say(
                t(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                    f"impossible d'écouter sur {host}:{port} : {exc.strerror or exc}",
                )
            )
            return EXIT_ERROR
        return EXIT_OK

    if processes <= 1:
        return one(True, False)
    out.flush()
    sys.stderr.flush()
    workers: list[int] = []
    for i in range(processes):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker, measured by its exit status
            code = EXIT_ERROR
            try:
                code = one(i == 0, True)
            finally:
                out.flush()
                sys.stderr.flush()
                os._exit(code)
        workers.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = EXIT_OK
    running = set(workers)
    while running:
        pid, wait_status = os.wait()
        running.discard(pid)
        if os.waitstatus_to_exitcode(wait_status) != 0 and status == EXIT_OK:
            status = EXIT_ERROR
            forward(signal.SIGTERM, None)
    return status
