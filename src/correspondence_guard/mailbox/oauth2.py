"""OAuth2 app-only tokens for mailbox accounts (``auth: oauth2``), and the IMAP SASL login with them.

Two providers, both the client-credentials grant (no user signs in):

* ``entra``: Microsoft Entra ID through MSAL for Python, with a client secret or a certificate;
  scope ``https://outlook.office365.com/.default`` for IMAP, ``https://graph.microsoft.com/.default``
  for Graph. The user of the IMAP login is the mailbox address.
* ``generic``: any RFC 6749 token endpoint (``token_url``), client_secret_basic or _post.

One ``TokenProvider`` per account and scope, shared by the account's threads. A token is kept
until it is within ``min(300 s, a fifth of its lifetime)`` of expiry, then a new one is asked
for; ``renew_at`` tells a long IDLE when to reconnect with a fresh one. A token the server
refuses is dropped (``invalidate``), so the next login asks for a new one. The token endpoint is
verified with the account's ``ca_file`` when set, else the system store.

Secrets (client secret, key, tokens) are never logged, stored or put in an error message; a
refused request gives the endpoint's ``error`` and the first line of ``error_description``
(e.g. ``invalid_client: AADSTS7000215: Invalid client secret provided.``).
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from correspondence_guard.config import ConfigError, OAuth2Settings, WatchAccount
from correspondence_guard.errors import CorrespondenceGuardError

REFRESH_MARGIN_SECONDS = 300.0
HTTP_TIMEOUT_SECONDS = 20.0


class TokenError(CorrespondenceGuardError):
    """The token endpoint refused the request or could not be reached (one line, no secret)."""


def _first_line(text: Any, limit: int = 300) -> str:
    line = str(text or "").strip().splitlines()
    return line[0][:limit] if line else ""


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class TokenProvider:
    """Client-credentials tokens for one account and scope, cached until near expiry."""

    def __init__(self, account: str, settings: OAuth2Settings, scope: str | None, ca_file: Path | None):
        self.account = account
        self.settings = settings
        self.scope = scope
        self.ca_file = ca_file
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0  # time.monotonic()
        self._renew = 0.0
        self.requests = 0  # token requests made (for tests and config check)

    # -- the cache ------------------------------------------------------------------------
    def token(self) -> str:
        """A token valid for a while yet: the cached one, or a new one from the endpoint."""
        with self._lock:
            now = time.monotonic()
            if self._token is None or now >= self._renew:
                value, lifetime = self._request()
                self.requests += 1
                lifetime = max(1.0, lifetime)
                self._token = value
                self._expires = now + lifetime
                self._renew = self._expires - min(REFRESH_MARGIN_SECONDS, lifetime / 5)
            return self._token

    def renew_at(self) -> float | None:
        """When (time.monotonic()) the current token is due for renewal; None if none is held."""
        with self._lock:
            return self._renew if self._token is not None else None

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (the one given, if given): the server refused it."""
        with self._lock:
            if token is None or token == self._token:
                self._token = None
                self._forget()

    def _forget(self) -> None:
        """Drop any cache below ours (MSAL's)."""

    def _request(self) -> tuple[str, float]:  # (access token, lifetime in seconds)
        raise NotImplementedError

    def endpoint(self) -> str:
        raise NotImplementedError

    def _fail(self, what: str) -> TokenError:
        return TokenError(f"OAuth2 token request to {self.endpoint()} refused: {what}")


