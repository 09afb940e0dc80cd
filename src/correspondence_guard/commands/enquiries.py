"""``correspondence-guard enquiries PATH``: members' enquiries to officers and which are overdue.

PATH is a folder of .eml files, a Maildir or an mbox file (see mailbox.py); the limits come from
the policy's ``settings.enquiries`` (CAM 7.6 by default), working days from the directory's bank
holiday calendar. Exit status: 0 none overdue, 1 some overdue, 2 bad input. A message that cannot
be read is reported on standard error and skipped; it does not change the exit status.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from correspondence_guard.cli import EXIT_CLEAR, EXIT_FINDINGS, directory_arg, policy_arg
from correspondence_guard.errors import CorrespondenceGuardError

if TYPE_CHECKING:
    from correspondence_guard.threads import Enquiry

COLUMNS = ("member", "officer", "subject", "received", "due", "status", "days overdue")
CSV_FIELDS = (
    "member", "member_email", "officers", "subject", "received", "counted_from", "acknowledge_by",
    "reply_by", "due", "status", "days_overdue", "acknowledged", "answered", "answered_by", "late",
    "days_late", "chasers", "source", "message_id", "citations",
)  # fmt: skip
_STYLE = {"answered": "green", "acknowledged": "cyan", "overdue": "bold red", "open": "yellow"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "enquiries", help="list members' enquiries to officers in a mailbox and which are overdue"
    )
    directory_arg(parser)
    policy_arg(parser)
    parser.add_argument("--as-of", metavar="DATE", help="judge as of this date, YYYY-MM-DD (default: today)")
    parser.add_argument("--format", choices=["text", "json", "csv"], default="text")
    parser.add_argument("path", metavar="PATH", help="a folder of .eml files, a Maildir or an mbox file")
    parser.set_defaults(func=run)


def _as_of(value: str | None, timezone: str) -> dt.date:
    from zoneinfo import ZoneInfo

    if value is None:
        return dt.datetime.now(ZoneInfo(timezone)).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CorrespondenceGuardError(f"--as-of: not a date (YYYY-MM-DD): {value!r}") from None


def _warn(message: str) -> None:
    print(f"correspondence-guard: warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from correspondence_guard.directory import load_directory
    from correspondence_guard.mailbox.folders import read_mailbox
    from correspondence_guard.policy import load_policy
    from correspondence_guard.threads import Status, find_enquiries

    if not args.directory:
        raise CorrespondenceGuardError("no directory: give --directory FILE or set CG_DIRECTORY")
    directory = load_directory(args.directory)
    settings = load_policy(args.policy).settings.enquiries
    as_of = _as_of(args.as_of, directory.council.timezone)

    skipped: list[tuple[str, str]] = []

    def skip(source: str, problem: str) -> None:
        skipped.append((source, problem))
        _warn(f"{source}: {problem} (skipped)")

    messages = []
    for source, message in read_mailbox(args.path, skip, max_attachment_bytes=0):  # attachments not opened
        if message.date is None:
            skip(source, "no Date header")
        else:
            messages.append((source, message))
    if not messages and not skipped:
        raise CorrespondenceGuardError(
            f"{args.path}: no messages found (.eml files, a Maildir or an mbox file)"
        )

    enquiries = find_enquiries(messages, directory, settings, as_of)
    limits = (
        f"acknowledge within {settings.acknowledge_within_days}, " if settings.acknowledge_within_days else ""
    ) + f"reply within {settings.reply_within_days} working days ({', '.join(settings.cite)})"
    counts = Counter(e.status.value for e in enquiries)
    if args.format == "json":
        print(json.dumps({
            "as_of": as_of.isoformat(),
            "limits": settings.model_dump(mode="json", include={"acknowledge_within_days", "reply_within_days",
                                                                "cite"}),
            "summary": {s.value: counts.get(s.value, 0) for s in Status},
            "enquiries": [e.to_dict() for e in enquiries],
            "skipped": [{"source": s, "problem": p} for s, p in skipped],
        }, indent=2, ensure_ascii=False))  # fmt: skip
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for e in enquiries:
            writer.writerow({k: _cell(v) for k, v in e.to_dict().items()})
    else:
        _print_table(enquiries)
        summary = ", ".join(f"{counts.get(s.value, 0)} {s.value}" for s in Status)
        skips = f" {len(skipped)} messages skipped." if skipped else ""
        print(f"{len(enquiries)} enquiries as of {as_of.isoformat()}: {summary}. Limits: {limits}.{skips}")
    return EXIT_FINDINGS if counts.get(Status.OVERDUE.value) else EXIT_CLEAR


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else value


def _rows(enquiries: list[Enquiry]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for e in enquiries:
        status = e.status.value + (" (late)" if e.late else "")
        subject = e.subject if len(e.subject) <= 50 else e.subject[:49] + "…"
        rows.append((
            e.member, ", ".join(e.officers), subject, e.received.strftime("%Y-%m-%d %H:%M"),
            e.due.isoformat(), status, str(e.days_overdue) if e.status.value == "overdue" else "",
        ))  # fmt: skip
    return rows


def _print_table(enquiries: list[Enquiry]) -> None:
    rows = _rows(enquiries)
    if sys.stdout.isatty():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(*(c.upper() for c in COLUMNS), box=box.SIMPLE, header_style="bold")
        for e, row in zip(enquiries, rows, strict=True):
            table.add_row(*row, style=_STYLE.get(e.status.value, ""))
        Console(highlight=False).print(table)
        return
    header = tuple(c.upper() for c in COLUMNS)
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
