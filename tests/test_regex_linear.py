"""Every regular expression the package runs on message text takes linear time (issue 11).

The patterns are collected, not listed, so a new one is tested without anyone remembering to:

* every module-level ``re.Pattern`` or ``regex.Pattern`` of every module of the package (not
  the migrations or ``__main__``), also inside module-level lists, tuples, dicts and sets (and
  one level further inside tuples there, as in ``masking._PATTERNS``), and class attributes of
  module-level classes;
* the personal-data recognizers: the custom ones of ``detectors.pii._custom_recognizers()``
  and the predefined Presidio ones ``pii.analyzer`` registers, compiled as Presidio compiles
  them (``regex.compile(pattern, flags=recognizer.global_regex_flags)``);
* the policy's word lists as ``detectors.lexicon`` compiles them (one alternation per list).

Patterns built inside functions (``re.sub(r"...", ...)`` in a loop, the enquiry tracker's
acknowledgement phrases) are not collected.

Each pattern gets hostile inputs of 1 MB, the ones that make backtracking engines quadratic
(long runs, repeated near-misses, a run of white space then a run of letters, the shapes its
own parts invite), through ``search`` and a whole ``finditer``, each within BUDGET_S; each word
list gets its own terms cut short by a letter. Linear patterns take milliseconds; a quadratic
one takes hours on 1 MB. A ``regex`` pattern is run with ``timeout=``, so it fails after
TIMEOUT_S instead. The stdlib's ``re`` has no timeout and no thread can stop it, so an ``re``
pattern meets each input in growing steps (4 KB, 16 KB, 64 KB, 256 KB, 1 MB) and the first
step over budget fails it: a quadratic pattern fails within about 16 budgets (cubic: 64)
instead of hanging the suite, and the inputs still reach 1 MB.

Each super-linear pattern this found is fixed in the source, with the input and time in a
comment beside it. The whole file takes about 80 s here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

import pytest
import regex

import correspondence_guard

BUDGET_S = 2.0  # per pattern, input and operation at 1 MB; linear patterns take 1-100 ms here
TIMEOUT_S = 5 * BUDGET_S  # for regex patterns: a catastrophic one raises instead of running on
SIZES = (4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20)
# What the collection found when this test was written (module-level, Presidio, word lists); a
# few may go, but far fewer means the collection has stopped finding them.
EXPECTED_AT_LEAST = {"module": 40, "presidio": 11, "lexicon": 24}

# about 80 s, and the Presidio patterns need the analyser (and its spaCy model): the full run only
pytestmark = pytest.mark.slow

Compiled: TypeAlias = "re.Pattern[str] | regex.Pattern[str]"


@dataclass(frozen=True)
class Case:
    where: str
    pattern: Compiled
    terms: tuple[str, ...] = ()  # a word list's terms


# ---------------------------------------------------------------- collection


def _package_modules() -> Iterator[Any]:
    prefix = correspondence_guard.__name__ + "."
    for info in pkgutil.walk_packages(correspondence_guard.__path__, prefix):
        name = info.name
        if name.startswith(prefix + "store.migrations") or name.rsplit(".", 1)[-1] == "__main__":
            continue
        yield importlib.import_module(name)


def _patterns_in(value: Any, where: str, depth: int = 0) -> Iterator[Case]:
    if isinstance(value, re.Pattern | regex.Pattern):
        yield Case(where, value)
        return
    if depth > 1:
        return
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = [(f"{where}[{k!r}]", v) for k, v in value.items()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    else:
        return
    for name, item in items:
        # containers: their patterns and those of tuples in them (("pattern", replacement) pairs)
        if isinstance(item, re.Pattern | regex.Pattern) or (depth == 0 and isinstance(item, tuple)):
            yield from _patterns_in(item, name, depth + 1)


def module_patterns() -> list[Case]:
    cases: list[Case] = []
    for module in _package_modules():
        for name, value in vars(module).items():
            where = f"{module.__name__}.{name}"
            if inspect.isclass(value) and value.__module__ == module.__name__:
                for attr, member in vars(value).items():
                    cases.extend(_patterns_in(member, f"{where}.{attr}"))
            else:
                cases.extend(_patterns_in(value, where))
    return cases


def presidio_patterns() -> list[Case]:
    """The custom recognizers, and the predefined ones ``pii.analyzer`` imports and registers
    (found by name in its code, so the spaCy model is not loaded for this)."""
    from presidio_analyzer import PatternRecognizer, predefined_recognizers

    from correspondence_guard.detectors import pii

    recognizers: list[Any] = list(pii._custom_recognizers())
    for name in pii.analyzer.__wrapped__.__code__.co_names:
        cls = getattr(predefined_recognizers, name, None)
        if inspect.isclass(cls) and issubclass(cls, PatternRecognizer):
            predefined: Any = cls  # each predefined recognizer has its own defaults
            recognizers.append(predefined())
    return [
        Case(f"presidio.{r.name}.{p.name}", regex.compile(p.regex, flags=r.global_regex_flags))
        for r in recognizers
        for p in r.patterns
    ]


def lexicon_patterns() -> list[Case]:
    """Each word list of the default policy's rules, compiled as ``lexicon.terms_pattern`` does."""
    from correspondence_guard.detectors.lexicon import terms_pattern
    from correspondence_guard.policy import load_policy

    cases = []
    for rule, params in load_policy().params.items():
        for field, value in params:
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                cases.append(Case(f"policy:{rule}.{field}", terms_pattern(value).pattern, tuple(value)))
    return cases


