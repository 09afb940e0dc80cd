"""What detectors see (Hit) and what we report (Finding, Report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How serious a finding is; ordered low < medium < high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return {"low": 1, "medium": 2, "high": 3}[self.value]


class SendAction(StrEnum):
    """What an Outlook add-in should do on send: the policy's ``on_send``."""

    ALLOW = "allow"
    PROMPT = "prompt"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return {"allow": 0, "prompt": 1, "block": 2}[self.value]


class Verdict(StrEnum):
    """A report's overall outcome, derived from its findings."""

    CLEAR = "clear"
    ADVISORY = "advisory"
    WARNING = "warning"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a finding was seen and the matched text, already masked."""

    where: str  # "body", "subject", "quoted", "attachment:name.docx", "recipients"
    text: str
    score: float | None = None  # a learned rule's score for this sentence (JSON only, never in notes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"where": self.where, "text": self.text}
        if self.score is not None:
            out["score"] = round(self.score, 3)
        return out


@dataclass(frozen=True, slots=True)
class Hit:
    """What a detector saw: a reason and raw evidence (masked later by ``notes.advise``)."""

    reason: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """One advisory note about one message.

    ``to_dict()`` gives stable keys, for example::

        {"rule": "reply-all-members", "severity": "medium", "on_send": "prompt",
         "title": "Reply sent to all members", "reason": "all-members list addressed",
         "note": "Reply to the sender only ...", "citations": ["CAM 10.1"],
         "evidence": [{"where": "recipients", "text": "all.members@example.gov.uk"}]}
    """

    rule: str
    severity: Severity
    on_send: SendAction
    title: str
    reason: str
    note: str
    citations: tuple[str, ...]
    evidence: tuple[Evidence, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "on_send": self.on_send.value,
            "title": self.title,
            "reason": self.reason,
            "note": self.note,
            "citations": list(self.citations),
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The result of checking one message."""

    source: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    # parts of the message not judged: over a limit, or an attachment that could not be read
    unchecked: tuple[str, ...] = ()
    # what on-send does when something is unchecked (the policy's limits.on_send_unchecked)
    unchecked_action: SendAction = SendAction.ALLOW

    @property
    def send_action(self) -> SendAction:
        """The strictest ``on_send`` of the findings (and of ``unchecked_action``, when part of
        the message was not checked); ``allow`` when there is nothing."""
        actions = [f.on_send for f in self.findings] + ([self.unchecked_action] if self.unchecked else [])
        return max(actions, key=lambda a: a.rank, default=SendAction.ALLOW)

    @property
    def verdict(self) -> Verdict:
        """clear: nothing found and everything checked; block: sending is blocked; warning: some
        finding is high severity or prompts the sender; advisory: low/medium notes only, or
        part of the message could not be checked."""
        if not self.findings and not self.unchecked:
            return Verdict.CLEAR
        action = self.send_action
        if action is SendAction.BLOCK:
            return Verdict.BLOCK
        if action is SendAction.PROMPT or any(f.severity is Severity.HIGH for f in self.findings):
            return Verdict.WARNING
        return Verdict.ADVISORY

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "verdict": self.verdict.value,
            "send_action": self.send_action.value,
            "findings": [f.to_dict() for f in self.findings],
            "unchecked": list(self.unchecked),
        }
