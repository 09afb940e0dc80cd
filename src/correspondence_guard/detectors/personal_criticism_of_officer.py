"""personal-criticism-of-officer: a member or an officer attacks an officer personally.

Flags the sender's own words attacking an officer's competence, character or motives, blaming
or ridiculing them: an officer named, referred to by role, addressed as "you" or "he"/"she"
just after being named, and linked to the attack by the parse (its subject or target). Mild
disparagement counts double when the message goes outside the council or to the press.
Not flagged: constructive criticism of a report or decision; criticism of a contractor; a
measured concern raised privately with the officer's manager or director. Spec: rules.md §6.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import regex
from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors import tone
from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.directory import Directory, Officer
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.message import Message

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    threshold: int = Field(2, ge=1, description="points at which a message is flagged")
    attack_terms: list[str] = Field(
        default_factory=list, description="personal attacks (2 points): incompetent, hopeless, liar ..."
    )
    mild_terms: list[str] = Field(
        default_factory=list,
        description="blame and disparagement (1 point): botched, to blame, deliberately ...",
    )
    competence_terms: list[str] = Field(
        default_factory=list,
        description="qualities that attack when denied or doubted (2 points): capable ...",
    )
    ridicule_terms: list[str] = Field(
        default_factory=list, description="ridicule next to a named officer (2 points): 'a child could' ..."
    )
    role_terms: list[str] = Field(
        default_factory=list, description="officers referred to by role: case officer, planning officer ..."
    )
    not_officer_terms: list[str] = Field(
        default_factory=list, description="people who are not officers: contractor, developer ..."
    )
    measured_terms: list[str] = Field(
        default_factory=list, description="a measured concern (private route only): concerned, support ..."
    )
    senior_grades: list[str] = Field(
        ["manager", "director", "chief"], description="grades to whom a private concern may go"
    )


# --- who is an officer in the text -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Names:
    pattern: regex.Pattern[str]
    officers: dict[str, tuple[Officer, ...]]  # a name form -> the officers it can mean
    kind: dict[str, str]  # full | surname | first
    unique_first: frozenset[str]  # first names only one person in the directory has


_NAMES: dict[int, tuple[Directory, _Names]] = {}


def _names(directory: Directory) -> _Names:
    cached = _NAMES.get(id(directory))
    if cached is not None and cached[0] is directory:
        return cached[1]
    people = [*directory.members, *directory.officers]
    surnames = [p.name.split()[-1] for p in people]
    member_firsts = {m.name.split()[0] for m in directory.members}
    firsts = [p.name.split()[0] for p in people]
    officers: dict[str, list[Officer]] = {}
    kind: dict[str, str] = {}
    for o in directory.officers:
        parts = o.name.split()
        forms = [(o.name, "full")]
        if len(parts) > 1 and surnames.count(parts[-1]) == 1 and len(parts[-1]) > 2:
            forms.append((parts[-1], "surname"))
        if len(parts) > 1 and parts[0] not in member_firsts and len(parts[0]) > 2:
            forms.append((parts[0], "first"))
        for form, k in forms:
            officers.setdefault(form, []).append(o)
            kind.setdefault(form, k)
    alternatives = "|".join(regex.escape(f) for f in sorted(officers, key=len, reverse=True))
    pattern = regex.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])" if officers else r"(?!x)x")
    unique = frozenset(f for f in firsts if firsts.count(f) == 1)
    names = _Names(pattern, {k: tuple(v) for k, v in officers.items()}, kind, unique)
    if len(_NAMES) > 8:
        _NAMES.clear()
    _NAMES[id(directory)] = (directory, names)
    return names


@dataclass(frozen=True, slots=True)
class _Target:
    token: Token
    label: str  # who it is, for the reason
    named: Officer | None  # the directory officer, when known


def _mentions(doc: Doc, names: _Names, sender: str, first_ok: set[str]) -> list[_Target]:
    out = []
    for m in names.pattern.finditer(doc.text):
        span = doc.char_span(m.start(), m.end(), alignment_mode="expand")
        if span is None:
            continue
        form = m.group(0)
        if names.kind[form] != "full" and not any(t.tag_ == "NNP" for t in span):
            continue  # "Will you ...", "a rose bed": not a name here
        if names.kind[form] == "first" and form not in first_ok:
            continue
        candidates = [o for o in names.officers[form] if o.email != sender]
        if candidates:
            out.append(_Target(span.root, candidates[0].name, candidates[0]))
    return out


def _roles(doc: Doc, params: Params) -> list[_Target]:
    out = []
    outsiders = set(params.not_officer_terms)
    for span in tone.phrases(tuple(params.role_terms)).find(doc):
        root = span.root
        phrase = {t.lemma_.lower() for t in root.subtree} | {t.lower_ for t in root.subtree}
        if phrase & outsiders or not any(c.dep_ in ("det", "poss") for c in root.children):
            continue
        out.append(_Target(root, span.text, None))
    return out


def _linked(cue: Token, target: Token) -> bool:
    """The attack is about the target: the target is the subject of the attack's clause, or
    hangs under the attack ("given up on X", "X's incompetence"), or the attack is said in a
    clause about the target ("X, who has been asleep at the wheel")."""
    for s in tone.subjects(tone.clause_of(cue)):
        if s.i == target.i or tone.in_plain_subtree(s, target) or tone.in_plain_subtree(target, s):
            return True
    if not tone.in_plain_subtree(target, cue):
        return False
    # under the attack: an attack that is a noun or adjective ("X's incompetence"), a verb that
    # aims at its object ("blame X", "given up on X"), or X as the agent ("let down by X")
    by_agent = any(t.dep_ == "agent" for t in target.ancestors if t.i != cue.i and cue in t.ancestors)
    return not tone.is_verb(cue) or cue.lemma_.lower() in _AT_OBJECT or by_agent


_AT_OBJECT = frozenset("blame give cover lose get rid sack fire replace discipline trust".split())


def _has_negation_word(span: Span) -> bool:
    return any(t.lower_ in ("not", "n't", "no", "never", "nothing") for t in span)


# --- the rule ------------------------------------------------------------------------------

_YOU = ("you", "your", "yourself")
_THIRD = ("he", "she", "him", "her", "his", "hers")
_PERSON_NOUNS = ("man", "woman", "guy", "chap", "fellow", "lady", "bloke", "individual", "person")


def _refers_back(tok: Token) -> bool:
    """He, she, or "the man", "this woman": someone just named."""
    if tok.lower_ in _THIRD:
        return True
    return tok.lower_ in _PERSON_NOUNS and any(
        c.dep_ == "det" and c.lower_ in ("the", "this", "that") for c in tok.children
    )


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    if message.sender is None:
        return
    sender = ctx.directory.person(message.sender.email)
    if sender is None:
        return
    sentences = tone.own_sentences(message)
    lists = {
        "attack": tone.phrases(tuple(params.attack_terms)),
        "mild": tone.phrases(tuple(params.mild_terms)),
        "competence": tone.phrases(tuple(params.competence_terms)),
        "ridicule": tone.phrases(tuple(params.ridicule_terms)),
    }
    if not any(p.maybe_in(s.text) for s in sentences for p in lists.values()):
        return  # nothing critical said: no parse
    names = _names(ctx.directory)
    first_ok = _first_names_ok(message, ctx, names)
    private = _private_route(message, ctx, params)
    # in public (outside the council, the press) disparagement counts double
    public = any(ctx.is_outside(a.email) for a in message.recipients)
    # privately to a manager, with measured words: doubts about capability are the prescribed route
    measured = private and any(tone.phrases(tuple(params.measured_terms)).maybe_in(s.text) for s in sentences)
    you_label = ""
    if tone.to_officers_only(message, ctx):
        you_label = ", ".join(o.name for o in tone.officer_recipients(message, ctx))
    points = 0
    evidence: list[Evidence] = []
    who: list[str] = []
    last: tuple[int, str, Officer | None] | None = None  # the officer named most recently, for he/she
    for n, s in enumerate(sentences):
        mentioned = [
            m.group(0)
            for m in names.pattern.finditer(s.text)
            if names.kind[m.group(0)] != "first" or m.group(0) in first_ok
        ]
        cues = [k for k, p in lists.items() if p.maybe_in(s.text)]
        if not cues:
            others = [o for form in mentioned for o in names.officers[form] if o.email != sender.email]
            if others:
                last = (n, others[0].name, others[0])
            continue
        doc = tone.parse(ctx, s.text)  # only sentences that say something critical are parsed
        named = _mentions(doc, names, sender.email, first_ok) + _roles(doc, params)
        targets = list(named)
        if you_label:
            targets += [_Target(t, you_label, None) for t in doc if t.lower_ in _YOU]
        if named:
            last = (n, named[0].label, named[0].named)
        near = last is not None and n - last[0] <= 2
        if last is not None and near:  # he, she: the officer named in this or a recent sentence
            targets += [_Target(t, last[1], last[2]) for t in doc if _refers_back(t)]
        score, target = _score(doc, {k: lists[k] for k in cues}, targets, near or bool(named), public)
        if (
            target is not None
            and private
            and target.token.lower_ not in _YOU
            and _only_mild(doc, {k: lists[k] for k in cues}, measured)
        ):
            score = 0  # a concern put privately to a manager or director: only outright attacks count
        if score:
            points += score
            evidence.append(Evidence(s.where, s.text))
            who.append(target.label if target is not None else "an officer")
    if points >= params.threshold:
        outside = [a.email for a in message.recipients if ctx.is_outside(a.email)]
        audience = f"; sent outside the council to {', '.join(outside)}" if outside else ""
        yield Hit(
            reason=f"personal criticism of an officer ({', '.join(dict.fromkeys(who))}){audience}",
            evidence=tuple(evidence[:3]),
        )


def _score(
    doc: Doc, lists: dict[str, tone.Phrases], targets: list[_Target], officer_near: bool, public: bool
) -> tuple[int, _Target | None]:
    """Points for the attacks in a sentence that are about an officer (at most 2), and that officer."""
    total, best, best_target = 0, 0, None
    for kind, phrase_list in lists.items():
        for span in phrase_list.find(doc):
            cue = span.root
            if kind == "ridicule":
                if officer_near or targets:
                    return 2, targets[0] if targets else None
                continue
            target = next((t for t in targets if _linked(cue, t.token)), None)
            if target is None:
                continue
            if kind == "competence":
                if _has_negation_word(span) or not (tone.negated(cue) or tone.doubted(cue)):
                    continue  # "capable" counts only when denied or doubted
            elif not _has_negation_word(span) and tone.negated(cue):
                continue  # "I don't think she is incompetent"
            value = 1 if kind == "mild" and not public else 2
            total += value
            if value > best:
                best, best_target = value, target
    return min(2, total), best_target


def _only_mild(doc: Doc, lists: dict[str, tone.Phrases], measured: bool) -> bool:
    strong = ("attack", "ridicule") if measured else ("attack", "competence", "ridicule")
    return not any(lists[k].find(doc) for k in strong if k in lists)


def _first_names_ok(message: Message, ctx: Context, names: _Names) -> set[str]:
    """First names that may stand for an officer here: one officer in the directory has it, or
    the officer it names is a recipient or is named in full somewhere in the message."""
    text = " ".join((message.subject, message.body.new_text, message.body.quoted_text))
    recipients = {a.email for a in message.recipients}
    ok = set()
    for form, officers in names.officers.items():
        if names.kind[form] != "first":
            continue
        if form in names.unique_first:
            ok.add(form)
        elif any(o.email in recipients or o.name in text for o in officers):
            ok.add(form)
    return ok


def _private_route(message: Message, ctx: Context, params: Params) -> bool:
    """Sent only to council officers, one of them a manager or above: the prescribed route."""
    if not message.recipients:
        return False
    officers = []
    for a in message.recipients:
        if ctx.directory.member(a.email) or ctx.is_outside(a.email) or ctx.directory.list_kind(a.email):
            return False
        if (o := ctx.directory.officer(a.email)) is not None:
            officers.append(o)
    return any(o.grade in params.senior_grades for o in officers)


RULE = Rule(id="personal-criticism-of-officer", params=Params, detect=detect)
