"""The service attacked from a web page and from the network (issue 11): each test makes the
attack over a real socket (or from a page in headless Chromium) and checks it is refused
while the add-in's own calls still work.

The service here has short limits (1.5 s for a request head or body, 20 connections) so the
tests are quick; ``serve`` runs it with the same uvicorn options as ``correspondence-guard serve``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from addin_service import CLEAR, ORIGINS, TOKEN, Service, make_config, serve, wait_ready

from correspondence_guard import Checker
from correspondence_guard.config import ConfigError, ServiceSettings, load_config
from correspondence_guard.service.api import create_app
from correspondence_guard.service.security import uvicorn_limits
from correspondence_guard.store.db import Store

LIMITS = {"request_head_seconds": 1.5, "request_body_seconds": 1.5, "max_connections": 20}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def start(tmp: Path, checker: Checker, directory: Path, **service: Any) -> Iterator[Service]:
    config = make_config(tmp, directory, **{**LIMITS, **service})
    store = Store(config.store.url)
    with serve(create_app(checker, config, store), limits=uvicorn_limits(config.service)) as base:
        wait_ready(base)
        yield Service(base, store, config)
    store.close()


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, checker: Checker, directory_path: Path
) -> Iterator[Service]:
    yield from start(tmp_path_factory.mktemp("guarded"), checker, directory_path)


def port_of(service: Service) -> int:
    return int(service.base.rsplit(":", 1)[1])


def raw(service: Service, request: bytes, wait: float = 5.0) -> tuple[bytes, float]:
    """Send ``request`` on a new socket; return what came back before the server closed it, and when."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port_of(service)), timeout=wait) as sock:
        sock.sendall(request)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except TimeoutError:
            pass
    return got, time.monotonic() - started


def test_the_token_is_checked_before_the_body_is_read(guarded: Service) -> None:
    """A request declaring a big body, with no token, is refused at once without waiting for it."""
    head = (
        b"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 900000\r\n\r\n"
    )
    got, took = raw(guarded, head + b"{" * 1000)
    assert got.startswith(b"HTTP/1.1 401") and b"missing or wrong bearer token" in got
    assert took < 1.0  # not the 1.5 s the body would be given


def test_a_foreign_host_name_is_refused(guarded: Service) -> None:
    """DNS rebinding: a page on attacker.example whose name now points at 127.0.0.1."""
    for path in ("/addin/launchevent.js", "/v1/check"):
        response = (
            httpx.post(f"{guarded.base}{path}", headers={**AUTH, "Host": "attacker.example"}, json=CLEAR)
            if path.startswith("/v1")
            else httpx.get(f"{guarded.base}{path}", headers={"Host": "attacker.example"})
        )
        assert response.status_code == 400 and TOKEN not in response.text
    ok = httpx.get(f"{guarded.base}/healthz", headers={"Host": "localhost:8765"})
    assert ok.status_code == 200


