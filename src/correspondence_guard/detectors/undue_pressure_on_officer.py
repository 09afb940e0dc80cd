"""undue-pressure-on-officer: a member puts an officer under undue pressure.

A member writing to council staff demands work outside normal hours or duties, sets an
unreasonable deadline backed by a threat, presses an officer to change a professional opinion
or recommendation, threatens their job or to escalate, or writes to bully or intimidate —
openly or veiled ("I'd hate for your name to come up when I see the Chief Executive").
Not flagged: polite requests with a reasonable timescale; urgency explained without pressure;
a firm but reasonable chaser. The gate: a member writing to council staff in To. Judged by the
learned language model on each of the member's own sentences; ``threshold`` trades precision
against recall. Spec: rules.md section 7.
"""

from __future__ import annotations

from collections.abc import Iterator

from correspondence_guard.detectors import language, tone
from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.findings import Hit
from correspondence_guard.message import Message

ID = "undue-pressure-on-officer"


class Params(language.Params):
    pass


def gate(message: Message, ctx: Context) -> bool:
    """A member writing to council staff in To."""
    return tone.sender_member(message, ctx) is not None and bool(tone.staff_recipients(message, ctx))


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    if gate(message, ctx) and (found := language.evidence(message, ctx, ID, params)):
        yield Hit(reason="pressure on an officer", evidence=found)


RULE = Rule(id=ID, params=Params, detect=detect, gate=gate)
