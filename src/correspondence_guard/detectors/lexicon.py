"""Word lists from the policy, compiled once into `regex` patterns, and sentence helpers."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

import regex


@functools.cache
def _compile(terms: tuple[str, ...]) -> regex.Pattern[str]:
    parts = []
    for term in sorted(set(terms), key=len, reverse=True):
        words = [regex.escape(w) for w in term.strip().split()]
        if words:
            # flexible white space and an optional plural/possessive ending
            parts.append(r"\s+".join(words) + r"(?:s|es|'s|’s)?")
    if not parts:
        return regex.compile(r"(?!x)x")
    return regex.compile(r"(?<![\w-])(?:" + "|".join(parts) + r")(?![\w-])", regex.I)


def terms_pattern(terms: Iterable[str]) -> regex.Pattern[str]:
    """A case-insensitive whole-word pattern for any of ``terms``."""
    return _compile(tuple(terms))


def find_terms(text: str, terms: Iterable[str]) -> list[str]:
    """The terms of the list that occur in ``text``, as written there."""
    return [m.group(0) for m in terms_pattern(terms).finditer(text)]


_SENTENCE = regex.compile(
    r"(?<=[.!?])\s+(?=[\"'‘“(]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-•*]\s)|\n(?=[A-Z][^\n]{0,60}:\s*\n)"
)


def sentences(text: str) -> Iterator[str]:
    """Split text into sentences with a light rule (no model): enough for lexicon checks."""
    for part in _SENTENCE.split(text):
        part = " ".join(part.split())
        if part:
            yield part
