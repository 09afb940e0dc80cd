"""The protocol paragraph behind a citation label such as "CAM 10.1", "COL 5(2)(f)" or "AIDE (private email)".

The five protocol texts ship in ``policies/protocols/`` (public council documents), so this works
offline from an installed copy. Labels are ``<PROTOCOL> <reference>``, where the reference is:

- a paragraph or section number in the protocol's own style: ``10.1`` and ``7`` (CAM, DC, CAM-OLD),
  ``5(2)(f)`` (COL's numbered sections with bracketed sub-paragraphs), ``3.2(f)`` (a lettered item
  of a paragraph), ``2`` (CJC's numbered sections); ranges ``9.7-9.8`` and lists ``1 and 2`` too;
- or, for a text without paragraph numbers (the AIDE memoire), a few words in brackets naming what
  the paragraph is about: ``(private email)``; ``(instructions, consultants)`` finds one paragraph
  for each comma-separated topic.

``resolve(label)`` never raises: a label it cannot place gives ``found=False`` and a text
saying so, such as ``(paragraph not found in CAM)``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

LIMIT = 600  # characters of protocol text shown per paragraph


@dataclass(frozen=True, slots=True)
class Protocol:
    """One protocol text: the file it is in and where in that file it begins and ends."""

    key: str
    file: str
    title: str
    start: str = ""  # the protocol proper begins at this text (the DC file opens with a committee report)
    end: str = ""  # ... and ends before this text (the CAM file holds CAM, then CAM-OLD)


PROTOCOLS: dict[str, Protocol] = {
    p.key: p
    for p in (
        Protocol(
            "CAM",
            "cam.txt",
            "Cambridge City Council, updated Protocol on Member/Officer Relations (2025)",
            start="Annex A: [UPDATED]",
            end="[EXISTING] [PROTOCOL",
        ),
        Protocol(
            "CAM-OLD",
            "cam.txt",
            "Cambridge City Council, existing Protocol on Member/Officer Relations",
            start="[EXISTING] [PROTOCOL",
        ),
        Protocol("COL", "col.txt", "City of London Corporation, Protocol on Member/Officer Relations"),
        Protocol("CJC", "cjc.txt", "Corporate Joint Committee, Protocol on Member/Officer Relations"),
        Protocol(
            "DC",
            "dc.txt",
            "District council Member and Officer Relations Protocol (2014, Appendix A)",
            start="PROTOCOL ON MEMBER/OFFICER RELATIONS",
        ),
        Protocol("AIDE", "aide.txt", "Aide memoire for Members and Officers (March 2022)"),
    )
}


@dataclass(frozen=True, slots=True)
class Citation:
    """A citation label and the protocol text it points to."""

    label: str
    protocol: str  # "CAM", ...; "" when the label names no known protocol
    title: str
    text: str  # the paragraph(s), or why there are none: "(paragraph not found in CAM)"
    found: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "protocol": self.protocol,
            "title": self.title,
            "text": self.text,
            "found": self.found,
        }


_NUMBERED = re.compile(r"^\s*(?:[-•*]\s+)?(\d{1,2}(?:\.\d{1,2})*)(\.?)\s+(\S.*)$")
_ITEM = re.compile(r"^\s*(?:[-•*]\s*)?\(([0-9]{1,2}|[a-z]{1,5})\)\s*(.*)$", re.I)
_REF = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)((?:\([0-9a-z]{1,5}\))*)$", re.I)
_RANGE = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.(\d{1,2})\s*[-–—]\s*(?:\1\.)?(\d{1,2})$")
_FOOTNOTE = re.compile(r"^\s*(?:[¹²³⁴⁵⁶⁷⁸⁹⁰]|\[[^\]]*\]\(#\)\.?\s*$)")
_BULLET = re.compile(r"^\s*[-•*]\s+(?!\()")
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)*")
_STOP = {
    "the",
    "a",
    "an",
    "of",
    "and",
    "or",
    "to",
    "in",
    "on",
    "for",
    "with",
    "by",
    "at",
    "about",
    "e.g",
    "eg",
    "example",
    "reference",
    "ref",
    "see",
}


@dataclass(frozen=True, slots=True)
class _Marker:
    line: int
    number: str  # "10.1", or "7" for a numbered section heading


@dataclass(frozen=True, slots=True)
class _Text:
    lines: tuple[str, ...]
    markers: tuple[_Marker, ...]


@functools.cache
def _text(key: str) -> _Text:
    """The protocol's lines, with the numbered paragraphs and section headings found in them."""
    p = PROTOCOLS[key]
    raw = resources.files("correspondence_guard.policies").joinpath("protocols", p.file).read_text("utf-8")
    if p.start and p.start in raw:
        raw = raw[raw.index(p.start) :]
    if p.end and p.end in raw[1:]:
        raw = raw[: raw.index(p.end, 1)]
    lines = tuple(raw.splitlines())
    markers: list[_Marker] = []
    section = 0
    for i, line in enumerate(lines):
        m = _NUMBERED.match(line)
        if not m:
            continue
        number, dot = m.group(1), m.group(2)
        if "." in number:
            markers.append(_Marker(i, number))
        elif dot and int(number) > section:
            # "7. Members' Enquiries" is a heading; a stray "1. ..." inside section 7 (a footnote
            # marker, a list in a report) is not: sections only go up.
            section = int(number)
            markers.append(_Marker(i, number))
    return _Text(lines, tuple(markers))


def _block(text: _Text, marker: _Marker) -> list[str]:
    """The lines of a numbered paragraph or section: up to the next number that is not inside it."""
    end = len(text.lines)
    for other in text.markers:
        if other.line > marker.line and not other.number.startswith(marker.number + "."):
            end = other.line
            break
    return list(text.lines[marker.line : end])


