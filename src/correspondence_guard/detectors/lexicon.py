"""Word lists from the policy, compiled once into `regex` patterns, and sentence helpers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator

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


_WORDS = regex.compile(r"\w+")


# Beginnings longer than this are not kept: every prefix of a 100 KB "word" would take GBs.
# A term whose first word is longer is always tried (Terms._always).
MAX_ANCHOR = 40
_CACHED_TEXT = 20_000  # longer texts are not kept in the cache below


@functools.lru_cache(maxsize=8192)
def _beginnings(word: str) -> frozenset[str]:
    return frozenset(word[:k] for k in range(1, min(len(word), MAX_ANCHOR) + 1))


def word_beginnings(text: str) -> frozenset[str]:
    """Every beginning (up to MAX_ANCHOR characters) of every word of ``text``, lower-cased: an
    anchor occurs in the text (as the start of a word, with any ending: "botch" in "botched")
    exactly when it is in this set."""
    return _cached_beginnings(text) if len(text) <= _CACHED_TEXT else _word_beginnings(text)


@functools.lru_cache(maxsize=1024)
def _cached_beginnings(text: str) -> frozenset[str]:
    return _word_beginnings(text)


def _word_beginnings(text: str) -> frozenset[str]:
    found: set[str] = set()
    for word in set(_WORDS.findall(text.lower())):
        found |= _beginnings(word[:MAX_ANCHOR])
    return frozenset(found)


class Terms:
    """A word list as one case-insensitive whole-word pattern, with a cheap test first.

    A term can only match where its first word begins a word of the text, so when no term's
    first word is among the text's word beginnings (worked out once per text, and shared with
    every other list tested on it) the pattern is not run. A long alternation of words costs
    the `regex` engine every branch at every position; the set test costs one intersection.
    """

    def __init__(self, terms: tuple[str, ...]):
        self.pattern = _compile(terms)
        firsts = [_WORDS.match(t.strip().lower()) for t in terms if t.strip()]
        # a term that does not start with a word character ("£", "#") is always tried
        self._always = any(m is None or len(m.group(0)) > MAX_ANCHOR for m in firsts)
        self._firsts = frozenset(m.group(0) for m in firsts if m is not None)

    def maybe_in(self, text: str) -> bool:
        return self._always or not self._firsts.isdisjoint(word_beginnings(text))

    def search(self, text: str, pos: int = 0) -> regex.Match[str] | None:
        return self.pattern.search(text, pos) if self.maybe_in(text) else None

    def finditer(self, text: str) -> Iterator[regex.Match[str]]:
        return self.pattern.finditer(text) if self.maybe_in(text) else iter(())

    def sub(self, repl: str | Callable[[regex.Match[str]], str], text: str) -> str:
        return self.pattern.sub(repl, text) if self.maybe_in(text) else text


@functools.cache
def _terms(terms: tuple[str, ...]) -> Terms:
    return Terms(terms)


def terms_pattern(terms: Iterable[str]) -> Terms:
    """A case-insensitive whole-word pattern for any of ``terms`` (built once per list)."""
    return _terms(tuple(terms))


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
