"""member-instructs-officer: an individual member directs an officer, consultant or contractor.

Flags a member's own words, or a document they attach (a marked-up report), that tell staff to
take, stop or change an operational action (cancel a fine, hold off enforcement, award a
contract, move someone up a list, change a report or its recommendation) or to bypass
procedure; or that tell a contractor or consultant to start, stop or change their work.
Not flagged: requests for information or advice; a cabinet member's political steer that leaves
the recommendation to officers; a chair arranging meeting business; acting on a formal decision.
Spec: rules.md section 8.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import regex
from pydantic import BaseModel, ConfigDict, Field

from correspondence_guard.detectors import tone
from correspondence_guard.detectors.base import Context, Rule
from correspondence_guard.detectors.lexicon import terms_pattern
from correspondence_guard.findings import Evidence, Hit
from correspondence_guard.message import Message

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    action_verbs: list[str] = Field(
        default_factory=list, description="operational actions: cancel, waive, hold off, award, delete ..."
    )
    light_verbs: list[str] = Field(
        ["make", "do", "give", "go", "put", "take", "get", "let", "move", "reflect", "leave", "keep"],
        description="verbs that direct an operational action only with an object from action_objects",
    )
    action_objects: list[str] = Field(
        default_factory=list, description="what operational actions act on: fine, enforcement, contract ..."
    )
    info_verbs: list[str] = Field(
        default_factory=list,
        description="requests for information or advice: tell, send, explain, advise ...",
    )
    meeting_terms: list[str] = Field(
        default_factory=list, description="meeting business a chair may arrange: agenda, item, speakers ..."
    )
    contractor_verbs: list[str] = Field(
        default_factory=list,
        description="what a member may not tell a contractor: go ahead, start, proceed ...",
    )
    contractor_objects: list[str] = Field(
        default_factory=list,
        description="a contractor's or consultant's work a member may not redirect: study ...",
    )
    edit_verbs: list[str] = Field(
        default_factory=list, description="edits written as lines of a marked-up document: delete, remove ..."
    )
    bypass_terms: list[str] = Field(
        default_factory=list, description="asking staff to breach procedure: bypass, jump the queue ..."
    )
    deference_terms: list[str] = Field(
        default_factory=list, description="the decision left to officers: 'yours to make', 'your call' ..."
    )
    formal_decision_terms: list[str] = Field(
        default_factory=list, description="acting on a formal decision: 'cabinet agreed', 'as resolved' ..."
    )


_DIRECTIVE_CUE = regex.compile(
    r"\b(?:please|just|want|wants|like|need|needs|make sure|ensure|must|should|you will|you['’]ll|"
    r"(?:could|can|would|will) you|i['’]d|have to|has to|no more|no further|kindly|ask|tell|get|"
    r"don['’]?t|do not|never)\b",
    regex.I,
)
_WH = {"whether", "if", "when", "how", "why", "what", "where", "once"}
_NO_MORE = regex.compile(r"\bno (?:more|further)\b", regex.I)
_EDIT_LINE = regex.compile(
    r"^\s*(?:[^\n]{0,60}?\s[-–—:]\s*)?(?:please\s+)?(?P<verb>[a-z]+(?:\s+(?:out|off|up))?)\b", regex.I
)

# --- directives: who is told to do what ------------------------------------------------------

_SELF = {"i", "we", "me", "us"}
_INFO_NOUNS = {
    "figure",
    "figures",
    "number",
    "data",
    "detail",
    "details",
    "list",
    "information",
    "update",
    "breakdown",
    "statistic",
    "statistics",
    "copy",
    "summary",
    "note",
    "briefing",
    "answer",
}
# "my constituent", "my resident": people the member acts for, not the member's own affairs
_ON_BEHALF = {"constituent", "resident", "ward", "neighbour", "tenant", "client", "caseworker"}
_WANT = {"want", "like", "need", "expect", "require", "insist", "prefer"}
_TELL = {"ask", "tell", "want", "need", "expect", "require", "instruct", "urge", "suggest", "insist"}
_REQUEST = {"can", "could", "would", "will"}
_ORDER = {"will", "must", "shall", "should"}
_SUBJ = ("nsubj", "nsubjpass")


@dataclass(frozen=True, slots=True)
class Directive:
    """An action the member directs someone to take, the form of the direction and what the
    action acts on (its objects, or the subject of an embedded clause: "I want the fine cancelled")."""

    verb: Token
    form: str  # imperative | you-must | request | ask-you | want | make-sure | must-passive
    objects: tuple[Token, ...]


def _objects(verb: Token) -> list[Token]:
    objs = [c for c in verb.children if c.dep_ in ("dobj", "nsubjpass", "attr", "oprd", "dative")]
    if verb.dep_ in ("compound", "amod", "nmod") and verb.head.i > verb.i:
        objs.append(verb.head)  # a mis-parsed imperative: "Please drop option C" as one noun phrase
        verb = verb.head
    for prep in (c for c in verb.children if c.dep_ in ("prep", "prt", "advmod")):
        objs.extend(g for g in prep.children if g.dep_ == "pobj")
    return objs


def _is_you(tok: Token) -> bool:
    return tok.lower_ in ("you", "u")


def _directives(doc: Doc) -> Iterator[Directive]:
    """Imperatives ("Please cancel it"), "you will/must/need to ...", requests ("Can you hold
    off ...?"), "I'm asking you to ...", "ask your team to ...", "I want X moved", "I'd like X
    to go to ...", "make sure X ...", "X must be withdrawn". A negated governing verb ("I'm not
    asking you to change ...") directs nothing."""
    question = doc.text.rstrip().endswith("?")
    for tok in doc:
        if not tone.is_verb(tok) or tok.dep_ in ("aux", "auxpass"):
            continue
        subs = [c for c in tok.children if c.dep_ in tone.SUBJECT_DEPS]
        modal = {c.lemma_.lower() for c in tok.children if c.dep_ in ("aux", "auxpass") and c.tag_ == "MD"}
        lemma = tok.lemma_.lower()
        you = bool(subs) and _is_you(subs[0])
        first_person = bool(subs) and subs[0].lower_ in _SELF
        commanding = first_person or tone.is_imperative(tok)
        positive = not tone.negated(tok, levels=0)
        if tone.is_imperative(tok):
            yield Directive(tok, "imperative", tuple(_objects(tok)))
        if you and positive and modal & _ORDER and not question:
            yield Directive(tok, "you-must", tuple(_objects(tok)))
        elif you and positive and modal & _REQUEST:
            yield Directive(tok, "request", tuple(_objects(tok)))
        if lemma in ("need", "have") and positive and modal <= {"will"}:
            for x in (c for c in tok.children if c.dep_ == "xcomp"):
                if you:  # "you (will) need to rescind ..."
                    yield Directive(x, "you-must", tuple(_objects(x)))
                elif (
                    not first_person and x.tag_ == "VBN" and not question
                ):  # "the fine needs to be cancelled"
                    things = subs or [c for c in tok.lefts if c.pos_ in ("NOUN", "PROPN", "ADJ")]
                    yield Directive(x, "must-passive", tuple(things))
        passive = [c for c in tok.children if c.dep_ == "nsubjpass"]
        if (
            passive
            and tok.tag_ == "VBN"
            and modal & {"must", "should", "shall"}
            and positive
            and not question
        ):
            yield Directive(tok, "must-passive", tuple(passive))  # "the notice must be withdrawn"
        if lemma in _TELL and positive and (commanding or modal & _REQUEST):
            dobj = [c for c in tok.children if c.dep_ in ("dobj", "dative")]
            you_obj = commanding and any(_is_you(c) for c in dobj)
            relay = bool(dobj) and not first_person and not any(c.lower_ in _SELF for c in dobj)
            for x in tok.children:
                if x.dep_ == "xcomp" and (you_obj or relay):  # "I'm asking you to", "ask the team to"
                    yield Directive(x, "ask-you", tuple(_objects(x)))
                elif x.dep_ == "ccomp" and any(_is_you(c) for c in x.children if c.dep_ == "nsubj"):
                    yield Directive(x, "ask-you", tuple(_objects(x)))  # "I'd suggest you ..."
        if lemma in _WANT and commanding and positive:
            for x in tok.children:
                inner = [c for c in x.children if c.dep_ in _SUBJ]
                if x.dep_ in ("ccomp", "xcomp") and inner and inner[0].lower_ not in _SELF:
                    yield Directive(x, "want", tuple(inner + _objects(x)))  # "I want the family moved"
                elif x.dep_ == "dobj" and x.lower_ not in _SELF:
                    for v in (v for v in x.children if v.dep_ in ("acl", "relcl") and tone.is_verb(v)):
                        yield Directive(v, "want", (x, *_objects(v)))  # "I'd like the contract to go to"
        sure = lemma == "make" and any(c.lower_ == "sure" for c in tok.children)
        if (sure or lemma == "ensure") and (commanding or you or _opens_sentence(tok)):
            for x in (c for c in tok.subtree if c.dep_ == "ccomp" and tone.is_verb(c)):
                inner = [c for c in x.children if c.dep_ in _SUBJ]
                yield Directive(x, "make-sure", tuple(inner + _objects(x)))


def _opens_sentence(tok: Token) -> bool:
    """The verb opens its sentence, after at most a vocative and "please"/"just" ("Marisol, make
    sure ..."): an order even when the small model mis-tags the verb."""
    before = [t for t in tok.doc[tok.sent.start : tok.i] if not t.is_punct]
    return all(tone.is_vocative(t) or t.lower_ in ("please", "just", "kindly") for t in before)


def _verb_phrases(verb: Token) -> set[str]:
    """The verb's lemma alone and with its particle or adverb ("hold off", "go ahead", "move up")."""
    lemma = verb.lemma_.lower()
    out = {lemma, verb.lower_}
    for c in verb.children:
        if c.dep_ in ("prt", "advmod", "prep", "acomp", "oprd") and c.i > verb.i:
            out.add(f"{lemma} {c.lower_}")
    return out


def _head_words(tok: Token) -> set[str]:
    """A noun's own word and lemma; with its compounds when it is only a label ("paragraph 4.2",
    "option C"), not when they merely qualify it ("the enforcement figures")."""
    words = [tok]
    if tok.like_num or len(tok.text) <= 2:
        words += [c for c in tok.children if c.dep_ in ("compound", "nmod")]
    return {t.lemma_.lower() for t in words} | {t.lower_ for t in words}


def _noun_words(tok: Token) -> set[str]:
    """Words and lemmas of a noun with its compounds and modifiers ("PCN", "further enforcement")."""
    words = [t for t in tok.subtree if t.dep_ in ("compound", "amod", "nmod") or t.i == tok.i]
    return {t.lemma_.lower() for t in words} | {t.lower_ for t in words}


# --- the rule ----------------------------------------------------------------------------------


def _operational(d: Directive, params: Params, contractor: bool) -> bool:
    verbs = _verb_phrases(d.verb)
    if _conditional(d.verb):
        return False  # "cancel it if the signage was unclear": the judgement stays with the officer
    info = set(params.info_verbs)
    if verbs & info or _under_info_verb(d.verb, info):
        return False
    # An object's head word, and its compounds unless it is information asked for ("the
    # enforcement action" is operational; "the enforcement figures" are information).
    objects = {w for o in d.objects for w in _head_words(o)}
    objects |= {w for o in d.objects if o.lemma_.lower() not in _INFO_NOUNS for w in _noun_words(o)}
    for o in d.objects:
        own = o.dep_ in ("dobj", "dative") and any(c.dep_ == "poss" and c.lower_ == "my" for c in o.children)
        if o.lower_ in ("me", "myself") or (own and o.lemma_.lower() not in _ON_BEHALF):
            return False  # the member's own arrangements ("remove me from the list", "cancel my booking")
        if _head_words(o) & set(params.meeting_terms):
            return False  # meeting business ("take the Saltmarsh item first"), judged by the head noun:
            # a "council tax summons" or a "committee report" is not meeting business
    if contractor:  # tell a contractor to start or stop, or redirect a consultant's study
        redirect = d.verb.lemma_.lower() in params.light_verbs or bool(verbs & set(params.action_verbs))
        return bool(verbs & set(params.contractor_verbs)) or (
            redirect and bool(objects & set(params.contractor_objects))
        )
    if verbs & set(params.action_verbs):
        return True
    light = d.verb.lemma_.lower() in params.light_verbs or d.form in ("want", "make-sure", "must-passive")
    return light and bool(objects & set(params.action_objects))


def _conditional(verb: Token) -> bool:
    heads = [verb, verb.head] if verb.dep_ == "conj" else [verb]
    return any(
        c.dep_ == "advcl"
        and any(m.dep_ == "mark" and m.lower_ in ("if", "unless", "provided") for m in c.children)
        for h in heads
        for c in h.children
    )


def _under_info_verb(verb: Token, info: set[str]) -> bool:
    """The action sits in a question put to staff: "let me know when you will start", "could you
    tell me whether it can be cancelled" (but not "ask the team to cancel it")."""
    t = verb
    while t.head.i != t.i:
        head = t.head
        if t.dep_ != "xcomp" and head.lemma_.lower() in info:
            to_me = any(
                c.lower_ in ("me", "us") for c in head.children if c.dep_ in ("dobj", "dative", "nsubj")
            )
            asked = any(c.dep_ in ("mark", "advmod") and c.lower_ in _WH for c in t.children)
            if to_me or asked:
                return True
        t = head
    return False


def _edit_line(text: str, params: Params) -> bool:
    m = _EDIT_LINE.match(text)
    if m is None or " ".join(m.group("verb").lower().split()) not in params.edit_verbs:
        return False
    return terms_pattern(params.action_objects).search(text[m.end() :]) is not None


def _no_more(doc: Doc, params: Params) -> bool:
    """A verbless stop order: "No more letters or visits please", "no further action until I say"."""
    if not any(t.lower_ in ("please", "until") for t in doc):
        return False
    for m in _NO_MORE.finditer(doc.text):
        window = doc.text[m.end() : m.end() + 40]
        if terms_pattern(params.action_objects).search(window):
            return True
    return False


def detect(message: Message, ctx: Context, params: Params) -> Iterator[Hit]:
    member = tone.sender_member(message, ctx)
    if member is None:
        return
    staff = tone.staff_recipients(message, ctx)
    companies = [a for a in message.to if tone.is_company(ctx, a)]
    if not staff and not companies:
        return
    contractor = not staff
    own = tone.own_sentences(message, documents=not contractor)
    whole = " ".join(s.text for s in own)
    if terms_pattern(params.deference_terms).search(whole) or terms_pattern(
        params.formal_decision_terms
    ).search(whole):
        return
    strong = tone.phrases(
        tuple(params.contractor_verbs + params.action_verbs if contractor else params.action_verbs), gap=4
    )
    objects = tone.phrases(tuple(params.contractor_objects if contractor else params.action_objects))
    bypass = tone.phrases(tuple(params.bypass_terms))
    openers = {t.split()[0] for t in (*params.light_verbs, *params.action_verbs, *params.edit_verbs)}
    to_whom = ", ".join(a.email for a in (staff or companies))
    for s in own:
        if s.where.startswith("attachment:"):
            if _edit_line(s.text, params):
                yield _hit(f"the member's document tells {to_whom} to edit it", s)
                return
            continue
        # parse only a sentence with an operational verb, or with an operational object and a
        # directive cue ("please", "I want", "make sure", "could you", or opening with a verb)
        if (
            not strong.maybe_in(s.text)
            and not bypass.maybe_in(s.text)
            and not (
                objects.maybe_in(s.text)
                and (_DIRECTIVE_CUE.search(s.text) or tone.opening_word(s.text) in openers)
            )
        ):
            continue
        doc = tone.parse(ctx, s.text)
        if not contractor and (bypass.find(doc) or _no_more(doc, params)):
            yield _hit(f"the member tells {to_whom} to bypass procedure or stop action", s)
            return
        for d in _directives(doc):
            if _operational(d, params, contractor):
                who = "a contractor" if contractor else "an officer"
                action = max(_verb_phrases(d.verb), key=len)
                yield _hit(f"the member directs {who} ({to_whom}) to {action} ({d.form})", s)
                return


def _hit(reason: str, s: tone.Sentence) -> Hit:
    return Hit(reason=reason, evidence=(Evidence(s.where, s.text),))


RULE = Rule(id="member-instructs-officer", params=Params, detect=detect)
