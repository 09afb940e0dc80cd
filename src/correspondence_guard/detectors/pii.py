"""Personal data in text: one Presidio AnalyzerEngine per process, with UK recognizers.

Built lazily on first use, so mail with no private recipient never pays for it. It shares
the spaCy model that the tone rules use (loaded once by ``base.load_nlp``). Presidio's
US-only recognizers are not registered, and nothing that fetches data at run time is
(its e-mail and URL recognizers would make tldextract download a suffix list).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Presidio is imported when the analyser is first built: internal mail never pays for it
    from presidio_analyzer import AnalyzerEngine, PatternRecognizer
    from spacy.language import Language

from correspondence_guard.detectors.base import load_nlp

IDENTIFIERS = {
    "UK_NHS": "NHS number",
    "UK_NINO": "National Insurance number",
    "UK_POSTCODE": "postcode",
    "UK_PHONE": "phone number",
    "DATE_OF_BIRTH": "date of birth",
    "UK_BANK": "bank details",
    "CASE_REFERENCE": "case reference",
    "HOME_ADDRESS": "home address",
}

_DATE = (
    r"(\d{1,2}[/.-]\d{1,2}[/.-](19|20)\d{2}|\d{1,2}(st|nd|rd|th)?\s+"
    r"(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?\s+(19|20)\d{2}|(19|20)\d{2}-\d{2}-\d{2})"
)


def _custom_recognizers() -> list[PatternRecognizer]:
    from presidio_analyzer import Pattern, PatternRecognizer

    # Case matters in these patterns (capitalised names and streets): no global IGNORECASE;
    # patterns that want it say (?i) themselves.
    recognizers = [
        PatternRecognizer(
            supported_entity="UK_PHONE",
            name="UkPhoneRecognizer",
            patterns=[
                Pattern(
                    "uk phone",
                    r"(?<![\d])(\+44\s?\(?0?\)?\s?|0)(\d{2,4}\)?[\s-]?\d{3,4}[\s-]?\d{3,4})(?![\d])",
                    0.5,
                )
            ],
            context=["tel", "phone", "mobile", "telephone", "call", "contact"],
        ),
        PatternRecognizer(
            supported_entity="DATE_OF_BIRTH",
            name="DateOfBirthRecognizer",
            # A date is only a date of birth in context: "DOB", "born", "date of birth", a dob column.
            patterns=[
                Pattern(
                    "dob labelled", rf"(?i)\b(d\.?o\.?b\.?|date of birth|born( on)?)\b[:\s,]*{_DATE}", 0.85
                ),
            ],
        ),
        PatternRecognizer(
            supported_entity="UK_BANK",
            name="UkBankRecognizer",
            patterns=[
                Pattern("sort code", r"\b\d{2}-\d{2}-\d{2}\b", 0.3),
                Pattern("sort code labelled", r"(?i)sort code[:\s]*\d{2}[- ]?\d{2}[- ]?\d{2}", 0.85),
                Pattern("account labelled", r"(?i)(account (number|no\.?)|a/c)[:\s]*\d{8}\b", 0.85),
            ],
            context=["sort code", "account", "bank"],
        ),
        PatternRecognizer(
            supported_entity="CASE_REFERENCE",
            name="CaseReferenceRecognizer",
            patterns=[
                # \s*+: the white space after the label is taken whole; [:.\s]* would otherwise
                # share it out again, quadratic ("Ref" and 64 KB of spaces took 7 s)
                Pattern(
                    "labelled reference",
                    r"(?i)\b(ref(erence)?|case|claim|file|application)\s*+(no\.?|number|ref)?[:.\s]*"
                    r"\(?[A-Z]{2,6}[-/]?\d{3,}[A-Z0-9/-]*",
                    0.6,
                ),
                Pattern("coded reference", r"\b[A-Z]{2,5}-\d{4,}(-\d+)?\b", 0.4),
            ],
            context=["ref", "reference", "case", "claim"],
        ),
        PatternRecognizer(
            supported_entity="PERSON",
            name="TitledNameRecognizer",
            # The small spaCy model misses many names; a title before capitalised words is a safe cue.
            patterns=[
                Pattern(
                    "title and name",
                    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?\s+(?:[A-Z][a-z'’-]+\s+){0,2}[A-Z][A-Za-z'’-]+",
                    0.7,
                )
            ],
        ),
        PatternRecognizer(
            supported_entity="HOME_ADDRESS",
            name="UkStreetAddressRecognizer",
            patterns=[
                Pattern(
                    "house number and street",
                    r"\b(flat \d+[a-z]?,?\s+)?\d{1,4}[a-z]?,?\s+([A-Z][a-z'’]+\s){1,3}(Road|Street|Lane|Avenue|Close|"
                    r"Way|Drive|Court|Crescent|Gardens|Place|Terrace|Wharf|Mews|Row|Walk|Green|Hill|Park|"
                    r"Square|Grove|View|Rise|Bank|Yard|Parade)\b",
                    0.6,
                )
            ],
        ),
    ]
    for recognizer in recognizers:
        recognizer.global_regex_flags = re.DOTALL | re.MULTILINE
    return recognizers


@functools.cache
def analyzer(model: str) -> AnalyzerEngine:
    """The process's AnalyzerEngine, on the already-loaded spaCy model ``model``."""
    import logging

    # Presidio logs the text it analyses at debug level: never let that reach a log.
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        NhsRecognizer,
        SpacyRecognizer,
        UkNinoRecognizer,
        UkPostcodeRecognizer,
    )

    nlp = load_nlp(model)
    skip = _not_needed_for_ner(nlp)

    class _NerOnlyEngine(SpacyNlpEngine):
        """Presidio needs tokens, entities and words to match its context lists against, not the
        parse, tags or lemmas: running the entity recogniser alone roughly halves the cost of
        each analysis. Its context test looks for a context word inside each nearby "lemma", so
        the lower-cased word serves ("numbers" holds "number"; "born" is kept as written)."""

        def process_text(self, text: str, language: str) -> Any:
            doc = self.nlp[language](text, disable=skip)  # type: ignore[index]
            for token in doc:
                token.lemma_ = token.lower_
            return self._doc_to_nlp_artifact(doc, language)

    engine = _NerOnlyEngine(
        models=[{"lang_code": "en", "model_name": model}],
        ner_model_configuration=NerModelConfiguration(
            labels_to_ignore=[
                "CARDINAL",
                "ORDINAL",
                "QUANTITY",
                "FAC",
                "ORG",
                "GPE",
                "LOC",
                "NORP",
                "EVENT",
                "PRODUCT",
                "WORK_OF_ART",
                "LAW",
                "LANGUAGE",
                "DATE",
                "MONEY",
                "PERCENT",
                "TIME",
            ]
        ),
    )
    # Share the loaded model: presidio would otherwise load it again (or try to download it).
    engine.nlp = {"en": nlp}  # type: ignore[assignment]
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON"]))
    registry.add_recognizer(NhsRecognizer())
    registry.add_recognizer(UkNinoRecognizer())
    registry.add_recognizer(UkPostcodeRecognizer())
    for recognizer in _custom_recognizers():
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


