"""What the review's reports show, gathered from the findings store (review.py writes it).

``gather`` returns plain JSON-ready values, times in the council's zone: the period, this run's
counts, the store's counts and findings for the period, totals by rule, severity, department and
sender role, findings per day for the last 30 days, overdue member enquiries (subjects masked)
and the add-in's overrides and false-positive reports since the previous successful review.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from correspondence_guard.config import ReviewSource
from correspondence_guard.engine import Checker
from correspondence_guard.masking import mask_text
from correspondence_guard.review.sources import describe
from correspondence_guard.store.db import Store

if TYPE_CHECKING:
    from correspondence_guard.review.tally import Tally

CHART_DAYS = 30


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def gather(
    store: Store,
    checker: Checker,
    tz: ZoneInfo,
    since: dt.datetime,
    until: dt.datetime,
    review_id: int,
    tally: Tally,
    sources: list[ReviewSource],
    enquiries: list[Any],
) -> dict[str, Any]:
    """Everything the reports show, as JSON-ready values (times in the council's zone)."""

    def local(value: dt.datetime | None) -> str | None:
        return utc(value).astimezone(tz).isoformat() if value is not None else None

    findings = []
    for f in store.iter_findings(since, until):
        when = f["date"] or f["checked_at"]
        findings.append({
            "date": local(when), "rule": f["rule"], "title": f["title"], "severity": f["severity"],
            "on_send": f["on_send"], "sender": f["sender"], "sender_role": f["sender_role"],
            "department": f["department"], "recipient_classes": f["recipient_classes"], "subject": f["subject"],
            "reason": f["reason"], "note": f["note"], "citations": f["citations"], "evidence": f["evidence"],
            "message_id": f["message_id"],
        })  # fmt: skip
    last_day = (until - dt.timedelta(microseconds=1)).astimezone(tz).date()
    days = [last_day - dt.timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    chart_start = dt.datetime.combine(days[0], dt.time(), tz)
    per_day = Counter(t.astimezone(tz).date() for t in store.finding_times(utc(chart_start), until))
    previous = store.last_review("ok", before_id=review_id)
    feedback_since = utc(previous["started_at"]) if previous else since
    titles = {f["rule"]: f["title"] for f in findings}
    overdue = [e.to_dict() for e in enquiries if e.status.value == "overdue"]
    for e in overdue:
        e["subject"] = mask_text(e["subject"])
    by_status = Counter(e.status.value for e in enquiries)
    return {
        "council": checker.directory.council.name,
        "timezone": str(tz),
        "period": {"since": local(since), "until": local(until), "first_day": since.astimezone(tz).date().isoformat(),
                   "last_day": last_day.isoformat()},
        "generated_at": local(dt.datetime.now(dt.UTC)),
        "sources": [describe(s) for s in sources],
        "run": {"messages_in_period": tally.read, "checked": tally.checked, "already_recorded": tally.seen,
                "flagged": tally.flagged, "could_not_check": tally.errors, "enquiry_window_messages": tally.scanned},
        "problems": tally.problems,
        "store": {"messages": store.count_messages(since, until), "by_verdict": store.count_verdicts(since, until),
                  "findings": len(findings)},
        "totals": {
            "rule": _totals(findings, "rule", titles),
            "severity": _totals(findings, "severity", order=["high", "medium", "low"]),
            "department": _totals(findings, "department", empty="(no department: not an officer)"),
            "sender_role": _totals(findings, "sender_role", empty="(not in the directory)"),
        },
        "per_day": [{"date": d.isoformat(), "findings": per_day.get(d, 0)} for d in days],
        "findings": findings,
        "enquiries": {"total": len(enquiries), "by_status": dict(sorted(by_status.items())), "overdue": overdue},
        "feedback_since": local(feedback_since),
        "overrides": [_addin(o, local) for o in store.list_overrides(feedback_since)],
        "feedback": [_addin(f, local) for f in store.list_feedback(feedback_since)],
    }  # fmt: skip


def _totals(
    findings: list[dict[str, Any]],
    key: str,
    titles: dict[str, str] | None = None,
    order: list[str] | None = None,
    empty: str = "",
) -> list[dict[str, Any]]:
    counts = Counter(f[key] or "" for f in findings)
    keys = [k for k in order if k in counts] if order else sorted(counts, key=lambda k: (-counts[k], k))
    return [{"key": k, "label": (titles or {}).get(k) or k or empty, "count": counts[k]} for k in keys]


def _addin(item: dict[str, Any], local: Callable[[dt.datetime | None], str | None]) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if k != "id"}
    out["at"] = local(item["at"])
    return out


def one_line(data: dict[str, Any], out_dir: Path) -> str:
    """``2026-03-02: 40 messages (35 checked now, 4 already recorded, 1 could not be checked); ...``."""
    run, period = data["run"], data["period"]
    days = (
        period["last_day"]
        if period["first_day"] == period["last_day"]
        else f"{period['first_day']} to {period['last_day']}"
    )
    high = sum(t["count"] for t in data["totals"]["severity"] if t["key"] == "high")
    return (
        f"{days}: {run['messages_in_period']} messages ({run['checked']} checked now, {run['already_recorded']} "
        f"already recorded, {run['could_not_check']} could not be checked); {data['store']['findings']} findings "
        f"({high} high); {len(data['enquiries']['overdue'])} overdue member enquiries; "
        f"report: {out_dir / 'report.html'}"
        + (f"; {sum(p['kind'] == 'source' for p in data['problems'])} source(s) could not be read"
           if any(p["kind"] == "source" for p in data["problems"]) else "")
    )  # fmt: skip
