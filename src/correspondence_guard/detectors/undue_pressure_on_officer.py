"""undue-pressure-on-officer: a member puts an officer under undue pressure.

Scores a member's own words to council staff: threats to job or career, threats to escalate
made conditional ("if it isn't there, your manager will hear about it"), ominous or hostile
phrasing, demands with a short deadline or for work outside hours, and pressure to change a
professional opinion; flags at ``threshold`` when some cue is more than pressure on an opinion.
Not flagged: polite requests with a reasonable timescale; urgency explained with a fallback;
a late e-mail that says it can wait. Spec: rules.md section 7.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import regex
from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors import tone
from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.directory import GRADE_RANK, Directory, Member, Officer
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.message import Message

if TYPE_CHECKING:
    from spacy.tokens import Span


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    threshold: int = Field(2, ge=1, description="score at which a message is flagged")
    job_threat_terms: list[str] = Field(
        default_factory=list,
        description="threats to job or career (2 points): 'your career', 'no confidence'",
    )
    escalation_terms: list[str] = Field(
        default_factory=list,
        description="escalation targets (1 point in a threat, 2 in a conditional one): 'your manager'",
    )
    ominous_terms: list[str] = Field(
        default_factory=list, description="veiled threats (1 point): 'think very carefully', 'take kindly'"
    )
    hostile_terms: list[str] = Field(
        default_factory=list, description="intimidating tone (1 point): 'no excuses', 'third time'"
    )
    opinion_terms: list[str] = Field(
        default_factory=list, description="pressure to change a professional view (1 point unless negated)"
    )
    out_of_hours_terms: list[str] = Field(
        default_factory=list,
        description="work outside hours or duties (1 point with a demand): 'all weekend'",
    )
    short_deadline_terms: list[str] = Field(
        default_factory=list,
        description="short deadlines besides clock times (1 point with a demand): 'today'",
    )
    mitigation_terms: list[str] = Field(
        default_factory=list,
        description="reasonable framing (minus 1 each): 'no rush', 'if that isn't realistic'",
    )


_CLOCK = regex.compile(
    r"\b(?:by|before|for)\s+(?:\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|noon|midday|lunchtime|"
    r"close of play|(?:the\s+)?end of (?:the\s+)?day|first thing)|\bwithin (?:the|an|the next|\d+) hours?\b",
    regex.I,
)
_DEMAND = regex.compile(
    r"\b(?:i|we)(?:\s+\w+)?\s+(?:want|need|expect|demand|insist|require)\b|"
    r"\byou\s+(?:will|must|need to|have to|are to|had better|better)\b|\byou['’]ll\b|\bon my desk\b",
    regex.I,
)
_CONDITIONAL = regex.compile(
    r"\bif\b[^.;]{0,80}?(?:\bnot\b|n['’]t\b|\bagain\b|\bfail|\brefuse|\bcannot\b)|\bunless\b|\botherwise\b|\bor else\b|"
    r"\bor (?:i|we)(?:['’]ll| will| shall| am going| are going|['’]m going|['’]re going)\b",
    regex.I,
)
# the writer acting on the threat, or someone hearing of it ("I'll take it up with", "will hear about it")
_THREAT_ACT = regex.compile(
    r"\bI(?:['’]ll|['’]d| will| shall| would|['’]m going| am going)\b[^.;]{0,60}?"
    r"\b(?:with|to|tell|inform|report|raise|complain|speak|talk|take|escalate|make|making|lodge)\b|"
    r"\bhear(?:ing|s)? (?:about|of)\b",
    regex.I,
)
_WORK = regex.compile(
    r"\b(?:work|working|worked|stay|come in|in the office|deliver|delivered|bring)\b", regex.I
)
_COERCIVE = ("job", "escalation", "ominous", "hostile", "deadline")
_CAPS = {"job": 2, "escalation": 2, "ominous": 1, "hostile": 1, "opinion": 1, "deadline": 1, "hours": 1}


_SENIOR: dict[int, tuple[Directory, tuple[tuple[str, str], ...]]] = {}


def _senior_names(directory: Directory, exclude: set[str]) -> regex.Pattern[str]:
    """Names an officer can be threatened with: directors, the chief executive, the Leader
    (full name, or first name when no one else has it); not the sender's or recipients'."""
    cached = _SENIOR.get(id(directory))
    if cached is None or cached[0] is not directory:
        people: list[Officer | Member] = [
            o for o in directory.officers if GRADE_RANK[o.grade] >= GRADE_RANK["director"]
        ]
        people += [m for m in directory.members if "leader" in m.positions]
        firsts = [p.name.split()[0] for p in (*directory.members, *directory.officers)]
        forms = [(p.email, p.name) for p in people]
        forms += [(p.email, p.name.split()[0]) for p in people if firsts.count(p.name.split()[0]) == 1]
        cached = _SENIOR[id(directory)] = (directory, tuple(forms))
    return _names_pattern(tuple(sorted({form for email, form in cached[1] if email not in exclude})))


@functools.lru_cache(maxsize=64)
def _names_pattern(names: tuple[str, ...]) -> regex.Pattern[str]:
    if not names:
        return regex.compile(r"(?!x)x")
    return regex.compile(r"(?<![\w-])(?:" + "|".join(regex.escape(n) for n in names) + r")(?![\w-])")


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    member = tone.sender_member(message, ctx)
    staff = tone.staff_recipients(message, ctx)
    if member is None or not staff:
        return
    senior = _senior_names(ctx.directory, {member.email, *(a.email for a in message.recipients)})
    lists = {
        "job": tone.phrases(tuple(params.job_threat_terms)),
        "escalation": tone.phrases(tuple(params.escalation_terms)),
        "ominous": tone.phrases(tuple(params.ominous_terms)),
        "hostile": tone.phrases(tuple(params.hostile_terms)),
        "opinion": tone.phrases(tuple(params.opinion_terms)),
        "hours": tone.phrases(tuple(params.out_of_hours_terms)),
        "deadline": tone.phrases(tuple(params.short_deadline_terms)),
        "mitigation": tone.phrases(tuple(params.mitigation_terms)),
    }
    sentences = tone.own_sentences(message)
    # First, without parsing: which sentences could score, and could the message reach the threshold?
    plans: list[tuple[tone.Sentence, list[str], bool]] = []
    bound = dict.fromkeys(_CAPS, 0)
    for s in sentences:
        candidates = [k for k, p in lists.items() if p.maybe_in(s.text)]
        if senior.search(s.text) and "escalation" not in candidates:  # "Alastair will hear about it"
            candidates.append("escalation")
        clock = _CLOCK.search(s.text) is not None
        commanding = _DEMAND.search(s.text) is not None or tone.may_command(s.text)
        possible: dict[str, int] = {k: 1 for k in ("ominous", "hostile", "opinion") if k in candidates}
        if "job" in candidates:
            possible["job"] = 2
        if "escalation" in candidates:
            possible["escalation"] = _escalation(s.text)
        if (clock or "deadline" in candidates) and commanding:
            possible["deadline"] = 1
        if "hours" in candidates and (commanding or _WORK.search(s.text)):
            possible["hours"] = 1
        for key, value in possible.items():
            bound[key] = max(bound[key], value)
        if possible or "mitigation" in candidates:
            plans.append((s, candidates, clock))
    coercive_bound = any(bound[k] for k in _COERCIVE)
    if sum(bound.values()) < params.threshold or not coercive_bound:
        return  # ordinary mail ends here, unparsed
    scores = dict.fromkeys([*_CAPS, "mitigation"], 0)
    evidence: list[tuple[int, tone.Sentence, str]] = []
    for s, candidates, clock in plans:
        doc = tone.parse(ctx, s.text)
        found = {k: lists[k].find(doc) for k in candidates}
        demand = _DEMAND.search(s.text) is not None or any(tone.is_imperative(t) for t in doc)
        points: dict[str, int] = {}
        if found.get("job"):
            points["job"] = 2
        if found.get("escalation") or ("escalation" in candidates and senior.search(s.text)):
            points["escalation"] = _escalation(s.text)
        for key in ("ominous", "hostile"):
            if found.get(key):
                points[key] = 1
        if any(not _negated_span(span) for span in found.get("opinion", [])):
            points["opinion"] = 1
        if demand and (clock or found.get("deadline")):
            points["deadline"] = 1
        if found.get("hours") and (demand or _WORK.search(s.text)):
            points["hours"] = 1
        if found.get("mitigation"):
            scores["mitigation"] -= len(found["mitigation"])
        for key, value in points.items():  # the strongest instance of each kind counts
            scores[key] = min(_CAPS[key], max(scores[key], value))
        if points:
            evidence.append((sum(points.values()), s, ", ".join(sorted(points))))
    total = sum(scores.values()) - scores["mitigation"] + max(-2, scores["mitigation"])
    coercive = any(scores[k] for k in _COERCIVE)
    if total >= params.threshold and coercive and evidence:
        evidence.sort(key=lambda e: -e[0])
        kinds = sorted({k for k in _CAPS if scores[k]})
        yield Hit(
            reason=f"pressure on an officer ({', '.join(kinds)}; score {total})",
            evidence=tuple(Evidence(s.where, s.text) for _, s, _ in evidence[:3]),
        )


def _escalation(text: str) -> int:
    """A sentence naming someone to escalate to: 2 points for a threat made conditional ("if it
    isn't there, X will hear about it"), 1 for a bare threat ("I'll take it up with X"), none
    for a mention ("I've copied the Chief Executive")."""
    if not _THREAT_ACT.search(text):
        return 0
    return 2 if _CONDITIONAL.search(text) else 1


def _negated_span(span: Span) -> bool:
    if any(t.lower_ in ("not", "n't", "never", "no") for t in span):
        return False
    return tone.negated(span.root, levels=2)


RULE = Rule(id="undue-pressure-on-officer", params=Params, detect=detect)
