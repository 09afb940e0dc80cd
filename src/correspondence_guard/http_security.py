"""What guards the HTTP service: the bearer token, the request size limit, the CORS allow-list.

The task pane is served from the service's own origin and needs no CORS. Classic Outlook's
JavaScript-only runtime calls cross-origin and may send its Origin with a trailing slash
(``Origin: https://localhost:8765/``), so each configured origin is allowed in both forms and
echoed back exactly as sent, with ``Vary: Origin``; ``*`` is refused.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from correspondence_guard.config import ConfigError


def origin_variants(origins: list[str]) -> list[str]:
    """Each configured origin with and without a trailing slash; ConfigError on a bad one."""
    out: list[str] = []
    for raw in origins:
        origin = raw.strip().rstrip("/")
        parts = urlsplit(origin)
        if "*" in origin or parts.scheme not in ("https", "http") or not parts.netloc:
            raise ConfigError(f"service.allowed_origins: {raw!r} is not an origin like https://host:port")
        if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
            raise ConfigError(f"service.allowed_origins: {raw!r} has more than scheme://host:port")
        out += [origin, origin + "/"]
    return out


def cors_options(origins: list[str]) -> dict[str, Any]:
    """Starlette CORSMiddleware options: the listed origins only, Authorization and Content-Type, no cookies."""
    return {
        "allow_origins": origin_variants(origins),
        "allow_methods": ("GET", "POST"),
        "allow_headers": ("Authorization", "Content-Type"),
        "max_age": 600,
    }


def bearer_auth(token: str) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency accepting only ``Authorization: Bearer <token>``.

    It is ``async`` so FastAPI runs it on the event loop: a plain ``def`` would cost each
    request a trip through the thread pool, behind the CPU-bound checks.
    """
    expected = token.encode("utf-8")

    async def require_token(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), expected):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    return require_token


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before the application reads them.

    A declared Content-Length over the limit is refused at once; a chunked body is counted
    as it arrives. The body read so far is replayed to the application.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        limit_mb = self.max_bytes / (1024 * 1024)
        body = json.dumps(
            {"detail": f"request body over the {limit_mb:g} MB limit (service.max_request_mb)"}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
