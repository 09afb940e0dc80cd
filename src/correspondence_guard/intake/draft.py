"""The JSON draft an Outlook add-in can read with Office.js, as a Message.

Accepts both the add-in's field names (``emailAddress``/``displayName``, ``composeType``)
and plain ones (``email``/``name``, ``isReply``); unknown keys are ignored so a newer
add-in can send more than this version reads.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from correspondence_guard.errors import MessageError
from correspondence_guard.intake.attachments import extract
from correspondence_guard.intake.body import split_body
from correspondence_guard.intake.eml import subject_flags
from correspondence_guard.intake.html import html_to_text
from correspondence_guard.message import Address, Message


class DraftAddress(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: str = Field(validation_alias=AliasChoices("email", "emailAddress", "address"))
    name: str = Field("", validation_alias=AliasChoices("name", "displayName"))
    recipient_type: str = Field("", validation_alias=AliasChoices("recipientType", "recipient_type"))


class DraftBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    html: str = ""
    text: str = ""


class DraftAttachment(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    content_type: str = Field("", validation_alias=AliasChoices("contentType", "content_type"))
    content: str = Field("", validation_alias=AliasChoices("content", "contentBase64"))


class Draft(BaseModel):
    """A draft as the add-in reads it (Office.context.mailbox.item)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    sender: DraftAddress | None = Field(None, validation_alias=AliasChoices("from", "sender"))
    to: list[DraftAddress] = []
    cc: list[DraftAddress] = []
    bcc: list[DraftAddress] = []
    subject: str = ""
    body: DraftBody | str = DraftBody()
    body_html: str = Field("", validation_alias=AliasChoices("bodyHtml", "body_html"))
    body_text: str = Field("", validation_alias=AliasChoices("bodyText", "body_text"))
    attachments: list[DraftAttachment] = []
    compose_type: Literal["newMail", "reply", "forward", ""] = Field(
        "", validation_alias=AliasChoices("composeType", "compose_type")
    )
    is_reply: bool = Field(False, validation_alias=AliasChoices("isReply", "is_reply"))
    in_reply_to: str = Field("", validation_alias=AliasChoices("inReplyTo", "in_reply_to"))
    conversation_id: str = Field("", validation_alias=AliasChoices("conversationId", "conversation_id"))


def _addr(a: DraftAddress) -> Address:
    return Address(email=a.email.strip().lower(), name=a.name.strip())


def message_from_draft(draft: Draft, max_attachment_bytes: int | None = None) -> Message:
    """Turn a validated Draft into a Message."""
    body = draft.body if isinstance(draft.body, DraftBody) else DraftBody(text=draft.body)
    text = body.text or draft.body_text
    html = body.html or draft.body_html
    if not text.strip() and html:
        text = html_to_text(html)
    attachments = []
    for att in draft.attachments:
        try:
            data = base64.b64decode("".join(att.content.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MessageError(f"attachment {att.name!r}: content is not base64") from exc
        kwargs = {} if max_attachment_bytes is None else {"max_bytes": max_attachment_bytes}
        attachments.append(extract(att.name, att.content_type, data, **kwargs))
    subject = draft.subject.strip()
    prefix_reply, prefix_forward = subject_flags(subject)
    is_forward = draft.compose_type == "forward" or prefix_forward
    is_reply = draft.compose_type == "reply" or draft.is_reply or bool(draft.in_reply_to) or prefix_reply
    return Message(
        sender=_addr(draft.sender) if draft.sender else None,
        to=tuple(map(_addr, draft.to)),
        cc=tuple(map(_addr, draft.cc)),
        bcc=tuple(map(_addr, draft.bcc)),
        subject=subject,
        in_reply_to=draft.in_reply_to,
        is_reply=is_reply and not is_forward,
        is_forward=is_forward,
        body=split_body(text, draft.sender.name if draft.sender else ""),
        attachments=tuple(attachments),
    )


# At least one of these must be present for a JSON object to be a draft at all.
_DRAFT_KEYS = {
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "subject",
    "body",
    "bodyHtml",
    "bodyText",
    "body_html",
    "body_text",
    "attachments",
}


def parse_draft(data: bytes | str | dict[str, object], max_attachment_bytes: int | None = None) -> Message:
    """Parse a JSON draft (bytes, text or an already-decoded dict)."""
    try:
        if not isinstance(data, dict):
            data = json.loads(data)
        if not isinstance(data, dict) or not _DRAFT_KEYS & set(data):
            raise MessageError("not a valid draft: no from, to, subject or body")
        draft = Draft.model_validate(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MessageError(f"not a valid draft: not JSON ({exc})") from None
    except RecursionError:
        raise MessageError("not a valid draft: nested too deeply") from None
    except ValidationError as exc:  # before ValueError, its base class
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "draft"
        raise MessageError(f"not a valid draft: {where}: {err['msg']}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python will convert
        raise MessageError(f"not a valid draft: {str(exc).splitlines()[0]}") from None
    return message_from_draft(draft, max_attachment_bytes)
