"""Prometheus metrics of the HTTP service, and the outermost layer that records them.

``Observe`` also turns an unexpected exception into a JSON 500 and logs only its type: an
exception's text can quote the message being checked or SQL parameters (addresses).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """One registry per app: requests, latency, checks by verdict, findings by rule."""

    def __init__(self, rules: list[str]):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cg_http_requests",
            "HTTP requests by route and status",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cg_http_request_duration_seconds",
            "Time to answer, by route",
            ["method", "path"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.checks = Counter(
            "cg_checks", "Messages checked, by verdict", ["verdict"], registry=self.registry
        )
        self.findings = Counter("cg_findings", "Findings reported, by rule", ["rule"], registry=self.registry)
        for rule in rules:  # every rule shows from the start, at 0
            self.findings.labels(rule=rule)

    def count(self, verdict: str, rules: Iterable[str]) -> None:
        """One message checked: its verdict and the rules of its findings."""
        self.checks.labels(verdict=verdict).inc()
        for rule in rules:
            self.findings.labels(rule=rule).inc()


class Observe:
    """Count and time every request by its route template (never its raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def observed_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception as exc:  # noqa: BLE001 - answered and logged here, without its text
            log.error("%s %s failed: %s", scope["method"], _route(scope), type(exc).__name__)
            if not started:
                body = json.dumps({"detail": "internal error; the service log has its type"}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            status = 500
        finally:
            path = _route(scope)
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.latency.labels(scope["method"], path).observe(time.perf_counter() - start)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "other"))
