"""The nightly review and the retention purge, run by APScheduler (``serve`` and ``schedule``).

``start_scheduler(config, checker, store)`` starts a BackgroundScheduler whose jobs are kept
in the store's own database (table ``apscheduler_jobs``), so the schedule survives restarts:

* the review runs at ``review.cron`` in the council's time zone (``review.timezone``, else the
  directory's). Five crontab fields (0 and 7 are Sunday, as in cron) or six with seconds first.
  It reviews the previous day, and any earlier days since the last successful review (up to
  ``MAX_CATCH_UP_DAYS``), so a failed or partial run is retried at the next time;
* a run missed while the machine was off runs once at start (coalesced) if it is less than
  ``review.misfire_grace_seconds`` late; otherwise it is logged as missed;
* two runs never overlap: one instance in this process (``max_instances=1``), and the store's
  ``reviews`` table stops a second process starting a review while one is running;
* the retention job purges, daily at ``RETENTION_TIME``, stored findings and report folders
  older than the retention period (the policy's ``settings.retention_months``, 12 by default;
  ``review.retention_months`` in the service config overrides it when set) and logs the counts.

Jobs refer to this module's functions by name (``correspondence_guard.review.schedule:review_job``);
the config, checker and store they use are the ones given to the last ``start_scheduler``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from correspondence_guard.config import Config, ConfigError
from correspondence_guard.engine import Checker
from correspondence_guard.report.review_data import utc
from correspondence_guard.review.run import ReviewBusyError, ReviewStoppedError, council_tz, run_review
from correspondence_guard.store.db import Store

log = logging.getLogger(__name__)
REVIEW_JOB, RETENTION_JOB = "nightly-review", "retention-purge"
JOB_TABLE = "apscheduler_jobs"
RETENTION_TIME = dt.time(4, 30)  # local time, before the usual 06:00 review
MAX_CATCH_UP_DAYS = 7
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_REPORT_DIR = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:_(\d{4}-\d{2}-\d{2}))?$")
_REPORT_FILES = {"report.html", "findings.csv", "findings.json"}


@dataclass
class _Runtime:
    config: Config
    checker: Checker
    store: Store
    tz: ZoneInfo
    stop: threading.Event


_runtime: _Runtime | None = None


def cron_trigger(expr: str, tz: ZoneInfo) -> CronTrigger:
    """A CronTrigger from crontab syntax (5 fields, or 6 with seconds first); cron's day numbers."""
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ConfigError(f"review.cron: {expr!r}: give 5 crontab fields (or 6, seconds first)")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_crontab_days(dow), timezone=tz)  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"review.cron: {expr!r}: {exc}") from None


def _crontab_days(field: str) -> str:
    """Crontab weekday numbers (0 or 7 = Sunday) as names: APScheduler 3 counts 0 as Monday."""
    out = []
    for part in field.split(","):
        m = re.fullmatch(r"(\*|\d)(?:-(\d))?(?:/(\d+))?", part)
        if m is None:
            out.append(part.lower())  # names (mon-fri) and anything else: APScheduler's own syntax
            continue
        first, last = (0, 6) if m[1] == "*" else (int(m[1]), int(m[2] or m[1]))
        if m[1] == "*" and not m[3]:
            out.append("*")
            continue
        if first > 7 or last > 7 or first > last:
            raise ConfigError(f"review.cron: day of week {part!r}: use 0-7 (0 and 7 are Sunday)")
        out += [_DAYS[d % 7] for d in range(first, last + 1, int(m[3] or 1))]
    return ",".join(dict.fromkeys(out))


