"""The HTTP service end to end over real loopback HTTP(S): every endpoint, its guards and its errors."""

from __future__ import annotations

import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from addin_service import (
    CLEAR,
    ORIGINS,
    PERSONAL_DATA_TO_GMAIL,
    REPLY_ALL_MEMBERS,
    ROOT,
    TOKEN,
    Service,
    make_config,
    require,
    serve,
    wait_ready,
)

from correspondence_guard import Checker
from correspondence_guard.commands.serve import prepare
from correspondence_guard.config import ConfigError, load_config
from correspondence_guard.service.api import create_app
from correspondence_guard.store.db import Store
from support import free_port, self_signed_certificate

PRIVATE_DETAIL = "Doverhampton"  # in the draft; must never come back unmasked, be stored or be logged

EML = (
    b"From: Lorcan Pettifer <cllr.lorcan.pettifer@ashdown.gov.uk>\r\n"
    b"To: J Smith <j.smith.home@gmail.com>\r\n"
    b"Subject: Housing case\r\n"
    b"Message-ID: <case-17@ashdown.gov.uk>\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Mrs Jane Doverhampton of 12 Tollgate Lane, phone 07700 900123, is in rent arrears.\r\n"
)


def test_health_readiness_and_docs(service: Service) -> None:
    with service.client(token=None) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json() == {"status": "ready"}
        assert http.get("/docs").status_code == 404  # Swagger UI comes from a CDN: not offered
        spec = http.get("/openapi.json").json()
    assert {"/v1/check", "/v1/check/eml", "/v1/overrides", "/v1/feedback"} <= set(spec["paths"])
    draft = spec["components"]["schemas"]["CheckRequest"]["properties"]
    assert {"from", "to", "composeType", "inReplyTo", "conversationId", "trigger"} <= set(draft)


def test_check_draft_reports_masked_findings_and_stores_no_body(service: Service) -> None:
    with service.client() as http:
        response = http.post("/v1/check", json={**PERSONAL_DATA_TO_GMAIL, "trigger": "send"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["verdict"] == "block" and report["send_action"] == "block"
    [finding] = [f for f in report["findings"] if f["rule"] == "personal-data-to-private-address"]
    assert finding["on_send"] == "block" and finding["citations"] and finding["note"]
    assert finding["evidence"] and PRIVATE_DETAIL not in response.text
    stored = list(service.store.iter_findings(rule="personal-data-to-private-address"))
    assert stored and PRIVATE_DETAIL not in json.dumps(stored, default=str)
    db = Path(service.config.store.url.removeprefix("sqlite:///"))
    assert PRIVATE_DETAIL.encode() not in b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_check_prompt_and_clear(service: Service) -> None:
    with service.client() as http:
        prompt = http.post("/v1/check", json=REPLY_ALL_MEMBERS).json()
        clear = http.post("/v1/check", json=CLEAR).json()
    assert prompt["send_action"] == "prompt"
    assert [f["rule"] for f in prompt["findings"]] == ["reply-all-members"]
    assert clear == {
        "source": "draft",
        "verdict": "clear",
        "send_action": "allow",
        "findings": [],
        "unchecked": [],
    }


def test_check_eml(service: Service) -> None:
    with service.client() as http:
        response = http.post("/v1/check/eml", content=EML, headers={"Content-Type": "message/rfc822"})
    assert response.status_code == 200, response.text
    assert response.json()["send_action"] == "block" and PRIVATE_DETAIL not in response.text


@pytest.mark.parametrize(
    ("body", "ctype", "status"),
    [
        pytest.param(b"", "message/rfc822", 400, id="empty"),
        pytest.param(b"   \r\n\r\n  ", "message/rfc822", 400, id="blank"),
        pytest.param(EML, "application/json", 415, id="wrong-content-type"),
    ],
)
def test_bad_mime_is_a_clear_4xx(service: Service, body: bytes, ctype: str, status: int) -> None:
    with service.client() as http:
        response = http.post("/v1/check/eml", content=body, headers={"Content-Type": ctype})
    assert response.status_code == status
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n',
        b"\x00\xff\xfe garbage \x00\r\n\r\n\x01\x02",
        b"Subject: =?utf-8?b?!!!?=\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!",
    ],
    ids=["unterminated-multipart", "binary", "broken-encodings"],
)
def test_malformed_mime_never_gives_500(service: Service, raw: bytes) -> None:
    with service.client() as http:
        response = http.post("/v1/check/eml", content=raw, headers={"Content-Type": "message/rfc822"})
    assert response.status_code in (200, 400), response.text


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/v1/check", CLEAR),
        ("POST", "/v1/check/eml", None),
        ("POST", "/v1/overrides", {}),
        ("POST", "/v1/feedback", {}),
    ],
)
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_v1_refused_without_the_token(
    service: Service, method: str, path: str, payload: dict[str, object] | None, token: str | None
) -> None:
    with service.client(token=token) as http:
        response = http.request(method, path, json=payload)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "missing or wrong bearer token"}


