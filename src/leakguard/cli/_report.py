"""``--report FILE.html``: one self-contained page a person can read after a batch check.

No script, no font, no image is fetched: the styles are inline and the charts are SVG
drawn here. Every value shown comes from a verdict's explanation or a finding's masked
form, so the page never holds an identifier in clear.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from leakguard import __version__
from leakguard.cli._archives import Checked
from leakguard.cli._common import write_file
from leakguard.core import Action, Finding, Lang

__all__ = ["render_report", "write_report"]

_TEXT: dict[str, dict[Lang, str]] = {
    "title": {"en": "leakguard report", "fr": "Rapport leakguard"},
    "made": {
        "en": "Made on {when} by leakguard {version}.",
        "fr": "Établi le {when} par leakguard {version}.",
    },
    "summary": {"en": "Summary", "fr": "Résumé"},
    "messages": {"en": "messages checked", "fr": "messages vérifiés"},
    "unreadable": {"en": "could not be read", "fr": "illisibles"},
    "per_action": {"en": "Messages per action", "fr": "Messages par action"},
    "per_kind": {"en": "Findings per kind", "fr": "Constats par type"},
    "over_time": {"en": "Findings over time", "fr": "Constats dans le temps"},
    "per_domain": {
        "en": "Findings per recipient domain",
        "fr": "Constats par domaine destinataire",
    },
    "to_review": {"en": "Messages to review", "fr": "Messages à examiner"},
    "errors": {"en": "Inputs that could not be read", "fr": "Entrées illisibles"},
    "source": {"en": "Message", "fr": "Message"},
    "date": {"en": "Date", "fr": "Date"},
    "action": {"en": "Action", "fr": "Action"},
    "why": {"en": "Explanation", "fr": "Explication"},
    "kind": {"en": "Kind", "fr": "Type"},
    "count": {"en": "Count", "fr": "Nombre"},
    "none": {"en": "Nothing to show.", "fr": "Rien à afficher."},
    "nodate": {"en": "no date", "fr": "sans date"},
    "partial": {
        "en": "Partial report: the run was interrupted; only the messages checked "
        "until then are counted.",
        "fr": "Rapport partiel : l'exécution a été interrompue ; seuls les messages "
        "vérifiés jusque-là sont comptés.",
    },
    "masked": {
        "en": "Identifiers are shown masked only.",
        "fr": "Les identifiants ne sont affichés que masqués.",
    },
}

_ACTION_COLOUR = {
    Action.ALLOW: "#3b7d3b",
    Action.WARN: "#b78103",
    Action.ENCRYPT: "#1f5fa8",
    Action.BLOCK: "#b3261e",
}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:70rem;padding:0 1rem;color:#1d1d1f;background:#fff;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f4f4f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.tag{display:inline-block;padding:0 .4rem;border-radius:.3rem;color:#fff;font-weight:600;
font-size:.8rem;text-transform:uppercase}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:.5rem;
padding:.6rem 1rem;min-width:9rem}.card b{display:block;font-size:1.5rem}
pre{white-space:pre-wrap;margin:0;font-family:inherit}
svg text{font-family:inherit;font-size:12px;fill:#333}.note{color:#555;font-size:.85rem}
"""


def _tr(key: str, lang: Lang) -> str:
    return _TEXT[key][lang]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def write_report(
    path: str | Path,
    checked: Sequence[Checked],
    lang: Lang,
    *,
    with_action: bool,
    partial: bool = False,
) -> None:
    """Write the HTML report of a batch to ``path`` (UTF-8); ``partial`` after an
    interruption."""
    page = render_report(checked, lang, with_action=with_action, partial=partial)
    write_file(path, page.encode("utf-8"), what=("the report", "le rapport"))


