"""``correspondence-guard watch``: watch IMAP folders and record findings in the store.

Runs until SIGTERM or SIGINT (then finishes the message in hand, saves the checkpoint and
exits 0); ``--once`` scans every folder once and exits (0 done, 2 a folder could not be
scanned), for cron and tests. Accounts, folders and actions come from the service config.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from correspondence_guard.config import ConfigError, load_config

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "watch",
        help="watch IMAP folders (IDLE) and record each message's findings in the store",
        description="Watch the IMAP folders in the service config: each new message is checked once and "
        "recorded in the findings store. Runs until SIGTERM/SIGINT.",
    )
    p.add_argument("--config", metavar="FILE", help="service config, YAML or TOML (default: $CG_CONFIG)")
    p.add_argument("--once", action="store_true", help="scan every folder once and exit (for cron and tests)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from correspondence_guard.engine import Checker
    from correspondence_guard.mailbox.watcher import Watcher
    from correspondence_guard.store.db import Store

    config = load_config(args.config)
    if not config.watch.accounts:
        raise ConfigError("watch.accounts: no accounts to watch")
    checker = Checker.load(config.directory, config.policy)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.warning("%s: finishing the message in hand, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    store = Store(config.store.url)
    try:
        watcher = Watcher(config.watch, store, checker, stop=stop)
        if args.once:
            ok = watcher.run_once()
            s = watcher.stats
            print(
                f"{s['checked']} message(s) checked ({s['flagged']} with findings, {s['errors']} could not be "
                f"read), {s['seen']} already recorded"
            )
            return 0 if ok else 2
        folders = sum(len(a.folders) for a in config.watch.accounts)
        log.info("watching %d folder(s) in %d account(s)", folders, len(config.watch.accounts))
        watcher.run()
        return 0
    finally:
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
