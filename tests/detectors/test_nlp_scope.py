"""The language model does not grow with the mail it reads (``base.nlp_scope``).

spaCy keeps every new word in its string store for the life of the process, so a service or
watcher reading names, references and numbers it has never seen would grow without end. Each
check runs in a memory zone that drops them, one check at a time per process.
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Callable

import pytest

from correspondence_guard import Checker, Message
from correspondence_guard.detectors import language
from correspondence_guard.detectors.base import load_nlp

pytestmark = pytest.mark.slow


def _unseen(rnd: random.Random) -> str:
    return "".join(rnd.choice(string.ascii_lowercase) for _ in range(11))


def _drafts(make_draft: Callable[..., Message], count: int, seed: int) -> list[Message]:
    """Drafts full of words the models have never seen: personal data to a private address (the
    analyser runs) and a member's words to an officer (the language rules' model reads them)."""
    rnd = random.Random(seed)
    drafts = []
    for i in range(count):
        name, street, word = _unseen(rnd).title(), _unseen(rnd).title(), _unseen(rnd)
        drafts.append(
            make_draft(
                sender="member:Lorcan",
                to="personal:Lorcan" if i % 2 else "officer:Kieran",
                subject=f"Case {word}",
                body=f"Mrs Jane {name} of {i + 3} {street} Lane, ref {word}{i}, phone 07700 900{100 + i}, "
                f"is in rent arrears and has dementia. Frankly Kieran is hopeless and {word}.",
            )
        )
    return drafts


def _summary(checker: Checker, message: Message) -> list[tuple[str, tuple[str, ...]]]:
    report = checker.check(message, source="test")
    return [(f.rule, tuple(e.text for e in f.evidence)) for f in report.findings]


def test_checking_unseen_words_leaves_the_string_store_as_it_was(
    checker: Checker, make_draft: Callable[..., Message]
) -> None:
    checker.warm_up()
    drafts = _drafts(make_draft, 40, seed=7)
    _summary(checker, drafts[0])  # anything loaded on first use is loaded now
    strings = load_nlp(checker.policy.settings.nlp_model).vocab.strings
    learned = language.model_for(checker.context).nlp.vocab.strings  # the language rules' own model
    before, learned_before = len(strings), len(learned)
    results = [_summary(checker, d) for d in drafts]
    assert len(strings) == before
    assert len(learned) == learned_before
    # the checks still found what they should, with their evidence intact after the zone ended
    private = [dict(r) for r in results[1::2]]
    assert all("personal-data-to-private-address" in r for r in private)
    assert all(ev and all(ev) for r in results for _, ev in r)  # evidence text survived the zone


def test_checks_in_several_threads_agree_with_checks_one_by_one(
    checker: Checker, make_draft: Callable[..., Message]
) -> None:
    """Threads share the model: one thread's zone must never drop the words another is using."""
    checker.warm_up()
    drafts = _drafts(make_draft, 24, seed=11)
    expected = [_summary(checker, d) for d in drafts]
    got: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(offset, len(drafts), 4):
                got[i] = _summary(checker, drafts[i])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert [got[i] for i in range(len(drafts))] == expected
