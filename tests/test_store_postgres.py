"""The findings store on a real PostgreSQL server: a throw-away cluster on loopback.

The session fixture runs ``initdb`` into a temp folder and ``pg_ctl start`` on a free
port on 127.0.0.1 (never the system service); each test gets a database of its own,
created empty, so every test also migrates from nothing. The server's time zone is set
to America/New_York on purpose: the store must hand back UTC whatever the server's zone.

Needs Debian's ``postgresql`` package and the ``psycopg`` driver (the ``postgres``
extra). Without them the tests skip, which CI (CG_TESTS_REQUIRE_ALL=1) counts as failure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from correspondence_guard import Checker
from correspondence_guard.findings import Report
from correspondence_guard.store.db import Location, MessageMeta, Store, migrate
from correspondence_guard.store.recording import check_and_record
from test_store import _count, _eml, _finding, _meta  # the SQLite store's tests' helpers

UTC = dt.UTC
SERVER_TZ = "America/New_York"  # not UTC, so a time read back in the server's zone shows up


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A PostgreSQL cluster in ``root``, run as the ``postgres`` user when we are root."""

    def __init__(self, bindir: Path, root: Path):
        self.bindir, self.root = bindir, root
        self.data, self.sockets, self.log = root / "data", root / "run", root / "server.log"
        self.port = _free_port()
        self.user = "cg"
        self._dbs = itertools.count(1)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.getuid() == 0:  # initdb and postgres refuse to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()}\n{log}")
        return proc

    def start(self) -> None:
        self.sockets.mkdir()
        if os.getuid() == 0:
            self.root.chmod(0o700)
            for path in (self.root, self.sockets):
                shutil.chown(path, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")  # fmt: skip
        # --auth=trust: pg_hba.conf trusts local sockets and 127.0.0.1/::1 (a throw-away test server)
        for attempt in range(3):  # the free port may be taken by someone else before we bind it
            opts = (
                f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c timezone={SERVER_TZ} "
                "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            )
            try:
                self._run(
                    "pg_ctl", "start", "-w", "-t", "30", "-D", str(self.data), "-l", str(self.log), "-o", opts
                )
                return
            except RuntimeError:
                with contextlib.suppress(RuntimeError):
                    self.stop()
                if attempt == 2:
                    raise
                self.port = _free_port()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.data))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(sql))
        finally:
            engine.dispose()

    def new_database(self) -> str:
        name = f"cg_test_{next(self._dbs)}"
        self.admin(f"CREATE DATABASE {name}")
        return name


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bindir = _bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL is not installed (apt-get install postgresql); these tests need a real server"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the psycopg driver is not installed (pip install 'correspondence-guard[postgres]')")
    root = Path(tempfile.mkdtemp(prefix="cg-postgres-"))
    server = PostgresServer(bindir, root)
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    name = postgres.new_database()
    yield postgres.url(name)
    postgres.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture()
def store(pg_url: str) -> Iterator[Store]:
    s = Store(pg_url)
    yield s
    s.close()


# -- schema --------------------------------------------------------------------------------------
def test_migrations_run_on_an_empty_database_and_again(pg_url: str) -> None:
    first = Store(pg_url)
    first.record(_meta("<a@x>"), Report("x", (_finding(),)), Location("shared", "INBOX", 7))
    first.close()
    again = Store(pg_url)  # migrates again on open: nothing to do
    migrate(again.engine)  # and once more by hand
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"
        inspector = sa.inspect(conn)
        tables = set(inspector.get_table_names())
        columns = {c["name"]: c for c in inspector.get_columns("messages")}
        fks = inspector.get_foreign_keys("findings")
    assert {
        "messages",
        "message_locations",
        "findings",
        "checkpoints",
        "overrides",
        "feedback",
        "reviews",
    } <= tables
    assert isinstance(columns["checked_at"]["type"], sa.DateTime) and columns["checked_at"]["type"].timezone
    assert columns["id"]["autoincrement"]  # a serial/identity key: inserts get ids from the server
    assert fks[0]["referred_table"] == "messages" and fks[0]["options"].get("ondelete") == "CASCADE"
    assert again.has_message("<a@x>") and _count(again, "findings") == 1
    again.close()


