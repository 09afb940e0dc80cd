"""``review --archive --source pst:PATH`` on a real Outlook PST file, written at test time.

pst_build.py writes a Unicode PST with Aspose.Email for Python via .NET (evaluation mode, a
test-only dependency: the 'pst-tests' extra), in a subprocess, from Ashdown's (fictional,
tests/data/directory.yaml) mail: folders Inbox, Projects and Projects/Archive, messages that the
checker flags for who they go to (a member's reply to all members, a resident's personal data
sent to a councillor's gmail address, in the body or only in an attached CSV, a member asking a
junior officer) and clean ones; one is stored without transport headers, as a message composed
in Outlook is, so its sender and recipients come from its MAPI properties. The review of the
PST, through the command line, must read every message, give each finding its PST folder, and
find, message by message, what the same review finds in an mbox file of the original messages.
A PST with one damaged message must still be read to the end.

Evaluation mode adds "(Aspose.Email Evaluation)" to every subject (the report masks it as a
name: "(Aspose.E*** E***)") and a notice in front of every body: subjects are compared without
it. Without Aspose.Email the tests skip, which CI (CG_TESTS_REQUIRE_ALL=1) counts as failure.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from archive_mail import DIRECTORY, _mbox_entry

from correspondence_guard.cli import main

BUILDER = Path(__file__).with_name("pst_build.py")
WATERMARK = re.compile(r"\(Aspose\.E[^()]*\)$")  # "(Aspose.Email Evaluation)", or masked
TOP = "Top of Personal Folders"  # the folder Aspose puts a PST's own folders in
BEATRIX = "Beatrix Quennell <cllr.beatrix.quennell@ashdown.gov.uk>"
NKECHI = "Nkechi Farrant <cllr.nkechi.farrant@ashdown.gov.uk>"
OSWIN = "Oswin Thackeray <oswin.thackeray@ashdown.gov.uk>"
MARISOL = "Marisol Quayle <marisol.quayle@ashdown.gov.uk>"
KIERAN = "Kieran Reddaway <kieran.reddaway@ashdown.gov.uk>"  # a junior officer
JASPER = "Jasper Oakes <jasper.oakes@ashdown.gov.uk>"  # officer grade: below a manager
ALL = "All Councillors <all.councillors@ashdown.gov.uk>"
GMAIL = "lorcan.pettifer77@gmail.com"  # Cllr Pettifer's personal address
NHS_NUMBER = "943 476 5919"
# [MS-PST] 5.1: the byte substitution (mpbbR) of a PST with bCryptMethod 1, as Aspose and Outlook write it
PERMUTE = bytes.fromhex(
    "41361362a8216ebbf416cc047f64e85d1ef2cb2a74c55e35d295479e962d9a88"
    "4c7d843fdbac31b6485ff6c4d8398be7233b388ec8c1df25b120a546604e9cfb"
    "aad35651457c550007c92b9d859b09a08fadb30f63ab894bd7a7155a716642bf"
    "264a6b98faea7753b270052cfd593a867ece06eb827857c78d43afb41cd45bcd"
    "e2e9274fc3087280cfb0eff5286dbe304d3492d50e3c2232e5e4f99fc2d10a81"
    "12e1ee918376e397e6618a1779a4b7dc907a5c8c02a6ca69de501a1193b95287"
    "58fced1d37491b6ae0293399bd6cd994f340546ff0c673b8d63e6518441fdd67"
    "10f10c19ecae03a1147ba90bfff8a3c0a201f72ebc2468750dfeba2fb5d0da3d"
)


def require_aspose() -> None:
    """Skip without Aspose.Email, but fail in CI (CG_TESTS_REQUIRE_ALL=1), as ``support.require_tool`` does."""
    if importlib.util.find_spec("aspose") is None:  # looked up, not imported: .NET stays out of pytest
        reason = "aspose-email-for-python-via-net is not installed (pip install -e '.[pst-tests]')"
        if os.environ.get("CG_TESTS_REQUIRE_ALL"):
            pytest.fail(reason + " and CG_TESTS_REQUIRE_ALL is set")
        pytest.skip(reason)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, _class=EmailMessage, policy=SMTP)  # type: ignore[return-value]


@dataclass(frozen=True)
class Mail:
    folder: str  # its folder in the PST, under TOP
    mode: str  # "headers", or "properties": stored without transport headers
    raw: bytes  # RFC 822
    expect: str  # the rule it is written to break, or "" for a clean message

    @property
    def message_id(self) -> str:
        return str(parse(self.raw)["Message-ID"])


def rfc822(n: int, sender: str, to: str, subject: str, body: str, *extra: tuple[str, str],
           attachment: tuple[str, bytes] | None = None) -> bytes:  # fmt: skip
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC) + dt.timedelta(hours=n))
    msg["Message-ID"] = f"<pst-{n}@ashdown.gov.uk>"
    for name, value in extra:
        msg[name] = value
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], maintype="text", subtype="csv", filename=attachment[0])
    return msg.as_bytes()


CASEWORK = (
    f"name,address,nhs_number,issue\nJane Smith,12 Tollgate Lane,{NHS_NUMBER},rent arrears and dementia\n"
)
DAMAGED_TEXT = "Minutes of the Saltmarsh Quay working group"
# fmt: off
MAILS = [
    Mail("Inbox", "headers", rfc822(
        1, BEATRIX, ALL, "Re: Budget amendment", "I agree with the proposal and will support it at Full Council.",
        ("In-Reply-To", "<budget-original@ashdown.gov.uk>")), "reply-all-members"),
    Mail("Inbox", "headers", rfc822(2, OSWIN, MARISOL, "Site visit", "Can we meet at the depot on Tuesday?"), ""),
    Mail("Inbox", "headers", rfc822(
        3, OSWIN, GMAIL, "Your constituent’s case – Tollgate Lane", "As requested: Mrs Jane Smith of 12 Tollgate "
        f"Lane, NHS number {NHS_NUMBER}, is in rent arrears and has dementia."), "personal-data-to-private-address"),
    Mail("Projects", "headers", rfc822(
        4, MARISOL, OSWIN, "Depot rota – week 10 ✓", "The rota for week 10 is on the team calendar as usual."), ""),
    Mail("Projects/Archive", "properties", rfc822(
        5, NKECHI, KIERAN, "Bins on Heron Reach – missed again", "Could you tell me why the bins on Heron Reach "
        "were not collected this week?", ("Cc", JASPER)), "member-contacts-junior-officer"),
    Mail("Projects/Archive", "headers", rfc822(
        6, OSWIN, GMAIL, "Papers for Saturday's surgery", "The papers for your surgery are attached.",
        attachment=("casework.csv", CASEWORK.encode())), "personal-data-to-private-address"),
]
DAMAGED = Mail("Inbox", "headers", rfc822(
    7, OSWIN, MARISOL, "Minutes", f"{DAMAGED_TEXT} are on the shared drive."), "")
# fmt: on


def build_pst(mails: list[Mail], out: Path) -> Path:
    """``out``, written by pst_build.py in a subprocess (the venv's Python)."""
    spec = out.with_suffix(".json")
    entries = [
        {"folder": m.folder, "mode": m.mode, "rfc822": base64.b64encode(m.raw).decode()} for m in mails
    ]
    spec.write_text(json.dumps({"messages": entries}))
    done = subprocess.run([sys.executable, str(BUILDER), str(spec), str(out)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0 and out.stat().st_size > 0, done.stderr
    return out


def damage(pst: Path, text: str) -> None:
    """Break the one message whose body holds ``text``: the signature of the heap its properties
    are in (MS-PST 2.3.1.2: bSig 0xEC, then 0xBC for a property context), at the start of the
    64-byte-aligned block that holds the (permuted) body text."""
    data = bytearray(pst.read_bytes())
    assert data[:4] == b"!BDN" and data[513] == 1  # a PST whose data blocks are permuted
    at = data.find(text.encode("utf-16-le").translate(PERMUTE))
    assert at > 0
    start = at - at % 64
    while at - start < 8192 and data[start + 2 : start + 4] != b"\xec\xbc".translate(PERMUTE):
        start -= 64  # back to the start of the block (at most 8 KiB)
    assert data[start + 2 : start + 4] == b"\xec\xbc".translate(PERMUTE)
    data[start + 2] ^= 0xFF
    pst.write_bytes(data)


def review(tmp: Path, source: str) -> tuple[int, dict[str, Any], Path]:
    """(exit status, findings.json, report folder) of ``review --archive`` on one source, in a new store."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "cg.yaml"
    config.write_text(f"directory: {DIRECTORY}\nstore:\n  url: sqlite:///{tmp / 'cg.db'}\n")
    out = tmp / "out"
    status = main(["review", "--archive", "--config", str(config), "--source", source, "--out", str(out)])
    return status, json.loads((out / "findings.json").read_text(encoding="utf-8")), out


def per_message(data: dict[str, Any]) -> dict[str, list[tuple[str, ...]]]:
    """Message-ID: its findings, sorted, as (rule, severity, sender, role, recipient classes, evidence, subject)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for f in data["findings"]:
        out.setdefault(f["message_id"], []).append(
            (f["rule"], f["severity"], f["sender"], f["sender_role"], json.dumps(f["recipient_classes"]),
             json.dumps(f["evidence"]), WATERMARK.sub("", f["subject"])))  # fmt: skip
    return {k: sorted(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def pst(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_aspose()
    return build_pst(MAILS, tmp_path_factory.mktemp("pst") / "cllr-archive.pst")


@pytest.fixture(scope="module")
def reviews(pst: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The review of the PST and, for reference, of an mbox file of the same original messages."""
    tmp = tmp_path_factory.mktemp("reviews")
    mbox = tmp / "same.mbox"
    mbox.write_bytes(b"".join(_mbox_entry(m.raw) for m in MAILS))
    return {"pst": review(tmp / "pst", f"pst:{pst}"), "mbox": review(tmp / "mbox", f"mbox:{mbox}")}


def test_every_message_of_the_pst_is_read_with_its_folder(reviews: dict[str, Any], pst: Path) -> None:
    status, data, out = reviews["pst"]
    assert status == 1  # findings
    run = data["run"]
    assert (run["messages_in_period"], run["checked"], run["could_not_check"]) == (len(MAILS), len(MAILS), 0)
    assert data["problems"] == []
    assert {f["message_id"] for f in data["findings"]} == {m.message_id for m in MAILS if m.expect}
    folder_of = {m.message_id: f"{pst.name}/{TOP}/{m.folder}" for m in MAILS}
    for f in data["findings"]:
        assert f["folders"] == [folder_of[f["message_id"]]], f
    html = (out / "report.html").read_text(encoding="utf-8")
    for folder in ("Inbox", "Projects/Archive"):
        assert f"Folder: {pst.name}/{TOP}/{folder}" in html
    assert NHS_NUMBER not in html  # evidence masked, as for any other source


def test_pst_findings_equal_those_of_the_same_messages_in_mbox(reviews: dict[str, Any]) -> None:
    got, want = per_message(reviews["pst"][1]), per_message(reviews["mbox"][1])
    assert reviews["mbox"][1]["run"]["checked"] == len(MAILS)
    for m in MAILS:  # the reference finds what each message was written for, and nothing else
        assert {f[0] for f in want.get(m.message_id, [])} == ({m.expect} if m.expect else set()), m.message_id
    (attached,) = [m for m in MAILS if b"casework.csv" in m.raw]
    assert all(e["where"] in ("attachment:casework.csv", "recipients")
               for e in json.loads(want[attached.message_id][0][5]))  # fmt: skip
    assert got == want


def test_a_message_without_transport_headers_keeps_its_sender_and_recipients(
    reviews: dict[str, Any], pst: Path
) -> None:
    import pypff

    from correspondence_guard.review.pst import to_mime

    (mail,) = [m for m in MAILS if m.mode == "properties"]
    f = pypff.file()
    f.open(str(pst))
    try:
        folder = f.get_root_folder()
        for name in (TOP, *mail.folder.split("/")):
            folder = next(s for s in folder.sub_folders if s.name == name)
        stored = [folder.get_sub_message(i) for i in range(folder.number_of_sub_messages)]
        (message,) = [s for s in stored if s.subject.startswith("Bins")]
        assert not (message.transport_headers or "").strip()  # the properties are all there is
        assert all((s.transport_headers or "").strip() for s in stored if s is not message)
        rebuilt = parse(to_mime(message))
    finally:
        f.close()
    original = parse(mail.raw)
    for header in ("From", "To", "Cc", "Message-ID", "Date"):
        assert rebuilt[header] == original[header], header
    assert WATERMARK.sub("", rebuilt["Subject"]) == original["Subject"]
    (finding,) = [f for f in reviews["pst"][1]["findings"] if f["message_id"] == mail.message_id]
    assert (finding["rule"], finding["sender_role"]) == (mail.expect, "member")
    assert finding["folders"] == [f"{pst.name}/{TOP}/Projects/Archive"]


def test_a_damaged_message_does_not_stop_the_run(reviews: dict[str, Any], tmp_path: Path) -> None:
    """The damaged message is the second of Inbox: it is recorded as unreadable, and every other
    message, the rest of its folder too, is checked with the same findings as before."""
    pst = build_pst([MAILS[0], DAMAGED, *MAILS[1:]], tmp_path / "damaged.pst")
    damage(pst, DAMAGED_TEXT)
    status, data, _ = review(tmp_path / "review", f"pst:{pst}")
    assert status == 1
    run = data["run"]
    assert (run["checked"], run["could_not_check"]) == (len(MAILS), 1)
    (problem,) = data["problems"]
    assert problem["kind"] == "message" and problem["source"] == f"{pst}#{pst.name}/{TOP}/Inbox#1"
    assert problem["problem"].startswith("could not read the message: OSError: ")  # libpff's error
    assert per_message(data) == per_message(reviews["mbox"][1])
