"""The review over a folder of .eml files spanning several days: reports checked against the store.

The mail is described in conftest.py. The review runs in-process (``run_review``) except in
the CLI tests, which run the real program. Maildir, mbox and IMAP sources are read too.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import json
import mailbox
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import (  # tests/review/conftest.py
    BAD_FILE,
    DIRECTORY,
    GOOD_IN_PERIOD,
    MARISOL,
    NHS_NUMBER,
    OSWIN,
    SINCE,
    UNTIL,
    eml,
    make_config,
    messages,
)
from correspondence_guard import Checker
from correspondence_guard.config import Config, ConfigError
from correspondence_guard.review.run import ReviewBusyError, run_review
from correspondence_guard.review.sources import parse_source
from correspondence_guard.store.db import Location, Store

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def review(config: Config, checker: Checker, store: Store, **kw: Any) -> Any:
    return run_review(config, checker, store, SINCE, UNTIL, **kw)


def test_review_writes_reports_whose_numbers_match_the_store(
    config: Config, checker: Checker, store: Store, tmp_path: Path
) -> None:
    result = review(config, checker, store)
    data = result.data
    assert result.status == "ok"
    assert result.out_dir == tmp_path / "reports" / "2026-03-02_2026-03-05"

    # this run: every message of the period once; the bad file counted, not fatal
    assert data["run"] == {"messages_in_period": GOOD_IN_PERIOD + 1, "checked": GOOD_IN_PERIOD,
                           "already_recorded": 0, "flagged": 11, "could_not_check": 1,
                           "enquiry_window_messages": GOOD_IN_PERIOD + 3}  # fmt: skip
    assert [p["source"] for p in data["problems"]] == [str(config.review.sources[0].path / BAD_FILE)]
    # messages outside the period were not checked (February ones only read for enquiries)
    keys = {r[0] for r in rows(store, "SELECT message_key FROM messages")}
    assert "<later@ashdown.gov.uk>" not in keys and "<enquiry-damp@ashdown.gov.uk>" not in keys
    assert len(keys) == GOOD_IN_PERIOD + 1

    # the report's numbers are the store's
    stored = list(store.iter_findings(SINCE, UNTIL))
    assert (
        data["store"]["findings"] == len(stored) == len(data["findings"]) == 10 + 1
    )  # ten replies to all members, one personal-data case
    assert data["store"]["messages"] == store.count_messages(SINCE, UNTIL) == GOOD_IN_PERIOD
    for key in ("rule", "severity", "department", "sender_role"):
        assert {t["key"]: t["count"] for t in data["totals"][key]} == Counter(f[key] for f in stored), key
    assert {t["key"]: t["count"] for t in data["totals"]["rule"]}["reply-all-members"] == 10
    assert [t["key"] for t in data["totals"]["severity"]] == ["high", "medium"]
    assert {t["key"]: t["count"] for t in data["totals"]["department"]} == {"": 10, "Housing": 1}

    per_day = data["per_day"]
    assert len(per_day) == 30 and per_day[-1]["date"] == "2026-03-05" and per_day[0]["date"] == "2026-02-04"
    by_day = Counter(f["date"].date().isoformat() for f in stored)
    assert {d["date"]: d["findings"] for d in per_day if d["findings"]} == by_day
    assert by_day == {"2026-03-02": 1, "2026-03-03": 3, "2026-03-04": 3, "2026-03-05": 4}

    # overdue member enquiries: the damp enquiry of 16 February, not the answered one
    overdue = data["enquiries"]["overdue"]
    assert [e["message_id"] for e in overdue] == ["enquiry-damp@ashdown.gov.uk"]
    assert overdue[0]["member"] == "Nkechi Farrant" and overdue[0]["days_overdue"] > 5
    assert data["enquiries"]["by_status"] == {"answered": 1, "overdue": 1}

    # the files
    out = result.out_dir
    assert json.loads((out / "findings.json").read_text(encoding="utf-8")) == json.loads(json.dumps(data))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"<dd>{len(stored)}</dd>" in html and "Nkechi Farrant" in html and BAD_FILE in html
    for text in ("<script", "<link", "src=", "url(", "@import", "https://"):
        assert text not in html, text
    for name in ("report.html", "findings.csv", "findings.json"):
        content = (out / name).read_text(encoding="utf-8-sig")
        assert NHS_NUMBER not in content and "Jane Smith" not in content, name  # masked everywhere
    assert "943 *** ****" in html
    # only the account that runs the review may read them, whatever the umask (the tests' is 022)
    assert [oct(p.stat().st_mode & 0o777) for p in (out.parent, out)] == ["0o700", "0o700"]
    assert {
        oct((out / n).stat().st_mode & 0o777) for n in ("report.html", "findings.csv", "findings.json")
    } == {"0o600"}

    review_rows = rows(store, "SELECT status, out_dir, summary FROM reviews")
    assert review_rows == [("ok", str(out), result.summary)]
    assert result.summary.startswith("2026-03-02 to 2026-03-05: 16 messages (15 checked now")


def test_csv_opens_cleanly_in_excel(config: Config, checker: Checker, store: Store) -> None:
    result = review(config, checker, store)
    raw = (result.out_dir / "findings.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark: Excel reads it as UTF-8
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert len(table) == result.data["store"]["findings"]
    for row in table:
        assert ISO_DATE.match(row["date"]) and re.match(r"^\d{2}:\d{2}:\d{2}$", row["time"])
        stamp = dt.datetime.fromisoformat(row["timestamp"])
        assert stamp.tzinfo is not None and stamp.date().isoformat() == row["date"]
        assert SINCE <= stamp < UNTIL
    assert Counter(r["rule"] for r in table) == {t["key"]: t["count"] for t in result.data["totals"]["rule"]}
    high = [r for r in table if r["severity"] == "high"]
    assert high[0]["department"] == "Housing" and "943 *** ****" in high[0]["evidence"]


def test_csv_cells_are_never_formulas(tmp_path: Path) -> None:
    from correspondence_guard.report.csvout import write_csv

    finding = {"date": "2026-03-02T09:00:00+00:00", "rule": "r", "title": "=HYPERLINK(\"x\")", "severity": "low",
               "on_send": "allow", "sender": "@attacker", "sender_role": "", "department": "", "recipient_classes": [],
               "subject": "+1 for this", "reason": "-", "note": "n", "citations": [], "evidence": [], "message_id": ""}  # fmt: skip
    write_csv({"findings": [finding]}, tmp_path / "f.csv")
    [row] = list(
        csv.DictReader(io.StringIO((tmp_path / "f.csv").read_text(encoding="utf-8-sig"), newline=""))
    )
    assert (
        row["title"].startswith("'=") and row["sender"] == "'@attacker" and row["subject"] == "'+1 for this"
    )
    assert row["date"] == "2026-03-02"


def test_a_second_review_does_not_check_again_unless_recheck(
    config: Config, checker: Checker, store: Store, tmp_path: Path
) -> None:
    policy = tmp_path / "quiet.yaml"
    policy.write_text("rules:\n  reply-all-members:\n    enabled: false\n")
    quiet = Checker.load(DIRECTORY, policy)
    first = review(config, quiet, store, out_dir=tmp_path / "r1")
    assert "reply-all-members" not in {t["key"] for t in first.data["totals"]["rule"]}
    store.record(*_meta("<reply-3-0@ashdown.gov.uk>"), location=Location("shared", "INBOX", 7, "imap"))

    second = review(config, checker, store, out_dir=tmp_path / "r2")  # the default policy, but no recheck
    assert second.data["run"]["checked"] == 0
    assert second.data["run"]["already_recorded"] == GOOD_IN_PERIOD
    assert second.data["run"]["could_not_check"] == 1  # still listed as not checked
    assert second.data["store"]["findings"] == first.data["store"]["findings"]

    third = review(config, checker, store, out_dir=tmp_path / "r3", recheck=True)
    assert third.data["run"]["checked"] == GOOD_IN_PERIOD and third.data["run"]["already_recorded"] == 0
    totals = {t["key"]: t["count"] for t in third.data["totals"]["rule"]}
    assert totals["reply-all-members"] == 10  # checked again with today's policy
    assert (
        third.data["store"]["findings"] == len(list(store.iter_findings(SINCE, UNTIL))) == 11
    )  # not doubled
    assert rows(store, "SELECT count(*) FROM messages")[0][0] == GOOD_IN_PERIOD + 1
    where = rows(store, "SELECT l.account, l.folder, l.uid FROM message_locations l JOIN messages m "
                        "ON m.id = l.message_pk WHERE m.message_key = '<reply-3-0@ashdown.gov.uk>'")  # fmt: skip
    assert ("shared", "INBOX", 7) in where  # where the watcher saw it is kept


def _meta(key: str) -> tuple[Any, None]:
    from correspondence_guard.store.db import MessageMeta

    return MessageMeta(message_key=key), None


def test_overrides_and_feedback_since_the_last_review(
    config: Config, checker: Checker, store: Store, tmp_path: Path
) -> None:
    store.add_override(
        "cllr.beatrix.quennell@ashdown.gov.uk", ["reply-all-members"], "urgent", subject="Budget"
    )
    first = review(config, checker, store, out_dir=tmp_path / "r1")
    assert [o["justification"] for o in first.data["overrides"]] == ["urgent"]
    store.add_override("oswin.thackeray@ashdown.gov.uk", ["personal-data-to-private-address"], "consented")
    store.add_feedback("oswin.thackeray@ashdown.gov.uk", "tone", "not rude, just brief")
    second = review(config, checker, store, out_dir=tmp_path / "r2")
    assert [o["justification"] for o in second.data["overrides"]] == ["consented"]
    assert [f["reason"] for f in second.data["feedback"]] == ["not rude, just brief"]
    html = (second.out_dir / "report.html").read_text(encoding="utf-8")
    assert "consented" in html and "not rude, just brief" in html and "urgent" not in html


def test_a_review_never_starts_while_another_runs(config: Config, checker: Checker, store: Store) -> None:
    assert store.start_review(SINCE, UNTIL, "elsewhere", dt.timedelta(hours=12)) is not None
    with pytest.raises(ReviewBusyError):
        review(config, checker, store)
    with store.engine.begin() as conn:  # one that crashed long ago does not block
        conn.execute(sa.text("UPDATE reviews SET started_at = '2020-01-01 00:00:00'"))
    assert review(config, checker, store).status == "ok"


def test_maildir_and_mbox_sources(tmp_path: Path, checker: Checker) -> None:
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box = mailbox.mbox(tmp_path / "archive.mbox", create=True)
    for _, raw in messages():
        maildir.add(raw)
        box.add(raw)
    box.flush()
    box.close()
    sources = [parse_source(str(tmp_path / "Maildir")), parse_source(f"mbox:{tmp_path / 'archive.mbox'}")]
    assert [s.kind for s in sources] == ["maildir", "mbox"]
    config = make_config(tmp_path, [s.model_dump() for s in sources])
    store = Store(config.store.url)
    try:
        result = run_review(config, checker, store, SINCE, UNTIL)
        run = result.data["run"]
        assert run["messages_in_period"] == 2 * GOOD_IN_PERIOD  # each message in both sources
        assert run["checked"] == GOOD_IN_PERIOD and run["already_recorded"] == GOOD_IN_PERIOD
        assert result.data["store"]["findings"] == 11
        assert len(result.data["enquiries"]["overdue"]) == 1  # seen twice, counted once
        assert rows(store, "SELECT count(DISTINCT folder) FROM message_locations")[0][0] == 2
    finally:
        store.close()


def test_a_source_that_cannot_be_read_makes_the_run_partial(
    config: Config, checker: Checker, store: Store, tmp_path: Path
) -> None:
    down = {"name": "down", "host": "127.0.0.1", "port": 9, "security": "none", "username": "u",
            "password_file": tmp_path / "pw"}  # fmt: skip
    (tmp_path / "pw").write_text("secret\n")
    config = config.model_copy(
        update={"watch": config.watch.model_copy(update={"accounts": [_account(down)]})}
    )
    sources = [*config.review.sources, parse_source("imap:down/INBOX")]
    result = run_review(config, checker, store, SINCE, UNTIL, sources=sources)
    assert result.status == "partial"
    assert result.data["run"]["checked"] == GOOD_IN_PERIOD  # the folder was still reviewed
    assert [p["source"] for p in result.data["problems"] if p["kind"] == "source"] == ["imap:down/INBOX"]
    assert rows(store, "SELECT status FROM reviews") == [("partial",)]


def _account(values: dict[str, Any]) -> Any:
    from correspondence_guard.config import WatchAccount

    return WatchAccount(**values)


def test_bad_sources_are_config_errors(
    config: Config, checker: Checker, store: Store, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="no watch.accounts entry"):
        run_review(config, checker, store, SINCE, UNTIL, sources=[parse_source("imap:nobody")])
    with pytest.raises(ConfigError, match="no such file"):
        parse_source(str(tmp_path / "missing"))
    assert rows(store, "SELECT status FROM reviews") == [("failed",)]


def test_cli_review(config: Config, mail_dir: Path, tmp_path: Path, cli: Any) -> None:
    cfg = tmp_path / "cg.yaml"
    cfg.write_text(f"directory: {DIRECTORY}\nstore: {{url: 'sqlite:///{tmp_path / 'cli.db'}'}}\n"
                   f"review: {{out_dir: '{tmp_path / 'reports'}'}}\n")  # fmt: skip
    out = tmp_path / "out"
    code, stdout, stderr = cli("review", "--config", cfg, "--since", "2026-03-02", "--until", "2026-03-05",
                               "--source", f"folder:{mail_dir}", "--out", out)  # fmt: skip
    assert code == 1, stderr  # findings
    assert stdout.count("\n") == 1 and stdout.startswith(
        "2026-03-02 to 2026-03-05: 16 messages (15 checked now"
    )
    assert {p.name for p in out.iterdir()} == {"report.html", "findings.csv", "findings.json"}
    code, stdout, stderr = cli("review", "--config", cfg, "--since", "2026-03-02", "--until", "2026-03-05",
                               "--source", str(mail_dir), "--out", out)  # fmt: skip
    assert code == 1 and "0 checked now, 15 already recorded" in stdout
    code, _, stderr = cli("review", "--config", cfg, "--since", "2026-03-02", "--until", "2026-03-05")
    assert (
        code == 2
        and stderr.strip()
        == "correspondence-guard: error: review: no sources (give --source or set review.sources in the config)"
    )
    code, _, stderr = cli("review", "--config", cfg, "--since", "March", "--source", str(mail_dir))
    assert code == 2 and stderr.count("\n") == 1 and "--since: not a date" in stderr


# -- an IMAP source, on the watcher tests' throw-away Dovecot ------------------------------------------
def _dovecot_module() -> Any:
    path = Path(__file__).resolve().parents[1] / "imap" / "conftest.py"
    spec = importlib.util.spec_from_file_location("cg_review_imap_helpers", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not shutil.which("dovecot"), reason="dovecot is not installed (apt-get install dovecot-imapd)"
)
@pytest.mark.parametrize("arrived", ["when-sent", "today"], ids=["delivered", "migrated-today"])
def test_imap_source(tmp_path: Path, checker: Checker, mail_dir: Path, arrived: str) -> None:
    """A folder reviewed over IMAP; in a migrated mailbox (or Sent copies appended late) every
    message arrived today, long after its Date, and must still be found by its Date."""
    helpers = _dovecot_module()
    root = Path(tempfile.mkdtemp(prefix="cg-review-dovecot-"))  # not in tmp_path: the mail user must reach it
    server = helpers.DovecotServer(root)
    server.start()
    try:
        mail = helpers.Mailbox(server, *server.new_user())
        client = mail.client()
        big = eml(dt.datetime(2026, 3, 4, 16, 0, tzinfo=dt.UTC), OSWIN, MARISOL, "Plans", "x" * 80_000, "big")
        for raw in [raw for _, raw in messages()] + [big]:
            when = dt.datetime.strptime(
                re.search(rb"Date: (.+?)\r\n", raw)[1].decode(), "%a, %d %b %Y %H:%M:%S %z"
            )
            client.append("INBOX", raw, msg_time=when if arrived == "when-sent" else dt.datetime.now(dt.UTC))
        client.logout()
        config = make_config(tmp_path, [{"kind": "imap", "account": "shared", "folder": "INBOX"}])
        config = config.model_copy(
            update={
                "watch": config.watch.model_copy(
                    update={"accounts": [mail.account()], "max_message_mb": 0.05}
                )
            }
        )
        store = Store(config.store.url)
        try:
            result = run_review(config, checker, store, SINCE, UNTIL)
            assert result.status == "ok"
            assert result.data["run"]["checked"] == GOOD_IN_PERIOD and result.data["store"]["findings"] == 11
            assert result.data["problems"] == [
                {
                    "kind": "message",
                    "source": "imap:shared/INBOX/20",
                    "problem": f"message is {len(big)} bytes, over the 52428-byte limit",
                }
            ]  # over max_message_mb: only its header was fetched, and it is recorded as an error
            assert len(result.data["enquiries"]["overdue"]) == 1
            locations = rows(store, "SELECT DISTINCT account, folder FROM message_locations")
            assert locations == [("shared", "INBOX")]
        finally:
            store.close()
        assert all(b"\\Seen" not in flags for flags in mail.flags("INBOX").values())  # BODY.PEEK[] only
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_message_only_partly_checked_is_listed_in_the_report(tmp_path: Path, checker: Checker) -> None:
    """An attachment that claims to be a PDF but is not: the message is checked on the rest, and
    the report says what could not be read, rather than counting it as clear."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = OSWIN, MARISOL, "Minutes"
    msg["Date"], msg["Message-ID"] = "Tue, 03 Mar 2026 10:00:00 +0000", "<minutes@ashdown.gov.uk>"
    msg.set_content("Minutes attached.")
    msg.add_attachment(b"not a pdf at all", maintype="application", subtype="pdf", filename="minutes.pdf")
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "minutes.eml").write_bytes(msg.as_bytes())
    config = make_config(tmp_path, [{"kind": "folder", "path": folder}])
    store = Store(config.store.url)
    try:
        result = run_review(config, checker, store, SINCE, UNTIL)
    finally:
        store.close()
    [part] = result.data["problems"]
    assert part["kind"] == "part" and part["problem"].startswith("attachment minutes.pdf could not be read")
    assert result.data["run"]["could_not_check"] == 0 and result.data["store"]["by_verdict"] == {
        "advisory": 1
    }
    html = (result.out_dir / "report.html").read_text(encoding="utf-8")
    assert "part of a message (the rest was checked)" in html and "minutes.pdf could not be read" in html
