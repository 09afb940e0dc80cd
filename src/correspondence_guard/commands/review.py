"""``correspondence-guard review``: the information-governance review of a period's correspondence.

Checks each message dated in the period from every source (those already in the store only
with ``--recheck``), runs the overdue member-enquiry check, and writes report.html,
findings.csv and findings.json to ``--out`` (default: ``review.out_dir/<last day>``). Dates
are the council's local days: ``--since 2026-03-02 --until 2026-03-03`` covers both days
(default: yesterday); a time (``2026-03-02T12:00``) is taken as it is, ``--until`` exclusive.

Exit status: 0 no findings and no overdue enquiries, 1 some, 2 bad input or a source that
could not be read (the reports are still written). A progress bar shows on a terminal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from correspondence_guard.cli import EXIT_CLEAR, EXIT_ERROR, EXIT_FINDINGS
from correspondence_guard.errors import CorrespondenceGuardError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "review",
        help="review a period's correspondence and write report.html, findings.csv and findings.json",
        description="Check every message of the period from the sources, run the overdue member-enquiry "
        "check, and write the information-governance reports.",
    )
    p.add_argument("--config", metavar="FILE", help="service config, YAML or TOML (default: $CG_CONFIG)")
    p.add_argument(
        "--since", metavar="DATE", help="first day (YYYY-MM-DD, council time) or time; default: yesterday"
    )
    p.add_argument(
        "--until", metavar="DATE", help="last day (included) or time (excluded); default: --since's day"
    )
    p.add_argument(
        "--source",
        metavar="SOURCE",
        action="append",
        nargs="+",
        help="imap:ACCOUNT[/FOLDER], maildir:PATH, mbox:PATH, folder:PATH or a path (default: review.sources)",
    )
    p.add_argument(
        "--out", metavar="DIR", type=Path, help="output folder (default: review.out_dir/<last day>)"
    )
    p.add_argument("--recheck", action="store_true", help="check again messages already in the store")
    p.add_argument(
        "--enquiry-days",
        metavar="N",
        type=int,
        default=None,
        help="days of mail read for the enquiry check (42)",
    )
    archive = p.add_argument_group("archive review (docs/archive-review.md)")
    archive.add_argument(
        "--archive",
        action="store_true",
        help="check whole archives (--source mbox:, maildir:, folder:, pst:PATH), with no date window "
        "unless --since/--until are given; an interrupted run resumes when run again",
    )
    archive.add_argument(
        "--jobs", metavar="N", type=int, default=1, help="worker processes on this machine (1)"
    )
    archive.add_argument(
        "--cluster", metavar="ADDRESS", help="a Dask scheduler (tcp://host:8786) or local:N workers"
    )
    archive.add_argument("--chunk-size", metavar="N", type=int, default=250, help="messages per chunk (250)")
    p.set_defaults(func=run)


def _when(value: str, tz: ZoneInfo, what: str, end: bool) -> dt.datetime:
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end else 0)
            return dt.datetime.combine(day, dt.time(), tz)
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CorrespondenceGuardError(f"{what}: not a date (YYYY-MM-DD) or ISO time: {value!r}") from None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def period(since: str | None, until: str | None, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    yesterday = (dt.datetime.now(tz).date() - dt.timedelta(days=1)).isoformat()
    start = _when(since or yesterday, tz, "--since", end=False)
    end = (
        _when(until, tz, "--until", end=True) if until else _when(start.date().isoformat(), tz, "", end=True)
    )
    if end <= start:
        raise CorrespondenceGuardError("--until: the period ends before it starts")
    return start, end


def _progress(total: int) -> Callable[[], None]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("reviewing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)  # fmt: skip
    task = bar.add_task("reviewing", total=total)
    bar.start()
    if not total:
        bar.stop()

    def advance() -> None:
        bar.advance(task)
        if bar.finished:
            bar.stop()

    return advance


def run(args: argparse.Namespace) -> int:
    from correspondence_guard.config import load_config
    from correspondence_guard.engine import Checker
    from correspondence_guard.review.run import ENQUIRY_DAYS, council_tz, run_review
    from correspondence_guard.review.sources import parse_source
    from correspondence_guard.store.db import Store

    if getattr(args, "archive", False):
        from correspondence_guard.review.archive_cli import run_archive_command

        return run_archive_command(args)
    config = load_config(args.config)
    checker = Checker.load(config.directory, config.policy)
    since, until = period(args.since, args.until, council_tz(config, checker))
    sources = [parse_source(s) for group in args.source for s in group] if args.source else None
    store = Store(config.store.url)
    try:
        result = run_review(
            config, checker, store, since, until, sources=sources, out_dir=args.out, recheck=args.recheck,
            progress=_progress if sys.stderr.isatty() else None,
            enquiry_days=args.enquiry_days if args.enquiry_days is not None else ENQUIRY_DAYS,
        )  # fmt: skip
    finally:
        store.close()
    print(result.summary)
    if result.status != "ok":
        failed = [p["source"] for p in result.data["problems"] if p["kind"] == "source"]
        print(f"correspondence-guard: error: could not read {', '.join(failed)}", file=sys.stderr)
        return EXIT_ERROR
    found = result.data["store"]["findings"] or result.data["enquiries"]["overdue"]
    return EXIT_FINDINGS if found else EXIT_CLEAR
