"""``correspondence-guard findings``: what the store holds, as text, JSON lines or CSV."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from correspondence_guard.findings import Evidence, Finding, Report, SendAction, Severity
from correspondence_guard.store.db import Location, MessageMeta, Store

UTC = dt.UTC
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture()
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The command in this process (the package is imported already): (code, stdout, stderr)."""
    from correspondence_guard.cli import main

    def call(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _finding(rule: str, evidence: str) -> Finding:
    return Finding(
        rule=rule,
        severity=Severity.MEDIUM,
        on_send=SendAction.PROMPT,
        title=f"Title of {rule}",
        reason=f"reason for {rule}",
        note="A note.",
        citations=("CAM 10.1",),
        evidence=(Evidence("recipients", evidence),),
    )


@pytest.fixture()
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    store = Store(url)
    for key, day, rule in (
        ("<a@x>", 2, "reply-all-members"),
        ("<b@x>", 5, "personal-data-to-private-address"),
        ("<c@x>", 9, "reply-all-members"),
    ):
        meta = MessageMeta(
            message_key=key,
            message_id=key,
            date=dt.datetime(2026, 3, day, 10, tzinfo=UTC),
            sender="cllr.beatrix.quennell@ashdown.gov.uk",
            sender_role="member",
            recipient_classes=("distribution-list",),
            subject=f"Budget, call 07700 90012{day}",
        )
        store.record(
            meta, Report("x", (_finding(rule, "all.councillors@ashdown.gov.uk"),)), Location("a", "INBOX")
        )
    store.record(MessageMeta(message_key="<clear@x>"), Report("x", ()))
    store.close()
    return url


def test_text_lists_every_finding_oldest_first(run: Cli, store_url: str) -> None:
    code, out, err = run("findings", "--store", store_url)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-1] == "3 finding(s)"
    assert lines[0].startswith(
        "2026-03-02 10:00  medium  reply-all-members                     cllr.beatrix.quennell@ashdown.gov.uk"
    )
    assert len({line.index("cllr.") for line in lines[:-1]}) == 1  # the columns line up
    assert "900122" not in out  # the subject was masked when it was stored


def test_jsonl_with_since_until_and_rule(run: Cli, store_url: str) -> None:
    code, out, _ = run(
        "findings",
        "--store",
        store_url,
        "--format",
        "jsonl",
        "--since",
        "2026-03-03",
        "--until",
        "2026-03-08",
    )  # a date: that whole day
    assert code == 0
    (item,) = [json.loads(line) for line in out.splitlines()]
    assert item["rule"] == "personal-data-to-private-address" and item["message_id"] == "<b@x>"
    assert item["date"] == "2026-03-05T10:00:00+00:00"
    assert item["evidence"] == [{"where": "recipients", "text": "all.councillors@ashdown.gov.uk"}]
    code, out, _ = run(
        "findings",
        "--store",
        store_url,
        "--format",
        "jsonl",
        "--rule",
        "reply-all-members",
        "--until",
        "2026-03-09T10:00",
    )  # a time: exclusive
    assert [json.loads(line)["message_id"] for line in out.splitlines()] == ["<a@x>"]


def test_csv_has_a_header_and_json_lists(run: Cli, store_url: str) -> None:
    code, out, _ = run("findings", "--store", store_url, "--format", "csv", "--rule", "reply-all-members")
    assert code == 0
    reader = list(csv.DictReader(io.StringIO(out)))
    assert [r["message_id"] for r in reader] == ["<a@x>", "<c@x>"]
    assert json.loads(reader[0]["citations"]) == ["CAM 10.1"]
    assert json.loads(reader[0]["recipient_classes"]) == ["distribution-list"]


def test_an_unknown_rule_is_an_error(run: Cli, store_url: str) -> None:
    code, out, err = run("findings", "--store", store_url, "--rule", "nope")
    assert code == 2 and out == ""
    assert (
        err.startswith("correspondence-guard: error: unknown rule: nope (the rules: ")
        and err.count("\n") == 1
    )


