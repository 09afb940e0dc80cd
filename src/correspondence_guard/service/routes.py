"""The service's routes, one router per concern: checks (/v1/check, /v1/check/eml), what the
add-in reports back for the nightly review (/v1/overrides, /v1/feedback) and the service's own
state (/healthz, /readyz, /metrics). ``api.create_app`` puts them together behind the guards.
"""

from __future__ import annotations

import threading
from typing import Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.engine import Checker
from correspondence_guard.service.check_pool import Answer, CheckPool, CheckProcessError, Kind, ServiceChecks
from correspondence_guard.service.metrics import Metrics
from correspondence_guard.store.db import Store

CHECK_THREADS = 1  # checks are CPU-bound: more threads than cores only lengthen the queue's tail
# Outlook's conversation ids are base64-like: nothing else (a name typed in) is stored
CONVERSATION_ID = r"^[A-Za-z0-9+/=_.-]*$"
EML_TYPES = {"message/rfc822", "application/octet-stream", "text/plain", ""}


class Readiness:
    """Whether the checker (its language model) has loaded: /v1 waits for it, /readyz says it."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.failed: list[str] = []

    def loaded(self, error: BaseException | None) -> None:
        if error is None:
            self.ready.set()
        else:  # reported by /readyz and the log
            self.failed.append(f"{type(error).__name__}: {error}")

    async def require(self) -> None:  # async: on the event loop, not through the thread pool
        if not self.ready.is_set():
            detail = (
                "the checker could not load its language model" if self.failed else "the checker is starting"
            )
            raise HTTPException(503, detail, headers={"Retry-After": "5"})


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


def check_router(checks: Checks, readiness: Readiness) -> APIRouter:
    """POST /v1/check (a draft as the add-in reads it) and /v1/check/eml (raw RFC 822)."""
    router = APIRouter(dependencies=[Depends(readiness.require)], tags=["check"])

    @router.post(
        "/v1/check",
        response_model=ReportOut,
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

    @router.post(
        "/v1/check/eml",
        response_model=ReportOut,
        openapi_extra={"requestBody": {"required": True, "content": {"message/rfc822": {"schema": {}}}}},
    )
    async def check_eml(request: Request) -> Response:
        """Check a raw RFC 822 message (``Content-Type: message/rfc822``)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in EML_TYPES:
            raise HTTPException(415, f"send the raw message as message/rfc822, not {ctype}")
        return await checks("eml", await request.body())

    return router


def review_router(checker: Checker, store: Store, readiness: Readiness) -> APIRouter:
    """POST /v1/overrides and /v1/feedback: what the add-in reports for the nightly review,
    stored masked."""
    router = APIRouter(dependencies=[Depends(readiness.require)], tags=["review"])

    def known_rules(rules: list[str]) -> None:
        unknown = sorted(set(rules) - set(checker.policy.rules))
        if unknown:
            raise HTTPException(422, f"unknown rule: {', '.join(unknown)}")

    @router.post("/v1/overrides", status_code=201)
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

    @router.post("/v1/feedback", status_code=201)
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

    return router


def state_router(readiness: Readiness, metrics: Metrics) -> APIRouter:
    """GET /healthz (the process answers), /readyz (the model is loaded) and /metrics (Prometheus)."""
    router = APIRouter(tags=["service"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready once the language model is loaded."""
        if readiness.ready.is_set():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "failed" if readiness.failed else "loading"}, 503)

    @router.get("/metrics")
    async def metrics_text() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
