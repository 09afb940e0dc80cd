"""The local HTTPS service: the core checker behind a small JSON API, and the Outlook add-in's files.

::

    checker = Checker.load(config.directory, config.policy)
    app = create_app(checker, config, Store(config.store.url))   # then run it with uvicorn

``/v1`` (bearer token, HTTPS): POST /v1/check (a JSON draft as the add-in reads it), POST
/v1/check/eml (raw RFC 822), POST /v1/overrides, POST /v1/feedback. Open: GET /healthz, /readyz,
/metrics, /openapi.json, the add-in under /addin/ and /.well-known/microsoft-officeaddins-allowed.json.
No Swagger UI: it loads from a CDN, which a council's network does not reach.
Errors are JSON ``{"detail": "one line"}``. Bodies and personal data never reach the log.
What guards it (host names, fetch metadata, token before body, limits): ``http_security``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from correspondence_guard.config import Config
from correspondence_guard.engine import Checker
from correspondence_guard.service.addin import addin_router, load_addin
from correspondence_guard.service.check_pool import (
    Answer,
    CheckPool,
    CheckProcessError,
    CheckRequest,
    Kind,
    ServiceChecks,
    validation_detail,
)
from correspondence_guard.service.metrics import Metrics, Observe
from correspondence_guard.service.security import BodyLimit, Guard, allowed_hosts, cors_options
from correspondence_guard.store.db import Store

log = logging.getLogger(__name__)


def thinc_ops() -> None:
    """Set thinc's backend in the calling context (thinc keeps it in a context variable)."""
    from thinc.api import get_current_ops

    get_current_ops()


#: Started with the service: called with (config, checker, store), returns a function that stops it, or None.
StartHook = Callable[[Config, Checker, Store], Callable[[], None] | None]
CHECK_THREADS = 1  # checks are CPU-bound: more threads than cores only lengthen the queue's tail
# Outlook's conversation ids are base64-like: nothing else (a name typed in) is stored
CONVERSATION_ID = r"^[A-Za-z0-9+/=_.-]*$"
EML_TYPES = {"message/rfc822", "application/octet-stream", "text/plain", ""}


class FindingOut(BaseModel):
    rule: str
    severity: Literal["low", "medium", "high"]
    on_send: Literal["allow", "prompt", "block"]
    title: str
    reason: str
    note: str
    citations: list[str]
    evidence: list[dict[str, str]] = Field(description="where and the matched text, masked")


class ReportOut(BaseModel):
    source: str
    verdict: Literal["clear", "advisory", "warning", "block"]
    send_action: Literal["allow", "prompt", "block"] = Field(description="what the on-send check does")
    findings: list[FindingOut]
    unchecked: list[str] = Field(
        default_factory=list, description="parts not checked: over a limit, or an attachment not readable"
    )


class OverrideIn(BaseModel):
    """The user sent despite findings, and said why."""

    model_config = ConfigDict(populate_by_name=True)
    user: str = Field(min_length=3, max_length=320, description="the sender's mailbox address")
    rules: list[str] = Field(min_length=1, description="the rules whose notes were overridden")
    justification: str = Field(min_length=3, max_length=2000, description="the business reason")
    conversation_id: str = Field("", alias="conversationId", max_length=500, pattern=CONVERSATION_ID)
    subject: str = Field("", max_length=998, description="stored masked")


class FeedbackIn(BaseModel):
    """'This finding is wrong', with a reason."""

    model_config = ConfigDict(populate_by_name=True)
    user: str = Field(min_length=3, max_length=320)
    rule: str
    reason: str = Field(min_length=3, max_length=2000)
    conversation_id: str = Field("", alias="conversationId", max_length=500, pattern=CONVERSATION_ID)
    subject: str = Field("", max_length=998, description="stored masked")


class Recorded(BaseModel):
    id: int


class Checks:
    """Run a check (in a thread, or in a check process when there is a pool) and count it.
    The event loop only awaits; the check itself stores its findings (``ServiceChecks``)."""

    def __init__(self, checks: ServiceChecks, metrics: Metrics, pool: CheckPool | None = None):
        self.checks = checks
        self.metrics = metrics
        self.pool = pool
        self.limiter = anyio.CapacityLimiter(CHECK_THREADS)

    async def __call__(self, kind: Kind, payload: bytes) -> Response:
        answer = await self._run(kind, payload)
        if answer.status == 200:
            self.metrics.count(answer.verdict, answer.rules)
        return Response(answer.body, answer.status, media_type="application/json")

    async def _run(self, kind: Kind, payload: bytes) -> Answer:
        if self.pool is None:
            return await anyio.to_thread.run_sync(self.checks.run, kind, payload, limiter=self.limiter)
        try:
            return await self.pool.run(kind, payload)
        except CheckProcessError as exc:
            raise HTTPException(503, f"{exc}; try again", headers={"Retry-After": "5"}) from None


