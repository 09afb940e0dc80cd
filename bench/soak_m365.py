"""Soak test of ``correspondence-guard watch`` on Microsoft 365 style sources, with a restart midway.

Starts the test stand-ins on loopback itself (tests/imap): an RFC 6749 token endpoint with an
introspection endpoint (oauth_server.py), the HTTPS Microsoft Graph stand-in (graph_server.py) and
a throw-away Dovecot whose ``oauth2`` passdb checks every XOAUTH2 login at that introspection
endpoint (conftest.py's DovecotServer). For each source it loads N generated council messages
(default 2,000; one in ten a reply-all by a member), runs the real ``correspondence-guard watch``
against a ``kind: graph`` account and an ``auth: oauth2`` IMAP account, stops it with SIGTERM
once about half are recorded (a clean stop: exit 0), starts it again, and waits until all N are
in the findings store (SQLite in a temp folder). It then checks that every message was recorded
exactly once and prints messages/s for each source (N over the time the watcher ran, both
start-ups included) and "recorded once: yes/no". Exit 1 if anything was lost or repeated.

    .venv/bin/python bench/soak_m365.py [--messages 2000] [--only graph|imap] [--timeout 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "imap"), str(ROOT / "tests")]

from graph_server import GraphServer  # noqa: E402
from oauth_server import OAuthServer  # noqa: E402

from support import self_signed_certificate  # noqa: E402

SECRET = "soak-secret-never-logged"  # noqa: S105 - a throw-away test client's secret
DIRECTORY = ROOT / "tests" / "data" / "directory.yaml"


def _load_conftest() -> Any:
    """tests/imap/conftest.py by path (tests/conftest.py has the same module name)."""
    spec = importlib.util.spec_from_file_location("cg_imap_conftest", ROOT / "tests" / "imap" / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SoakError(Exception):
    pass


def _scalar(engine: sa.Engine, sql: str, **params: Any) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql), params).scalar() or 0)
    except sa.exc.OperationalError:  # the schema is not there yet
        return 0


def _write_config(path: Path, store: Path, account_yaml: str) -> None:
    path.write_text(
        f"directory: {DIRECTORY}\n"
        f"store:\n  url: sqlite:///{store}\n"
        "watch:\n  backoff_max_seconds: 2\n  poll_seconds: 1\n  accounts:\n" + account_yaml
    )


def _oauth2_yaml(oauth: OAuthServer, client_id: str, secret_file: Path, scope: str, extra: str = "") -> str:
    return (
        "      auth: oauth2\n"
        f"      ca_file: {oauth.cafile}\n"
        "      oauth2:\n"
        "        provider: generic\n"
        f"        token_url: {oauth.token_url}\n"
        f"        client_id: {client_id}\n"
        f"        client_secret_file: {secret_file}\n"
        f"        scope: {scope}\n" + extra
    )


def _soak(
    label: str,
    root: Path,
    config: Path,
    store: Path,
    account: str,
    n: int,
    timeout: float,
    expected_sources: Callable[[], set[str]] | None = None,
    extra_checks: Callable[[sa.Engine], list[str]] | None = None,
) -> tuple[float, bool, list[str]]:
    """Run the watcher to about N/2, SIGTERM, run it again to N; (messages/s, recorded once, notes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CG_")}
    engine = sa.create_engine(f"sqlite:///{store}")
    recorded_sql = "SELECT count(*) FROM message_locations WHERE account = :a"
    deadline = time.monotonic() + timeout
    ran = 0.0
    notes: list[str] = []
    watcher: subprocess.Popen[bytes] | None = None
    try:
        for run, target in ((1, n // 2), (2, n)):
            log = open(root / f"{label}-watch-{run}.log", "w")  # noqa: SIM115
            start = time.monotonic()
            watcher = subprocess.Popen(
                [sys.executable, "-m", "correspondence_guard", "watch", "--config", str(config)],
                env=env,
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            while (done := _scalar(engine, recorded_sql, a=account)) < target:
                if watcher.poll() is not None:
                    raise SoakError(
                        f"run {run}: the watcher exited {watcher.returncode} at {done} of {target}"
                    )
                if time.monotonic() > deadline:
                    raise SoakError(f"timed out with {done} of {n} recorded")
                time.sleep(0.05)
            ran += time.monotonic() - start
            if run == 2:
                time.sleep(2.5)  # a poll round or two more: anything read twice would show now
            watcher.send_signal(signal.SIGTERM)
            code = watcher.wait(30)
            log.close()
            at_stop = _scalar(engine, recorded_sql, a=account)
            notes.append(f"run {run}: SIGTERM at {done} recorded -> exit {code}, {at_stop} recorded")
            if code != 0:
                raise SoakError(f"run {run}: watch exited {code} after SIGTERM")
        problems: list[str] = []
        locations = _scalar(engine, recorded_sql, a=account)
        sources = _scalar(
            engine, "SELECT count(DISTINCT source) FROM message_locations WHERE account = :a", a=account
        )
        messages = _scalar(engine, "SELECT count(*) FROM messages")
        keys = _scalar(engine, "SELECT count(DISTINCT message_key) FROM messages")
        if not locations == sources == messages == keys == n:
            problems.append(
                f"{locations} locations, {sources} distinct sources, {messages} messages, "
                f"{keys} distinct keys; expected {n} of each"
            )
        if expected_sources is not None:
            with engine.connect() as conn:
                got = {
                    str(r[0])
                    for r in conn.execute(
                        sa.text("SELECT source FROM message_locations WHERE account = :a"), {"a": account}
                    )
                }
            want = expected_sources()
            if got != want:
                problems.append(f"{len(want - got)} messages missing, {len(got - want)} unexpected")
        if extra_checks is not None:
            problems += extra_checks(engine)
        rate = n / ran if ran else 0.0
        notes.append(f"{n} messages in {ran:.1f} s of watching (two start-ups included)")
        return rate, not problems, notes + problems
    finally:
        if watcher is not None and watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        engine.dispose()


def soak_graph(conftest: Any, root: Path, n: int, timeout: float) -> tuple[float, bool, list[str]]:
    self_signed_certificate(root / "cert.pem", root / "key.pem")
    oauth = OAuthServer(root / "cert.pem", root / "key.pem")

    def token_ok(token: str) -> bool:
        found = oauth.state.tokens.get(token)
        return found is not None and found[1] > time.time()

    graph = GraphServer(root / "cert.pem", root / "key.pem", token_ok)
    try:
        client_id, mailbox = "graph-soak", "data.protection@ashdown.gov.uk"
        oauth.add_client(client_id, SECRET, mailbox)
        secret_file = root / f"{client_id}.secret"
        secret_file.write_text(SECRET)
        ids = [graph.state.add(mailbox, "Inbox", conftest.make_eml(flagged=i % 10 == 0)) for i in range(n)]
        store, config = root / "graph.db", root / "graph.yaml"
        _write_config(
            config,
            store,
            f"    - name: {client_id}\n      kind: graph\n      graph_url: {graph.url}\n"
            f"      username: {mailbox}\n      folders: [Inbox]\n"
            + _oauth2_yaml(oauth, client_id, secret_file, "https://graph.microsoft.com/.default"),
        )
        rate, once, notes = _soak(
            "graph",
            root,
            config,
            store,
            client_id,
            n,
            timeout,
            expected_sources=lambda: {f"graph:{client_id}/Inbox/{i}" for i in ids},
        )
        hits = graph.state.hits
        notes.append(
            f"Graph requests: {hits['delta']} delta pages, {hits['value']} $value fetches, "
            f"{oauth.issued(client_id)} tokens issued"
        )
        return rate, once, notes
    finally:
        graph.close()
        oauth.close()


def soak_imap(conftest: Any, root: Path, n: int, timeout: float) -> tuple[float, bool, list[str]]:
    (root / "tls").mkdir(parents=True)
    self_signed_certificate(root / "tls" / "oauth-cert.pem", root / "tls" / "oauth-key.pem")
    oauth = OAuthServer(root / "tls" / "oauth-cert.pem", root / "tls" / "oauth-key.pem")
    server = conftest.DovecotServer(root, introspection_url=oauth.introspection_url)
    server.start()
    try:
        box = conftest.Mailbox(server, *server.new_user())
        client_id = "imap-soak"
        oauth.add_client(client_id, SECRET, box.user)
        secret_file = root / f"{client_id}.secret"
        secret_file.write_text(SECRET + "\n")
        box.append_many("INBOX", [conftest.make_eml(flagged=i % 10 == 0) for i in range(n)])
        store, config = root / "imap.db", root / "imap.yaml"
        _write_config(
            config,
            store,
            f"    - name: {client_id}\n      host: {server.host}\n      port: {server.port}\n"
            f"      security: none\n      username: {box.user}\n      folders: [INBOX]\n"
            + _oauth2_yaml(oauth, client_id, secret_file, "imap", "        mechanism: XOAUTH2\n"),
        )

        def checks(engine: sa.Engine) -> list[str]:
            problems = []
            uids = _scalar(
                engine,
                "SELECT count(DISTINCT uid) FROM message_locations WHERE account = :a "
                "AND uid BETWEEN 1 AND :n",
                a=client_id,
                n=n,
            )
            top = _scalar(engine, "SELECT last_uid FROM checkpoints WHERE account = :a", a=client_id)
            if uids != n or top != n:
                problems.append(f"{uids} of UIDs 1..{n} recorded, checkpoint at UID {top}")
            return problems

        rate, once, notes = _soak("imap", root, config, store, client_id, n, timeout, extra_checks=checks)
        logins = (
            (root / "dovecot.log").read_text(errors="replace").count(f"user=<{box.user}>, method=XOAUTH2")
        )
        notes.append(
            f"{logins} XOAUTH2 logins at Dovecot, {oauth.issued(client_id)} tokens issued, "
            f"{len(oauth.state.introspected)} introspections"
        )
        return rate, once, notes
    finally:
        server.stop()
        oauth.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--only", choices=["graph", "imap"], help="run one source only")
    parser.add_argument("--timeout", type=float, default=300, help="give up on a source after this long")
    args = parser.parse_args()
    if args.messages < 2:
        parser.error("--messages must be at least 2")
    if args.only != "graph" and not shutil.which("dovecot"):
        print("soak_m365: dovecot is not installed (apt-get install dovecot-imapd)", file=sys.stderr)
        return 2

    conftest = _load_conftest()
    soaks = {"graph": ("Graph", soak_graph), "imap": ("IMAP OAuth2", soak_imap)}
    all_once = True
    for key, (label, soak) in soaks.items():
        if args.only and args.only != key:
            continue
        root = Path(tempfile.mkdtemp(prefix=f"cg-soak-{key}-"))
        try:
            rate, once, notes = soak(conftest, root, args.messages, args.timeout)
        except SoakError as exc:
            rate, once, notes = 0.0, False, [str(exc)]
        for note in notes:
            print(f"  {label}: {note}")
        print(f"{label}: {rate:.0f} messages/s, recorded once: {'yes' if once else 'no'}", flush=True)
        if once:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"soak_m365: left {root} for inspection", file=sys.stderr)
        all_once = all_once and once
    print(f"recorded once: {'yes' if all_once else 'no'}")
    return 0 if all_once else 1


if __name__ == "__main__":
    sys.exit(main())
