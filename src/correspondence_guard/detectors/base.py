"""What every detector gets: the Rule record and the Context it runs in."""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from correspondence_guard.directory import AddressClass, Directory, Member, Officer
from correspondence_guard.findings import Hit
from correspondence_guard.message import Address, Message
from correspondence_guard.settings import Settings

if TYPE_CHECKING:
    from spacy.language import Language


@dataclass(frozen=True, slots=True)
class Rule:
    """A detector: its rule id, its Params model and its detect function."""

    id: str
    params: type[BaseModel]
    detect: Callable[[Message, Context, Any], Iterable[Hit]]
    doc: str = ""
    # a learned language rule: whether the rule looks at this message at all (who sends it, to
    # whom); the model only judges the sentences of messages that pass
    gate: Callable[[Message, Context], bool] | None = None


_LOADED: dict[str, Language] = {}
_SCOPE_LOCK = threading.Lock()
_SCOPE_CACHES: list[Callable[[], None]] = []


@functools.cache
def load_nlp(model: str) -> Language:
    """Load a spaCy model package once per process (installed from PyPI, never downloaded)."""
    import spacy

    try:
        _LOADED[model] = nlp = spacy.load(model)
        return nlp
    except OSError:
        from correspondence_guard.errors import PolicyError

        raise PolicyError(
            f"settings.nlp_model: spaCy model {model!r} is not installed (pip install it; nothing is downloaded)"
        ) from None


@contextlib.contextmanager
def nlp_scope(model: str) -> Iterator[None]:
    """One message's use of the language model, one message at a time in the process.

    spaCy keeps every new word it reads (a name, a reference number) in its string store for
    the life of the process: a service reading council mail would grow without end. Inside
    this scope, spaCy's memory zone drops the words the message added when it ends, so no Doc
    parsed here may outlive it: caches of Docs register with ``clears_with_scope``. Only one
    thread at a time is inside (the zone is the model's, not the thread's: another thread's
    words would be dropped under it).
    """
    with _SCOPE_LOCK:
        nlp = _LOADED.get(model)
        if nlp is None:  # not loaded yet: what this message loads stays, as the model's own words do
            yield
            return
        with nlp.memory_zone():
            try:
                yield
            finally:
                for clear in _SCOPE_CACHES:
                    clear()


def clears_with_scope(cache_clear: Callable[[], None]) -> None:
    """Empty this cache (of Docs, or anything holding them) whenever an ``nlp_scope`` ends."""
    _SCOPE_CACHES.append(cache_clear)


def _domain_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(pattern).replace(r"\*", r"[a-z0-9-]+(?:\.[a-z]{2,3})?") + "$")


@dataclass(eq=False)  # hashed by identity: classify() is cached per Context
class Context:
    """The directory and settings a message is checked against; built once per process."""

    directory: Directory
    settings: Settings
    _private: list[re.Pattern[str]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._private = [
            _domain_pattern(p) for p in (*self.settings.private_domains, *self.settings.extra_private_domains)
        ]

    @property
    def nlp(self) -> Language:
        return load_nlp(self.settings.nlp_model)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Context per process
    def classify(self, email: str) -> AddressClass:
        """Council (member, officer, list, team, other council), trusted, private or external."""
        email = email.lower()
        d = self.directory
        if d.is_personal_address(email):
            return AddressClass.PRIVATE
        if d.is_council_domain(email):
            if d.list_kind(email):
                return AddressClass.LIST
            if d.team(email):
                return AddressClass.TEAM
            if d.member(email):
                return AddressClass.MEMBER
            if d.officer(email):
                return AddressClass.OFFICER
            return AddressClass.COUNCIL
        if d.is_trusted_domain(email):
            return AddressClass.TRUSTED
        domain = email.rpartition("@")[2]
        if any(p.match(domain) for p in self._private):
            return AddressClass.PRIVATE
        return AddressClass.EXTERNAL

    def is_private(self, email: str) -> bool:
        return self.classify(email) is AddressClass.PRIVATE

    def is_outside(self, email: str) -> bool:
        """Outside the council and its trusted partners: external or private."""
        return self.classify(email) in (AddressClass.PRIVATE, AddressClass.EXTERNAL)

    def sender_member(self, message: Message) -> Member | None:
        """The sender, if a member writing from a council address."""
        if message.sender is None or not self.directory.is_council_domain(message.sender.email):
            return None
        return self.directory.member(message.sender.email)

    def sender_officer(self, message: Message) -> Officer | None:
        if message.sender is None or not self.directory.is_council_domain(message.sender.email):
            return None
        return self.directory.officer(message.sender.email)

    def new_recipients(self, message: Message) -> list[Address]:
        """Recipients who were not on the quoted earlier messages (a forward discloses afresh to them)."""
        earlier = message.earlier_participants()
        names = {
            q_addr.name.lower()
            for q in message.body.quoted_headers
            for q_addr in (q.sender, *q.to, *q.cc)
            if q_addr is not None and q_addr.name
        }
        out = []
        for a in message.recipients:
            person = self.directory.person(a.email)
            if a.email in earlier or (person is not None and person.email in earlier):
                continue
            if a.name and a.name.lower() in names:
                continue
            if person is not None and any(person.name.lower() in n for n in names):
                continue
            out.append(a)
        return out


def own_segments(message: Message) -> list[tuple[str, str]]:
    """The sender's own words: subject and new text (not quoted text, signature or disclaimer)."""
    return [(w, t) for w, t in (("subject", message.subject), ("body", message.body.new_text)) if t.strip()]


def attachment_segments(message: Message) -> list[tuple[str, str]]:
    return [(f"attachment:{a.name}", a.text) for a in message.attachments if a.text.strip()]


def carried_segments(message: Message, ctx: Context, recipients: list[Address]) -> list[tuple[str, str]]:
    """What a message carries to ``recipients``: own words, attachments, and quoted text when a
    forward or reply sends it to someone who was not on the earlier message."""
    segments = own_segments(message) + attachment_segments(message)
    if message.body.quoted_text.strip():
        newcomers = {a.email for a in ctx.new_recipients(message)}
        if message.is_forward or any(a.email in newcomers for a in recipients):
            segments.append(("quoted", message.body.quoted_text))
    return segments
