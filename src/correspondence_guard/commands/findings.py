"""``correspondence-guard findings``: list what the findings store holds.

The store is ``--store URL``, else the ``store.url`` of ``--config FILE`` (or $CG_CONFIG),
else $CG_STORE__URL. Dates are ISO 8601 (``2026-03-01`` or ``2026-03-01T09:00+00:00``);
a date without a zone is UTC, and ``--until`` a plain date includes that whole day.
Output: one line per finding (text), one JSON object per line (jsonl), or CSV. Exit 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from correspondence_guard.errors import CorrespondenceGuardError

FIELDS = [
    "date",
    "checked_at",
    "rule",
    "severity",
    "on_send",
    "title",
    "reason",
    "sender",
    "sender_role",
    "department",
    "recipient_classes",
    "subject",
    "message_id",
    "citations",
    "evidence",
]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("findings", help="list the findings recorded in the store (by watch, review...)")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--config", metavar="FILE", help="service config whose store to read (default: $CG_CONFIG)"
    )
    src.add_argument(
        "--store", metavar="URL", help="store URL, e.g. sqlite:///cg.db or postgresql+psycopg://..."
    )
    p.add_argument("--since", metavar="DATE", type=_date, help="from this date or time (inclusive)")
    p.add_argument(
        "--until", metavar="DATE", type=_until, help="up to this date (inclusive) or time (exclusive)"
    )
    p.add_argument("--rule", metavar="ID", help="only this rule's findings")
    p.add_argument("--format", choices=["text", "jsonl", "csv"], default="text")
    p.add_argument(
        "--training-out",
        metavar="DIR",
        help="instead of listing: write the learned rules' findings, with add-in feedback and "
        "overrides as hard negatives, as a council folder to retrain on (needs --directory)",
    )
    p.add_argument("--directory", metavar="FILE", help="the council directory (for --training-out)")
    p.set_defaults(func=run)


def _parse(value: str) -> tuple[dt.datetime, bool]:
    try:
        if len(value) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC), True
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {value!r}") from None
    return (parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)), False


def _date(value: str) -> dt.datetime:
    return _parse(value)[0]


def _until(value: str) -> dt.datetime:
    parsed, whole_day = _parse(value)
    return parsed + dt.timedelta(days=1) if whole_day else parsed


def _store_url(args: argparse.Namespace) -> str:
    if args.store:
        return str(args.store)
    if args.config or os.environ.get("CG_CONFIG"):
        from correspondence_guard.config import load_config

        return load_config(args.config).store.url
    if os.environ.get("CG_STORE__URL"):
        return os.environ["CG_STORE__URL"]
    raise CorrespondenceGuardError("no store: give --store URL or --config FILE (or set CG_CONFIG)")


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return (value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value).isoformat()
    return "" if value is None else str(value)


def _row(item: dict[str, Any]) -> dict[str, Any]:
    row = {k: item.get(k) for k in FIELDS}
    row["date"], row["checked_at"] = _iso(item.get("date")), _iso(item.get("checked_at"))
    return row


def run(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from correspondence_guard.detectors import REGISTRY
    from correspondence_guard.report.csvout import SpreadsheetWriter
    from correspondence_guard.store.db import Store

    if args.rule and args.rule not in REGISTRY:
        raise CorrespondenceGuardError(
            f"unknown rule: {args.rule} (the rules: {', '.join(sorted(REGISTRY))})"
        )
    url = _store_url(args)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise CorrespondenceGuardError(
            f"{url.removeprefix('sqlite:///')}: no such store (has watch run yet?)"
        )
    store = Store(url, create=False)
    if args.training_out:
        return _export(store, args)
    out = sys.stdout
    try:
        items = store.iter_findings(since=args.since, until=args.until, rule=args.rule)
        if args.format == "csv":
            writer = SpreadsheetWriter(out, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
        count = 0
        for item in items:
            row = _row(item)
            count += 1
            if args.format == "jsonl":
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            elif args.format == "csv":
                for key in ("recipient_classes", "citations", "evidence"):
                    row[key] = json.dumps(row[key], ensure_ascii=False)
                writer.writerow(row)
            else:
                when = (row["date"] or row["checked_at"])[:16].replace("T", " ")
                out.write(
                    f"{when:<16}  {row['severity']:<6}  {row['rule']:<36}  {row['sender'] or '-':<40}  "
                    f"{row['subject'] or '(no subject)'}: {row['reason']}\n"
                )
        if args.format == "text":
            out.write(f"{count} finding(s)\n")
    except sa.exc.SQLAlchemyError as exc:
        raise CorrespondenceGuardError(f"cannot read the store: {type(exc).__name__}") from None
    finally:
        store.close()
    return 0


def _export(store: Any, args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from correspondence_guard.directory import load_directory
    from correspondence_guard.training.export import export

    if not args.directory:
        raise CorrespondenceGuardError("--training-out needs --directory FILE (the council directory)")
    try:
        positives, negatives = export(
            store.iter_findings(since=args.since, until=args.until, rule=args.rule),
            store.list_feedback(args.since),
            store.list_overrides(args.since),
            load_directory(args.directory),
            Path(args.directory),
            Path(args.training_out),
        )
    except sa.exc.SQLAlchemyError as exc:
        raise CorrespondenceGuardError(f"cannot read the store: {type(exc).__name__}") from None
    finally:
        store.close()
    print(
        f"{positives + negatives} message(s) written to {args.training_out} ({positives} flagged, "
        f"{negatives} reported or overridden): check the labels, then "
        f"correspondence-guard train --extra {args.training_out} --out DIR"
    )
    return 0
