"""The local HTTPS service: the core checker behind a small JSON API, and the Outlook add-in's files.

::

    checker = Checker.load(config.directory, config.policy)
    app = create_app(checker, config, Store(config.store.url))   # then run it with uvicorn

``/v1`` (bearer token): POST /v1/check (a JSON draft as the add-in reads it), POST /v1/check/eml
(raw RFC 822), POST /v1/overrides, POST /v1/feedback. Open: GET /healthz, /readyz, /metrics,
/docs, the add-in under /addin/ and /.well-known/microsoft-officeaddins-allowed.json.
Errors are JSON ``{"detail": "one line"}``. Bodies and personal data never reach the log.
"""

from __future__ import annotations

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
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.cors import CORSMiddleware

from correspondence_guard.check_pool import CheckPool, CheckProcessError, CheckResult, check_draft, check_eml
from correspondence_guard.config import Config
from correspondence_guard.engine import Checker
from correspondence_guard.findings import Report
from correspondence_guard.http_addin import addin_router, load_addin
from correspondence_guard.http_metrics import Metrics, Observe
from correspondence_guard.http_security import BodyLimit, bearer_auth, cors_options
from correspondence_guard.intake.draft import Draft
from correspondence_guard.store import Location, MessageMeta, Store

log = logging.getLogger(__name__)


def thinc_ops() -> None:
    """Set thinc's backend in the calling context (thinc keeps it in a context variable)."""
    from thinc.api import get_current_ops

    get_current_ops()


#: Started with the service: called with (config, checker, store), returns a function that stops it, or None.
StartHook = Callable[[Config, Checker, Store], Callable[[], None] | None]
CHECK_THREADS = 1  # checks are CPU-bound: more threads than cores only lengthen the queue's tail
EML_TYPES = {"message/rfc822", "application/octet-stream", "text/plain", ""}


class CheckRequest(Draft):
    """A draft as the add-in reads it, and what asked for the check."""

    trigger: Literal["send", "pane", ""] = Field(
        "", description="send: the on-send check; pane: the task pane"
    )


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


class OverrideIn(BaseModel):
    """The user sent despite findings, and said why."""

    model_config = ConfigDict(populate_by_name=True)
    user: str = Field(min_length=3, max_length=320, description="the sender's mailbox address")
    rules: list[str] = Field(min_length=1, description="the rules whose notes were overridden")
    justification: str = Field(min_length=3, max_length=2000, description="the business reason")
    conversation_id: str = Field("", alias="conversationId", max_length=500)
    subject: str = Field("", max_length=998, description="stored masked")


class FeedbackIn(BaseModel):
    """'This finding is wrong', with a reason."""

    model_config = ConfigDict(populate_by_name=True)
    user: str = Field(min_length=3, max_length=320)
    rule: str
    reason: str = Field(min_length=3, max_length=2000)
    conversation_id: str = Field("", alias="conversationId", max_length=500)
    subject: str = Field("", max_length=998, description="stored masked")


class Recorded(BaseModel):
    id: int


