"""member-instructs-officer: an individual member directs an officer, consultant or contractor.

A member, not acting through a formal decision, tells staff to take, stop or change an
operational action (cancel a fine, hold off enforcement, award a contract, move someone up a
list, change a report or its recommendation) or to bypass procedure; or tells a contractor or
consultant to start, stop or change their work — as an order, a request or a statement of
what will happen ("that fine is going to be cancelled, so please make it happen").
Not flagged: requests for information or advice; a cabinet member's view on political
direction; a chair arranging the business of a meeting. The gate: a member writing to council
staff, or to an outside company, in To. Judged by the learned language model on each of the
member's own sentences, and on the lines of a document they attach for staff (a marked-up
report); ``threshold`` trades precision against recall. Spec: rules.md section 8.
"""

from __future__ import annotations

from collections.abc import Iterator

from correspondence_guard.detectors import language, tone
from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.findings import Hit
from correspondence_guard.message import Message

ID = "member-instructs-officer"


class Params(language.Params):
    pass


def gate(message: Message, ctx: Context) -> bool:
    """A member writing to council staff, or to a contractor or consultant, in To."""
    if tone.sender_member(message, ctx) is None:
        return False
    return bool(tone.staff_recipients(message, ctx)) or any(tone.is_company(ctx, a) for a in message.to)


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    if not gate(message, ctx):
        return
    staff = bool(tone.staff_recipients(message, ctx))
    if found := language.evidence(message, ctx, ID, params, documents=staff):
        who = "an officer" if staff else "a contractor or consultant"
        yield Hit(reason=f"a member directs {who} to act", evidence=found)


RULE = Rule(id=ID, params=Params, detect=detect, gate=gate)
