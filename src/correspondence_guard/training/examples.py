"""From a council's sources to labelled sentences, through the checker's own intake.

Each message is written as RFC 5322, parsed by ``intake.parse_eml`` and split into the
sender's own sentences exactly as the detectors split them, so the model learns from what it
will see. A sentence is labelled for a language rule only where that rule's role gate lets the
rule look at the message at all (a member writing to staff, a council sender...): elsewhere the
label is missing, because who sends a sentence is the gate's question, not the model's.
A sentence is positive where it holds, or is held in, a sentence the writer gave as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from correspondence_guard.detectors import REGISTRY
from correspondence_guard.detectors.base import Context
from correspondence_guard.detectors.tone import own_sentences
from correspondence_guard.directory import load_directory
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.policy import Settings
from correspondence_guard.training.corpus import LANGUAGE_RULES, Council, council_zone, to_eml


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    cats: dict[str, float]  # only the rules whose gate the message passes


@dataclass
class Labelled:
    """One message: its labels, the rules whose gate it passes, and its own sentences."""

    council: str
    id: str
    rules: frozenset[str]
    gated: frozenset[str]
    sentences: list[Sentence] = field(default_factory=list)


def _norm(text: str) -> str:
    return " ".join(text.split()).strip(" .").lower()


def carries(sentence: str, evidence: list[str]) -> bool:
    """The sentence holds an evidence sentence (or clause), or is one of several it spans."""
    s = _norm(sentence)
    for e in map(_norm, evidence):
        if e and (e in s or (len(s) >= 12 and s in e)):
            return True
    return False


def council_examples(council: Council, settings: Settings) -> tuple[list[Labelled], list[str]]:
    """The council's messages as labelled sentences, and evidence that matched no sentence."""
    ctx = Context(load_directory(council.folder / "directory.yaml"), settings)
    domain, tz = council_zone(council.folder)
    out: list[Labelled] = []
    unmatched: list[str] = []
    for source in council.messages:
        message = parse_eml(to_eml(source, domain, tz))
        gated = frozenset(
            r for r in LANGUAGE_RULES if (gate := REGISTRY[r].gate) is not None and gate(message, ctx)
        )
        item = Labelled(council.name, source.id, frozenset(source.rules), gated)
        sentences = own_sentences(message)
        evidence = source.evidence
        for s in sentences:
            cats = {r: float(r in source.rules and carries(s.text, evidence.get(r, []))) for r in gated}
            item.sentences.append(Sentence(s.text, cats))
        for r in source.rules:
            if r in LANGUAGE_RULES and not any(carries(s.text, evidence.get(r, [])) for s in sentences):
                unmatched.append(
                    f"{council.name}/{source.id}: {r}: no sentence of the new text carries its evidence"
                )
        out.append(item)
    return out, unmatched
