"""The local HTTPS service: the core checker behind a small JSON API, and the Outlook add-in's files.

::

    checker = Checker.load(config.directory, config.policy)
    app = create_app(checker, config, Store(config.store.url))   # then run it with uvicorn

``/v1`` (bearer token, HTTPS): POST /v1/check (a JSON draft as the add-in reads it), POST
/v1/check/eml (raw RFC 822), POST /v1/overrides, POST /v1/feedback. Open: GET /healthz, /readyz,
/metrics, /openapi.json, the add-in under /addin/ and /.well-known/microsoft-officeaddins-allowed.json.
No Swagger UI: it loads from a CDN, which a council's network does not reach.
Errors are JSON ``{"detail": "one line"}``. Bodies and personal data never reach the log.
What guards it (host names, fetch metadata, token before body, limits): ``service.security``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from correspondence_guard.config import Config
from correspondence_guard.engine import Checker
from correspondence_guard.service.addin import addin_router, load_addin
from correspondence_guard.service.check_pool import (
    CheckPool,
    CheckRequest,
    ServiceChecks,
    validation_detail,
)
from correspondence_guard.service.metrics import Metrics, Observe
from correspondence_guard.service.routes import Checks, Readiness, check_router, review_router, state_router
from correspondence_guard.service.security import BodyLimit, Guard, allowed_hosts, cors_options
from correspondence_guard.store.db import Store

log = logging.getLogger(__name__)


def thinc_ops() -> None:
    """Set thinc's backend in the calling context (thinc keeps it in a context variable)."""
    from thinc.api import get_current_ops

    get_current_ops()


#: Started with the service: called with (config, checker, store), returns a function that stops it, or None.
StartHook = Callable[[Config, Checker, Store], Callable[[], None] | None]


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
    metrics = Metrics(rules=list(checker.policy.rules))
    checks = Checks(ServiceChecks(checker, store), metrics, pool)
    readiness = Readiness()
    # thinc keeps its backend in a context variable: set it here, in the context every request
    # (and its worker thread) copies, or each check in a thread looks the backend up again
    thinc_ops()

    app = FastAPI(
        title="correspondence-guard",
        summary="Advisory checks of council e-mail against the Member/Officer Relations Protocol",
        lifespan=_lifespan(checker, config, store, startup, pool, readiness),
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(list(exc.errors()))}, 422)

    # the token is checked by Guard, before the body is read; /v1 waits for the model
    app.include_router(check_router(checks, readiness))
    app.include_router(review_router(checker, store, readiness))
    app.include_router(state_router(readiness, metrics))
    app.include_router(addin_router(files, token, checker.policy.settings.limits.on_check_failure))
    document_check_request(app)
    _guard(app, token, config, metrics)
    return app


def _lifespan(
    checker: Checker,
    config: Config,
    store: Store,
    startup: Sequence[StartHook],
    pool: CheckPool | None,
    readiness: Readiness,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Load the model (in a thread, or the pool's processes) and run the start hooks (the
    scheduler) with the service; stop them, and the pool, when it stops."""

    def loaded(error: BaseException | None) -> None:
        readiness.loaded(error)
        if error is not None:
            log.error("the language model did not load: %s", readiness.failed[0])

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

    return lifespan


def _guard(app: FastAPI, token: str, config: Config, metrics: Metrics) -> None:
    """The middleware, outermost last: Observe, TrustedHost, CORS, Guard, BodyLimit, then the routes."""
    svc = config.service
    app.add_middleware(
        BodyLimit, max_bytes=int(svc.max_request_mb * 1024 * 1024), seconds=svc.request_body_seconds
    )
    app.add_middleware(Guard, token=token, origins=svc.allowed_origins, allow_http=svc.allow_http)
    app.add_middleware(CORSMiddleware, **cors_options(svc.allowed_origins))
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(svc), www_redirect=False)
    app.add_middleware(Observe, metrics=metrics)
