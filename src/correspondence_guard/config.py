"""The service configuration shared by ``serve``, ``watch``, ``review`` and ``schedule``.

One YAML or TOML file (``--config FILE`` or ``$CG_CONFIG``); every setting can be
overridden by an environment variable ``CG_<SECTION>__<KEY>`` (for example
``CG_SERVICE__PORT=8443``, ``CG_STORE__URL=postgresql+psycopg://...``). Secrets are never
written in the file in clear: the service token and IMAP passwords come from an
environment variable or a file named in the config.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from correspondence_guard.errors import CorrespondenceGuardError


class ConfigError(CorrespondenceGuardError):
    """The service configuration is missing, malformed or holds a bad value."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def read_secret(env: str | None, file: Path | None, what: str) -> str:
    """A secret from an environment variable or a file; ConfigError if neither gives one."""
    if env:
        value = os.environ.get(env, "")
        if value:
            return value
    if file:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {file}: {exc.strerror}") from None
        if value:
            return value
    raise ConfigError(f"{what}: no secret found (set ${env})" if env else f"{what}: no secret configured")


class StoreSettings(_Section):
    url: str = Field(
        "sqlite:///correspondence-guard.db", description="SQLAlchemy URL: SQLite file or PostgreSQL"
    )


MIN_TOKEN_CHARS = 16
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class ServiceSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    certfile: Path | None = Field(None, description="TLS certificate (PEM); HTTPS when set with keyfile")
    keyfile: Path | None = None
    token: SecretStr | None = Field(None, description="bearer token for /v1 (prefer token_env or token_file)")
    token_env: str = "CG_SERVICE_TOKEN"
    token_file: Path | None = None
    allowed_origins: list[str] = Field(default_factory=list, description="origins allowed cross-origin calls")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="host names the service answers to, besides loopback, its bind address and "
        "the allowed origins' hosts (a DNS-rebinding defence)",
    )
    allow_http: bool = Field(
        False, description="serve /v1 over plain HTTP: only for a loopback host, e.g. a test set-up"
    )
    max_request_mb: float = Field(25, gt=0)
    request_head_seconds: float = Field(10, gt=0, le=120, description="to send a request's headers")
    request_body_seconds: float = Field(30, gt=0, le=600, description="to send a request's body")
    max_connections: int = Field(
        2000,
        ge=4,
        description="open connections; over it, those waiting longest for a request are closed. An "
        "idle socket costs a few KB; a cap below what a flood opens makes it churn (each new socket "
        "closes an old one, which reconnects at once)",
    )
    check_processes: int = Field(
        0,
        ge=0,
        le=64,
        description="processes that run checks, each with its own model (about 200 MB each); "
        "0 runs them in the service process (one core). On a shared server, one per core",
    )
    addin_dir: Path | None = Field(
        None, description="the Outlook add-in's files (default: deploy/outlook-addin)"
    )

    def bearer_token(self) -> str:
        if self.token is not None and self.token.get_secret_value():
            token = self.token.get_secret_value()
        else:
            token = read_secret(self.token_env, self.token_file, "service.token")
        if len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(
                f"service.token: {len(token)} characters is too short to guess-proof; "
                f"use at least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 32`)"
            )
        return token


