"""Check one raw RFC 822 message and record it in the findings store, once.

Independent of where the bytes came from (IMAP watcher, nightly review of a Maildir or
mbox, a folder of .eml files)::

    outcome = check_and_record(store, checker, raw, Location("shared", "INBOX", 42))
    outcome.new, outcome.flagged, outcome.report

The message key is the Message-ID, or a SHA-256 of the raw bytes when it has none. A
message already in the store is not checked again: this sighting only adds a location.
A message that cannot be parsed, or is over the size limit, is recorded with an error.
Only metadata is kept (sender, sender role and department, recipient classes, masked
subject, findings with masked evidence); never the body.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import logging
import threading
import traceback
from dataclasses import dataclass
from email.message import Message as StdMessage
from email.parser import BytesHeaderParser
from pathlib import Path

import sqlalchemy as sa

from correspondence_guard.engine import Checker
from correspondence_guard.errors import MessageError
from correspondence_guard.findings import Report
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.message import Message
from correspondence_guard.store.db import Location, MessageMeta, Store
from correspondence_guard.store.db import messages as messages_table

log = logging.getLogger(__name__)
MAX_KEY = 500  # the store's message_key column holds 512 characters
_LOCK = threading.Lock()  # check-then-insert is atomic within the process (watcher threads)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one message: ``new`` is False for a message already in the store."""

    key: str
    pk: int
    new: bool
    verdict: str  # clear, advisory, warning, block or error
    report: Report | None = None  # set when the message was checked now
    message: Message | None = None  # set when the message was checked now
    error: str | None = None

    @property
    def flagged(self) -> bool:
        """True when the message has findings (now or when it was first checked)."""
        return self.verdict not in ("clear", "error")

    @property
    def key_hash(self) -> str:
        """A short hash of the message key, for logs (a Message-ID can name people)."""
        return key_hash(self.key)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:12]


def where_raised(exc: BaseException) -> str:
    """``file:line in function`` where ``exc`` was raised: for logs, without its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    f = frames[-1]
    return f"{Path(f.filename).name}:{f.lineno} in {f.name}"


def message_key(raw: bytes, message_id: str = "") -> str:
    """The Message-ID (``<...>``) when there is one, else ``sha256:<hex of the raw bytes>``."""
    mid = " ".join(message_id.split())
    if mid and len(mid) <= MAX_KEY:
        return mid
    if mid:
        return "sha256-mid:" + hashlib.sha256(mid.encode("utf-8", "replace")).hexdigest()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _headers(raw: bytes) -> StdMessage | None:
    try:
        return BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)  # headers only: fast
    except Exception:  # a parse failure here only costs us the Message-ID
        return None


def header_key(raw: bytes) -> tuple[str, str]:
    """(message key, Message-ID) from raw bytes or just the header block, without a full parse."""
    std = _headers(raw)
    mid = ""
    if std is not None:
        try:
            mid = " ".join(str(std.get("message-id") or "").split())
        except Exception:
            mid = ""
    return message_key(raw, mid), mid


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # "-0000" or no zone: taken as UTC
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def message_meta(key: str, message: Message, checker: Checker) -> MessageMeta:
    """The store's metadata for a parsed message: who sent it and what kinds of address got it."""
    sender = message.sender.email if message.sender else ""
    role = department = ""
    person = checker.directory.person(sender) if sender else None
    if person is not None:
        role = person.role
        department = getattr(person, "department", "") or ""
    classes = sorted({checker.context.classify(a.email).value for a in message.recipients})
    return MessageMeta(
        message_key=key,
        message_id=message.message_id,
        date=_utc(message.date),
        sender=sender,
        sender_role=role,
        department=department,
        recipient_classes=tuple(classes),
        subject=checker.mask(message.subject),
    )


def stored_verdict(store: Store, key: str) -> str | None:
    """The verdict recorded for a message key, or None when it is not in the store."""
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(messages_table.c.verdict).where(messages_table.c.message_key == key)
        ).first()
    return None if row is None else str(row[0])


def flagged_before(store: Store, message_id: str, key: str) -> bool:
    """True when another record with this Message-ID (an earlier draft version, or another copy
    checked separately) had findings: one advisory per Message-ID is enough."""
    if not message_id:
        return False
    m = messages_table.c
    query = sa.select(m.id).where(
        m.message_id == message_id[:998],
        m.message_key != key,
        m.verdict.in_(("advisory", "warning", "block")),
    )
    with store.engine.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None


def record_error(store: Store, raw: bytes, location: Location | None, error: str) -> Outcome:
    """Record a message that could not be checked (``raw`` may be just its header block)."""
    key, mid = header_key(raw)
    with _LOCK:
        pk, new = store.record(MessageMeta(message_key=key, message_id=mid), None, location, error)
    verdict = "error" if new else (stored_verdict(store, key) or "error")
    return Outcome(key=key, pk=pk, new=new, verdict=verdict, error=error)


def check_and_record(
    store: Store,
    checker: Checker,
    raw: bytes,
    location: Location | None = None,
    *,
    max_bytes: int | None = None,
    source: str = "",
    draft: bool = False,
) -> Outcome:
    """Check ``raw`` unless its key is already stored, and record it (or just this location).

    ``draft``: a saved draft (IMAP ``\\Draft``) keeps its Message-ID from version to version
    and into the sent copy, so each distinct version is keyed by its content instead.
    """
    if max_bytes is not None and len(raw) > max_bytes:
        return record_error(
            store, raw, location, f"message is {len(raw)} bytes, over the {max_bytes}-byte limit"
        )
    key, mid = header_key(raw)
    if draft:
        key = "draft:sha256:" + hashlib.sha256(raw).hexdigest()
    with _LOCK:
        verdict = stored_verdict(store, key)
        if verdict is not None:  # seen before (another folder, or a rescan): one more location
            pk, _ = store.record(MessageMeta(message_key=key), None, location)
            return Outcome(key=key, pk=pk, new=False, verdict=verdict)
        try:
            message = parse_eml(raw, checker.max_attachment_bytes)
            report = checker.check(message, source=source)
        except MessageError as exc:
            error = str(exc)
        except Exception as exc:  # a crash in a parser or rule never stops the caller
            log.warning("message %s: %s at %s", key_hash(key), type(exc).__name__, where_raised(exc))
            error = f"could not check the message: {type(exc).__name__}"
        else:
            pk, new = store.record(message_meta(key, message, checker), report, location)
            return Outcome(
                key=key, pk=pk, new=new, verdict=report.verdict.value, report=report, message=message
            )
        pk, new = store.record(MessageMeta(message_key=key, message_id=mid), None, location, error)
        return Outcome(key=key, pk=pk, new=new, verdict="error", error=error)
