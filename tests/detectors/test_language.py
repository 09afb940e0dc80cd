"""The language rules' thresholds: the model's own from its card, or the council's from the policy."""

from __future__ import annotations

import pytest

from correspondence_guard import Checker
from correspondence_guard.detectors import language

RULE = "undue-pressure-on-officer"


def _checker(directory_path, tmp_path, threshold: float | None) -> Checker:
    if threshold is None:
        return Checker.load(directory_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"rules:\n  {RULE}:\n    params:\n      threshold: {threshold}\n", encoding="utf-8")
    return Checker.load(directory_path, policy)


@pytest.mark.parametrize(
    ("policy_threshold", "card_threshold", "flagged"),
    [
        (None, 0.6, True),  # the model's own threshold, from its card
        (None, 0.8, False),
        (0.6, 0.8, True),  # the policy's wins over the card's
        (0.8, 0.6, False),
    ],
)
def test_a_sentence_scoring_07_against_each_threshold(
    directory_path, tmp_path, make_draft, model_says, policy_threshold, card_threshold, flagged
):
    checker = _checker(directory_path, tmp_path, policy_threshold)
    message = make_draft(sender="member:Barnaby", to="officer:Kieran", body="Have it done by Friday.")
    with model_says(RULE, 0.7, threshold=card_threshold):
        findings = checker.check(message, rules=[RULE]).findings
    assert bool(findings) is flagged


def test_a_threshold_outside_0_to_1_is_a_policy_error(directory_path, tmp_path):
    from correspondence_guard.errors import PolicyError

    with pytest.raises(PolicyError, match="threshold"):
        _checker(directory_path, tmp_path, 1.5)


def test_the_shipped_card_has_a_threshold_for_every_language_rule():
    card = language.model_card()
    from correspondence_guard.detectors import REGISTRY

    learned = {rule for rule, r in REGISTRY.items() if r.gate is not None}
    assert learned == set(card["thresholds"]) and all(0 < t < 1 for t in card["thresholds"].values())
    assert set(card["heldout"]) == learned and len(card["data_sha256"]) == 64


@pytest.mark.slow
def test_a_two_million_character_sentence_is_judged_not_refused(check, make_draft):
    body = "Please " + "sort " * 400_000 + "it out."
    findings = check(make_draft(sender="member:Barnaby", to="officer:Kieran", body=body))
    assert all(f.rule for f in findings)  # answered, not an error


def test_the_ngram_scores_do_not_need_the_word_attributes_the_loader_drops():
    import spacy

    texts = [
        "Cancel the fine for Mr Okafor at 14 Mill Street today, 3 times over!",
        "The Conservatives have wrecked this town and voters will remember it in May.",
        "Thanks for the minutes, see you on Thursday.",
    ]
    loaded = language.load_model()
    assert loaded.nlp.vocab.lex_attr_getters == {}
    full = spacy.load(language.shipped_model_dir())
    assert full.vocab.lex_attr_getters, "spaCy's own loader keeps them"
    assert [d.cats for d in loaded.nlp.pipe(texts)] == [d.cats for d in full.pipe(texts)]


def test_a_model_card_without_a_precision_runs_its_encoder_in_float32():
    model = language.load_model()
    card = {k: v for k, v in model.card.items() if k != "encoder_precision"}
    older = language.LanguageModel(model.path, model.nlp, card, model.head)
    assert older.encoder_precision == "float32"
    newer = language.LanguageModel(model.path, model.nlp, {**card, "encoder_precision": "int8"}, model.head)
    assert newer.encoder_precision == "int8"
