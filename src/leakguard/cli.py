"""The ``leakguard`` command: ``check``, ``scan`` and ``protect`` (design §5).

Exit status: 0 when no message reaches the ``--fail-on`` action, 1 when one does, 2 for
a usage error or an unreadable input (the other inputs are still checked and reported).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from leakguard import __version__
from leakguard.core import Action, Finding, Fingerprinter, Lang, Verdict
from leakguard.errors import LeakBlocked, LeakguardError

if TYPE_CHECKING:
    from leakguard.guard import Guard

__all__ = ["main"]

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def _lang() -> Lang:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var, "")
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


@dataclass(frozen=True, slots=True)
class _Input:
    source: str
    path: Path | None  # None for standard input


@dataclass(slots=True)
class _Result:
    source: str
    verdict: Verdict | None = None
    findings: tuple[Finding, ...] = ()
    error: str | None = None


def _inputs(paths: Sequence[str], *, only_eml: bool) -> Iterator[_Input | _Result]:
    for raw in paths:
        if raw == "-":
            yield _Input("-", None)
            continue
        p = Path(raw)
        if p.is_dir():
            pattern = "*.eml" if only_eml else "*"
            found = sorted(q for q in p.rglob(pattern) if q.is_file())
            if not found:
                yield _Result(
                    raw,
                    error=_t(
                        "no file to check in this folder",
                        "aucun fichier à vérifier dans ce dossier",
                    ),
                )
            for q in found:
                yield _Input(str(q), q)
        elif p.is_file():
            yield _Input(raw, p)
        else:
            yield _Result(raw, error=_t("no such file", "fichier introuvable"))


def _t(en: str, fr: str) -> str:
    return fr if _lang() == "fr" else en


def _read(item: _Input) -> bytes:
    if item.path is None:
        return sys.stdin.buffer.read()
    return item.path.read_bytes()


def _readable(paths: Sequence[str], *, only_eml: bool) -> Iterator[tuple[_Input, bytes] | _Result]:
    """Each input with its bytes, or a result that says why it could not be read."""
    for item in _inputs(paths, only_eml=only_eml):
        if isinstance(item, _Result):
            yield item
            continue
        try:
            yield item, _read(item)
        except OSError as exc:
            yield _Result(item.source, error=exc.strerror or type(exc).__name__)


# ---------------------------------------------------------------------- output


def _json_doc(results: list[_Result], lang: Lang, *, with_action: bool) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for r in results:
        entry: dict[str, Any] = {"source": r.source}
        if r.error is not None:
            entry["error"] = r.error
            entry["findings"] = []
        elif r.verdict is not None and with_action:
            entry.update(r.verdict.to_dict(lang))
            entry["source"] = r.source
        else:
            entry["findings"] = [f.to_dict(lang) for f in r.findings]
        messages.append(entry)
    return {"leakguard": __version__, "messages": messages}


_LEVEL = {"high": "error", "medium": "warning", "low": "note"}


def _sarif_doc(results: list[_Result], lang: Lang) -> dict[str, Any]:
    from leakguard.core import KINDS

    rules = [
        {
            "id": kind,
            "name": kind,
            "shortDescription": {"text": kind.replace("_", " ")},
            "helpUri": "https://pypi.org/project/leakguard/",
        }
        for kind in sorted(KINDS)
    ]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    sarif_results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for r in results:
        if r.error is not None:
            notifications.append(
                {
                    "level": "error",
                    "message": {"text": f"{r.source}: {r.error}"},
                    "locations": [
                        {"physicalLocation": {"artifactLocation": {"uri": _uri(r.source)}}}
                    ],
                }
            )
            continue
        findings = r.verdict.findings if r.verdict is not None else r.findings
        for f in findings:
            result: dict[str, Any] = {
                "ruleId": f.kind,
                "ruleIndex": index[f.kind],
                "level": _LEVEL[f.severity.value],
                "message": {"text": f.message(lang)},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": _uri(r.source)}},
                        "logicalLocations": [{"name": str(f.location), "kind": "member"}],
                    }
                ],
                "properties": {
                    k: v
                    for k, v in f.to_dict(lang).items()
                    if k not in ("kind", "message", "severity")
                }
                | ({"action": r.verdict.action.value} if r.verdict is not None else {}),
            }
            if f.fingerprint:
                result["partialFingerprints"] = {"leakguardValue/v1": f.fingerprint}
            sarif_results.append(result)
    invocation: dict[str, Any] = {"executionSuccessful": not notifications}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "leakguard",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/leakguard/",
                        "rules": rules,
                    }
                },
                "invocations": [invocation],
                "results": sarif_results,
            }
        ],
    }


def _uri(source: str) -> str:
    if source == "-":
        return "stdin"
    return Path(source).as_posix().replace(" ", "%20")


def _print_text(results: list[_Result], lang: Lang, out: TextIO, *, with_action: bool) -> None:
    for r in results:
        if r.error is not None:
            out.write(f"{r.source}: {_t('error', 'erreur')}: {r.error}\n")
            continue
        if r.verdict is not None and with_action:
            out.write(f"{r.source}: {r.verdict.action.value.upper()}\n")
            out.write("  " + r.verdict.explain(lang).splitlines()[0] + "\n")
            findings = r.verdict.findings
        else:
            findings = r.findings
            count = len(findings)
            out.write(
                f"{r.source}: "
                + (
                    _t(f"{count} finding(s)", f"{count} constat(s)")
                    if count
                    else _t("nothing found", "rien trouvé")
                )
                + "\n"
            )
        for f in findings:
            out.write(f"  - [{f.severity.value}] {f.kind} @ {f.location}: {f.message(lang)}\n")


# ---------------------------------------------------------------------- commands


def _cmd_scan(args: argparse.Namespace, out: TextIO) -> int:
    from leakguard.content import scan_chunks
    from leakguard.message import document_content, iter_content, load_message

    fp = Fingerprinter()
    results: list[_Result] = []
    status = EXIT_OK
    for got in _readable(args.paths, only_eml=False):
        if isinstance(got, _Result):
            results.append(got)
            status = EXIT_ERROR
            continue
        item, data = got
        name = "stdin" if item.path is None else item.path.name
        if item.path is None or item.path.suffix.lower() in (".eml", ".msg822", ".mbox"):
            chunks = iter_content(load_message(data))
        else:
            chunks = document_content(data, name=name)
        report = scan_chunks(chunks, fingerprinter=fp)
        results.append(_Result(item.source, findings=tuple(report.findings)))
    lang = _lang()
    if args.format == "json":
        json.dump(_json_doc(results, lang, with_action=False), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        _print_text(results, lang, out, with_action=False)
    return status


def _build_guard(args: argparse.Namespace) -> Guard:
    from leakguard.guard import Guard
    from leakguard.policy import Policy
    from leakguard.protection import FolderCertificates
    from leakguard.recipients import Directory

    policy = Policy.load(args.policy) if args.policy else Policy.default()
    domains = tuple(d.strip().lower() for d in args.internal_domain if d.strip())
    if domains:
        policy = policy.replace(
            internal_domains=tuple(dict.fromkeys(policy.internal_domains + domains))
        )
    directory = Directory.load(args.directory) if args.directory else None
    folder = getattr(args, "certificates", None)  # only `protect` takes certificates
    certificates = FolderCertificates(folder) if folder else None
    return Guard(policy, directory=directory, certificates=certificates)


def _cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    guard = _build_guard(args)
    fail_on = Action.parse(args.fail_on)
    results: list[_Result] = []
    status = EXIT_OK
    unreadable = False
    for got in _readable(args.paths, only_eml=True):
        if isinstance(got, _Result):
            results.append(got)
            unreadable = True
            continue
        item, data = got
        verdict = guard.check(data, source=item.source)
        results.append(_Result(item.source, verdict=verdict))
        if verdict.action >= fail_on:
            status = EXIT_FAIL
    lang = _lang()
    if args.format == "json":
        json.dump(_json_doc(results, lang, with_action=True), out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif args.format == "sarif":
        json.dump(_sarif_doc(results, lang), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        _print_text(results, lang, out, with_action=True)
    return EXIT_ERROR if unreadable else status


def _cmd_protect(args: argparse.Namespace, out: TextIO) -> int:
    from leakguard.guard import PasswordNotice

    passwords: list[PasswordNotice] = []
    guard = _build_guard(args)
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
        lang = _lang()
        sys.stderr.write(f"leakguard: {src}: {exc.verdict.action.value.upper()}\n")
        if exc.args and exc.args[0] != exc.verdict.explain("en"):
            sys.stderr.write(str(exc.args[0]) + "\n")
        sys.stderr.write(exc.verdict.explain(lang) + "\n")
        return EXIT_FAIL
    Path(args.output).write_bytes(protected.as_bytes())
    if passwords:
        # The password goes to a separate file with owner-only permissions, never stdout.
        pw = Path(args.password_file)
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(passwords[-1].password + "\n")
        out.write(
            _t(
                f"written {args.output}; ZIP password in {pw}\n",
                f"écrit {args.output} ; mot de passe du ZIP dans {pw}\n",
            )
        )
    else:
        out.write(_t(f"written {args.output}\n", f"écrit {args.output}\n"))
    return EXIT_OK


# ---------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors exit 2, as documented
        self.print_usage(sys.stderr)
        sys.stderr.write(f"leakguard: error: {message}\n")
        raise SystemExit(EXIT_ERROR)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="leakguard", description="Check outgoing e-mail for health data before it is sent."
    )
    p.add_argument("--version", action="version", version=f"leakguard {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = sub.add_parser("check", help="decide allow / warn / encrypt / block for .eml messages")
    check.add_argument(
        "--policy", metavar="FILE", help="policy TOML file (default: embedded policy)"
    )
    check.add_argument(
        "--directory", metavar="FILE", help="colleagues: CSV, plain list, vCard or LDIF"
    )
    check.add_argument(
        "--internal-domain",
        metavar="DOMAIN",
        action="append",
        default=[],
        help="the organisation's own domain (repeatable)",
    )
    check.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    check.add_argument("--fail-on", choices=("warn", "encrypt", "block"), default="encrypt")
    check.add_argument(
        "paths", nargs="+", metavar="PATH", help=".eml file, folder, or - for standard input"
    )

    scan = sub.add_parser("scan", help="content findings for .eml files or documents")
    scan.add_argument("--format", choices=("text", "json"), default="text")
    scan.add_argument("paths", nargs="+", metavar="PATH")

    protect = sub.add_parser("protect", help="write the message ready to send, encrypted")
    protect.add_argument(
        "--certificates",
        metavar="DIR",
        required=True,
        help="folder of <address>.pem/.der certificates",
    )
    protect.add_argument("--policy", metavar="FILE")
    protect.add_argument("--directory", metavar="FILE")
    protect.add_argument("--internal-domain", metavar="DOMAIN", action="append", default=[])
    protect.add_argument(
        "--password-file",
        metavar="FILE",
        help="allow an AES-256 ZIP when a certificate is missing; its password is written to FILE",
    )
    protect.add_argument("input", metavar="IN.eml")
    protect.add_argument("-o", "--output", metavar="OUT.eml", required=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        if args.command == "scan":
            return _cmd_scan(args, out)
        if args.command == "check":
            return _cmd_check(args, out)
        return _cmd_protect(args, out)
    except LeakguardError as exc:
        sys.stderr.write(f"leakguard: {exc}\n")
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
