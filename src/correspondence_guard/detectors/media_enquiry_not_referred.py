"""media-enquiry-not-referred: an officer answers a journalist without the Communications Team.

Flags an officer outside the Communications Team who replies to a journalist (a recipient on
a media domain, or whose enquiry or signature reads like a journalist's: reporter, news desk,
"my deadline", "for publication") with information or comment on the council's behalf:
figures, reasons, statements or views in the officer's new text, rather than only logistics.
Not flagged: the Communications Team (its mailbox or staff) replying, copied in, or having
passed the enquiry on; the enquiry forwarded to the press office; a reply that only points
the journalist to the press office; members (they may speak for themselves). Spec: rules.md
section 10.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.detectors.lexicon import sentences, terms_pattern
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.message import Address, Message

TEAM_FUNCTION = "communications"
# "On <date>, <author> wrote:" in linear time: only the first comma is tried, or a comma that ends
# the line (the author on the next); the white space around the author is taken whole (\s*+,
# (?<!\s)\s++). Trying every comma, and every way of sharing out white space, was cubic: a line
# "On abcd," + 4,000 spaces + 4,000 letters took 85 s, once for each outside recipient.
_FROM_LINE = re.compile(
    r"^[ \t>*]*(?:from:\s*(?P<a>.+)|on\b(?:(?>.{4,120}?,)|.{4,120}?,(?=[^\S\n]*\n))\s*+(?P<b>.+?)(?<!\s)\s++wrote:)"
    r"\s*$",
    re.I | re.M,
)
_CONTACT = re.compile(
    r"@|www\.|https?://|\|\s|\b(tel|t|m|mobile|phone)\s*:|\b0\d{3,4}\s?\d{3}\s?\d{3,4}\b", re.I
)
_GREETING = re.compile(
    r"^(hi|hello|dear|morning|afternoon|good (morning|afternoon))\b[^.!?]{0,40}[,!]?$", re.I
)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    media_domains: list[str] = Field(
        default_factory=list, description="news publishers' and broadcasters' domains"
    )
    media_domain_words: list[str] = Field(
        default_factory=list, description="endings of a domain's name that mark a newspaper or broadcaster"
    )
    journalist_cues: list[str] = Field(
        default_factory=list, description="words in an enquiry or signature that show a journalist wrote it"
    )
    press_office_cues: list[str] = Field(default_factory=list, description="names of the press office")
    logistics_cues: list[str] = Field(
        default_factory=list, description="a sentence with these is logistics (can't comment, on leave...)"
    )
    referred_verbs: list[str] = Field(
        default_factory=list,
        description="'I have ___ it to the press office' (passed, forwarded...): referred",
    )
    enquiry_cues: list[str] = Field(
        default_factory=list, description="new mail that answers an earlier enquiry"
    )
    business_cues: list[str] = Field(
        default_factory=list,
        description="in the subject or new text: business with a publisher (public notices, adverts), not news",
    )
    min_words: int = Field(6, ge=1, description="words a sentence needs to count as information or comment")


def _domain_is_media(domain: str, params: Params) -> bool:
    """A listed media domain, or a name ending in a masthead word (ashdowngazette, valley-news)."""
    if any(domain == d or domain.endswith("." + d) for d in params.media_domains):
        return True
    words = domain.split(".")[0].split("-")
    return any(word.endswith(w) for word in words for w in params.media_domain_words)


def _authored_by(message: Message, who: Address) -> list[str]:
    """The parts of the quoted text written by ``who`` (the text under their From:/wrote: line);
    all of it when it has no such lines but ``who`` is among the earlier participants."""
    quoted = message.body.quoted_text
    marks = list(_FROM_LINE.finditer(quoted))
    parts = []
    for i, m in enumerate(marks):
        author = (m.group("a") or m.group("b") or "").lower()
        end = marks[i + 1].start() if i + 1 < len(marks) else len(quoted)
        if who.email in author or (who.name and who.name.lower() in author):
            parts.append(quoted[m.end() : end])
    if not marks and who.email in message.earlier_participants():
        parts.append(quoted)
    return parts


def _journalists(message: Message, ctx: Context, params: Params) -> list[tuple[Address, str]]:
    """Recipients who are journalists, each with what shows it."""
    cues = terms_pattern(params.journalist_cues)
    out = []
    for a in message.recipients:
        if not ctx.is_outside(a.email):
            continue
        if not ctx.is_private(a.email) and _domain_is_media(a.domain, params):
            out.append((a, f"media domain {a.domain}"))
        elif m := cues.search(a.name) or next(
            (m for part in _authored_by(message, a) if (m := cues.search(part))), None
        ):
            out.append((a, f"their enquiry: {m.group(0)}"))
    return out


def _own_words(text: str, sender: Address) -> str:
    """The new text without a signature block the body splitter left in (from the sender's name on)."""
    names = {sender.name.lower(), *(sender.name.lower().split()[:1])} - {""}
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i and line.strip().lower().strip(",.") in names:
            return "\n".join(lines[:i])
    return text


def _says_referred(text: str, params: Params) -> bool:
    """The officer writes that they have passed the enquiry to the press office."""
    verbs = "|".join(re.escape(v) for v in params.referred_verbs) or "(?!x)x"
    done = re.compile(rf"\b(i|we)(\s+have|\s+had|['’]ve)?\s+(now\s+|also\s+|already\s+)?({verbs})\b", re.I)
    office = terms_pattern(params.press_office_cues)
    return any(done.search(s) and office.search(s) for s in sentences(text))


def _comment(text: str, params: Params) -> str:
    """The first sentence of the officer's text that gives information or comment, or ''."""
    skip = terms_pattern((*params.logistics_cues, *params.press_office_cues))
    for sentence in sentences(text):
        words = re.findall(r"[\w'’£%.-]+", sentence)
        if _GREETING.match(sentence) or skip.search(sentence) or _CONTACT.search(sentence):
            continue
        if len(words) >= params.min_words or (len(words) >= 3 and re.search(r"\d", sentence)):
            return sentence
    return ""


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    sender = message.sender
    if sender is None or not ctx.directory.is_council_domain(sender.email):
        return
    if ctx.directory.member(sender.email) or ctx.directory.in_team(sender.email, TEAM_FUNCTION):
        return
    if any(ctx.directory.in_team(a.email, TEAM_FUNCTION) for a in message.recipients):
        return  # the Communications Team is copied in (or the enquiry is forwarded to it)
    if any(
        q.sender and ctx.directory.in_team(q.sender.email, TEAM_FUNCTION) for q in message.body.quoted_headers
    ):
        return  # the Communications Team passed the enquiry on: it has been referred
    journalists = _journalists(message, ctx, params)
    if not journalists:
        return
    if terms_pattern(params.business_cues).search(f"{message.subject}\n{message.body.new_text}"):
        return  # a public notice or an advert, not a news enquiry
    answering = message.is_reply_or_forward or bool(message.body.quoted_headers)
    if not answering and not terms_pattern(params.enquiry_cues).search(message.body.new_text):
        return
    if _says_referred(message.body.new_text, params):
        return  # the officer has passed the enquiry to the press office
    said = _comment(_own_words(message.body.new_text, sender), params)
    if not said:
        return  # logistics only, e.g. pointing the journalist to the press office
    who, why = journalists[0]
    yield Hit(
        reason=f"an officer answers a journalist ({who.email}; {why}) without the Communications Team",
        evidence=(Evidence("body", said[:160]), Evidence("recipients", who.email)),
    )


RULE = Rule(id="media-enquiry-not-referred", params=Params, detect=detect)
