"""The NumPy all-MiniLM-L6-v2 encoder: unit vectors, batching that does not change them, and
embeddings that put sentences of like meaning together."""

from __future__ import annotations

import numpy as np
import pytest

from correspondence_guard.detectors.encoder import MAX_TOKENS, encoder

pytestmark = pytest.mark.slow


def test_vectors_are_unit_length_and_float32():
    vectors = encoder().encode(["The bins were not collected.", "Thanks."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_sentence_embeds_the_same_alone_and_padded_in_a_batch():
    short = "Please cancel the fine."
    batch = [
        short,
        "A much longer sentence about the budget, the car parks and the leisure centre roof repairs.",
    ]
    alone = encoder().encode([short])[0]
    together = encoder().encode(batch)[0]
    assert np.allclose(alone, together, atol=1e-4)


def test_paraphrases_are_closer_than_unrelated_sentences():
    a, b, c = encoder().encode(
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