def render_report(
    checked: Sequence[Checked],
    lang: Lang,
    *,
    with_action: bool,
    now: datetime | None = None,
    partial: bool = False,
) -> str:
    """The report as one HTML document."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    done = [c for c in checked if c.result.error is None]
    errors = [c for c in checked if c.result.error is not None]
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(_tr('title', lang))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(_tr('title', lang))}</h1>",
        f'<p class="note">{_e(_tr("made", lang).format(when=when, version=__version__))} '
        f"{_e(_tr('masked', lang))}</p>",
        f'<p class="partial"><strong>{_e(_tr("partial", lang))}</strong></p>' if partial else "",
        f"<h2>{_e(_tr('summary', lang))}</h2>",
        '<div class="cards">',
        _card(len(done), _tr("messages", lang)),
        _card(len(errors), _tr("unreadable", lang)),
    ]
    actions: Counter[Action] = Counter()
    if with_action:
        actions.update(c.result.verdict.action for c in done if c.result.verdict is not None)
        parts.extend(_card(actions[a], a.label(lang), _ACTION_COLOUR[a]) for a in Action)
    parts.append("</div>")
    if with_action:
        parts.append(f"<h2>{_e(_tr('per_action', lang))}</h2>")
        parts.append(_bars([(a.label(lang), actions[a], _ACTION_COLOUR[a]) for a in Action], lang))
    kinds: Counter[str] = Counter()
    periods: Counter[str] = Counter()
    domains: Counter[str] = Counter()
    # Days when the findings span two months at most, else months.
    dates = [c.date.astimezone(UTC) for c in done if c.date is not None and _findings(c)]
    by_day = bool(dates) and (max(dates) - min(dates)).days <= 62
    for c in done:
        findings = _findings(c)
        kinds.update(f.kind for f in findings)
        if findings:
            if c.date is None:
                period = _tr("nodate", lang)
            else:
                period = c.date.astimezone(UTC).strftime("%Y-%m-%d" if by_day else "%Y-%m")
            periods[period] += len(findings)
            for d in dict.fromkeys(r.rpartition("@")[2] for r in c.recipients):
                domains[d] += len(findings)
    parts.append(f"<h2>{_e(_tr('per_kind', lang))}</h2>")
    parts.append(_table([_tr("kind", lang), _tr("count", lang)], kinds.most_common(), lang))
    parts.append(f"<h2>{_e(_tr('over_time', lang))}</h2>")
    parts.append(_bars([(m, periods[m], "#5b6bbf") for m in sorted(periods)], lang))
    parts.append(f"<h2>{_e(_tr('per_domain', lang))}</h2>")
    parts.append(_bars([(d, n, "#8a4fbf") for d, n in domains.most_common(20)], lang))
    parts.append(f"<h2>{_e(_tr('to_review', lang))}</h2>")
    parts.append(_review(done, lang, with_action=with_action))
    if errors:
        parts.append(f"<h2>{_e(_tr('errors', lang))}</h2>")
        rows = [(c.result.source, c.result.error or "") for c in errors]
        parts.append(_table([_tr("source", lang), _tr("why", lang)], rows, lang))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _findings(c: Checked) -> tuple[Finding, ...]:
    r = c.result
    return r.verdict.findings if r.verdict is not None else r.findings


def _card(n: int, label: str, colour: str | None = None) -> str:
    style = f' style="border-left:.4rem solid {colour}"' if colour else ""
    return f'<div class="card"{style}><b>{n}</b>{_e(label)}</div>'


def _table(head: Sequence[str], rows: Sequence[tuple[object, ...]], lang: Lang) -> str:
    if not rows:
        return f"<p>{_e(_tr('none', lang))}</p>"
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{v}</td>' if isinstance(v, int) else f"<td>{_e(v)}</td>" for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return _framed(head, body)


def _framed(head: Sequence[str], body: Sequence[str]) -> str:
    """A table with ``head`` as its header row and ``body`` as its rows, already HTML."""
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{_e(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )


def _bars(rows: Sequence[tuple[str, int, str]], lang: Lang) -> str:
    """A horizontal bar chart as inline SVG, one bar per row with its value."""
    if not rows or not any(n for _, n, _ in rows):
        return f"<p>{_e(_tr('none', lang))}</p>"
    top = max(n for _, n, _ in rows)
    label_w, bar_w, h = 190, 480, 22
    height = h * len(rows) + 6
    out = [
        f'<svg role="img" width="{label_w + bar_w + 60}" height="{height}" '
        f'viewBox="0 0 {label_w + bar_w + 60} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, n, colour) in enumerate(rows):
        y = i * h + 3
        width = round(bar_w * n / top) if top else 0
        short = label if len(label) <= 28 else label[:27] + "…"
        out.append(
            f'<g><title>{_e(label)}: {n}</title><text x="{label_w - 6}" y="{y + 15}" '
            f'text-anchor="end">{_e(short)}</text><rect x="{label_w}" y="{y + 2}" '
            f'width="{width}" height="{h - 6}" fill="{colour}" rx="2"/>'
            f'<text x="{label_w + width + 6}" y="{y + 15}">{n}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _review(done: Sequence[Checked], lang: Lang, *, with_action: bool) -> str:
    rows: list[str] = []
    for c in done:
        r = c.result
        date = c.date.astimezone(UTC).strftime("%Y-%m-%d") if c.date else ""
        if with_action:
            if r.verdict is None or r.verdict.action is Action.ALLOW:
                continue
            action = r.verdict.action
            tag = (
                f'<span class="tag" style="background:{_ACTION_COLOUR[action]}">'
                f"{_e(action.label(lang))}</span>"
            )
            why = r.verdict.explain(lang)
        else:
            if not r.findings:
                continue
            tag = ""
            why = "\n".join(f"- [{f.location.label(lang)}] {f.message(lang)}" for f in r.findings)
        rows.append(
            f"<tr><td>{_e(r.source)}</td><td>{_e(date)}</td><td>{tag}</td>"
            f"<td><pre>{_e(why)}</pre></td></tr>"
        )
    if not rows:
        return f"<p>{_e(_tr('none', lang))}</p>"
    head = [_tr("source", lang), _tr("date", lang), _tr("action", lang), _tr("why", lang)]
    return _framed(head, rows)
