"""Where the nightly review reads mail: IMAP folders, Maildirs, mbox files and folders of .eml files.

``open_source(source, config, since, until)`` is a context manager giving the messages of one
source dated in ``[since, until)`` as ``Entry`` objects, oldest first; ``entry.read()`` returns
the raw bytes (read when needed, so a large mailbox is never held in memory). A message's date
is its Date header, else when it arrived (IMAP INTERNALDATE, the file's modification time).

IMAP folders are opened read-only (EXAMINE) with the watcher's connection helper; the range
is found with SEARCH by Date header or arrival (SENTSINCE/SENTBEFORE or SINCE/BEFORE, a day wider each side, then narrowed by the Date header)
and bodies are fetched with BODY.PEEK[], so ``\\Seen`` is never set.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import email.utils
import mailbox
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from correspondence_guard.config import Config, ConfigError, ReviewSource
from correspondence_guard.mailbox.folders import is_maildir, is_mbox
from correspondence_guard.store.db import Location

HEAD_BYTES = 64 * 1024  # enough of a file to read its header block


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a source: where it is, its date, and how to read it."""

    label: str  # for people: a path, ``inbox.mbox#3`` or ``imap:shared/INBOX/42``
    date: dt.datetime | None  # UTC
    location: Location
    read: Callable[[], bytes]
    too_big: int = 0  # IMAP: the size when over the limit (``read`` then gives only the header)


def parse_source(text: str) -> ReviewSource:
    """``imap:ACCOUNT[/FOLDER]``, ``graph:ACCOUNT[/FOLDER]``, ``maildir:PATH``, ``mbox:PATH``, ``folder:PATH`` or a bare path."""
    kind, sep, rest = text.partition(":")
    if sep and kind == "imap":
        account, _, folder = rest.partition("/")
        if not account:
            raise ConfigError(f"--source {text}: give imap:ACCOUNT or imap:ACCOUNT/FOLDER")
        return ReviewSource(kind="imap", account=account, folder=folder or "INBOX")
    if sep and kind == "graph":
        account, _, folder = rest.partition("/")
        if not account:
            raise ConfigError(f"--source {text}: give graph:ACCOUNT or graph:ACCOUNT/FOLDER")
        return ReviewSource(kind="graph", account=account, folder=folder or "Inbox")
    if sep and kind in ("maildir", "mbox", "folder"):
        return ReviewSource(kind=kind, path=Path(rest))
    path = Path(text)
    if not path.exists():
        raise ConfigError(f"--source {text}: no such file or folder")
    kind = "maildir" if is_maildir(path) else "mbox" if path.is_file() and is_mbox(path) else "folder"
    return ReviewSource(kind=kind, path=path)


def describe(source: ReviewSource) -> str:
    if source.kind == "imap":
        return f"imap:{source.account}/{source.folder or 'INBOX'}"
    if source.kind == "graph":
        return f"graph:{source.account}/{source.folder or 'Inbox'}"
    return f"{source.kind}:{source.path}"


def header_date(raw: bytes) -> dt.datetime | None:
    """The Date header of raw bytes (or just their header block) in UTC, or None."""
    try:
        headers = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)
        value = headers.get("date")
        when = email.utils.parsedate_to_datetime(str(value)) if value else None
    except Exception:  # a malformed header is as good as none
        return None
    if when is None:
        return None
    return utc(when)


def _mtime(path: Path) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except OSError:
        return None


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(HEAD_BYTES)
    except OSError:
        return b""


@contextmanager
def open_source(
    source: ReviewSource, config: Config, since: dt.datetime, until: dt.datetime
) -> Iterator[list[Entry]]:
    """The entries of ``source`` dated in [since, until), oldest first."""
    if source.kind == "imap":
        with _imap(source, config, since, until) as entries:
            yield entries
        return
    if source.kind == "graph":
        from correspondence_guard.mailbox.graph import review_entries

        with review_entries(source, config, since, until) as entries:
            yield entries
        return
    if source.path is None:
        raise ConfigError(f"review.sources: a {source.kind} source needs a path")
    if not source.path.exists():
        raise ConfigError(f"{describe(source)}: no such file or folder")
    boxes: list[mailbox.Mailbox[Any]] = []
    try:
        found = list(_files(source.path, source.kind, boxes))
        yield _in_range(found, since, until)
    finally:
        for box in boxes:
            box.close()


def _in_range(entries: list[Entry], since: dt.datetime, until: dt.datetime) -> list[Entry]:
    inside = [e for e in entries if e.date is not None and since <= e.date < until]
    return sorted(inside, key=lambda e: e.date or until)


def _files(path: Path, kind: str, boxes: list[mailbox.Mailbox[Any]]) -> Iterator[Entry]:
    """Every message under ``path`` (a folder may mix .eml files, mbox files and Maildirs)."""
    if kind == "maildir" or is_maildir(path):
        yield from _maildir(path, boxes)
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_dir() or child.suffix.lower() in (".eml", ".mbox") or is_mbox(child):
                yield from _files(child, "", boxes)
    elif kind == "mbox" or is_mbox(path):
        yield from _mbox(path, boxes)
    else:
        where = Location("", str(path.parent), None, str(path))
        yield Entry(str(path), header_date(_head(path)) or _mtime(path), where, path.read_bytes)


