"""Shared fixtures: the test directory, one Checker per session, drafts by short name, the CLI.

People are named by short names resolved against ``tests/data/directory.yaml``:

=====================  ==================================================
``member:Beatrix``      a member's council address, by first name
``officer:Kieran``      an officer's council address, by first name
``personal:Lorcan``     the first personal (private) address listed for them
``list:all-members``    the distribution list of that kind
``team:communications`` the shared mailbox of the team with that function
``someone@example.org`` any other address, as written (``"Name <someone@...>"`` too)
=====================  ==================================================

``make_draft(sender=..., to=[...], subject=..., body=...)`` builds a Message through the
real add-in intake (``parse_draft``); ``check(message, rules=[...])`` returns its findings.
"""

from __future__ import annotations

import base64
import functools
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from correspondence_guard import Checker, Message, parse_draft
from correspondence_guard.detectors.base import Context
from correspondence_guard.directory import Directory
from correspondence_guard.findings import Finding
from support import require_tool

TESTS = Path(__file__).parent
DATA = TESTS / "data"
ROOT = TESTS.parent


@pytest.fixture(scope="session")
def directory_path() -> Path:
    return DATA / "directory.yaml"


@pytest.fixture(scope="session")
def checker(directory_path: Path) -> Checker:
    """The directory and the default policy, loaded once for the whole session."""
    return Checker.load(directory_path)


@pytest.fixture(scope="session")
def directory(checker: Checker) -> Directory:
    return checker.directory


@pytest.fixture(scope="session")
def context(checker: Checker) -> Context:
    return checker.context


def resolve(directory: Directory, short: str) -> dict[str, str]:
    """A short name (see the module docstring) as a draft address ``{"email", "name"}``."""
    if "@" in short:
        name, _, email = short.rpartition("<")
        return {"email": email.strip(" >"), "name": name.strip().strip('"')}
    kind, _, key = short.partition(":")
    if kind in ("member", "officer", "personal"):
        people = {
            "member": directory.members,
            "officer": directory.officers,
            "personal": [*directory.members, *directory.officers],
        }[kind]
        found = [p for p in people if p.name.split()[0].lower() == key.lower()]
        if len(found) != 1:
            raise LookupError(f"{short!r}: no single {kind} with first name {key!r} in the test directory")
        person = found[0]
        if kind == "personal":
            if not person.personal_emails:
                raise LookupError(f"{short!r}: {person.name} has no personal address in the test directory")
            return {"email": person.personal_emails[0], "name": person.name}
        return {"email": person.email, "name": person.name}
    if kind == "list":
        for dl in directory.distribution_lists:
            if dl.kind == key:
                return {"email": dl.address, "name": key.replace("-", " ").title()}
    if kind == "team":
        for team in directory.teams:
            if team.function == key:
                return {"email": team.email, "name": team.name}
    raise LookupError(f"{short!r}: not a short name this conftest knows (see its docstring)")


def _many(directory: Directory, value: str | Iterable[str]) -> list[dict[str, str]]:
    return [resolve(directory, v) for v in ([value] if isinstance(value, str) else value)]


def draft_message(
    directory: Directory,
    sender: str | None = None,
    to: str | Iterable[str] = (),
    cc: str | Iterable[str] = (),
    bcc: str | Iterable[str] = (),
    subject: str = "",
    body: str = "",
    html: str = "",
    attachments: Iterable[tuple[Any, ...]] = (),
    compose_type: str = "",
    **extra: Any,
) -> Message:
    """Build a Message from short names through the add-in's JSON intake (``parse_draft``).

    ``sender`` is one short name; ``to``/``cc``/``bcc`` one or a list; ``body`` is plain
    text; ``attachments`` are ``(name, bytes)`` or ``(name, bytes, content_type)``;
    ``compose_type`` is "newMail", "reply" or "forward". Any other keyword goes into the
    draft JSON as it is (``inReplyTo``, ``isReply``...).
    """
    draft: dict[str, Any] = {
        "subject": subject,
        "to": _many(directory, to),
        "cc": _many(directory, cc),
        "bcc": _many(directory, bcc),
        "body": {"text": body, "html": html},
        "composeType": compose_type,
        "attachments": [
            {
                "name": att[0],
                "contentType": att[2] if len(att) > 2 else "",
                "content": base64.b64encode(att[1]).decode("ascii"),
            }
            for att in attachments
        ],
        **extra,
    }
    if sender is not None:
        draft["from"] = resolve(directory, sender)
    return parse_draft(draft)


@pytest.fixture(scope="session")
def make_draft(directory: Directory) -> Callable[..., Message]:
    """``make_draft(sender="member:Beatrix", to=[...], subject=..., body=...)``: see ``draft_message``."""
    return functools.partial(draft_message, directory)


@pytest.fixture(scope="session")
def check(checker: Checker) -> Callable[..., list[Finding]]:
    """``check(message, rules=None)``: the findings of the real engine (all enabled rules, or ``rules``)."""

    def run(message: Message, rules: list[str] | None = None) -> list[Finding]:
        return list(checker.check(message, source="test", rules=rules).findings)

    return run


@pytest.fixture(scope="session")
def cli() -> Callable[..., tuple[int, str, str]]:
    """Run the real console program (``python -m correspondence_guard ARGS``).

    Returns ``(returncode, stdout, stderr)``. ``env`` adds variables; CG_DIRECTORY and
    CG_POLICY are removed first so only what a test passes counts.
    """

    def run(
        *args: str | Path, env: dict[str, str] | None = None, timeout: float = 180
    ) -> tuple[int, str, str]:
        full_env = {k: v for k, v in os.environ.items() if k not in ("CG_DIRECTORY", "CG_POLICY")}
        full_env.update({"PYTHONIOENCODING": "utf-8", "COLUMNS": "120", **(env or {})})
        proc = subprocess.run(
            [sys.executable, "-m", "correspondence_guard", *map(str, args)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            env=full_env,
            cwd=ROOT,
            check=False,
        )
        return proc.returncode, proc.stdout, proc.stderr

    return run


@pytest.fixture(scope="session")
def msgconvert() -> str:
    """The msgconvert program that reads Outlook .msg files."""
    return require_tool("msgconvert", "apt-get install libemail-outlook-message-perl")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI (CG_TESTS_REQUIRE_ALL=1) a skipped test is a failure: a missing component
    (Dovecot, Chromium, msgconvert, node) must not let a green run hide untested code."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CG_TESTS_REQUIRE_ALL") and not hasattr(report, "wasxfail"):
        detail = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but CG_TESTS_REQUIRE_ALL is set: {detail}"
