"""A throw-away Dovecot IMAP server on loopback for the watcher tests (and bench/soak_watch.py).

``DovecotServer`` writes a config, a passwd-file and a self-signed certificate into a temp
folder and runs ``dovecot -F -c CONF`` in its own process group on free loopback ports:

* ``port``: plaintext with STARTTLS (LOGIN allowed without TLS, for tests only);
* ``tls_port``: implicit TLS with the self-signed certificate (``cafile``);
* ``noidle_port`` on 127.0.0.2: the same server advertising no IDLE (polling fallback).

Each test gets its own mail user (``server.new_user()``), so tests never see each other's mail.
Nothing touches the system Dovecot service or /etc/dovecot. Tests skip when dovecot is absent.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from correspondence_guard.config import WatchAccount
from support import free_port, self_signed_certificate

NOIDLE_HOST = "127.0.0.2"
USERS = 100
_CONF = """\
# correspondence-guard test IMAP server (Dovecot 2.3); generated, throw-away
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1, {noidle_host}
ssl = yes
ssl_cert = <{d}/tls/cert.pem
ssl_key = <{d}/tls/key.pem
disable_plaintext_auth = no
{auth}userdb {{
  driver = static
  args = uid={mu} gid={mg} home={d}/mail/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
service imap-login {{
  {chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
  inet_listener imap_noidle {{
    address = {noidle_host}
    port = {noidle_port}
  }}
}}
local {noidle_host} {{
  protocol imap {{
    imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE NAMESPACE UIDPLUS UNSELECT SPECIAL-USE
  }}
}}
"""
_AUTH_PASSWORD = """\
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = {d}/users
}}
"""
# OAuth2 (XOAUTH2, OAUTHBEARER) checked by the test's introspection endpoint, beside the passwords
# the tests' own mail-client helpers use; no failure delay or penalty, so refusals are quick
_AUTH_OAUTH2 = """\
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = {d}/users
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/dovecot-oauth2.conf.ext
}}
"""
_OAUTH2_EXT = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 3000
"""
_ROOTLESS = """\
default_internal_user = {mu}
default_internal_group = {mg}
default_login_user = {mu}
service anvil {{
  chroot =
}}
"""


