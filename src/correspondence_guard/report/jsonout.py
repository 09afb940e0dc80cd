"""JSON renderings of reports."""

from __future__ import annotations

import json
from typing import Any

from correspondence_guard.findings import Report


def render_json(reports: list[Report]) -> str:
    """One report as an object; several as an array."""
    data: Any = reports[0].to_dict() if len(reports) == 1 else [r.to_dict() for r in reports]
    return json.dumps(data, indent=2, ensure_ascii=False)


def render_jsonl_line(report: Report) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False)


def error_line(source: str, error: str) -> str:
    """A JSON Lines record for a file that could not be checked."""
    return json.dumps({"source": source, "error": error, "findings": []}, ensure_ascii=False)