def test_csv_cells_never_start_a_formula(run: Cli, tmp_path: Path) -> None:
    """A hostile subject meant for Excel is written as text: the same writer as the review's CSV."""
    url = f"sqlite:///{tmp_path / 'formula.db'}"
    store = Store(url)
    meta = MessageMeta(
        message_key="<f@x>",
        date=dt.datetime(2026, 3, 2, 10, tzinfo=UTC),
        sender="@cllr",
        subject='=HYPERLINK("https://evil.example","Click")',
    )
    store.record(meta, Report("x", (_finding("reply-all-members", "x"),)))
    store.close()
    code, out, _ = run("findings", "--store", url, "--format", "csv")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and row["subject"].startswith("'=HYPERLINK(") and row["sender"] == "'@cllr"


def test_store_from_the_config_file_in_a_real_process(cli: Cli, store_url: str, tmp_path: Path) -> None:
    directory = Path(__file__).parent / "data" / "directory.yaml"
    config = tmp_path / "cg.yaml"
    config.write_text(f"directory: {directory}\nstore:\n  url: {store_url}\n")
    code, out, _ = cli("findings", "--config", config)
    assert code == 0 and out.splitlines()[-1] == "3 finding(s)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store", "sqlite:////nonexistent/cg.db"], "no such store"),
        (["--since", "yesterday", "--store", "sqlite:///x.db"], "not an ISO date"),
        ([], "no store"),
    ],
)
def test_errors_are_one_line(run: Cli, args: list[str], message: str) -> None:
    code, out, err = run("findings", *args, env={"CG_CONFIG": "", "CG_STORE__URL": ""})
    assert code == 2 and message in err and "Traceback" not in err


def test_training_export_labels_reported_findings_as_hard_negatives(run: Cli, tmp_path: Path) -> None:
    """The learned rules' findings become a council folder for retraining: a finding reported
    from the add-in as a false positive is a hard negative, the rest are positives; the folder
    passes the corpus checks and holds no other rule's findings."""
    from correspondence_guard.training import corpus

    url = f"sqlite:///{tmp_path / 'cg.db'}"
    store = Store(url)
    rows = (
        (
            "<p@x>",
            "undue-pressure-on-officer",
            "Have it on my desk by five or the Leader hears of it.",
            "Depot",
        ),
        ("<q@x>", "undue-pressure-on-officer", "Could you let me know by Friday?", "Verges"),
        ("<r@x>", "reply-all-members", "all.councillors@ashdown.gov.uk", "Budget"),
    )
    for key, rule, sentence, subject in rows:
        meta = MessageMeta(
            message_key=key,
            message_id=key,
            date=dt.datetime(2026, 3, 2, 10, tzinfo=UTC),
            sender="cllr.beatrix.quennell@ashdown.gov.uk",
            sender_role="member",
            recipient_classes=("officer",),
            subject=subject,
        )
        where = "recipients" if rule == "reply-all-members" else "body"
        finding = dataclasses.replace(_finding(rule, sentence), evidence=(Evidence(where, sentence),))
        store.record(meta, Report("x", (finding,)))
    store.add_feedback("kieran", "undue-pressure-on-officer", "a polite deadline", subject="Verges")
    store.close()
    out = tmp_path / "ours"
    directory = Path(__file__).parent / "data" / "directory.yaml"
    code, stdout, err = run("findings", "--store", url, "--training-out", out, "--directory", directory)
    assert code == 0, err
    assert "2 message(s)" in stdout and "1 flagged, 1 reported" in stdout
    council = corpus.load_council(out)
    assert corpus.validate(council) == []
    by_subject = {m.data["subject"]: m for m in council.messages}
    assert by_subject["Depot"].rules == ["undue-pressure-on-officer"]
    assert by_subject["Depot"].evidence["undue-pressure-on-officer"] == [rows[0][2]]
    assert by_subject["Verges"].rules == [] and by_subject["Verges"].data["negative_for"] == [
        "undue-pressure-on-officer"
    ]
    assert "Budget" not in by_subject  # a structural rule's finding is not language to learn from


def test_training_export_needs_the_directory(run: Cli, store_url: str, tmp_path: Path) -> None:
    code, _, err = run("findings", "--store", store_url, "--training-out", tmp_path / "x")
    assert code == 2 and "--directory" in err