class Checks:
    """Run a check (in a thread, or in a check process when there is a pool), then count its
    findings and store them for the nightly review. The event loop only awaits."""

    def __init__(self, checker: Checker, store: Store, metrics: Metrics, pool: CheckPool | None = None):
        self.checker = checker
        self.store = store
        self.metrics = metrics
        self.pool = pool
        self.limiter = anyio.CapacityLimiter(CHECK_THREADS)

    async def draft(self, draft: CheckRequest) -> dict[str, Any]:
        where = {"send": "on-send", "pane": "task-pane"}.get(draft.trigger, "api")
        return await self._finish(await self._run(check_draft, draft), where)

    async def eml(self, raw: bytes) -> dict[str, Any]:
        return await self._finish(await self._run(check_eml, raw), "eml")

    async def _run(self, job: Callable[[Checker, Any], CheckResult], arg: Any) -> CheckResult:
        if self.pool is None:
            return await anyio.to_thread.run_sync(job, self.checker, arg, limiter=self.limiter)
        try:
            return await self.pool.run(job, arg)
        except CheckProcessError as exc:
            raise HTTPException(503, f"{exc}; try again", headers={"Retry-After": "5"}) from None

    async def _finish(self, outcome: CheckResult, where: str) -> dict[str, Any]:
        if outcome.report is None:
            raise HTTPException(outcome.status, outcome.error)
        self.metrics.count(outcome.report)
        if outcome.meta is not None:
            await anyio.to_thread.run_sync(self._record, outcome.meta, outcome.report, where)
        return outcome.report.to_dict()

    def _record(self, meta: MessageMeta, report: Report, where: str) -> None:
        """Keep the findings for the nightly review: masked evidence and subject, never the body."""
        try:
            self.store.record(meta, report, Location(account="service", folder=where))
        except SQLAlchemyError as exc:  # the user still gets the check; the review misses one row
            log.error("could not store findings: %s", type(exc).__name__)


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
    checks = Checks(checker, store, metrics, pool)
    ready = threading.Event()
    failed: list[str] = []
    # thinc keeps its backend in a context variable: set it here, in the context every request
    # (and its worker thread) copies, or each check in a thread looks the backend up again
    thinc_ops()

    def warm_up() -> None:
        try:
            if pool is None:
                checker.warm_up()
            else:
                pool.warm_up()
        except Exception as exc:  # noqa: BLE001 - reported by /readyz and the log
            failed.append(f"{type(exc).__name__}: {exc}")
            log.error("the language model did not load: %s", failed[0])
        else:
            ready.set()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=warm_up, name="cg-warm-up", daemon=True).start()
        stops = [stop for hook in startup if (stop := hook(config, checker, store)) is not None]
        try:
            yield
        finally:
            for stop in reversed(stops):
                stop()
            if pool is not None:
                pool.close()

    async def require_ready() -> None:  # async: on the event loop, not through the thread pool
        if not ready.is_set():
            detail = "the checker could not load its language model" if failed else "the checker is starting"
            raise HTTPException(503, detail, headers={"Retry-After": "5"})

    app = FastAPI(
        title="correspondence-guard",
        summary="Advisory checks of council e-mail against the Member/Officer Relations Protocol",
        lifespan=lifespan,
    )
    v1 = [Depends(bearer_auth(token)), Depends(require_ready)]

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        if err["type"] == "json_invalid":
            return JSONResponse({"detail": f"malformed JSON: {err.get('ctx', {}).get('error', '')}"}, 422)
        where = ".".join(str(p) for p in err["loc"] if p != "body")
        return JSONResponse({"detail": f"{where}: {err['msg']}" if where else err["msg"]}, 422)

    @app.post("/v1/check", dependencies=v1, response_model=ReportOut, tags=["check"])
    async def check_draft(draft: CheckRequest) -> JSONResponse:
        """Check a draft as the Outlook add-in reads it; ``send_action`` is what on-send does."""
        return JSONResponse(await checks.draft(draft))

    @app.post(
        "/v1/check/eml",
        dependencies=v1,
        response_model=ReportOut,
        tags=["check"],
        openapi_extra={"requestBody": {"required": True, "content": {"message/rfc822": {"schema": {}}}}},
    )
    async def check_eml(request: Request) -> JSONResponse:
        """Check a raw RFC 822 message (``Content-Type: message/rfc822``)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in EML_TYPES:
            raise HTTPException(415, f"send the raw message as message/rfc822, not {ctype}")
        raw = await request.body()
        return JSONResponse(await checks.eml(raw))

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
                item.user, item.rules, item.justification, item.conversation_id, item.subject
            )
        )

    @app.post("/v1/feedback", dependencies=v1, status_code=201, tags=["review"])
    def add_feedback(item: FeedbackIn) -> Recorded:
        """Record 'this finding is wrong' for the nightly review."""
        known_rules([item.rule])
        return Recorded(
            id=store.add_feedback(item.user, item.rule, item.reason, item.conversation_id, item.subject)
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

    app.include_router(addin_router(files, token))
    app.add_middleware(BodyLimit, max_bytes=int(svc.max_request_mb * 1024 * 1024))
    app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(Observe, metrics=metrics)
    return app
