"""``correspondence-guard train``: train the language rules' model from a labelled corpus.

With no options it rebuilds the shipped model from ``corpora/train`` (a fixed seed, so the
same corpus gives the same model). A council retrains with its own labelled mail given as
extra council folders (``--extra``) and writes the model to its own folder (``--out``), which
``settings.language_model`` then names; a retrained model that scores worse on the held-out
councils than the current one is refused and nothing is written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from correspondence_guard.cli import EXIT_CLEAR

DEFAULT_DESIGNS = ("bow", "blend")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("train", help="train the language rules' model from a labelled corpus")
    parser.add_argument(
        "--corpus", metavar="DIR", default="corpora/train", help="council folders (default: %(default)s)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="where to write the model (default: the package's shipped model, for developers)",
    )
    parser.add_argument(
        "--extra",
        metavar="DIR",
        action="append",
        default=[],
        help="a council's own labelled mail (repeatable)",
    )
    parser.add_argument(
        "--design",
        action="append",
        choices=["bow", "ensemble", "blend"],
        help="designs to compare (default: bow and blend, which share one n-gram model; add --design ensemble for the CNN, which has never won and doubles the time)",
    )
    parser.add_argument(
        "--folds", type=int, default=3, help="council groups left out in turn (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--jobs",
        metavar="N",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes for the folds and the embeddings (default: all cores, %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from correspondence_guard.detectors.language import shipped_model_dir
    from correspondence_guard.training.workflow import TrainingError, train

    root = Path(args.corpus)
    if not root.is_dir():
        raise TrainingError(f"{root}: no such folder (give --corpus DIR)")
    out = Path(args.out) if args.out else shipped_model_dir()
    extra = [Path(p) for p in args.extra]
    if args.jobs < 1:
        raise TrainingError("--jobs: give 1 or more worker processes")
    for p in extra:
        if not (p / "directory.yaml").exists():
            raise TrainingError(f"{p}: not a council folder (it needs directory.yaml and messages-*.yaml)")
    # a council's retrain must beat the model it replaces; the developers' rebuild is judged in review
    baseline = out if (args.out and extra) else (shipped_model_dir() if extra else None)
    train(
        root,
        out,
        designs=tuple(args.design or DEFAULT_DESIGNS),
        seed=args.seed,
        extra=extra,
        folds=args.folds,
        baseline=baseline,
        say=lambda line: print(line, flush=True, file=sys.stdout),
        jobs=args.jobs,
    )
    return EXIT_CLEAR
