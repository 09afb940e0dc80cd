"""Shared helpers for the tone rules (personal criticism, undue pressure, instructions).

What they share: the sender's own sentences (subject and new text, optionally the sender's
own attached documents), who the message goes to, phrase lists matched on words or lemmas
with a cheap regex prefilter, one cached spaCy parse per candidate sentence, and small
grammar tests on that parse (negation, doubt, subjects, directives). No rule lives here.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import regex

from correspondence_guard.detectors.base import Context, clears_with_scope, load_nlp, own_segments
from correspondence_guard.detectors.lexicon import sentences, word_beginnings
from correspondence_guard.directory import AddressClass, Member, Officer
from correspondence_guard.message import Address, Message

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token

# --- the sender's own words ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of the sender's own words and where it was found."""

    where: str  # "subject", "body", "attachment:name.docx"
    text: str


def own_sentences(message: Message, documents: bool = False) -> list[Sentence]:
    """Sentences of the subject and new text; with ``documents``, also of the attachments of a
    message that is not a forward (a document the sender attaches is theirs, e.g. a marked-up
    report; a forward's attachments were someone else's)."""
    out = [Sentence(where, s) for where, text in own_segments(message) for s in sentences(text)]
    if documents and not message.is_forward:
        for att in message.attachments:
            for line in att.text.splitlines():
                out.extend(Sentence(f"attachment:{att.name}", s) for s in sentences(line))
    return out


_OPENING = regex.compile(r"[\w'’-]+")
_OPENERS = frozenset("please just so now then and kindly simply also but ok okay".split())
# words a sentence often opens with that are not a verb in the imperative
_NOT_COMMAND = frozenset(
    (
        "i we you he she it they the a an this that these those there thanks thank many could can "
        "would will if as when is are do does did have has sorry apologies hope dear hi hello my "
        "our your his her their in on at for with from by to of after before however "
        "unfortunately yes no great good best kind regards all any some what why how who where "
        "which i'm i've i'd i'll it's that's there's we're we've you're cllr councillor mr mrs ms "
        "dr re fw fwd morning afternoon evening hey welcome congratulations well sure fine "
    ).split()
)


def opening_word(text: str) -> str:
    """The first word of a sentence after "please", "just", "so" ... (lower-cased)."""
    words: list[str] = _OPENING.findall(text[:80])
    for word in words:
        if word.lower() not in _OPENERS:
            return word.lower()
    return ""


def may_command(text: str) -> bool:
    """Cheap guess (no parse) that a sentence could open with an imperative verb."""
    word = opening_word(text)
    return bool(word) and word not in _NOT_COMMAND and not word[0].isdigit()


# --- who the message is between ---------------------------------------------------------

_COUNCIL_STAFF = (AddressClass.OFFICER, AddressClass.TEAM, AddressClass.COUNCIL)


def sender_member(message: Message, ctx: Context) -> Member | None:
    """The sender if a member, from a council address or a personal one the directory lists."""
    member = ctx.sender_member(message)
    if member is None and message.sender is not None:
        member = ctx.directory.member(message.sender.email)
    return member


def staff_recipients(message: Message, ctx: Context) -> list[Address]:
    """To recipients who are council staff: officers and council mailboxes, not members or lists."""
    return [a for a in message.to if ctx.classify(a.email) in _COUNCIL_STAFF]


def officer_recipients(message: Message, ctx: Context) -> list[Officer]:
    """Directory officers in To."""
    return [o for a in message.to if (o := ctx.directory.officer(a.email)) is not None]


def to_officers_only(message: Message, ctx: Context) -> bool:
    """Every To recipient is council staff (an officer or a team/service mailbox), and at
    least one is a directory officer: "you" in the text then means an officer."""
    return (
        bool(message.to)
        and all(ctx.classify(a.email) in _COUNCIL_STAFF for a in message.to)
        and bool(officer_recipients(message, ctx))
    )


def is_company(ctx: Context, address: Address) -> bool:
    """An external organisation's own domain (a contractor or consultant), not a private mailbox."""
    return ctx.classify(address.email) is AddressClass.EXTERNAL


# --- phrase lists -------------------------------------------------------------------------

_WORD = regex.compile(r"\w+|\*|[^\w\s]")


