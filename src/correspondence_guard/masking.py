"""Mask personal data in evidence before it is shown, stored or logged.

Identifiers keep a short prefix so a reader can tell which one is meant:
"NHS number 943 *** ****", "JT ** ** ** *", "PE29 ***", "07700 ******", "k***@gmail.com".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import regex

if TYPE_CHECKING:
    from spacy.language import Language

_PATTERNS: list[tuple[regex.Pattern[str], str | Callable[[regex.Match[str]], str]]] = [
    # e-mail addresses: first letter of the local part, whole domain; the parts no longer than
    # an address's can be (64 and 253 characters): unbounded, "a.a.a...@" and "@a.a.a..." were
    # quadratic (64 KB of them took 9 s)
    (
        regex.compile(r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]{0,63}@([A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,})\b"),
        r"\1***@\2",
    ),
    # a titled name ("Mrs Olwen Treharne", "Mr K Dolloway"): keep the title and the initials
    (
        regex.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?(?:\s+[A-Z](?:[a-z'’]+(?:-[A-Z][a-z'’]+)?|\.)?){1,3}\b"),
        lambda m: " ".join(
            w if i == 0 or len(w.rstrip(".")) == 1 else w[0] + "***" for i, w in enumerate(m.group(0).split())
        ),
    ),
    # NHS number: 3-3-4 digits
    (regex.compile(r"\b(\d{3})[ -]?\d{3}[ -]?\d{4}\b"), r"\1 *** ****"),
    # National Insurance number
    (regex.compile(r"\b([A-CEGHJ-PR-TW-Z]{2})\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b", regex.I), r"\1 ** ** ** *"),
    # UK postcode: keep the outward code
    (regex.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?)\s*\d[A-Z]{2}\b", regex.I), r"\1 ***"),
    # phone numbers: keep the dialling code (01632 ******, 020 ******, +44 7700 ******), with its
    # brackets if it has them ((01632) ******): the recogniser finds "086) 880 4187" too
    (
        regex.compile(
            r"(?<![\d*])(\+44\s?\(?0?\)?\s?\d{2,4}|\(?0\d{2,4}\)?)[\s-]?\d{3,4}[\s-]?\d{3,4}(?!\d)"
        ),
        r"\1 ******",
    ),
    # sort code and account number
    (regex.compile(r"\b(\d{2})-\d{2}-\d{2}\b"), r"\1-**-**"),
    (regex.compile(r"(?<![\d*])\d{8}(?![\d*])"), "********"),
    # dates of birth and other dates written with numbers
    (regex.compile(r"\b(?:19|20)\d{2}-\d{2}-\d{2}\b"), "****-**-**"),
    (regex.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-](\d{2}|\d{4})\b"), "**/**/****"),
    (
        regex.compile(
            r"\b\d{1,2}(st|nd|rd|th)?\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\s+(19|20)\d{2}\b",
            regex.I,
        ),
        "** ** ****",
    ),
    # house numbers in street addresses: keep the street, drop the number
    (
        regex.compile(
            r"\b(?:flat \d+[a-z]?,?\s+)?\d{1,4}[a-z]?,?\s+((?:[A-Z][a-z'’]+\s){1,3}(?:Road|Street|Lane|Avenue|Close|Way|"
            r"Drive|Court|Crescent|Gardens|Place|Terrace|Wharf|Mews|Row|Walk|Green|Hill|Park|Square|Grove|View|"
            r"Rise|Bank|Yard|Parade)\b)",
            regex.I,
        ),
        r"** \1",
    ),
    # case and claim references with digits (BEN-558210, HSG/2026/0412); the digit is looked for
    # within 40 characters, not to the end of the run: from every "AB-" of "AB-AB-AB-..." that
    # was quadratic (64 KB took 19 s)
    (regex.compile(r"\b([A-Z]{2,5})[-/ ]?(?=[A-Z0-9/-]{0,40}\d)[A-Z0-9/-]{4,}\b"), r"\1-****"),
]

MAX_EVIDENCE = 200


def mask_text(text: str) -> str:
    """Mask identifiers in ``text`` and cut it to a readable length."""
    text = " ".join(text.split())
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    if len(text) > MAX_EVIDENCE:
        text = text[: MAX_EVIDENCE - 1].rstrip() + "…"
    return text


def mask_name(name: str) -> str:
    """ "Keith Dolloway" -> "K*** D***": enough to recognise, not to identify."""
    return " ".join(w[0] + "***" if w[:1].isalpha() else w for w in name.split())


_MAY_NAME = regex.compile(r"\p{Lu}\p{Ll}+\W+\p{Lu}")  # two capitalised words in a row, as most names are
MAX_NER_CHARS = 5000


def mask_people(text: str, nlp: Language) -> str:
    """``mask_text``, and before it every person the NER finds, titled or not ("Jane Smith" ->
    "J*** S***"): for free text people type (a subject, an override's justification)."""
    head = text[:MAX_NER_CHARS]
    if _MAY_NAME.search(head):
        people = [e for e in nlp(head).ents if e.label_ == "PERSON"]
        for ent in reversed(people):
            text = text[: ent.start_char] + mask_name(ent.text) + text[ent.end_char :]
    return mask_text(text)
