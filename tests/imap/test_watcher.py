"""The IMAP watcher against a real Dovecot on loopback (see conftest.py).

Each test has its own mail user and its own SQLite store. The watcher runs in a thread
(``watch`` mode, IDLE) or as ``run_once``; the SIGTERM test runs the real command.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from correspondence_guard import Checker
from correspondence_guard.config import WatchAccount, WatchSettings
from correspondence_guard.mailbox.watcher import Watcher
from correspondence_guard.store.db import Store

if TYPE_CHECKING:  # tests/imap/conftest.py; its fixtures hand these out at run time
    from conftest import DovecotServer, Mailbox

Eml = Callable[..., bytes]


ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = ROOT / "tests" / "data" / "directory.yaml"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'cg.db'}")
    yield s
    s.close()


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


def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def count(store: Store, table: str = "messages") -> int:
    return int(rows(store, f"SELECT count(*) FROM {table}")[0][0])


def locations(store: Store) -> list[tuple[str, str, int]]:
    return sorted(rows(store, "SELECT account, folder, uid FROM message_locations"))


# -- the first scan, and what the watcher must leave alone ---------------------------------------------
def test_first_scan_records_each_folder_and_leaves_flags_alone(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    mailbox.append("INBOX", eml(), flags=(b"\\Seen",))
    mailbox.append("INBOX", eml(flagged=True))
    mailbox.append("Drafts", eml(flagged=True), flags=(b"\\Draft",))
    mailbox.append("Sent", eml(), flags=(b"\\Seen",))
    before = {f: mailbox.flags(f) for f in ("INBOX", "Drafts", "Sent")}
    watcher = make_watcher(store, checker, [mailbox.account(folders=("INBOX", "Drafts", "Sent"))])
    assert watcher.run_once()
    assert (watcher.stats["checked"], watcher.stats["flagged"]) == (4, 2)
    assert locations(store) == [
        ("shared", "Drafts", 1),
        ("shared", "INBOX", 1),
        ("shared", "INBOX", 2),
        ("shared", "Sent", 1),
    ]
    assert [store.checkpoint("shared", f)[1] for f in ("INBOX", "Drafts", "Sent")] == [2, 1, 1]  # type: ignore[index]
    assert {
        f: mailbox.flags(f) for f in ("INBOX", "Drafts", "Sent")
    } == before  # \Seen neither set nor cleared
    assert len(list(store.iter_findings(rule="reply-all-members"))) == 2
    assert "body" not in {c for (c,) in rows(store, "SELECT name FROM pragma_table_info('messages')")}
    # -v: one line a message (UID, key hash, verdict, rules), nothing of the message itself
    lines = [r.getMessage() for r in caplog.records if ": UID " in r.getMessage()]
    assert len(lines) == 4 and sum("reply-all-members" in line for line in lines) == 2
    assert not any("@" in line or "Subject" in line for line in lines)


def test_same_message_in_two_folders_is_checked_once(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker
) -> None:
    raw = eml(flagged=True)
    mailbox.append("INBOX", raw)
    mailbox.append("Sent", raw)
    watcher = make_watcher(store, checker, [mailbox.account(folders=("INBOX", "Sent"))])
    assert watcher.run_once()
    assert (watcher.stats["checked"], watcher.stats["seen"]) == (1, 1)
    assert count(store) == 1 and len(list(store.iter_findings(rule="reply-all-members"))) == 1
    assert locations(store) == [("shared", "INBOX", 1), ("shared", "Sent", 1)]


# -- IDLE, restarts and reconnection --------------------------------------------------------------------
def test_idle_push_is_recorded_within_seconds(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker
) -> None:
    mailbox.append("INBOX", eml())
    watcher = make_watcher(store, checker, [mailbox.account()], idle_seconds=600)  # no renewal in this test
    with running(watcher):
        wait_for(lambda: count(store) == 1, what="the first scan")
        time.sleep(0.3)  # the watcher is now in IDLE
        t0 = time.monotonic()
        mailbox.append("INBOX", eml(flagged=True))
        wait_for(lambda: count(store) == 2, timeout=5, what="the pushed message")
        latency = time.monotonic() - t0
    assert latency < 3
    assert watcher.stats["checked"] == 2 and store.checkpoint("shared", "INBOX")[1] == 2  # type: ignore[index]


def test_restart_neither_misses_nor_repeats(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker
) -> None:
    for _ in range(3):
        mailbox.append("INBOX", eml())
    first = make_watcher(store, checker, [mailbox.account()])
    with running(first):
        wait_for(lambda: count(store) == 3, what="the first three")
        mailbox.append("INBOX", eml())
        wait_for(lambda: count(store) == 4, what="the fourth")
    for _ in range(2):  # arrive while nothing watches
        mailbox.append("INBOX", eml())
    second = make_watcher(store, checker, [mailbox.account()])
    with running(second):
        wait_for(lambda: count(store) == 6, what="the two that came while stopped")
        time.sleep(0.3)
    assert (first.stats["checked"], second.stats["checked"], second.stats["seen"]) == (4, 2, 0)
    assert [uid for _, _, uid in locations(store)] == [1, 2, 3, 4, 5, 6]


def test_dovecot_restarted_during_idle_reconnects_with_logged_backoff(
    eml: Eml,
    mailbox: Mailbox,
    store: Store,
    checker: Checker,
    dovecot: DovecotServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    mailbox.append("INBOX", eml())
    watcher = make_watcher(store, checker, [mailbox.account()])
    with running(watcher):
        wait_for(lambda: count(store) == 1, what="the first scan")
        time.sleep(0.3)  # in IDLE
        dovecot.stop()
        wait_for(lambda: "attempt 2" in caplog.text, timeout=8, what="two logged reconnection attempts")
        dovecot.start()
        wait_for(lambda: "connected again" in caplog.text, timeout=8, what="the reconnection")
        mailbox.append("INBOX", eml(flagged=True))
        wait_for(lambda: count(store) == 2, timeout=5, what="a message after the restart")
    attempts = [r.getMessage() for r in caplog.records if "reconnecting in" in r.getMessage()]
    assert len(attempts) >= 2 and "attempt 1)" in attempts[0]
    assert watcher.stats["checked"] == 2 and watcher.stats["seen"] == 0


def test_server_kick_mid_idle_reconnects(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker, dovecot: DovecotServer
) -> None:
    watcher = make_watcher(store, checker, [mailbox.account()])
    with running(watcher):
        wait_for(lambda: store.checkpoint("shared", "INBOX") is not None, what="the first scan")
        time.sleep(0.3)
        dovecot.doveadm("kick", mailbox.user)  # BYE, then the connection closes
        time.sleep(0.2)
        mailbox.append("INBOX", eml())
        wait_for(lambda: count(store) == 1, timeout=8, what="a message after the kick")


def test_polling_where_the_server_lacks_idle(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker, dovecot: DovecotServer
) -> None:
    account = mailbox.account(host="127.0.0.2", port=dovecot.noidle_port)
    watcher = make_watcher(store, checker, [account], poll_seconds=1)
    with running(watcher):
        wait_for(lambda: store.checkpoint("shared", "INBOX") is not None, what="the first scan")
        mailbox.append("INBOX", eml())
        wait_for(lambda: count(store) == 1, timeout=5, what="the polled message")


def test_uidvalidity_change_rescans_without_rechecking(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker, caplog: pytest.LogCaptureFixture
) -> None:
    old = [eml(), eml(flagged=True)]
    for raw in old:
        mailbox.append("Projects", raw)
    watcher = make_watcher(store, checker, [mailbox.account(folders=("Projects",))])
    assert watcher.run_once()
    uidvalidity = store.checkpoint("shared", "Projects")[0]  # type: ignore[index]
    c = mailbox.client()
    c.delete_folder("Projects")  # delete + recreate: a new UIDVALIDITY
    c.logout()
    time.sleep(1.05)  # Dovecot's UIDVALIDITY is a timestamp
    for raw in [*old, eml()]:
        mailbox.append("Projects", raw)
    again = make_watcher(store, checker, [mailbox.account(folders=("Projects",))])
    with caplog.at_level(logging.WARNING, logger="correspondence_guard"):
        assert again.run_once()
    assert "UIDVALIDITY changed" in caplog.text
    new_uidvalidity, last = store.checkpoint("shared", "Projects")  # type: ignore[misc]
    assert new_uidvalidity != uidvalidity and last == 3
    assert (again.stats["checked"], again.stats["seen"]) == (1, 2)
    assert count(store) == 3 and len(list(store.iter_findings(rule="reply-all-members"))) == 1


# -- actions ------------------------------------------------------------------------------------------
def test_keyword_and_advisory_on_flagged_messages_only(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker
) -> None:
    owner = "cllr.beatrix.quennell@ashdown.gov.uk"
    mailbox.append("INBOX", eml(flagged=True, subject="Re: Budget, call 07700 900123"))
    mailbox.append("INBOX", eml(), flags=(b"\\Seen",))
    mailbox.append("INBOX", eml(flagged=True), flags=(b"\\Seen", b"\\Flagged"))
    account = mailbox.account(keyword="$ProtocolRisk", advisory_folder="Protocol advisories", owner=owner)
    watcher = make_watcher(store, checker, [account])
    assert watcher.run_once()
    assert mailbox.flags("INBOX") == {
        1: {b"$ProtocolRisk"},
        2: {b"\\Seen"},
        3: {b"\\Seen", b"\\Flagged", b"$ProtocolRisk"},
    }
    advisories = mailbox.fetch("Protocol advisories", ["BODY.PEEK[]"])
    assert len(advisories) == 2 and watcher.stats["advisories"] == 2
    first = message_from_bytes(advisories[min(advisories)][b"BODY[]"], policy=default_policy)
    assert first["To"] == owner and first["X-Correspondence-Guard"] == "advisory"
    assert first["Subject"].startswith("Protocol advisory: Re: Budget, call 07700 ")
    assert "900123" not in first["Subject"]
    text = first.get_content()
    assert "Reply sent to all members" in text and "CAM 10.1" in text and "shared/INBOX (UID 1)" in text
    assert "Thank you, noted" not in text  # the notes, never the body
    again = make_watcher(store, checker, [account])  # a rerun changes nothing
    assert again.run_once() and again.stats["advisories"] == 0
    assert len(mailbox.fetch("Protocol advisories", ["FLAGS"])) == 2


def test_draft_versions_and_the_sent_copy_are_each_checked_with_one_advisory(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker
) -> None:
    mid = "<draft-1@ashdown.gov.uk>"
    mailbox.append("Drafts", eml(flagged=True, mid=mid), flags=(b"\\Draft",))
    mailbox.append("Drafts", eml(flagged=True, mid=mid, pad=200), flags=(b"\\Draft",))  # edited
    mailbox.append("Sent", eml(flagged=True, mid=mid, pad=400), flags=(b"\\Seen",))
    account = mailbox.account(
        folders=("Drafts", "Sent"),
        advisory_folder="Protocol advisories",
        owner="cllr.beatrix.quennell@ashdown.gov.uk",
    )
    watcher = make_watcher(store, checker, [account])
    assert watcher.run_once()
    assert (watcher.stats["checked"], watcher.stats["flagged"], watcher.stats["advisories"]) == (3, 3, 1)
    keys = [k for (k,) in rows(store, "SELECT message_key FROM messages ORDER BY id")]
    assert keys[0].startswith("draft:sha256:") and keys[1].startswith("draft:sha256:") and keys[2] == mid
    assert len(mailbox.fetch("Protocol advisories", ["FLAGS"])) == 1


def test_read_only_without_actions(eml: Eml, mailbox: Mailbox, store: Store, checker: Checker) -> None:
    mailbox.append("INBOX", eml(flagged=True))
    watcher = make_watcher(store, checker, [mailbox.account()])
    assert watcher.run_once() and watcher.stats["flagged"] == 1
    assert mailbox.flags("INBOX") == {1: set()}  # no keyword, no \Seen
    c = mailbox.client()
    assert not c.folder_exists("Protocol advisories")
    c.logout()


# -- bad messages -------------------------------------------------------------------------------------
def test_broken_and_oversize_messages_are_recorded_as_errors_and_skipped(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker
) -> None:
    mailbox.append("INBOX", b" \r\n \r\n")  # not a message at all
    mailbox.append("INBOX", eml(mid="<big@ashdown.gov.uk>", pad=40_000))  # over the limit
    mailbox.append("INBOX", eml(flagged=True))
    watcher = make_watcher(store, checker, [mailbox.account()], max_message_mb=0.02)  # about 20 KB
    assert watcher.run_once()
    assert (watcher.stats["checked"], watcher.stats["errors"], watcher.stats["flagged"]) == (3, 2, 1)
    errors = rows(store, "SELECT message_key, error FROM messages WHERE verdict = 'error' ORDER BY id")
    assert errors[0][1] == "empty message"
    assert errors[1][0] == "<big@ashdown.gov.uk>" and "over the 20971-byte limit" in errors[1][1]
    assert store.checkpoint("shared", "INBOX")[1] == 3  # type: ignore[index]


# -- TLS ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls_verify_the_server_certificate(
    eml: Eml, mailbox: Mailbox, store: Store, checker: Checker, dovecot: DovecotServer, security: str
) -> None:
    mailbox.append("INBOX", eml())
    port = dovecot.tls_port if security == "tls" else dovecot.port
    account = mailbox.account(security=security, port=port, ca_file=dovecot.cafile)
    assert make_watcher(store, checker, [account]).run_once() and count(store) == 1
    untrusted = mailbox.account(security=security, port=port)  # the system CAs do not know it
    assert not make_watcher(store, checker, [untrusted]).run_once()


# -- the real command: SIGTERM in the middle of a batch ------------------------------------------------
def _config(tmp_path: Path, mailbox: Mailbox, store_path: Path) -> Path:
    config = tmp_path / "watch.yaml"
    config.write_text(
        f"directory: {DIRECTORY}\n"
        f"store:\n  url: sqlite:///{store_path}\n"
        "watch:\n  backoff_max_seconds: 1\n  accounts:\n"
        f"    - name: shared\n      host: {mailbox.server.host}\n      port: {mailbox.server.port}\n"
        f"      security: none\n      username: {mailbox.user}\n      password_env: CG_TEST_IMAP_PASSWORD\n"
        "      folders: [INBOX]\n"
    )
    return config


def test_sigterm_mid_batch_finishes_the_message_saves_the_checkpoint_and_exits_0(
    eml: Eml,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from correspondence_guard.cli import main

    total = 300
    mailbox.append_many("INBOX", [eml(flagged=i % 5 == 0) for i in range(total)])
    store_path = tmp_path / "cg.db"
    config = _config(tmp_path, mailbox, store_path)
    env = {**os.environ, "CG_TEST_IMAP_PASSWORD": mailbox.password}
    env.pop("CG_CONFIG", None)
    cmd = [sys.executable, "-m", "correspondence_guard", "watch", "--config", str(config)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = Store(f"sqlite:///{store_path}")
    try:
        wait_for(
            lambda: store_path.exists() and _safe_count(store) >= 20, timeout=30, what="the batch to start"
        )
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "SIGTERM" in err
        recorded = count(store)
        assert 20 <= recorded < total, "the whole batch finished before SIGTERM: nothing was tested"
        uidvalidity, last = store.checkpoint("shared", "INBOX")  # type: ignore[misc]
        assert [u for _, _, u in locations(store)] == list(range(1, last + 1))  # nothing after the checkpoint
        monkeypatch.setenv("CG_TEST_IMAP_PASSWORD", mailbox.password)  # the rest: `watch --once`, in-process
        capsys.readouterr()
        assert main(["watch", "--once", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"{total - recorded} message(s) checked") and "0 already recorded" in out
        assert [u for _, _, u in locations(store)] == list(range(1, total + 1))
        assert (
            count(store) == total and len(list(store.iter_findings(rule="reply-all-members"))) == total // 5
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        store.close()


def _safe_count(store: Store) -> int:
    try:
        return count(store)
    except sa.exc.OperationalError:  # the schema is not there yet
        return 0


def test_the_example_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from correspondence_guard.config import load_config

    text = (ROOT / "deploy" / "watch-config.example.yaml").read_text()
    config = tmp_path / "config.yaml"
    config.write_text(text.replace("/etc/correspondence-guard/directory.yaml", str(DIRECTORY)))
    monkeypatch.setenv("CG_WATCH__IDLE_SECONDS", "300")
    loaded = load_config(config)
    assert [a.name for a in loaded.watch.accounts] == ["data-protection", "cllr-quennell"]
    assert loaded.watch.idle_seconds == 300 and loaded.watch.accounts[1].keyword == "$ProtocolRisk"
    assert "password:" not in text
