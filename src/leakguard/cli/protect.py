"""``leakguard protect``: write the message ready to send, encrypted."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from leakguard.cli._common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    add_guard_options,
    build_guard,
    lang,
    t,
)
from leakguard.errors import LeakBlocked

if TYPE_CHECKING:
    from leakguard.guard import PasswordNotice


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "protect", help="write the message ready to send, encrypted"
    )
    p.add_argument(
        "--certificates",
        metavar="DIR",
        required=True,
        help="folder of <address>.pem/.der certificates",
    )
    add_guard_options(p)
    p.add_argument(
        "--password-file",
        metavar="FILE",
        help="allow an AES-256 ZIP when a certificate is missing; its password is written to FILE",
    )
    p.add_argument("input", metavar="IN.eml")
    p.add_argument("-o", "--output", metavar="OUT.eml", required=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    passwords: list[PasswordNotice] = []
    guard = build_guard(args)
    guard.on_password = passwords.append if args.password_file else None
    src = Path(args.input)
    try:
        data = src.read_bytes()
    except OSError as exc:
        sys.stderr.write(f"leakguard: {src}: {exc.strerror or exc}\n")
        return EXIT_ERROR
    try:
        protected = guard.protect(data)
    except LeakBlocked as exc:
        sys.stderr.write(f"leakguard: {src}: {exc.verdict.action.value.upper()}\n")
        if exc.args and exc.args[0] != exc.verdict.explain("en"):
            sys.stderr.write(str(exc.args[0]) + "\n")
        sys.stderr.write(exc.verdict.explain(lang()) + "\n")
        return EXIT_FAIL
    Path(args.output).write_bytes(protected.as_bytes())
    if passwords:
        # The password goes to a separate file with owner-only permissions, never stdout.
        pw = Path(args.password_file)
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(passwords[-1].password + "\n")
        out.write(
            t(
                f"written {args.output}; ZIP password in {pw}\n",
                f"écrit {args.output} ; mot de passe du ZIP dans {pw}\n",
            )
        )
    else:
        out.write(t(f"written {args.output}\n", f"écrit {args.output}\n"))
    return EXIT_OK
