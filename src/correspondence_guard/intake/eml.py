"""RFC 822 messages: mail-parser for the MIME parts, the stdlib for headers, never a crash."""

from __future__ import annotations

import base64
import email
import email.policy
import logging
from email.message import Message as StdMessage
from email.utils import parsedate_to_datetime
from typing import Any

import mailparser

from correspondence_guard.errors import MessageError
from correspondence_guard.intake.attachments import extract
from correspondence_guard.intake.body import split_body
from correspondence_guard.intake.html import html_to_text
from correspondence_guard.message import Attachment, Message, parse_addresses

log = logging.getLogger(__name__)
_REPLY = ("re:", "aw:", "sv:", "antw:")
_FORWARD = ("fw:", "fwd:", "wg:", "tr:")


def _header(msg: StdMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse: fall back to the raw value
        value = msg.get_all(name, [""])[0] if hasattr(msg, "get_all") else ""
    return " ".join(str(value or "").split())


def _parts_stdlib(msg: StdMessage) -> tuple[list[str], list[str], list[tuple[str, str, bytes]]]:
    """The stdlib fallback when mail-parser fails: walk the parts ourselves."""
    plain: list[str] = []
    html: list[str] = []
    files: list[tuple[str, str, bytes]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = part.get_filename()
        raw = part.get_payload(decode=True)
        payload = raw if isinstance(raw, bytes) else b""
        if filename or part.get_content_disposition() == "attachment":
            files.append((filename or "unnamed", ctype, payload))
            continue
        text = payload.decode(part.get_content_charset() or "utf-8", errors="replace")
        if ctype == "text/plain":
            plain.append(text)
        elif ctype == "text/html":
            html.append(text)
    return plain, html, files


def _parts_mailparser(raw: bytes) -> tuple[list[str], list[str], list[tuple[str, str, bytes]], list[Any]]:
    parsed = mailparser.parse_from_bytes(raw)
    files: list[tuple[str, str, bytes]] = []
    for att in parsed.attachments:
        payload = att.get("payload") or ""
        if att.get("binary"):
            data = base64.b64decode(payload, validate=False)
        else:
            data = payload.encode("utf-8", errors="replace")
        files.append((att.get("filename") or "unnamed", att.get("mail_content_type") or "", data))
    return list(parsed.text_plain), list(parsed.text_html), files, list(parsed.defects)


def _subject_flags(subject: str) -> tuple[bool, bool]:
    s = subject.lower().lstrip()
    return s.startswith(_REPLY), s.startswith(_FORWARD)


def parse_eml(raw: bytes, max_attachment_bytes: int | None = None) -> Message:
    """Parse RFC 822 bytes into a Message. Broken MIME and bad charsets decode with replacement.

    Raises MessageError only when the bytes are not a message at all (no headers, no body).
    """
    if not raw or not raw.strip():
        raise MessageError("empty message")
    std = email.message_from_bytes(raw, policy=email.policy.default)
    if not std.keys() and not std.get_payload():
        raise MessageError("not an e-mail message: no headers found")
    problems = [type(d).__name__ for d in std.defects]
    try:
        plain, html, files, defects = _parts_mailparser(raw)
        problems += [str(d) for d in defects][:5]
    except Exception as exc:  # mail-parser has known crashes on malformed input
        log.debug("mail-parser failed (%s); using the stdlib parser", type(exc).__name__)
        problems.append(f"mail-parser: {type(exc).__name__}")
        try:
            plain, html, files = _parts_stdlib(std)
        except Exception as exc2:
            problems.append(f"stdlib: {type(exc2).__name__}")
            plain, html, files = [raw.decode("utf-8", errors="replace")], [], []

    text = "\n".join(plain) if any(p.strip() for p in plain) else html_to_text("\n".join(html))
    subject = _header(std, "subject")
    is_reply, is_forward = _subject_flags(subject)
    date = None
    try:
        date = parsedate_to_datetime(_header(std, "date")) if _header(std, "date") else None
    except (TypeError, ValueError, IndexError):
        problems.append("bad Date header")
    in_reply_to = _header(std, "in-reply-to")
    senders = parse_addresses(_header(std, "from"))
    kwargs = {} if max_attachment_bytes is None else {"max_bytes": max_attachment_bytes}
    attachments: tuple[Attachment, ...] = tuple(extract(n, t, d, **kwargs) for n, t, d in files)
    return Message(
        sender=senders[0] if senders else None,
        to=parse_addresses(_header(std, "to")),
        cc=parse_addresses(_header(std, "cc")),
        bcc=parse_addresses(_header(std, "bcc")),
        subject=subject,
        date=date,
        message_id=_header(std, "message-id"),
        in_reply_to=in_reply_to,
        references=tuple(_header(std, "references").split()),
        is_reply=is_reply or (bool(in_reply_to) and not is_forward),
        is_forward=is_forward,
        body=split_body(text, senders[0].name if senders else ""),
        attachments=attachments,
        problems=tuple(problems),
    )