def document_check_request(app: FastAPI) -> None:
    """Put ``CheckRequest`` in the OpenAPI components: /v1/check reads its body itself (the check,
    validation included, runs in a check process), so FastAPI does not see the model."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = default()
            schema = CheckRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(schema.pop("$defs", {}))
            schemas["CheckRequest"] = schema
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    checker: Checker,
    config: Config,
    store: Store,
    startup: Sequence[StartHook] = (),
    pool: CheckPool | None = None,
) -> FastAPI:
    """The service. Reads the token and the add-in files now: a ConfigError here stops the start.

    With ``pool``, checks run in its processes (and the app closes it when it stops); without,
    in a thread of this process on ``checker``.
    """
    svc = config.service
    token = svc.bearer_token()
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)  # its debug log quotes the text
    files = load_addin(svc.addin_dir)
    cors = cors_options(svc.allowed_origins)
    metrics = Metrics(rules=list(checker.policy.rules))
    checks = Checks(ServiceChecks(checker, store), metrics, pool)
    ready = threading.Event()
    failed: list[str] = []
    # thinc keeps its backend in a context variable: set it here, in the context every request
    # (and its worker thread) copies, or each check in a thread looks the backend up again
    thinc_ops()

    def loaded(error: BaseException | None) -> None:
        if error is None:
            ready.set()
        else:  # reported by /readyz and the log
            failed.append(f"{type(error).__name__}: {error}")
            log.error("the language model did not load: %s", failed[0])

    def warm_up() -> None:
        try:
            checker.warm_up()
        except Exception as exc:  # noqa: BLE001
            loaded(exc)
        else:
            loaded(None)

    async def pool_ready(pool: CheckPool) -> None:
        try:
            await pool.ready()
        except Exception as exc:  # noqa: BLE001
            loaded(exc)
        else:
            loaded(None)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if pool is None:
            threading.Thread(target=warm_up, name="cg-warm-up", daemon=True).start()
        else:
            pool.start()
            waiting = asyncio.create_task(pool_ready(pool))
        stops = [stop for hook in startup if (stop := hook(config, checker, store)) is not None]
        try:
            yield
        finally:
            for stop in reversed(stops):
                stop()
            if pool is not None:
                waiting.cancel()
                pool.close()

    async def require_ready() -> None:  # async: on the event loop, not through the thread pool
        if not ready.is_set():
            detail = "the checker could not load its language model" if failed else "the checker is starting"
            raise HTTPException(503, detail, headers={"Retry-After": "5"})

    app = FastAPI(
        title="correspondence-guard",
        summary="Advisory checks of council e-mail against the Member/Officer Relations Protocol",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    v1 = [Depends(require_ready)]  # the token is checked by Guard, before the body is read

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(list(exc.errors()))}, 422)

    @app.post(
        "/v1/check",
        dependencies=v1,
        response_model=ReportOut,
        tags=["check"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckRequest"}}},
            }
        },
    )
    async def check_draft(request: Request) -> Response:
        """Check a draft (``CheckRequest``) as the Outlook add-in reads it; ``send_action`` is what on-send does."""
        return await checks("draft", await request.body())

    @app.post(
        "/v1/check/eml",
        dependencies=v1,
        response_model=ReportOut,
        tags=["check"],
        openapi_extra={"requestBody": {"required": True, "content": {"message/rfc822": {"schema": {}}}}},
    )
    async def check_eml(request: Request) -> Response:
        """Check a raw RFC 822 message (``Content-Type: message/rfc822``)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in EML_TYPES:
            raise HTTPException(415, f"send the raw message as message/rfc822, not {ctype}")
        return await checks("eml", await request.body())

    def known_rules(rules: list[str]) -> None:
        unknown = sorted(set(rules) - set(checker.policy.rules))
        if unknown:
            raise HTTPException(422, f"unknown rule: {', '.join(unknown)}")

    @app.post("/v1/overrides", dependencies=v1, status_code=201, tags=["review"])
    def add_override(item: OverrideIn) -> Recorded:
        """Record that the user sent despite findings, with the business justification."""
        known_rules(item.rules)
        return Recorded(
            id=store.add_override(
                item.user,
                item.rules,
                checker.mask(item.justification),
                item.conversation_id,
                checker.mask(item.subject),
            )
        )

    @app.post("/v1/feedback", dependencies=v1, status_code=201, tags=["review"])
    def add_feedback(item: FeedbackIn) -> Recorded:
        """Record 'this finding is wrong' for the nightly review."""
        known_rules([item.rule])
        return Recorded(
            id=store.add_feedback(
                item.user,
                item.rule,
                checker.mask(item.reason),
                item.conversation_id,
                checker.mask(item.subject),
            )
        )

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"])
    async def readyz() -> JSONResponse:
        """Ready once the language model is loaded."""
        if ready.is_set():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "failed" if failed else "loading"}, 503)

    @app.get("/metrics", tags=["service"])
    async def metrics_text() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    document_check_request(app)
    app.include_router(addin_router(files, token, checker.policy.settings.limits.on_check_failure))
    # the last added runs first: Observe, TrustedHost, CORS, Guard, BodyLimit, then the routes
    app.add_middleware(
        BodyLimit, max_bytes=int(svc.max_request_mb * 1024 * 1024), seconds=svc.request_body_seconds
    )
    app.add_middleware(Guard, token=token, origins=svc.allowed_origins, allow_http=svc.allow_http)
    app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(svc), www_redirect=False)
    app.add_middleware(Observe, metrics=metrics)
    return app