class Phrases:
    """A list of phrases matched on token words or lemmas ("botch" matches "botched").

    A phrase is words separated by spaces; ``*`` stands for any one word ("out of * depth").
    ``maybe_in(text)`` is a cheap regex test for the whole phrase (each word with any ending,
    "not" also as "n't", "is" as any form of "be"), used to skip parsing sentences that
    cannot match.
    """

    def __init__(self, terms: Iterable[str], gap: int = 0):
        self.terms = [tuple(_WORD.findall(t.lower())) for t in terms if t.strip()]
        self._by_first: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        by_anchor: dict[str, list[str]] = defaultdict(list)
        for words in self.terms:
            self._by_first[words[0]].append(words)
            by_anchor[_anchor(words)].append(_phrase_regex(words, gap))
        # an anchor that begins with a shorter anchor is looked up under the shorter one
        anchors = sorted(by_anchor, key=len)
        self._by_anchor: dict[str, list[regex.Pattern[str]]] = {}
        for a in anchors:
            home = next((b for b in self._by_anchor if a.startswith(b)), a)
            self._by_anchor.setdefault(home, [])
            self._by_anchor[home].extend(regex.compile(p, regex.I) for p in by_anchor[a])
        self._anchors = frozenset(self._by_anchor)

    def maybe_in(self, text: str) -> bool:
        """Cheap test: an anchor word begins some word of the text, then the phrases anchored on it.

        The word beginnings of a sentence are worked out once (cached) and shared by every list
        the tone rules test it against, so each further list costs one set intersection.
        """
        present = self._anchors & word_beginnings(text)
        return any(p.search(text) for anchor in present for p in self._by_anchor[anchor])

    def find(self, doc: Doc | Span) -> list[Span]:
        """The spans of ``doc`` that match a phrase (longest first at each position)."""
        found: list[Span] = []
        tokens = list(doc)
        for i, tok in enumerate(tokens):
            candidates = self._by_first.get(tok.lower_, []) + self._by_first.get(tok.lemma_.lower(), [])
            candidates += self._by_first.get("*", [])
            for words in sorted(set(candidates), key=len, reverse=True):
                if i + len(words) <= len(tokens) and all(
                    _word_matches(w, tokens[i + k]) for k, w in enumerate(words)
                ):
                    found.append(doc[i : i + len(words)])
                    break
        return found


_BE = {"be", "is", "are", "am", "was", "were"}


def _word_matches(word: str, tok: Token) -> bool:
    lemma = tok.lemma_.lower()
    return word == "*" or word == tok.lower_ or word == lemma or (word in _BE and lemma == "be")


_VARIANTS = {
    "not": r"(?:(?<!\w)(?:not|never|no)|n['’]t)(?!\w)",
    "be": r"(?:(?<!\w)(?:be|is|are|am|was|were|been|being)|['’](?:s|re|m))(?!\w)",
    "will": r"(?:(?<!\w)(?:will|wo)|['’]ll)(?!\w)",
    "would": r"(?:(?<!\w)would|['’]d)(?!\w)",
    "have": r"(?:(?<!\w)(?:have|has|had|having)|['’](?:ve|d))(?!\w)",
    "*": r"(?<!\w)[\w'’-]+",
}
_VARIANTS.update({w: _VARIANTS["be"] for w in ("is", "are", "am", "was", "were")})


_STOP = frozenset(
    (
        "a an the to of in on at up it is be do no not you your i we my me he she his her will "
        "would have what who that this for with by so and or if can could are am "
    ).split()
)


def _anchor(words: tuple[str, ...]) -> str:
    """The word a phrase is looked up by: its longest word that is not a common small word."""
    plain = [w for w in words if w[0].isalnum() and w not in _VARIANTS]
    content = [w for w in plain if w not in _STOP] or plain or ["*"]
    return max(content, key=len)


def _phrase_regex(words: tuple[str, ...], gap: int = 0) -> str:
    parts = [
        _VARIANTS.get(w) or (rf"(?<!\w){regex.escape(w)}\w*" if w[0].isalnum() else regex.escape(w))
        for w in words
    ]
    return (rf"(?:\W+[\w'’-]+){{0,{gap}}}\W*" if gap else r"\W*").join(parts)


@functools.cache
def phrases(terms: tuple[str, ...], gap: int = 0) -> Phrases:
    """The compiled Phrases for a policy word list (built once per list); ``gap`` lets the
    prefilter allow that many words inside a phrase ("move the family up")."""
    return Phrases(terms, gap)


# --- parsing -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _parse(model: str, text: str) -> Doc:
    nlp = load_nlp(model)
    return nlp(text, disable=[name for name in ("ner",) if name in nlp.pipe_names])


clears_with_scope(_parse.cache_clear)  # its Docs' words go when the message's nlp_scope ends


def parse(ctx: Context, text: str) -> Doc:
    """The dependency parse of one sentence (cached for the message: the three tone rules share it)."""
    return _parse(ctx.settings.nlp_model, text)


# --- grammar tests ------------------------------------------------------------------------

SUBJECT_DEPS = {"nsubj", "nsubjpass", "csubj", "expl"}
CLAUSE_DEPS = {"ROOT", "ccomp", "xcomp", "advcl", "relcl", "acl", "conj", "parataxis", "csubj", "pcomp"}
_DOUBT = {"doubt", "question", "wonder", "ask"}
_NEG_WORDS = {"never", "hardly", "barely", "scarcely"}
_RELATIVE = {"who", "that", "which", "whom"}


def is_verb(tok: Token) -> bool:
    return tok.pos_ in ("VERB", "AUX") or tok.tag_.startswith("VB") or tok.tag_ == "MD"


