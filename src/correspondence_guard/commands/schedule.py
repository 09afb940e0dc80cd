"""``correspondence-guard schedule``: run the nightly review and the retention purge on schedule.

The same scheduler ``serve`` runs (schedule.py), on its own: for a machine that reviews mail
but does not serve the add-in. Run one of the two per store, not both. Runs until SIGTERM or
SIGINT; a review in progress stops after the message in hand (and is retried next time).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "schedule",
        help="run the nightly review and the retention purge at the configured times",
        description="Run the nightly review (review.cron, in the council's time zone) and the daily "
        "retention purge until SIGTERM/SIGINT. The schedule is kept in the store's database.",
    )
    p.add_argument("--config", metavar="FILE", help="service config, YAML or TOML (default: $CG_CONFIG)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from correspondence_guard.config import load_config
    from correspondence_guard.engine import Checker
    from correspondence_guard.review.schedule import start_scheduler, stop
    from correspondence_guard.store.db import Store

    logging.getLogger("correspondence_guard").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    config = load_config(args.config)
    checker = Checker.load(config.directory, config.policy)
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.warning("%s: stopping the scheduler", signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    store = Store(config.store.url)
    try:
        scheduler = start_scheduler(config, checker, store)
        try:
            while not done.wait(1):
                pass
        finally:
            stop(scheduler)
    finally:
        store.close()
    return 0
