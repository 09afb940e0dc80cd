"""political-comment-on-council-email: party-political comment sent from a council address.

Flags, in the sender's own words or an attachment: campaigning or electioneering (vote for,
canvassing, leaflets, campaign events, party fundraising, winning a seat), and promoting or
attacking a party or its politicians in party terms (a party named in the same sentence as
partisan or electoral language). Any campaigning by an officer is flagged; the reason says
when it falls in a pre-election period. Not flagged: neutral factual mentions of parties or
groups (group briefings, signatures), ordinary words (conservative estimate, green waste,
labour costs, reform of a procedure), guidance that tells people what not to do, political
views sent from a personal address. Spec: rules.md section 2.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator

import regex
from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors.base import Context, Rule, attachment_segments, own_segments
from correspondence_guard.detectors.lexicon import sentences, terms_pattern
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.message import Message


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    parties: list[str] = Field(
        default_factory=list, description="party names and nicknames, matched with their capitals as written"
    )
    ordinary_followers: list[str] = Field(
        default_factory=list,
        description="words after a party name that make it ordinary (estimate, waste...)",
    )
    campaign_terms: list[str] = Field(default_factory=list, description="campaigning and electioneering")
    partisan_terms: list[str] = Field(
        default_factory=list, description="attack or promotion words that make a party mention partisan"
    )
    guidance_terms: list[str] = Field(
        default_factory=list, description="a sentence with these explains the rules rather than campaigns"
    )


def _party_names(params: Params, ctx: Context) -> tuple[str, ...]:
    names = set(params.parties) | {
        m.party for m in ctx.directory.members if m.party and m.party != "Independent"
    }
    return tuple(sorted(names, key=lambda n: (-len(n), n)))


def _party_pattern(params: Params, ctx: Context) -> regex.Pattern[str]:
    return _compile_party(_party_names(params, ctx), tuple(params.ordinary_followers))


@functools.cache
def _compile_vote(names: tuple[str, ...]) -> regex.Pattern[str]:
    """Asking for votes for a party by name: "vote Conservative", "voting for the Greens"."""
    alternatives = "|".join(regex.escape(n) for n in names) or "(?!x)x"
    return regex.compile(rf"(?i:\bvot(?:e|ing)\s+(?:for\s+)?(?:the\s+)?)(?:{alternatives})(?![\w-])")


@functools.cache
def _compile_party(names: tuple[str, ...], ordinary_followers: tuple[str, ...]) -> regex.Pattern[str]:
    followers = "|".join(regex.escape(w) for w in ordinary_followers) or "(?!x)x"
    alternatives = "|".join(regex.escape(n) for n in names)
    # Case-sensitive on purpose: "Labour" and "Green" are parties, "labour costs" and "green waste" are not.
    return regex.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])(?!\s+(?i:{followers})\b)")


def _in_period(message: Message, ctx: Context) -> bool:
    day = (message.date or dt.datetime.now(dt.UTC)).date()
    return any(p.start <= day <= p.end for p in ctx.settings.pre_election_periods)


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    if message.sender is None or not ctx.directory.is_council_domain(message.sender.email):
        return  # views sent from a personal address are not on council e-mail
    party = _party_pattern(params, ctx)
    vote = _compile_vote(_party_names(params, ctx))
    campaign = terms_pattern(params.campaign_terms)
    partisan = terms_pattern(params.partisan_terms)
    guidance = terms_pattern(params.guidance_terms)
    officer = ctx.sender_officer(message) is not None
    for where, text in own_segments(message) + attachment_segments(message):
        for sentence in sentences(text):
            if guidance.search(sentence):
                continue
            c = campaign.search(sentence) or vote.search(sentence)
            p = party.search(sentence)
            a = partisan.search(sentence) if p else None
            if c or (p and a):
                who = "an officer" if officer else "a member"
                what = "campaigning" if c else f"party-political comment ({p.group(0) if p else ''})"
                period = " during the pre-election period" if _in_period(message, ctx) else ""
                yield Hit(
                    reason=f"{what} by {who} from a council address{period}",
                    evidence=(Evidence(where, sentence),),
                )
                return


RULE = Rule(id="political-comment-on-council-email", params=Params, detect=detect)