def _kind(token: str) -> str:
    return "number" if token.isdigit() else "letter"


def _item(lines: list[str], token: str) -> list[str] | None:
    """The lines of item ``(token)`` within ``lines``, up to the next item of the same kind."""
    for i, line in enumerate(lines[1:], start=1):
        m = _ITEM.match(line)
        if m and m.group(1).lower() == token.lower():
            end = len(lines)
            for j in range(i + 1, len(lines)):
                n = _ITEM.match(lines[j])
                if (n and _kind(n.group(1)) == _kind(token)) or (
                    _kind(token) == "letter" and _BULLET.match(lines[j])
                ):
                    end = j  # the next item; for a lettered item also a bullet without a letter (COL 5(1))
                    break
            return lines[i:end]
    return None


def _clean(lines: list[str], limit: int) -> str:
    """Readable text: no blank lines, footnotes, markdown or trailing headings; trimmed to ``limit``."""
    kept = [ln.strip() for ln in lines if ln.strip() and not _FOOTNOTE.match(ln)]
    while len(kept) > 1 and len(kept[-1]) < 60 and not re.search(r"[.:;,)\-]$", kept[-1]):
        kept.pop()  # a heading such as "Constructive Criticism" that belongs to the next paragraph
    out = ""
    for line in kept:
        line = re.sub(r"\[([^\]]*)\]\(#\)", r"\1", line.replace("**", ""))
        line = re.sub(r"^[-•*]\s+", "- ", line) if out else re.sub(r"^[-•*]\s+", "", line)
        if not out:
            out = line
        elif line[0].islower() and not out.endswith((".", ":", ";")):
            out += " " + line  # a sentence carried over a page break
        else:
            out += "\n" + line
    return _trim(out, limit)


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _numbered(text: _Text, ref: str, limit: int) -> str | None:
    m = _REF.match(ref)
    if not m:
        return None
    number, items = m.group(1), re.findall(r"\(([0-9a-z]{1,5})\)", m.group(2), re.I)
    marker = next((mk for mk in text.markers if mk.number == number), None)
    if marker is None:
        if "." in number or items:
            return None
        # A section with no numbered heading (CAM-OLD): its numbered paragraphs together.
        parts = [
            mk for mk in text.markers if mk.number.startswith(number + ".") and mk.number.count(".") == 1
        ]
        if not parts:
            return None
        return _trim("\n".join(_clean(_block(text, mk), limit) for mk in parts), limit * 2)
    lines = _block(text, marker)
    lead = ""
    for token in items:
        found = _item(lines, token)
        if found is None:
            return None
        lead = _clean(lines[:1], limit // 3)
        lines = found
    body = _clean(lines, limit)
    return f"{lead} … {body}" if lead else body


def _topics(text: _Text, words: str, limit: int) -> str | None:
    """Paragraphs found by topic words: the best match for each comma-separated topic."""
    paragraphs: list[list[str]] = [[]]
    for line in text.lines:
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    chosen: set[int] = set()
    for topic in re.split(r"[,;]|\band\b", words):
        terms = [_stem(w) for w in _WORD.findall(topic.lower()) if w not in _STOP]
        if not terms:
            continue
        best, best_score = -1, 0.0
        for i, para in enumerate(paragraphs):
            joined = " ".join(para).lower()
            have = {_stem(w) for w in _WORD.findall(joined)}
            score = sum(t in have for t in terms) + (0.5 if topic.strip().lower() in joined else 0)
            if score > best_score:
                best, best_score = i, score
        if best < 0:
            return None
        chosen.add(best)
    if not chosen:
        return None
    return "\n".join(_clean(paragraphs[i], limit) for i in sorted(chosen))


def _stem(word: str) -> str:
    if word.endswith("ies") and len(word) > 5:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 4:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _references(ref: str) -> list[str]:
    """``9.7-9.8`` -> ``[9.7, 9.8]``; ``1 and 2`` -> ``[1, 2]``; anything else as it is."""
    out: list[str] = []
    for part in re.split(r"\s*(?:,|\band\b|&)\s*", ref):
        m = _RANGE.match(part)
        if m and int(m.group(2)) <= int(m.group(3)) <= int(m.group(2)) + 20:
            out += [f"{m.group(1)}.{n}" for n in range(int(m.group(2)), int(m.group(3)) + 1)]
        elif part:
            out.append(part.replace(" ", ""))
    return out


def resolve(label: str, limit: int = LIMIT) -> Citation:
    """The protocol text a citation label points to.

    >>> resolve("CAM 10.1").text[:40]
    '10.1 E-mail relating to the Council shal'

    Returns a Citation with ``found=False`` and a text such as ``(paragraph not found in COL)``
    when the label cannot be placed; never raises.
    """
    m = re.match(r"^\s*([A-Za-z][A-Za-z-]*)\s*(.*?)\s*$", label)
    key = m.group(1).upper() if m else ""
    ref = m.group(2) if m else ""
    protocol = PROTOCOLS.get(key)
    if protocol is None:
        known = ", ".join(sorted(PROTOCOLS))
        return Citation(label, "", "", f"(unknown protocol {key or label!r}; known: {known})", False)
    text = _text(key)
    found: str | None = None
    if ref.startswith("(") and ref.endswith(")"):
        found = _topics(text, ref[1:-1], limit)
    elif ref:
        parts = [_numbered(text, r, limit) for r in _references(ref)]
        found = "\n".join(p for p in parts if p) if parts and all(parts) else None
    if not found:
        return Citation(label, key, protocol.title, f"(paragraph not found in {key})", False)
    return Citation(label, key, protocol.title, found, True)
