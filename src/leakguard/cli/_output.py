"""Rendering results as text, JSON or SARIF."""

from __future__ import annotations

import functools
import itertools
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from leakguard import __version__
from leakguard.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, Result, lang, plural, t
from leakguard.core import (
    IDENTIFIER_KINDS,
    Action,
    Finding,
    Lang,
    Severity,
    group_findings,
    identifier_sentence,
)


def json_doc(
    results: list[Result], lang: Lang, *, with_action: bool, partial: bool = False
) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for r in results:
        entry: dict[str, Any] = {"source": r.source}
        if r.error is not None:
            entry["error"] = r.error
            entry["findings"] = []
        elif r.verdict is not None and with_action:
            entry.update(r.verdict.to_dict(lang))
            entry["source"] = r.source
            entry["findings"] = Flat(entry["findings"])
        else:
            entry["findings"] = Findings(r.findings, lang)
        messages.append(entry)
    doc: dict[str, Any] = {"leakguard": __version__}
    if partial:
        doc["partial"] = True  # interrupted: only the messages finished before
    doc["messages"] = messages
    return doc


class Flat(list[dict[str, Any]]):
    """A list of flat objects (findings: text, numbers, booleans and nulls only), which
    :func:`dump_json` writes in one call of the C encoder."""


class Findings:
    """A message's findings for the JSON document, kept as findings until written:
    :func:`dump_json` writes each as ``json.dumps`` writes its :meth:`Finding.to_dict`,
    an identifier finding from a template made once per kind and place (an export holds
    a million of them)."""

    __slots__ = ("findings", "lang")

    def __init__(self, findings: Sequence[Finding], lang: Lang) -> None:
        self.findings, self.lang = findings, lang

    def __repr__(self) -> str:
        return f"Findings({len(self.findings)} findings)"


def _finding_bodies(findings: Sequence[Finding], lang: Lang, level: int) -> Iterator[str]:
    """The members of each finding as the C encoder at ``level`` writes them (see
    :func:`_flat_list`), identifier findings from a template made once per kind and
    place: those that carry only the fields an identifier finding carries, with values
    JSON writes as they are (``ensure_ascii=False`` escapes only quotes, backslashes and
    control characters). The test is written out in the loop: a scan of an export
    writes a million findings."""
    encoder = _flat_encoder(level)
    sep = ",\n" + "  " * (level + 1)
    kinds = IDENTIFIER_KINDS
    # By kind, place and severity: the place by identity (every finding is alive while
    # written), whose hash and comparison are made in C.
    templates: dict[tuple[str, int, str], str] = {}
    for f in findings:
        masked, fingerprint = f.masked, f.fingerprint
        if (
            masked is None
            or fingerprint is None
            or f.detail is not None
            or f.count is not None
            or f.recipient is not None
            or f.similar_to is not None
            or f.distance is not None
            or f.last_seen is not None
            or f.directory_date is not None
            or f.suggestions
            or f.kind not in kinds
            # Values JSON writes as they are, both at once.
            or not (both := masked + fingerprint).isprintable()
            or '"' in both
            or "\\" in both
        ):
            yield encoder.encode(f.to_dict(lang))[1:-1]
            continue
        key = (f.kind, id(f.location), f.severity._value_)
        template = templates.get(key)
        if template is None:
            head = encoder.encode(
                {"kind": f.kind, "location": str(f.location), "severity": f.severity._value_}
            )[1:-1]
            sentence = json.dumps(identifier_sentence(f.kind, lang), ensure_ascii=False)
            template = templates[key] = sep.join(
                (
                    head.replace("%", "%%"),
                    '"masked": "%s"',
                    '"fingerprint": "%s"',
                    '"message": ' + sentence.replace("%", "%%").replace("%%s", "%s", 1),
                )
            )
        yield template % (masked, fingerprint, masked)


_LEVEL = {"high": "error", "medium": "warning", "low": "note"}


def sarif_doc(results: list[Result], lang: Lang, *, partial: bool = False) -> dict[str, Any]:
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
    invocation: dict[str, Any] = {"executionSuccessful": not notifications and not partial}
    if partial:
        invocation["exitCode"] = EXIT_INTERRUPTED
        invocation["exitCodeDescription"] = "interrupted: partial results"
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


#: Findings of one kind listed in text output without ``--verbose``.
SHOWN_PER_KIND = 5
#: Hex digits of a fingerprint shown in text output: enough to tell values apart.
SHORT_FINGERPRINT = 8


def _finding_line(f: Finding, lang: Lang) -> str:
    line = f"{f.location.label(lang)}{t(': ', ' : ')}{f.message(lang)}"
    if f.fingerprint:
        line += f" (#{f.fingerprint[:SHORT_FINGERPRINT]})"
    return line


