"""RFC 822 messages: the stdlib for headers and MIME parts (mail-parser as a fallback), never a crash.

The stdlib's compat32 walk is the fastest tolerant reader and gives the same part names on
every run; mail-parser (which names nameless parts at random and drops parts it does not
manage) is only used if that walk fails.
"""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import mimetypes
import re
from email.header import decode_header, make_header
from email.message import Message as StdMessage
from email.utils import getaddresses, parsedate_to_datetime, quote

import mailparser

from correspondence_guard.errors import MessageError
from correspondence_guard.intake.attachments import extract
from correspondence_guard.intake.body import split_body
from correspondence_guard.intake.html import html_to_text
from correspondence_guard.message import Attachment, Message, parse_addresses

log = logging.getLogger(__name__)
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_REPLY = ("re:", "aw:", "sv:", "antw:")
_MESSAGE_HEADERS = {"from", "to", "cc", "bcc", "subject", "date", "message-id", "sender", "received"}
_FORWARD = ("fw:", "fwd:", "wg:", "tr:")


# A header longer than this is judged on its beginning (a 5 MB Subject took minutes).
MAX_HEADER_CHARS = 16_000
# A MIME part's headers (Content-Type and the like) are shorter still: 1,000 ';' cost 0.5 ms
MAX_PART_HEADER_CHARS = 2_000


def _cut_long_headers(raw: bytes) -> bytes:
    """Cut each header to MAX_HEADER_CHARS before the stdlib parses it (its header parser is
    slow beyond linear on megabytes); the body is left as it is."""
    end = raw.find(b"\n\n")
    end = len(raw) if end < 0 else end
    crlf = raw.find(b"\r\n\r\n")
    if 0 <= crlf < end:
        end = crlf
    head = raw[:end]
    if len(head) <= MAX_HEADER_CHARS:
        return raw
    out: list[bytes] = []
    size = 0
    for line in head.split(b"\n"):
        folded = line[:1] in (b" ", b"\t")
        size = size + len(line) if folded else len(line)
        if folded and size > MAX_HEADER_CHARS:
            continue  # the rest of an overlong folded header
        out.append(line[:MAX_HEADER_CHARS].rstrip(b"\r") + (b"\r" if line.endswith(b"\r") else b""))
    return b"\n".join(out) + raw[end:]


def _raw_values(msg: StdMessage, name: str) -> list[str]:
    """The header's values as written; raw 8-bit bytes (which the parser keeps as surrogates)
    read as UTF-8, or Windows-1252 when they are not UTF-8."""
    name = name.lower()
    out = []
    for key, value in msg.raw_items():
        if key.lower() != name:
            continue
        value = str(value)[:MAX_HEADER_CHARS]
        if not value.isascii():
            raw = value.encode("ascii", "surrogateescape")
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = raw.decode("cp1252", "replace")
        out.append(value)
    return out


def _decoded(value: str) -> str:
    """RFC 2047 encoded words decoded; a value that will not decode (``=?x-bogus?q?...?=``) is
    taken as written, so one broken header never stops the message from being checked."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # noqa: BLE001 - a charset or encoding the stdlib cannot decode
        pass
    if value.isascii():
        return value
    # raw 8-bit text and encoded words in one header: decode the words one by one
    return _ENCODED_WORD.sub(lambda m: _decoded(m.group()), value)


def _header(msg: StdMessage, name: str) -> str:
    """The first value of a header, decoded, its folding undone."""
    values = _raw_values(msg, name)
    return " ".join(_decoded(values[0]).split()) if values else ""


def _addresses_header(msg: StdMessage, name: str) -> str:
    """An address header in a form ``parse_addresses`` reads: split into addresses before the
    display names are decoded (a decoded name may hold a comma), each name then quoted."""
    out = []
    for display, addr in getaddresses(_raw_values(msg, name)):
        decoded = " ".join(_decoded(display).split())
        out.append(f'"{quote(decoded)}" <{addr}>' if decoded else addr)
    return ", ".join(out)


def _cap_part_headers(part: StdMessage) -> None:
    """Cut a MIME part's overlong headers (the top-level ones are cut before parsing): the
    stdlib's parameter parser is quadratic in the number of ``;`` in a Content-Type."""
    for key, value in part.items():
        if isinstance(value, str) and len(value) > MAX_PART_HEADER_CHARS:
            part.replace_header(key, value[:MAX_PART_HEADER_CHARS])


def _decode_text(payload: bytes, charset: str | None, problems: list[str]) -> str:
    """Text in its declared charset; an unknown or wrong charset decodes with replacement."""
    for enc in (charset, "utf-8"):
        if not enc:
            continue
        try:
            return payload.decode(enc)
        except (LookupError, UnicodeDecodeError, ValueError):
            problems.append(f"text not in charset {enc!r}")
            continue
    return payload.decode("cp1252", errors="replace")


def _filename(part: StdMessage) -> str:
    try:
        name = part.get_filename()
    except Exception:  # a malformed RFC 2231 parameter
        return ""
    if not name:
        return ""
    try:
        return str(make_header(decode_header(name))).strip()
    except Exception:
        return str(name).strip()


