"""Public malformed-mail corpora through the real CLI (issue 11): every file gets one JSON line,
a report or a one-line error, never a traceback, and a message the stdlib can read is never
refused.

The corpora:

* CPython's own e-mail test messages (``test/test_email/data/msg_*.txt``), from the running
  interpreter's standard library or Debian's package ``libpython3.11-testsuite``;
* the test mails of mail-parser's sdist (``tests/mails``), for the version installed here.
  ``scripts/fetch-test-corpora`` downloads and unpacks it into ``.cache/test-corpora/``; or
  set ``CG_MAILPARSER_SDIST`` to an unpacked sdist.

A missing corpus skips its test, except in CI (``CG_TESTS_REQUIRE_ALL=1``), where it fails.
"""

from __future__ import annotations

import email
import json
import os
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIRECTORY = ROOT / "tests" / "data" / "directory.yaml"
TIMEOUT_S = 300
READABLE_HEADERS = ("from", "to", "subject", "date")


def _require(files: list[Path], what: str, install: str) -> list[Path]:
    """``files``; without any, skip the test, but fail in CI (CG_TESTS_REQUIRE_ALL=1), as
    ``support.require_tool`` does for programs."""
    if not files:
        reason = f"{what} not found ({install})"
        if os.environ.get("CG_TESTS_REQUIRE_ALL"):
            pytest.fail(reason + " and CG_TESTS_REQUIRE_ALL is set")
        pytest.skip(reason)
    return files


def cpython_messages() -> list[Path]:
    places = [
        Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data",
        Path("/usr/lib/python3.11/test/test_email/data"),  # Debian: libpython3.11-testsuite
    ]
    for place in places:
        files = sorted(place.glob("msg_*.txt"))
        if files:
            return files
    return []


def mailparser_messages() -> list[Path]:
    places = []
    if os.environ.get("CG_MAILPARSER_SDIST"):
        places.append(Path(os.environ["CG_MAILPARSER_SDIST"]) / "tests" / "mails")
    places.extend(sorted((ROOT / ".cache" / "test-corpora").glob("mail_parser-*/tests/mails"), reverse=True))
    for place in places:
        files = sorted(p for p in place.iterdir() if p.is_file()) if place.is_dir() else []
        if files:
            return files
    return []


CORPORA: dict[str, tuple[Callable[[], list[Path]], str]] = {
    "cpython-test-email": (
        cpython_messages,
        "apt-get install libpython3.11-testsuite, or a Python with its test package",
    ),
    "mail-parser-sdist": (mailparser_messages, "run scripts/fetch-test-corpora, or set CG_MAILPARSER_SDIST"),
}


def _readable(path: Path) -> bool:
    """The stdlib reads the file as a message with at least one of From, To, Subject, Date."""
    try:
        msg = email.message_from_bytes(path.read_bytes())
    except Exception:  # noqa: BLE001 - anything the stdlib cannot read is not "readable"
        return False
    return any(key.lower() in READABLE_HEADERS for key in msg.keys())


@pytest.mark.parametrize("corpus", CORPORA)
def test_public_corpus_through_the_cli(corpus: str, cli: Callable[..., tuple[int, str, str]]) -> None:
    find, install = CORPORA[corpus]
    files = _require(find(), f"the {corpus} corpus", install)
    started = time.perf_counter()
    code, out, err = cli("check", "--directory", DIRECTORY, "--format", "jsonl", *files, timeout=TIMEOUT_S)
    took = time.perf_counter() - started

    assert "Traceback" not in out and "Traceback" not in err, err[-3000:]
    assert code in (0, 1, 2), f"exit code {code}: {err[-3000:]}"
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    by_source: dict[str, list[dict[str, object]]] = {}
    for record in records:
        by_source.setdefault(str(record["source"]), []).append(record)
    assert len(records) == len(files), f"{len(records)} JSON lines for {len(files)} files"
    assert sorted(by_source) == sorted(map(str, files)), "not one JSON line for each file"
    assert all(len(lines) == 1 for lines in by_source.values()), "a file with more than one JSON line"

    errors = {source: str(lines[0]["error"]) for source, lines in by_source.items() if "error" in lines[0]}
    for source, error in errors.items():
        assert error and "\n" not in error, f"{source}: not a one-line error: {error!r}"
        assert "unexpected " not in error, f"{source}: the CLI crashed on it: {error}"
        assert error in err, f"{source}: the error is not on standard error too"
    refused_readable = [source for source in errors if _readable(Path(source))]
    assert not refused_readable, "readable messages refused: " + "; ".join(
        errors[s] for s in refused_readable
    )
    print(
        f"\n{corpus}: {len(files)} files, {len(files) - len(errors)} reports, {len(errors)} errors,"
        f" {took:.1f} s"
    )
    for error in errors.values():
        print(f"  refused: {error}")
