"""The review's findings.csv (for Excel) and findings.json (everything the report shows), and
``SpreadsheetWriter``, the one CSV writer of every CSV the tool writes.

The CSV is UTF-8 with a byte-order mark, so Excel reads accented names and "£" correctly, with
CRLF line ends and one row per finding. Dates are ISO 8601 in the council's time zone: ``date``
(2026-03-02) and ``time`` (09:30:00) sort and filter in Excel; ``timestamp`` keeps the offset.
A text cell starting with = + - @ is prefixed with ' so Excel never runs it as a formula.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from correspondence_guard.private_files import open_private, write_private

CSV_FIELDS = (
    "date", "time", "timestamp", "rule", "title", "severity", "on_send", "sender", "sender_role", "department",
    "recipient_classes", "subject", "reason", "evidence", "note", "citations", "message_id",
)  # fmt: skip
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA) else value


class SpreadsheetWriter(csv.DictWriter):  # type: ignore[type-arg]
    """``csv.DictWriter`` that makes every text cell safe for a spreadsheet: one starting with
    = + - @ (or a tab or carriage return) is prefixed with ', so a subject such as
    ``=HYPERLINK(...)`` reaches Excel as text, never as a formula."""

    def writerow(self, rowdict: Any) -> Any:
        return super().writerow({k: _safe(v) if isinstance(v, str) else v for k, v in rowdict.items()})


def csv_row(finding: dict[str, Any]) -> dict[str, str]:
    stamp = finding["date"] or ""
    evidence = "; ".join(f"{e['where']}: {e['text']}" for e in finding["evidence"])
    row = {
        "date": stamp[:10],
        "time": stamp[11:19],
        "timestamp": stamp,
        "recipient_classes": ", ".join(finding["recipient_classes"]),
        "evidence": evidence,
        "citations": "; ".join(finding["citations"]),
    }
    for key in CSV_FIELDS:
        if key not in row:
            row[key] = str(finding.get(key) or "")
    return {k: row[k] for k in CSV_FIELDS}


def write_csv(data: dict[str, Any], path: Path) -> None:
    with open_private(path, encoding="utf-8-sig", newline="") as f:
        writer = SpreadsheetWriter(f, fieldnames=CSV_FIELDS, lineterminator="\r\n")
        writer.writeheader()
        for finding in data["findings"]:
            writer.writerow(csv_row(finding))


def write_json(data: dict[str, Any], path: Path) -> None:
    write_private(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
