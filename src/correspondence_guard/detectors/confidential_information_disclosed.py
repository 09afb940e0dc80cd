"""confidential-information-disclosed: confidential material leaves the circle it was meant for.

Flags material marked or evidently confidential (exempt or Part 2 reports, Schedule 12A,
legal advice and privilege, confidential briefings, "not for publication", restricted,
personnel matters, a political group's discussions) in the subject, an attachment (name and
text), quoted text forwarded afresh, or the sender's own words when they pass it on, sent by a
council sender to an external, press or private address, or, for a group's discussions, to a
member of another group. Not flagged: confidential material kept to council addresses within
its circle; e-mail disclaimers; a formerly exempt report that "has since been published";
negated or withheld mentions ("not confidential", "the report is exempt so I can't send it").
Spec: rules.md section 9.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors.base import Context, Rule, attachment_segments
from correspondence_guard.detectors.lexicon import terms_pattern
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.message import Address, Message

_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|tr)\s*:\s*)+", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n")


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    markings: list[str] = Field(
        default_factory=list, description="phrases that mark material as confidential"
    )
    label_words: list[str] = Field(
        default_factory=list,
        description="words that mark material anywhere but the sender's own lower-case text",
    )
    quiet_label_words: list[str] = Field(
        default_factory=list, description="words that mark material only in capitals, subjects or file names"
    )
    topics: list[str] = Field(
        default_factory=list, description="evidently confidential subjects (legal advice...)"
    )
    plain_markings: list[str] = Field(
        default_factory=list,
        description="count even in the sender's own words: secrecy asked for ('strictly between us', "
        "'not for publication'), or plainly unreleased matters ('before staff are consulted')",
    )
    content_verbs: list[str] = Field(
        default_factory=list, description="after a marking in the sender's own words, they give its content"
    )
    group_terms: list[str] = Field(
        default_factory=list, description="words of a political group's discussions"
    )
    group_words: list[str] = Field(default_factory=list, description="'our group', 'political group'...")
    party_names: list[str] = Field(default_factory=list, description="parties besides the directory's own")
    party_aliases: dict[str, str] = Field(
        default_factory=dict, description="other names of a party: 'Tory': ..."
    )
    negators: list[str] = Field(default_factory=list, description="words just before a term that cancel it")
    refusals: list[str] = Field(
        default_factory=list, description="a sentence with these withholds, not discloses"
    )
    released: list[str] = Field(
        default_factory=list, description="a paragraph with these says it is now public"
    )
    disclaimer_cues: list[str] = Field(default_factory=list, description="a paragraph with these is a footer")
    addressee_markings: list[str] = Field(
        default_factory=list,
        description="envelope markings that mean 'for the addressee' ('private and confidential')",
    )
    negation_window: int = Field(3, ge=0, le=8, description="words before a term searched for a negator")


def _segments(
    message: Message, ctx: Context, recipients: list[Address], params: Params
) -> list[tuple[str, str]]:
    """What goes to ``recipients``: new words, attachments and their names, and the quoted text
    (with an inherited RE:/FW: subject) when it is forwarded or goes to someone new.

    A reply quoting no headers is taken to go back to the people it answers."""
    inherited = bool(_PREFIX.match(message.subject)) and message.is_reply_or_forward
    newcomers = {a.email for a in ctx.new_recipients(message)} if message.body.quoted_headers else set()
    carried = message.is_forward or any(a.email in newcomers for a in recipients)
    released = terms_pattern(params.released).search(message.body.new_text)
    out: list[tuple[str, str]] = []
    if message.subject.strip() and (carried or not inherited) and not released:
        out.append(("subject", _PREFIX.sub("", message.subject)))
    if message.body.new_text.strip():
        out.append(("body", message.body.new_text))
    for a in message.attachments:
        out.append((f"attachment:{a.name}", re.sub(r"[_.+-]+", " ", a.name.rpartition(".")[0] or a.name)))
    out += attachment_segments(message)
    if carried and message.body.quoted_text.strip():
        out.append(("quoted", message.body.quoted_text))
    return out


def _negated(sentence: str, start: int, params: Params) -> bool:
    words = re.findall(r"[\w'’-]+", sentence[:start].lower())[-params.negation_window :]
    return bool(params.negation_window and words and terms_pattern(params.negators).search(" ".join(words)))


def _markings(where: str, text: str, params: Params, carrying: bool) -> list[str]:
    """Confidentiality markings in ``text`` as written; negated, withheld and footer ones dropped.

    In the sender's own words (``body``) a marking counts when written in capitals, when the
    message carries material (an attachment or a forward), when the sentence goes on to give
    the content ("the legal advice is that..."); ``plain_markings`` (asking for secrecy) always count."""
    own = where == "body"
    labelled = where == "subject" or (
        where.startswith("attachment:") and "\n" not in text and len(text) < 200
    )
    footer, released = terms_pattern(params.disclaimer_cues), terms_pattern(params.released)
    refusal, plain = terms_pattern(params.refusals), terms_pattern(params.plain_markings)
    strong = terms_pattern((*params.markings, *params.topics, *([] if own else params.label_words)))
    quiet = terms_pattern((*params.label_words, *params.quiet_label_words))
    content = terms_pattern(params.content_verbs)
    found: list[str] = []
    text = terms_pattern(params.addressee_markings).sub(" ", text)
    for para in re.split(r"\n\s*\n", text):
        if footer.search(para) or released.search(para):
            continue
        for sentence in _SENTENCE.split(para):
            if refusal.search(sentence):
                continue
            for m in plain.finditer(sentence):
                if not _negated(sentence, m.start(), params):
                    found.append(m.group(0))
            for m in strong.finditer(sentence):
                shown = not own or carrying or m.group(0).isupper() or content.search(sentence, m.end())
                if shown and not _negated(sentence, m.start(), params):
                    found.append(m.group(0))
            for m in quiet.finditer(sentence):
                if (labelled or m.group(0).isupper()) and not _negated(sentence, m.start(), params):
                    found.append(m.group(0))
    return found


def _carrying(message: Message) -> bool:
    """The message passes material on: an attachment, or a forward of earlier text."""
    return bool(message.attachments) or (message.is_forward and bool(message.body.quoted_text.strip()))


def _party_key(name: str, params: Params) -> str:
    aliases = {k.lower(): v for k, v in params.party_aliases.items()}
    name = aliases.get(name.lower(), name).lower().strip()
    return name[:-1] if name.endswith("s") else name


def _group_party(
    message: Message, ctx: Context, segments: list[tuple[str, str]], params: Params
) -> tuple[str, Evidence] | None:
    """The party whose group's discussions the segments carry, with evidence.

    The group must be named ("Labour Group", or "our group"), its discussions described, and
    the material marked, or carried (quoted, attached) from a member of that group: saying in
    one's own words that "our group met", or passing on an officer's note that a group asked
    for a briefing, discloses none of its discussions."""
    parties = (
        {m.party for m in ctx.directory.members if m.party}
        | set(params.party_names)
        | set(params.party_aliases)
    )
    named = [
        m.group(0) for _, t in segments for m in terms_pattern([f"{p} group" for p in parties]).finditer(t)
    ]
    generic = any(terms_pattern(params.group_words).search(t) for _, t in segments)
    talk = [(w, m.group(0)) for w, t in segments for m in terms_pattern(params.group_terms).finditer(t)]
    if not talk or not (named or generic):
        return None
    authors = [
        m
        for a in (message.sender, *(q.sender for q in message.body.quoted_headers))
        if a and (m := ctx.directory.member(a.email))
    ]
    if named:
        party = re.sub(r"\s+group(s|'s|’s)?$", "", named[0], flags=re.I)
    elif authors and authors[-1].party:  # "our group": the group of the member who first wrote
        party = authors[-1].party
    else:
        return None
    from_group = any(_party_key(m.party, params) == _party_key(party, params) for m in authors)
    carried = [(w, term) for w, term in talk if w == "quoted" or w.startswith("attachment:")]
    marked = [(w, found[0]) for w, t in segments if (found := _markings(w, t, params, _carrying(message)))]
    if not (marked or (carried and from_group)):
        return None
    where, term = (carried or marked)[0]
    return party, Evidence(where, f"{named[0] if named else 'group'}: {term}")


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    sender = message.sender
    if sender is None or not (
        ctx.directory.is_council_domain(sender.email) or ctx.directory.person(sender.email)
    ):
        return
    carrying = _carrying(message)
    outside = [a for a in message.recipients if ctx.is_outside(a.email)]
    if outside:
        to_whom = ", ".join(a.email for a in outside)
        for where, text in _segments(message, ctx, outside, params):
            if found := _markings(where, text, params, carrying):
                yield Hit(
                    reason=f"material marked '{found[0]}' goes outside the council ({to_whom})",
                    evidence=(
                        Evidence(where, "; ".join(dict.fromkeys(found))[:160]),
                        Evidence("recipients", to_whom),
                    ),
                )
                return
    # A political group's discussions reaching a member of another group, or outside (CAM 8.3)
    members = [(a, m) for a in message.recipients if (m := ctx.directory.member(a.email))]
    readers = outside + [a for a, _ in members]
    if not readers or not (
        group := _group_party(message, ctx, _segments(message, ctx, readers, params), params)
    ):
        return
    party = _party_key(group[0], params)
    others = outside + [a for a, m in members if _party_key(m.party, params) != party]
    if others and (group := _group_party(message, ctx, _segments(message, ctx, others, params), params)):
        to_whom = ", ".join(a.email for a in others)
        yield Hit(
            reason=f"the {group[0]} group's discussions go to people outside that group ({to_whom})",
            evidence=(group[1], Evidence("recipients", to_whom)),
        )


RULE = Rule(id="confidential-information-disclosed", params=Params, detect=detect)
