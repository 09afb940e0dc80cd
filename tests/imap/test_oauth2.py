"""OAuth2 IMAP logins (``auth: oauth2``) against a real Dovecot whose ``oauth2`` passdb checks each
token with the test's introspection endpoint, the tokens coming from the test's RFC 6749 token
endpoint (generic) or its Entra-shaped tenant through MSAL (entra). See oauth_server.py.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from correspondence_guard import Checker
from correspondence_guard.commands.config_check import check_accounts
from correspondence_guard.config import ConfigError, WatchAccount, WatchSettings, load_config
from correspondence_guard.mailbox import oauth2
from correspondence_guard.mailbox.watcher import Watcher
from correspondence_guard.store.db import Store

if TYPE_CHECKING:
    from oauth_server import OAuthServer

    from conftest import DovecotServer, Mailbox, OAuthDovecot

Eml = Callable[..., bytes]
SECRET = "s3cret-value-never-logged"  # noqa: S105 - a test client's secret
_ids = iter(range(1, 10_000))


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'cg.db'}")
    yield s
    s.close()


@pytest.fixture()
def oauth(oauth_dovecot: OAuthDovecot) -> OAuthServer:
    auth = oauth_dovecot.oauth
    auth.state.lifetime = 3600
    auth.introspection_up()
    return auth


@pytest.fixture()
def box(oauth_dovecot: OAuthDovecot) -> Mailbox:
    return oauth_dovecot.mailbox()


def oauth_account(
    box: Mailbox, auth: OAuthServer, tmp_path: Path, *, name: str | None = None, **oauth: Any
) -> WatchAccount:
    """A watch account for ``box`` with a new client at ``auth`` (generic provider unless given)."""
    client_id = f"client-{next(_ids)}"
    secret_file = tmp_path / f"{client_id}.secret"
    secret_file.write_text(SECRET + "\n")
    auth.add_client(client_id, SECRET, box.user)
    settings: dict[str, Any] = {
        "provider": "generic",
        "token_url": auth.token_url,
        "client_id": client_id,
        "client_secret_file": str(secret_file),
        "scope": "imap",
    }
    settings.update(oauth)
    return box.account(
        name=name or client_id,
        auth="oauth2",
        password_file=None,
        oauth2=settings,
        ca_file=auth.cafile,  # the token endpoint's self-signed certificate
    )


def make_watcher(store: Store, checker: Checker, accounts: list[WatchAccount], **settings: Any) -> Watcher:
    ws = WatchSettings(accounts=accounts, **{"backoff_max_seconds": 1, "poll_seconds": 1, **settings})
    return Watcher(ws, store, checker, idle_tick=0.25, connect_timeout=5, read_timeout=10)


@contextmanager
def running(watcher: Watcher) -> Iterator[Watcher]:
    thread = threading.Thread(target=watcher.run, name="test-watcher")
    thread.start()
    try:
        yield watcher
    finally:
        watcher.stop.set()
        thread.join(20)
        assert not thread.is_alive(), "the watcher did not stop"


def wait_for(condition: Callable[[], Any], timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def recorded(store: Store, account: str) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM message_locations WHERE account = :a"), {"a": account}
            ).scalar_one()
        )


def kick(server: DovecotServer, user: str) -> None:
    """End ``user``'s sessions as a server does (BYE); waits for one to exist (a reconnect may be under way)."""
    wait_for(
        lambda: (
            subprocess.run(["doveadm", "-c", str(server.conf), "kick", user], capture_output=True).returncode
            == 0
        ),
        timeout=5,
        what=f"a session of {user} to kick",
    )


def no_secret_anywhere(store: Store, caplog: pytest.LogCaptureFixture, auth: OAuthServer) -> None:
    db = Path(str(store.engine.url.database)).read_bytes()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for token in [SECRET, *auth.state.tokens]:
        assert token.encode() not in db and token not in logs