def test_other_sites_may_not_fetch_or_load_scripts(guarded: Service) -> None:
    script = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"}
    refused = httpx.get(f"{guarded.base}/addin/launchevent.js", headers=script)
    assert refused.status_code == 403 and TOKEN not in refused.text
    call = {
        **AUTH,
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "cors",
        "Origin": "https://evil.example",
    }
    assert httpx.post(f"{guarded.base}/v1/check", headers=call, json=CLEAR).status_code == 403
    # the add-in itself: its origin calling with CORS, and Outlook on the web framing the pane
    addin = {**call, "Origin": ORIGINS[0]}
    assert httpx.post(f"{guarded.base}/v1/check", headers=addin, json=CLEAR).status_code == 200
    frame = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}
    pane = httpx.get(f"{guarded.base}/addin/taskpane.html", headers=frame)
    assert pane.status_code == 200
    own = httpx.get(f"{guarded.base}/addin/launchevent.js", headers={"Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 200 and own.headers["cross-origin-resource-policy"] == "same-origin"


def test_a_page_on_another_site_cannot_get_the_token(guarded: Service) -> None:
    """In Chromium: a page elsewhere includes the add-in's script, as an attacker would."""
    from addin_service import require
    from test_taskpane import ARGS, CHROMIUM  # the same headless Chromium as the pane's tests

    require(str(CHROMIUM), "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    page_html = (
        f'<script>window.loaded = "pending";</script>'
        f'<script src="{guarded.base}/addin/launchevent.js" '
        "onload=\"window.loaded = 'yes'\" onerror=\"window.loaded = 'refused'\"></script>"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page()
        page.route(
            "http://attacker.example/**",
            lambda route: route.fulfill(status=200, content_type="text/html", body=page_html),
        )
        page.goto("http://attacker.example/")
        page.wait_for_function("window.loaded !== 'pending'", timeout=10_000)
        seen = page.evaluate("[window.loaded, typeof window.cgPost, JSON.stringify(window.CG || null)]")
        browser.close()
    assert seen == ["refused", "undefined", "null"]


def test_slow_headers_are_cut_off(guarded: Service) -> None:
    """Slowloris: a request head sent a line at a time never completes; the socket is closed."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port_of(guarded)), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed = False
        for _ in range(20):
            time.sleep(0.4)
            try:
                sock.sendall(b"X-Slow: 1\r\n")
                if sock.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                continue
            except OSError:
                closed = True
                break
    assert closed and time.monotonic() - started < 4


def test_a_slow_body_gets_408(guarded: Service) -> None:
    head = (
        f"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    ).encode()
    got, took = raw(guarded, head + b'{"subject": ', wait=10)
    assert got.startswith(b"HTTP/1.1 408") and took < 4


def test_idle_connections_do_not_starve_the_service(guarded: Service) -> None:
    """Three times max_connections of idle sockets: the oldest make room for new ones, so
    /healthz and a real check still answer at once; the rest go at the head deadline."""
    idle = [socket.create_connection(("127.0.0.1", port_of(guarded)), timeout=5) for _ in range(60)]
    try:
        time.sleep(0.2)
        with httpx.Client(base_url=guarded.base, headers=AUTH, timeout=5) as http:
            assert http.get("/healthz").status_code == 200
            assert http.post("/v1/check", json=CLEAR).json()["verdict"] == "clear"
        for sock in idle[:30]:  # made room for
            sock.settimeout(1)
            assert sock.recv(1) == b""
        time.sleep(1.6)  # past the head deadline: every idle socket is gone
        for sock in idle[30:]:
            sock.settimeout(1)
            assert sock.recv(1) == b""
    finally:
        for sock in idle:
            sock.close()


def test_plain_http_api_needs_allow_http(tmp_path: Path, checker: Checker, directory_path: Path) -> None:
    for service in start(tmp_path, checker, directory_path, allow_http=False):
        with service.client() as http:
            refused = http.post("/v1/check", json=CLEAR)
            assert http.get("/healthz").status_code == 200
    assert refused.status_code == 403 and "HTTPS only" in refused.json()["detail"]


def test_token_rules(tmp_path: Path, directory_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="too short"):
        ServiceSettings(token="abc").bearer_token()
    monkeypatch.setenv("CG_SHORT_TOKEN", "x")
    with pytest.raises(ConfigError, match="at least 16"):
        ServiceSettings(token_env="CG_SHORT_TOKEN").bearer_token()
    written = tmp_path / "config.yaml"
    written.write_text(f"directory: {directory_path}\nservice:\n  token: {TOKEN}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="does not go in the config file"):
        load_config(written)
    exposed = tmp_path / "open.yaml"
    exposed.write_text(f"directory: {directory_path}\nservice:\n  host: 0.0.0.0\n  allow_http: true\n")
    with pytest.raises(ConfigError, match="only for a loopback host"):
        load_config(exposed)


def test_names_and_numbers_typed_into_the_add_in_are_stored_masked(guarded: Service) -> None:
    """Untitled names (found by the NER), NHS numbers and phone numbers in a justification,
    a reason or a subject never reach the store as typed; a conversation id is an id."""
    typed = "Sent because Janet Holloway, NHS 943 476 5919, rang on 07700 900461 and agreed"
    with guarded.client() as http:
        override = http.post(
            "/v1/overrides",
            json={"user": "cllr.x@ashdown.gov.uk", "rules": ["reply-all-members"], "justification": typed,
                  "conversationId": "AAQk+/=_-", "subject": "Re: Janet Holloway's housing"},
        )  # fmt: skip
        feedback = http.post(
            "/v1/feedback",
            json={"user": "cllr.x@ashdown.gov.uk", "rule": "reply-all-members", "reason": typed},
        )
        named = http.post(
            "/v1/feedback",
            json={"user": "cllr.x@ashdown.gov.uk", "rule": "reply-all-members", "reason": "wrong",
                  "conversationId": "Janet Holloway 943 476 5919"},
        )  # fmt: skip
    assert override.status_code == 201 and feedback.status_code == 201 and named.status_code == 422
    [o] = [o for o in guarded.store.list_overrides() if o["id"] == override.json()["id"]]
    [f] = [f for f in guarded.store.list_feedback() if f["id"] == feedback.json()["id"]]
    for stored in (o["justification"], o["subject"], f["reason"]):
        assert "Holloway" not in stored and "476 5919" not in stored and "900461" not in stored
    assert "J*** H***" in o["justification"] and o["subject"].startswith("Re: J*** H***")
