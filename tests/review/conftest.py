"""Fixtures for the review tests: a folder of .eml files spanning several days, a config, a store.

``write_mail(folder)`` writes Ashdown's (fictional) mail for Monday 2 to Thursday 5 March 2026
(Europe/London is on GMT then, so local times are UTC): each day ``day - 1`` replies to all
members by a member (a reply-all-members finding) and one clear officer
message; on the 3rd an officer sends a resident's personal data to a councillor's gmail
address (high severity, masked evidence); a member's enquiry of 16 February is never answered
(overdue) and one of 18 February is answered; one message is dated 7 March (outside the
period) and one file is not an e-mail at all (dated 4 March by its modification time).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from correspondence_guard.config import Config
from correspondence_guard.store.db import Store

TESTS = Path(__file__).resolve().parents[1]
DIRECTORY = TESTS / "data" / "directory.yaml"
SINCE = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 3, 6, tzinfo=dt.UTC)  # the end of Thursday 5 March (exclusive)
BEATRIX = "Beatrix Quennell <cllr.beatrix.quennell@ashdown.gov.uk>"
NKECHI = "Nkechi Farrant <cllr.nkechi.farrant@ashdown.gov.uk>"
OSWIN = "Oswin Thackeray <oswin.thackeray@ashdown.gov.uk>"
MARISOL = "Marisol Quayle <marisol.quayle@ashdown.gov.uk>"
NHS_NUMBER = "943 476 5919"


def eml(
    when: dt.datetime, sender: str, to: str, subject: str, body: str, mid: str, extra: tuple[str, ...] = ()
) -> bytes:
    headers = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {format_datetime(when)}",
               f"Message-ID: <{mid}@ashdown.gov.uk>", "MIME-Version: 1.0",
               "Content-Type: text/plain; charset=utf-8", *extra]  # fmt: skip
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


def messages() -> list[tuple[str, bytes]]:
    """(file name, raw bytes) of every test message (not the bad file)."""
    out = []
    for day in (2, 3, 4, 5):
        for n in range(day - 1):
            when = dt.datetime(2026, 3, day, 9 + n, 15, tzinfo=dt.UTC)
            out.append((f"2026-03-{day:02d}-reply-{n}.eml", eml(
                when, BEATRIX, "All Councillors <all.councillors@ashdown.gov.uk>", f"Re: Budget amendment {day}.{n}",
                "I agree with the proposal and will support it at Full Council.", f"reply-{day}-{n}",
                ("In-Reply-To: <budget-original@ashdown.gov.uk>",))))  # fmt: skip
        out.append((f"2026-03-{day:02d}-visit.eml", eml(
            dt.datetime(2026, 3, day, 14, 0, tzinfo=dt.UTC), OSWIN, MARISOL, f"Site visit {day}",
            "Can we meet at the depot on Tuesday?", f"visit-{day}")))  # fmt: skip
    out.append(("2026-03-03-constituent.eml", eml(
        dt.datetime(2026, 3, 3, 11, 0, tzinfo=dt.UTC), OSWIN, "lorcan.pettifer77@gmail.com", "Your constituent",
        f"As requested: Mrs Jane Smith of 12 Tollgate Lane, NHS number {NHS_NUMBER}, is in rent arrears and has "
        "dementia.", "constituent")))  # fmt: skip
    out.append(("2026-02-16-enquiry.eml", eml(
        dt.datetime(2026, 2, 16, 10, 0, tzinfo=dt.UTC), NKECHI, OSWIN, "Damp in the Orchard Rise flats",
        "Could you let me know what is being done about the damp in the Orchard Rise flats?", "enquiry-damp")))  # fmt: skip
    out.append(("2026-02-18-enquiry.eml", eml(
        dt.datetime(2026, 2, 18, 10, 0, tzinfo=dt.UTC), NKECHI, OSWIN, "Harrowdene Road potholes",
        "Could you tell me when the potholes on Harrowdene Road will be repaired?", "enquiry-potholes")))  # fmt: skip
    out.append(("2026-02-19-answer.eml", eml(
        dt.datetime(2026, 2, 19, 15, 0, tzinfo=dt.UTC), OSWIN, NKECHI, "RE: Harrowdene Road potholes",
        "The highways team will repair them on 2 March; the contractor has been booked and the road will stay "
        "open while the work is done.", "answer-potholes",
        ("In-Reply-To: <enquiry-potholes@ashdown.gov.uk>",))))  # fmt: skip
    out.append(("2026-03-07-later.eml", eml(
        dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC), BEATRIX, "All Councillors <all.councillors@ashdown.gov.uk>",
        "Re: Weekend", "I agree with the proposal and will support it at Full Council.", "later",
        ("In-Reply-To: <budget-original@ashdown.gov.uk>",))))  # fmt: skip
    return out


GOOD_IN_PERIOD = 10 + 4 + 1  # replies to all members, site visits, the constituent
BAD_FILE = "2026-03-04-scan.eml"


def write_mail(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in messages():
        (folder / name).write_bytes(raw)
    bad = folder / BAD_FILE
    bad.write_bytes(b"\x00\x01\x02 scanner output \xff\xfe")
    stamp = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC).timestamp()
    os.utime(bad, (stamp, stamp))
    return folder


@pytest.fixture()
def mail_dir(tmp_path: Path) -> Path:
    return write_mail(tmp_path / "mail")


def make_config(tmp_path: Path, sources: list[dict[str, Any]], **review: Any) -> Config:
    return Config(
        directory=DIRECTORY,
        store={"url": f"sqlite:///{tmp_path / 'cg.db'}"},  # type: ignore[arg-type]
        review={"out_dir": tmp_path / "reports", "sources": sources, **review},  # type: ignore[arg-type]
    )


@pytest.fixture()
def config(tmp_path: Path, mail_dir: Path) -> Config:
    return make_config(tmp_path, [{"kind": "folder", "path": mail_dir}])


@pytest.fixture()
def store(config: Config) -> Iterator[Store]:
    s = Store(config.store.url)
    yield s
    s.close()
