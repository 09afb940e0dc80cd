"""political-comment-on-council-email: party-political comment sent from a council address.

Campaigning or electioneering (asking for votes, canvassing, leaflets, campaign events, party
fundraising), promoting or attacking a party or its politicians in party terms, or attacking
adopted council policy in political terms — in the sender's own words or an attached document,
from a member or an officer (any campaigning by an officer breaches political neutrality);
the reason says when it falls in a pre-election period.
Not flagged: neutral, factual mentions of parties and groups (a group briefing, committee
places, a signature), ordinary words (conservative estimate, green waste, labour costs), and
political views sent from a personal address (the gate: only council senders are judged).
Judged by the learned language model on each of the sender's own sentences; ``threshold``
trades precision against recall. Spec: rules.md section 2.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from correspondence_guard.detectors import language
from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.findings import Hit
from correspondence_guard.message import Message

ID = "political-comment-on-council-email"


class Params(language.Params):
    pass


def gate(message: Message, ctx: Context) -> bool:
    """Sent from a council address (views sent from a personal address are not on council e-mail)."""
    return message.sender is not None and ctx.directory.is_council_domain(message.sender.email)


def _in_period(message: Message, ctx: Context) -> bool:
    day = (message.date or dt.datetime.now(dt.UTC)).date()
    return any(p.start <= day <= p.end for p in ctx.settings.pre_election_periods)


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    if not gate(message, ctx) or not (found := language.evidence(message, ctx, ID, params, documents=True)):
        return
    who = "an officer" if ctx.sender_officer(message) is not None else "a member"
    period = " during the pre-election period" if _in_period(message, ctx) else ""
    yield Hit(reason=f"party-political comment by {who} from a council address{period}", evidence=found)


RULE = Rule(id=ID, params=Params, detect=detect, gate=gate)