def _parts_stdlib(
    msg: StdMessage, problems: list[str]
) -> tuple[list[str], list[str], list[tuple[str, str, bytes]]]:
    """Walk the MIME tree with the stdlib's tolerant compat32 parser.

    Parts with a name or an attachment disposition are attachments; text/plain and text/html
    are the body; any other unnamed leaf (a PDF with no filename, say) is an attachment named
    after its position, so evidence such as "attachment:part-3.pdf" is the same on every run.
    A multipart part that was never split (no boundary) is read as text.
    """
    plain: list[str] = []
    html: list[str] = []
    files: list[tuple[str, str, bytes]] = []
    for n, part in enumerate(msg.walk(), 1):
        _cap_part_headers(part)
        if part.is_multipart():
            problems.extend(type(d).__name__ for d in part.defects)
            continue
        ctype = part.get_content_type()
        filename = _filename(part)
        raw_payload = part.get_payload(decode=True)
        payload = raw_payload if isinstance(raw_payload, bytes) else b""
        problems.extend(type(d).__name__ for d in part.defects)  # decoding adds its own defects
        disposition = (part.get("content-disposition") or "").split(";")[0].strip().lower()
        if not filename and not payload.strip():
            continue  # an empty unnamed part carries nothing
        if filename or disposition == "attachment":
            ext = mimetypes.guess_extension(ctype) or ".bin"
            files.append((filename or f"part-{n}{ext}", ctype, payload))
        elif ctype == "text/html":
            html.append(_decode_text(payload, part.get_content_charset(), problems))
        elif ctype.startswith(("text/", "multipart/")) or part.get_content_maintype() == "message":
            plain.append(_decode_text(payload, part.get_content_charset(), problems))
        else:
            files.append((f"part-{n}{mimetypes.guess_extension(ctype) or '.bin'}", ctype, payload))
    return plain, html, files


def _parts_mailparser(raw: bytes) -> tuple[list[str], list[str], list[tuple[str, str, bytes]]]:
    """mail-parser, the fallback when the stdlib walk fails on a message."""
    parsed = mailparser.parse_from_bytes(raw)
    files: list[tuple[str, str, bytes]] = []
    for n, att in enumerate(parsed.attachments, 1):
        payload = att.get("payload") or ""
        if att.get("binary"):
            data = base64.b64decode(payload, validate=False)
        else:
            data = payload.encode("utf-8", errors="replace")
        files.append((f"attachment-{n}", att.get("mail_content_type") or "", data))
    return list(parsed.text_plain), list(parsed.text_html), files


def subject_flags(subject: str) -> tuple[bool, bool]:
    """(is reply, is forward) from a subject prefix, in the languages mail clients use."""
    s = subject.lower().lstrip()
    return s.startswith(_REPLY), s.startswith(_FORWARD)


def parse_eml(raw: bytes, max_attachment_bytes: int | None = None) -> Message:
    """Parse RFC 822 bytes into a Message. Broken MIME and bad charsets decode with replacement.

    Raises MessageError only when the bytes are not a message at all (no headers, no body).
    """
    if not raw or not raw.strip():
        raise MessageError("empty message")
    raw = _cut_long_headers(raw)
    # one parse: compat32 keeps header values as written (decoded only as needed, below) and
    # is the tolerant reader for the MIME walk
    std = email.message_from_bytes(raw, policy=email.policy.compat32)
    if not std.keys() and not std.get_payload():
        raise MessageError("not an e-mail message: no headers found")
    present = {key.lower() for key in std.keys()}
    if not present & _MESSAGE_HEADERS:
        # random bytes, an image or a document renamed .eml: saying "clear" would be a silent pass
        raise MessageError("not an e-mail message: no From, To, Subject, Date or Message-ID header")
    problems: list[str] = []
    try:
        plain, html, files = _parts_stdlib(std, problems)
    except Exception as exc:  # never expected; mail-parser copes with other shapes of breakage
        log.debug("stdlib MIME walk failed (%s); using mail-parser", type(exc).__name__)
        problems.append(f"stdlib: {type(exc).__name__}")
        try:
            plain, html, files = _parts_mailparser(raw)
        except Exception as exc2:
            problems.append(f"mail-parser: {type(exc2).__name__}")
            plain, html, files = [raw.decode("utf-8", errors="replace")], [], []

    text = "\n".join(plain) if any(p.strip() for p in plain) else html_to_text("\n".join(html))
    subject = _header(std, "subject")
    is_reply, is_forward = subject_flags(subject)
    date = None
    if date_header := _header(std, "date"):
        try:
            date = parsedate_to_datetime(date_header)
        except (TypeError, ValueError, IndexError):
            problems.append("bad Date header")
    in_reply_to = _header(std, "in-reply-to")
    senders = parse_addresses(_addresses_header(std, "from"))
    kwargs = {} if max_attachment_bytes is None else {"max_bytes": max_attachment_bytes}
    attachments: tuple[Attachment, ...] = tuple(extract(n, t, d, **kwargs) for n, t, d in files)
    return Message(
        sender=senders[0] if senders else None,
        to=parse_addresses(_addresses_header(std, "to")),
        cc=parse_addresses(_addresses_header(std, "cc")),
        bcc=parse_addresses(_addresses_header(std, "bcc")),
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