# -- login ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mechanism", "client_auth"), [("XOAUTH2", "basic"), ("OAUTHBEARER", "post")])
def test_generic_token_logs_in_and_the_watcher_records_mail(
    mechanism: str,
    client_auth: str,
    eml: Eml,
    box: Mailbox,
    oauth: OAuthServer,
    store: Store,
    checker: Checker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    box.append("INBOX", eml(flagged=True))
    box.append("INBOX", eml())
    account = oauth_account(box, oauth, tmp_path, mechanism=mechanism, client_auth=client_auth)
    watcher = make_watcher(store, checker, [account])
    assert watcher.run_once()
    assert watcher.stats["checked"] == 2 and watcher.stats["flagged"] == 1
    client_id = account.oauth2.client_id  # type: ignore[union-attr]
    assert oauth.issued(client_id) == 1
    assert oauth.state.issued[-1] == (client_id, "imap")
    assert any(t in oauth.state.tokens for t in oauth.state.introspected)  # Dovecot asked about it
    assert watcher.run_once()  # the cached token serves a second login
    assert oauth.issued(client_id) == 1
    no_secret_anywhere(store, caplog, oauth)
    dovecot_log = (box.server.root / "dovecot.log").read_text()
    assert f"user=<{box.user}>, method={mechanism}" in dovecot_log


def test_a_wrong_secret_is_one_clear_error_naming_the_endpoint(
    box: Mailbox, oauth: OAuthServer, tmp_path: Path
) -> None:
    account = oauth_account(box, oauth, tmp_path)
    Path(account.oauth2.client_secret_file).write_text("wrong\n")  # type: ignore[union-attr, arg-type]
    with pytest.raises(oauth2.TokenError) as err:
        oauth2.provider_for(account).token()
    assert str(err.value) == (
        f"OAuth2 token request to {oauth.token_url} refused: invalid_client: "
        "AADSTS7000215: Invalid client secret provided."
    )


def test_the_token_endpoint_is_verified_with_the_accounts_ca_file(
    box: Mailbox, oauth: OAuthServer, tmp_path: Path
) -> None:
    account = oauth_account(box, oauth, tmp_path)
    account = account.model_copy(update={"ca_file": None})  # the system store: the test CA is unknown
    with pytest.raises(oauth2.TokenError, match=r"unreachable: .*CERTIFICATE_VERIFY_FAILED"):
        oauth2.provider_for(account).token()


# -- Entra through MSAL, against the test's tenant ------------------------------------------------------
def _certificate(tmp_path: Path) -> tuple[Path, bytes]:
    key, cert = tmp_path / "app-key.pem", tmp_path / "app-cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=cg-app",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    both = tmp_path / "app.pem"
    both.write_bytes(key.read_bytes() + cert.read_bytes())
    return both, cert.read_bytes()


@pytest.mark.parametrize("credential", ["secret", "certificate"])
def test_entra_through_msal_logs_in(
    credential: str,
    eml: Eml,
    box: Mailbox,
    oauth: OAuthServer,
    store: Store,
    checker: Checker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box.append("INBOX", eml())
    tenant = "11111111-2222-3333-4444-555555555555"
    client_id = f"entra-{next(_ids)}"
    settings: dict[str, Any] = {
        "provider": "entra",
        "tenant_id": tenant,
        "authority": oauth.authority,
        "client_id": client_id,
    }
    if credential == "secret":
        monkeypatch.setenv("CG_TEST_ENTRA_SECRET", SECRET)
        settings["client_secret_env"] = "CG_TEST_ENTRA_SECRET"
        oauth.add_client(client_id, SECRET, box.user)
    else:
        pem, cert = _certificate(tmp_path)
        settings["certificate_file"] = str(pem)
        oauth.add_client(client_id, None, box.user, certificate_pem=cert)
    account = box.account(
        name=client_id, auth="oauth2", password_file=None, oauth2=settings, ca_file=oauth.cafile
    )
    watcher = make_watcher(store, checker, [account])
    assert watcher.run_once()
    assert watcher.stats["checked"] == 1
    form = oauth.state.forms[-1]
    assert form["grant_type"] == "client_credentials" and form["client_id"] == client_id
    assert set(form["scope"].split()) >= {"https://outlook.office365.com/.default"}
    if credential == "certificate":  # a signed assertion (checked by the server), no secret
        assert "client_assertion" in form and "client_secret" not in form


def test_entra_unknown_app_is_reported_with_the_aadsts_error(
    box: Mailbox, oauth: OAuthServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CG_TEST_ENTRA_SECRET", SECRET)
    account = box.account(
        name="unknown-app",
        auth="oauth2",
        password_file=None,
        ca_file=oauth.cafile,
        oauth2={
            "provider": "entra",
            "tenant_id": "t1",
            "authority": oauth.authority,
            "client_id": "not-registered",
            "client_secret_env": "CG_TEST_ENTRA_SECRET",
        },
    )
    with pytest.raises(
        oauth2.TokenError, match=r"unauthorized_client: AADSTS700016: Application with identifier"
    ):
        oauth2.provider_for(account).token()


# -- expiry, revocation and an introspection endpoint that is down --------------------------------------
def test_a_token_expiring_mid_idle_is_renewed(
    eml: Eml,
    box: Mailbox,
    oauth: OAuthServer,
    store: Store,
    checker: Checker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    oauth.state.lifetime = 2  # renewed 0.4 s before it expires
    account = oauth_account(box, oauth, tmp_path)
    client_id = account.oauth2.client_id  # type: ignore[union-attr]
    watcher = make_watcher(store, checker, [account], idle_seconds=600)
    with running(watcher):
        wait_for(lambda: oauth.issued(client_id) == 1, what="the first token")
        time.sleep(0.5)  # in IDLE now
        wait_for(lambda: oauth.issued(client_id) >= 2, timeout=5, what="a second token")
        # the server ends the session (Exchange Online sends BYE when the token expires)
        kick(box.server, box.user)
        time.sleep(2.2)  # the first token has expired by now
        box.append("INBOX", eml())
        wait_for(lambda: recorded(store, account.name) == 1, timeout=5, what="mail after the renewal")
    assert oauth.issued(client_id) >= 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("OAuth2 token due for renewal" in m for m in messages) >= 2
    assert not any("login failed" in m or "no OAuth2 token" in m for m in messages)


def test_a_revoked_client_is_logged_once_per_attempt_with_backoff_and_other_accounts_go_on(
    eml: Eml,
    box: Mailbox,
    oauth: OAuthServer,
    store: Store,
    checker: Checker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    oauth_dovecot: OAuthDovecot,
) -> None:

    caplog.set_level(logging.INFO, logger="correspondence_guard")
    other = oauth_dovecot.mailbox()
    revoked = oauth_account(box, oauth, tmp_path, name="revoked")
    fine = oauth_account(other, oauth, tmp_path, name="fine")
    watcher = make_watcher(store, checker, [revoked, fine], idle_seconds=600)
    with running(watcher):
        box.append("INBOX", eml())
        wait_for(lambda: recorded(store, "revoked") == 1, what="the first login's mail")
        oauth.revoke(revoked.oauth2.client_id)  # type: ignore[union-attr]
        kick(box.server, box.user)  # its session ends; the cached token is now refused
        started = time.monotonic()
        other.append("INBOX", eml())
        wait_for(lambda: recorded(store, "fine") == 1, what="the other account's mail")
        time.sleep(max(0.0, 3.5 - (time.monotonic() - started)))
        failures = [
            r
            for r in caplog.records
            if r.getMessage().startswith("revoked/INBOX: ") and r.levelno == logging.WARNING
        ]
        oauth.revoke(revoked.oauth2.client_id, revoked=False)  # type: ignore[union-attr]
        box.append("INBOX", eml())
        wait_for(lambda: recorded(store, "revoked") == 2, timeout=8, what="mail once the client is back")
    lines = [r.getMessage() for r in failures]
    assert any("login failed (LoginError: XOAUTH2 token refused: " in m for m in lines), lines
    refused = [m for m in lines if "no OAuth2 token (OAuth2 token request to" in m]
    assert refused and all(
        "invalid_client: AADSTS7000222: The provided client secret keys" in m for m in refused
    )
    assert 2 <= len(lines) <= 8, lines  # backoff (0.5-1 s here), not a tight loop
    assert all(r.exc_info is None for r in failures)  # one line each, no traceback
    assert recorded(store, "fine") == 1
    no_secret_anywhere(store, caplog, oauth)


def test_an_introspection_endpoint_that_is_down_is_retried(
    eml: Eml,
    box: Mailbox,
    oauth: OAuthServer,
    store: Store,
    checker: Checker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    box.append("INBOX", eml())
    account = oauth_account(box, oauth, tmp_path)
    oauth.introspection_down()
    watcher = make_watcher(store, checker, [account], idle_seconds=600)
    with running(watcher):
        wait_for(lambda: any("login failed" in r.getMessage() for r in caplog.records), what="a failed login")
        assert recorded(store, account.name) == 0
        oauth.introspection_up()
        wait_for(lambda: recorded(store, account.name) == 1, timeout=8, what="mail once it is back")
    failed = [r.getMessage() for r in caplog.records if "login failed" in r.getMessage()]
    assert all(
        m.startswith(f"{account.name}/INBOX: login failed (LoginError: XOAUTH2 token refused: ")
        for m in failed
    )
    assert any("connected again after" in r.getMessage() for r in caplog.records)


# -- config and config check ----------------------------------------------------------------------------
def test_config_check_reports_each_account(
    box: Mailbox, oauth: OAuthServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = oauth_account(box, oauth, tmp_path, name="good")
    bad = oauth_account(box, oauth, tmp_path, name="bad")
    oauth.revoke(bad.oauth2.client_id)  # type: ignore[union-attr]
    password = box.account(name="by-password", password_file=box.password_file)
    assert check_accounts([good, bad, password]) is False
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"account good: OK: token from {oauth.token_url}; IMAP login to 127.0.0.1:{box.server.port} as {box.user}"
    )
    assert out[1].startswith(
        f"account bad: FAILED: OAuth2 token request to {oauth.token_url} refused: invalid_client: AADSTS7000222"
    )
    assert out[2] == f"account by-password: OK: IMAP login to 127.0.0.1:{box.server.port} as {box.user}"


@pytest.mark.parametrize(
    ("oauth2_block", "error"),
    [
        ("{provider: entra, client_id: a, client_secret_env: X}", "provider entra needs tenant_id"),
        ("{provider: generic, client_id: a, client_secret_env: X}", "provider generic needs token_url"),
        (
            "{provider: generic, token_url: 'http://idp.example/token', client_id: a, client_secret_env: X}",
            "the token endpoint must be https://",
        ),
        (
            "{provider: entra, tenant_id: t, client_id: a, client_secret: hunter2}",
            "the client secret does not go in the config file",
        ),
        ("{provider: entra, tenant_id: t, client_id: a}", "name the client secret"),
        (
            "{provider: entra, tenant_id: t, client_id: a, client_secret_env: X, mechanism: PLAIN}",
            "mechanism",
        ),
    ],
)
def test_bad_oauth2_blocks_are_one_line_errors(oauth2_block: str, error: str, tmp_path: Path) -> None:
    directory = Path(__file__).resolve().parents[1] / "data" / "directory.yaml"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"directory: {directory}\nwatch:\n  accounts:\n  - name: m365\n    host: outlook.office365.com\n"
        f"    username: dp@ashdown.gov.uk\n    auth: oauth2\n    oauth2: {oauth2_block}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert error in str(err.value) and "\n" not in str(err.value)
    assert "hunter2" not in str(err.value)


def test_an_oauth2_account_without_its_secret_fails_before_watching(
    box: Mailbox, oauth: OAuthServer, store: Store, checker: Checker, tmp_path: Path
) -> None:
    account = oauth_account(
        box, oauth, tmp_path, client_secret_file=None, client_secret_env="CG_TEST_UNSET_SECRET"
    )
    with pytest.raises(
        ConfigError, match=r"oauth2.client_secret: no secret found \(set \$CG_TEST_UNSET_SECRET\)"
    ):
        make_watcher(store, checker, [account])
