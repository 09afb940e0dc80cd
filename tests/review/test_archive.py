"""``review --archive``: archive sources, --jobs on one machine, resume, and a Dask LocalCluster.

The archive is generated (archive_mail.py): Ashdown's fictional mail in two mbox files, a
Maildir with a subfolder and a folder of .eml files. The big tests run 2,000 messages against a
real PostgreSQL (test_store_postgres's throw-away server): a one-machine run with two worker
processes, killed (the whole process group, SIGKILL) part-way and run again; and a LocalCluster
of two worker processes, one of which is killed mid-run. Both must record each message once,
with the same findings, message by message.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from archive_mail import BAD_NAME, DIRECTORY, Archive, write_archive

from correspondence_guard.cli import main
from correspondence_guard.config import Config, ConfigError
from correspondence_guard.engine import Checker
from correspondence_guard.review.archive import run_archive
from correspondence_guard.review.chunks import count_mbox, items, parse_archive_source, plan
from correspondence_guard.store.db import Store
from test_store_postgres import PostgresServer, pg_url, postgres  # noqa: F401  (the real server)

ROOT = Path(__file__).resolve().parents[2]
NHS_NUMBER = "943 476 5919"
BIG = 2000


def _config(tmp: Path, url: str) -> Config:
    return Config(directory=DIRECTORY, store={"url": url}, review={"out_dir": tmp / "reports"})  # type: ignore[arg-type]


def snapshot(url: str) -> dict[str, Any]:
    """Per message key: (verdict, error, sorted findings (rule, severity, evidence)), and locations."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, message_key, verdict, error FROM messages")).all()
            found: dict[int, list[tuple[str, str, str]]] = {}
            for pk, rule, severity, evidence in conn.execute(
                sa.text("SELECT message_pk, rule, severity, evidence FROM findings")
            ):
                found.setdefault(pk, []).append((rule, severity, evidence))
            places: dict[int, int] = {}
            for (pk,) in conn.execute(sa.text("SELECT message_pk FROM message_locations")):
                places[pk] = places.get(pk, 0) + 1
    finally:
        engine.dispose()
    keys = [r[1] for r in rows]
    assert len(keys) == len(set(keys))  # the unique key: never two rows for one message
    return {
        "messages": {key: (verdict, error, sorted(found.get(pk, []))) for pk, key, verdict, error in rows},
        "locations": {key: places.get(pk, 0) for pk, key, _, _ in rows},
    }


def _expect_whole_archive(snap: dict[str, Any], archive: Archive) -> None:
    messages = snap["messages"]
    assert len(messages) == len(archive.keys) + archive.without_id + 1  # + the file that is no e-mail
    assert archive.keys <= set(messages)
    assert snap["locations"]["<archive-0@ashdown.gov.uk>"] == 2  # the copy at the end of Inbox.mbox
    assert all(n >= 1 for n in snap["locations"].values())
    errors = [v for v in messages.values() if v[0] == "error"]
    assert [e[1] for e in errors] == ["not an e-mail message: no From, Date or Message-ID"]
    flagged = [k for k, v in messages.items() if v[2]]
    assert len(flagged) >= len(messages) // 7  # replies to all members, personal data to a private address
    assert all(NHS_NUMBER not in str(v) for v in messages.values())  # evidence is masked


# -- sources and chunks ------------------------------------------------------------------------------
def test_chunks_cover_every_message_once(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "mail", 230)
    sources = [parse_archive_source(s) for s in archive.sources]
    chunks = plan(sources, 40)
    inbox = [c for c in chunks if c.kind == "mbox" and c.folder == "Inbox.mbox"]
    assert len(inbox) == 3 and [c.count for c in inbox] == [40, 40, 12]
    assert inbox[0].end == inbox[1].start  # byte ranges that meet
    assert sum(c.count for c in inbox) == count_mbox(tmp_path / "mail" / "mbox" / "Inbox.mbox")
    got = [item for c in chunks for item in items(c)]
    assert len(got) == archive.files + 1  # every message, and the bad file
    assert {i.folder for i in got} >= {"Inbox.mbox", "Sent.mbox", "maildir", "maildir/Archive", "eml/2025-02"}
    # an mbox message reads back as Python's mailbox module gives it (From line and quoting kept as stored)
    import mailbox

    box = mailbox.mbox(tmp_path / "mail" / "mbox" / "Sent.mbox")
    first_sent = next(i for i in got if i.folder == "Sent.mbox")
    assert first_sent.read() == box.get_bytes(next(iter(box.iterkeys())))
    assert len({c.id for c in chunks}) == len(chunks)
    assert plan(sources, 40) == chunks and [c.id for c in plan(sources, 40)] == [c.id for c in chunks]


