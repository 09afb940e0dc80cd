"""personal-data-to-private-address: personal data about someone goes to a private mailbox.

Flags a message with a private recipient (free webmail or ISP domain, or a personal address
in the directory) that carries personal data about an identifiable person other than that
recipient: a name with an address, postcode, phone, date of birth, NHS or NI number, bank
details, case reference, or casework or special-category details; or an NHS/NI number or
bank details on their own. Body, attachments, and quoted text when forwarded afresh count.
Not flagged: the same data to council or trusted addresses only; a reply to a resident about
their own case holding only their own details; a private address that gets no personal data.
Spec: rules.md section 1.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors import pii
from correspondence_guard.detectors.base import Context, Rule, carried_segments
from correspondence_guard.detectors.lexicon import Terms, terms_pattern
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.masking import mask_name
from correspondence_guard.message import Message

STRONG = {"UK_NHS", "UK_NINO", "UK_BANK"}  # identify a person on their own


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    casework_terms: list[str] = Field(default_factory=list, description="housing, benefits, care... terms")
    special_category_terms: list[str] = Field(default_factory=list, description="health, ethnicity... terms")
    min_score: float = Field(0.5, ge=0, le=1, description="Presidio score below which an entity is ignored")
    window: int = Field(
        400, ge=50, description="characters around a name in which its identifiers are looked for"
    )
    term_window: int = Field(
        100,
        ge=20,
        description="characters around a name in which a casework or special-category term counts as "
        "about that person; a term in the name's own sentence always counts",
    )


def _surname(name: str) -> str:
    words = [w.strip(".,'’()").lower() for w in name.split()]
    words = [w for w in words if w and w not in {"mr", "mrs", "ms", "miss", "dr", "cllr", "councillor"}]
    return words[-1] if words else ""


_NOT_A_NAME = {
    "council",
    "team",
    "committee",
    "service",
    "services",
    "street",
    "road",
    "lane",
    "way",
    "close",
    "house",
    "hall",
    "park",
    "centre",
    "center",
    "group",
    "office",
    "department",
    "board",
    "trust",
    "ltd",
    "limited",
    "inn",
    "arms",
    "court",
    "wharf",
    "estate",
    "school",
    "church",
    "report",
    "draft",
    "policy",
    "ward",
}
_TITLES = {"mr", "mrs", "ms", "miss", "dr", "mx", "master"}


def _looks_like_name(text: str) -> bool:
    """A person's name: a title and a surname, or two or more capitalised words; no place or body words."""
    words = [w.strip(".,'’()") for w in text.split()]
    words = [w for w in words if w]
    if not words or any(w.lower() in _NOT_A_NAME for w in words):
        return False
    if words[0].lower() in _TITLES:
        return len(words) >= 2 and words[1][:1].isupper()
    caps = [w for w in words if w[:1].isupper() and not w.isupper()]
    return len(caps) >= 2 and len(caps) == len(words)


_GREETING = re.compile(r"^\s*(?:dear|hi|hello|good (?:morning|afternoon))\s+([^,\n]{2,60})[,\n]", re.I)


def _known_names(message: Message, ctx: Context) -> set[str]:
    """Surnames that are not third parties: the sender, the recipients and council people."""
    known = {_surname(p.name) for p in (*ctx.directory.members, *ctx.directory.officers)}
    for a in (message.sender, *message.recipients):
        if a is not None:
            known.add(_surname(a.name))
            known.update(p for p in re.split(r"[._+\-\d]+", a.email.split("@")[0]) if len(p) > 2)
    # The greeting names the recipient: "Dear Mr Hollingbrook," / "Hi Sarah,"
    if m := _GREETING.match(message.body.new_text):
        known.add(_surname(m.group(1)))
    known.discard("")
    return known


def _known_places(ctx: Context) -> set[str]:
    """The council's wards and the places in them (the directory's): "Little Sedge" is not a person."""
    places = {w.name for w in ctx.directory.wards} | {p for w in ctx.directory.wards for p in w.places}
    places |= {m.ward for m in ctx.directory.members if m.ward}
    return {p.lower() for p in places}


def _is_own_case_reply(message: Message, ctx: Context, private: list[str]) -> bool:
    """A reply to residents at their own addresses: they wrote first, so their own details may go back."""
    earlier = message.earlier_participants()
    return message.is_reply and all(p in earlier for p in private)


_SEGMENT_LIMIT = 20_000  # characters of one segment analysed: enough for any case file, bounded in time
_SEPARATOR = "\n\n\u2029\n\n"  # a paragraph break no entity spans


# Cheap cues that personal data may be near: a run of digits (identifiers, dates, house numbers,
# phone numbers, postcodes) or a casework or special-category term. A name on its own is not
# personal data for this rule, so text far from any cue need not be analysed.
_DIGITS = re.compile(r"\d{1,}")


