"""The findings store: SQLite by default, PostgreSQL by URL; schema managed by Alembic.

Shared by the watcher, the HTTP service and the nightly review. It keeps what a council
may keep: one row per checked message (its Message-ID, where it was seen, date, sender,
recipient classes, masked subject) and its findings with masked evidence; never a body.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from correspondence_guard.findings import Finding, Report
from correspondence_guard.masking import mask_text
from correspondence_guard.private_files import create_private

metadata = sa.MetaData()

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("message_key", sa.String(512), nullable=False, unique=True),
    sa.Column("message_id", sa.String(998), nullable=False, default=""),
    sa.Column("date", sa.DateTime(timezone=True), nullable=True, index=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("sender", sa.String(320), nullable=False, default=""),
    sa.Column("sender_role", sa.String(32), nullable=False, default=""),
    sa.Column("department", sa.String(200), nullable=False, default=""),
    sa.Column("recipient_classes", sa.Text, nullable=False, default="[]"),
    sa.Column("subject", sa.Text, nullable=False, default=""),  # masked
    sa.Column("verdict", sa.String(16), nullable=False, default="clear"),
    sa.Column("error", sa.Text, nullable=True),
)

locations = sa.Table(
    "message_locations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("message_pk", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("account", sa.String(200), nullable=False, default=""),
    sa.Column("folder", sa.String(500), nullable=False, default=""),
    sa.Column("uid", sa.BigInteger, nullable=True),
    sa.Column("source", sa.Text, nullable=False, default=""),
    sa.UniqueConstraint("message_pk", "account", "folder", "uid", name="uq_location"),
)

findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "message_pk", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("rule", sa.String(100), nullable=False, index=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("on_send", sa.String(16), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("citations", sa.Text, nullable=False),  # JSON list
    sa.Column("evidence", sa.Text, nullable=False),  # JSON list of {where, text}, masked
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("account", sa.String(200), primary_key=True),
    sa.Column("folder", sa.String(500), primary_key=True),
    sa.Column("uidvalidity", sa.BigInteger, nullable=False),
    sa.Column("last_uid", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

overrides = sa.Table(
    "overrides",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("user", sa.String(320), nullable=False),
    sa.Column("rules", sa.Text, nullable=False),  # JSON list
    sa.Column("justification", sa.Text, nullable=False),
    sa.Column("conversation_id", sa.String(500), nullable=False, default=""),
    sa.Column("subject", sa.Text, nullable=False, default=""),  # masked
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("user", sa.String(320), nullable=False),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("conversation_id", sa.String(500), nullable=False, default=""),
    sa.Column("subject", sa.Text, nullable=False, default=""),  # masked
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    sa.Column("out_dir", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("summary", sa.Text, nullable=False, default=""),
)

# archive review (review/archive.py): one row per chunk of an archive run checked and written, so
# an interrupted run resumes with the chunks it had not finished (migration 0002)
archive_chunks = sa.Table(
    "archive_chunks",
    metadata,
    sa.Column("run_key", sa.String(64), primary_key=True),
    sa.Column("chunk_id", sa.String(64), primary_key=True),
    sa.Column("label", sa.Text, nullable=False, default=""),
    sa.Column("messages", sa.Integer, nullable=False, default=0),
    sa.Column("checked", sa.Integer, nullable=False, default=0),
    sa.Column("seen", sa.Integer, nullable=False, default=0),
    sa.Column("flagged", sa.Integer, nullable=False, default=0),
    sa.Column("errors", sa.Integer, nullable=False, default=0),
    sa.Column("problems", sa.Text, nullable=False, default="[]"),  # JSON list, masked
    sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
)


def findings_with_message() -> sa.Select[Any]:
    """Each finding with what reports show of its message (never a body): the query the
    findings export, the nightly review and the archive review filter and order."""
    return sa.select(
        findings,
        messages.c.message_id,
        messages.c.date,
        messages.c.checked_at,
        messages.c.sender,
        messages.c.sender_role,
        messages.c.department,
        messages.c.subject,
        messages.c.recipient_classes,
    ).join(messages, findings.c.message_pk == messages.c.id)


# The statements ``Store.record`` runs for every flagged message, built once: building them per
# call (``.values(...)``, ``.where(...)``) cost SQLAlchemy more than SQLite took to run them.
_MESSAGE_BY_KEY = sa.select(messages.c.id).where(messages.c.message_key == sa.bindparam("key"))
_INSERT_MESSAGE = messages.insert()
_INSERT_FINDING = findings.insert()
_INSERT_LOCATION = locations.insert()
_LOCATION_WHERE = (
    locations.c.message_pk == sa.bindparam("pk"),
    locations.c.account == sa.bindparam("account"),
    locations.c.folder == sa.bindparam("folder"),
)
_LOCATION = sa.select(locations.c.id).where(*_LOCATION_WHERE, locations.c.uid == sa.bindparam("uid"))
_LOCATION_WITHOUT_UID = sa.select(locations.c.id).where(*_LOCATION_WHERE, locations.c.uid.is_(None))


_WHEN = sa.func.coalesce(messages.c.date, messages.c.checked_at)


def _window(since: dt.datetime | None, until: dt.datetime | None) -> sa.ColumnElement[bool]:
    """Messages of [since, until): sent in it (by their Date, which the sender writes), or, for a
    closed window such as a review's, seen in it though dated earlier, so back-dating a message
    cannot keep it out of the review of the day it arrived."""
    sent = sa.and_(
        sa.true(),
        *([_WHEN >= since] if since is not None else []),
        *([_WHEN < until] if until is not None else []),
    )
    if since is None or until is None:
        return sent
    late = sa.and_(_WHEN < since, messages.c.checked_at >= since, messages.c.checked_at < until)
    return sa.or_(sent, late)


def _finding_row(message_pk: int, f: Finding) -> dict[str, Any]:
    return {
        "message_pk": message_pk,
        "rule": f.rule,
        "severity": f.severity.value,
        "on_send": f.on_send.value,
        "title": f.title,
        "reason": mask_text(f.reason),  # a journalist's address, a person's name in a reason
        "note": f.note,
        "citations": json.dumps(list(f.citations)),
        "evidence": json.dumps([e.to_dict() for e in f.evidence]),
    }


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def message_row(
    meta: MessageMeta, report: Report | None, error: str | None, now: dt.datetime
) -> dict[str, Any]:
    """The ``messages`` row of one checked message: what it is, never its body; the subject masked."""
    return {
        "message_key": meta.message_key,
        "message_id": meta.message_id[:998],
        # a message cannot be sent after it is seen: a future Date (2099) would keep it from
        # every review window and from the retention purge
        "date": min(meta.date, now) if meta.date is not None else None,
        "checked_at": now,
        "sender": _fit(messages.c.sender, meta.sender),
        "sender_role": _fit(messages.c.sender_role, meta.sender_role),
        "department": _fit(messages.c.department, meta.department),
        "recipient_classes": json.dumps(list(meta.recipient_classes)),
        "subject": mask_text(meta.subject),
        "verdict": report.verdict.value if report else "error",
        "error": error,
    }


def _fit(column: sa.Column[Any], value: str) -> str:
    """``value`` cut to the column's VARCHAR length: PostgreSQL enforces it (SQLite does not), and a
    header such as From comes from whoever sent the mail."""
    length = getattr(column.type, "length", None)
    return value[:length] if length else value


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """What the store keeps about a checked message (no body)."""

    message_key: str
    message_id: str = ""
    date: dt.datetime | None = None
    sender: str = ""
    sender_role: str = ""
    department: str = ""
    recipient_classes: tuple[str, ...] = ()
    subject: str = ""


@dataclass(frozen=True, slots=True)
class Location:
    account: str = ""
    folder: str = ""
    uid: int | None = None
    source: str = ""


def migrate(engine: Engine) -> None:
    """Bring the database schema up to date with Alembic (idempotent)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option(
        "script_location", str(resources.files("correspondence_guard.store").joinpath("migrations"))
    )
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # the watcher, the service and the review may start together on a new database: one
            # migrates, the others wait here (until its commit) and then find nothing to do
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


