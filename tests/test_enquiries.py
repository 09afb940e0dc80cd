"""member-enquiry-overdue: threads.find_enquiries, mailbox reading and the `enquiries` command.

The mailbox holds members' enquiries sent on the Thursday before Easter 2025 (Good Friday
18 April, Easter Monday 21 April) and the Friday before the May Day bank holiday (5 May), so
every limit crosses a bank holiday and a weekend. All people are fictional.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import mailbox
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from correspondence_guard.cli import main
from correspondence_guard.commands.enquiries import CSV_FIELDS
from correspondence_guard.directory import load_directory
from correspondence_guard.intake import parse_eml
from correspondence_guard.mailbox.folders import read_mailbox
from correspondence_guard.policy import EnquirySettings
from correspondence_guard.threads import Status, find_enquiries, normalise_subject

DIRECTORY = Path(__file__).parent / "data" / "enquiries_directory.yaml"
LONDON = ZoneInfo("Europe/London")
ANN = "Ann Green <cllr.ann.green@fictional.gov.uk>"
BOB = "Bob Stone <cllr.bob.stone@fictional.gov.uk>"
CAROL = "Carol White <carol.white@fictional.gov.uk>"
DAN = "Dan Black <dan.black@fictional.gov.uk>"
WASTE = "Waste Team <waste@fictional.gov.uk>"
COL = EnquirySettings(acknowledge_within_days=2, reply_within_days=10, cite=["COL 7"])


def when(day: int, hour: int, minute: int = 0, month: int = 4) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, tzinfo=LONDON)


# (folder, id, From, To, Subject, sent, body, In-Reply-To id or None)
# fmt: off
MAILBOX = [
    # An officer's own message to a member, and the member's reply: not an enquiry.
    ("sent", "c1", CAROL, [ANN], "Consultation on the local plan", when(14, 9), "The consultation opens today.", None),
    ("inbox", "c2", ANN, [CAROL], "RE: Consultation on the local plan", when(15, 9), "Thanks, I will read it.", "c1"),
    # A member writing to another member: not an enquiry.
    ("inbox", "m1", ANN, [BOB], "Ward surgery", when(16, 9), "Can you cover Saturday?", None),
    # E1: answered on its due date (Thu 17 + 5 working days = Mon 28 April), then thanked.
    ("inbox", "e1", ANN, [CAROL], "Planning application at 4 Mill Road", when(17, 10),
     "Could you tell me when the application will be decided?", None),
    ("sent", "e1r", CAROL, [ANN], "RE: Planning application at 4 Mill Road", when(28, 15),
     "Dear Cllr Green,\n\nThe application goes to the planning committee on 12 June. The officer report "
     "will be published a week before, and the applicant has been asked for revised drawings of the rear "
     "extension.\n\nKind regards\nCarol White", "e1"),
    ("inbox", "e1t", ANN, [CAROL], "RE: Planning application at 4 Mill Road", when(28, 16),
     "Thank you, that is very helpful.", "e1r"),
    # E2: to a team mailbox; another officer answers a day late, matched by subject only.
    ("inbox", "e2", BOB, [WASTE], "Missed bin collections on Hill Street", when(17, 16, 30),
     "Residents tell me the bins were missed again.", None),
    ("sent", "e2r", DAN, [BOB], "RE: Missed bin collections on Hill Street", when(29, 11),
     "Dear Cllr Stone,\n\nThe crew missed Hill Street on two days because of a blocked road. A catch-up "
     "round was done on Saturday, and the route now starts from the other end of the street.\n\nRegards\nDan",
     None),
    # E3: sent after hours, so it counts from Tue 22 April (due Tue 29); acknowledged only.
    ("inbox", "e3", ANN, [DAN], "Fly-tipping behind Mill Road shops", when(17, 18, 30),
     "There is a pile of rubbish behind the shops again.", None),
    ("sent", "e3a", DAN, [ANN], "RE: Fly-tipping behind Mill Road shops", when(23, 9),
     "Dear Cllr Green,\n\nThank you, I have received your email and will get back to you shortly.\n\nDan",
     "e3"),
    # E4: never answered (due Mon 28 April); the member chases it.
    ("inbox", "e4", BOB, [CAROL], "Street lighting on Park Lane", when(17, 9),
     "Two street lights on Park Lane have been out for a month.", None),
    ("inbox", "e4c", BOB, [CAROL], "RE: Street lighting on Park Lane", when(24, 9), "Any news on this?", "e4"),
    ("sent", "e4o", CAROL, [BOB], "Automatic reply: Street lighting on Park Lane", when(24, 9, 1),
     "I am out of the office until 6 May and will reply on my return.", "e4c"),
    # E5: a member's forward of a resident's e-mail is an enquiry (Fri 25 April, due Fri 2 May).
    ("inbox", "e5", BOB, [CAROL], "FW: Noise from the Red Lion", when(25, 11),
     "Could you look at this for my resident?\n\n---------- Forwarded message ---------\n"
     "From: A Resident <resident@example.com>\nSubject: Noise from the Red Lion\n\nIt is very loud.", None),
    # ... which the officer passes to a colleague: not a reply to the member.
    ("sent", "e5i", CAROL, [DAN], "RE: FW: Noise from the Red Lion", when(25, 12),
     "Dan, could you visit the pub this week and let Cllr Stone know what you find?", "e5"),
]
# fmt: on


def build(tmp: Path, form: str = "folder") -> Path:
    """Write the mailbox as a folder of .eml files (inbox/, sent/), an mbox file or a Maildir."""
    messages = [(folder, _eml(*rest)) for folder, *rest in MAILBOX]
    if form == "folder":
        for n, (folder, raw) in enumerate(messages):
            (tmp / "mail" / folder).mkdir(parents=True, exist_ok=True)
            (tmp / "mail" / folder / f"{n:03}.eml").write_bytes(raw)
        return tmp / "mail"
    if form == "mbox":
        box = mailbox.mbox(tmp / "mail.mbox")
        for _, raw in messages:
            box.add(raw)
        box.close()
        return tmp / "mail.mbox"
    maildir = mailbox.Maildir(tmp / "Maildir")
    sent = maildir.add_folder("Sent")
    for folder, raw in messages:
        (sent if folder == "sent" else maildir).add(raw)
    return tmp / "Maildir"


def _eml(
    mid: str, sender: str, to: list[str], subject: str, sent: dt.datetime, body: str, reply: str | None
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = f"<{mid}@fictional.gov.uk>"
    if reply:
        msg["In-Reply-To"] = f"<{reply}@fictional.gov.uk>"
        msg["References"] = f"<{reply}@fictional.gov.uk>"
    msg.set_content(body)
    return bytes(msg)


def enquiries(path: Path, as_of: dt.date, settings: EnquirySettings | None = None) -> dict[str, object]:
    found = find_enquiries(
        read_mailbox(path), load_directory(DIRECTORY), settings or EnquirySettings(), as_of
    )
    return {e.message_id.split("@")[0]: e for e in found}


def statuses(found: dict[str, object]) -> dict[str, tuple[str, int]]:
    return {k: (e.status.value, e.days_overdue) for k, e in found.items()}  # type: ignore[attr-defined]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return build(tmp_path)


def test_enquiries_found_and_not_follow_ups(folder: Path) -> None:
    found = enquiries(folder, dt.date(2025, 4, 29))
    assert sorted(found) == ["e1", "e2", "e3", "e4", "e5"]  # not c2 (reply to an officer), m1, e1t, e4c
    assert found["e5"].status is Status.OPEN  # the officer's note to a colleague is no reply
    e4 = found["e4"]
    assert e4.member == "Bob Stone" and e4.officers == ("Carol White",) and e4.chasers == 1
    assert found["e2"].officers == ("Waste Team",)
    assert found["e1"].citations == ("CAM 7.6",)


def test_statuses_across_easter_bank_holidays_and_weekend(folder: Path) -> None:
    found = enquiries(folder, dt.date(2025, 4, 29))
    assert statuses(found) == {
        "e1": ("answered", 0),
        "e2": ("answered", 0),
        "e3": ("acknowledged", 0),
        "e4": ("overdue", 1),
        "e5": ("open", 0),
    }
    # Thu 17 April + 5 working days skips Good Friday, the weekend and Easter Monday
    assert found["e4"].due == dt.date(2025, 4, 28) and found["e1"].due == dt.date(2025, 4, 28)
    assert not found["e1"].late
    assert found["e2"].late and found["e2"].days_late == 1 and found["e2"].answered_by == "Dan Black"
    e3 = found["e3"]
    assert e3.counted_from == dt.date(2025, 4, 22) and e3.due == dt.date(2025, 4, 29)  # after 17:00
    assert e3.acknowledged == when(23, 9) and e3.answered is None


def test_nothing_overdue_before_the_bank_holiday_limit(folder: Path) -> None:
    # Calendar days alone would make E4 due on Thu 24 April; working days make it Mon 28
    found = enquiries(folder, dt.date(2025, 4, 28))
    assert {k for k, (s, _) in statuses(found).items() if s == "overdue"} == set()
    assert found["e1"].status is Status.ANSWERED  # answered on the due date: in time
    found = enquiries(folder, dt.date(2025, 4, 25))
    assert statuses(found)["e1"] == ("open", 0)  # the answer of the 28th is not yet in the mailbox


def test_overdue_days_count_working_days_only(folder: Path) -> None:
    found = enquiries(folder, dt.date(2025, 4, 30))
    assert statuses(found)["e3"] == ("overdue", 1) and statuses(found)["e4"] == ("overdue", 2)
    found = enquiries(folder, dt.date(2025, 5, 3))  # a Saturday: E5 was due Friday 2 May
    assert statuses(found)["e5"] == ("overdue", 0) and statuses(found)["e4"] == ("overdue", 4)
    found = enquiries(folder, dt.date(2025, 5, 6))  # Tuesday after the May Day bank holiday
    assert statuses(found)["e5"] == ("overdue", 1)


def test_col_acknowledge_within_2_reply_within_10(folder: Path) -> None:
    found = enquiries(folder, dt.date(2025, 4, 29), COL)
    assert statuses(found) == {
        "e1": ("answered", 0),
        "e2": ("answered", 0),
        "e3": ("acknowledged", 0),
        "e4": ("overdue", 4),  # no acknowledgement by Wed 23 April
        "e5": ("open", 0),  # acknowledgement due Tue 29 April
    }
    assert found["e4"].due == found["e4"].acknowledge_by == dt.date(2025, 4, 23)
    assert found["e1"].late and found["e1"].days_late == 3  # first response on the 28th, not by the 23rd
    e3 = found["e3"]
    assert not e3.late and e3.acknowledge_by == dt.date(2025, 4, 24)
    assert e3.reply_by == e3.due == dt.date(2025, 5, 7)  # 10 working days from Tue 22, May Day skipped
    assert found["e4"].citations == ("COL 7",)
    assert statuses(enquiries(folder, dt.date(2025, 4, 30), COL))["e5"] == ("overdue", 1)


@pytest.mark.parametrize("form", ["mbox", "maildir"])
def test_mbox_and_maildir_give_the_same_result(tmp_path: Path, folder: Path, form: str) -> None:
    path = build(tmp_path, form)
    assert len(list(read_mailbox(path))) == len(MAILBOX)
    assert statuses(enquiries(path, dt.date(2025, 4, 29))) == statuses(
        enquiries(folder, dt.date(2025, 4, 29))
    )


def test_broken_files_are_reported_and_skipped(folder: Path) -> None:
    (folder / "inbox" / "broken.eml").write_bytes(b"\x00\x01\x02\xff garbage, not a message")
    (folder / "inbox" / "empty.eml").write_bytes(b"")
    problems: list[tuple[str, str]] = []
    messages = list(read_mailbox(folder, lambda source, problem: problems.append((source, problem))))
    assert len(messages) == len(MAILBOX)
    assert sorted(Path(s).name for s, _ in problems) == ["broken.eml", "empty.eml"]


def test_duplicate_copies_count_once(folder: Path) -> None:
    n = [m[1] for m in MAILBOX].index("e4")
    (folder / "copy").mkdir()
    (folder / "copy" / "e4.eml").write_bytes((folder / "inbox" / f"{n:03}.eml").read_bytes())
    assert len(enquiries(folder, dt.date(2025, 4, 29))) == 5


def test_personal_address_and_as_of_a_moment() -> None:
    messages = [
        ("a", _eml("p1", "Ann Green <ann.green.home@example.net>", [CAROL], "Tree preservation order",
                   when(1, 10, month=7), "Is the oak on Mill Road protected?", None)),
        ("b", _eml("p1r", CAROL, ["cllr.ann.green@fictional.gov.uk"], "RE: Tree preservation order",
                   when(2, 15, month=7), "Yes: the oak has been protected since 1998 (TPO 12/98).", "p1")),
    ]  # fmt: skip
    parsed = [(source, parse_eml(raw)) for source, raw in messages]
    directory, settings = load_directory(DIRECTORY), EnquirySettings()
    [before] = find_enquiries(parsed, directory, settings, when(2, 14, month=7))
    [after] = find_enquiries(parsed, directory, settings, dt.date(2025, 7, 2))
    assert before.member == "Ann Green" and before.status is Status.OPEN
    assert after.status is Status.ANSWERED and after.answered == when(2, 15, month=7)


def test_normalise_subject() -> None:
    assert normalise_subject("RE: FW:  Bins in Mill  Road") == normalise_subject("Bins in Mill Road")
    assert normalise_subject("Re[2]: AW: Fwd: x") == "x"


def test_to_dict_keys_are_stable(folder: Path) -> None:
    enquiry = enquiries(folder, dt.date(2025, 4, 29))["e4"]
    assert tuple(enquiry.to_dict()) == CSV_FIELDS
    assert enquiry.to_dict()["received"] == "2025-04-17T09:00:00+01:00"
    with pytest.raises(AttributeError):
        enquiry.status = Status.OPEN  # type: ignore[misc]  # frozen


# --- the command ---------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["enquiries", "--directory", str(DIRECTORY), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_text(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    code, out, err = run(capsys, "--as-of", "2025-04-29", str(folder))
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["MEMBER", "OFFICER", "SUBJECT"]
    assert any("Street lighting on Park Lane" in ln and "overdue" in ln for ln in lines)
    assert "answered (late)" in out
    assert "5 enquiries as of 2025-04-29" in lines[-1] and "1 overdue" in lines[-1]


def test_cli_exit_0_when_none_overdue(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    assert run(capsys, "--as-of", "2025-04-25", str(folder))[0] == 0


def test_cli_csv(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    code, out, _ = run(capsys, "--as-of", "2025-04-29", "--format", "csv", str(folder))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1
    assert out.splitlines()[0] == ",".join(CSV_FIELDS)
    assert {r["subject"]: r["status"] for r in rows}["Street lighting on Park Lane"] == "overdue"
    assert {r["subject"]: r["days_overdue"] for r in rows}["Street lighting on Park Lane"] == "1"


def test_cli_json_with_col_policy(capsys: pytest.CaptureFixture[str], folder: Path, tmp_path: Path) -> None:
    policy = tmp_path / "col.yaml"
    policy.write_text("settings:\n  enquiries:\n    acknowledge_within_days: 2\n    reply_within_days: 10\n"
                      "    cite: ['COL 7']\n")  # fmt: skip
    code, out, _ = run(
        capsys, "--policy", str(policy), "--as-of", "2025-04-29", "--format", "json", str(folder)
    )
    data = json.loads(out)
    assert code == 1
    assert data["as_of"] == "2025-04-29" and data["limits"]["acknowledge_within_days"] == 2
    assert data["summary"] == {"answered": 2, "acknowledged": 1, "overdue": 1, "open": 1}
    e4 = next(e for e in data["enquiries"] if e["subject"] == "Street lighting on Park Lane")
    assert e4["status"] == "overdue" and e4["due"] == "2025-04-23" and e4["citations"] == ["COL 7"]


def test_cli_skips_broken_message(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    (folder / "inbox" / "broken.eml").write_bytes(b"\x00\x01\x02\xff garbage, not a message")
    code, out, err = run(capsys, "--as-of", "2025-04-29", "--format", "json", str(folder))
    assert code == 1  # the run went on: E4 is still reported overdue
    assert "broken.eml" in err and "skipped" in err and "Traceback" not in err
    assert [Path(s["source"]).name for s in json.loads(out)["skipped"]] == ["broken.eml"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--as-of", "29/04/2025", "."], "--as-of"),
        (["/no/such/mailbox"], "no such file"),
    ],
)
def test_cli_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], problem: str) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2 and problem in err and len(err.strip().splitlines()) == 1


def test_cli_bad_policy_time_exit_2(capsys: pytest.CaptureFixture[str], folder: Path, tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text("settings:\n  enquiries:\n    day_ends: 17:30\n")  # unquoted: YAML reads a number
    code, _, err = run(capsys, "--policy", str(policy), str(folder))
    assert code == 2 and "day_ends" in err and "quotes" in err
