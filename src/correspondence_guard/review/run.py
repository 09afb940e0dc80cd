"""The information-governance review of a period's correspondence (``review`` and the nightly job).

``run_review(config, checker, store, since, until)`` reads every source (review_sources.py),
checks each message dated in ``[since, until)`` that the store does not hold yet (all of them
with ``recheck``) and records it; reads the weeks before as well for the overdue member-enquiry
check (threads.py); then writes ``report.html``, ``findings.csv`` and ``findings.json`` to the
output folder. The report's numbers come from the store, so findings the watcher recorded in
the period are in it too. One unreadable message is recorded as an error and the run goes
on; a source that cannot be read (an IMAP server down) makes the run ``partial``.

Each run is a row of the store's ``reviews`` table (running, ok, partial, failed, stopped);
a review never starts while another, started less than ``STALE_AFTER`` ago, is running.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from correspondence_guard.config import Config, ConfigError, ReviewSource
from correspondence_guard.engine import Checker
from correspondence_guard.errors import CorrespondenceGuardError
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.masking import mask_text
from correspondence_guard.message import Message
from correspondence_guard.private_files import private_dir
from correspondence_guard.report.review_data import gather, one_line, utc
from correspondence_guard.review.sources import Entry, describe, header_date, open_source
from correspondence_guard.review.tally import Tally
from correspondence_guard.store.db import MessageMeta, Store
from correspondence_guard.store.recording import Outcome, check_and_record, header_key, record_error

log = logging.getLogger(__name__)
ENQUIRY_DAYS = 42  # calendar days read before ``until`` for the member-enquiry check
STALE_AFTER = dt.timedelta(hours=12)  # a "running" review older than this crashed
Progress = Callable[[int], Callable[[], None]]  # given the total, returns "one more done"


class ReviewBusyError(CorrespondenceGuardError):
    """Another review is running."""


class ReviewStoppedError(CorrespondenceGuardError):
    """The review was asked to stop (the service is shutting down)."""


@dataclass(frozen=True)
class ReviewResult:
    review_id: int
    status: str  # ok, or partial when a source could not be read
    out_dir: Path
    data: dict[str, Any]
    summary: str


def council_tz(config: Config, checker: Checker) -> ZoneInfo:
    """``review.timezone``, else the directory's council timezone."""
    name = config.review.timezone or checker.directory.council.timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"review.timezone: unknown time zone {name!r}") from None


def default_out_dir(config: Config, since: dt.datetime, until: dt.datetime, tz: ZoneInfo) -> Path:
    """``review.out_dir/2026-03-02`` (the period's last day), or ``.../2026-02-28_2026-03-02``."""
    first, last = since.astimezone(tz).date(), (until - dt.timedelta(microseconds=1)).astimezone(tz).date()
    return config.review.out_dir / (last.isoformat() if first == last else f"{first}_{last}")


def run_review(
    config: Config,
    checker: Checker,
    store: Store,
    since: dt.datetime,
    until: dt.datetime,
    *,
    sources: list[ReviewSource] | None = None,
    out_dir: Path | None = None,
    recheck: bool = False,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    enquiry_days: int = ENQUIRY_DAYS,
) -> ReviewResult:
    """Review ``[since, until)`` (aware datetimes) and write the reports; see the module docstring."""
    from correspondence_guard.report.csvout import write_csv, write_json
    from correspondence_guard.report.html import write_html

    since, until = utc(since), utc(until)
    if until <= since:
        raise ConfigError("review: the end of the period must be after its start")
    tz = council_tz(config, checker)
    sources = config.review.sources if sources is None else sources
    if not sources:
        raise ConfigError("review: no sources (give --source or set review.sources in the config)")
    out_dir = out_dir or default_out_dir(config, since, until, tz)
    review_id = store.start_review(since, until, str(out_dir), STALE_AFTER)
    if review_id is None:
        raise ReviewBusyError("another review is running; this one was not started")
    log.info("review %d: %s to %s from %d source(s)", review_id, since, until, len(sources))
    try:
        tally = Tally()
        messages = _read_sources(config, checker, store, sources, since, until, recheck, tally,
                                 progress, stop, enquiry_days)  # fmt: skip
        from correspondence_guard.threads import find_enquiries

        enquiries = find_enquiries(messages, checker.directory, checker.policy.settings.enquiries,
                                   until.astimezone(tz) - dt.timedelta(microseconds=1))  # fmt: skip
        data = gather(store, checker, tz, since, until, review_id, tally, sources, enquiries)
        private_dir(out_dir)
        write_html(data, out_dir / "report.html")
        write_csv(data, out_dir / "findings.csv")
        write_json(data, out_dir / "findings.json")
    except BaseException as exc:
        status = "stopped" if isinstance(exc, ReviewStoppedError | KeyboardInterrupt) else "failed"
        store.finish_review(review_id, status, f"{type(exc).__name__}: {exc}"[:500])
        raise
    status = "partial" if any(p["kind"] == "source" for p in tally.problems) else "ok"
    summary = one_line(data, out_dir)
    store.finish_review(review_id, status, summary)
    log.info("review %d %s: %s", review_id, status, summary)
    return ReviewResult(review_id, status, out_dir, data, summary)


