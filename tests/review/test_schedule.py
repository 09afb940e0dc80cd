"""The nightly schedule: missed runs, no overlap, retries, and the retention purge.

Schedules are short (six-field crons firing every two seconds) and every wait is generous:
the machine running the tests is shared, so nothing here depends on tight timing. The job
store is a SQLite file, as in production (the store's own database).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from conftest import BEATRIX, DIRECTORY, eml, make_config  # tests/review/conftest.py
from correspondence_guard import Checker
from correspondence_guard.config import Config, ConfigError
from correspondence_guard.findings import Evidence, Finding, Report, SendAction, Severity
from correspondence_guard.review import schedule
from correspondence_guard.review.run import ReviewResult, default_out_dir
from correspondence_guard.review.schedule import (
    JOB_TABLE,
    REVIEW_JOB,
    cron_trigger,
    purge_old,
    retention_months,
    review_period,
    start_scheduler,
    stop,
)
from correspondence_guard.store.db import MessageMeta, Store

TZ = ZoneInfo("Europe/London")
EVERY_2S = "*/2 * * * * *"


def wait_for(condition: Callable[[], Any], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in list(caplog.records))


class FakeReview:
    """Stands in for run_review: counts calls and overlaps, can be slow or fail."""

    def __init__(self, seconds: float = 0, fail_first: int = 0):
        self.calls: list[tuple[dt.datetime, dt.datetime]] = []
        self.seconds, self.fail_first = seconds, fail_first
        self.active = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, config: Config, checker: Checker, store: Store, since: dt.datetime, until: dt.datetime,
                 **kw: Any) -> ReviewResult:  # fmt: skip
        with self.lock:
            self.calls.append((since, until))
            self.active += 1
            self.most = max(self.most, self.active)
            n = len(self.calls)
        try:
            time.sleep(self.seconds)
            if n <= self.fail_first:
                raise RuntimeError("the disk is full")
            return ReviewResult(n, "ok", Path("."), {}, f"fake review {n}")
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeReview]:
    def make(**kw: Any) -> FakeReview:
        f = FakeReview(**kw)
        monkeypatch.setattr(schedule, "run_review", f)
        return f

    return make


@pytest.fixture()
def sched_config(tmp_path: Path, mail_dir: Path) -> Callable[..., Config]:
    def make(**review: Any) -> Config:
        return make_config(tmp_path, [{"kind": "folder", "path": mail_dir}], **review)

    return make


@pytest.fixture()
def running() -> Iterator[Callable[[Config, Checker, Store], BackgroundScheduler]]:
    started: list[BackgroundScheduler] = []

    def start(config: Config, checker: Checker, store: Store) -> BackgroundScheduler:
        s = start_scheduler(config, checker, store)
        started.append(s)
        return s

    yield start
    for s in started:
        stop(s)


def set_next_run(store: Store, job_id: str, when: dt.datetime) -> None:
    """What the job store holds after the machine was off: a next run time in the past.

    Written straight to the job store: a scheduler started only to change it could itself run
    (and move on) the job while shutting down."""
    jobstore = SQLAlchemyJobStore(engine=store.engine, tablename=JOB_TABLE)
    jobstore.start(BackgroundScheduler(), "default")
    job = jobstore.lookup_job(job_id)
    assert job is not None
    job.next_run_time = when
    jobstore.update_job(job)


def _daily_an_hour_ago() -> str:
    fire = dt.datetime.now(TZ) - dt.timedelta(hours=1)
    return f"{fire.minute} {fire.hour} * * *"


def test_a_run_missed_while_off_runs_once_at_start(
    sched_config: Callable[..., Config], checker: Checker, store: Store, fake: Any, running: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    review = fake()
    config = sched_config(cron=_daily_an_hour_ago(), misfire_grace_seconds=6 * 3600)
    s = running(config, checker, store)
    first = s.get_job(REVIEW_JOB).next_run_time
    assert first > dt.datetime.now(TZ) + dt.timedelta(hours=22)  # tomorrow: today's time has passed
    stop(s)
    assert review.calls == []

    # off for four days: the store still names the run of three days ago as the next one
    set_next_run(store, REVIEW_JOB, first - dt.timedelta(days=4))
    s = running(config, checker, store)
    wait_for(lambda: review.calls, what="the missed run")
    time.sleep(4)
    assert len(review.calls) == 1  # four missed times, coalesced into one run
    assert s.get_job(REVIEW_JOB).next_run_time == first  # and then back on schedule
    since, until = review.calls[0]
    assert until == dt.datetime.combine(dt.datetime.now(TZ).date(), dt.time(), TZ)
    assert since == dt.datetime.combine(until.date() - dt.timedelta(days=1), dt.time(), TZ)  # yesterday


def test_a_run_missed_by_more_than_the_grace_time_is_logged_not_run(
    sched_config: Callable[..., Config], checker: Checker, store: Store, fake: Any, running: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    review = fake()
    config = sched_config(cron=_daily_an_hour_ago(), misfire_grace_seconds=60)
    s = running(config, checker, store)
    first = s.get_job(REVIEW_JOB).next_run_time
    stop(s)
    set_next_run(store, REVIEW_JOB, first - dt.timedelta(days=1))  # due an hour ago; grace one minute
    s = running(config, checker, store)
    wait_for(lambda: logged(caplog, "was missed by more than the grace time"), what="the missed-run warning")
    assert review.calls == []
    assert s.get_job(REVIEW_JOB).next_run_time == first


def test_two_runs_never_overlap(
    sched_config: Callable[..., Config], checker: Checker, store: Store, fake: Any, running: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    review = fake(seconds=5)  # slower than the schedule
    running(sched_config(cron=EVERY_2S), checker, store)
    wait_for(lambda: len(review.calls) >= 2, timeout=90, what="two runs")
    assert review.most == 1
    assert logged(caplog, "nightly review: the previous run is still going; this run is skipped")


def test_a_failed_run_is_logged_and_retried_at_the_next_time(
    sched_config: Callable[..., Config], checker: Checker, store: Store, fake: Any, running: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    review = fake(fail_first=1)
    s = running(sched_config(cron=EVERY_2S), checker, store)
    wait_for(lambda: len(review.calls) >= 2, timeout=90, what="the retry")
    assert logged(caplog, "failed (RuntimeError: the disk is full); it will be retried at the next time")
    wait_for(lambda: logged(caplog, "nightly review ok: fake review 2"), what="the successful retry")
    assert s.running and s.get_job(REVIEW_JOB) is not None
    assert review.calls[0] == review.calls[1]  # the same period again


def test_a_scheduled_review_writes_the_report(
    tmp_path: Path, mail_dir: Path, checker: Checker, running: Any
) -> None:
    yesterday = dt.datetime.combine(dt.datetime.now(TZ).date() - dt.timedelta(days=1), dt.time(10), TZ)
    (mail_dir / "yesterday.eml").write_bytes(eml(yesterday, BEATRIX, "All Councillors <all.councillors@ashdown.gov.uk>",
        "Re: Budget", "I agree with the proposal and will vote for it.", "yesterday",
        ("In-Reply-To: <budget-original@ashdown.gov.uk>",)))  # fmt: skip
    config = make_config(tmp_path, [{"kind": "folder", "path": mail_dir}], cron=EVERY_2S)
    store = Store(config.store.url)
    try:
        s = running(config, checker, store)

        def done() -> list[Any]:
            with store.engine.connect() as conn:
                return list(
                    conn.execute(sa.text("SELECT status FROM reviews WHERE status != 'running' ORDER BY id"))
                )

        wait_for(done, timeout=120, what="a scheduled review")
        stop(s)
        assert done()[0][0] == "ok"
        out = default_out_dir(
            config, yesterday - dt.timedelta(hours=10), yesterday + dt.timedelta(hours=14), TZ
        )
        assert out == tmp_path / "reports" / yesterday.date().isoformat()
        html = (out / "report.html").read_text(encoding="utf-8")
        assert "Reply sent to all members" in html
    finally:
        store.close()


def test_the_period_catches_up_after_failed_runs(store: Store) -> None:
    now = dt.datetime(2026, 3, 6, 6, 0, tzinfo=TZ)
    assert review_period(store, TZ, now) == (
        dt.datetime(2026, 3, 5, tzinfo=TZ),
        dt.datetime(2026, 3, 6, tzinfo=TZ),
    )
    rid = store.start_review(dt.datetime(2026, 3, 2, tzinfo=dt.UTC), dt.datetime(2026, 3, 3, tzinfo=dt.UTC), "x",
                             dt.timedelta(hours=12))  # fmt: skip
    assert rid is not None
    store.finish_review(rid, "ok", "")
    assert review_period(store, TZ, now)[0] == dt.datetime(2026, 3, 3, tzinfo=TZ)  # the 3rd to 5th: retried
    later = dt.datetime(2026, 3, 20, 6, 0, tzinfo=TZ)  # more than a week on: only yesterday
    assert review_period(store, TZ, later)[0] == dt.datetime(2026, 3, 19, tzinfo=TZ)


def test_crontab_syntax() -> None:
    weekdays = cron_trigger("0 6 * * 1-5", TZ)
    monday = dt.datetime(2026, 3, 2, 7, 0, tzinfo=TZ)
    fires = [weekdays.get_next_fire_time(None, monday + dt.timedelta(days=n)) for n in range(7)]
    assert {f.strftime("%a") for f in fires} == {"Tue", "Wed", "Thu", "Fri", "Mon"}  # cron's 1-5 is Mon-Fri
    assert cron_trigger("30 5 * * 0", TZ).get_next_fire_time(None, monday).strftime("%a %H:%M") == "Sun 05:30"
    assert cron_trigger("30 5 * * 7", TZ).get_next_fire_time(None, monday).strftime("%a") == "Sun"
    assert cron_trigger("0 6 * * mon-fri", TZ).get_next_fire_time(None, monday).strftime("%a") == "Tue"
    seconds = cron_trigger(EVERY_2S, TZ)
    assert seconds.get_next_fire_time(None, monday) == monday
    for bad in ("0 6 * *", "61 6 * * *", "0 6 * * 9"):
        with pytest.raises(ConfigError, match="review.cron"):
            cron_trigger(bad, TZ)


def test_the_stored_schedule_is_kept_unless_the_config_changes(
    sched_config: Callable[..., Config], checker: Checker, store: Store, fake: Any, running: Any
) -> None:
    fake()
    s = running(sched_config(cron="0 6 * * *"), checker, store)
    first = s.get_job(REVIEW_JOB).next_run_time
    stop(s)
    set_next_run(store, REVIEW_JOB, first + dt.timedelta(days=2))  # stands for any stored state
    s = running(sched_config(cron="0 6 * * *", misfire_grace_seconds=600), checker, store)
    job = s.get_job(REVIEW_JOB)
    assert job.next_run_time == first + dt.timedelta(days=2) and job.misfire_grace_time == 600
    assert (job.coalesce, job.max_instances) == (True, 1)
    stop(s)
    s = running(sched_config(cron="15 7 * * *"), checker, store)
    assert s.get_job(REVIEW_JOB).next_run_time.strftime("%H:%M") == "07:15"
    assert {j.id for j in s.get_jobs()} == {REVIEW_JOB, schedule.RETENTION_JOB}


# -- retention ---------------------------------------------------------------------------------------------
def _finding() -> Report:
    f = Finding("reply-all-members", Severity.MEDIUM, SendAction.PROMPT, "Reply sent to all members", "why",
                "note", ("CAM 10.1",), (Evidence("recipients", "a***@ashdown.gov.uk"),))  # fmt: skip
    return Report("test", (f,))


def test_retention_purges_old_findings_and_reports_and_logs_it(
    sched_config: Callable[..., Config], checker: Checker, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    config = sched_config()
    now = dt.datetime(2026, 3, 6, 4, 30, tzinfo=TZ)
    for key, when in (
        ("old", dt.datetime(2025, 3, 5, tzinfo=dt.UTC)),
        ("new", dt.datetime(2025, 3, 7, tzinfo=dt.UTC)),
    ):
        store.record(MessageMeta(message_key=key, date=when), _finding())
    with store.engine.begin() as conn:  # retention counts from when each message was checked
        conn.execute(sa.text("UPDATE messages SET checked_at = date"))
    store.add_override("u@ashdown.gov.uk", ["tone"], "old")
    store.add_feedback("u@ashdown.gov.uk", "tone", "old")
    store.add_feedback("u@ashdown.gov.uk", "tone", "new")
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE overrides SET at = '2025-01-01 00:00:00'"))
        conn.execute(sa.text("UPDATE feedback SET at = '2025-01-01 00:00:00' WHERE reason = 'old'"))
    reports = config.review.out_dir
    for name in ("2025-03-04", "2025-02-27_2025-03-05", "2025-03-06", "2025-03-01", "latest"):
        (reports / name).mkdir(parents=True)
        (reports / name / "report.html").write_text("<!DOCTYPE html>")
    (reports / "2025-03-01" / "my notes.txt").write_text("not ours: kept")

    counts = purge_old(config, checker, store, now=now)
    assert counts == {"findings": 1, "locations": 0, "messages": 1, "overrides": 1, "feedback": 1, "reviews": 0,
                      "report_folders": 2}  # fmt: skip
    assert [f["message_pk"] for f in store.iter_findings()] == [2]
    assert sorted(p.name for p in reports.iterdir()) == ["2025-03-01", "2025-03-06", "latest"]
    assert logged(
        caplog, "retention (12 months): purged everything before 2025-03-06T04:30+00:00: 1 findings"
    )


def test_the_retention_period_comes_from_the_policy_unless_the_config_sets_it(
    tmp_path: Path, sched_config: Callable[..., Config], checker: Checker
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("settings:\n  retention_months: 6\n")
    six = Checker.load(DIRECTORY, policy)
    assert retention_months(sched_config(), checker) == 12
    assert retention_months(sched_config(), six) == 6
    assert retention_months(sched_config(retention_months=24), six) == 24
    assert schedule.months_before(dt.datetime(2026, 8, 31, tzinfo=TZ), 6) == dt.datetime(
        2026, 2, 28, tzinfo=TZ
    )


def test_the_retention_job_in_the_scheduler(
    sched_config: Callable[..., Config], checker: Checker, store: Store, running: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    s = running(sched_config(), checker, store)
    assert s.get_job(schedule.RETENTION_JOB).next_run_time.strftime("%H:%M") == "04:30"
    schedule.retention_job()
    assert logged(caplog, "retention (12 months): purged everything before")


def test_the_schedule_command_runs_until_sigterm(tmp_path: Path, mail_dir: Path) -> None:
    cfg = tmp_path / "cg.yaml"
    cfg.write_text(f"directory: {DIRECTORY}\nstore: {{url: 'sqlite:///{tmp_path / 'cmd.db'}'}}\n"
                   f"review: {{out_dir: '{tmp_path / 'reports'}', sources: [{{kind: folder, path: '{mail_dir}'}}]}}\n")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CG_")}
    proc = subprocess.Popen([sys.executable, "-m", "correspondence_guard", "schedule", "--config", str(cfg)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(
            lambda: any("nightly review: next run" in line for line in lines), timeout=120, what="the start"
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    assert any("SIGTERM: stopping the scheduler" in line for line in lines)
    assert not any("Traceback" in line for line in lines)


def test_the_service_hook_and_a_config_without_sources(
    tmp_path: Path, sched_config: Callable[..., Config], checker: Checker, store: Store, fake: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fake()
    stop_it = schedule.service_hook(sched_config(), checker, store)  # as serve starts it
    assert schedule._runtime is not None and not schedule._runtime.stop.is_set()
    stop_it()
    assert schedule._runtime.stop.is_set()
    s = start_scheduler(make_config(tmp_path, []), checker, store)  # no sources: retention only
    try:
        assert [j.id for j in s.get_jobs()] == [schedule.RETENTION_JOB]
        assert logged(caplog, "the nightly review is not scheduled")
    finally:
        stop(s)
