"""The ASGI application: ``POST /v1/check``, ``GET /healthz`` and the add-in's files.

Every refusal happens before the body is read: a wrong origin (403), a missing or
wrong token (401), an unknown content type (415), a declared size over the limit
(413). The body is then read in chunks and counted (413 past the limit), parsed (422
naming the field at fault) and checked on a bounded pool of threads. Nothing of the
body is ever logged: the log says which verdict was given and how long it took.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema

from leakguard import __version__
from leakguard.audit import audit_context
from leakguard.core import Lang, Verdict
from leakguard.serve._compose import compose
from leakguard.serve._config import ServeConfig
from leakguard.serve._schema import CheckRequest, CheckResponse, SecureAddress

if TYPE_CHECKING:
    from leakguard.guard import Guard

__all__ = ["create_app", "person_message"]

log = logging.getLogger("leakguard.serve")

MAX_MESSAGE = 500
CONFIG_MARKER = "/*leakguard-config*/{}"
_TYPES = {"application/json": "json", "message/rfc822": "eml"}
_STATIC = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".xml": "application/xml",
}


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "message": message, **extra}, status, headers=headers)


def person_message(verdict: Verdict, lang: Lang, /) -> str:
    """The explanation for the person at the Send button, at most 500 characters."""
    lines = list(dict.fromkeys(verdict.explain(lang).splitlines()))
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


def _lang(request: Request) -> Lang:
    asked = request.query_params.get("lang") or request.headers.get("accept-language", "")
    return "fr" if asked.strip().lower().startswith("fr") else "en"


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


class _Service:
    def __init__(self, guard: Guard, config: ServeConfig) -> None:
        self.guard = guard
        self.config = config
        self.token = config.token.encode("utf-8")
        self.pool = ThreadPoolExecutor(config.max_concurrent, thread_name_prefix="leakguard")
        self.pending = 0
        self.files: dict[str, tuple[bytes, str]] = {}
        if config.addin is not None:
            for sub in ("src", "assets"):
                folder = config.addin / sub
                for path in sorted(folder.iterdir()) if folder.is_dir() else ():
                    if path.suffix in _STATIC and path.is_file():
                        self.files[path.name] = (path.read_bytes(), _STATIC[path.suffix])

    def authorised(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8"), self.token)

    def origin_allowed(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser request: the token decides
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        return origin == own or origin in self.config.allow_origins

    async def read_body(self, request: Request) -> bytes | None:
        """The body, or None once it passes the size limit (the rest is not read)."""
        limit = self.config.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def finished(self) -> None:
        self.pending -= 1

    def run_check(self, raw: bytes, verdict_id: str) -> Verdict:
        with audit_context(verdict_id=verdict_id):
            return self.guard.check(raw)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        _, defs = models_json_schema(
            [(CheckRequest, "validation")], ref_template="#/components/schemas/{model}"
        )
        doc.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        app.openapi_schema = doc
    return app.openapi_schema


def create_app(guard: Guard, config: ServeConfig, /) -> FastAPI:
    """The service for ``guard``: an ASGI app to hand to uvicorn (or any ASGI server)."""
    service = _Service(guard, config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="leakguard",
        version=__version__,
        description="Checks an outgoing e-mail before it is sent: allow, warn, encrypt or block.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(config.allow_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )

    @app.get("/healthz", summary="Is the service up")
    async def healthz() -> dict[str, Any]:
        out: dict[str, Any] = {"status": "ok", "version": __version__}
        if guard.health_directory is not None:
            out["health_directory"] = guard.health_directory.health()
        return out

    body_doc = {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CheckRequest"}},
            "message/rfc822": {"schema": {"type": "string", "format": "binary"}},
        },
    }
    refusals: dict[int | str, dict[str, Any]] = {
        401: {"description": "Missing or wrong bearer token"},
        403: {"description": "Request from an origin that is not allowed"},
        413: {"description": "Request larger than the limit"},
        415: {"description": "Neither application/json nor message/rfc822"},
        422: {"description": "Invalid request; `field` names the field at fault"},
        503: {"description": "Too busy, or the check did not finish in time"},
    }

    @app.post(
        "/v1/check",
        summary="Decide allow / warn / encrypt / block for a message about to be sent",
        response_model=CheckResponse,
        responses=refusals,
        openapi_extra={"requestBody": body_doc},
    )
    async def check(request: Request) -> Response:
        started = time.perf_counter()
        if not service.origin_allowed(request):
            # The origin is logged (not a secret) so an administrator can list it if right.
            log.warning("refused a request from origin %r", request.headers.get("origin"))
            return _error(403, "origin", "This origin may not call the service.")
        if not service.authorised(request):
            return _error(401, "unauthorized", "A valid bearer token is required.")
        ctype = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        kind = _TYPES.get(ctype)
        if kind is None:
            return _error(
                415, "content_type", "Send application/json or message/rfc822.", field="body"
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > config.max_body_bytes:
            return _error(413, "too_large", "The request is larger than the service accepts.")
        data = await service.read_body(request)
        if data is None:
            return _error(413, "too_large", "The request is larger than the service accepts.")
        if kind == "json":
            try:
                req = CheckRequest.model_validate_json(data)
            except ValidationError as exc:
                first = exc.errors(include_input=False, include_url=False)
                errors = [
                    {"field": _field(e["loc"]), "message": e["msg"].removeprefix("Value error, ")}
                    for e in first
                ]
                return _error(
                    422,
                    "invalid",
                    f"{errors[0]['field']}: {errors[0]['message']}",
                    field=errors[0]["field"],
                    errors=errors,
                )
            raw = compose(req)
            lang = req.lang
        else:
            raw = data
            lang = _lang(request)
        if service.pending >= config.max_concurrent + config.max_waiting:
            return _error(503, "busy", "The service is busy; try again.")
        verdict_id = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        service.pending += 1
        future = service.pool.submit(service.run_check, raw, verdict_id)
        # A check counts until it ends, even when its request gave up waiting for it.
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(service.finished))
        try:
            verdict = await asyncio.wait_for(asyncio.wrap_future(future), config.deadline)
        except TimeoutError:
            log.warning("check %s did not finish within %.0f s", verdict_id, config.deadline)
            return _error(503, "timeout", "The check did not finish in time.")
        except Exception as exc:  # never a traceback: it could quote the message
            log.error("check %s failed: %s", verdict_id, type(exc).__name__)
            return _error(500, "internal", "The check failed; see the service's log.")
        log.info(
            "check %s: %s in %.0f ms",
            verdict_id,
            verdict.action.value,
            (time.perf_counter() - started) * 1000,
        )
        answer = CheckResponse(
            action=verdict.action.value,
            findings=[f.to_dict(lang) for f in verdict.findings],
            message=person_message(verdict, lang),
            verdict_id=verdict_id,
            suggestions=suggestions(verdict),
        )
        # The field appears only when there is something to suggest (an MSSanté directory).
        skip = None if answer.suggestions else {"suggestions"}
        return Response(answer.model_dump_json(exclude=skip), media_type="application/json")

    @app.get("/addin/{name}", include_in_schema=False)
    async def addin_file(name: str, request: Request) -> Response:
        found = service.files.get(name)
        if found is None:
            return _error(404, "not_found", "No such file.")
        content, media = found
        if name.endswith(".js"):
            content = _configured(content, request, service)
        return Response(content, media_type=media, headers={"Cache-Control": "no-cache"})

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _configured(script: bytes, request: Request, service: _Service) -> bytes:
    """The event handler with the service address and, for a holder of it, the token.

    Classic Outlook runs the handler file on its own, with no page around it to tell it
    where the service is; the manifest's script address carries ``?token=`` so the
    token reaches only those who were given the manifest.
    """
    given = request.query_params.get("token", "").encode("utf-8")
    token = service.config.token if hmac.compare_digest(given, service.token) else ""
    base = str(request.base_url).rstrip("/")
    settings = {"service": base, "token": token}
    filled = "/*leakguard-config*/" + json.dumps(settings)
    return script.replace(CONFIG_MARKER.encode(), filled.encode("utf-8"), 1)
