"""Split a body into the sender's new text, quoted earlier messages, signature and disclaimer.

Recognises Outlook's underscore rule and ``-----Original Message-----`` blocks,
``On ... wrote:`` and ``>`` quoting (iPhone, Gmail), forwarded-message banners,
the ``-- `` signature delimiter, a sign-off ("Kind regards", "Thanks") followed by a
short name/title block, and standard legal disclaimers.
"""

from __future__ import annotations

import re

from correspondence_guard.message import Address, Body, QuotedHeader, parse_addresses

_RULE = re.compile(r"^\s*_{8,}\s*$")
_ORIGINAL = re.compile(
    r"^\s*(-{2,}\s*(original message|forwarded message|original)\s*-{2,}|begin forwarded message:?)\s*$", re.I
)
# possessive (\s*+): with plain \s*>?\s* the two runs share out a line of white space in every
# way, quadratic (a line of 3,000 spaces took 15 s)
_WROTE = re.compile(r"^\s*+>?\s*+(on\b.{4,200}\bwrote:|.{2,120}\bwrote:)\s*$", re.I)
_HEADER = re.compile(r"^\s*\*?(from|sent|date|to|cc|subject)\*?\s*:\s*(.*)$", re.I)
_SIGNOFF = re.compile(
    r"^\s*(kind(est)? regards|best regards|warm regards|regards|best wishes|many thanks|thanks( again)?|"
    r"thank you|yours (sincerely|faithfully|truly)|cheers|best|all the best|with thanks)[,.!]?\s*$",
    re.I,
)
_SENT_FROM = re.compile(r"^\s*(sent from my \w+|get outlook for \w+)", re.I)
# [^.]{0,300}, not [^.]*: each "this email and any files" scanned on to the next full stop, the
# whole text when there was none (quadratic: 256 KB of them took 28 s)
_DISCLAIMER = re.compile(
    r"(this (e-?mail|message)( and any (files|attachments)[^.]{0,300})? (is|are|may be) (strictly )?confidential"
    r"|intended (solely )?(only )?for the (use of the )?(named |intended )?(recipient|addressee)"
    r"|if you (have received|are not the intended)"
    r"|views expressed in this (e-?mail|message))",
    re.I,
)


_WROTE_MAX = 600  # an "On <date>, <name> wrote:" line is short; prose is never searched for one


def _could_be_wrote_line(text: str) -> bool:
    """Cheap test before the "On ..., X wrote:" search, whose lazy groups are quadratic or worse
    on a long line of prose with many commas."""
    return len(text) <= _WROTE_MAX and "wrote:" in text.lower()


def _header_block(lines: list[str], start: int) -> tuple[QuotedHeader, int] | None:
    """Parse a ``From:/Sent:/To:/Cc:/Subject:`` block starting at ``lines[start]``."""
    fields: dict[str, str] = {}
    i = start
    last = ""
    while i < len(lines) and i < start + 12:
        line = lines[i].lstrip("> ").rstrip()
        m = _HEADER.match(line)
        if m:
            last = m.group(1).lower()
            fields[last] = m.group(2).strip()
        elif line and last in ("to", "cc") and not fields.get("subject") and ("@" in line or ";" in line):
            fields[last] += " " + line.strip()  # a long To: line wrapped
        elif not line and fields:
            break
        elif line and not fields:
            return None
        i += 1
    if "from" not in fields or not ({"sent", "date", "to", "subject"} & fields.keys()):
        return None

    def people(value: str) -> tuple[Address, ...]:
        value = value.replace(";", ",")
        found = parse_addresses(value)
        if found:
            return found
        return tuple(Address(email="", name=n.strip()) for n in value.split(",") if n.strip())

    sender = people(fields["from"])
    header = QuotedHeader(
        sender=sender[0] if sender else None,
        to=people(fields.get("to", "")),
        cc=people(fields.get("cc", "")),
        subject=fields.get("subject", ""),
        sent=fields.get("sent", fields.get("date", "")),
    )
    return header, i