_MIGRATE_LOCK = 0x43475F4D4947  # "CG_MIG": the advisory lock that serialises migrations on PostgreSQL


class Store:
    """Findings, checkpoints, overrides and feedback in one database."""

    def __init__(self, url: str, *, create: bool = True):
        parsed = sa.make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite" and create and parsed.database not in (None, "", ":memory:"):
            create_private(Path(parsed.database))  # 0600: SQLite gives its -wal and -shm the same mode
        connect_args = {"timeout": 30} if backend == "sqlite" else {}
        self.engine = sa.create_engine(url, future=True, connect_args=connect_args)
        if backend == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        elif backend == "postgresql":
            sa.event.listen(self.engine, "connect", _postgresql_utc)
        if create:
            migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- messages and findings -------------------------------------------------------------
    def message_pk(self, message_key: str) -> int | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(messages.c.id).where(messages.c.message_key == message_key)).first()
        return None if row is None else int(row[0])

    def has_message(self, message_key: str) -> bool:
        return self.message_pk(message_key) is not None

    def record(
        self,
        meta: MessageMeta,
        report: Report | None,
        location: Location | None = None,
        error: str | None = None,
    ) -> tuple[int, bool]:
        """Record a checked message once; later sightings only add a location.

        Returns (row id, True if the message was new). When another process or thread records
        the same key at the same moment, ours loses on the unique index and only adds its location.
        """
        try:
            return self._record(meta, report, location, error)
        except sa.exc.IntegrityError:
            return self._record(meta, None, location)

    def _record(
        self, meta: MessageMeta, report: Report | None, location: Location | None, error: str | None = None
    ) -> tuple[int, bool]:
        with self.engine.begin() as conn:
            row = conn.execute(_MESSAGE_BY_KEY, {"key": meta.message_key}).first()
            new = row is None
            if row is None:
                now = utcnow()
                pk = conn.execute(
                    _INSERT_MESSAGE,
                    message_row(meta, report, error, now),
                ).inserted_primary_key[0]  # type: ignore[index]
                if report is not None and report.findings:
                    conn.execute(_INSERT_FINDING, [_finding_row(pk, f) for f in report.findings])
            else:
                pk = row[0]
            if location is not None:
                where = {
                    "pk": pk,
                    "account": _fit(locations.c.account, location.account),
                    "folder": _fit(locations.c.folder, location.folder),
                    "uid": location.uid,
                }
                seen = _LOCATION if location.uid is not None else _LOCATION_WITHOUT_UID
                if conn.execute(seen, where).first() is None:
                    conn.execute(
                        _INSERT_LOCATION,
                        {
                            "message_pk": pk,
                            "account": where["account"],
                            "folder": where["folder"],
                            "uid": location.uid,
                            "source": location.source,
                        },
                    )
        return int(pk), new

    def iter_findings(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None, rule: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Findings joined with their message, oldest first; dates filter on the message date
        (or when it was checked, for a message with no date), as ``_window`` says."""
        query = findings_with_message().where(_window(since, until)).order_by(_WHEN, findings.c.id)
        if rule:
            query = query.where(findings.c.rule == rule)
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                item = dict(row)
                item["citations"] = json.loads(item["citations"])
                item["evidence"] = json.loads(item["evidence"])
                item["recipient_classes"] = json.loads(item["recipient_classes"])
                yield item

    def count_messages(self, since: dt.datetime | None = None, until: dt.datetime | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(messages).where(_window(since, until))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # -- IMAP checkpoints --------------------------------------------------------------------
    def checkpoint(self, account: str, folder: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, highest UID processed) for a folder, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(checkpoints.c.uidvalidity, checkpoints.c.last_uid).where(
                    checkpoints.c.account == account, checkpoints.c.folder == folder
                )
            ).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def save_checkpoint(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        # one INSERT ... ON CONFLICT DO UPDATE: an UPDATE-then-INSERT races on PostgreSQL when
        # another connection inserts the same folder's first checkpoint at the same time
        with self.engine.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            stmt = insert(checkpoints).values(
                account=account,
                folder=folder,
                uidvalidity=uidvalidity,
                last_uid=last_uid,
                updated_at=utcnow(),
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[checkpoints.c.account, checkpoints.c.folder],
                    set_={k: stmt.excluded[k] for k in ("uidvalidity", "last_uid", "updated_at")},
                )
            )

    # -- overrides and feedback from the add-in ----------------------------------------------
    def add_override(
        self, user: str, rules: list[str], justification: str, conversation_id: str = "", subject: str = ""
    ) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    overrides.insert().values(
                        at=utcnow(),
                        user=user,
                        rules=json.dumps(rules),
                        justification=mask_text(justification),
                        conversation_id=conversation_id,
                        subject=mask_text(subject),
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )

    def add_feedback(
        self, user: str, rule: str, reason: str, conversation_id: str = "", subject: str = ""
    ) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    feedback.insert().values(
                        at=utcnow(),
                        user=user,
                        rule=rule,
                        reason=mask_text(reason),
                        conversation_id=conversation_id,
                        subject=mask_text(subject),
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )

    def list_overrides(self, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        return self._list(overrides, since, decode=("rules",))

    def list_feedback(self, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        return self._list(feedback, since)

    def _list(
        self, table: sa.Table, since: dt.datetime | None, decode: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        query = sa.select(table).order_by(table.c.at)
        if since is not None:
            query = query.where(table.c.at >= since)
        with self.engine.connect() as conn:
            out = [dict(r) for r in conn.execute(query).mappings()]
        for item in out:
            for key in decode:
                item[key] = json.loads(item[key])
        return out

    # -- nightly reviews (review.py, schedule.py) -----------------------------------------------
    def start_review(
        self, since: dt.datetime, until: dt.datetime, out_dir: str, stale_after: dt.timedelta
    ) -> int | None:
        """Record a review as running; None when another started less than ``stale_after`` ago is
        still running (two reviews never overlap, even from two processes)."""
        now = utcnow()
        with self.engine.begin() as conn:
            _lock_reviews(conn)
            busy = conn.execute(
                sa.select(reviews.c.id).where(
                    reviews.c.status == "running", reviews.c.started_at > now - stale_after
                )
            ).first()
            if busy is not None:
                return None
            values = {"started_at": now, "since": since, "until": until, "out_dir": out_dir}
            return int(
                conn.execute(
                    reviews.insert().values(status="running", summary="", **values)
                ).inserted_primary_key[0]  # type: ignore[index]
            )

    def finish_review(self, review_id: int, status: str, summary: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                reviews.update()
                .where(reviews.c.id == review_id)
                .values(finished_at=utcnow(), status=status, summary=summary)
            )

    def last_review(self, status: str = "ok", before_id: int | None = None) -> dict[str, Any] | None:
        """The latest review with ``status`` (started before review ``before_id``), or None."""
        query = sa.select(reviews).where(reviews.c.status == status).order_by(reviews.c.id.desc())
        if before_id is not None:
            query = query.where(reviews.c.id < before_id)
        with self.engine.connect() as conn:
            row = conn.execute(query.limit(1)).mappings().first()
        return None if row is None else dict(row)

    def finding_times(self, since: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
        """When each finding's message was sent (or checked) in [since, until): for per-day charts."""
        query = (
            sa.select(sa.case((_WHEN < since, messages.c.checked_at), else_=_WHEN))
            .select_from(findings.join(messages, findings.c.message_pk == messages.c.id))
            .where(_window(since, until))
        )
        with self.engine.connect() as conn:
            return [r[0] if r[0].tzinfo else r[0].replace(tzinfo=dt.UTC) for r in conn.execute(query)]

    def count_verdicts(self, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
        """Messages in [since, until) by verdict (clear, advisory, warning, block, error)."""
        query = (
            sa.select(messages.c.verdict, sa.func.count())
            .where(_window(since, until))
            .group_by(messages.c.verdict)
        )
        with self.engine.connect() as conn:
            return {str(v): int(n) for v, n in conn.execute(query)}

    def forget(self, message_key: str) -> list[Location]:
        """Delete a message and its findings (to check it again); returns where it was seen."""
        with self.engine.begin() as conn:
            pk = conn.execute(sa.select(messages.c.id).where(messages.c.message_key == message_key)).scalar()
            if pk is None:
                return []
            seen = [
                Location(r.account, r.folder, r.uid, r.source)
                for r in conn.execute(sa.select(locations).where(locations.c.message_pk == pk))
            ]
            conn.execute(findings.delete().where(findings.c.message_pk == pk))
            conn.execute(locations.delete().where(locations.c.message_pk == pk))
            conn.execute(messages.delete().where(messages.c.id == pk))
        return seen

    # -- retention ---------------------------------------------------------------------------
    def purge(self, before: dt.datetime) -> dict[str, int]:
        """Delete messages (with their findings), overrides, feedback and reviews older than
        ``before``. A message's age is when it was checked, not the Date its sender wrote: a
        message dated 2001 is kept for the whole retention period like any other."""
        when = messages.c.checked_at
        with self.engine.begin() as conn:
            old = sa.select(messages.c.id).where(when < before).scalar_subquery()
            counts = {
                "findings": conn.execute(findings.delete().where(findings.c.message_pk.in_(old))).rowcount,
                "locations": conn.execute(locations.delete().where(locations.c.message_pk.in_(old))).rowcount,
            }
            counts["messages"] = conn.execute(messages.delete().where(when < before)).rowcount
            counts["overrides"] = conn.execute(overrides.delete().where(overrides.c.at < before)).rowcount
            counts["feedback"] = conn.execute(feedback.delete().where(feedback.c.at < before)).rowcount
            counts["reviews"] = conn.execute(reviews.delete().where(reviews.c.started_at < before)).rowcount
        return counts


def _lock_reviews(conn: Connection) -> None:
    """On PostgreSQL, hold off other writers of ``reviews`` until this transaction ends, so the
    check for a running review and the insert of ours are atomic. SQLite needs nothing: its
    writers are serialised already."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE reviews IN SHARE ROW EXCLUSIVE MODE"))


def _postgresql_utc(dbapi_conn: Any, _record: Any) -> None:
    """Work in UTC whatever the server's TimeZone: times read back are then aware UTC datetimes,
    as the rest of the program (and the findings command's output) expects."""
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True  # a SET inside a transaction would be undone by its rollback
    cur = dbapi_conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    cur.close()
    dbapi_conn.autocommit = autocommit


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # the watcher writes while the service and review read
    # In WAL mode NORMAL never corrupts the database; at worst a power cut loses the last few
    # commits. It saves an fsync on every checked message, which the service pays per request.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
