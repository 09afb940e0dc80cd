"""member-contacts-junior-officer: a member takes an enquiry straight to a junior officer.

Flags a member (from a council or personal address) whose message has an officer of a junior
grade in To and asks something of them (a question or a request), with no service manager or
more senior officer in To or Cc. A member chasing their own earlier message is still flagged.
Not flagged: the junior officer only in Cc; a reply in a thread the council side started (the
earliest quoted message is from an officer or service mailbox, e.g. the junior officer wrote
first) or that the member began with a manager; messages to officers of grade officer or above,
or copied to a manager; thanks or news that ask nothing. Spec: rules.md section 5.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors.base import Context, Rule, own_segments
from correspondence_guard.detectors.lexicon import terms_pattern
from correspondence_guard.directory import GRADE_RANK, Grade, Member, Officer
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.message import Address, Message, QuotedHeader


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    junior_grades: list[Grade] = Field(["junior"], description="directory grades that count as junior")
    senior_grade: Grade = Field(
        "manager", description="an officer of this grade or above addressed clears it"
    )
    request_cues: list[str] = Field(
        default_factory=list,
        description="words that make the member's text an enquiry or request ('?' counts too)",
    )


def _officer_of(ctx: Context, address: Address | None) -> Officer | None:
    if address is None:
        return None
    if address.email:
        return ctx.directory.officer(address.email)
    person = ctx.directory.person_named(address.name) if address.name else None
    return person if isinstance(person, Officer) else None


def _council_side(ctx: Context, address: Address | None) -> bool:
    """An officer, or a council mailbox that is not a member's (a team, a service address)."""
    if address is None or _officer_of(ctx, address) is not None:
        return address is not None
    return (
        bool(address.email)
        and ctx.classify(address.email).is_council
        and not ctx.directory.member(address.email)
    )


def _member(message: Message, ctx: Context) -> Member | None:
    """The sender if a member: by address, or by name when writing from a private mailbox."""
    sender = message.sender
    if sender is None:
        return None
    if member := ctx.directory.member(sender.email):
        return member
    person = ctx.directory.person_named(sender.name) if sender.name and ctx.is_private(sender.email) else None
    return person if isinstance(person, Member) else None


def _earliest(headers: tuple[QuotedHeader, ...]) -> QuotedHeader | None:
    """The earliest quoted message: quoted blocks run from newest (top) to oldest (bottom)."""
    dated = [h for h in headers if h.sender is not None]
    return dated[-1] if dated else None


def _request(message: Message, cues: list[str]) -> tuple[str, str]:
    """The first sentence of the member's own words that asks for something, and where it is."""
    pattern = terms_pattern(cues)
    for where, text in own_segments(message):
        for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
            sentence = sentence.strip()
            if sentence.endswith("?") or pattern.search(sentence):
                return where, sentence
    return "", ""


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    if _member(message, ctx) is None:
        return
    juniors = [
        o for a in message.to if (o := ctx.directory.officer(a.email)) and o.grade in params.junior_grades
    ]
    if not juniors:
        return
    senior = GRADE_RANK[params.senior_grade]
    addressed = (*message.to, *message.cc)
    if any((o := ctx.directory.officer(a.email)) and GRADE_RANK[o.grade] >= senior for a in addressed):
        return  # the enquiry goes to (or is copied to) a manager as well
    if message.is_reply and not message.is_forward:
        first = _earliest(message.body.quoted_headers)
        if first is not None and _council_side(ctx, first.sender):
            return  # an officer or council service started this thread; the member is answering it
        if first is not None and any(
            (o := _officer_of(ctx, a)) and GRADE_RANK[o.grade] >= senior for a in (*first.to, *first.cc)
        ):
            return  # the member's first message went to a manager, who passed it down
    where, asked = _request(message, params.request_cues)
    if not asked:
        return
    who = "; ".join(
        f"{o.title or 'an officer'} (grade {o.grade})" for o in juniors
    )  # no names: reasons are stored
    yield Hit(
        reason=f"a member's enquiry goes directly to a junior officer: {who}",
        evidence=(
            Evidence("recipients", ", ".join(o.email for o in juniors)),
            Evidence(where, asked[:160]),
        ),
    )


RULE = Rule(id="member-contacts-junior-officer", params=Params, detect=detect)