def _quote_start(lines: list[str]) -> int | None:
    """Index of the first line of quoted material, or None."""
    for i, line in enumerate(lines):
        if _RULE.match(line) or _ORIGINAL.match(line):
            return i
        if _WROTE.match(line) or (
            i + 1 < len(lines) and line.lower().startswith("on ") and _WROTE.match(line + " " + lines[i + 1])
        ):
            return i
        if _HEADER.match(line) and line.lower().lstrip("*").startswith("from") and _header_block(lines, i):
            return i
        if line.startswith(">") and all(x.startswith(">") or not x.strip() for x in lines[i : i + 3]):
            return i
    return None


def _split_disclaimer(text: str) -> tuple[str, str]:
    """Take out paragraphs that are a standard e-mail disclaimer."""
    keep: list[str] = []
    cut: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        (cut if _DISCLAIMER.search(para) and len(para) < 1500 else keep).append(para)
    return "\n\n".join(keep), "\n\n".join(cut)


def _name_forms(sender_name: str) -> set[str]:
    words = [
        w for w in sender_name.replace(",", " ").split() if w.lower().strip(".") not in ("cllr", "councillor")
    ]
    if not words:
        return set()
    return {words[0].lower(), " ".join(words).lower(), words[0][0].lower()}


def _split_signature(text: str, sender_name: str = "") -> tuple[str, str]:
    """Split off the signature: after ``-- ``, after the last sign-off line near the end, or
    after a line that is just the sender's name (the sign-off was something else)."""
    lines = text.rstrip().split("\n")
    for i, line in enumerate(lines):
        if line.rstrip() == "--" or line == "-- " or _SENT_FROM.match(line):
            return "\n".join(lines[:i]).rstrip(), "\n".join(lines[i:]).strip()
    names = _name_forms(sender_name)
    for i in range(len(lines) - 1, max(-1, len(lines) - 16), -1):
        bare = lines[i].strip().rstrip(",.!").lower()
        if _SIGNOFF.match(lines[i]) or (bare and bare in names):
            tail = [x for x in lines[i + 1 :] if x.strip()]
            if len(tail) <= 10 and all(len(x) < 120 for x in tail):
                return "\n".join(lines[: i + 1]).rstrip(), "\n".join(lines[i + 1 :]).strip()
            break
    return text.rstrip(), ""


def split_body(text: str, sender_name: str = "") -> Body:
    """Split a plain-text body (HTML already converted) into a :class:`Body`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = text.split("\n")
    start = _quote_start(lines)
    new_lines, quoted_lines = (lines, []) if start is None else (lines[:start], lines[start:])

    headers: list[QuotedHeader] = []
    for i, line in enumerate(quoted_lines):
        bare = line.lstrip("> ")
        if _HEADER.match(bare) and bare.lower().lstrip("*").startswith("from"):
            block = _header_block(quoted_lines, i)
            if block:
                headers.append(block[0])
        elif _could_be_wrote_line(bare) and (
            m := re.match(r"^\s*>?\s*on\b.*?,\s*(.+?)\s*wrote:", bare, re.I)
        ):
            found = parse_addresses(m.group(1))
            if found:
                headers.append(QuotedHeader(sender=found[0]))
    # Join an "On ... <a@x.=\ngov.uk> wrote:" that the quoting wrapped, then parse it
    joined = " ".join(x.lstrip("> ") for x in quoted_lines[:3])[:_WROTE_MAX]
    if (
        not headers
        and _could_be_wrote_line(joined)
        and (m := re.search(r"on\b.*?,\s*(.+?)\s*wrote:", joined, re.I))
    ):
        found = parse_addresses(m.group(1))
        if found:
            headers.append(QuotedHeader(sender=found[0]))

    quoted = "\n".join(re.sub(r"^(>\s?)+", "", x) for x in quoted_lines).strip()
    new_text, disclaimer = _split_disclaimer("\n".join(new_lines).strip())
    quoted, quoted_disclaimer = _split_disclaimer(quoted)
    new_text, signature = _split_signature(new_text, sender_name)
    return Body(
        new_text=new_text.strip(),
        quoted_text=quoted.strip(),
        signature=signature,
        disclaimer="\n\n".join(x for x in (disclaimer, quoted_disclaimer) if x),
        quoted_headers=tuple(headers),
    )
