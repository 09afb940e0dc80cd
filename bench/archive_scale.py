"""Benchmark ``review --archive``: messages/s for --jobs 1, --jobs 2 and a LocalCluster of 2 workers.

Generates an archive (tests/review/archive_mail.py: two mbox files, a Maildir with a subfolder,
a folder of .eml files; 100,000 messages by default), reviews it three times into fresh SQLite
stores, and prints a Markdown table with the scaling ratio against --jobs 1. Then it models the
time for 10 million messages on N workers:

    T(M, N) = start-up + M / (N * r) + (M / chunk) * h / N

where ``r`` is the measured per-core rate (--jobs 1, start-up taken off) and ``h`` the measured
coordination overhead per chunk (the cluster's core-seconds beyond ``M / r``, per chunk).

With ``--pst N`` it also writes the first N of the same messages into an Outlook PST (folders
Inbox, Inbox/Archive and Sent Items) with tests/review/pst_build.py, in a subprocess, and adds
rows for reviewing that PST alone with --jobs 1 and --jobs 2 (their ratio is against the PST's
--jobs 1); the time to write the PST is printed apart and not counted in any rate.

    .venv/bin/python bench/archive_scale.py [--messages 100000] [--chunk-size 250] [--skip-cluster] [--pst N]

Needs the ``cluster`` extra for the LocalCluster row, and the ``pst`` and ``pst-tests`` extras
(libpff-python, aspose-email-for-python-via-net) for the PST rows, which are skipped without them.
Always exits 0.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "review"))

from archive_mail import DIRECTORY, message, write_archive  # noqa: E402

from correspondence_guard.config import Config  # noqa: E402
from correspondence_guard.engine import Checker  # noqa: E402
from correspondence_guard.review.archive import run_archive  # noqa: E402
from correspondence_guard.review.chunks import parse_archive_source  # noqa: E402
from correspondence_guard.store.db import Store  # noqa: E402


def _startup() -> float:
    """Seconds to load the checker and check a first message (what each worker pays once)."""
    from correspondence_guard.intake.eml import parse_eml

    t = time.perf_counter()
    checker = Checker.load(DIRECTORY)
    checker.check(parse_eml(message(7)[0]))
    checker.mask("Jane Smith")
    return time.perf_counter() - t


def _write_pst(out: Path, n: int) -> str:
    """Messages 0 .. n-1 into the PST ``out``, by tests/review/pst_build.py: "" when written, else why not."""
    folders = ("Inbox", "Inbox/Archive", "Sent Items")
    entries = [
        {"folder": folders[i % 3], "rfc822": base64.b64encode(message(i)[0]).decode()} for i in range(n)
    ]
    spec = out.with_suffix(".json")
    spec.write_text(json.dumps({"messages": entries}))
    builder = ROOT / "tests" / "review" / "pst_build.py"
    done = subprocess.run([sys.executable, str(builder), str(spec), str(out)], capture_output=True, text=True)
    return (
        "" if done.returncode == 0 else (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    )


def _run(work: Path, sources: list[str], mode: str, chunk: int, tag: str = "") -> tuple[float, int, int, int]:
    db = work / f"{tag}{mode.replace(':', '-')}.db"
    config = Config(
        directory=DIRECTORY, store={"url": f"sqlite:///{db}"}, review={"out_dir": work / "reports"}
    )  # type: ignore[arg-type]
    checker = Checker.load(DIRECTORY)
    store = Store(config.store.url)
    try:
        t = time.perf_counter()
        result = run_archive(
            config, checker, store, [parse_archive_source(s) for s in sources], chunk_size=chunk,
            jobs=int(mode[5:]) if mode.startswith("jobs:") else 1,
            cluster=mode if mode.startswith("local:") else None, out_dir=work / "reports" / f"{tag}{mode.replace(':', '-')}",
        )  # fmt: skip
        seconds = time.perf_counter() - t
    finally:
        store.close()
    run = result.data["run"]
    return seconds, run["messages_in_period"], result.chunks, run["could_not_check"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--chunk-size", type=int, default=250)
    ap.add_argument("--skip-cluster", action="store_true")
    ap.add_argument(
        "--pst", type=int, default=0, metavar="N", help="also review a PST of the first N messages"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cg-archive-bench-"))
    try:
        t = time.perf_counter()
        archive = write_archive(work / "mail", args.messages)
        print(
            f"generated {archive.files} messages in {time.perf_counter() - t:.1f} s under {work}", flush=True
        )
        runs = [
            ("", archive.sources, mode)
            for mode in ["jobs:1", "jobs:2"] + ([] if args.skip_cluster else ["local:2"])
        ]
        pst_written = ""
        if args.pst:
            pst, t = work / "archive.pst", time.perf_counter()
            why = _write_pst(pst, args.pst)
            if why:
                print(f"PST rows skipped: tests/review/pst_build.py failed: {why}", flush=True)
            else:
                seconds = time.perf_counter() - t
                pst_written = (
                    f"PST of {args.pst} messages written in {seconds:.1f} s = {args.pst / seconds:.0f} msg/s"
                )
                print(f"{pst_written} (not counted in the review rates)", flush=True)
                runs += [("pst-", [f"pst:{pst}"], mode) for mode in ("jobs:1", "jobs:2")]
        startup = _startup()
        rows = {}
        for tag, sources, mode in runs:
            seconds, messages, chunks, unchecked = _run(work, sources, mode, args.chunk_size, tag)
            rows[tag, mode] = (seconds, messages, chunks, unchecked)
            print(
                f"{tag}{mode}: {messages} messages ({unchecked} could not be checked) in {seconds:.1f} s "
                f"= {messages / seconds:.0f} msg/s",
                flush=True,
            )
        print(
            "\n| run | workers | messages | could not check | chunks | seconds | messages/s | vs --jobs 1 |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        names = {"jobs:1": "--jobs 1", "jobs:2": "--jobs 2", "local:2": "--cluster local:2"}
        for (tag, mode), (seconds, messages, chunks, unchecked) in rows.items():
            base = rows[tag, "jobs:1"]
            rate = messages / seconds
            print(
                f"| {'PST, ' if tag else ''}{names[mode]} | {mode.split(':')[1]} | {messages:,} | {unchecked} | "
                f"{chunks} | {seconds:.1f} | {rate:.0f} | {rate / (base[1] / base[0]):.2f}x |"
            )
        if pst_written:
            print(f"\n{pst_written}; the PST rows compare with the PST's --jobs 1")
        seconds1, messages1, *_ = rows["", "jobs:1"]
        r = messages1 / max(seconds1 - startup, 1e-6)  # per-core rate, start-up taken off
        last = rows.get(("", "local:2")) or rows["", "jobs:2"]
        n = 2
        h = max(0.0, (n * (last[0] - startup) - last[1] / r) / last[2])  # core-seconds per chunk
        print(f"\nper-core rate r = {r:.0f} msg/s; start-up {startup:.1f} s per worker; "
              f"coordination overhead h = {h * 1000:.0f} ms per chunk of {args.chunk_size}")  # fmt: skip
        total = 10_000_000
        print("\n| workers (cores) | modelled time for 10M messages |")
        print("| ---: | ---: |")
        for workers in (1, 2, 8, 16, 32, 64):
            secs = startup + total / (workers * r) + (total / args.chunk_size) * h / workers
            print(f"| {workers} | {secs / 3600:.1f} h |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