def _unique(cases: list[Case]) -> list[Case]:
    seen: dict[tuple[type, str, int], Case] = {}
    for case in cases:
        key = (type(case.pattern), case.pattern.pattern, case.pattern.flags)
        seen.setdefault(key, case)
    return list(seen.values())


COLLECTED = {"module": module_patterns(), "presidio": presidio_patterns(), "lexicon": lexicon_patterns()}
CASES = _unique(COLLECTED["module"] + COLLECTED["presidio"])
WORD_LISTS = _unique(COLLECTED["lexicon"])


def test_the_collection_finds_the_patterns() -> None:
    counts = {kind: len(cases) for kind, cases in COLLECTED.items()}
    print(f"\n{len(CASES) + len(WORD_LISTS)} distinct patterns: {counts}")
    for kind, least in EXPECTED_AT_LEAST.items():
        assert counts[kind] >= least, f"only {counts[kind]} {kind} patterns found (expected {least}+)"
    wheres = {case.where for case in CASES + WORD_LISTS}
    # one of each way of being found
    for where in (
        "correspondence_guard.intake.body._WROTE",  # module level, re
        "correspondence_guard.masking._PATTERNS[1][0]",  # in a tuple in a list, regex
        "presidio.TitledNameRecognizer.",  # a custom recognizer
        "presidio.UkPostcodeRecognizer.",  # a predefined one
        "policy:personal-data-to-private-address.casework_terms",  # a word list
    ):
        assert any(w.startswith(where) for w in wheres), f"{where} was not collected"


# ---------------------------------------------------------------- hostile inputs


