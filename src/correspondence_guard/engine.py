"""The whole check: message -> detectors -> findings -> report.

``Checker`` loads the directory and policy once; ``check`` runs every enabled rule::

    checker = Checker.load(directory="directory.yaml", policy=None)
    report = checker.check(message, source="draft.eml")
    report.verdict            # Verdict.WARNING
    report.findings[0].rule   # "personal-data-to-private-address"
"""

from __future__ import annotations

import logging
from pathlib import Path

from correspondence_guard.detectors import REGISTRY, Context
from correspondence_guard.detectors.base import load_nlp, nlp_scope
from correspondence_guard.directory import Directory, load_directory
from correspondence_guard.findings import Finding, Report
from correspondence_guard.limits import bound
from correspondence_guard.message import Message
from correspondence_guard.notes import advise
from correspondence_guard.policy import Policy, load_policy

log = logging.getLogger(__name__)


class Checker:
    """A directory and a policy, ready to check messages."""

    def __init__(self, directory: Directory, policy: Policy):
        self.directory = directory
        self.policy = policy
        self.context = Context(directory, policy.settings)

    @classmethod
    def load(cls, directory: str | Path, policy: str | Path | None = None) -> Checker:
        return cls(load_directory(directory), load_policy(policy))

    @property
    def max_attachment_bytes(self) -> int:
        return int(self.policy.settings.max_attachment_mb * 1024 * 1024)

    def warm_up(self) -> None:
        """Load the NLP model, the personal-data analyser and (when a rule reads the sender's
        words) the language model now rather than on the first message."""
        from correspondence_guard.detectors import language, pii

        with nlp_scope(self.policy.settings.nlp_model):  # not while another thread checks
            pii.analyzer(self.policy.settings.nlp_model)
            if any(REGISTRY[r].gate is not None for r in self.policy.enabled()):  # a learned rule
                language.warm_up(self.context)

    def mask(self, text: str) -> str:
        """``text`` fit to store or log: people's names (found by the language model's NER,
        titled or not) and the identifiers ``masking.mask_text`` knows, masked."""
        from correspondence_guard.masking import mask_people

        model = self.policy.settings.nlp_model
        with nlp_scope(model):
            return mask_people(text, load_nlp(model))

    def check(self, message: Message, source: str = "", rules: list[str] | None = None) -> Report:
        """Run the enabled rules (or only ``rules``) on one message, cut to the policy's limits."""
        limits = self.policy.settings.limits
        message, unchecked = bound(message, limits)
        findings: list[Finding] = []
        with nlp_scope(self.policy.settings.nlp_model):  # the words spaCy reads here are not kept
            for rule_id in rules or self.policy.enabled():
                rule = REGISTRY[rule_id]
                for hit in rule.detect(message, self.context, self.policy.params[rule_id]):
                    findings.append(advise(rule_id, hit, self.policy.rules[rule_id]))
                    break  # one note per rule per message: the first, strongest hit
        findings.sort(key=lambda f: -f.severity.rank)
        return Report(source, tuple(findings), unchecked, limits.on_send_unchecked)