def test_over_the_size_limit_is_413(service: Service) -> None:
    big = {**CLEAR, "body": {"text": "x" * (1024 * 1024 + 10)}}
    with service.client() as http:
        declared = http.post("/v1/check", json=big)
        chunked = http.post(
            "/v1/check",
            content=iter([b"{", b" " * (1024 * 1024), b"}"]),
            headers={"Content-Type": "application/json"},
        )
        after = http.post("/v1/check", json=CLEAR)
    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json()["detail"] == "request body over the 1 MB limit (service.max_request_mb)"
    assert after.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/v1/check", b"{not json", "malformed JSON"),
        ("/v1/check", b"[1, 2]", "Input should be an object"),
        ("/v1/check", json.dumps({"to": "someone"}).encode(), "to: Input should be a valid array"),
        ("/v1/check", json.dumps({"to": [{"name": "no address"}]}).encode(), "to.0.email"),
        ("/v1/check", json.dumps({"attachments": [{"name": "a.txt", "content": "abc"}]}).encode(), "base64"),
        ("/v1/check", json.dumps({"composeType": "draftOfDoom"}).encode(), "composeType"),
        (
            "/v1/overrides",
            b'{"user": "a@b.c", "rules": ["reply-all-members"]}',
            "justification: Field required",
        ),
        ("/v1/feedback", b'{"user": "a@b.c", "rule": "no-such-rule", "reason": "wrong"}', "unknown rule"),
    ],
)
def test_bad_json_is_422_with_a_message(service: Service, path: str, body: bytes, detail: str) -> None:
    with service.client() as http:
        response = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    message = response.json()["detail"]
    assert isinstance(message, str) and "\n" not in message and detail in message


@pytest.mark.parametrize(
    "draft", [{}, {"subject": "Hello"}, {"body": {"text": "hi"}, "composeType": "newMail"}]
)
def test_a_draft_with_no_sender_and_no_recipients_is_refused(
    service: Service, draft: dict[str, object]
) -> None:
    with service.client() as http:
        answer = http.post("/v1/check", json=draft)
    assert answer.status_code == 422 and answer.json()["detail"].startswith("not a valid draft")


def test_overrides_and_feedback_are_stored_with_who_when_which_rules(service: Service) -> None:
    with service.client() as http:
        override = http.post(
            "/v1/overrides",
            json={
                "user": "cllr.beatrix.quennell@ashdown.gov.uk",
                "rules": ["reply-all-members"],
                "justification": "The Chair asked me to answer every member on this.",
                "conversationId": "AAQkconv2",
                "subject": "RE: budget consultation",
            },
        )
        feedback = http.post(
            "/v1/feedback",
            json={
                "user": "cllr.lorcan.pettifer@ashdown.gov.uk",
                "rule": "personal-data-to-private-address",
                "reason": "J Smith is the resident; she asked for this",
                "conversationId": "AAQkADconv1",
                "subject": "Housing case",
            },
        )
    assert override.status_code == 201 and feedback.status_code == 201
    [o] = [o for o in service.store.list_overrides() if o["id"] == override.json()["id"]]
    assert o["user"] == "cllr.beatrix.quennell@ashdown.gov.uk" and o["rules"] == ["reply-all-members"]
    assert o["at"] is not None and o["conversation_id"] == "AAQkconv2"
    [f] = [f for f in service.store.list_feedback() if f["id"] == feedback.json()["id"]]
    assert f["rule"] == "personal-data-to-private-address" and f["user"].startswith("cllr.lorcan")


