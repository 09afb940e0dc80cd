"""``correspondence-guard corpus validate|stats|build``: the labelled training corpus.

``validate`` lists every problem in council folders (exit 1 if any); ``stats`` prints the
counts per rule (positives, hard negatives) as a Markdown table for the data card; ``build``
writes a council folder as ``.eml`` files with ``labels.jsonl``, the layout the scorer reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from correspondence_guard.cli import EXIT_CLEAR, EXIT_FINDINGS
from correspondence_guard.errors import CorrespondenceGuardError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("corpus", help="validate, count or build the labelled training corpus")
    csub = parser.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    validate = csub.add_parser("validate", help="list every problem in council folders")
    validate.add_argument("folders", nargs="+", metavar="DIR")
    validate.set_defaults(func=run_validate)
    stats = csub.add_parser("stats", help="counts per rule, as a Markdown table")
    stats.add_argument("folders", nargs="+", metavar="DIR")
    stats.set_defaults(func=run_stats)
    build = csub.add_parser("build", help="write a council folder as .eml files and labels.jsonl")
    build.add_argument("folder", metavar="DIR")
    build.add_argument("out", metavar="OUT")
    build.set_defaults(func=run_build)


def _councils(folders: list[str]) -> list[Path]:
    paths = [Path(f) for f in folders]
    for p in paths:
        if not (p / "directory.yaml").exists():
            raise CorrespondenceGuardError(f"{p}: not a council folder (no directory.yaml)")
    return paths


def run_validate(args: argparse.Namespace) -> int:
    from correspondence_guard.training import corpus

    bad = 0
    for path in _councils(args.folders):
        council = corpus.load_council(path)
        for problem in corpus.validate(council):
            print(f"{path.name}: {problem}")
            bad += 1
        print(f"{path.name}: {len(council.messages)} messages")
    print(f"{bad} problem(s)")
    return EXIT_FINDINGS if bad else EXIT_CLEAR


def run_stats(args: argparse.Namespace) -> int:
    from correspondence_guard.training import corpus

    councils = [corpus.load_council(p) for p in _councils(args.folders)]
    print("| council | messages | with no rule |")
    print("| --- | ---: | ---: |")
    for c in councils:
        print(f"| {c.name} | {len(c.messages)} | {sum(1 for m in c.messages if not m.rules)} |")
    total = sum(len(c.messages) for c in councils)
    print(f"| **all** | **{total}** | **{sum(1 for c in councils for m in c.messages if not m.rules)}** |")
    print()
    print("| rule | positives | hard negatives written for it |")
    print("| --- | ---: | ---: |")
    for rule, (pos, neg) in corpus.counts(councils).items():
        print(f"| `{rule}` | {pos} | {neg} |")
    return EXIT_CLEAR


def run_build(args: argparse.Namespace) -> int:
    from correspondence_guard.training import corpus

    [path] = _councils([args.folder])
    council = corpus.load_council(path)
    problems = corpus.validate(council)
    if problems:
        raise CorrespondenceGuardError(f"{path}: {problems[0]} ({len(problems)} problem(s))")
    print(f"{corpus.build(council, Path(args.out))} messages written to {args.out}")
    return EXIT_CLEAR
