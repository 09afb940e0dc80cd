"""``correspondence-guard review --archive``: the command line of an archive review (archive.py).

Exit status: 0 no findings, 1 some, 2 bad input or a chunk that could not be finished (the
reports are still written; run the same command again to finish it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from correspondence_guard.cli import EXIT_CLEAR, EXIT_ERROR, EXIT_FINDINGS
from correspondence_guard.config import ConfigError


def progress_bar(total: int) -> Callable[[int], None]:
    """A rich progress bar on stderr: messages done of ``total``, messages/s and the time left."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("archive"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} msg/s"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("archive", total=total, rate="-")
    bar.start()
    state = {"first": True}

    def advance(n: int) -> None:
        if state["first"]:  # the chunks an earlier run did: shown done, not counted in the rate
            state["first"] = False
            bar.reset(task, total=total, completed=n, rate="-")
        else:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:.0f}" if speed else "-")
        if bar.finished:
            bar.stop()

    return advance


def run_archive_command(args: argparse.Namespace) -> int:
    from correspondence_guard.commands.review import _when
    from correspondence_guard.config import load_config
    from correspondence_guard.engine import Checker
    from correspondence_guard.review.archive import parse_cluster, run_archive
    from correspondence_guard.review.chunks import parse_archive_source
    from correspondence_guard.review.run import council_tz
    from correspondence_guard.store.db import Store

    if not args.source:
        raise ConfigError(
            "review --archive: give the archives with --source (mbox:, maildir:, folder:, pst:PATH)"
        )
    if args.recheck:
        raise ConfigError("review --archive: --recheck is not supported (each message is checked once)")
    if args.jobs < 1:
        raise ConfigError("--jobs: give 1 or more worker processes")
    if args.chunk_size < 1:
        raise ConfigError("--chunk-size: give 1 or more messages")
    if args.cluster:
        parse_cluster(args.cluster)
    sources = [parse_archive_source(s) for group in args.source for s in group]
    if any(s.kind == "pst" for s in sources):
        from correspondence_guard.review.pst import require_pypff

        require_pypff()
    config = load_config(args.config)
    checker = Checker.load(config.directory, config.policy)
    tz = council_tz(config, checker)
    since = _when(args.since, tz, "--since", end=False) if args.since else None
    until = _when(args.until, tz, "--until", end=True) if args.until else None
    if since and until and until <= since:
        raise ConfigError("--until: the period ends before it starts")
    store = Store(config.store.url)
    try:
        result = run_archive(
            config, checker, store, sources, since=since, until=until, jobs=args.jobs, cluster=args.cluster,
            chunk_size=args.chunk_size, out_dir=args.out, tz=tz,
            progress=progress_bar if sys.stderr.isatty() else None,
        )  # fmt: skip
    finally:
        store.close()
    print(result.summary)
    if result.status != "ok":
        failed = [p["source"] for p in result.data["problems"] if p["kind"] == "source"]
        print(
            f"correspondence-guard: error: {len(failed)} part(s) of the archive could not be read; "
            "run the same command again to retry them",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_FINDINGS if result.data["store"]["findings"] else EXIT_CLEAR
