"""A council's own labelled mail for retraining, from what the findings store holds.

The store keeps no message bodies, only each finding's masked evidence sentences, the sender,
the kinds of recipient and the masked subject. ``export`` writes every stored finding of a
learned rule as one message of the training format (``corpora/FORMAT.md``): from the sender,
to a directory address of each recipient kind, with the evidence sentences as its text.
A finding someone reported as a false positive (add-in feedback for that rule and subject) or
sent anyway with a justification (an override naming the rule) is written as a hard negative
(``rules: []``, ``negative_for: [rule]``); every other finding as a positive. Information
governance reads the file, corrects any label, adds its own messages, and trains:

    correspondence-guard findings --store URL --training-out our-mail --directory council.yaml
    correspondence-guard train --extra our-mail --out /etc/correspondence-guard/model
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from correspondence_guard.directory import Directory
from correspondence_guard.training.corpus import LANGUAGE_RULES


def _address(directory: Directory, kind: str) -> str:
    """A directory address of this recipient kind (or a stand-in outside the council)."""
    domain = directory.council.domains[0] if directory.council.domains else "council.example"
    choices = {
        "member": [m.email for m in directory.members],
        "officer": [o.email for o in directory.officers],
        "team": [t.email for t in directory.teams],
        "distribution-list": [d.address for d in directory.distribution_lists],
        "council": [f"mailbox@{domain}"],
        "trusted": [f"partner@{d}" for d in directory.council.trusted_domains],
        "private": ["someone@gmail.com"],
        "external": ["someone@example.org"],
    }.get(kind, [])
    return choices[0] if choices else "someone@example.org"


def _when(value: Any) -> str:
    when = value if isinstance(value, dt.datetime) else dt.datetime.now(dt.UTC)
    return f"{when:%Y-%m-%d %H:%M}"


def export(
    findings: Iterable[dict[str, Any]],
    feedback: Iterable[dict[str, Any]],
    overrides: Iterable[dict[str, Any]],
    directory: Directory,
    directory_file: Path,
    out: Path,
) -> tuple[int, int]:
    """Write ``out/directory.yaml`` and ``out/messages-01.yaml``; returns (positives, negatives)."""
    disputed: dict[tuple[str, str], str] = {}
    for item in feedback:
        disputed[(str(item["rule"]), str(item.get("subject", "")))] = (
            f"reported as a false positive: {item['reason']}"
        )
    for item in overrides:
        for rule in item.get("rules", []):
            disputed.setdefault(
                (str(rule), str(item.get("subject", ""))), f"sent anyway: {item['justification']}"
            )
    messages: list[dict[str, Any]] = []
    positives = negatives = 0
    for item in findings:
        rule = str(item["rule"])
        sentences = [
            str(e["text"]) for e in item.get("evidence", []) if e.get("where") in ("body", "subject")
        ]
        if rule not in LANGUAGE_RULES or not sentences:
            continue
        subject = str(item.get("subject") or "")
        doubt = disputed.get((rule, subject))
        kinds = item.get("recipient_classes") or ["officer"]
        messages.append(
            {
                "id": f"own-{len(messages) + 1:04}",
                "date": _when(item.get("date") or item.get("checked_at")),
                "from": str(item.get("sender") or _address(directory, "member")),
                "to": [_address(directory, str(k)) for k in kinds],
                "cc": [],
                "subject": subject or "(no subject)",
                "kind": "new",
                "rules": [] if doubt else [rule],
                "negative_for": [rule] if doubt else [],
                "why": doubt or f"flagged by the checker ({item.get('reason', '')}); check this label",
                "evidence": {} if doubt else {rule: sentences},
                "body": "\n\n".join(sentences) + "\n",
            }
        )
        negatives += bool(doubt)
        positives += not doubt
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(directory_file, out / "directory.yaml")
    text = yaml.safe_dump(messages, sort_keys=False, allow_unicode=True, width=100)
    (out / "messages-01.yaml").write_text(text if messages else "[]\n", encoding="utf-8")
    return positives, negatives
