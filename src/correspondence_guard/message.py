"""The one Message model every input form becomes, and what it is made of."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox: display name and lower-cased address."""

    email: str
    name: str = ""

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


# Outlook's quoted headers write "Name [mailto:a@x]"; Python 3.12.x and later parse addresses
# strictly and give up on the brackets, so they are rewritten as "Name <a@x>" first. No "[" in
# the address: from every "[mailto:" of "[mailto:a[mailto:a..." it read on to the end (quadratic)
_MAILTO = re.compile(r"\[mailto:([^\[\]\s]+)\]", re.IGNORECASE)


def parse_addresses(*values: str) -> tuple[Address, ...]:
    """Parse header values such as ``"A <a@x>, b@y"`` into Addresses; junk is dropped."""
    out: list[Address] = []
    for name, addr in getaddresses([_MAILTO.sub(r"<\1>", v) for v in values if v]):
        addr = addr.strip().strip("<>").lower()
        if "@" in addr and " " not in addr:
            out.append(Address(email=addr, name=name.strip()))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment with its extracted text (empty when it has none or could not be read)."""

    name: str
    content_type: str
    size: int
    text: str = ""
    problem: str = ""  # why no text was extracted, if there was a reason


@dataclass(frozen=True, slots=True)
class QuotedHeader:
    """The header block of an earlier message quoted in the body (Outlook "From:/Sent:/To:")."""

    sender: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    subject: str = ""
    sent: str = ""


@dataclass(frozen=True, slots=True)
class Body:
    """The body split into the sender's own words and everything else.

    ``new_text`` is what the sender wrote now; ``quoted_text`` holds earlier messages
    quoted or forwarded below it; ``signature`` and ``disclaimer`` are set apart so rules
    judge the sender's words, not the office address or the standard footer.
    """

    new_text: str = ""
    quoted_text: str = ""
    signature: str = ""
    disclaimer: str = ""
    quoted_headers: tuple[QuotedHeader, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    """One e-mail, whatever form it came in (.eml, .msg, Outlook add-in draft)."""

    sender: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    subject: str = ""
    date: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    is_reply: bool = False
    is_forward: bool = False
    body: Body = field(default_factory=Body)
    attachments: tuple[Attachment, ...] = ()
    problems: tuple[str, ...] = ()  # defects met while parsing (decoded with replacement)

    @property
    def recipients(self) -> tuple[Address, ...]:
        """Every recipient, To then Cc then Bcc."""
        return (*self.to, *self.cc, *self.bcc)

    @property
    def is_reply_or_forward(self) -> bool:
        return self.is_reply or self.is_forward

    def earlier_participants(self) -> set[str]:
        """Addresses that were on the quoted earlier messages (sender, To, Cc)."""
        seen: set[str] = set()
        for q in self.body.quoted_headers:
            for a in (q.sender, *q.to, *q.cc):
                if a is not None:
                    seen.add(a.email)
        return seen