@pytest.mark.parametrize(
    "origin",
    [
        "https://localhost:8765",
        "https://localhost:8765/",
        "https://cg.ashdown.gov.uk",
        "https://cg.ashdown.gov.uk/",
    ],
)
def test_cors_preflight_with_and_without_the_trailing_slash(service: Service, origin: str) -> None:
    with service.client(token=None) as http:
        response = http.options(
            "/v1/check",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        post = http.post(
            "/v1/check", json=CLEAR, headers={"Origin": origin, "Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "Origin" in response.headers["vary"]
    assert {"authorization", "content-type"} <= {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers
    assert post.headers["access-control-allow-origin"] == origin and "Origin" in post.headers["vary"]
    assert "*" not in str(response.headers) and "*" not in post.headers.get("access-control-allow-origin", "")


def test_cors_refuses_other_origins(service: Service) -> None:
    with service.client(token=None) as http:
        response = http.options(
            "/v1/check", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        post = http.post(
            "/v1/check",
            json=CLEAR,
            headers={"Origin": "https://evil.example", "Authorization": f"Bearer {TOKEN}"},
        )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in post.headers and "Origin" in post.headers["vary"]


def test_well_known_and_addin_files(service: Service) -> None:
    with service.client(token=None) as http:
        allowed = http.get("/.well-known/microsoft-officeaddins-allowed.json").json()
        script = http.get("/addin/launchevent.js")
        manifest = http.get("/addin/manifest.xml")
        pane = http.get("/addin/taskpane.html")
        icon = http.get("/addin/assets/icon-80.png")
        missing = [
            http.get(p).status_code
            for p in ("/addin/package.json", "/addin/../pyproject.toml", "/addin/test/launchevent.test.js")
        ]
    assert allowed == {"allowed": [f"{service.base}/addin/launchevent.js"]}
    assert script.headers["content-type"].startswith("text/javascript")
    assert f'origin: "{service.base}"' in script.text and f'cgToken = "{TOKEN}"' in script.text
    assert 'onFailure: "prompt"' in script.text  # the policy's limits.on_check_failure
    assert f"{service.base}/addin/launchevent.js" in manifest.text and "localhost:8765" not in manifest.text
    assert "office.js" in pane.text and icon.content.startswith(b"\x89PNG")
    assert script.headers["cache-control"] == "no-cache, private"
    again = httpx.get(
        f"{service.base}/addin/launchevent.js", headers={"If-None-Match": script.headers["etag"]}
    )
    assert again.status_code == 304 and not again.content
    assert missing == [404, 404, 404]


def test_metrics_in_prometheus_text_format(service: Service) -> None:
    with service.client() as http:
        http.post("/v1/check", json=PERSONAL_DATA_TO_GMAIL)
        response = httpx.get(f"{service.base}/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'cg_http_requests_total{method="POST",path="/v1/check",status="200"}' in text
    assert 'cg_http_request_duration_seconds_bucket{le="0.1",method="POST",path="/v1/check"}' in text
    assert 'cg_checks_total{verdict="block"}' in text
    found = [line for line in text.splitlines() if line.startswith("cg_findings_total{")]
    assert {line.split('"')[1] for line in found} >= {"personal-data-to-private-address", "reply-all-members"}
    [pd] = [line for line in found if '"personal-data-to-private-address"' in line]
    assert float(pd.split()[-1]) >= 1


def test_no_personal_data_in_logs(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with service.client() as http:
        http.post("/v1/check", json=PERSONAL_DATA_TO_GMAIL)
        http.post("/v1/check/eml", content=EML, headers={"Content-Type": "message/rfc822"})
        http.post(
            "/v1/feedback",
            json={
                "user": "cllr.lorcan.pettifer@ashdown.gov.uk",
                "rule": "reply-all-members",
                "reason": "Doverhampton asked",
            },
        )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for private in (PRIVATE_DETAIL, "gmail.com", "07700", "cllr.lorcan"):
        assert private not in logged


def test_not_ready_until_the_model_loads_and_startup_hooks_run(
    tmp_path: Path, checker: Checker, directory_path: Path
) -> None:
    gate = threading.Event()
    calls: list[str] = []

    class Slow(Checker):
        def warm_up(self) -> None:
            gate.wait(30)

    def hook(config: object, checker: object, store: object) -> object:
        calls.append("started")
        return lambda: calls.append("stopped")

    config = make_config(tmp_path, directory_path)
    store = Store(config.store.url)
    app = create_app(Slow(checker.directory, checker.policy), config, store, startup=[hook])
    with serve(app) as base:
        assert calls == ["started"]
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").json() == {"status": "loading"}
        busy = httpx.post(f"{base}/v1/check", json=CLEAR, headers={"Authorization": f"Bearer {TOKEN}"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        gate.set()
        wait_ready(base)
        assert httpx.post(
            f"{base}/v1/check", json=CLEAR, headers={"Authorization": f"Bearer {TOKEN}"}
        ).is_success
    assert calls == ["started", "stopped"]
    store.close()


def _write_config(tmp: Path, directory_path: Path, port: int, origins: str = ORIGINS[0]) -> Path:
    path = tmp / "config.yaml"
    path.write_text(
        f"directory: {directory_path}\n"
        f"store:\n  url: sqlite:///{tmp / 'store.db'}\n"
        "service:\n"
        f"  host: 127.0.0.1\n  port: {port}\n"
        f"  certfile: {tmp / 'cert.pem'}\n  keyfile: {tmp / 'key.pem'}\n"
        "  token_env: CG_TEST_SERVICE_TOKEN\n"
        f"  allowed_origins: ['{origins}']\n",
        encoding="utf-8",
    )
    return path


def _self_signed(tmp: Path) -> Path:
    self_signed_certificate(tmp / "cert.pem", tmp / "key.pem", require("openssl", "apt-get install openssl"))
    return tmp / "cert.pem"


@pytest.mark.slow
def test_serve_command_over_https(tmp_path: Path, directory_path: Path) -> None:
    """``correspondence-guard serve --config`` with a self-signed certificate made by openssl."""
    cert = _self_signed(tmp_path)
    port = free_port()
    config = _write_config(tmp_path, directory_path, port)
    env = {**os.environ, "CG_TEST_SERVICE_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "correspondence_guard", "serve", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tls = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/healthz", verify=tls).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        wait_ready(base, verify=tls)
        with httpx.Client(base_url=base, verify=tls, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            assert http.post("/v1/check", json=PERSONAL_DATA_TO_GMAIL).json()["send_action"] == "block"
        with pytest.raises(httpx.TransportError):  # nothing in plain text on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), out  # uvicorn re-raises SIGTERM after a clean stop
    assert "Application shutdown complete" in out
    assert f"serving {base}" in out


@pytest.mark.slow
def test_config_check(tmp_path: Path, directory_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _self_signed(tmp_path)
    good = _write_config(tmp_path, directory_path, 8765)
    code, out, err = cli("config", "check", "--config", good, env={"CG_TEST_SERVICE_TOKEN": TOKEN})
    assert code == 0, err
    assert out.startswith("OK: Ashdown District Council") and "serving https://127.0.0.1:8765" in out

    code, out, err = cli("config", "check", "--config", good)  # no token in the environment
    assert code == 2 and err.strip() == (
        "correspondence-guard: error: service.token: no secret found (set $CG_TEST_SERVICE_TOKEN)"
    )


@pytest.mark.parametrize(
    ("origins", "env", "error"),
    [
        ("*", {}, "service.allowed_origins: '*' is not an origin like https://host:port"),
        ("https://localhost:8765/addin", {}, "has more than scheme://host:port"),
        (ORIGINS[0], {"CG_SERVICE__PORT": "not-a-port"}, "service.port: Input should be a valid integer"),
        (ORIGINS[0], {"CG_SERVICE__CERTFILE": "/nonexistent.pem"}, "service.certfile/keyfile: cannot load"),
    ],
)
def test_config_errors_are_one_line(
    tmp_path: Path,
    directory_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    origins: str,
    env: dict[str, str],
    error: str,
) -> None:
    _self_signed(tmp_path)
    monkeypatch.setenv("CG_TEST_SERVICE_TOKEN", TOKEN)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as raised:
        prepare(str(_write_config(tmp_path, directory_path, 8765, origins=origins)))
    assert error in str(raised.value) and "\n" not in str(raised.value)


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch, directory_path: Path) -> None:
    monkeypatch.setenv("CG_DIRECTORY", str(directory_path))  # the example's path is a server's
    config = load_config(ROOT / "deploy" / "config.example.yaml")
    assert config.service.host == "127.0.0.1" and config.service.max_request_mb == 25
    assert config.service.allowed_origins == ["https://localhost:8765"]
    assert config.store.url.startswith("sqlite:///")
