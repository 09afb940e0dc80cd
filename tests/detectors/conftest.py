"""``model_says``: fix the language model's decision, to test each learned rule's role gate alone.

The shipped model is tested on its own (``tests/test_language_model.py``); here its verdict is
set both ways, so a test shows that who sends a message to whom decides whether a rule looks
at all, whatever the model would say.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from correspondence_guard.detectors import language


class _FixedModel:
    """Scores every sentence ``score`` for one rule and 0 for the others."""

    def __init__(self, rule: str, score: float, thresholds: dict[str, float], when: Callable[[str], bool]):
        self.rule, self.value, self.when = rule, score, when
        self.card: dict[str, Any] = {"thresholds": thresholds}
        self.path = Path("fixed")

    def score(self, texts: list[str], **options: Any) -> list[dict[str, float]]:
        return [{self.rule: self.value if self.when(t) else 0.0} for t in texts]


@pytest.fixture
def model_says(monkeypatch: pytest.MonkeyPatch) -> Callable[..., contextlib.AbstractContextManager[None]]:
    """``with model_says(rule, 0.99): ...`` -- every sentence scores 0.99 for ``rule`` (with ``when``,
    only the sentences it accepts)."""

    @contextlib.contextmanager
    def fixed(
        rule: str, score: float, threshold: float = 0.5, when: Callable[[str], bool] = lambda text: True
    ) -> Iterator[None]:
        with monkeypatch.context() as patch:
            patch.setattr(
                language, "model_for", lambda ctx: _FixedModel(rule, score, {rule: threshold}, when)
            )
            language._LAST.clear()
            try:
                yield
            finally:
                language._LAST.clear()

    return fixed