def _read_sources(
    config: Config,
    checker: Checker,
    store: Store,
    sources: list[ReviewSource],
    since: dt.datetime,
    until: dt.datetime,
    recheck: bool,
    tally: Tally,
    progress: Progress | None,
    stop: threading.Event | None,
    enquiry_days: int,
) -> list[tuple[str, Message]]:
    """Check the period's messages; return every message of the enquiry window, parsed."""
    start = min(since, until - dt.timedelta(days=enquiry_days))
    max_bytes = int(config.watch.max_message_mb * 1024 * 1024)
    rechecked: set[str] = set()
    messages: list[tuple[str, Message]] = []
    with ExitStack() as stack:
        opened: list[Entry] = []
        for source in sources:
            try:
                opened += stack.enter_context(open_source(source, config, start, until))
            except ConfigError:
                raise
            except Exception as exc:  # a server down or a folder unreadable: the others still count
                log.error("review: %s cannot be read: %s", describe(source), _why(exc))
                tally.problems.append({"kind": "source", "source": describe(source), "problem": _why(exc)})
        advance = progress(len(opened)) if progress else None
        for entry in opened:
            if stop is not None and stop.is_set():
                raise ReviewStoppedError("stopped before the end")
            try:
                message = _one(entry, since, until, store, checker, recheck, rechecked, max_bytes, tally)
            except Exception as exc:  # unreadable file, connection lost mid-way: note it and go on
                tally.problems.append({"kind": "message", "source": entry.label, "problem": _why(exc)})
                message = None
            if message is not None:
                tally.scanned += 1
                messages.append((entry.label, message))
            if advance:
                advance()
    return messages


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return text if isinstance(exc, CorrespondenceGuardError) else f"{type(exc).__name__}: {text}".rstrip(": ")


def _one(
    entry: Entry,
    since: dt.datetime,
    until: dt.datetime,
    store: Store,
    checker: Checker,
    recheck: bool,
    rechecked: set[str],
    max_bytes: int,
    tally: Tally,
) -> Message | None:
    if not (entry.date and since <= entry.date < until):  # before the period: for enquiries only
        try:
            return parse_eml(entry.read(), 0)  # attachments listed, not opened
        except Exception:
            return None
    tally.read += 1
    raw = entry.read()
    key, mid = header_key(raw)
    old = []
    if recheck and key not in rechecked:
        rechecked.add(key)
        old = store.forget(key)  # checked again below; where it was seen is kept
    if entry.too_big:
        outcome = record_error(
            store, raw, entry.location, f"message is {entry.too_big} bytes, over the {max_bytes}-byte limit"
        )
    elif not (mid or header_date(raw) or _has_from(raw)):
        outcome = record_error(
            store, raw, entry.location, "not an e-mail message: no From, Date or Message-ID"
        )
    else:
        outcome = check_and_record(
            store, checker, raw, entry.location, max_bytes=max_bytes, source=entry.label
        )
    for location in old:
        store.record(MessageMeta(message_key=key), None, location)
    _count(outcome, entry, tally)
    if outcome.verdict == "error":
        return None
    return outcome.message or parse_eml(raw, 0)


def _has_from(raw: bytes) -> bool:
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    return any(line.lower().startswith(b"from:") for line in head.splitlines())


def _count(outcome: Outcome, entry: Entry, tally: Tally) -> None:
    if outcome.verdict == "error":
        problem = outcome.error or "recorded earlier as a message that could not be checked"
        tally.problems.append({"kind": "message", "source": entry.label, "problem": problem})
    elif outcome.new:
        tally.checked += 1
        tally.flagged += outcome.flagged
        if outcome.report is not None and outcome.report.unchecked:  # over a limit, or an attachment unread
            problem = mask_text("; ".join(outcome.report.unchecked))
            tally.problems.append({"kind": "part", "source": entry.label, "problem": problem})
    else:
        tally.seen += 1
