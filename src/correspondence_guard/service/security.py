"""What guards the HTTP service, outermost first.

- ``TrustedHostMiddleware``: only the configured host names (``allowed_hosts``), so a page that
  rebinds its own DNS name to 127.0.0.1 is refused.
- ``Guard``: before a byte of the body is read, refuses cross-site requests that are not the
  add-in's (Fetch Metadata), ``/v1`` over plain HTTP unless ``service.allow_http``, and ``/v1``
  without the bearer token; marks every response ``Cross-Origin-Resource-Policy: same-origin``
  so no other site can load the add-in's script (which carries the token).
- ``BodyLimit``: the request size limit and a deadline for the whole body.
- ``bounded_protocol``: uvicorn's HTTP/1.1 protocol with a deadline for each request head and a
  cap on open connections (a slow or idle connection cannot hold a socket for long).

The task pane is served from the service's own origin and needs no CORS. Classic Outlook's
JavaScript-only runtime calls cross-origin and may send its Origin with a trailing slash
(``Origin: https://localhost:8765/``), so each configured origin is allowed in both forms and
echoed back exactly as sent, with ``Vary: Origin``; ``*`` is refused.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import h11
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from correspondence_guard.config import ConfigError

if TYPE_CHECKING:
    from correspondence_guard.config import ServiceSettings

LOOPBACK = ("localhost", "127.0.0.1", "::1")


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


def allowed_hosts(svc: ServiceSettings) -> list[str]:
    """Host names the service answers to: loopback, its own bind address, the host of each
    allowed origin, and ``service.allowed_hosts``."""
    hosts = [*LOOPBACK, *svc.allowed_hosts]
    if svc.host not in ("0.0.0.0", "::", ""):
        hosts.append(svc.host)
    hosts += [urlsplit(origin).hostname or "" for origin in svc.allowed_origins]
    return sorted({h.lower().strip("[]") for h in hosts if h})


async def refuse(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """A one-line JSON error; the connection is closed, so an unread body is never read."""
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (b"cross-origin-resource-policy", b"same-origin"),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Fetch Metadata, HTTPS and the bearer token, checked before the application reads anything.

    A browser marks each request with ``Sec-Fetch-Site``. Another site's page may navigate to
    the service (Outlook on the web opens the task pane in a frame), but it may not fetch from
    it or load its scripts, unless it is an allowed origin calling with CORS (classic Outlook's
    on-send runtime). Clients that send no fetch metadata (Outlook's runtimes, curl, the
    watcher) are judged by the token alone.
    """

    def __init__(self, app: ASGIApp, token: str, origins: list[str], allow_http: bool):
        self.app = app
        self.token = token.encode("utf-8")
        self.origins = set(origin_variants(origins))
        self.allow_http = allow_http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        site = headers.get("sec-fetch-site", "")
        if (
            site in ("cross-site", "same-site")
            and headers.get("sec-fetch-mode") != "navigate"
            and headers.get("origin") not in self.origins
        ):
            await refuse(send, 403, "cross-site request refused: only the add-in may call this service")
            return
        if scope["path"].startswith("/v1/") and scope["method"] != "OPTIONS":
            if scope["scheme"] == "http" and not self.allow_http:
                await refuse(
                    send,
                    403,
                    "the API is served over HTTPS only: set service.certfile and service.keyfile "
                    "(or service.allow_http: true on a loopback-only host)",
                )
                return
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode("utf-8"), self.token
            ):
                await refuse(send, 401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
                return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"cross-origin-resource-policy", b"same-origin"),
                ]
            await send(message)

        await self.app(scope, receive, marked)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before the application reads them.

    A declared Content-Length over the limit is refused at once; a chunked body is counted
    as it arrives, and the whole body must arrive within ``seconds`` (408 otherwise). The body
    read so far is replayed to the application.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, seconds: float = 30.0):
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds

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
        try:
            async with asyncio.timeout(self.seconds):
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
        except TimeoutError:
            await refuse(send, 408, f"the request body did not arrive within {self.seconds:g} s")
            return
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
        await refuse(send, 413, f"request body over the {limit_mb:g} MB limit (service.max_request_mb)")


def bounded_protocol(head_seconds: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol, bounded. A connection that has not sent a whole request head
    within ``head_seconds`` of opening (or of its last response) is closed. Over
    ``max_connections``, connections waiting for a request head are closed to make room: first
    those that never completed a request (idle or slow sockets), oldest first, then kept-alive
    ones; so a flood of sockets cannot lock the add-in out."""

    class BoundedH11(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _waiting_since = 0.0
        _served = 0  # requests answered on this connection

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()
            excess = len(self.connections) - max_connections
            if excess > 0:
                idle = sorted(
                    (c for c in self.connections if isinstance(c, BoundedH11) and c._head_timer is not None),
                    key=lambda c: (c._served > 0, c._waiting_since),
                )
                for conn in idle[:excess]:
                    conn.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def on_response_complete(self) -> None:
            self._served += 1
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._waiting_since = self.loop.time()
            self._head_timer = self.loop.call_later(head_seconds, self._head_expired)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_expired(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return BoundedH11


def uvicorn_limits(svc: ServiceSettings) -> dict[str, Any]:
    """uvicorn options that bound connections, headers and idle time. (uvicorn's own
    ``limit_concurrency`` counts open connections too, so it would answer 503 to the add-in
    while idle sockets are open: the connection cap does that work instead, and one request is
    in progress per connection at most.)"""
    return {
        "http": bounded_protocol(svc.request_head_seconds, svc.max_connections),
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": 16 * 1024,
        # a burst of connections (1,100 at once from a flood) must not fill the accept queue, or
        # the add-in's own connection is dropped with them: the kernel caps it at somaxconn
        "backlog": 2048,
    }