def start_scheduler(config: Config, checker: Checker, store: Store) -> BackgroundScheduler:
    """Start the review and retention jobs in a background thread; ``stop(scheduler)`` ends them.

    Call it once per store (one process): the jobs live in the store's database. Without
    ``review.sources`` only the retention purge is scheduled.
    """
    global _runtime
    tz = council_tz(config, checker)
    review_trigger = cron_trigger(config.review.cron, tz)
    grace = config.review.misfire_grace_seconds
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOB_TABLE)},
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        timezone=tz,
    )
    _runtime = _Runtime(config, checker, store, tz, threading.Event())
    scheduler.add_listener(_on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    scheduler.start(paused=True)  # look at the stored jobs before any runs
    retention = CronTrigger(hour=RETENTION_TIME.hour, minute=RETENTION_TIME.minute, timezone=tz)
    if config.review.sources:
        _ensure_job(scheduler, REVIEW_JOB, "review_job", review_trigger, grace, "nightly review")
    else:
        log.warning("review.sources is empty: the nightly review is not scheduled (the retention purge is)")
        if scheduler.get_job(REVIEW_JOB) is not None:
            scheduler.remove_job(REVIEW_JOB)
    _ensure_job(scheduler, RETENTION_JOB, "retention_job", retention, grace, "retention purge")
    scheduler.resume()  # a run missed while stopped, and still within the grace time, runs now
    for job in scheduler.get_jobs():
        log.info("%s: next run %s", job.name, job.next_run_time)
    return scheduler


def service_hook(config: Config, checker: Checker, store: Store) -> Callable[[], None]:
    """For ``serve`` (an ``service.api.StartHook``): run the scheduler with the service; returns its stop."""
    scheduler = start_scheduler(config, checker, store)
    return lambda: stop(scheduler)


def _ensure_job(
    scheduler: BackgroundScheduler, job_id: str, func: str, trigger: CronTrigger, grace: int, name: str
) -> None:
    """Keep a stored job (and its pending run time) when its schedule is unchanged; else replace it."""
    ref = f"{__name__}:{func}"
    job = scheduler.get_job(job_id)
    if job is not None and job.func_ref == ref and repr(job.trigger) == repr(trigger):
        if (job.coalesce, job.max_instances, job.misfire_grace_time) != (True, 1, grace):
            job.modify(coalesce=True, max_instances=1, misfire_grace_time=grace)
        return
    scheduler.add_job(ref, trigger, id=job_id, name=name, replace_existing=True,
                      coalesce=True, max_instances=1, misfire_grace_time=grace)  # fmt: skip


def stop(scheduler: BackgroundScheduler, wait: bool = True) -> None:
    """Stop the scheduler; a review in progress stops after the message in hand."""
    if _runtime is not None:
        _runtime.stop.set()
    if scheduler.running:
        scheduler.shutdown(wait=wait)


def _on_event(event: JobEvent) -> None:
    what = "nightly review" if event.job_id == REVIEW_JOB else event.job_id
    if event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("%s: the previous run is still going; this run is skipped", what)
    else:
        when = getattr(event, "scheduled_run_time", None)
        log.warning(
            "%s: the run due at %s was missed by more than the grace time; it runs next at its usual time",
            what,
            when,
        )


def review_period(store: Store, tz: ZoneInfo, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The previous local day, from the end of the last successful review if that is earlier."""
    today = now.astimezone(tz).date()
    until = dt.datetime.combine(today, dt.time(), tz)
    since = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(), tz)
    last = store.last_review("ok")
    if last is not None:
        last_until = utc(last["until"]).astimezone(tz)
        earliest = dt.datetime.combine(today - dt.timedelta(days=MAX_CATCH_UP_DAYS), dt.time(), tz)
        if earliest <= last_until < since:
            since = last_until
    return since, until


def review_job() -> None:
    """The scheduled review (persisted by name); failures are logged and retried next time."""
    rt = _runtime
    if rt is None:
        log.error("nightly review: not started by start_scheduler in this process; skipped")
        return
    since, until = review_period(rt.store, rt.tz, dt.datetime.now(rt.tz))
    try:
        result = run_review(rt.config, rt.checker, rt.store, since, until, stop=rt.stop)
    except ReviewBusyError:
        log.warning("nightly review: another review is running; skipped")
    except ReviewStoppedError:
        log.warning("nightly review of %s to %s stopped; it will be retried at the next time", since, until)
    except Exception as exc:
        log.error("nightly review of %s to %s failed (%s: %s); it will be retried at the next time",
                  since.date(), until.date(), type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")  # fmt: skip
        log.debug("nightly review failed", exc_info=True)
    else:
        level = logging.INFO if result.status == "ok" else logging.WARNING
        log.log(level, "nightly review %s: %s", result.status, result.summary)


def retention_months(config: Config, checker: Checker) -> int:
    if "retention_months" in config.review.model_fields_set:
        return config.review.retention_months
    return int(getattr(checker.policy.settings, "retention_months", 12))


def months_before(when: dt.datetime, months: int) -> dt.datetime:
    year, month0 = divmod(when.year * 12 + when.month - 1 - months, 12)
    day = min(when.day, calendar.monthrange(year, month0 + 1)[1])
    return when.replace(year=year, month=month0 + 1, day=day)


def purge_reports(out_dir: Path, before: dt.date) -> list[str]:
    """Remove report folders (``2026-03-02`` or ``2026-02-28_2026-03-02``) whose last day is before
    ``before``; only folders holding nothing but the review's own files are touched."""
    removed: list[str] = []
    if not out_dir.is_dir():
        return removed
    for child in sorted(out_dir.iterdir()):
        m = _REPORT_DIR.match(child.name)
        if not (m and child.is_dir() and not child.is_symlink()):
            continue
        try:
            last = dt.date.fromisoformat(m[2] or m[1])
        except ValueError:
            continue
        if last < before and {p.name for p in child.iterdir()} <= _REPORT_FILES:
            shutil.rmtree(child)
            removed.append(child.name)
    return removed


def purge_old(
    config: Config, checker: Checker, store: Store, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Purge what is older than the retention period; returns and logs what was purged."""
    tz = council_tz(config, checker)
    months = retention_months(config, checker)
    before = months_before((now or dt.datetime.now(tz)).astimezone(tz), months)
    counts: dict[str, Any] = dict(store.purge(utc(before)))
    counts["report_folders"] = len(purge_reports(config.review.out_dir, before.date()))
    log.info("retention (%d months): purged everything before %s: %s", months, before.isoformat(timespec="minutes"),
             ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()))  # fmt: skip
    return counts


def retention_job() -> None:
    rt = _runtime
    if rt is None:
        log.error("retention purge: not started by start_scheduler in this process; skipped")
        return
    try:
        purge_old(rt.config, rt.checker, rt.store)
    except Exception as exc:
        log.error("retention purge failed (%s); it will be retried at the next time", type(exc).__name__)
        log.debug("retention purge failed", exc_info=True)