class GenericProvider(TokenProvider):
    """RFC 6749 §4.4 client credentials against ``token_url``."""

    def endpoint(self) -> str:
        return str(self.settings.token_url)

    def _request(self) -> tuple[str, float]:
        s = self.settings
        try:
            secret = _account_secret(self.account, s)
        except ConfigError as exc:
            raise TokenError(str(exc)) from None
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if s.client_auth == "basic":  # §2.3.1: both form-urlencoded, then Basic
            pair = f"{urllib.parse.quote(s.client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form.update(client_id=s.client_id, client_secret=secret)
        request = urllib.request.Request(
            self.endpoint(), data=urllib.parse.urlencode(form).encode(), headers=headers, method="POST"
        )
        context = ssl_context(self.ca_file) if self.endpoint().startswith("https:") else None
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS, context=context) as resp:
                body = resp.read(1024 * 1024)
        except urllib.error.HTTPError as exc:
            body = exc.read(64 * 1024) if exc.fp else b""
            raise self._fail(_oauth_error(body) or f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TokenError(
                f"OAuth2 token endpoint {self.endpoint()} unreachable: {_first_line(reason)}"
            ) from None
        return _token_from(body, self._fail)


def _oauth_error(body: bytes) -> str:
    """``error: first line of error_description`` from an RFC 6749 §5.2 error body, or ''."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict) or not data.get("error"):
        return ""
    desc = _first_line(data.get("error_description"))
    return f"{_first_line(data['error'], 80)}: {desc}" if desc else _first_line(data["error"], 80)


def _token_from(body: bytes, fail: Any) -> tuple[str, float]:
    try:
        data = json.loads(body)
    except ValueError:
        raise fail("the reply is not JSON") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("access_token"), str)
        or not data["access_token"]
    ):
        raise fail(_oauth_error(body) or "the reply has no access_token")
    try:
        lifetime = float(data.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600.0
    return data["access_token"], lifetime


def _account_secret(account: str, s: OAuth2Settings) -> str:
    from correspondence_guard.config import read_secret

    return read_secret(
        s.client_secret_env, s.client_secret_file, f"watch.accounts[{account}].oauth2.client_secret"
    )


class EntraProvider(TokenProvider):
    """Microsoft Entra ID app-only tokens through MSAL (``acquire_token_for_client``)."""

    def __init__(self, account: str, settings: OAuth2Settings, scope: str | None, ca_file: Path | None):
        super().__init__(account, settings, scope, ca_file)
        self._app: Any = None

    def endpoint(self) -> str:
        return f"{self.settings.authority.rstrip('/')}/{self.settings.tenant_id}"

    def _forget(self) -> None:
        self._app = None  # MSAL keeps its own cache: a new app starts without the refused token

    def _credential(self) -> Any:
        s = self.settings
        if s.certificate_file is None:
            try:
                return _account_secret(self.account, s)
            except ConfigError as exc:
                raise TokenError(str(exc)) from None
        return certificate_credential(self.account, s.certificate_file)

    def _make_app(self) -> Any:
        import msal
        import requests

        try:
            return msal.ConfidentialClientApplication(
                self.settings.client_id,
                client_credential=self._credential(),
                authority=self.endpoint(),
                http_client=http_session(self.ca_file),
                # a login host other than Microsoft's public ones (a national cloud, a test) is trusted
                # as configured: no instance discovery at login.microsoftonline.com
                instance_discovery=self._known_host(),
                validate_authority=self._known_host(),
            )
        except requests.exceptions.RequestException as exc:
            raise TokenError(
                f"Entra login endpoint {self.endpoint()} unreachable: {type(exc).__name__}"
            ) from None
        except ValueError as exc:  # an unknown tenant: MSAL's discovery error
            raise self._fail(_first_line(exc)) from None

    def _known_host(self) -> bool:
        from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

        host = urllib.parse.urlsplit(self.settings.authority).hostname or ""
        return host in WELL_KNOWN_AUTHORITY_HOSTS

    def _request(self) -> tuple[str, float]:
        import requests

        if self._app is None:
            self._app = self._make_app()
        try:
            result = self._app.acquire_token_for_client(scopes=[self.scope or ""])
        except requests.exceptions.RequestException as exc:
            raise TokenError(
                f"Entra token endpoint {self.endpoint()} unreachable: {type(exc).__name__}"
            ) from None
        except ValueError as exc:
            raise self._fail(_first_line(exc)) from None
        if not isinstance(result, dict) or "access_token" not in result:
            result = result if isinstance(result, dict) else {}
            error = _first_line(result.get("error"), 80) or "no token"
            desc = _first_line(result.get("error_description"))
            raise self._fail(f"{error}: {desc}" if desc else error)
        return str(result["access_token"]), float(result.get("expires_in", 3600))


def http_session(ca_file: Path | None) -> Any:
    """A requests Session that verifies with ``ca_file`` (else the system store) and times out.

    The CA goes with each request: requests lets $REQUESTS_CA_BUNDLE override a Session's own
    ``verify``, but not a request's.
    """
    import requests

    class _Session(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            if ca_file is not None:
                kwargs["verify"] = str(ca_file)
            kwargs.setdefault("timeout", HTTP_TIMEOUT_SECONDS)
            return super().request(method, url, *args, **kwargs)

    return _Session()


def certificate_credential(account: str, path: Path) -> dict[str, str]:
    """MSAL's certificate credential from one PEM file holding the private key and its certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    where = f"watch.accounts[{account}].oauth2.certificate_file {path}"
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise TokenError(f"{where}: cannot read: {exc.strerror}") from None
    try:
        cert = x509.load_pem_x509_certificate(pem)
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TokenError(
            f"{where}: needs an unencrypted private key and its certificate (PEM): {exc}"
        ) from None
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "private_key": key_pem,
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - Entra's x5t is SHA-1
        "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
    }


_providers: dict[tuple[str, str, str | None], TokenProvider] = {}
_providers_lock = threading.Lock()


def provider_for(account: WatchAccount, *, graph: bool = False) -> TokenProvider:
    """The account's token provider (one per account, settings and scope in this process)."""
    settings = account.oauth2
    if settings is None:
        raise ConfigError(f"watch.accounts[{account.name}]: auth oauth2 needs an oauth2: block")
    scope = settings.default_scope(graph=graph)
    key = (account.name, settings.model_dump_json() + str(account.ca_file), scope)
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            cls = EntraProvider if settings.provider == "entra" else GenericProvider
            provider = _providers[key] = cls(account.name, settings, scope, account.ca_file)
        return provider


def login(client: IMAPClient, account: WatchAccount) -> TokenProvider:
    """SASL XOAUTH2 or OAUTHBEARER with the account's token; a refused token is forgotten."""
    provider = provider_for(account)
    token = provider.token()
    mechanism = account.oauth2.mechanism if account.oauth2 else "XOAUTH2"
    try:
        if mechanism == "OAUTHBEARER":
            client.oauthbearer_login(account.username, token)
        else:
            client.oauth2_login(account.username, token, mech="XOAUTH2")
    except LoginError as exc:
        provider.invalidate(token)
        raise LoginError(f"{mechanism} token refused: {_first_line(exc)}") from None
    return provider
