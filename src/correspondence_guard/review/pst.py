"""Outlook PST and OST files, read with libpff's Python bindings (``pip install libpff-python``).

``plan_pst`` walks every folder of the file and splits each folder's messages into chunks of
positions (``[start, end)`` of the folder's sub-messages); ``pst_items`` opens the file in the
worker and gives each message of a chunk as MIME bytes: the transport headers Outlook kept (a
received message has them), else headers made from the message's properties (From, To, Cc,
Subject, Date, Message-ID), then the plain-text and HTML bodies and every attachment. A message
that cannot be converted is an unreadable message (recorded as an error), never the end of the run.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from correspondence_guard.config import ConfigError
from correspondence_guard.review.chunks import CHUNK_BYTES, Chunk, Item

_DROP = {"content-type", "content-transfer-encoding", "mime-version"}
# MAPI properties (entry types) read when a message has no transport headers
PR_DISPLAY_TO, PR_DISPLAY_CC = 0x0E04, 0x0E03
PR_SENDER_EMAIL, PR_SENDER_SMTP = 0x0C1F, 0x5D01
PR_INTERNET_MESSAGE_ID = 0x1035
PR_EMAIL_ADDRESS, PR_SMTP_ADDRESS, PR_RECIPIENT_TYPE, PR_DISPLAY_NAME = 0x3003, 0x39FE, 0x0C15, 0x3001


def require_pypff() -> Any:
    """The ``pypff`` module, or a one-line ConfigError naming the package to install."""
    try:
        import pypff
    except ImportError:
        raise ConfigError(
            "pst: reading PST/OST files needs libpff-python (pip install libpff-python, or the 'pst' extra)"
        ) from None
    return pypff


def _open(path: str | Path) -> Any:
    pypff = require_pypff()
    f = pypff.file()
    try:
        f.open(str(path))
    except OSError as exc:
        raise ConfigError(f"pst:{path}: not a PST or OST file libpff can read ({exc})") from None
    return f


def _folders(
    folder: Any, trail: tuple[int, ...], names: tuple[str, ...]
) -> Iterator[tuple[tuple[int, ...], str, Any]]:
    name = folder.name or ("" if not trail else "(no name)")
    here = (*names, name) if name else names
    yield trail, "/".join(here), folder
    for i in range(folder.number_of_sub_folders):
        yield from _folders(folder.get_sub_folder(i), (*trail, i), here)


def plan_pst(source: str, path: Path, chunk_size: int) -> list[Chunk]:
    f = _open(path)
    try:
        out: list[Chunk] = []
        for trail, name, folder in _folders(f.get_root_folder(), (), ()):
            count = folder.number_of_sub_messages
            label = f"{path.name}/{name}" if name else path.name
            for start in range(0, count, chunk_size):
                end = min(count, start + chunk_size)
                out.append(Chunk("pst", source, str(path), label, end - start, start, end, pst_folder=trail))
        return out
    finally:
        f.close()


def _folder_at(f: Any, trail: tuple[int, ...]) -> Any:
    folder = f.get_root_folder()
    for i in trail:
        folder = folder.get_sub_folder(i)
    return folder


def pst_items(chunk: Chunk) -> Iterator[Item]:
    f = _open(chunk.path)
    try:
        folder = _folder_at(f, chunk.pst_folder)
        for i in range(chunk.start, chunk.end):
            try:
                message = folder.get_sub_message(i)
                uid = int(message.identifier)
                raw = to_mime(message)
            except Exception as exc:  # this message only: recorded as unreadable
                yield Item(f"{chunk.path}#{chunk.folder}#{i}", chunk.folder, None, _raise(exc))
                continue
            yield Item(f"{chunk.path}#{uid}", chunk.folder, uid, _const(raw))
    finally:
        f.close()


def _const(raw: bytes) -> Any:
    return lambda: raw


def _raise(exc: Exception) -> Any:
    def read() -> bytes:
        raise exc

    return read


def _props(item: Any) -> dict[int, Any]:
    out: dict[int, Any] = {}
    try:
        record_sets = [item.get_record_set(i) for i in range(item.number_of_record_sets)]
    except Exception:
        return out
    for rs in record_sets:
        for entry in rs.entries:
            out.setdefault(entry.entry_type, entry)
    return out


def _text(entry: Any) -> str:
    if entry is None:
        return ""
    try:
        return str(entry.data_as_string or "").strip()
    except Exception:
        return ""


def _recipients(message: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"To": [], "Cc": [], "Bcc": []}
    rec = message.recipients
    if rec is None:
        return out
    for i in range(rec.number_of_record_sets):
        props = {e.entry_type: e for e in rec.get_record_set(i).entries}
        address = _text(props.get(PR_SMTP_ADDRESS)) or _text(props.get(PR_EMAIL_ADDRESS))
        name = _text(props.get(PR_DISPLAY_NAME))
        kind = props.get(PR_RECIPIENT_TYPE)
        try:
            field = {1: "To", 2: "Cc", 3: "Bcc"}.get(int(kind.data_as_integer) if kind else 1, "To")
        except Exception:
            field = "To"
        if address or name:
            out[field].append(email.utils.formataddr((name, address)) if address else name)
    return out


def _body(value: Any) -> str:
    if not value:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def to_mime(message: Any) -> bytes:
    """One PST message as RFC 822 bytes: headers, text and HTML bodies, attachments."""
    out = EmailMessage(policy=email.policy.SMTP)
    headers = message.transport_headers or ""
    if headers.strip():
        parsed = email.message_from_string(headers.strip() + "\n\n", policy=email.policy.compat32)
        for name, value in parsed.items():
            if name.lower() not in _DROP:
                out[name] = " ".join(str(value).split())
    else:
        props = _props(message)
        sender = _text(props.get(PR_SENDER_SMTP)) or _text(props.get(PR_SENDER_EMAIL))
        name = message.sender_name or ""
        if sender or name:
            out["From"] = email.utils.formataddr((name, sender)) if sender else name
        for field, people in _recipients(message).items():
            if people:
                out[field] = ", ".join(people)
        if message.subject:
            out["Subject"] = " ".join(message.subject.split())
        when = message.client_submit_time or message.delivery_time
        if when is not None:
            out["Date"] = email.utils.format_datetime(when if when.tzinfo else when.replace(tzinfo=dt.UTC))
        mid = _text(props.get(PR_INTERNET_MESSAGE_ID))
        if mid:
            out["Message-ID"] = mid
    text, html = _body(message.plain_text_body), _body(message.html_body)
    if text or not html:
        out.set_content(text or "")
        if html:
            out.add_alternative(html, subtype="html")
    else:
        out.set_content(html, subtype="html")
    total = 0
    for i in range(message.number_of_attachments):
        att = message.get_attachment(i)
        size = att.size or 0
        total += size
        if total > CHUNK_BYTES:  # a message bigger than a chunk: over any size limit anyway
            raise ValueError("attachments larger than 64 MB")
        data = att.read_buffer(size) if size else b""
        name = getattr(att, "long_filename", None) or f"attachment-{i + 1}"
        out.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return out.as_bytes()
