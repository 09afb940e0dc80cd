"""Turn what a detector saw into an advisory note: severity, note, citations, masked evidence."""

from __future__ import annotations

from correspondence_guard.findings import Evidence, Finding, Hit
from correspondence_guard.masking import mask_text
from correspondence_guard.policy import RuleConfig


def advise(rule_id: str, hit: Hit, config: RuleConfig) -> Finding:
    """Build the Finding for ``hit`` from the rule's policy entry; evidence is masked here."""
    return Finding(
        rule=rule_id,
        severity=config.severity,
        on_send=config.on_send,
        title=config.title,
        reason=mask_text(hit.reason),
        note=" ".join(config.note.split()),
        citations=tuple(config.cite),
        evidence=tuple(Evidence(where=e.where, text=mask_text(e.text), score=e.score) for e in hit.evidence),
    )
