"""A small real OAuth2 authorisation server on loopback, for the OAuth2 IMAP tests and the soak bench.

Two listeners sharing one state:

* HTTPS (the test's self-signed certificate): the RFC 6749 client-credentials token endpoint
  ``/token`` (client_secret_basic or client_secret_post), and an Entra-shaped tenant for MSAL:
  ``/{tenant}/v2.0/.well-known/openid-configuration`` and ``/{tenant}/oauth2/v2.0/token``
  (client secret, or a certificate's signed ``client_assertion``, checked with PyJWT);
* HTTP: the RFC 7662 introspection endpoint ``/introspect`` that Dovecot's ``oauth2`` passdb
  asks (``introspection_mode = post``). It answers ``{"active": true, "username": MAILBOX}``
  for a live token of a client that is not revoked, else ``{"active": false}``.

Errors have Entra's shapes: ``{"error": "invalid_client", "error_description": "AADSTS7000215: ..."}``.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Client:
    secret: str | None
    mailbox: str
    certificate_pem: bytes | None = None
    revoked: bool = False


@dataclass
class State:
    clients: dict[str, Client] = field(default_factory=dict)
    lifetime: float = 3600.0
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (client_id, expires)
    issued: list[tuple[str, str]] = field(default_factory=list)  # (client_id, scope)
    introspected: list[str] = field(default_factory=list)
    forms: list[dict[str, str]] = field(default_factory=list)  # token requests as received
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body in one write (flushed after each request): no Nagle stall
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if not isinstance(self.server.socket, ssl.SSLSocket):
            # introspection: a connection per request, so a listener that is down is down at once
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict[str, str]:
        n = int(self.headers.get("Content-Length") or 0)
        return dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))

    def do_GET(self) -> None:  # noqa: N802
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            base = f"https://127.0.0.1:{self.server.server_address[1]}/{parts[0]}"
            self._send(
                200,
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "id_token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )
            return
        self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        form = self._form()
        state = self.server.state
        if path == "/introspect":
            self._introspect(form.get("token", ""))
            return
        if path == "/token" or path.endswith("/oauth2/v2.0/token"):
            with state.lock:
                state.forms.append({k: v for k, v in form.items() if k not in ("client_secret",)})
            self._token(form, entra=path != "/token")
            return
        self._send(404, {"error": "not_found"})

    def _introspect(self, token: str) -> None:
        state = self.server.state
        with state.lock:
            state.introspected.append(token)
            found = state.tokens.get(token)
            client = state.clients.get(found[0]) if found else None
            live = found is not None and client is not None and not client.revoked and found[1] > time.time()
        self._send(
            200, {"active": True, "username": client.mailbox} if live and client else {"active": False}
        )

    def _token(self, form: dict[str, str], *, entra: bool) -> None:
        state = self.server.state
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            pair = base64.b64decode(auth[6:]).decode()
            cid, _, sec = pair.partition(":")
            client_id, secret = urllib.parse.unquote(cid), urllib.parse.unquote(sec)
        if form.get("grant_type") != "client_credentials":
            self._send(400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: ..."})
            return
        client = state.clients.get(client_id)
        if client is None:
            self._send(
                400,
                {
                    "error": "unauthorized_client",
                    "error_description": f"AADSTS700016: Application with identifier '{client_id}' "
                    "was not found in the directory.\r\nTrace ID: 0000",
                },
            )
            return
        if client.revoked:
            self._send(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000222: The provided client secret keys for app "
                    f"'{client_id}' are expired.\r\nTrace ID: 0000",
                },
            )
            return
        if not self._client_ok(client, secret, form.get("client_assertion")):
            self._send(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0000",
                },
            )
            return
        token = secrets.token_urlsafe(24)
        with state.lock:
            state.tokens[token] = (client_id, time.time() + state.lifetime)
            state.issued.append((client_id, form.get("scope", "")))
            lifetime = state.lifetime
        body: dict[str, Any] = {"token_type": "Bearer", "expires_in": int(lifetime), "access_token": token}
        if entra:
            body["ext_expires_in"] = int(lifetime)
        self._send(200, body)

    def _client_ok(self, client: Client, secret: str | None, assertion: str | None) -> bool:
        if assertion and client.certificate_pem:
            import jwt
            from cryptography import x509

            cert = x509.load_pem_x509_certificate(client.certificate_pem)
            token_url = f"https://127.0.0.1:{self.server.server_address[1]}{self.path.split('?')[0]}"
            try:
                jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"], audience=token_url)  # type: ignore[arg-type]
            except jwt.PyJWTError:
                return False
            return True
        return client.secret is not None and secret == client.secret


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, state: State, context: ssl.SSLContext | None):
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)


class OAuthServer:
    """``token_url``, ``authority`` (Entra-shaped, for MSAL) and ``introspection_url`` on loopback."""

    def __init__(self, cert: Path, key: Path):
        self.state = State()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.cafile = cert
        self._https = self._serve(0, self.context)
        self.https_port = self._https.server_address[1]
        self._http: _Server | None = self._serve(0, None)
        self.http_port = self._http.server_address[1]

    def _serve(self, port: int, context: ssl.SSLContext | None) -> _Server:
        server = _Server(port, self.state, context)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    @property
    def token_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}/token"

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/introspect"

    def add_client(
        self, client_id: str, secret: str | None, mailbox: str, certificate_pem: bytes | None = None
    ) -> None:
        with self.state.lock:
            self.state.clients[client_id] = Client(secret, mailbox, certificate_pem)

    def revoke(self, client_id: str, revoked: bool = True) -> None:
        with self.state.lock:
            self.state.clients[client_id].revoked = revoked

    def issued(self, client_id: str) -> int:
        with self.state.lock:
            return sum(1 for c, _ in self.state.issued if c == client_id)

    def introspection_down(self) -> None:
        """Close the introspection listener: connections are refused until ``introspection_up``."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def introspection_up(self) -> None:
        if self._http is None:
            self._http = self._serve(self.http_port, None)

    def close(self) -> None:
        self.introspection_down()
        self._https.shutdown()
        self._https.server_close()