class DovecotServer:
    """One Dovecot instance in ``root``; ``start()``, ``stop()``, ``restart()``, ``new_user()``."""

    def __init__(self, root: Path, introspection_url: str | None = None):
        """``introspection_url``: also accept OAuth2 tokens, checked there (RFC 7662, POST)."""
        self.introspection_url = introspection_url
        if not shutil.which("dovecot") or not shutil.which("openssl"):
            raise RuntimeError("dovecot or openssl is not installed")
        self.root = root
        self.host = "127.0.0.1"
        self.port, self.tls_port, self.noidle_port = free_port(), free_port(), free_port(NOIDLE_HOST)
        self.cafile = root / "tls" / "cert.pem"
        self.conf = root / "dovecot.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        self._users = itertools.count(1)
        self._write_config()

    def _write_config(self) -> None:
        d = self.root
        for sub in ("run", "state", "mail", "tls"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)  # the mail uid must be able to traverse it
        self_signed_certificate(self.cafile, d / "tls" / "key.pem")
        # a pool of users written up front: a passwd-file changed within the same second may not be re-read
        (d / "users").write_text("".join(f"user{i}:{{PLAIN}}user{i}-pass\n" for i in range(1, USERS + 1)))
        if os.getuid() == 0:
            mu, mg, chroot = "nobody", "nogroup", ""
            shutil.chown(d / "mail", mu, mg)
        else:
            import grp
            import pwd

            mu, mg, chroot = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name, "chroot ="
        auth = (_AUTH_OAUTH2 if self.introspection_url else _AUTH_PASSWORD).format(d=d)
        if self.introspection_url:
            (d / "dovecot-oauth2.conf.ext").write_text(_OAUTH2_EXT.format(url=self.introspection_url))
        conf = _CONF.format(
            auth=auth,
            d=d,
            mu=mu,
            mg=mg,
            chroot=chroot,
            port=self.port,
            tls_port=self.tls_port,
            noidle_port=self.noidle_port,
            noidle_host=NOIDLE_HOST,
        )
        if os.getuid() != 0:
            conf += _ROOTLESS.format(mu=mu, mg=mg)
        self.conf.write_text(conf)
        subprocess.run(["doveconf", "-c", str(self.conf), "-n"], check=True, capture_output=True)

    def new_user(self) -> tuple[str, str]:
        """A mail user no one has used yet: (name, password)."""
        n = next(self._users)
        if n > USERS:
            raise RuntimeError(f"more than {USERS} test users: raise USERS in tests/imap/conftest.py")
        return f"user{n}", f"user{n}-pass"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.conf)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), 0.5) as s:
                    if s.recv(4).startswith(b"* OK"):
                        return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"dovecot exited with {self.proc.returncode}; see {self.root}/dovecot.log"
                    ) from None
                time.sleep(0.02)
        raise RuntimeError("dovecot did not answer within 15 s")

    def stop(self) -> None:
        """Stop the master and every child (login and imap processes too): the whole process group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def doveadm(self, *args: str, stdin: bytes | None = None) -> str:
        proc = subprocess.run(
            ["doveadm", "-c", str(self.conf), *args], input=stdin, capture_output=True, check=True
        )
        return proc.stdout.decode("utf-8", "replace")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    if not shutil.which("dovecot"):
        pytest.skip(
            "dovecot is not installed (apt-get install dovecot-imapd); the IMAP tests need a real server"
        )
    root = Path(tempfile.mkdtemp(prefix="cg-dovecot-"))
    server = DovecotServer(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


class OAuthDovecot:
    """A Dovecot that also takes OAuth2 tokens (``server``), the loopback OAuth2 server that issues
    them and that Dovecot asks about them (``oauth``, oauth_server.py), and fresh mail users."""

    def __init__(self, server: DovecotServer, oauth: Any):
        self.server, self.oauth = server, oauth

    def mailbox(self) -> Mailbox:
        return Mailbox(self.server, *self.server.new_user())


@pytest.fixture(scope="session")
def oauth_dovecot() -> Iterator[OAuthDovecot]:
    from oauth_server import OAuthServer

    if not shutil.which("dovecot"):
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="cg-dovecot-oauth-"))
    (root / "tls").mkdir(parents=True)
    self_signed_certificate(root / "tls" / "oauth-cert.pem", root / "tls" / "oauth-key.pem")
    oauth = OAuthServer(root / "tls" / "oauth-cert.pem", root / "tls" / "oauth-key.pem")
    server = DovecotServer(root, introspection_url=oauth.introspection_url)
    try:
        server.start()
        yield OAuthDovecot(server, oauth)
    finally:
        server.stop()
        oauth.close()
        shutil.rmtree(root, ignore_errors=True)


# -- mailboxes and messages for the tests ------------------------------------------------------------
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")


class Mailbox:
    """A fresh mail user on the test server, with helpers that go through IMAP like a mail client."""

    def __init__(self, server: DovecotServer, user: str, password: str):
        self.server, self.user, self.password = server, user, password
        self.password_file = server.root / f"{user}.secret"
        self.password_file.write_text(password + "\n")

    def client(self) -> IMAPClient:
        c = IMAPClient(self.server.host, port=self.server.port, ssl=False, timeout=10)
        c.login(self.user, self.password)
        return c

    def append(self, folder: str, raw: bytes, flags: tuple[bytes, ...] = ()) -> int:
        """APPEND one message; returns its UID (from APPENDUID)."""
        c = self.client()
        try:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            match = _APPENDUID.search(c.append(folder, raw, flags=flags))
        finally:
            c.logout()
        assert match, "the server sent no APPENDUID"
        return int(match.group(2))

    def append_many(self, folder: str, messages: list[bytes]) -> None:
        c = self.client()
        try:
            for i in range(0, len(messages), 200):
                c.multiappend(folder, messages[i : i + 200])
        finally:
            c.logout()

    def fetch(self, folder: str, what: list[str]) -> dict[int, dict[bytes, Any]]:
        """FETCH ``what`` for every message of ``folder``, read-only (EXAMINE: changes nothing)."""
        c = self.client()
        try:
            c.select_folder(folder, readonly=True)
            uids = c.search(["ALL"])
            return dict(c.fetch(uids, what)) if uids else {}
        finally:
            c.logout()

    def flags(self, folder: str) -> dict[int, set[bytes]]:
        return {uid: set(d[b"FLAGS"]) - {b"\\Recent"} for uid, d in self.fetch(folder, ["FLAGS"]).items()}

    def account(self, name: str = "shared", folders: tuple[str, ...] = ("INBOX",), **kw: Any) -> WatchAccount:
        values: dict[str, Any] = {
            "name": name,
            "host": self.server.host,
            "port": self.server.port,
            "security": "none",
            "username": self.user,
            "password_file": self.password_file,
            "folders": list(folders),
        }
        values.update(kw)
        return WatchAccount(**values)


@pytest.fixture()
def mailbox(dovecot: DovecotServer) -> Mailbox:
    if dovecot.proc is None or dovecot.proc.poll() is not None:
        dovecot.start()  # a test that stopped the server failed before starting it again
    return Mailbox(dovecot, *dovecot.new_user())


@pytest.fixture(scope="session")
def eml() -> Callable[..., bytes]:
    """``make_eml`` below, for tests: ``eml(flagged=True)``."""
    return make_eml


_counter = itertools.count(1)


def make_eml(
    flagged: bool = False, subject: str | None = None, mid: str | None = "auto", pad: int = 0
) -> bytes:
    """A message from the test directory's people: ``flagged`` is a member's reply to all members
    (the reply-all-members rule), otherwise one officer writing to another (clear)."""
    n = next(_counter)
    if flagged:
        sender, to, subj = (
            "Beatrix Quennell <cllr.beatrix.quennell@ashdown.gov.uk>",
            "All Councillors <all.councillors@ashdown.gov.uk>",
            f"Re: Budget amendment {n}",
        )
        body = "Thank you, noted."
    else:
        sender, to, subj = (
            "Oswin Thackeray <oswin.thackeray@ashdown.gov.uk>",
            "Marisol Quayle <marisol.quayle@ashdown.gov.uk>",
            f"Site visit {n}",
        )
        body = "The depot key is at reception."
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject or subj}",
        "Date: Mon, 02 Mar 2026 09:30:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if flagged:
        headers.append("In-Reply-To: <budget-original@ashdown.gov.uk>")
    if mid == "auto":
        mid = f"<test-{n}-{time.time_ns()}@ashdown.gov.uk>"
    if mid:
        headers.append(f"Message-ID: {mid}")
    text = body + ("\n" + "x" * 76) * (pad // 77)
    return ("\r\n".join(headers) + "\r\n\r\n" + text.replace("\n", "\r\n") + "\r\n").encode()
