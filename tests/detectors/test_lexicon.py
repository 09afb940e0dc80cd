"""Word lists (``lexicon.Terms``): the cheap first test must never hide a match of the pattern.

Checked for every word list of the default policy, with each term written as a council might
write it (capitals, a plural, a possessive, inside punctuation), and against ordinary prose.
"""

from __future__ import annotations

from typing import Any

import pytest

from correspondence_guard import Checker
from correspondence_guard.detectors.lexicon import Terms, terms_pattern, word_beginnings

PROSE = (
    "Thank you for the update on the draft budget and the consultation timetable. I have read "
    "the papers for Thursday's meeting and have a few questions about the leisure centre, the "
    "waste contract and the co-operative's lease, which I will raise at the meeting."
)


def _word_lists(checker: Checker) -> dict[str, tuple[str, ...]]:
    """Every list of words in the default policy's rule parameters, by rule and key."""
    lists: dict[str, tuple[str, ...]] = {}
    for rule, params in checker.policy.params.items():
        for key, value in params.model_dump().items():
            values: list[Any] = [*value.values()] if isinstance(value, dict) else [value]
            for i, item in enumerate(values):
                if isinstance(item, list) and item and all(isinstance(t, str) for t in item):
                    lists[f"{rule}.{key}.{i}"] = tuple(item)
    return lists


def _writings(term: str) -> list[str]:
    return [
        f"{term}.",
        f"As to {term.upper()}, yes.",
        f"({term.title()}s) and more",
        f"the {term}'s end",
        f"“{term.capitalize()}”",
    ]


def test_every_policy_word_list_is_found_however_it_is_written(checker: Checker) -> None:
    lists = _word_lists(checker)
    assert len(lists) >= 20, "the default policy's word lists were not found"
    for name, terms in lists.items():
        words = terms_pattern(terms)
        for term in terms:
            for text in _writings(term):
                expected = words.pattern.search(text)
                got = words.search(text)
                assert (got and got.span()) == (expected and expected.span()), (name, text)
        for found, expected in zip(words.finditer(PROSE), words.pattern.finditer(PROSE), strict=True):
            assert found.span() == expected.span(), name


def test_text_without_any_first_word_is_not_searched() -> None:
    words = Terms(("vote for", "canvass", "polling day"))
    assert not words.maybe_in("The polls close at ten.")  # "poll" is not "polling"
    assert words.search("The polls close at ten.") is None
    assert words.maybe_in("Come and CANVASSING with us") and words.search("Canvasses needed")
    assert words.sub("#", "Please vote for me") == "Please # me"
    assert words.sub("#", "Nothing to see") == "Nothing to see"


@pytest.mark.parametrize("term", ["£500 grant", "#1 priority"])
def test_a_term_that_does_not_begin_with_a_word_is_always_tried(term: str) -> None:
    words = Terms((term,))
    assert words.search(f"It is our {term}.") is not None


def test_word_beginnings_are_every_prefix_of_every_word() -> None:
    got = word_beginnings("Botched it, Sue.")
    assert {"b", "bo", "botch", "botched", "i", "it", "s", "su", "sue"} <= got
    assert "otch" not in got and "botched," not in got and "Botch" not in got