def test_bad_archive_sources_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        parse_archive_source(f"mbox:{tmp_path / 'missing.mbox'}")
    with pytest.raises(ConfigError, match="not IMAP"):
        parse_archive_source("imap:shared/INBOX")
    (tmp_path / "x.pst").write_bytes(b"not a pst at all")
    config = tmp_path / "cg.yaml"
    config.write_text(f"directory: {DIRECTORY}\nstore:\n  url: sqlite:///{tmp_path / 'cg.db'}\n")
    for args, message in (
        (["--source", f"mbox:{tmp_path / 'missing.mbox'}"], "no such file or folder"),
        (["--source", str(tmp_path), "--jobs", "0"], "--jobs"),
        (["--source", str(tmp_path), "--cluster", "local:x"], "local:N"),
        (["--source", f"pst:{tmp_path / 'x.pst'}"], "pst:"),
    ):
        assert main(["review", "--archive", "--config", str(config), *args]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_archive_review_on_one_machine(tmp_path: Path) -> None:
    """jobs=1, SQLite: each message once, the unreadable one recorded as an error, folders in the
    report, masked evidence; a second run records nothing again; a date window narrows the run."""
    archive = write_archive(tmp_path / "mail", 300)
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'cg.db'}")
    checker = Checker.load(DIRECTORY)
    sources = [parse_archive_source(s) for s in archive.sources]
    store = Store(config.store.url)
    try:
        result = run_archive(config, checker, store, sources, chunk_size=60, out_dir=tmp_path / "out")
        again = run_archive(config, checker, store, sources, chunk_size=60, out_dir=tmp_path / "out2")
        window = run_archive(
            config, checker, store, sources, chunk_size=60, out_dir=tmp_path / "out3",
            since=dt.datetime(2025, 1, 10, tzinfo=dt.UTC), until=dt.datetime(2025, 1, 12, tzinfo=dt.UTC),
        )  # fmt: skip
    finally:
        store.close()
    assert result.status == "ok" and result.resumed == 0
    run = result.data["run"]
    assert run["checked"] == len(archive.keys) + archive.without_id
    assert (run["already_recorded"], run["could_not_check"]) == (1, 1)
    assert [p["source"] for p in result.data["problems"]] == [str(tmp_path / "mail" / "eml" / BAD_NAME)]
    snap = snapshot(config.store.url)
    _expect_whole_archive(snap, archive)
    assert again.resumed == again.chunks and snapshot(config.store.url) == snap  # nothing twice
    assert window.data["run"]["messages_in_period"] == 16  # 2 days, a message every 3 hours
    assert {f["date"][:10] for f in window.data["findings"]} <= {"2025-01-10", "2025-01-11"}
    # the reports: every finding with its folder path; evidence masked
    with open(tmp_path / "out" / "findings.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == result.data["store"]["findings"] > 50
    assert {r["folder"] for r in rows} >= {"Inbox.mbox", "maildir", "maildir/Archive", "Sent.mbox"}
    copy = [r for r in rows if r["message_id"] == "<archive-0@ashdown.gov.uk>"]
    assert copy and copy[0]["folder"] == "Inbox.mbox"  # two sightings in one folder: shown once
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Folder: maildir/Archive" in html and NHS_NUMBER not in html
    assert NHS_NUMBER not in (tmp_path / "out" / "findings.json").read_text()


# -- 2,000 messages on PostgreSQL: --jobs 2 killed and resumed, then a LocalCluster ------------------
@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return write_archive(tmp_path_factory.mktemp("archive") / "mail", BIG)


@pytest.fixture(scope="module")
def one_machine(
    big_archive: Archive,
    postgres: PostgresServer,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The CLI with --jobs 2, killed with its workers part-way, then run again to the end."""
    tmp = tmp_path_factory.mktemp("one-machine")
    url = postgres.url(postgres.new_database())
    config = tmp / "cg.yaml"
    config.write_text(
        f"directory: {DIRECTORY}\nstore:\n  url: {url}\nreview:\n  out_dir: {tmp / 'reports'}\n"
    )
    sources = [a for s in big_archive.sources for a in ("--source", s)]
    cmd = [sys.executable, "-m", "correspondence_guard", "review", "--archive", "--config", str(config),
           "--jobs", "2", "--chunk-size", "100", *sources, "--out", str(tmp / "out")]  # fmt: skip
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    first = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env
    )
    engine = sa.create_engine(url)
    done_before_kill = 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            with engine.connect() as conn:
                if sa.inspect(conn).has_table("archive_chunks"):
                    done_before_kill = conn.execute(
                        sa.text("SELECT count(*) FROM archive_chunks")
                    ).scalar_one()
            if done_before_kill >= 3:
                break
            time.sleep(0.05)
    finally:
        engine.dispose()
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)  # the run and its worker processes, as a crash would
        first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL, "the first run finished before it could be killed"
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert second.returncode == 1, second.stderr  # findings
    assert "Traceback" not in second.stderr
    return {"url": url, "stdout": second.stdout, "done_before_kill": done_before_kill, "out": tmp / "out"}


def test_a_killed_run_resumes_where_it_stopped(one_machine: dict[str, Any], big_archive: Archive) -> None:
    summary = one_machine["stdout"]
    earlier = int(summary.split(" done by an earlier run")[0].rsplit(", ", 1)[1].split()[0])
    assert earlier >= one_machine["done_before_kill"] >= 3  # those chunks were not read again
    assert "not finished" not in summary
    _expect_whole_archive(snapshot(one_machine["url"]), big_archive)
    with open(one_machine["out"] / "findings.csv", encoding="utf-8-sig") as f:
        assert sum(1 for _ in csv.DictReader(f)) > 300


def test_a_local_cluster_with_a_worker_killed_gives_the_same_findings(
    one_machine: dict[str, Any],
    big_archive: Archive,
    pg_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    distributed = pytest.importorskip("distributed")
    config = _config(tmp_path, pg_url)
    checker = Checker.load(DIRECTORY)
    sources = [parse_archive_source(s) for s in big_archive.sources]
    killed: list[int] = []
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        pids = client.run(os.getpid)

        def progress(total: int) -> Callable[[int], None]:
            calls = [0]

            def advance(n: int) -> None:
                calls[0] += 1
                if calls[0] == 2:  # the first chunk is done: kill one worker in the middle of the run
                    pid = sorted(pids.values())[0]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

            return advance

        store = Store(pg_url)
        try:
            result = run_archive(
                config, checker, store, sources, cluster=cluster.scheduler_address, chunk_size=100,
                out_dir=tmp_path / "out", progress=progress,
            )  # fmt: skip
        finally:
            store.close()
        after = client.run(os.getpid)
    assert killed and killed[0] not in after.values()  # the worker was lost (its nanny started another)
    assert result.status == "ok" and result.data["archive"]["chunks_not_finished"] == 0
    snap = snapshot(pg_url)
    _expect_whole_archive(snap, big_archive)
    reference = snapshot(one_machine["url"])
    assert snap["messages"] == reference["messages"]  # the same findings, message by message
    assert snap["locations"] == reference["locations"]
    with open(tmp_path / "out" / "findings.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    with open(one_machine["out"] / "findings.csv", encoding="utf-8-sig") as f:
        assert sorted((r["message_id"], r["rule"], r["folder"]) for r in csv.DictReader(f)) == sorted(
            (r["message_id"], r["rule"], r["folder"]) for r in rows
        )
