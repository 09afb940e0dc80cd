"""The learned language model shared by the five rules about what a sender's words do.

Political comment, commitments, instructions, personal criticism and pressure are judged by a
sentence classifier trained on a many-council corpus (``correspondence-guard train``), not by
word lists. Who sends a message to whom stays a rule: each detector's ``gate`` decides whether
the rule looks at a message; the model then scores each of the sender's own sentences, and
the rule flags the strongest sentence that reaches its policy ``threshold``.

The model ships inside the package (``correspondence_guard/models/language/``): a spaCy
pipeline with a ``textcat_multilabel`` component and ``card.json`` (version, design, training
data hash, scores on the held-out councils). Nothing is downloaded. A council's own retrained
model is used instead when ``settings.language_model`` names its folder.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors.base import Context, clears_with_scope
from correspondence_guard.detectors.encoder import encoder
from correspondence_guard.detectors.tone import Sentence, own_sentences
from correspondence_guard.errors import PolicyError
from correspondence_guard.findings import Evidence
from correspondence_guard.message import Message

if TYPE_CHECKING:
    from spacy.language import Language


HEAD_FILE = "head.npz"
# A "sentence" longer than this (a body with no full stops) is judged on its beginning: the
# encoder reads 128 word pieces anyway, and spaCy refuses texts over a million characters.
MAX_SENTENCE_CHARS = 5000
# Sentences of one message given to the encoder (about 5 ms each here): a long message's
# others keep their n-gram score alone, like sentences the prefilter rules out.
MAX_EMBEDDED = 64


def shipped_model_dir() -> Path:
    return Path(str(resources.files("correspondence_guard") / "models" / "language"))


Embed = Callable[[list[str]], "np.ndarray[Any, Any]"]


@dataclass(frozen=True)
class Head:
    """A linear layer over sentence embeddings: one weight column and bias per rule."""

    labels: tuple[str, ...]
    weights: np.ndarray[Any, Any]  # (384, rules)
    bias: np.ndarray[Any, Any]  # (rules,)

    def probabilities(self, vectors: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        logits = np.clip(vectors.astype(np.float64) @ self.weights + self.bias, -30, 30)
        result: np.ndarray[Any, Any] = 1.0 / (1.0 + np.exp(-logits))
        return result

    def save(self, path: Path) -> None:
        np.savez(path, weights=self.weights, bias=self.bias, labels=np.array(self.labels))

    @classmethod
    def load(cls, path: Path) -> Head:
        with np.load(path) as data:
            return cls(tuple(str(x) for x in data["labels"]), data["weights"], data["bias"])


def needs_embedding(
    ngram: np.ndarray[Any, Any], prefilter: float, judged: np.ndarray[Any, Any] | None = None
) -> np.ndarray[Any, Any]:
    """Rows (sentences) whose n-gram score does not rule out some rule that is judged for them
    (``judged``: a 0/1 matrix like ``ngram``, the rules whose gate the message passes; all by default)."""
    relevant = ngram if judged is None else ngram * judged
    result: np.ndarray[Any, Any] = relevant.max(axis=1, initial=0.0) >= prefilter
    return result


def combine(
    ngram: np.ndarray[Any, Any],
    learned: np.ndarray[Any, Any],
    prefilter: float,
    mix: float = 0.5,
    judged: np.ndarray[Any, Any] | None = None,
) -> np.ndarray[Any, Any]:
    """The blend design's sentence scores: ``mix`` of the embedding score and the rest of the
    n-gram score where the sentence was embedded; only the n-gram part where the prefilter ruled
    it out. Training chooses the prefilter, the mix and the thresholds on this very function."""
    wanted = needs_embedding(ngram, prefilter, judged)
    part = (1.0 - mix) * ngram
    result: np.ndarray[Any, Any] = np.where(wanted[:, None], part + mix * learned, part)
    return result


@dataclass(frozen=True)
class LanguageModel:
    """A loaded sentence classifier and its card.

    ``nlp`` is a spaCy pipeline whose ``textcat_multilabel`` scores word n-grams. With a
    ``head`` (the ``blend`` design), a sentence that n-gram model does not rule out (some rule
    scores at least the card's ``prefilter``) is also embedded by all-MiniLM-L6-v2 and scored
    by the head, and the two scores are mixed (the card's ``mix`` is the head's share); a
    sentence ruled out keeps only the n-gram share. Thresholds were chosen on these scores.
    """

    path: Path
    nlp: Language
    card: dict[str, Any]
    head: Head | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.nlp.get_pipe("textcat_multilabel").labels)  # type: ignore[attr-defined]

    def score(
        self, texts: list[str], embed: Embed | None = None, rules: frozenset[str] | None = None
    ) -> list[dict[str, float]]:
        """Each text's probability for each rule the model knows. With ``rules`` (the rules that
        will look at these sentences), only those decide whether a sentence is embedded."""
        labels = self.labels
        texts = [t[:MAX_SENTENCE_CHARS] for t in texts]
        with self._lock, self.nlp.memory_zone():  # new words read here are not kept
            ngram = np.array([[doc.cats[r] for r in labels] for doc in self.nlp.pipe(texts, batch_size=64)])
        ngram = ngram.reshape(len(texts), len(labels))
        if self.head is None:
            scores = ngram
        else:
            prefilter = float(self.card.get("prefilter", 0.0))
            judged = None if rules is None else np.array([[float(r in rules) for r in labels]] * len(texts))
            judged = None if judged is None else judged.reshape(len(texts), len(labels))
            wanted = needs_embedding(ngram, prefilter, judged)
            if wanted.sum() > MAX_EMBEDDED:  # bounded cost: the most suspect sentences by n-grams
                mask = ngram if judged is None else ngram * judged
                strongest = np.argsort(-mask.max(axis=1), kind="stable")
                keep = np.zeros_like(wanted)
                keep[[i for i in strongest if wanted[i]][:MAX_EMBEDDED]] = True
                wanted = keep
            learned = np.zeros_like(ngram)
            if wanted.any():
                vectors = (embed or encoder(self.encoder_precision).encode)(
                    [t for t, w in zip(texts, wanted, strict=True) if w]
                )
                learned[wanted] = self.head.probabilities(vectors)[
                    :, [self.head.labels.index(r) for r in labels]
                ]
            scores = combine(ngram, learned, prefilter, float(self.card.get("mix", 0.5)), judged)
        return [dict(zip(labels, map(float, row), strict=True)) for row in scores]

    @property
    def encoder_precision(self) -> str:
        """The precision the head was trained with (models before int8 have float32)."""
        return str(self.card.get("encoder_precision", "float32"))

    @functools.cached_property
    def _lock(self) -> threading.Lock:
        return threading.Lock()


def read_card(path: Path) -> dict[str, Any]:
    try:
        card: dict[str, Any] = json.loads((path / "card.json").read_text(encoding="utf-8"))
        return card
    except (OSError, ValueError):
        return {}


def design_label(card: dict[str, Any]) -> str:
    """The design as version lines print it: "blend, int8 encoder", or "bow"."""
    precision = card.get("encoder_precision") or ("float32" if card.get("encoder") else None)
    return f"{card.get('design')}, {precision} encoder" if precision else str(card.get("design"))


def model_card(path: str | None = None) -> dict[str, Any]:
    """The card of the model in ``path`` or of the shipped one, without loading the model."""
    return read_card(Path(path) if path else shipped_model_dir())


@functools.cache
def load_model(path: str | None = None) -> LanguageModel:
    """The model in ``path`` (a retrained one), or the shipped one; loaded once per process."""
    import spacy

    folder = Path(path) if path else shipped_model_dir()
    try:
        nlp = spacy.load(folder)
    except (OSError, ValueError) as exc:
        raise PolicyError(
            f"settings.language_model: cannot load a language model from {folder}: {exc}"
        ) from None
    if "textcat_multilabel" not in nlp.pipe_names:
        raise PolicyError(f"settings.language_model: {folder} holds no textcat_multilabel component")
    # The n-gram model reads each word's exact text (ORTH), never the attributes spaCy computes
    # for every word it has not seen (shape, like_num, ...): without them its tokenizer is 40 %
    # quicker, and the scores are the same.
    nlp.vocab.lex_attr_getters = {}  # type: ignore[attr-defined]
    head = Head.load(folder / HEAD_FILE) if (folder / HEAD_FILE).exists() else None
    model = LanguageModel(folder, nlp, read_card(folder), head)
    if head is not None:
        encoder(model.encoder_precision)  # loaded with the model, not on the first message that needs it
    return model


def model_for(ctx: Context) -> LanguageModel:
    return load_model(ctx.settings.language_model)


def warm_up(ctx: Context) -> None:
    """Load the model, and start its sentence encoder, now rather than on the first message."""
    model = model_for(ctx)
    if model.head is not None:
        encoder(model.encoder_precision).start()


# One message is scored once for all five rules: the last message's scores are kept.
_LAST: list[tuple[Message, list[tuple[Sentence, dict[str, float]]]]] = []
clears_with_scope(_LAST.clear)


def scored(message: Message, ctx: Context) -> list[tuple[Sentence, dict[str, float]]]:
    """The sender's own sentences and their attached documents' (``Sentence.where`` tells which),
    scored once per message for every learned rule."""
    for m, result in _LAST:
        if m is message:
            return result
    from correspondence_guard.detectors import REGISTRY  # the registry imports this module

    judged = frozenset(r.id for r in REGISTRY.values() if r.gate is not None and r.gate(message, ctx))
    sentences = own_sentences(message, documents=True)
    scores = model_for(ctx).score([s.text for s in sentences], rules=judged)
    result = list(zip(sentences, scores, strict=True))
    _LAST[:] = [(message, result)]
    return result


def strongest(
    message: Message, ctx: Context, rule: str, threshold: float, documents: bool = False
) -> list[tuple[Sentence, float]]:
    """The sentences whose score for ``rule`` reaches ``threshold``, strongest first (with
    ``documents``, attached documents' lines count too)."""
    found = [
        (s, cats.get(rule, 0.0))
        for s, cats in scored(message, ctx)
        if documents or not s.where.startswith("attachment:")
    ]
    return sorted([(s, p) for s, p in found if p >= threshold], key=lambda x: -x[1])


class Params(BaseModel):
    """What a council can set for a learned rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="score (0-1) a sentence must reach to be flagged: lower catches more and alarms more; "
        "null: the model's own, chosen on councils it was not trained on",
    )


def threshold(ctx: Context, rule: str, configured: float | None) -> float:
    if configured is not None:
        return configured
    return float(model_for(ctx).card.get("thresholds", {}).get(rule, 0.5))


def evidence(
    message: Message, ctx: Context, rule: str, params: Params, documents: bool = False
) -> tuple[Evidence, ...]:
    """Up to three of the sender's sentences that reach the rule's threshold, strongest first."""
    found = strongest(message, ctx, rule, threshold(ctx, rule, params.threshold), documents)
    return tuple(Evidence(s.where, s.text, score=p) for s, p in found[:3])