def clause_of(tok: Token) -> Token:
    """The verb (or copula) heading the clause ``tok`` is in."""
    t = tok
    for _ in range(12):
        if (
            is_verb(t)
            and t.dep_ not in ("aux", "auxpass")
            and (t.dep_ in CLAUSE_DEPS or any(c.dep_ in SUBJECT_DEPS for c in t.children))
        ):
            return t
        if t.head.i == t.i:
            return t
        t = t.head
    return t


def subjects(verb: Token) -> list[Token]:
    """The subjects of a clause verb: its own, else those of the verb it is conjoined to or
    controlled by ("can't follow a process, loses paperwork"; "appears to think"); a relative
    pronoun stands for the noun the clause modifies."""
    t = verb
    for _ in range(4):
        subs = [c for c in t.children if c.dep_ in SUBJECT_DEPS]
        if subs:
            return [t.head if s.lower_ in _RELATIVE and t.dep_ == "relcl" else s for s in subs]
        if t.dep_ in ("conj", "xcomp") and t.head.i != t.i:
            t = t.head
            continue
        break
    return []


def _has_neg(tok: Token) -> bool:
    for c in tok.children:
        if c.dep_ == "neg" or c.lower_ in _NEG_WORDS:
            return True
        if c.dep_ == "advmod" and any(g.dep_ == "neg" for g in c.children):  # "no longer"
            return True
    return False


# verbs through which a negation reaches the clause below: "I don't think she is ...",
# "I'm not asking you to ...", "I no longer believe you are ..."
_CARRIERS = frozenset(
    (
        "think say believe suggest mean claim consider feel imply suppose find call want ask "
        "expect tell accept agree pretend seem appear try need "
    ).split()
)


def negated(tok: Token, levels: int = 2) -> bool:
    """True when the clause of ``tok`` is negated, or one of the ``levels`` clauses above it
    whose verb carries negation down (think, say, ask, ...): "I don't think she is ...",
    "I no longer think you are ...", "I'm not asking you to ..."."""
    t = clause_of(tok)
    if _has_neg(tok) or _has_neg(t):
        return True
    for _ in range(levels):
        if t.head.i == t.i or t.dep_ not in ("ccomp", "xcomp"):
            break  # negation reaches down into a complement, not across "and"/"but"
        t = clause_of(t.head)
        if t.lemma_.lower() not in _CARRIERS:
            return False
        if _has_neg(t):
            return True
    return False


def doubted(tok: Token) -> bool:
    """True when the clause of ``tok`` is put in question: "(I'd ask) whether she is capable",
    "I doubt he is up to it", or the sentence is a question about it."""
    t = clause_of(tok)
    if any(c.dep_ == "mark" and c.lower_ in ("whether", "if") for c in t.children):
        return True
    return t.head.i != t.i and t.head.lemma_.lower() in _DOUBT and t.dep_ == "ccomp"


def in_plain_subtree(tok: Token, root: Token, max_depth: int = 4) -> bool:
    """True when ``tok`` hangs under ``root`` through phrase-internal links only (objects,
    prepositions, compounds, appositions), not through another clause."""
    t = tok
    for _ in range(max_depth):
        if t.i == root.i:
            return True
        if t.head.i == t.i or t.dep_ in CLAUSE_DEPS - {"pcomp"}:
            return False
        t = t.head
    return t.i == root.i


def is_vocative(tok: Token) -> bool:
    """A name that opens the sentence and is set off by a comma ("Marisol, stop the action"):
    the small model often takes it for the subject of the verb that follows."""
    sent = tok.sent
    return (
        tok.i == sent.start
        and tok.pos_ in ("PROPN", "NOUN")
        and tok.i + 1 < sent.end
        and tok.nbor(1).text == ","
    )


def is_imperative(tok: Token, depth: int = 0) -> bool:
    """A bare verb with no subject, modal or "to": "Please cancel it", "Just make the change",
    "Cancel it and let him know" (a conjoined verb counts when its head is imperative)."""
    if tok.tag_ != "VB" or any(c.dep_ in SUBJECT_DEPS and not is_vocative(c) for c in tok.children):
        return False
    if any(c.dep_ in ("aux", "auxpass") and c.tag_ in ("MD", "TO") for c in tok.children):
        return False
    if any(c.lower_ in ("please", "just", "kindly") for c in tok.children) or (
        tok.i > 0 and tok.nbor(-1).lower_ in ("please", "just", "kindly")
    ):
        return True
    if tok.dep_ in ("ROOT", "parataxis"):
        return True
    if all(t.lower_ in _OPENERS or t.is_punct for t in tok.doc[tok.sent.start : tok.i]):
        return True  # a sentence that opens with the verb: "Sort out a refund, she has waited"
    return tok.dep_ == "conj" and depth < 3 and is_imperative(tok.head, depth + 1)
