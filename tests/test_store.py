"""The findings store on a real SQLite file, and ``recording`` (check one raw message, record it once)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from correspondence_guard import Checker
from correspondence_guard.findings import Evidence, Finding, Report, SendAction, Severity
from correspondence_guard.store.db import Location, MessageMeta, Store, migrate
from correspondence_guard.store.recording import check_and_record, message_key, record_error

UTC = dt.UTC


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'cg.db'}")
    yield s
    s.close()


def _finding(rule: str = "reply-all-members", evidence: str = "all.councillors@ashdown.gov.uk") -> Finding:
    return Finding(
        rule=rule,
        severity=Severity.MEDIUM,
        on_send=SendAction.PROMPT,
        title="Reply sent to all members",
        reason="the all-members list is addressed",
        note="Reply to the sender only.",
        citations=("CAM 10.1",),
        evidence=(Evidence("recipients", evidence),),
    )


def _meta(
    key: str, date: dt.datetime | None = None, subject: str = "Budget", sender: str = ""
) -> MessageMeta:
    return MessageMeta(
        message_key=key,
        message_id=key,
        date=date or dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        sender=sender or "cllr.beatrix.quennell@ashdown.gov.uk",
        sender_role="member",
        recipient_classes=("distribution-list",),
        subject=subject,
    )


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_message_is_recorded_once_and_later_sightings_add_locations(store: Store) -> None:
    report = Report("x", (_finding(),))
    pk, new = store.record(_meta("<a@x>"), report, Location("shared", "INBOX", 7))
    assert new and store.has_message("<a@x>")
    pk2, new2 = store.record(_meta("<a@x>"), report, Location("officer1", "Sent", 3))
    pk3, new3 = store.record(_meta("<a@x>"), report, Location("officer1", "Sent", 3))  # same place again
    assert (pk2, new2, pk3, new3) == (pk, False, pk, False)
    assert _count(store, "messages") == 1
    assert _count(store, "findings") == 1
    assert _count(store, "message_locations") == 2


def test_findings_round_trip_with_filters_and_masked_subject(store: Store) -> None:
    store.record(_meta("<a@x>", subject="Call 07700 900123 re BEN-558210"), Report("x", (_finding(),)))
    store.record(
        _meta("<b@x>", date=dt.datetime(2026, 3, 5, tzinfo=UTC)),
        Report("x", (_finding("personal-data-to-private-address", "k***@gmail.com"),)),
    )
    store.record(_meta("<c@x>"), Report("x", ()))  # clear: a message without findings
    items = list(store.iter_findings())
    assert [i["rule"] for i in items] == ["reply-all-members", "personal-data-to-private-address"]
    first = items[0]
    assert "900123" not in first["subject"] and "558210" not in first["subject"]
    assert first["evidence"] == [{"where": "recipients", "text": "all.councillors@ashdown.gov.uk"}]
    assert first["citations"] == ["CAM 10.1"] and first["recipient_classes"] == ["distribution-list"]
    since = dt.datetime(2026, 3, 3, tzinfo=UTC)
    assert [i["message_id"] for i in store.iter_findings(since=since)] == ["<b@x>"]
    assert [i["message_id"] for i in store.iter_findings(until=since)] == ["<a@x>"]
    assert [i["message_id"] for i in store.iter_findings(rule="reply-all-members")] == ["<a@x>"]
    assert store.count_messages() == 3


def test_an_unreadable_message_is_recorded_as_an_error(store: Store) -> None:
    store.record(MessageMeta(message_key="sha256:00"), None, Location("a", "INBOX", 1), error="empty message")
    with store.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT verdict, error FROM messages")).one()
    assert tuple(row) == ("error", "empty message")
    assert list(store.iter_findings()) == []


def test_checkpoints_per_account_and_folder(store: Store) -> None:
    assert store.checkpoint("shared", "INBOX") is None
    store.save_checkpoint("shared", "INBOX", 1700000000, 5)
    store.save_checkpoint("shared", "Sent", 1700000001, 2)
    store.save_checkpoint("shared", "INBOX", 1700000000, 9)
    assert store.checkpoint("shared", "INBOX") == (1700000000, 9)
    assert store.checkpoint("shared", "Sent") == (1700000001, 2)
    assert store.checkpoint("other", "INBOX") is None


def test_purge_removes_old_messages_findings_and_locations(store: Store) -> None:
    """Age is when a message was checked: one seen long ago goes, one dated 2001 but seen now stays."""
    store.record(_meta("<seen-long-ago@x>"), Report("x", (_finding(),)), Location("a", "INBOX", 1))
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE messages SET checked_at = '2024-01-01 00:00:00+00:00'"))
    backdated = _meta("<dated-2001@x>", date=dt.datetime(2001, 1, 1, tzinfo=UTC))
    store.record(backdated, Report("x", (_finding(),)), Location("a", "INBOX", 2))
    counts = store.purge(dt.datetime(2025, 1, 1, tzinfo=UTC))
    assert (counts["messages"], counts["findings"], counts["locations"]) == (1, 1, 1)
    assert not store.has_message("<seen-long-ago@x>") and store.has_message("<dated-2001@x>")
    assert _count(store, "findings") == 1 and _count(store, "message_locations") == 1


def test_a_sender_chosen_date_cannot_hide_a_message_from_review_or_retention(store: Store) -> None:
    future = _meta("<2099@x>", date=dt.datetime(2099, 1, 1, tzinfo=UTC))
    past = _meta("<2001@x>", date=dt.datetime(2001, 1, 1, tzinfo=UTC))
    for meta in (future, past):
        store.record(meta, Report("x", (_finding(),)))
    now = dt.datetime.now(UTC)
    today = (now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))  # a review window around now
    assert sorted(i["message_id"] for i in store.iter_findings(*today)) == ["<2001@x>", "<2099@x>"]
    assert sum(store.count_verdicts(*today).values()) == 2
    assert all(today[0] <= t < today[1] for t in store.finding_times(*today))
    assert store.purge(now + dt.timedelta(days=1))["messages"] == 2  # the 2099 one is not kept forever


def test_overrides_and_feedback_round_trip_masked(store: Store) -> None:
    store.add_override(
        "kieran.reddaway@ashdown.gov.uk",
        ["reply-all-members"],
        "Chair asked; call 07700 900123",
        conversation_id="conv-1",
        subject="Re: agenda",
    )
    store.add_feedback("kieran.reddaway@ashdown.gov.uk", "reply-all-members", "not a reply", subject="Agenda")
    (override,) = store.list_overrides()
    assert override["rules"] == ["reply-all-members"] and override["conversation_id"] == "conv-1"
    assert "900123" not in override["justification"]
    (fb,) = store.list_feedback()
    assert (fb["rule"], fb["reason"]) == ("reply-all-members", "not a reply")
    assert store.list_feedback(since=dt.datetime.now(UTC) + dt.timedelta(minutes=1)) == []


def test_migrations_are_idempotent_and_keep_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    first = Store(url)
    first.record(_meta("<a@x>"), Report("x", ()))
    first.close()
    again = Store(url)  # migrates again on open
    migrate(again.engine)  # and once more by hand
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"
        tables = set(sa.inspect(conn).get_table_names())
    assert {"messages", "message_locations", "findings", "checkpoints", "overrides", "feedback"} <= tables
    assert again.has_message("<a@x>")
    again.close()


# -- recording: one raw message checked and recorded, independent of IMAP -----------------------
def _eml(
    subject: str = "Re: Budget",
    to: str = "all.councillors@ashdown.gov.uk",
    mid: str | None = "<r1@x>",
    sender: str = "cllr.beatrix.quennell@ashdown.gov.uk",
) -> bytes:
    headers = [
        f"From: Beatrix Quennell <{sender}>",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Mon, 02 Mar 2026 09:30:00 +0000",
        "In-Reply-To: <earlier@x>",
    ]
    if mid:
        headers.append(f"Message-ID: {mid}")
    return ("\r\n".join(headers) + "\r\n\r\nI agree with the proposal.\r\n").encode()


def test_check_and_record_keys_by_message_id_and_checks_once(store: Store, checker: Checker) -> None:
    raw = _eml()
    first = check_and_record(store, checker, raw, Location("shared", "INBOX", 1))
    assert first.new and first.flagged and first.key == "<r1@x>" and first.report is not None
    assert [f.rule for f in first.report.findings] == ["reply-all-members"]
    again = check_and_record(store, checker, raw, Location("officer1", "Sent", 4))
    assert (again.new, again.flagged, again.report, again.pk) == (False, True, None, first.pk)
    (item,) = store.iter_findings()
    assert (item["sender_role"], item["recipient_classes"]) == ("member", ["distribution-list"])
    assert item["date"].replace(tzinfo=UTC) == dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert _count(store, "message_locations") == 2


def test_without_message_id_the_key_is_a_hash_of_the_bytes(store: Store, checker: Checker) -> None:
    raw = _eml(
        subject="Planning meeting",
        to="marisol.quayle@ashdown.gov.uk",
        mid=None,
        sender="oswin.thackeray@ashdown.gov.uk",
    )
    out = check_and_record(store, checker, raw)
    assert out.key == "sha256:" + hashlib.sha256(raw).hexdigest() == message_key(raw)
    assert out.verdict == "clear" and not out.flagged
    with store.engine.connect() as conn:
        role, dept, classes = conn.execute(
            sa.text("SELECT sender_role, department, recipient_classes FROM messages")
        ).one()
    assert (role, dept, classes) == ("officer", "Housing", '["officer"]')


def test_broken_and_oversize_messages_are_recorded_as_errors(store: Store, checker: Checker) -> None:
    broken = check_and_record(store, checker, b"   \r\n")
    assert broken.new and broken.verdict == "error" and broken.error == "empty message"
    big = check_and_record(store, checker, _eml(mid="<big@x>"), max_bytes=50)
    assert big.key == "<big@x>" and big.verdict == "error" and "over the 50-byte limit" in (big.error or "")
    header_only = record_error(store, b"Message-ID: <h@x>\r\n\r\n", Location("a", "INBOX", 9), "too big")
    assert header_only.key == "<h@x>" and header_only.new
    assert store.count_messages() == 3 and list(store.iter_findings()) == []


def test_the_sqlite_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        s = Store(f"sqlite:///{tmp_path / 'private.db'}")
        s.record(_meta("<m@x>"), Report("x", (_finding(),)))
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.glob("private.db*")}
        s.close()
    finally:
        os.umask(old)
    assert modes["private.db"] == "0o600" and set(modes.values()) == {"0o600"}
