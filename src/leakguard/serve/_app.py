"""The ASGI application: ``POST /v1/check``, ``GET /healthz`` and the add-in's files.

Every refusal happens before the body is read: a wrong origin (403), a missing or wrong
token (401), an unknown content type (415), a declared size over the limit (413), no
room left in the runner for the request's bytes (503 with ``Retry-After``). The body is
then read against the same admission and the request's deadline; parsing, composing and
checking run in the checker process (``_checker``), fed by the runner's threads, never
on the event loop, so ``/healthz`` and the refusals keep answering at once. Nothing of
the body is ever logged: the log says which verdict was given and how long it took.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from pydantic.json_schema import models_json_schema
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect

from leakguard import __version__
from leakguard.core import Deadline, Lang
from leakguard.runner import Admission, Busy, Overdue, Runner
from leakguard.serve._checker import Checker
from leakguard.serve._config import ServeConfig
from leakguard.serve._judge import error_body, fail_closed, person_message
from leakguard.serve._schema import CheckRequest, CheckResponse

if TYPE_CHECKING:
    from leakguard.guard import Guard

__all__ = ["create_app", "fail_closed", "person_message"]  # (the last two from _judge)

log = logging.getLogger("leakguard.serve")

CONFIG_MARKER = "/*leakguard-config*/{}"
_TYPES = {"application/json": "json", "message/rfc822": "eml"}
_STATIC = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".xml": "application/xml",
}

# The refusals' texts: (status, English, French).
_REFUSALS: dict[str, tuple[int, str, str]] = {
    "origin": (
        403,
        "This origin may not call the service.",
        "Cette origine ne peut pas appeler le service.",
    ),
    "unauthorized": (
        401,
        "A valid bearer token is required.",
        "Un jeton d'accès valide est requis.",
    ),
    "content_type": (
        415,
        "Send application/json or message/rfc822.",
        "Envoyez application/json ou message/rfc822.",
    ),
    "too_large": (
        413,
        "The request is larger than the service accepts.",
        "La requête dépasse la taille que le service accepte.",
    ),
    "slow_request": (
        408,
        "The request did not arrive within the time budget.",
        "La requête n'est pas arrivée dans le temps imparti.",
    ),
    "busy": (503, "The service is busy; try again.", "Le service est occupé ; réessayez."),
    "timeout": (
        503,
        "The check did not finish in time.",
        "La vérification ne s'est pas terminée à temps.",
    ),
    "internal": (
        500,
        "The check failed; see the service's log.",
        "La vérification a échoué ; voir le journal du service.",
    ),
}


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    # A refusal may come before the request's body was read: the connection cannot carry
    # another request then, and the client must be told so rather than find it closed.
    headers = {"Connection": "close"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry = extra.pop("retry_after", None)
    if retry is not None:
        headers["Retry-After"] = str(max(1, round(retry)))
    body = error_body(code, message, **extra)
    return Response(body, status, headers=headers, media_type="application/json")


def _refuse(code: str, lang: Lang, **extra: Any) -> Response:
    status, en, fr = _REFUSALS[code]
    return _error(status, code, fr if lang == "fr" else en, **extra)


def _lang(request: Request) -> Lang:
    asked = request.query_params.get("lang") or request.headers.get("accept-language", "")
    return "fr" if asked.strip().lower().startswith("fr") else "en"


class _TooLarge(Exception):
    pass


class _Cors(CORSMiddleware):
    """Starlette's CORS answers, except that a preflight from an origin not allowed is
    refused with 403 and the same JSON as any other refusal (Starlette says 400)."""

    def preflight_response(self, request_headers: Headers) -> Response:
        if not self.is_allowed_origin(origin=request_headers["origin"]):
            log.warning("refused a preflight from origin %r", request_headers["origin"])
            return _refuse("origin", "en")
        return super().preflight_response(request_headers)


class _Service:
    def __init__(self, guard: Guard, config: ServeConfig) -> None:
        self.guard = guard
        self.config = config
        self.token = config.token.encode("utf-8")
        self.checker = Checker(guard, config.max_concurrent)
        self.runner = Runner(
            workers=config.max_concurrent,
            max_pending=config.max_concurrent + config.max_waiting,
            max_bytes=config.max_memory_bytes,
            time_budget=config.time_budget,
            footprint=config.footprint,
            grace=config.grace,
            name="leakguard-serve",
        )
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

    async def read_body(self, request: Request, place: Admission) -> list[bytes]:
        """The body's chunks, each counted against the admission as it arrives.

        Raises :class:`_TooLarge` past the size limit (the rest is not read) and
        :class:`~leakguard.runner.Busy` when the bytes no longer fit the memory budget.
        """
        limit = self.config.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            place.grow(size)
            chunks.append(chunk)
        return chunks


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
    """The service for ``guard``: an ASGI app for Hypercorn (or any ASGI server)."""
    service = _Service(guard, config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.checker.start()  # before the server opens its sockets
        try:
            yield
        finally:
            service.runner.close()
            service.checker.close()

    app = FastAPI(
        title="leakguard",
        version=__version__,
        description="Checks an outgoing e-mail before it is sent: allow, warn, encrypt or block.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(
        _Cors,
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
        408: {"description": "The body did not arrive within the time budget"},
        422: {
            "description": "Invalid request (`invalid`, `field` names the field at fault), "
            "or a message/rfc822 body that is not an e-mail message (`not_a_message`)"
        },
        500: {"description": "The check failed (see the service's log)"},
        503: {
            "description": "Too busy (`busy`) or the check did not finish in time "
            "(`timeout`); `Retry-After` says when to try again"
        },
    }

    @app.post(
        "/v1/check",
        summary="Decide allow / warn / encrypt / block for a message about to be sent",
        response_model=CheckResponse,
        responses=refusals,
        openapi_extra={"requestBody": body_doc},
    )
    async def check(request: Request) -> Response:
        deadline = Deadline.after(config.time_budget)  # the budget runs from arrival
        started = time.perf_counter()
        lang = _lang(request)
        if not service.origin_allowed(request):
            # The origin is logged (not a secret) so an administrator can list it if right.
            log.warning("refused a request from origin %r", request.headers.get("origin"))
            return _refuse("origin", lang)
        if not service.authorised(request):
            return _refuse("unauthorized", lang)
        ctype = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        kind = _TYPES.get(ctype)
        if kind is None:
            return _refuse("content_type", lang, field="body")
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else 0
        if size > config.max_body_bytes:
            return _refuse("too_large", lang)
        try:
            # A place for the request's bytes before one is read: when there is none the
            # client hears it at once, and the body it still sends is never held.
            place = service.runner.admit(size)
        except Busy as busy:
            log.warning("busy (%s): refused a request of %d bytes", busy.reason, size)
            return _refuse("busy", lang, retry_after=busy.retry_after)
        with place:
            try:
                async with asyncio.timeout(deadline.remaining()):
                    chunks = await service.read_body(request, place)
            except _TooLarge:
                return _refuse("too_large", lang)
            except Busy as busy:
                return _refuse("busy", lang, retry_after=busy.retry_after)
            except TimeoutError:
                return _refuse("slow_request", lang)
            except ClientDisconnect:
                return Response(status_code=400)
            verdict_id = str(uuid.uuid4())

            def work(until: Deadline) -> tuple[int, bytes]:
                data = b"".join(chunks)
                chunks.clear()
                return service.checker.judge(kind, data, lang, verdict_id, until)

            try:
                status, body = await service.runner.run(work, admission=place, deadline=deadline)
            except Overdue:
                log.warning("check %s did not finish within %.1f s", verdict_id, config.deadline)
                return _refuse("timeout", lang, retry_after=config.time_budget)
            except Exception as exc:  # never a traceback: it could quote the message
                log.error("check %s failed: %s", verdict_id, type(exc).__name__)
                return _refuse("internal", lang)
            if status == 500 and not body:
                return _refuse("internal", lang)  # logged by the checker
            answer = Response(body, status, media_type="application/json")
        log.info(
            "request %s answered in %.0f ms", verdict_id, (time.perf_counter() - started) * 1000
        )
        return answer

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