def test_the_session_time_zone_is_utc(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SHOW timezone")).scalar_one() == "UTC"


# -- messages, findings, locations ---------------------------------------------------------------
def test_a_message_is_recorded_once_and_later_sightings_add_locations(store: Store) -> None:
    report = Report("x", (_finding(), _finding("personal-data-to-private-address", "k***@gmail.com")))
    pk, new = store.record(_meta("<a@x>"), report, Location("shared", "INBOX", 7))
    assert new and store.has_message("<a@x>") and store.message_pk("<a@x>") == pk
    pk2, new2 = store.record(_meta("<a@x>"), report, Location("officer1", "Sent", 3))
    pk3, new3 = store.record(_meta("<a@x>"), report, Location("officer1", "Sent", 3))  # same place again
    pk4, new4 = store.record(_meta("<a@x>"), None, Location("service", "on-send"))  # no UID
    pk5, _ = store.record(_meta("<a@x>"), None, Location("service", "on-send"))
    assert (pk2, new2, pk3, new3, pk4, new4, pk5) == (pk, False, pk, False, pk, False, pk)
    assert _count(store, "messages") == 1
    assert _count(store, "findings") == 2
    assert _count(store, "message_locations") == 3
    big_uid = 2**32 - 1  # IMAP UIDs and UIDVALIDITY are unsigned 32-bit
    store.record(_meta("<a@x>"), None, Location("shared", "Archive", big_uid))
    assert [loc.uid for loc in store.forget("<a@x>")].count(big_uid) == 1


def test_long_header_values_fit_their_columns(store: Store) -> None:
    """PostgreSQL enforces VARCHAR lengths (SQLite does not): a hostile From must not fail the insert."""
    sender = "x" * 400 + "@example.org"
    pk, new = store.record(_meta("<long@x>", sender=sender, subject="S" * 5000), Report("x", (_finding(),)))
    assert new
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT sender FROM messages WHERE id = :pk"), {"pk": pk}).scalar_one()
    assert sender.startswith(stored) and len(stored) == 320


def test_findings_round_trip_with_timezone_aware_filters(store: Store) -> None:
    store.record(_meta("<a@x>", subject="Call 07700 900123 re BEN-558210"), Report("x", (_finding(),)))
    store.record(
        _meta("<b@x>", date=dt.datetime(2026, 3, 5, tzinfo=UTC)),
        Report("x", (_finding("personal-data-to-private-address", "k***@gmail.com"),)),
    )
    store.record(_meta("<c@x>"), Report("x", ()))  # clear: a message without findings
    items = list(store.iter_findings())
    assert [i["rule"] for i in items] == ["reply-all-members", "personal-data-to-private-address"]
    first = items[0]
    assert "900123" not in first["subject"] and "558210" not in first["subject"]
    assert first["evidence"] == [{"where": "recipients", "text": "all.councillors@ashdown.gov.uk"}]
    assert first["citations"] == ["CAM 10.1"] and first["recipient_classes"] == ["distribution-list"]
    # times come back aware and in UTC, whatever the server's zone
    assert first["date"] == dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC) and first[
        "date"
    ].utcoffset() == dt.timedelta(0)
    assert first["checked_at"].utcoffset() == dt.timedelta(0)
    since = dt.datetime(2026, 3, 3, tzinfo=UTC)
    assert [i["message_id"] for i in store.iter_findings(since=since)] == ["<b@x>"]
    assert [i["message_id"] for i in store.iter_findings(until=since)] == ["<a@x>"]
    assert [i["message_id"] for i in store.iter_findings(rule="reply-all-members")] == ["<a@x>"]
    # a bound in another zone is the same instant: 10:30+01:00 is 09:30 UTC
    plus_one = dt.timezone(dt.timedelta(hours=1))
    assert [
        i["message_id"] for i in store.iter_findings(since=dt.datetime(2026, 3, 2, 10, 30, tzinfo=plus_one))
    ] == [
        "<a@x>",
        "<b@x>",
    ]
    assert list(store.iter_findings(until=dt.datetime(2026, 3, 2, 10, 30, tzinfo=plus_one))) == []
    assert store.count_messages() == 3 and store.count_messages(since=since) == 1


def test_checkpoints_are_saved_and_updated(store: Store) -> None:
    assert store.checkpoint("shared", "INBOX") is None
    store.save_checkpoint("shared", "INBOX", 4294967295, 5)
    store.save_checkpoint("shared", "Sent", 1700000001, 2)
    store.save_checkpoint("shared", "INBOX", 4294967295, 9)
    assert store.checkpoint("shared", "INBOX") == (4294967295, 9)
    assert store.checkpoint("shared", "Sent") == (1700000001, 2)
    assert store.checkpoint("other", "INBOX") is None
    assert _count(store, "checkpoints") == 2


