"""member-creates-legal-obligation: a member commits the council in their own name.

Flags a member's own sentences that promise payment, compensation or refunds, accept a
quote or offer, authorise a contractor to proceed, grant permission or waive a charge,
give formal notice, or state as made a decision only the council, a committee or an
officer can make. Not flagged: advocacy and intent to ask ("I will ask officers whether",
"I support your application"), negated or hedged sentences ("I can't promise"), a personal
view marked as such, and an officer sending an official decision. Spec: rules.md section 3.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator

from correspondence_guard.detectors.base import Context, Rule, own_segments
from correspondence_guard.detectors.lexicon import sentences, terms_pattern
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.message import Message


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    commitments: dict[str, list[str]] = Field(
        default_factory=dict,
        description="kind of commitment -> regular expressions for sentences that make it",
    )
    hedges: list[str] = Field(
        default_factory=list,
        description="a sentence with these asks, advocates or disclaims instead of committing",
    )

    @field_validator("commitments")
    @classmethod
    def _compiles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, patterns in value.items():
            for pattern in patterns:
                try:
                    regex.compile(pattern)
                except regex.error as exc:
                    raise ValueError(f"{kind}: bad regular expression {pattern!r}: {exc}") from None
        return value


def _compiled(params: Params) -> tuple[tuple[str, regex.Pattern[str]], ...]:
    return _compile(tuple((kind, p) for kind, patterns in params.commitments.items() for p in patterns))


@functools.cache
def _compile(patterns: tuple[tuple[str, str], ...]) -> tuple[tuple[str, regex.Pattern[str]], ...]:
    return tuple((kind, regex.compile(p, regex.I)) for kind, p in patterns)


_NEGATION = regex.compile(r"\b(not|never|cannot|can't|can’t|won't|won’t|unable)\b|n't\b|n’t\b", regex.I)


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    if ctx.sender_member(message) is None:
        return  # officers send decisions under delegation; only a member's own commitment is flagged
    hedges = terms_pattern(params.hedges)
    patterns = _compiled(params)
    for where, text in own_segments(message):
        if where == "subject":
            continue
        for sentence in sentences(text):
            if hedges.search(sentence):
                continue
            for kind, pattern in patterns:
                match = pattern.search(sentence)
                if match is None:
                    continue
                # "I can't promise compensation" negates the commitment; a negation elsewhere
                # ("you don't need to fill in a claim") does not, so look just before the match.
                if _NEGATION.search(sentence[max(0, match.start() - 25) : match.end()]):
                    continue
                yield Hit(reason=f"a member {kind} in their own name", evidence=(Evidence(where, sentence),))
                return


RULE = Rule(id="member-creates-legal-obligation", params=Params, detect=detect)
