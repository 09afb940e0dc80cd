"""A generated mail archive for the archive-review tests and bench/archive_scale.py.

``write_archive(root, n)`` writes ``n`` messages of Ashdown's (fictional, tests/data/directory.yaml)
mail, dated through 2025, into ``root``: two mbox files (``mbox/Inbox.mbox``, ``mbox/Sent.mbox``),
a Maildir with a Maildir++ subfolder (``maildir``, ``maildir/.Archive``) and a folder of .eml
files in subfolders (``eml/2025-01`` ...), plus one file that is not an e-mail at all. Every
seventh message replies to all members (a finding), every 25th sends a resident's personal data
to a councillor's gmail address (a high finding, masked evidence), one in 50 has no Message-ID,
and the last message of Inbox.mbox is a copy of the first (the same Message-ID: one record, two
places). Generation is deterministic: the same ``n`` gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import mailbox
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parents[1] / "data" / "directory.yaml"
BEATRIX = "Beatrix Quennell <cllr.beatrix.quennell@ashdown.gov.uk>"
NKECHI = "Nkechi Farrant <cllr.nkechi.farrant@ashdown.gov.uk>"
OSWIN = "Oswin Thackeray <oswin.thackeray@ashdown.gov.uk>"
MARISOL = "Marisol Quayle <marisol.quayle@ashdown.gov.uk>"
ALL = "All Councillors <all.councillors@ashdown.gov.uk>"
BAD_NAME = "scan-0001.eml"
START = dt.datetime(2025, 1, 6, 8, 0, tzinfo=dt.UTC)


@dataclass
class Archive:
    root: Path
    keys: set[str] = field(default_factory=set)  # distinct message keys expected (Message-IDs)
    without_id: int = 0  # messages keyed by their bytes
    files: int = 0  # messages written (with the copy), not counting the bad file

    @property
    def sources(self) -> list[str]:
        return [f"mbox:{self.root / 'mbox' / 'Inbox.mbox'}", f"mbox:{self.root / 'mbox' / 'Sent.mbox'}",
                f"maildir:{self.root / 'maildir'}", f"folder:{self.root / 'eml'}"]  # fmt: skip


def message(n: int) -> tuple[bytes, str]:
    """Message ``n``: (raw bytes with CRLF, its Message-ID or "")."""
    when = START + dt.timedelta(hours=3 * n)
    mid = "" if n % 50 == 49 else f"<archive-{n}@ashdown.gov.uk>"
    if n % 25 == 3:
        sender, to, subject = OSWIN, "lorcan.pettifer77@gmail.com", f"Your constituent {n}"
        body = (
            "As requested: Mrs Jane Smith of 12 Tollgate Lane, NHS number 943 476 5919, is in rent "
            "arrears and has dementia."
        )
        extra: tuple[str, ...] = ()
    elif n % 7 == 0:
        sender, to, subject = BEATRIX, ALL, f"Re: Budget amendment {n}"
        body = "I agree with the proposal and will support it at Full Council."
        extra = ("In-Reply-To: <budget-original@ashdown.gov.uk>",)
    elif n % 2:
        sender, to, subject = OSWIN, MARISOL, f"Site visit {n}"
        body = f"Can we meet at the depot on Tuesday? Item {n} on the list.\nFrom the depot we can walk."
        extra = ()
    else:
        sender, to, subject = MARISOL, OSWIN, f"Depot rota {n}"
        body = f"The rota for week {n % 52 + 1} is attached to the team calendar as usual."
        extra = ()
    headers = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {format_datetime(when)}",
               *([f"Message-ID: {mid}"] if mid else []), "MIME-Version: 1.0",
               "Content-Type: text/plain; charset=utf-8", *extra]  # fmt: skip
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode(), mid


def _mbox_entry(raw: bytes) -> bytes:
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    quoted = [b">" + line if line.startswith(b"From ") else line for line in lines]
    return b"From MAILER-DAEMON Mon Jan  6 08:00:00 2025\n" + b"\n".join(quoted).rstrip(b"\n") + b"\n\n"


def write_archive(root: Path, n: int = 2000) -> Archive:
    archive = Archive(root)
    inbox, sent = int(n * 0.4), int(n * 0.2)
    maildir_n = int(n * 0.25)
    parts = {"inbox": range(0, inbox - 1), "sent": range(inbox - 1, inbox - 1 + sent)}
    rest = range(inbox - 1 + sent, n)
    (root / "mbox").mkdir(parents=True, exist_ok=True)
    for name, numbers in parts.items():
        with open(root / "mbox" / f"{name.capitalize()}.mbox", "wb") as f:
            for i in numbers:
                raw, mid = message(i)
                f.write(_mbox_entry(raw))
                archive.files += 1
                archive.keys.add(mid) if mid else None
                archive.without_id += not mid
            if name == "inbox":  # a copy of the first message: the same key, a second place
                f.write(_mbox_entry(message(0)[0]))
                archive.files += 1
    box = mailbox.Maildir(root / "maildir", create=True)
    old = box.add_folder("Archive")
    numbers = list(rest)
    for k, i in enumerate(numbers[:maildir_n]):
        raw, mid = message(i)
        (old if k % 3 == 0 else box).add(raw)
        archive.files += 1
        archive.keys.add(mid) if mid else None
        archive.without_id += not mid
    for i in numbers[maildir_n:]:
        raw, mid = message(i)
        month = (START + dt.timedelta(hours=3 * i)).strftime("%Y-%m")
        folder = root / "eml" / month
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:06d}.eml").write_bytes(raw)
        archive.files += 1
        archive.keys.add(mid) if mid else None
        archive.without_id += not mid
    (root / "eml" / BAD_NAME).write_bytes(b"\x00\x01\x02 scanner output \xff\xfe")
    return archive
