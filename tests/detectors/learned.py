"""Assertions shared by the tests of the five learned rules (one test file per rule uses them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

Check = Callable[..., list[Any]]


def assert_judged(
    check: Check, make_draft: Callable[..., Any], model_says: Any, rule: str, fields: dict
) -> None:
    """The roles fit: the model's verdict decides, both ways, and its score stays out of the note."""
    message = make_draft(**fields)
    with model_says(rule, 0.97):
        [finding] = check(message, rules=[rule])
    assert finding.rule == rule and finding.note and finding.citations
    assert finding.evidence and finding.evidence[0].score == pytest.approx(0.97)
    assert finding.evidence[0].to_dict()["score"] == pytest.approx(0.97)
    assert "0.97" not in finding.note + finding.reason + finding.title
    with model_says(rule, 0.03):
        assert check(message, rules=[rule]) == []


def assert_not_judged(
    check: Check, make_draft: Callable[..., Any], model_says: Any, rule: str, fields: dict
) -> None:
    """The roles do not fit: nothing is flagged even when the model is certain."""
    with model_says(rule, 0.99):
        assert check(make_draft(**fields), rules=[rule]) == []


def shipped_model_errors(
    check: Check,
    make_draft: Callable[..., Any],
    rule: str,
    flagged: Sequence[Any],
    not_flagged: Sequence[Any],
) -> tuple[list[str], list[str]]:
    """The shipped model on cases written from the rule text: (missed, false alarms), by case id."""
    missed = [p.id for p in flagged if not check(make_draft(**p.values[0]), rules=[rule])]
    alarms = [p.id for p in not_flagged if check(make_draft(**p.values[0]), rules=[rule])]
    return missed, alarms


def rule_tests(
    rule: str,
    judged: Sequence[Any],
    not_judged: Sequence[Any],
    flagged: Sequence[Any],
    not_flagged: Sequence[Any],
    misses: int,
    alarms: int,
) -> tuple[Callable[..., None], Callable[..., None], Callable[..., None]]:
    """The three tests every learned rule's test file has, bound to its own cases:
    the gate with the model's verdict fixed both ways, and the shipped model on cases written
    from the rule's text (at most ``misses`` missed and ``alarms`` false alarms)."""

    @pytest.mark.parametrize("fields", judged)
    def test_the_model_decides_when_the_roles_fit(check, make_draft, model_says, fields):  # type: ignore[no-untyped-def]
        assert_judged(check, make_draft, model_says, rule, fields)

    @pytest.mark.parametrize("fields", not_judged)
    def test_never_flagged_when_the_roles_do_not_fit(check, make_draft, model_says, fields):  # type: ignore[no-untyped-def]
        assert_not_judged(check, make_draft, model_says, rule, fields)

    @pytest.mark.slow
    def test_shipped_model_on_cases_written_from_the_rule(check, make_draft):  # type: ignore[no-untyped-def]
        missed, false_alarms = shipped_model_errors(check, make_draft, rule, flagged, not_flagged)
        assert len(missed) <= misses and len(false_alarms) <= alarms, (
            f"missed {missed}, false alarms {false_alarms}"
        )

    return (
        test_the_model_decides_when_the_roles_fit,
        test_never_flagged_when_the_roles_do_not_fit,
        test_shipped_model_on_cases_written_from_the_rule,
    )