def _print_findings(findings: Sequence[Finding], lang: Lang, out: TextIO, *, verbose: bool) -> None:
    """Findings gathered by kind, most severe first; at most a few per kind unless verbose."""
    for kind, group in group_findings(findings):
        severity = max((f.severity for f in group), key=lambda s: s.rank).label(lang)
        if len(group) == 1:
            out.write(f"  - [{severity}] {kind} @ {_finding_line(group[0], lang)}\n")
            continue
        shown = group if verbose else group[:SHOWN_PER_KIND]
        count = f"{kind} ×{len(group)}"
        if len(shown) < len(group):
            out.write(
                t(
                    f"  - [{severity}] {count}, first {len(shown)} shown (--verbose for all):\n",
                    f"  - [{severity}] {count}, {len(shown)} premiers affichés "
                    "(--verbose pour tout voir) :\n",
                )
            )
        else:
            out.write(f"  - [{severity}] {count}{t(':', ' :')}\n")
        for f in shown:
            out.write(f"      {_finding_line(f, lang)}\n")


def print_text(
    results: list[Result], lang: Lang, out: TextIO, *, with_action: bool, verbose: bool = False
) -> None:
    colon = t(": ", " : ")
    for r in results:
        if r.error is not None:
            out.write(f"{r.source}{colon}{t('error', 'erreur')}{colon}{r.error}\n")
            continue
        if r.verdict is not None and with_action:
            out.write(f"{r.source}{colon}{r.verdict.action.label(lang)}\n")
            out.write("  " + r.verdict.explain(lang).splitlines()[0] + "\n")
            findings = r.verdict.findings
        else:
            findings = r.findings
            count = len(findings)
            out.write(
                r.source
                + colon
                + (
                    plural(count, ("finding", "findings"), ("constat", "constats"))
                    if count
                    else t("nothing found", "rien trouvé")
                )
                + "\n"
            )
        _print_findings(findings, lang, out, verbose=verbose)


def dump_json(doc: dict[str, Any], out: TextIO) -> None:
    """``doc`` as ``json.dump(doc, out, ensure_ascii=False, indent=2)`` writes it, in a
    few large writes: a scan of a large export lists hundreds of thousands of findings."""
    for piece in _pieces(doc, 0):
        out.write(piece)
    out.write("\n")


_SCALARS = (str, int, float, bool, type(None))


@functools.cache
def _flat_encoder(level: int) -> json.JSONEncoder:
    """The encoder of flat objects at nesting ``level`` (its separators hold the indent)."""
    return json.JSONEncoder(ensure_ascii=False, separators=(",\n" + "  " * (level + 1), ": "))


def _flat_list(items: list[Any], level: int) -> Iterator[str]:
    """A list of flat objects (a message's findings) at nesting ``level``, encoded by
    the C encoder a batch at a time: its separators indent the objects' members, and
    the boundaries between objects (no string holds a line break) get the list's
    indent."""
    outer, inner = "  " * (level + 1), "  " * (level + 2)
    encoder = _flat_encoder(level + 1)
    between = "\n" + outer + "},\n" + outer + "{\n" + inner
    yield "[\n" + outer + "{\n" + inner
    for at in range(0, len(items), _BATCH):
        if at:
            yield between
        encoded = encoder.encode(items[at : at + _BATCH])
        yield between.join(encoded[2:-2].split("},\n" + inner + "{"))
    yield "\n" + outer + "}\n" + "  " * level + "]"


def _findings_list(value: Findings, level: int) -> Iterator[str]:
    """A list of findings at nesting ``level``, as :func:`_flat_list` writes their
    dictionaries, a batch of objects per piece."""
    outer, inner = "  " * (level + 1), "  " * (level + 2)
    between = "\n" + outer + "},\n" + outer + "{\n" + inner
    bodies = _finding_bodies(value.findings, value.lang, level + 1)
    yield "[\n" + outer + "{\n" + inner
    first = True
    while batch := list(itertools.islice(bodies, _BATCH)):
        yield ("" if first else between) + between.join(batch)
        first = False
    yield "\n" + outer + "}\n" + "  " * level + "]"


# Objects encoded at once: the text of a batch stays small next to the findings.
_BATCH = 4096