def test_overrides_and_feedback_round_trip_masked(store: Store) -> None:
    oid = store.add_override(
        "kieran.reddaway@ashdown.gov.uk",
        ["reply-all-members"],
        "Chair asked; call 07700 900123",
        conversation_id="conv-1",
        subject="Re: agenda",
    )
    fid = store.add_feedback(
        "kieran.reddaway@ashdown.gov.uk", "reply-all-members", "not a reply", subject="Agenda"
    )
    assert isinstance(oid, int) and isinstance(fid, int)
    (override,) = store.list_overrides()
    assert override["id"] == oid and override["rules"] == ["reply-all-members"]
    assert override["conversation_id"] == "conv-1" and "900123" not in override["justification"]
    assert override["at"].utcoffset() == dt.timedelta(0)
    (fb,) = store.list_feedback()
    assert (fb["id"], fb["rule"], fb["reason"]) == (fid, "reply-all-members", "not a reply")
    assert store.list_feedback(since=dt.datetime.now(UTC) + dt.timedelta(minutes=1)) == []
    assert len(store.list_overrides(since=dt.datetime.now(UTC) - dt.timedelta(minutes=1))) == 1


def test_purge_removes_old_rows(store: Store) -> None:
    old = dt.datetime(2024, 1, 1, tzinfo=UTC)
    store.record(_meta("<old@x>", date=old), Report("x", (_finding(),)), Location("a", "INBOX", 1))
    with store.engine.begin() as conn:  # retention counts from when a message was checked
        conn.execute(sa.text("UPDATE messages SET checked_at = date"))
    store.record(_meta("<new@x>"), Report("x", (_finding(),)), Location("a", "INBOX", 2))
    store.add_feedback("kieran.reddaway@ashdown.gov.uk", "reply-all-members", "not a reply")
    counts = store.purge(dt.datetime(2025, 1, 1, tzinfo=UTC))
    assert counts == {
        "findings": 1,
        "locations": 1,
        "messages": 1,
        "overrides": 0,
        "feedback": 0,
        "reviews": 0,
    }
    assert not store.has_message("<old@x>") and store.has_message("<new@x>")
    assert _count(store, "findings") == 1 and _count(store, "message_locations") == 1
    assert store.purge(dt.datetime.now(UTC) + dt.timedelta(minutes=1))["feedback"] == 1


# -- the nightly review's methods ----------------------------------------------------------------
def test_reviews_finding_times_verdicts_and_forget(store: Store) -> None:
    since, until = dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 8, tzinfo=UTC)
    stale = dt.timedelta(hours=6)
    assert store.last_review() is None
    first = store.start_review(since, until, "/tmp/out-1", stale)
    assert first is not None
    assert store.start_review(since, until, "/tmp/out-2", stale) is None  # one at a time
    store.finish_review(first, "ok", "3 messages")
    second = store.start_review(since, until, "/tmp/out-2", stale)
    assert second is not None and second > first
    store.finish_review(second, "failed", "boom")
    last = store.last_review()
    assert last is not None and (last["id"], last["status"], last["summary"]) == (first, "ok", "3 messages")
    assert (last["since"], last["until"]) == (since, until) and last["until"].utcoffset() == dt.timedelta(0)
    assert last["finished_at"] >= last["started_at"]
    assert store.last_review("failed")["id"] == second  # type: ignore[index]
    assert store.last_review(before_id=first) is None
    assert store.start_review(since, until, "/tmp/out-3", dt.timedelta(0)) is not None  # none running

    store.record(_meta("<a@x>"), Report("x", (_finding(), _finding("other-rule"))), Location("a", "INBOX", 1))
    store.record(_meta("<b@x>", date=dt.datetime(2026, 3, 4, 23, 0, tzinfo=UTC)), Report("x", ()))
    store.record(MessageMeta(message_key="sha256:00"), None, error="empty message")  # no date: checked now
    times = store.finding_times(since, until)
    assert times == [dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC)] * 2
    assert all(t.utcoffset() == dt.timedelta(0) for t in times)
    assert store.count_verdicts(since, until) == {"warning": 1, "clear": 1}  # a prompt is a warning
    assert (
        store.count_verdicts(since - dt.timedelta(days=1), dt.datetime.now(UTC) + dt.timedelta(minutes=1))[
            "error"
        ]
        == 1
    )

    seen = store.forget("<a@x>")
    assert seen == [Location("a", "INBOX", 1, "")]
    assert store.forget("<a@x>") == [] and not store.has_message("<a@x>")
    assert store.finding_times(since, until) == [] and _count(store, "findings") == 0


