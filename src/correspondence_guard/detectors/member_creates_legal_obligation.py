"""member-creates-legal-obligation: a member commits the council in their own name.

A member writing from a council address promises payment, compensation or a refund, accepts
a quote or offer, lets a contractor proceed, grants permission or waives a charge, gives
formal notice, or announces as made a decision only the council, a committee or an officer
can make — in whatever words ("the hall's yours, and there'll be nothing to pay").
Not flagged: advocacy and intent to ask ("I'll ask officers whether the council can..."),
support for an application, a decision already taken relayed as such, a personal view marked
as one, and any officer sending an official decision (the gate: only members are judged).
Judged by the learned language model on each of the member's own sentences (subject and new
text); ``threshold`` trades precision against recall. Spec: rules.md section 3.
"""

from __future__ import annotations

from collections.abc import Iterator

from correspondence_guard.detectors import language
from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.findings import Hit
from correspondence_guard.message import Message

ID = "member-creates-legal-obligation"


class Params(language.Params):
    pass


def gate(message: Message, ctx: Context) -> bool:
    """A member writing from a council address (officers send decisions under delegation)."""
    return ctx.sender_member(message) is not None


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    if gate(message, ctx) and (found := language.evidence(message, ctx, ID, params)):
        yield Hit(reason="a member commits the council in their own name", evidence=found)


RULE = Rule(id=ID, params=Params, detect=detect, gate=gate)
