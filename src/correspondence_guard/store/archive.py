"""The findings store's side of an archive review: messages written in batches, chunk checkpoints.

``write_batch(store, rows, done=...)`` records a batch of checked messages in one transaction,
each keyed by its message key (``INSERT ... ON CONFLICT DO NOTHING``): a message another process,
an earlier run or an earlier attempt at the same chunk recorded already only gains a location, and
its findings are never written twice. With ``done`` the chunk's checkpoint row goes in the same
transaction, so a chunk marked done always has all of its messages in the store.

Only metadata is written, as ``Store.record`` writes it: masked subject, findings with masked
evidence, no body.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from correspondence_guard.findings import Report
from correspondence_guard.store.db import (
    Location,
    MessageMeta,
    Store,
    _finding_row,
    _fit,
    archive_chunks,
    findings,
    findings_with_message,
    locations,
    message_row,
    messages,
    utcnow,
)

MAX_PROBLEMS = 50  # problems kept per chunk (the counts are always whole)


@dataclass(frozen=True, slots=True)
class Row:
    """One message to record: its metadata, its report (None when it could not be checked)."""

    meta: MessageMeta
    report: Report | None
    location: Location
    error: str | None = None


@dataclass
class ChunkDone:
    """What one chunk did; written as its checkpoint."""

    run_key: str
    chunk_id: str
    label: str
    messages: int = 0  # read and in the window
    checked: int = 0  # checked now
    seen: int = 0  # in the store already
    flagged: int = 0
    errors: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    resumed: bool = False  # done by an earlier run (or attempt): nothing was read now

    def to_row(self) -> dict[str, Any]:
        return {
            "run_key": self.run_key,
            "chunk_id": self.chunk_id,
            "label": self.label,
            "messages": self.messages,
            "checked": self.checked,
            "seen": self.seen,
            "flagged": self.flagged,
            "errors": self.errors,
            "problems": json.dumps(self.problems[:MAX_PROBLEMS]),
            "done_at": utcnow(),
        }


def _insert(conn: Connection, table: sa.Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def known(store: Store, keys: Iterable[str]) -> dict[str, str]:
    """{message key: verdict} for the keys already in the store."""
    wanted = list(set(keys))
    out: dict[str, str] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(wanted), 500):
            query = sa.select(messages.c.message_key, messages.c.verdict).where(
                messages.c.message_key.in_(wanted[i : i + 500])
            )
            out.update({str(k): str(v) for k, v in conn.execute(query)})
    return out


def write_batch(store: Store, rows: list[Row], done: ChunkDone | None = None) -> list[bool]:
    """Record ``rows`` (and the chunk's checkpoint) in one transaction; True for each row that was new."""
    new: list[bool] = []
    with store.engine.begin() as conn:
        now = utcnow()
        for row in rows:  # the first statement writes: SQLite takes its write lock before any read
            values = message_row(row.meta, row.report, row.error, now)
            stmt = (
                _insert(conn, messages)
                .values(values)
                .on_conflict_do_nothing(index_elements=[messages.c.message_key])
                .returning(messages.c.id)
            )
            pk = conn.execute(stmt).scalar()
            new.append(pk is not None)
            if pk is None:
                pk = conn.execute(
                    sa.select(messages.c.id).where(messages.c.message_key == row.meta.message_key)
                ).scalar_one()
            elif row.report is not None and row.report.findings:
                conn.execute(findings.insert(), [_finding_row(pk, f) for f in row.report.findings])
            _add_location(conn, int(pk), row.location)
        if done is not None:
            conn.execute(
                _insert(conn, archive_chunks)
                .values(done.to_row())
                .on_conflict_do_nothing(index_elements=[archive_chunks.c.run_key, archive_chunks.c.chunk_id])
            )
    return new


def _add_location(conn: Connection, pk: int, location: Location) -> None:
    account = _fit(locations.c.account, location.account)
    folder = _fit(locations.c.folder, location.folder)
    values = {
        "message_pk": pk,
        "account": account,
        "folder": folder,
        "uid": location.uid,
        "source": location.source,
    }
    if location.uid is not None:
        conn.execute(
            _insert(conn, locations)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=[
                    locations.c.message_pk,
                    locations.c.account,
                    locations.c.folder,
                    locations.c.uid,
                ]
            )
        )
        return
    seen = sa.select(locations.c.id).where(
        locations.c.message_pk == pk,
        locations.c.account == account,
        locations.c.folder == folder,
        locations.c.uid.is_(None),
    )
    if conn.execute(seen).first() is None:
        conn.execute(locations.insert().values(values))


def chunk_done(store: Store, run_key: str, chunk_id: str) -> ChunkDone | None:
    with store.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(archive_chunks).where(
                    archive_chunks.c.run_key == run_key, archive_chunks.c.chunk_id == chunk_id
                )
            )
            .mappings()
            .first()
        )
    return None if row is None else _done(row)


def _done(row: Any) -> ChunkDone:
    return ChunkDone(
        run_key=row["run_key"],
        chunk_id=row["chunk_id"],
        label=row["label"],
        messages=row["messages"],
        checked=row["checked"],
        seen=row["seen"],
        flagged=row["flagged"],
        errors=row["errors"],
        problems=json.loads(row["problems"]),
        resumed=True,
    )


def done_chunks(store: Store, run_key: str) -> dict[str, ChunkDone]:
    """Every chunk of run ``run_key`` checkpointed so far, by chunk id."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(archive_chunks).where(archive_chunks.c.run_key == run_key)).mappings()
        return {str(r["chunk_id"]): _done(r) for r in rows}


def archive_findings(
    store: Store, prefixes: list[str], since: dt.datetime | None, until: dt.datetime | None
) -> list[dict[str, Any]]:
    """The findings of messages seen under any of ``prefixes`` (archive paths; the location's
    ``source``), dated in [since, until) when given, with ``folders``: where each was seen."""
    here = sa.or_(*(locations.c.source.startswith(p, autoescape=True) for p in prefixes))
    in_archive = sa.select(locations.c.message_pk).where(here).scalar_subquery()
    when = sa.func.coalesce(messages.c.date, messages.c.checked_at)
    query = findings_with_message().where(messages.c.id.in_(in_archive)).order_by(when, findings.c.id)
    if since is not None:
        query = query.where(when >= since)
    if until is not None:
        query = query.where(when < until)
    with store.engine.connect() as conn:
        out = []
        for r in conn.execute(query).mappings():
            item = dict(r)
            item["citations"] = json.loads(item["citations"])
            item["evidence"] = json.loads(item["evidence"])
            item["recipient_classes"] = json.loads(item["recipient_classes"])
            out.append(item)
        pks = sorted({f["message_pk"] for f in out})
        folders: dict[int, list[str]] = {}
        for i in range(0, len(pks), 500):
            where = sa.select(locations.c.message_pk, locations.c.account, locations.c.folder).where(
                locations.c.message_pk.in_(pks[i : i + 500]), here
            )
            for pk, account, folder in conn.execute(where):
                name = f"{account}/{folder}" if account else folder
                if name not in folders.setdefault(pk, []):
                    folders[pk].append(name)
    for item in out:
        item["folders"] = folders.get(item["message_pk"], [])
    return out