def _windows(text: str, cues: re.Pattern[str], sensitive: Terms, width: int) -> list[tuple[int, int]]:
    """Merged spans of ``width`` characters either side of every cue in ``text``."""
    spans = sorted(
        (max(0, m.start() - width), min(len(text), m.end() + width))
        for m in [*cues.finditer(text), *sensitive.finditer(text)]
    )
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _analyse(
    segments: list[tuple[str, str]], model: str, params: Params, sensitive: Terms
) -> Iterator[tuple[str, str, list[pii.Entity]]]:
    """One Presidio analysis per message, of the parts that can matter, split back per segment.

    Attachments are analysed whole (a case file names its subject once, at the top); the
    subject and body only within ``window`` characters of a cue, snapped to word edges.
    """
    pieces: list[tuple[int, int, str]] = []  # (segment index, offset in segment, text)
    texts = [(where, text[:_SEGMENT_LIMIT]) for where, text in segments]
    for n, (where, text) in enumerate(texts):
        if where.startswith("attachment:"):
            pieces.append((n, 0, text))
            continue
        for s, e in _windows(text, _DIGITS, sensitive, params.window):
            while s > 0 and not text[s - 1].isspace():
                s -= 1
            while e < len(text) and not text[e].isspace():
                e += 1
            pieces.append((n, s, text[s:e]))
    found: list[list[pii.Entity]] = [[] for _ in texts]
    if pieces:
        joined = _SEPARATOR.join(p for _, _, p in pieces)
        entities = pii.find_entities(joined, model, params.min_score)
        start = 0
        for n, offset, piece in pieces:
            end = start + len(piece)
            found[n] += [
                pii.Entity(e.kind, e.text, e.start - start + offset, e.score)
                for e in entities
                if start <= e.start < end
            ]
            start = end + len(_SEPARATOR)
    for (where, text), entities_of in zip(texts, found, strict=True):
        yield where, text, entities_of


# A sentence ends at . ! or ? before white space and a capital (or a quote), or at a blank line;
# "No. 12" and "Mr Graham Oddie" do not end one.
_SENTENCE_END = re.compile(r"[.!?][\"'’”)]?\s+(?=[A-Z\"“‘(])|\n[ \t]*\n")


def _sentence_index(text: str) -> Callable[[int], int]:
    """A function giving the number of the sentence in ``text`` that holds a position: a
    casework or health term in the same sentence as a name is about that person, however
    long the sentence ("Mr Oddie ... is known to us: he ... has been in hospital with ...")."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return lambda position: bisect.bisect_right(ends, position)


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    private_recipients = [a for a in message.recipients if ctx.is_private(a.email)]
    if not private_recipients:
        return  # internal mail pays nothing for the analyser
    own_case = _is_own_case_reply(message, ctx, [a.email for a in private_recipients])
    known = _known_names(message, ctx)
    places = _known_places(ctx)
    sensitive = terms_pattern((*params.casework_terms, *params.special_category_terms))
    model = ctx.settings.nlp_model
    to_whom = ", ".join(a.email for a in private_recipients)

    segments = carried_segments(message, ctx, private_recipients)
    for where, text, entities in _analyse(segments, model, params, sensitive):
        people = [
            e
            for e in entities
            if e.kind == "PERSON"
            and _looks_like_name(e.text)
            and _surname(e.text) not in known
            and e.text.strip(" .,'’()").lower() not in places
        ]
        details = [e for e in entities if e.kind in pii.IDENTIFIERS]
        terms = [(m.start(), m.group(0)) for m in sensitive.finditer(text)]
        whole_document = where.startswith("attachment:")
        sentence_of = _sentence_index(text)
        for person in people:
            near = [d for d in details if whole_document or abs(d.start - person.start) <= params.window]
            own = sentence_of(person.start)
            near_terms = [
                t
                for s, t in terms
                if whole_document or abs(s - person.start) <= params.term_window or sentence_of(s) == own
            ]
            if near or near_terms:
                # every kind of identifier and every sensitive term found, once each (masked when
                # shown), so information governance can see what was sent
                kinds = {d.kind: d.text for d in reversed(near)}
                what = [f"{pii.IDENTIFIERS[k]} {t}" for k, t in kinds.items()]
                what += list(dict.fromkeys(t.lower() for t in near_terms))
                name = mask_name(person.text)
                yield Hit(
                    reason=f"personal data about {name} sent to a private address ({to_whom})",
                    evidence=(
                        *(Evidence(where, f"{name}: {w}") for w in what),
                        Evidence("recipients", to_whom),
                    ),
                )
                return
        strong = [d for d in details if d.kind in STRONG]
        if strong and not own_case:
            yield Hit(
                reason=f"{pii.IDENTIFIERS[strong[0].kind]} sent to a private address ({to_whom})",
                evidence=(
                    Evidence(where, f"{pii.IDENTIFIERS[strong[0].kind]} {strong[0].text}"),
                    Evidence("recipients", to_whom),
                ),
            )
            return


RULE = Rule(id="personal-data-to-private-address", params=Params, detect=detect)
