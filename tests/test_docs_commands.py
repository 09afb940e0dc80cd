"""Every runnable command in the documentation runs.

The convention (docs/development.md, "Runnable examples"): in README.md and docs/*.md, a
```console block is runnable. Each of its lines that starts with ``$ `` is a command (a line
ending in ``\\`` goes on to the next; ``# ...`` is a comment); the other lines are its output,
shown but not compared. A command is ``correspondence-guard ...``, optionally after
``NAME=value`` environment settings, with no pipes or redirections. Commands that need a
mailbox, a server or a certificate go in ```sh or ```text blocks, which are not run.

The commands of one page run in order, as written, in a scratch folder laid out like the
repository root (its top-level entries are linked in), so they read the bundled files
(examples/, docs/examples/, tests/data/, corpora/) and anything they write (a store, a
review's reports) lands in the scratch folder. Each must exit 0 (nothing found) or 1
(findings) and print no traceback. To keep this quick, pages run side by side, and a
read-only command (check, explain, policy...) shown on several pages runs once.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAM = "correspondence-guard"
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n]*)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELL = ("|", ">", "<", "&", ";", "$(", "`")


@dataclass(frozen=True)
class Command:
    page: str  # relative to the repository root
    line: int  # where the command starts
    text: str  # as written, continuation lines joined

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def console_commands(text: str, page: str) -> list[Command]:
    """The ``$ `` lines of the page's ```console blocks, in order."""
    commands: list[Command] = []
    fence = ""
    running = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if not fence and match:
            fence, running = match["fence"], match["info"].strip().split(" ")[0] == "console"
            continue
        if fence and line.strip() == fence:
            fence, running = "", False
            continue
        if not running:
            continue
        stripped = line.strip()
        if pending is not None:
            start, so_far = pending
            so_far += " " + stripped.removesuffix("\\").strip()
            pending = (start, so_far) if stripped.endswith("\\") else None
            if pending is None:
                commands.append(Command(page, start, so_far.strip()))
            continue
        if stripped.startswith("$ "):
            command = stripped[2:]
            if command.endswith("\\"):
                pending = (number, command.removesuffix("\\").rstrip())
            else:
                commands.append(Command(page, number, command.strip()))
    return commands


def _all_commands() -> list[Command]:
    found = []
    for page in PAGES:
        found += console_commands(page.read_text(encoding="utf-8"), str(page.relative_to(ROOT)))
    return found


COMMANDS = _all_commands()


def _split(command: Command) -> tuple[dict[str, str], list[str]]:
    """(environment settings, the program's arguments)."""
    words = shlex.split(command.text, comments=True)
    env = {}
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words and words[0] == PROGRAM, (
        f"{command.id}: a runnable command is `{PROGRAM} ...`: {command.text}"
    )
    shell = [w for w in words if w.startswith(_SHELL)]
    assert not shell, f"{command.id}: no pipes, redirections or substitutions in a runnable command: {shell}"
    return env, words[1:]


def _scratch(folder: Path) -> Path:
    """A folder laid out like the repository root: every top-level entry but .git linked in."""
    folder.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name != ".git":
            (folder / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return folder


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def _expand(arg: str, folder: Path) -> list[str]:
    """A word with ``*`` expanded as the shell would (left as it is when nothing matches)."""
    if "*" not in arg:
        return [arg]
    return sorted(glob.glob(arg, root_dir=folder)) or [arg]


def _read_only(args: list[str]) -> bool:
    """A command that writes nothing and reads nothing an earlier one wrote: run once however
    many pages show it, in any order."""
    if "--help" in args or args[:1] in (["check"], ["explain"], ["enquiries"], ["policy"], ["--version"]):
        return True
    return args[:2] in (["config", "check"], ["corpus", "validate"], ["corpus", "stats"])


def _run(command: Command, folder: Path) -> Result:
    env, args = _split(command)
    base = {k: v for k, v in os.environ.items() if not k.startswith("CG_")}
    base.update({"PYTHONIOENCODING": "utf-8", "COLUMNS": "120", "NO_COLOR": "1"})
    proc = subprocess.run(
        [sys.executable, "-m", "correspondence_guard", *(w for arg in args for w in _expand(arg, folder))],
        cwd=folder,
        env={**base, **env},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _run_in_order(commands: list[Command], folder: Path) -> list[Result]:
    return [_run(command, folder) for command in commands]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Every command's result. Read-only commands run once each (the same command on several
    pages is run once); the others run page by page, in order, each page in its own folder."""
    root = tmp_path_factory.mktemp("docs-commands")
    shared = _scratch(root / "read-only")
    once: dict[tuple[object, ...], list[Command]] = {}
    pages: dict[str, list[Command]] = {}
    for command in COMMANDS:
        env, args = _split(command)
        if _read_only(args):
            once.setdefault((tuple(sorted(env.items())), *args), []).append(command)
        else:
            pages.setdefault(command.page, []).append(command)
    merged: dict[str, Result] = {}
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1) as pool:
        in_order = {
            page: pool.submit(_run_in_order, commands, _scratch(root / f"page-{i}"))
            for i, (page, commands) in enumerate(pages.items())
        }
        single = {key: pool.submit(_run, same[0], shared) for key, same in once.items()}
        for page, future in in_order.items():
            merged.update(zip((c.id for c in pages[page]), future.result(), strict=True))
        for key, future in single.items():
            merged.update((c.id, future.result()) for c in once[key])
    return merged


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_documented_command_runs(results: dict[str, Result], command: Command) -> None:
    result = results[command.id]
    assert result.code in (0, 1), f"{command.text}\nexit {result.code}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr + result.stdout, f"{command.text}\n{result.stderr[-2000:]}"


def test_the_offline_commands_are_all_documented_as_runnable() -> None:
    """The commands that need no mailbox, server or certificate each have a runnable example."""
    runnable = [" ".join(_split(c)[1]) for c in COMMANDS]
    for wanted in (
        "check ",
        "check --directory examples/directory.yaml --format jsonl",
        "explain",
        "explain --policy",
        "findings --store",
        "enquiries ",
        "config check --config",
        "policy validate ",
        "policy show",
        "policy schema",
        "review ",
        "corpus validate ",
        "corpus stats ",
        "corpus build ",
        "train --help",
        "--version",
    ):
        assert any(r.startswith(wanted) for r in runnable), f"no runnable example of `{PROGRAM} {wanted}`"


def test_the_convention_is_read_as_described() -> None:
    page = (
        "text\n```console\n$ correspondence-guard --version\noutput\n$ A=1 correspondence-guard check \\\n"
        "    --directory x.yaml y   # a comment\n```\n```sh\ncorrespondence-guard serve\n```\n"
        "```console\n$ correspondence-guard explain\n```\n"
    )
    found = console_commands(page, "page.md")
    assert [(c.line, c.text) for c in found] == [
        (3, "correspondence-guard --version"),
        (5, "A=1 correspondence-guard check --directory x.yaml y   # a comment"),
        (12, "correspondence-guard explain"),
    ]
    assert _split(found[1]) == ({"A": "1"}, ["check", "--directory", "x.yaml", "y"])
