"""member-enquiry-overdue: members' enquiries to officers left without a timely reply (thread level).

In a mailbox, an enquiry is a member's message with an officer or a team mailbox of the council in
To that starts a conversation (a forward from a member always does). A member's later message in
the same conversation is a chaser while no substantive reply has come, and otherwise a follow-up,
not a new enquiry. Officers' replies to the member are matched by In-Reply-To/References, then
by subject (RE:/FW: stripped) and participants; a short reply saying the enquiry was received or
is being looked into is an acknowledgement, any other reply is substantive.

Limits are in working days (weekends and bank holidays excluded) from the day of receipt: an
enquiry that arrives after ``day_ends`` or on a non-working day counts from the next working day;
a reply any time on the due date is in time. Default (CAM 7.6): a substantive reply within 5
working days. COL 7: acknowledgement within 2, full reply within 10 (``settings.enquiries``).
Spec: rules.md "Thread-level: member-enquiry-overdue".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from correspondence_guard.directory import Directory, Member
from correspondence_guard.message import Message
from correspondence_guard.policy import EnquirySettings
from correspondence_guard.workdays import Calendar

# \s*+: the white space after "Re" is taken whole (the next \s* would only share it out again,
# quadratic: "Re" and 256 KB of spaces took 17 s)
_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|antw|fw|fwd|wg|tr)\s*+(?:\[\d+\])?\s*:\s*)+", re.I)
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
# Out-of-office replies, read receipts, meeting responses and bounces are nobody's answer.
_AUTOMATIC = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|out of (the )?office( autoreply)?|read|not read|accepted|declined|"
    r"tentative|undeliverable|undelivered mail|delivery status notification|mail delivery failed|returned mail)"
    r"\s*:",
    re.I,
)


class Status(StrEnum):
    """answered: a substantive reply came; acknowledged: only an acknowledgement so far, not yet
    due; overdue: a limit passed (as of the date asked) with no reply; open: not yet due, nothing yet."""

    ANSWERED = "answered"
    ACKNOWLEDGED = "acknowledged"
    OVERDUE = "overdue"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Enquiry:
    """One member's enquiry and where it stands as of a date. Dates are in the council's time zone.

    ``to_dict()`` gives stable keys, for example::

        {"member": "Cllr Ann Green", "member_email": "cllr.green@example.gov.uk",
         "officers": ["Waste Team"], "subject": "Bins in Mill Road",
         "received": "2025-04-17T10:00:00+01:00", "counted_from": "2025-04-17",
         "acknowledge_by": null, "reply_by": "2025-04-28", "due": "2025-04-28",
         "status": "overdue", "days_overdue": 2, "acknowledged": null, "answered": null,
         "answered_by": "", "late": false, "days_late": 0, "chasers": 1,
         "source": "mail/0001.eml", "message_id": "abc@example.gov.uk", "citations": ["CAM 7.6"]}
    """

    member: str
    member_email: str
    officers: tuple[str, ...]
    subject: str
    received: dt.datetime
    counted_from: dt.date  # the working day the enquiry counts as received on
    acknowledge_by: dt.date | None
    reply_by: dt.date
    due: dt.date  # the limit that applies now: acknowledge_by while no acknowledgement is required yet
    status: Status
    days_overdue: int  # working days past ``due`` (overdue only; 0 on a weekend straight after it)
    acknowledged: dt.datetime | None
    answered: dt.datetime | None
    answered_by: str
    late: bool  # answered after reply_by, or acknowledged after acknowledge_by
    days_late: int  # working days the answer (or acknowledgement) came after its limit
    chasers: int  # the member's further messages in the conversation before it was answered
    source: str
    message_id: str
    citations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        def iso(value: dt.date | dt.datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "member": self.member,
            "member_email": self.member_email,
            "officers": list(self.officers),
            "subject": self.subject,
            "received": iso(self.received),
            "counted_from": iso(self.counted_from),
            "acknowledge_by": iso(self.acknowledge_by),
            "reply_by": iso(self.reply_by),
            "due": iso(self.due),
            "status": self.status.value,
            "days_overdue": self.days_overdue,
            "acknowledged": iso(self.acknowledged),
            "answered": iso(self.answered),
            "answered_by": self.answered_by,
            "late": self.late,
            "days_late": self.days_late,
            "chasers": self.chasers,
            "source": self.source,
            "message_id": self.message_id,
            "citations": list(self.citations),
        }


@dataclass(eq=False)
class _Item:
    source: str
    message: Message
    when: dt.datetime  # local time
    parent: _Item | None = None
    enquiry: _Open | None = None  # on the conversation's root: its enquiry
    officer_seen: bool = False  # on the root: an officer has written in the conversation

    def root(self) -> _Item:
        item = self
        while item.parent is not None:
            item = item.parent
        return item


@dataclass(eq=False)
class _Open:
    item: _Item
    member: Member
    officers: tuple[str, ...]
    acknowledged: _Item | None = None
    answered: _Item | None = None
    chasers: int = 0
    addresses: frozenset[str] = field(default_factory=frozenset)


def normalise_subject(subject: str) -> str:
    """``"RE: FW: Bins  in Mill Road"`` -> ``"bins in mill road"``."""
    return " ".join(_PREFIX.sub("", subject).lower().split())


def _ids(value: str) -> list[str]:
    found = _MESSAGE_ID.findall(value)
    return found or ([value.strip().strip("<>")] if value.strip() else [])


def _participants(message: Message) -> set[str]:
    return {a.email for a in (*message.to, *message.cc)} | (
        {message.sender.email} if message.sender else set()
    )


def find_enquiries(
    messages: Iterable[tuple[str, Message]],
    directory: Directory,
    settings: EnquirySettings,
    as_of: dt.date | dt.datetime,
) -> list[Enquiry]:
    """Members' enquiries in ``messages`` and where each stands on ``as_of``, oldest first.

    Messages dated after ``as_of`` (the end of that day, for a date) are left out, so a run for
    an earlier date gives the answer it would have given then. Messages without a sender or
    date are ignored, and so are automatic messages (out-of-office replies, read receipts, meeting
    responses, bounces); a message seen twice (same Message-ID) counts once.
    """
    tz = ZoneInfo(directory.council.timezone)
    calendar = Calendar(settings.bank_holidays or directory.council.bank_holidays)
    if isinstance(as_of, dt.datetime):
        cutoff = as_of.astimezone(tz) if as_of.tzinfo else as_of.replace(tzinfo=tz)
        today = cutoff.date()
    else:
        today = as_of
        cutoff = (
            dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), tzinfo=tz) - dt.timedelta.resolution
        )
    items = _items(messages, tz, cutoff)
    phrases = [
        re.compile(r"\b" + r"\s+".join(map(re.escape, p.split())), re.I)
        for p in settings.acknowledgement_phrases
    ]

    by_id: dict[str, _Item] = {}
    by_subject: dict[str, list[_Item]] = {}
    found: list[_Open] = []
    for item in items:
        msg = item.message
        if msg.sender is None:  # never: _items keeps only messages with a sender
            continue
        member = directory.member(msg.sender.email)
        officers = [_name(directory, a.email) for a in msg.to if _officer_address(directory, a.email)]
        if not (member and officers and msg.is_forward):  # a member's forward starts a new conversation
            item.parent = _parent(item, by_id, by_subject)
        for mid in _ids(msg.message_id):
            by_id.setdefault(mid, item)
        by_subject.setdefault(normalise_subject(msg.subject), []).append(item)
        root = item.root()
        open_ = root.enquiry
        if member is not None:
            if not officers:
                continue
            if open_ is not None and open_.answered is None and member.email == open_.member.email:
                open_.chasers += 1
            elif open_ is None and not root.officer_seen:
                root.enquiry = _Open(
                    item,
                    member,
                    tuple(dict.fromkeys(officers)),
                    addresses=frozenset({member.email, *member.personal_emails}),
                )
                found.append(root.enquiry)
            continue
        if not _officer_side(directory, msg.sender.email):
            continue
        root.officer_seen = True
        if open_ is None or open_.answered is not None or not open_.addresses & _participants(msg):
            continue
        if _is_acknowledgement(msg, settings, phrases):
            open_.acknowledged = open_.acknowledged or item
        else:
            open_.answered = item
    return [_assess(e, calendar, settings, today) for e in found]


def _items(messages: Iterable[tuple[str, Message]], tz: ZoneInfo, cutoff: dt.datetime) -> list[_Item]:
    seen: set[str] = set()
    items: list[_Item] = []
    for source, msg in messages:
        if msg.sender is None or msg.date is None or _AUTOMATIC.match(msg.subject):
            continue
        when = (msg.date if msg.date.tzinfo else msg.date.replace(tzinfo=dt.UTC)).astimezone(tz)
        if when > cutoff:
            continue
        mid = next(iter(_ids(msg.message_id)), "")
        if mid and mid in seen:
            continue
        seen.add(mid)
        items.append(_Item(source, msg, when))
    items.sort(key=lambda i: i.when)  # stable: equal times keep the mailbox's order
    return items


def _parent(item: _Item, by_id: dict[str, _Item], by_subject: dict[str, list[_Item]]) -> _Item | None:
    """The message this one answers: by In-Reply-To, then References, then subject and participants."""
    msg = item.message
    for mid in (*_ids(msg.in_reply_to), *reversed([i for r in msg.references for i in _ids(r)])):
        if mid in by_id:
            return by_id[mid]
    if not msg.is_reply_or_forward and not msg.in_reply_to:
        return None
    subject = normalise_subject(msg.subject)
    mine = _participants(msg)
    best: tuple[int, _Item] | None = None
    for other in by_subject.get(subject, []) if subject else []:
        o = other.message
        if o.sender is None or o.sender.email not in mine:
            continue
        score = 2 if msg.sender is not None and msg.sender.email in _participants(o) else 1
        if best is None or score >= best[0]:
            best = (score, other)  # the best-matching, and of those the latest, earlier message
    return best[1] if best else None


def _officer_side(directory: Directory, email: str) -> bool:
    """An officer, a team mailbox, or another council address that is neither a member nor a list."""
    if directory.member(email) is not None:
        return False
    if directory.team(email) is not None or directory.officer(email) is not None:
        return True
    return directory.is_council_domain(email) and directory.list_kind(email) is None


def _officer_address(directory: Directory, email: str) -> bool:
    """An officer's or a team's council address (an enquiry goes to one in To)."""
    return directory.is_council_domain(email) and _officer_side(directory, email)


def _name(directory: Directory, email: str) -> str:
    team = directory.team(email)
    person = directory.person(email)
    return team.name if team else person.name if person else email


def _is_acknowledgement(msg: Message, settings: EnquirySettings, phrases: list[re.Pattern[str]]) -> bool:
    """A short reply with an acknowledgement phrase and no attachment (other than images, as in a logo)."""
    if any(not a.content_type.startswith("image/") for a in msg.attachments):
        return False
    text = msg.body.new_text
    return len(text.split()) <= settings.acknowledgement_max_words and any(p.search(text) for p in phrases)


def _assess(e: _Open, calendar: Calendar, settings: EnquirySettings, today: dt.date) -> Enquiry:
    received = e.item.when
    start = calendar.day_of_receipt(received, settings.day_ends)
    reply_by = calendar.add(start, settings.reply_within_days)
    ack_days = settings.acknowledge_within_days
    ack_by = calendar.add(start, ack_days) if ack_days is not None else None
    ack = e.acknowledged.when if e.acknowledged else None
    answer = e.answered.when if e.answered else None
    if answer is not None:
        status, due = Status.ANSWERED, reply_by
    elif ack_by is not None and ack is None:
        due = ack_by
        status = Status.OVERDUE if today > ack_by else Status.OPEN
    else:
        due = reply_by
        status = Status.OVERDUE if today > reply_by else Status.ACKNOWLEDGED if ack else Status.OPEN
    late, days_late = False, 0
    if answer is not None and answer.date() > reply_by:
        late, days_late = True, calendar.between(reply_by, answer.date())
    first = min((t for t in (ack, answer) if t is not None), default=None)
    if ack_by is not None and first is not None and first.date() > ack_by:  # COL: any first response
        late, days_late = True, max(days_late, calendar.between(ack_by, first.date()))
    msg = e.item.message
    return Enquiry(
        member=e.member.name,
        member_email=e.member.email,
        officers=e.officers,
        subject=msg.subject,
        received=received,
        counted_from=start,
        acknowledge_by=ack_by,
        reply_by=reply_by,
        due=due,
        status=status,
        days_overdue=calendar.between(due, today) if status is Status.OVERDUE else 0,
        acknowledged=ack,
        answered=answer,
        answered_by=_sender(e.answered),
        late=late,
        days_late=days_late,
        chasers=e.chasers,
        source=e.item.source,
        message_id=next(iter(_ids(msg.message_id)), ""),
        citations=tuple(settings.cite),
    )


def _sender(item: _Item | None) -> str:
    if item is None or item.message.sender is None:
        return ""
    sender = item.message.sender
    return sender.name or sender.email
