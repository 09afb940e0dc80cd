"""What the language rules share besides the model: the sender's own sentences, and who a
message is between (a member sender, council staff in To, an outside company). No rule lives here.
"""

from __future__ import annotations

from dataclasses import dataclass

from correspondence_guard.detectors.base import Context, own_segments
from correspondence_guard.detectors.lexicon import sentences
from correspondence_guard.directory import AddressClass, Member
from correspondence_guard.message import Address, Message

# --- the sender's own words ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of the sender's own words and where it was found."""

    where: str  # "subject", "body", "attachment:name.docx"
    text: str


def own_sentences(message: Message, documents: bool = False) -> list[Sentence]:
    """Sentences of the subject and new text; with ``documents``, also of the attachments of a
    message that is not a forward (a document the sender attaches is theirs, e.g. a marked-up
    report; a forward's attachments were someone else's)."""
    out = [Sentence(where, s) for where, text in own_segments(message) for s in sentences(text)]
    if documents and not message.is_forward:
        for att in message.attachments:
            for line in att.text.splitlines():
                out.extend(Sentence(f"attachment:{att.name}", s) for s in sentences(line))
    return out


# --- who the message is between ---------------------------------------------------------

_COUNCIL_STAFF = (AddressClass.OFFICER, AddressClass.TEAM, AddressClass.COUNCIL)


def sender_member(message: Message, ctx: Context) -> Member | None:
    """The sender if a member, from a council address or a personal one the directory lists."""
    member = ctx.sender_member(message)
    if member is None and message.sender is not None:
        member = ctx.directory.member(message.sender.email)
    return member


def staff_recipients(message: Message, ctx: Context) -> list[Address]:
    """To recipients who are council staff: officers and council mailboxes, not members or lists."""
    return [a for a in message.to if ctx.classify(a.email) in _COUNCIL_STAFF]


def is_company(ctx: Context, address: Address) -> bool:
    """An external organisation's own domain (a contractor or consultant), not a private mailbox."""
    return ctx.classify(address.email) is AddressClass.EXTERNAL
