"""Read messages from files and folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from correspondence_guard.errors import MessageError
from correspondence_guard.intake.draft import parse_draft
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.intake.msg import parse_msg
from correspondence_guard.message import Message

MESSAGE_SUFFIXES = (".eml", ".msg", ".json")
MAX_MESSAGE_BYTES = 50 * 1024 * 1024


def load_message(path: Path, max_attachment_bytes: int | None = None) -> Message:
    """Read one message file, choosing the reader by its suffix (.eml, .msg, .json)."""
    try:
        size = path.stat().st_size
        if size > MAX_MESSAGE_BYTES:
            raise MessageError(f"{path}: over {MAX_MESSAGE_BYTES // (1024 * 1024)} MB, not read")
        data = path.read_bytes()
    except OSError as exc:
        raise MessageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".msg":
            return parse_msg(data, max_attachment_bytes)
        if suffix == ".json":
            return parse_draft(data, max_attachment_bytes)
        return parse_eml(data, max_attachment_bytes)
    except MessageError as exc:
        raise MessageError(f"{path}: {exc}") from None


def iter_message_files(paths: list[Path]) -> Iterator[Path]:
    """Yield message files: each file as given, folders searched recursively in name order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MESSAGE_SUFFIXES
            )
        else:
            yield path
