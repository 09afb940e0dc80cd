"""Soak test of ``correspondence-guard watch``: messages APPENDed while the watcher runs.

Starts a throw-away Dovecot on loopback (tests/imap/conftest.py's DovecotServer), runs the
real ``correspondence-guard watch`` command against it, APPENDs N messages (default 2,000)
in small bursts from another connection while it watches INBOX and Sent (some messages
go to both folders), then waits until every message is in the store. Prints messages/s
and checks that each message was recorded exactly once, in the right places, with the
checkpoints at the top UIDs. Bounded in time (--timeout, default 300 s); exit 1 on failure.

    .venv/bin/python bench/soak_watch.py [--messages 2000] [--timeout 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]


def _load_conftest():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("cg_imap_conftest", ROOT / "tests" / "imap" / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    parser.add_argument("--both-every", type=int, default=10, help="every Nth message also goes to Sent")
    args = parser.parse_args()
    if not shutil.which("dovecot"):
        print("soak_watch: dovecot is not installed (apt-get install dovecot-imapd)", file=sys.stderr)
        return 2

    conftest = _load_conftest()
    root = Path(tempfile.mkdtemp(prefix="cg-soak-"))
    server = conftest.DovecotServer(root)
    server.start()
    mailbox = conftest.Mailbox(server, *server.new_user())
    store_path = root / "soak.db"
    config = root / "watch.yaml"
    config.write_text(
        f"directory: {ROOT / 'tests' / 'data' / 'directory.yaml'}\n"
        f"store:\n  url: sqlite:///{store_path}\n"
        "watch:\n  backoff_max_seconds: 2\n  accounts:\n"
        f"    - name: soak\n      host: {server.host}\n      port: {server.port}\n      security: none\n"
        f"      username: {mailbox.user}\n      password_file: {mailbox.password_file}\n"
        "      folders: [INBOX, Sent]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CG_")}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "correspondence_guard", "watch", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(root / "watch.log", "w"),  # noqa: SIM115
    )
    deadline = time.monotonic() + args.timeout
    engine = sa.create_engine(f"sqlite:///{store_path}")
    ok = False
    try:
        while not _scalar(engine, "SELECT count(*) FROM checkpoints WHERE account = 'soak'") >= 2:
            if time.monotonic() > deadline or watcher.poll() is not None:
                raise SystemExit("soak_watch: the watcher did not start (see watch.log)")
            time.sleep(0.1)

        n, both = args.messages, args.both_every
        messages = [conftest.make_eml(flagged=random.random() < 0.1) for _ in range(n)]
        to_sent = [m for i, m in enumerate(messages) if i % both == 0]
        start = time.monotonic()
        appender = threading.Thread(target=_append_in_bursts, args=(mailbox, messages, to_sent), daemon=True)
        appender.start()
        expected_locations = n + len(to_sent)
        while True:
            done = _scalar(engine, "SELECT count(*) FROM message_locations")
            if done >= expected_locations and not appender.is_alive():
                break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"soak_watch: timed out with {done} of {expected_locations} locations recorded"
                )
            if watcher.poll() is not None:
                raise SystemExit("soak_watch: the watcher exited early (see watch.log)")
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        checked = _scalar(engine, "SELECT count(*) FROM messages")
        dupes = _scalar(
            engine,
            "SELECT count(*) FROM (SELECT message_key FROM messages GROUP BY message_key "
            "HAVING count(*) > 1)",
        )
        per_uid = _scalar(
            engine,
            "SELECT count(*) FROM (SELECT folder, uid FROM message_locations "
            "GROUP BY folder, uid HAVING count(*) > 1)",
        )
        inbox_top = _scalar(engine, "SELECT last_uid FROM checkpoints WHERE folder = 'INBOX'")
        sent_top = _scalar(engine, "SELECT last_uid FROM checkpoints WHERE folder = 'Sent'")
        print(
            f"appended {n} messages ({len(to_sent)} also to Sent) while watching: "
            f"{checked} recorded, {expected_locations} locations in {elapsed:.1f} s "
            f"= {checked / elapsed:.0f} messages/s ({expected_locations / elapsed:.0f} folder entries/s)"
        )
        assert checked == n, f"{checked} messages recorded, expected {n}"
        assert dupes == 0 and per_uid == 0, "a message or a UID was recorded twice"
        assert (inbox_top, sent_top) == (n, len(to_sent)), f"checkpoints at {inbox_top}/{sent_top}"

        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(30)
        assert code == 0, f"watch exited {code} after SIGTERM"
        print("every message recorded exactly once; SIGTERM -> exit 0")
        ok = True
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        engine.dispose()
        server.stop()
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"soak_watch: left {root} for inspection", file=sys.stderr)
    return 0 if ok else 1


def _append_in_bursts(mailbox, messages: list[bytes], to_sent: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    """Bursts of 1-50 messages with short pauses, like mail arriving; the Sent copies interleaved."""
    client = mailbox.client()
    sent = iter(to_sent)
    i = 0
    while i < len(messages):
        burst = random.randint(1, 50)
        client.multiappend("INBOX", messages[i : i + burst])
        copies = [m for _, m in zip(range(burst // 10 + 1), sent, strict=False)]
        if copies:
            client.multiappend("Sent", copies)
        i += burst
        time.sleep(random.uniform(0, 0.05))
    rest = list(sent)
    if rest:
        client.multiappend("Sent", rest)
    client.logout()


def _scalar(engine: sa.Engine, sql: str) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar() or 0)
    except sa.exc.OperationalError:  # the schema is not there yet
        return 0


if __name__ == "__main__":
    sys.exit(main())
