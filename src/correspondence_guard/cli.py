"""The command line: ``correspondence-guard check|policy ...``.

Exit status: 0 nothing found, 1 findings reported, 2 bad input or configuration
(with a one-line error on standard error, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from correspondence_guard.errors import CorrespondenceGuardError

EXIT_CLEAR, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
Command = Callable[[argparse.Namespace], int]


def _error(message: str) -> None:
    print(f"correspondence-guard: error: {message}", file=sys.stderr)


def directory_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--directory",
        metavar="FILE",
        default=os.environ.get("CG_DIRECTORY"),
        help="council directory YAML (default: $CG_DIRECTORY)",
    )


def policy_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        metavar="FILE",
        default=os.environ.get("CG_POLICY"),
        help="the council's policy file, laid over the default (default: $CG_POLICY)",
    )


def cmd_check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from correspondence_guard.engine import Checker
    from correspondence_guard.intake import iter_message_files, load_message
    from correspondence_guard.report.jsonout import error_line, render_json, render_jsonl_line
    from correspondence_guard.report.text import print_report

    if not args.directory:
        raise CorrespondenceGuardError("no directory: give --directory FILE or set CG_DIRECTORY")
    checker = Checker.load(args.directory, args.policy)
    paths = [Path(p) for p in args.paths]
    for p in paths:
        if not p.exists():
            raise CorrespondenceGuardError(f"{p}: no such file or folder")
    files = list(iter_message_files(paths))
    if not files:
        raise CorrespondenceGuardError(
            "no message files (.eml, .msg, .json) found in " + " ".join(args.paths)
        )

    console = Console(highlight=False, soft_wrap=False)
    reports = []
    errors = 0
    found = False
    progress = _progress(len(files)) if args.format != "text" else None
    for path in files:
        try:
            message = load_message(path, checker.max_attachment_bytes)
            report = checker.check(message, source=str(path))
        except Exception as exc:  # one bad message never stops the batch
            errors += 1
            problem = str(exc) if isinstance(exc, CorrespondenceGuardError) else f"{path}: {_unexpected(exc)}"
            _error(problem)
            exc = CorrespondenceGuardError(problem)
            if args.format == "jsonl":
                print(error_line(str(path), str(exc)), flush=True)
            continue
        finally:
            if progress:
                progress()
        found = found or bool(report.findings)
        if args.format == "jsonl":
            print(render_jsonl_line(report), flush=True)
        elif args.format == "json":
            reports.append(report)
        else:
            print_report(console, report)
    if args.format == "json" and reports:
        print(render_json(reports))
    if args.format == "text" and len(files) > 1:
        console.print(f"{len(files)} messages checked, {errors} could not be read.")
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if found else EXIT_CLEAR


def _progress(total: int) -> Callable[[], None] | None:
    """A progress bar on standard error for long runs on a terminal; nothing otherwise."""
    if total < 20 or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("checking", total=total)
    bar.start()

    def advance() -> None:
        bar.advance(task)
        if bar.finished:
            bar.stop()

    return advance


def cmd_policy_validate(args: argparse.Namespace) -> int:
    from correspondence_guard.errors import PolicyError
    from correspondence_guard.policy import load_policy

    try:
        policy = load_policy(args.file)
    except PolicyError as exc:  # every problem, in line order
        for line in exc.problems:
            print(f"correspondence-guard: error: {line}", file=sys.stderr)
        return 2
    print(f"{args.file}: valid ({len(policy.enabled())} of {len(policy.rules)} rules enabled)")
    return EXIT_CLEAR


def cmd_policy_show(args: argparse.Namespace) -> int:
    import yaml

    from correspondence_guard.policy import load_policy

    policy = load_policy(args.policy)
    data = policy.to_dict()
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), end="")
    return EXIT_CLEAR


def cmd_policy_schema(args: argparse.Namespace) -> int:
    from correspondence_guard.policy import schema_json

    print(schema_json(), end="")
    return EXIT_CLEAR


def version_text() -> str:
    """The program's version and the language model's version and training-data hash."""
    from importlib.metadata import PackageNotFoundError, version

    from correspondence_guard.detectors.language import design_label, model_card

    try:
        program = version("correspondence-guard")
    except PackageNotFoundError:
        program = "unknown"
    card = model_card()
    model = (
        f"language model {card.get('version')} ({design_label(card)}), training data sha256 {card.get('data_sha256')}"
        if card
        else "no language model card"
    )
    return f"correspondence-guard {program}\n{model}\n{_nlp_and_policy_versions()}"


def _nlp_and_policy_versions() -> str:
    """The spaCy model the default policy names (installed from PyPI) and the bundled default
    policy's format version and the first digits of its hash, so two installs can be compared."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    from correspondence_guard.policy import default_policy_path
    from correspondence_guard.settings import Settings
    from correspondence_guard.yamlfile import load_yaml

    nlp = Settings().nlp_model
    try:
        nlp_version = version(nlp)
    except PackageNotFoundError:
        nlp_version = "not installed"
    path = default_policy_path()
    data = load_yaml(path)[0] if path.is_file() else {}
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "missing"
    form = data.get("version", "?") if isinstance(data, dict) else "?"
    return f"spaCy model {nlp} {nlp_version}\ndefault policy format {form}, sha256 {digest}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="correspondence-guard",
        description="Advisory checks of council e-mail against the Member/Officer Relations Protocol.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # --version keeps its lines
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is being done")
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = sub.add_parser("check", help="check messages (.eml, .msg, .json drafts, or folders of them)")
    directory_arg(check)
    policy_arg(check)
    check.add_argument("--format", choices=["text", "json", "jsonl"], default="text")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.set_defaults(func=cmd_check)

    policy = sub.add_parser("policy", help="validate, show or describe policy files")
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    validate = psub.add_parser("validate", help="check a council policy file")
    validate.add_argument("file")
    validate.set_defaults(func=cmd_policy_validate)
    show = psub.add_parser("show", help="print the effective rules (default + --policy)")
    policy_arg(show)
    show.add_argument("--format", choices=["yaml", "json"], default="yaml")
    show.set_defaults(func=cmd_policy_show)
    schema = psub.add_parser("schema", help="print the JSON Schema for policy files")
    schema.set_defaults(func=cmd_policy_schema)

    from correspondence_guard.commands import register_all

    register_all(sub)  # explain, enquiries, serve, watch, review...: one module each in commands/
    return parser


_QUIET_LIBRARIES = (
    "pypdf",
    "mailparser",
    "presidio-analyzer",
    "presidio_analyzer",
    "spacy",
    "openpyxl",
    "docx",
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin chatter, not ours
    if not args.verbose:
        # Libraries' own warnings about a bad PDF or an odd MIME part name no file and would
        # read as errors; the CLI reports problems itself. -v shows them.
        for name in _QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        result: int = args.func(args)
        return result
    except CorrespondenceGuardError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_CLEAR
    except Exception as exc:  # never a traceback: one line, and the detail with --verbose
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        _error(_unexpected(exc))
        return EXIT_ERROR


def _unexpected(exc: BaseException) -> str:
    return f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
