"""Rendering results as text, JSON or SARIF."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from leakguard import __version__
from leakguard.cli._common import Result, t
from leakguard.core import Lang


def json_doc(results: list[Result], lang: Lang, *, with_action: bool) -> dict[str, Any]:
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


def sarif_doc(results: list[Result], lang: Lang) -> dict[str, Any]:
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


def print_text(results: list[Result], lang: Lang, out: TextIO, *, with_action: bool) -> None:
    for r in results:
        if r.error is not None:
            out.write(f"{r.source}: {t('error', 'erreur')}: {r.error}\n")
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
                    t(f"{count} finding(s)", f"{count} constat(s)")
                    if count
                    else t("nothing found", "rien trouvé")
                )
                + "\n"
            )
        for f in findings:
            out.write(f"  - [{f.severity.value}] {f.kind} @ {f.location}: {f.message(lang)}\n")