def _fill(unit: str, prefix: str = "", suffix: str = "") -> Callable[[int], str]:
    """``prefix``, ``unit`` repeated, ``suffix``: ``n`` characters in all."""

    def make(n: int) -> str:
        room = max(0, n - len(prefix) - len(suffix))
        return prefix + (unit * (room // len(unit) + 1))[:room] + suffix

    return make


def _halves(prefix: str, first: str, second: str) -> Callable[[int], str]:
    """``prefix``, then half ``first`` repeated, then half ``second``: a run of one kind of
    character that a greedy part can share out with the next part in n ways, then a long tail
    that each of those ways scans."""

    def make(n: int) -> str:
        half = max(0, n - len(prefix)) // 2
        return prefix + _fill(first)(half) + _fill(second)(half)

    return make


# White space after a word that a pattern starts with ("Re", "Ref", "On ...,", "From", "Dear"):
# two white-space parts of a pattern can share out a run in n ways.
LABELS = (
    "re", "ref", "case", "on abcd,", "*from*", "dear", "dob", "sort code", "account no", "kind regards",
    "Mr", "flat 1,", "12", "-- original message", "this email and any files", "+44", "tel", "born on",
)  # fmt: skip


def _labels_then_spaces(n: int) -> str:
    run = " " * (n // len(LABELS) - 40)
    return "".join(label + run for label in LABELS) + "x"


INPUTS: dict[str, Callable[[int], str]] = {
    "a": _fill("a"),
    "dashes": _fill("-"),
    "spaces": _fill(" "),
    "newlines": _fill("\n"),
    "newline-space": _fill("\n "),
    "a-space": _fill("a "),
    "a-dash": _fill("a-"),
    "a1-": _fill("a1-"),
    "digits": _fill("7"),
    "lt": _fill("<"),
    "Mr": _fill("Mr "),
    "Ab": _fill("Ab "),
    "sentences": _fill("Ab cd. "),
    "quoting": _fill("> "),
    "unicode": _fill("Éé’ \u2028\xa0"),
    "word-then-dash-line": _fill("a", suffix="\n" + "-" * 72 + "\n"),
    "spaces-then-letters": _halves("", " ", "x"),
    # shapes the patterns suggest
    "labels-then-spaces": _labels_then_spaces,
    "on-date-spaces-letters": _halves("on abcd,", " ", "x"),  # "On <date>, <author> wrote:"
    "on-commas": _fill(", ", prefix="on"),
    "disclaimer-no-stop": _fill("this email and any files "),
    "reply-prefixes": _fill("re: "),
    "title-names": _fill("Dr Ab-Cd "),
    "house-numbers": _fill("12 Ab "),
    "dashed-digits": _fill("12-34-"),
    "day-month": _fill("1 Jan "),
    "phone-prefixes": _fill("+44 "),
    "postcode-like": _fill("AB12 "),
    "code-no-digits": _fill("AB-"),
    "reference-like": _fill("AB-1234-"),
    "email-like": _fill("a@a."),
    "local-part-then-at": _fill("a.", suffix="@"),
    "at-then-domain": _fill("a.", prefix="@"),
    "label-lines": _fill("Ab: \n"),
    "mailto-unclosed": _fill("[mailto:a"),
}


def _run(pattern: Compiled, text: str, op: str) -> float:
    started = time.perf_counter()
    if isinstance(pattern, regex.Pattern):
        if op == "search":
            pattern.search(text, timeout=TIMEOUT_S)
        else:
            for _ in pattern.finditer(text, timeout=TIMEOUT_S):
                pass
    elif op == "search":
        pattern.search(text)
    else:
        for _ in pattern.finditer(text):
            pass
    return time.perf_counter() - started


def _too_slow(pattern: Compiled, inputs: dict[str, Callable[[int], str]]) -> str | None:
    """The first input, size and operation over budget (or timed out), or None. A ``regex``
    pattern is run on 1 MB at once (its timeout stops a catastrophic one); an ``re`` pattern,
    which has no timeout, on growing sizes, stopping at the first over budget."""
    sizes = SIZES[-1:] if isinstance(pattern, regex.Pattern) else SIZES
    for name, make in inputs.items():
        for size in sizes:
            text = make(size)
            for op in ("search", "finditer"):
                try:
                    took = _run(pattern, text, op)
                except TimeoutError:
                    return f"input {name!r}, {size:,} chars, {op}: timed out after {TIMEOUT_S} s"
                if took > BUDGET_S:
                    return f"input {name!r}, {size:,} chars, {op}: {took:.2f} s (budget {BUDGET_S} s)"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.where for c in CASES])
def test_pattern_is_linear_on_hostile_input(case: Case) -> None:
    slow = _too_slow(case.pattern, INPUTS)
    assert slow is None, f"{case.where} = {case.pattern.pattern!r} is super-linear: {slow}"


def _word_list_inputs(terms: tuple[str, ...]) -> dict[str, Callable[[int], str]]:
    """Near misses of a word list's own terms (each cut short by a letter, so every branch of
    the alternation is tried and fails late), and each first word followed by a long run of
    white space (the ``\\s+`` between a term's words)."""
    firsts = sorted({t.split()[0] for t in terms if t.split()})

    def first_words_then_spaces(n: int) -> str:
        run = " " * max(1, n // len(firsts) - 40)
        return "".join(word + run for word in firsts) + "x"

    return {
        "near-misses": _fill(" ".join(t[:-1] for t in terms if len(t) > 1) + " "),
        "first-words-then-spaces": first_words_then_spaces,
    }


@pytest.mark.parametrize("case", WORD_LISTS, ids=[c.where for c in WORD_LISTS])
def test_word_list_is_linear_on_its_own_near_misses(case: Case) -> None:
    slow = _too_slow(case.pattern, _word_list_inputs(case.terms))
    assert slow is None, f"{case.where} ({len(case.terms)} terms) is super-linear: {slow}"