def _pieces(value: Any, level: int) -> Iterator[str]:
    """``json.dumps(value, ensure_ascii=False, indent=2)`` at nesting ``level``, in
    pieces; a flat object (a finding) is made by the C encoder, its separators carrying
    the indent."""
    inside = "\n" + "  " * (level + 1)
    close = "\n" + "  " * level
    if isinstance(value, dict) and any(not isinstance(k, str) for k in value):
        # Keys json turns into text its own way: its encoder, indented to this level.
        yield json.dumps(value, ensure_ascii=False, indent=2).replace("\n", close)
    elif isinstance(value, dict) and value:
        if all(isinstance(v, _SCALARS) for v in value.values()):
            yield "{" + inside + _flat_encoder(level).encode(value)[1:-1] + close + "}"
            return
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + inside + json.dumps(key, ensure_ascii=False) + ": "
            yield from _pieces(item, level + 1)
        yield close + "}"
    elif isinstance(value, Findings):
        yield from _findings_list(value, level) if value.findings else ("[]",)
    elif isinstance(value, Flat) and value and all(value):
        yield from _flat_list(value, level)
    elif isinstance(value, list | tuple) and value:
        yield "["
        for i, item in enumerate(value):
            yield ("," if i else "") + inside
            yield from _pieces(item, level + 1)
        yield close + "]"
    else:
        yield json.dumps(value, ensure_ascii=False)


def _closing(head: str, unreadable: int, status: int, why: str) -> str:
    """``Summary: … . Exit status N: why.`` with the unreadable inputs counted."""
    text = t("Summary: ", "Bilan : ") + head
    if unreadable:
        text += t("; ", " ; ")
        text += plural(
            unreadable,
            ("input unreadable", "inputs unreadable"),
            ("entrée illisible", "entrées illisibles"),
        )
    if status == EXIT_INTERRUPTED:
        why = t(
            "interrupted (Ctrl-C) before the end: the results above are partial",
            "interrompu (Ctrl-C) avant la fin : les résultats ci-dessus sont partiels",
        )
    elif status == EXIT_ERROR:
        why = plural(
            unreadable,
            ("input could not be read", "inputs could not be read"),
            ("entrée n'a pas pu être lue", "entrées n'ont pas pu être lues"),
        ) + t(" (the others were checked)", " (les autres ont été vérifiées)")
    return text + t(f". Exit status {status}: {why}.\n", f". Code de sortie {status} : {why}.\n")


def _reach(count: int, noun_en: str, noun_fr: str, threshold: str) -> str:
    """``2 messages reach --fail-on encrypt`` / ``aucun constat n'atteint --fail-on high``."""
    if not count:
        return t(f"no {noun_en} reaches {threshold}", f"aucun {noun_fr} n'atteint {threshold}")
    en = (f"{noun_en} reaches", f"{noun_en}s reach")
    fr = (f"{noun_fr} atteint", f"{noun_fr}s atteignent")
    return f"{plural(count, en, fr)} {threshold}"


def check_summary(results: list[Result], status: int, fail_on: Action) -> str:
    """The closing line of ``check``: messages per action and why the exit status."""
    by_action = Counter(r.verdict.action for r in results if r.verdict is not None)
    head = plural(
        sum(by_action.values()),
        ("message checked", "messages checked"),
        ("message vérifié", "messages vérifiés"),
    )
    counts = ", ".join(f"{by_action[a]} {a.label(lang())}" for a in Action if by_action[a])
    head += f" ({counts})" if counts else ""
    reaching = sum(n for a, n in by_action.items() if a >= fail_on)
    why = _reach(reaching, "message", "message", f"--fail-on {fail_on.value}")
    return _closing(head, sum(r.error is not None for r in results), status, why)


def scan_summary(results: list[Result], status: int, fail_on: Severity | None) -> str:
    """The closing line of ``scan``: findings per severity and why the exit status."""
    unreadable = sum(r.error is not None for r in results)
    found = [f for r in results for f in r.findings]
    by_severity = Counter(f.severity for f in found)
    levels = ", ".join(
        f"{s.label(lang())} {by_severity[s]}"
        for s in sorted(Severity, key=lambda s: -s.rank)
        if by_severity[s]
    )
    head = plural(
        len(results) - unreadable,
        ("file scanned", "files scanned"),
        ("fichier analysé", "fichiers analysés"),
    )
    head += ", " + plural(len(found), ("finding", "findings"), ("constat", "constats"))
    head += t(f" ({levels})", f" (gravité {levels})") if levels else ""
    if fail_on is None:
        return _closing(
            head,
            unreadable,
            status,
            t(
                "scan fails only when --fail-on is given",
                "sans --fail-on, scan ne signale pas d'échec",
            ),
        )
    reaching = sum(f.severity.rank >= fail_on.rank for f in found)
    why = _reach(reaching, "finding", "constat", f"--fail-on {fail_on.value}")
    return _closing(head, unreadable, status, why)