# -- concurrency: two processes record the same message at once ----------------------------------
def test_a_concurrent_insert_of_the_same_key_only_adds_a_location(
    store: Store, pg_url: str, checker: Checker
) -> None:
    """Another process holds an uncommitted insert of the key: ours waits, loses on the unique
    index, and Store.record falls back to adding its location."""
    other = sa.create_engine(pg_url)
    raw = _eml(mid="<race@x>")
    conn = other.connect()
    try:
        trans = conn.begin()
        conn.execute(
            sa.text(
                "INSERT INTO messages (message_key, message_id, checked_at, sender, sender_role, department,"
                " recipient_classes, subject, verdict) VALUES ('<race@x>', '<race@x>', now(), '', '', '',"
                " '[]', '', 'warning')"
            )
        )
        timer = threading.Timer(0.5, trans.commit)
        timer.start()
        started = time.monotonic()
        out = check_and_record(store, checker, raw, Location("shared", "INBOX", 1))
        timer.join()
        assert time.monotonic() - started >= 0.4  # it did wait for the other transaction
    finally:
        conn.close()
        other.dispose()
    assert not out.new and out.verdict == "warning"
    assert _count(store, "messages") == 1 and _count(store, "message_locations") == 1


def test_a_checkpoint_saved_by_another_process_at_the_same_time_is_updated(store: Store, pg_url: str) -> None:
    """Another connection inserts the first checkpoint of a folder and commits later: our save
    waits for it and updates the row, instead of failing on the primary key."""
    other = sa.create_engine(pg_url)
    conn = other.connect()
    try:
        trans = conn.begin()
        conn.execute(
            sa.text(
                "INSERT INTO checkpoints (account, folder, uidvalidity, last_uid, updated_at)"
                " VALUES ('shared', 'INBOX', 77, 3, now())"
            )
        )
        timer = threading.Timer(0.5, trans.commit)
        timer.start()
        store.save_checkpoint("shared", "INBOX", 77, 10)
        timer.join()
    finally:
        conn.close()
        other.dispose()
    assert store.checkpoint("shared", "INBOX") == (77, 10)


def test_two_reviews_never_start_together(store: Store, pg_url: str) -> None:
    """A review being started by another process (row inserted, not yet committed) is seen:
    start_review waits for it and then declines, as it does on SQLite."""
    other = sa.create_engine(pg_url)
    conn = other.connect()
    since, until = dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 2, tzinfo=UTC)
    try:
        trans = conn.begin()
        conn.execute(
            sa.text(
                "INSERT INTO reviews (started_at, since, until, out_dir, status, summary)"
                " VALUES (now(), :since, :until, '/tmp/other', 'running', '')"
            ),
            {"since": since, "until": until},
        )
        timer = threading.Timer(0.5, trans.commit)
        timer.start()
        mine = store.start_review(since, until, "/tmp/mine", dt.timedelta(hours=6))
        timer.join()
    finally:
        conn.close()
        other.dispose()
    assert mine is None
    assert _count(store, "reviews") == 1


_MIGRATE_AT = """
import sys, time
from correspondence_guard.store.db import Store
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start migrating at the same moment
Store(sys.argv[1]).close()
"""


def test_several_processes_can_migrate_an_empty_database_at_once(pg_url: str) -> None:
    """The watcher, the service and the review may all start together on a new database."""
    at = time.time() + 2.5  # after every process has imported the package
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE_AT, pg_url, str(at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].decode(errors="replace") for p in procs]
    failed = [
        next((line for line in out.splitlines() if line.startswith("sqlalchemy.exc.")), out[-500:])
        for p, out in zip(procs, outputs, strict=True)
        if p.returncode
    ]
    assert failed == []
    with Store(pg_url, create=False).engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["0002"]


# -- end to end: recording.check_and_record with the real Checker ---------------------------------
def test_check_and_record_end_to_end(store: Store, checker: Checker) -> None:
    """``checker`` is conftest's: Checker.load("tests/data/directory.yaml"), once per session."""
    raw = _eml()
    first = check_and_record(store, checker, raw, Location("shared", "INBOX", 1))
    assert first.new and first.flagged and first.key == "<r1@x>" and first.report is not None
    assert [f.rule for f in first.report.findings] == ["reply-all-members"]
    again = check_and_record(store, checker, raw, Location("officer1", "Sent", 4))
    assert (again.new, again.flagged, again.report, again.pk) == (False, True, None, first.pk)
    (item,) = store.iter_findings()
    assert (item["sender_role"], item["recipient_classes"]) == ("member", ["distribution-list"])
    assert item["date"] == dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert _count(store, "message_locations") == 2
    broken = check_and_record(store, checker, b"   \r\n", Location("shared", "INBOX", 2))
    assert broken.new and broken.verdict == "error" and broken.error == "empty message"
    long_from = check_and_record(store, checker, _eml(mid="<long@x>", sender="y" * 400 + "@example.org"))
    assert long_from.new and long_from.verdict != "error"
    assert store.count_messages() == 3