def _mbox(path: Path, boxes: list[mailbox.Mailbox[Any]]) -> Iterator[Entry]:
    box = mailbox.mbox(path, create=False)
    boxes.append(box)
    fallback = _mtime(path)
    for n, key in enumerate(box.iterkeys(), start=1):
        label = f"{path}#{n}"
        date = header_date(box.get_bytes(key)[:HEAD_BYTES]) or fallback
        yield Entry(label, date, Location("", str(path), None, label), partial(box.get_bytes, key))


def _maildir(path: Path, boxes: list[mailbox.Mailbox[Any]]) -> Iterator[Entry]:
    box = mailbox.Maildir(path, factory=None, create=False)
    boxes.append(box)
    lookup = getattr(box, "_lookup", None)  # the file's path under cur/ or new/ (as mailbox.py does)
    for key in sorted(box.iterkeys()):
        file = path / lookup(key) if callable(lookup) else None
        label = str(file) if file else f"{path}#{key}"
        head = _head(file) if file else box.get_bytes(key)[:HEAD_BYTES]
        date = header_date(head) or (_mtime(file) if file else None)
        yield Entry(label, date, Location("", str(path), None, label), partial(box.get_bytes, key))
    for name in sorted(box.list_folders()):  # Maildir++ subfolders: .Sent, .Archive ...
        yield from _maildir(path / f".{name}", boxes)


class _ImapReader:
    """Bodies fetched in batches (50 messages or 20 MB, in review order) and handed out once."""

    BATCH_MESSAGES, BATCH_BYTES = 50, 20 * 1024 * 1024

    def __init__(self, client: Any, order: list[int], sizes: dict[int, int], max_bytes: int):
        self.client, self.order, self.sizes, self.max_bytes = client, order, sizes, max_bytes
        self.position = {uid: i for i, uid in enumerate(order)}
        self.cache: dict[int, bytes] = {}

    def read(self, uid: int) -> bytes:
        if uid not in self.cache:
            self.cache.clear()
            batch: list[int] = []
            total = 0
            for u in self.order[self.position[uid] :]:
                if batch and (len(batch) >= self.BATCH_MESSAGES or total >= self.BATCH_BYTES):
                    break
                batch.append(u)
                total += min(self.sizes[u], self.max_bytes)
            small = [u for u in batch if self.sizes[u] <= self.max_bytes]
            large = [u for u in batch if self.sizes[u] > self.max_bytes]  # the header only
            for uids, part in ((small, "BODY.PEEK[]"), (large, "BODY.PEEK[HEADER]")):
                for u, data in (self.client.fetch(uids, [part]) if uids else {}).items():
                    body = next((v for k, v in data.items() if k.startswith(b"BODY[")), b"")
                    self.cache[u] = bytes(body or b"")
        return self.cache.pop(uid, b"")  # expunged since the SEARCH: empty, recorded as an error


@contextmanager
def _imap(
    source: ReviewSource, config: Config, since: dt.datetime, until: dt.datetime
) -> Iterator[list[Entry]]:
    from correspondence_guard.mailbox import imap as imap_actions

    account = next((a for a in config.watch.accounts if a.name == source.account), None)
    if account is None:
        raise ConfigError(f"{describe(source)}: no watch.accounts entry named {source.account!r}")
    folder = source.folder or "INBOX"
    max_bytes = int(config.watch.max_message_mb * 1024 * 1024)
    client = imap_actions.connect(account)
    try:
        client.normalise_times = False  # INTERNALDATE with its zone
        client.select_folder(folder, readonly=True)
        day = dt.timedelta(days=1)
        first, last = (since - day).date(), (until + day).date()
        # by the Date header (mail migrated or appended late arrives long after it was sent) or by
        # arrival (a Date that is missing or wrong); the window is narrowed below by the Date
        uids = client.search(
            ["OR", ["SENTSINCE", first, "SENTBEFORE", last], ["SINCE", first, "BEFORE", last]]
        )
        wanted = ["INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (DATE)]"]
        info = client.fetch(uids, wanted) if uids else {}
        found: list[tuple[dt.datetime, int]] = []
        sizes: dict[int, int] = {}
        for uid, data in info.items():
            head = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"") or b""
            arrived = data.get(b"INTERNALDATE")
            date = header_date(bytes(head)) or (utc(arrived) if isinstance(arrived, dt.datetime) else None)
            sizes[uid] = int(data.get(b"RFC822.SIZE", 0))
            if date is not None and since <= date < until:
                found.append((date, uid))
        found.sort()
        reader = _ImapReader(client, [uid for _, uid in found], sizes, max_bytes)
        yield [
            Entry(
                f"imap:{account.name}/{folder}/{uid}",
                date,
                Location(account.name, folder, uid, source="imap"),
                partial(reader.read, uid),
                sizes[uid] if sizes[uid] > max_bytes else 0,
            )  # fmt: skip
            for date, uid in found
        ]
    finally:
        imap_actions.close(client)


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
