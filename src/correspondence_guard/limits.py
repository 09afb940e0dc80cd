"""How much of one message is judged (the policy's ``settings.limits``), and what was not.

Anyone can e-mail a council, so every part of a message is bounded before a rule sees it: the
text of the body, the number of attachments and the text taken from each, the number of
recipients. What lies beyond a limit is not judged, and the report says so in ``unchecked``
("only the first 200,000 characters of the body were checked"); an attachment that could not
be opened is named there too. A message is never passed as clear in silence.
"""

from __future__ import annotations

from dataclasses import replace

from correspondence_guard.message import Message
from correspondence_guard.policy import Limits

# Attachment problems that leave part of the message unjudged (a picture, which has no text
# to judge, is not one of them).
_UNREAD = ("could not be read", "over ")


def bound(message: Message, limits: Limits) -> tuple[Message, tuple[str, ...]]:
    """``message`` cut to ``limits``, and one line for each part that was not checked."""
    notes: list[str] = []
    body = message.body
    own, quoted = body.new_text, body.quoted_text
    total = len(own) + len(quoted)
    if total > limits.max_text_chars:
        own = own[: limits.max_text_chars]
        quoted = quoted[: limits.max_text_chars - len(own)]
        notes.append(
            f"only the first {limits.max_text_chars:,} characters of the body were checked (of {total:,})"
        )
        body = replace(body, new_text=own, quoted_text=quoted)

    attachments = message.attachments
    if len(attachments) > limits.max_attachments:
        notes.append(
            f"only the first {limits.max_attachments} of {len(attachments)} attachments were checked"
        )
        attachments = attachments[: limits.max_attachments]
    kept = []
    for a in attachments:
        if a.problem.startswith(_UNREAD):
            notes.append(f"attachment {a.name or '(unnamed)'} {_unread(a.problem)}")
        if len(a.text) > limits.max_attachment_chars:
            notes.append(
                f"only the first {limits.max_attachment_chars:,} characters of attachment "
                f"{a.name or '(unnamed)'} were checked"
            )
            a = replace(a, text=a.text[: limits.max_attachment_chars])
        kept.append(a)

    to, cc, bcc = message.to, message.cc, message.bcc
    count = len(to) + len(cc) + len(bcc)
    if count > limits.max_recipients:
        room = limits.max_recipients
        to = to[:room]
        cc = cc[: room - len(to)]
        bcc = bcc[: room - len(to) - len(cc)]
        notes.append(f"only the first {limits.max_recipients} of {count} recipients were checked")

    if not notes:
        return message, ()
    return replace(message, body=body, attachments=tuple(kept), to=to, cc=cc, bcc=bcc), tuple(notes)


def _unread(problem: str) -> str:
    if problem.startswith("could not be read"):
        return problem
    return f"was not opened ({problem.removesuffix(': not opened')})"