OUTLOOK_SCOPE = "https://outlook.office365.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class OAuth2Settings(_Section):
    """An account's OAuth2 client credentials (app-only); the secret is named, never written here."""

    provider: Literal["entra", "generic"]
    tenant_id: str | None = Field(None, description="entra: the directory (tenant) id")
    authority: str = Field(
        "https://login.microsoftonline.com", description="entra: the login host (national clouds differ)"
    )
    token_url: str | None = Field(None, description="generic: the RFC 6749 token endpoint")
    client_id: str = Field(min_length=1)
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    certificate_file: Path | None = Field(
        None, description="entra: PEM with the private key and its certificate, instead of a secret"
    )
    scope: str | None = Field(None, description=f"entra default: {OUTLOOK_SCOPE} ({GRAPH_SCOPE} for Graph)")
    mechanism: Literal["XOAUTH2", "OAUTHBEARER"] = "XOAUTH2"
    client_auth: Literal["basic", "post"] = Field(
        "basic", description="generic: client_secret_basic (RFC 6749 §2.3.1) or client_secret_post"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_secret_here(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("client_secret" in data or "password" in data):
            raise ValueError(
                "the client secret does not go in the config file; use client_secret_env or client_secret_file"
            )
        return data

    @model_validator(mode="after")
    def _complete(self) -> OAuth2Settings:
        if self.provider == "entra":
            if not self.tenant_id:
                raise ValueError("provider entra needs tenant_id")
            if self.token_url:
                raise ValueError("token_url is for provider generic; entra uses tenant_id")
        else:
            if not self.token_url:
                raise ValueError("provider generic needs token_url")
            if self.certificate_file:
                raise ValueError("certificate_file is for provider entra only")
        for url in (self.token_url, self.authority):
            if url and not url.startswith("https://"):
                host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
                if not (url.startswith("http://") and host in LOOPBACK_HOSTS):
                    raise ValueError(f"{url}: the token endpoint must be https:// (http only on loopback)")
        if not (self.client_secret_env or self.client_secret_file or self.certificate_file):
            raise ValueError(
                "name the client secret: client_secret_env, client_secret_file or certificate_file"
            )
        return self

    def default_scope(self, graph: bool = False) -> str | None:
        if self.scope:
            return self.scope
        if self.provider == "entra":
            return GRAPH_SCOPE if graph else OUTLOOK_SCOPE
        return None


class WatchAccount(_Section):
    name: str
    kind: Literal["imap", "graph"] = Field("imap", description="graph: Microsoft Graph (auth oauth2)")
    host: str = Field("", description="the IMAP server (kind imap)")
    graph_url: str = Field("https://graph.microsoft.com/v1.0", description="kind graph: the Graph endpoint")
    port: int = Field(993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    ca_file: Path | None = Field(None, description="CA bundle to verify the server (e.g. a self-signed cert)")
    username: str
    auth: Literal["password", "oauth2"] = "password"
    password_env: str | None = None
    password_file: Path | None = None
    oauth2: OAuth2Settings | None = Field(None, description="with auth: oauth2 (the user is the mailbox)")
    folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    owner: str | None = Field(None, description="mailbox owner's address, for advisory messages")
    keyword: str | None = Field(None, description="IMAP keyword set on flagged messages, e.g. $ProtocolRisk")
    advisory_folder: str | None = Field(None, description="folder to APPEND advisory messages to")

    @model_validator(mode="after")
    def _auth_complete(self) -> WatchAccount:
        if self.auth == "oauth2" and self.oauth2 is None:
            raise ValueError("auth oauth2 needs an oauth2: block")
        if self.auth == "password" and self.oauth2 is not None:
            raise ValueError("an oauth2: block needs auth: oauth2")
        if self.kind == "imap" and not self.host:
            raise ValueError("an IMAP account needs host")
        if self.kind == "graph":
            if self.auth != "oauth2":
                raise ValueError("kind graph needs auth: oauth2 (an app-only token with Mail.Read)")
            # keyword (an Outlook category) and advisory_folder need Mail.ReadWrite instead
        return self

    def password(self) -> str:
        return read_secret(self.password_env, self.password_file, f"watch.accounts[{self.name}].password")

    def check_secrets(self) -> None:
        """ConfigError now, not in a watcher thread, if the account's secret cannot be read."""
        if self.oauth2 is None:
            self.password()
        elif not self.oauth2.certificate_file:
            self.client_secret()
        elif not self.oauth2.certificate_file.is_file():
            raise ConfigError(f"watch.accounts[{self.name}].oauth2.certificate_file: no such file")

    def client_secret(self) -> str:
        o = self.oauth2
        if o is None:
            raise ConfigError(f"watch.accounts[{self.name}]: no oauth2 block")
        return read_secret(
            o.client_secret_env, o.client_secret_file, f"watch.accounts[{self.name}].oauth2.client_secret"
        )


class WatchSettings(_Section):
    accounts: list[WatchAccount] = Field(default_factory=list)
    idle_seconds: int = Field(
        600, ge=5, le=1740, description="IDLE is re-issued after this (RFC 2177: < 29 min)"
    )
    poll_seconds: int = Field(60, ge=1, description="polling interval where the server lacks IDLE")
    max_message_mb: float = Field(25, gt=0)
    backoff_max_seconds: int = Field(300, ge=1)


class ReviewSource(_Section):
    kind: Literal["imap", "graph", "maildir", "mbox", "folder"]
    path: Path | None = None
    account: str | None = None
    folder: str | None = None


class ReviewSettings(_Section):
    cron: str = Field("0 6 * * *", description="when the nightly review runs (crontab syntax)")
    timezone: str | None = Field(None, description="default: the directory's council timezone")
    out_dir: Path = Path("reports")
    sources: list[ReviewSource] = Field(default_factory=list)
    misfire_grace_seconds: int = Field(6 * 3600, ge=1)
    retention_months: int = Field(12, ge=1)


class Config(BaseSettings):
    """The whole configuration file."""

    model_config = SettingsConfigDict(env_prefix="CG_", env_nested_delimiter="__", extra="forbid")

    directory: Path
    policy: Path | None = None
    store: StoreSettings = StoreSettings()
    service: ServiceSettings = ServiceSettings()
    watch: WatchSettings = WatchSettings()
    review: ReviewSettings = ReviewSettings()

    @model_validator(mode="after")
    def _paths_exist(self) -> Config:
        for name, path in (("directory", self.directory), ("policy", self.policy)):
            if path is not None and not path.exists():
                raise ValueError(f"{name}: {path} does not exist")
        svc = self.service
        if (svc.certfile is None) != (svc.keyfile is None):
            raise ValueError("service: certfile and keyfile go together")
        if svc.allow_http and svc.host not in LOOPBACK_HOSTS:
            raise ValueError(f"service.allow_http: only for a loopback host, not {svc.host}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # environment wins over the file


def _read_file(path: Path) -> dict[str, Any]:
    from correspondence_guard.yamlfile import load_yaml

    if path.suffix.lower() == ".toml":
        import tomllib

        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
    try:
        data, _ = load_yaml(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the config must be a mapping")
    return data


# Keys whose values are file or folder paths; relative ones are taken from the config file's folder.
_PATH_KEYS = {
    "directory",
    "policy",
    "certfile",
    "keyfile",
    "token_file",
    "addin_dir",
    "ca_file",
    "password_file",
    "client_secret_file",
    "certificate_file",
    "out_dir",
    "path",
}


def _resolve_paths(data: Any, base: Path) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in _PATH_KEYS and isinstance(value, str) and value and not Path(value).is_absolute():
                data[key] = str(base / value)
            else:
                _resolve_paths(value, base)
    elif isinstance(data, list):
        for item in data:
            _resolve_paths(item, base)


def load_config(path: str | Path | None = None) -> Config:
    """Load the config file (``path``, else ``$CG_CONFIG``), with CG_ environment overrides.

    Relative paths in the file are taken from the file's folder.
    """
    path = Path(path) if path else (Path(os.environ["CG_CONFIG"]) if os.environ.get("CG_CONFIG") else None)
    data: dict[str, Any] = {}
    if path is not None:
        if not path.exists():
            raise ConfigError(f"{path}: no such config file")
        data = _read_file(path)
        service = data.get("service")
        if isinstance(service, dict) and service.get("token"):
            raise ConfigError(
                f"{path}: service.token: the token does not go in the config file; "
                "use service.token_env or service.token_file"
            )
        _resolve_paths(data, path.resolve().parent)
    try:
        return Config(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        msg = "required key is missing" if err["type"] == "missing" else msg
        raise ConfigError(f"{path or 'environment'}: {where}: {msg}") from None
