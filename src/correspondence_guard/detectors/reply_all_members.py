"""reply-all-members: a member replies to or forwards a message to all members.

Flags the all-members list in To/Cc, or at least half of the members (or ``max_members``,
whichever is fewer) addressed individually in To/Cc, the sender not counted.
Not flagged: officers' circulars (Democratic Services briefings); a few ward colleagues;
a list that appears only in a quoted header. Spec: rules.md section 4.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.message import Message


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_members: int = Field(10, ge=1, description="'or ten members, whichever is fewer' (CAM 10.1)")
    list_kinds: list[str] = Field(
        ["all-members"], description="distribution list kinds that reach all members"
    )


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    member = ctx.sender_member(message)
    if member is None or not message.is_reply_or_forward:
        return
    visible = (*message.to, *message.cc)
    lists = [a.email for a in visible if ctx.directory.list_kind(a.email) in params.list_kinds]
    if lists:
        yield Hit(
            reason="the all-members list is addressed", evidence=(Evidence("recipients", ", ".join(lists)),)
        )
        return
    members = {m.email for a in visible if (m := ctx.directory.member(a.email))} - {member.email}
    threshold = min(params.max_members, math.ceil(ctx.directory.member_count / 2))
    if members and len(members) >= threshold:
        yield Hit(
            reason=f"{len(members)} members addressed individually (threshold {threshold})",
            evidence=(Evidence("recipients", ", ".join(sorted(members))),),
        )


RULE = Rule(id="reply-all-members", params=Params, detect=detect)
