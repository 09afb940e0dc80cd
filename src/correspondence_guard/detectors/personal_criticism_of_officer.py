"""personal-criticism-of-officer: a member or an officer attacks an officer personally.

The sender's own words attack an officer's competence, character or motives, blame or ridicule
them, rather than criticise a report or an action — plainly or not ("my nephew could have
drafted a better report"); the reason says when the message goes outside the council.
Not flagged: constructive, well-founded criticism of a report or decision; a measured concern
raised privately with the officer's manager or director; a resident's rudeness (the gate: the
sender is a member or an officer in the directory). Judged by the learned language model on
each of the sender's own sentences; ``threshold`` trades precision against recall.
Spec: rules.md section 6.
"""

from __future__ import annotations

from collections.abc import Iterator

from correspondence_guard.detectors import language
from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.findings import Hit
from correspondence_guard.message import Message

ID = "personal-criticism-of-officer"


class Params(language.Params):
    pass


def gate(message: Message, ctx: Context) -> bool:
    """Sent by a member or an officer (a resident's rudeness is not a protocol matter)."""
    return message.sender is not None and ctx.directory.person(message.sender.email) is not None


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    if not gate(message, ctx) or not (found := language.evidence(message, ctx, ID, params)):
        return
    public = " sent outside the council" if any(ctx.is_outside(a.email) for a in message.recipients) else ""
    yield Hit(reason=f"personal criticism of an officer{public}", evidence=found)


RULE = Rule(id=ID, params=Params, detect=detect, gate=gate)
