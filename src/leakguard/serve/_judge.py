"""One check request judged: the body parsed (JSON) or tested (message/rfc822), the
message built, the guard asked, and the answer written as the bytes the service sends.

Runs in the checker process (see ``_checker``), never on the service's event loop.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from leakguard.audit import audit_context
from leakguard.core import Action, Deadline, Lang, Verdict
from leakguard.errors import InputError
from leakguard.message import require_message
from leakguard.serve._compose import compose
from leakguard.serve._schema import (
    MAX_ATTACHMENTS,
    MAX_RECIPIENTS,
    CheckRequest,
    CheckResponse,
    SecureAddress,
    Unread,
)

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
    first = exc.errors(include_input=False, include_url=False)[:_MAX_ERRORS]
    errors = [
        {"field": _field(e["loc"]), "message": e["msg"].removeprefix("Value error, ")}
        for e in first
    ]
    text = f"{errors[0]['field']}: {errors[0]['message']}"
    return 422, error_body("invalid", text, field=errors[0]["field"], errors=errors)


# What a request's JSON may hold at most, well above what the schema takes (every list
# full, every field given): past it the request is refused before it is validated, since
# validating a million small items takes seconds and a gigabyte.
_MAX_ERRORS = 20
_MAX_OBJECTS = 3 * MAX_RECIPIENTS + MAX_ATTACHMENTS + 16
_MAX_KEYS = 16
_LISTS = {"to": MAX_RECIPIENTS, "cc": MAX_RECIPIENTS, "bcc": MAX_RECIPIENTS}
_LISTS["attachments"] = MAX_ATTACHMENTS


class _Refused(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# A field's name shown in an answer: the schema's names look like this (a name that
# does not may be anything the client put there, a number included).
_NAME = re.compile(r"[a-z_]{1,40}")


def _refused(data: bytes) -> tuple[int, bytes] | None:
    """422 when the JSON holds more objects, keys or list items than any valid request
    could, or a field twice in one object (the schema's parser would keep the last and
    leave the other unread); None when it may be valid (the schema then says)."""
    objects = 0

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal objects
        objects += 1
        if objects > _MAX_OBJECTS:
            raise _Refused("body", f"more than {_MAX_OBJECTS} objects")
        if len(items) > _MAX_KEYS:
            raise _Refused("body", f"an object with more than {_MAX_KEYS} fields")
        made = dict(items)
        if len(made) < len(items):
            names = [name for name, _ in items]
            twice = next(name for i, name in enumerate(names) if name in names[:i])
            shown = f'"{twice}"' if _NAME.fullmatch(twice) else "a field"
            raise _Refused("body", f"{shown} is given twice in one object")
        return made

    try:
        parsed = json.loads(data, object_pairs_hook=pairs)
    except _Refused as exc:
        err = {"field": exc.field, "message": str(exc)}
        return 422, error_body("invalid", f"body: {exc}", field=exc.field, errors=[err])
    except (ValueError, RecursionError):
        return None  # not JSON: the schema's parser says where
    if isinstance(parsed, dict):
        for name, most in _LISTS.items():
            value = parsed.get(name)
            if isinstance(value, list) and len(value) > most:
                text = f"List should have at most {most} items, not {len(value)}"
                err = {"field": name, "message": text}
                return 422, error_body("invalid", f"{name}: {text}", field=name, errors=[err])
    return None


def judge(
    guard: Guard, kind: str, data: bytes, lang: Lang, verdict_id: str, deadline: Deadline
) -> tuple[int, bytes]:
    """The status and JSON body answering one request of ``kind`` (``json`` or ``eml``)."""
    if kind == "json":
        refused = _refused(data)
        if refused is not None:
            return refused
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