def _not_needed_for_ner(nlp: Language) -> list[str]:
    """The pipes the entity recogniser does without: all but "ner" and what it listens to (in
    the small English model it has its own token vectors; a transformer model shares them)."""
    needed = {"ner"}
    for name, pipe in nlp.pipeline:
        if "ner" in getattr(pipe, "listening_components", ()):
            needed.add(name)
    return [name for name in nlp.pipe_names if name not in needed]


# Any ten digits pass the NHS number's check digit one time in eleven (phone numbers, order and
# ticket numbers), and Presidio then scores them 1.0: one counts only with "NHS" or "health"
# in the 40 characters before it ("NHS number", "NHS no:", "(NHS 943 ...").
_NHS_LABEL = re.compile(r"(?i)\b(?:nhs|health)\b")


@dataclass(frozen=True, slots=True)
class Entity:
    kind: str  # PERSON or a key of IDENTIFIERS
    text: str
    start: int
    score: float


def find_entities(text: str, model: str, min_score: float = 0.4) -> list[Entity]:
    """Personal-data entities in ``text`` (at most the first 200,000 characters)."""
    text = text[:200_000]
    results = analyzer(model).analyze(text=text, language="en", score_threshold=min_score)
    return sorted(
        (
            Entity(r.entity_type, text[r.start : r.end], r.start, r.score)
            for r in results
            if r.entity_type != "UK_NHS" or _NHS_LABEL.search(text, max(0, r.start - 40), r.start)
        ),
        key=lambda e: e.start,
    )
