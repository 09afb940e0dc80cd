"""The all-MiniLM-L6-v2 encoder on ONNX Runtime: the published model's vectors (checked against a
NumPy forward pass written out step by step), int8 vectors close to them, unit vectors, batching
that does not change them, and embeddings that put sentences of like meaning together."""

from __future__ import annotations

import minilm_reference
import numpy as np
import pytest

from correspondence_guard.detectors.encoder import MAX_TOKENS, Encoder, encoder
from correspondence_guard.errors import PolicyError

pytestmark = pytest.mark.slow

SENTENCES = [
    "The bins on Meadow Lane were not collected again this week.",
    "Please let me have the figures before the committee meets.",
    "Thanks.",
    "I'm afraid the car park will stay closed until the resurfacing is finished in March, "
    "whatever the traders say about it at the next meeting of the town centre partnership.",
    "Cancel that fine today.",
]


def test_float32_gives_the_published_models_vectors():
    weights, layers = minilm_reference.weights()
    ids = [e.ids for e in encoder().tokenizer.encode_batch(SENTENCES)]
    expected = np.concatenate([minilm_reference.forward(weights, layers, i) for i in ids])
    got = encoder("float32").encode(SENTENCES)
    assert np.allclose(got, expected, atol=1e-4)


def test_int8_vectors_stay_close_to_float32_and_keep_their_neighbours():
    exact = encoder("float32").encode(SENTENCES)
    quick = encoder("int8").encode(SENTENCES)
    cosines = np.sum(exact * quick, axis=1)
    assert cosines.min() > 0.95 and cosines.mean() > 0.98
    # each int8 vector's nearest float32 vector is its own sentence's
    assert list(np.argmax(quick @ exact.T, axis=1)) == list(range(len(SENTENCES)))


def test_an_unknown_precision_is_a_clear_error():
    with pytest.raises(PolicyError, match="precision"):
        Encoder(precision="float16")


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_vectors_are_unit_length_and_float32(precision):
    vectors = encoder(precision).encode(["The bins were not collected.", "Thanks."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_a_sentence_embeds_the_same_alone_and_padded_in_a_batch(precision):
    short = "Please cancel the fine."
    batch = [
        short,
        "A much longer sentence about the budget, the car parks and the leisure centre roof repairs.",
    ]
    alone = encoder(precision).encode([short])[0]
    encoder(precision).cache_clear()
    together = encoder(precision).encode(batch)[0]
    assert np.allclose(alone, together, atol=1e-4)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_paraphrases_are_closer_than_unrelated_sentences(precision):
    a, b, c = encoder(precision).encode(
        [
            "The council will refund the money you paid.",
            "You will get your payment back from the council.",
            "The library opens at nine on Saturdays.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_overlong_text_is_cut_not_refused():
    vectors = encoder().encode(["word " * (MAX_TOKENS * 20), ""])
    assert vectors.shape == (2, 384) and np.isfinite(vectors).all()
