"""Read a mailbox: a folder of .eml files, a Maildir (cur/ and new/, with its subfolders), an mbox file.

``read_mailbox(path)`` yields ``(source, Message)`` for each message, where ``source`` says where
it came from (``folder/a.eml``, ``inbox.mbox#3``, ``Maildir/cur/1700000000.M1P2.host:2,S``). A
message that cannot be read is reported to ``on_error`` and skipped: one bad message never
stops the run. Folders may mix .eml files, .mbox files and Maildirs; they are read in name order.
"""

from __future__ import annotations

import logging
import mailbox
from collections.abc import Callable, Iterator
from pathlib import Path

from correspondence_guard.errors import CorrespondenceGuardError, MessageError
from correspondence_guard.intake import parse_eml
from correspondence_guard.intake.files import MAX_MESSAGE_BYTES
from correspondence_guard.message import Message

log = logging.getLogger(__name__)
OnError = Callable[[str, str], None]


def _log_error(source: str, problem: str) -> None:
    log.warning("%s: %s (skipped)", source, problem)


def is_maildir(path: Path) -> bool:
    return path.is_dir() and ((path / "cur").is_dir() or (path / "new").is_dir())


def is_mbox(path: Path) -> bool:
    """A file that starts with an mbox ``From `` separator line."""
    try:
        with path.open("rb") as f:
            return f.read(5) == b"From "
    except OSError:
        return False


def read_mailbox(
    path: str | Path, on_error: OnError | None = None, max_attachment_bytes: int | None = None
) -> Iterator[tuple[str, Message]]:
    """Yield ``(source, Message)`` for every message under ``path``.

    Args:
        path: an .eml file, an mbox file, a Maildir, or a folder holding any of these.
        on_error: called with ``(source, problem)`` for each message that cannot be read
            (default: a logged warning). The message is skipped.
        max_attachment_bytes: passed to ``parse_eml``; 0 lists attachments without opening them.

    Raises CorrespondenceGuardError only when ``path`` itself does not exist.
    """
    path = Path(path)
    report = on_error or _log_error
    if not path.exists():
        raise CorrespondenceGuardError(f"{path}: no such file or folder")
    yield from _read(path, report, max_attachment_bytes)


def _read(path: Path, report: OnError, max_bytes: int | None) -> Iterator[tuple[str, Message]]:
    if is_maildir(path):
        yield from _maildir(path, report, max_bytes)
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_dir() or child.suffix.lower() in (".eml", ".mbox") or is_mbox(child):
                yield from _read(child, report, max_bytes)
    elif is_mbox(path):
        yield from _mbox(path, report, max_bytes)
    else:
        try:
            raw = _read_file(path)
        except MessageError as exc:
            report(str(path), str(exc))
            return
        yield from _parse(str(path), raw, report, max_bytes)


def _read_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_MESSAGE_BYTES:
            raise MessageError(f"over {MAX_MESSAGE_BYTES // (1024 * 1024)} MB, not read")
        return path.read_bytes()
    except OSError as exc:
        raise MessageError(f"cannot read: {exc.strerror or exc}") from None


def _parse(source: str, raw: bytes, report: OnError, max_bytes: int | None) -> Iterator[tuple[str, Message]]:
    try:
        if len(raw) > MAX_MESSAGE_BYTES:
            raise MessageError(f"over {MAX_MESSAGE_BYTES // (1024 * 1024)} MB, not read")
        message = parse_eml(raw, max_bytes)
        if message.sender is None and message.date is None and not message.message_id:
            raise MessageError("not an e-mail message: no From, Date or Message-ID header")
    except Exception as exc:  # one bad message never stops the run
        report(
            source, str(exc) if isinstance(exc, MessageError) else f"unexpected {type(exc).__name__}: {exc}"
        )
        return
    yield source, message


def _mbox(path: Path, report: OnError, max_bytes: int | None) -> Iterator[tuple[str, Message]]:
    try:
        box = mailbox.mbox(path, create=False)
        keys = list(box.iterkeys())
    except (OSError, mailbox.Error) as exc:
        report(str(path), f"cannot read mbox: {exc}")
        return
    try:
        for n, key in enumerate(keys, start=1):
            source = f"{path}#{n}"
            try:
                raw = box.get_bytes(key)
            except (OSError, mailbox.Error, KeyError) as exc:
                report(source, f"cannot read: {exc}")
                continue
            yield from _parse(source, raw, report, max_bytes)
    finally:
        box.close()


def _maildir(path: Path, report: OnError, max_bytes: int | None) -> Iterator[tuple[str, Message]]:
    box = mailbox.Maildir(path, factory=None, create=False)
    try:
        keys = sorted(box.iterkeys())
    except OSError as exc:
        report(str(path), f"cannot read Maildir: {exc}")
        return
    for key in keys:
        # Maildir's private _lookup gives the file's path under cur/ or new/: the most useful source
        lookup = getattr(box, "_lookup", None)
        try:
            source = str(path / lookup(key)) if callable(lookup) else f"{path}#{key}"
            raw = box.get_bytes(key)
        except (OSError, KeyError, mailbox.Error) as exc:
            report(f"{path}#{key}", f"cannot read: {exc}")
            continue
        yield from _parse(source, raw, report, max_bytes)
    try:
        folders = sorted(box.list_folders())  # Maildir++ subfolders: .Sent, .Archive ...
    except OSError:
        folders = []
    for name in folders:
        yield from _maildir(path / f".{name}", report, max_bytes)
