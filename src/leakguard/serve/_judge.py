"""One check request judged: the body parsed (JSON) or tested (message/rfc822), the
message built, the guard asked, and the answer written as the bytes the service sends.

Runs in the checker process (see ``_checker``), never on the service's event loop.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from leakguard.audit import audit_context
from leakguard.core import Action, Deadline, Lang, Verdict
from leakguard.errors import InputError
from leakguard.message import require_message
from leakguard.serve._compose import compose
from leakguard.serve._schema import CheckRequest, CheckResponse, SecureAddress, Unread

if TYPE_CHECKING:
    from leakguard.guard import Guard

__all__ = [
    "MAX_MESSAGE",
    "error_body",
    "fail_closed",
    "judge",
    "person_message",
    "suggestions",
]

log = logging.getLogger("leakguard.serve")

MAX_MESSAGE = 500


def error_body(code: str, message: str, **extra: Any) -> bytes:
    """The JSON of a refusal: ``{"error": code, "message": …, …}``."""
    return json.dumps({"error": code, "message": message, **extra}).encode("utf-8")


def fail_closed(verdict: Verdict, /) -> Verdict:
    """The verdict the add-in gets: content that was not read never lets a message leave
    silently, so a verdict with unread parts is at least ``warn`` (the person decides)."""
    if verdict.unread and verdict.action < Action.WARN:
        return dataclasses.replace(verdict, action=Action.WARN)
    return verdict


def person_message(verdict: Verdict, lang: Lang, /) -> str:
    """The explanation for the person at the Send button, at most 500 characters.

    What could not be read comes right after the decision, so the cut never hides it."""
    lines = list(dict.fromkeys(verdict.explain(lang).splitlines()))
    unread = verdict.unread
    if unread and len(unread) < len(verdict.findings):
        said = Verdict(action=verdict.action, findings=unread).explain(lang).splitlines()[1:]
        lines = [lines[0], *dict.fromkeys(said), *(x for x in lines[1:] if x not in said)]
    whole = "\n".join(lines)
    if len(whole) <= MAX_MESSAGE:
        return whole
    out = lines[0][: MAX_MESSAGE - 1]
    for line in lines[1:]:  # whole findings only, then "…" to say more exist
        if len(out) + 1 + len(line) > MAX_MESSAGE - 1:
            break
        out += "\n" + line
    return out + "…"


def suggestions(verdict: Verdict, /) -> list[SecureAddress]:
    """The secure addresses the verdict proposes instead of its recipients'."""
    return [
        SecureAddress(
            recipient=f.recipient or "",
            address=s.address,
            name=s.name,
            profession=s.profession,
            count=f.count or 1,
        )
        for f in verdict.findings
        if f.kind == "secure_address_available"
        for s in f.suggestions
    ]


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


def _invalid(exc: ValidationError) -> tuple[int, bytes]:
    first = exc.errors(include_input=False, include_url=False)
    errors = [
        {"field": _field(e["loc"]), "message": e["msg"].removeprefix("Value error, ")}
        for e in first
    ]
    text = f"{errors[0]['field']}: {errors[0]['message']}"
    return 422, error_body("invalid", text, field=errors[0]["field"], errors=errors)


def judge(
    guard: Guard, kind: str, data: bytes, lang: Lang, verdict_id: str, deadline: Deadline
) -> tuple[int, bytes]:
    """The status and JSON body answering one request of ``kind`` (``json`` or ``eml``)."""
    if kind == "json":
        try:
            req = CheckRequest.model_validate_json(data)
        except ValidationError as exc:
            return _invalid(exc)
        del data
        raw = compose(req)
        lang = req.lang
        del req
    else:
        try:
            # Empty, binary or a document: not a message, as ``leakguard check`` says.
            require_message(data)
        except InputError as exc:
            return 422, error_body("not_a_message", exc.message(lang), field="body")
        raw = data
    with audit_context(verdict_id=verdict_id):
        verdict = guard.check(raw, deadline=deadline)
    del raw
    shown = fail_closed(verdict)
    answer = CheckResponse(
        action=shown.action.value,
        findings=[f.to_dict(lang) for f in shown.findings],
        message=person_message(shown, lang),
        verdict_id=verdict_id,
        unread=[
            Unread(location=f.location.where, detail=f.detail or "", message=f.message(lang))
            for f in shown.unread
        ],
        suggestions=suggestions(shown),
    )
    log.info("check %s: %s", verdict_id, shown.action.value)
    # The suggestions appear only when there is one (with the MSSanté directory).
    skip = None if answer.suggestions else {"suggestions"}
    return 200, answer.model_dump_json(exclude=skip).encode("utf-8")
