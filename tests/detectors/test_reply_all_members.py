"""reply-all-members: rules.md section 4, cases written from the rule text.

The test directory has 10 members, so "at least half of the members (or ten, whichever is
fewer)" means 5 members addressed individually, the sender not counted.
"""

import pytest

RULE_ID = "reply-all-members"

FIVE_OTHERS = ["member:Henrietta", "member:Nkechi", "member:Cyrus", "member:Imogen", "member:Barnaby"]

FLAGGED = [
    pytest.param(
        dict(
            sender="member:Desmond",
            to="list:all-members",
            subject="RE: Saltmarsh Quay regeneration briefing",
            body="Thanks for this. I still think the timetable is too tight.\n\nDesmond",
        ),
        id="member-replies-to-the-all-members-list",
    ),
    pytest.param(
        dict(
            sender="member:Nkechi",
            to="officer:Priyanka",
            cc="list:all-members",
            subject="FW: Tree preservation order consultation",
            body="Colleagues may be interested in this.\n\nNkechi",
            compose_type="forward",
        ),
        id="member-forwards-with-the-list-in-cc",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=FIVE_OTHERS,
            subject="RE: Budget workshop",
            body="I agree with Henrietta's point about reserves.\n\nDesmond",
        ),
        id="member-replies-to-half-the-members-individually",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=FIVE_OTHERS[:2],
            cc=FIVE_OTHERS[2:],
            subject="RE: Budget workshop",
            body="I agree with Henrietta's point about reserves.\n\nDesmond",
        ),
        id="members-split-between-to-and-cc",
    ),
    pytest.param(
        dict(
            sender="member:Philippa",
            to="list:all-members",
            subject="Heron Reach flooding",
            body="I have been asked by residents whether the pumps are working.\n\nPhilippa",
            compose_type="reply",
        ),
        id="add-in-reply-without-a-subject-prefix",
    ),
]

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="officer:Hamish",
            to="list:all-members",
            subject="Members' briefing: new planning guidance",
            body="Dear Councillors,\n\nPlease find the briefing note below.\n\nHamish Larch\nDemocratic Services",
        ),
        id="democratic-services-circular",
    ),
    pytest.param(
        dict(
            sender="team:democratic-services",
            to="list:all-members",
            subject="FW: Training dates",
            body="Forwarded for information.",
            compose_type="forward",
        ),
        id="circular-forwarded-by-the-team-mailbox",
    ),
    pytest.param(
        dict(
            sender="member:Henrietta",
            to=["member:Desmond", "member:Nkechi"],
            subject="RE: Harrowdene surgery",
            body="Saturday at the library works for me.\n\nHenrietta",
        ),
        id="reply-to-ward-colleagues",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=FIVE_OTHERS[:4],
            subject="RE: Budget workshop",
            body="I agree with Henrietta's point about reserves.\n\nDesmond",
        ),
        id="four-members-is-below-half",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=[*FIVE_OTHERS[:4], "member:Desmond"],
            subject="RE: Budget workshop",
            body="Noted.\n\nDesmond",
        ),
        id="sender-copying-themselves-is-not-counted",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to="list:cabinet",
            subject="RE: Cabinet agenda",
            body="Happy with the order of items.\n\nImogen",
        ),
        id="reply-to-the-cabinet-list",
    ),
    pytest.param(
        dict(
            sender="member:Beatrix",
            to="list:all-members",
            subject="Leader's update",
            body="Dear colleagues,\n\nThe peer review report will be published on Friday.\n\nBeatrix",
        ),
        id="new-message-not-a-reply-or-forward",
    ),
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="officer:Hamish",
            subject="RE: Members' briefing",
            body="Thank you, can I have a printed copy?\n\nCyrus\n\n"
            "________________________________\n"
            "From: Hamish Larch <hamish.larch@ashdown.gov.uk>\n"
            "Sent: 03 March 2026 10:00\n"
            "To: All Councillors <all.councillors@ashdown.gov.uk>\n"
            "Subject: Members' briefing\n\nPlease find the briefing note attached.\n",
        ),
        id="list-only-in-the-quoted-header",
    ),
]


@pytest.mark.parametrize("fields", FLAGGED)
def test_flagged(check, make_draft, checker, fields):
    [finding] = check(make_draft(**fields), rules=[RULE_ID])
    assert finding.rule == RULE_ID
    assert "CAM 10.1" in finding.citations
    assert finding.citations == tuple(checker.policy.rules[RULE_ID].cite)
    assert finding.note.strip() and finding.title.strip()
    assert finding.evidence
    shown = " ".join(e.text for e in finding.evidence)
    # evidence names the recipients, masked: the domain stays, the mailbox name does not
    assert "@ashdown.gov.uk" in shown
    assert "all.councillors@" not in shown and "cllr." not in shown


@pytest.mark.parametrize("fields", NOT_FLAGGED)
def test_not_flagged(check, make_draft, fields):
    assert check(make_draft(**fields), rules=[RULE_ID]) == []


def test_forward_of_an_eml_to_the_list(check):
    from correspondence_guard import parse_eml

    raw = (
        b"From: Cllr Barnaby Kittredge <cllr.barnaby.kittredge@ashdown.gov.uk>\r\n"
        b"To: all.councillors@ashdown.gov.uk\r\n"
        b"Subject: Fwd: Scrutiny work programme\r\n\r\n"
        b"For everyone's views.\r\n\r\nBarnaby\r\n"
    )
    [finding] = check(parse_eml(raw), rules=[RULE_ID])
    assert finding.rule == RULE_ID


def test_rule_off_in_the_policy_gives_nothing(directory_path, make_draft, tmp_path):
    from correspondence_guard import Checker

    policy = tmp_path / "policy.yaml"
    policy.write_text(f"rules:\n  {RULE_ID}:\n    enabled: false\n", encoding="utf-8")
    message = make_draft(**FLAGGED[0].values[0])
    report = Checker.load(directory_path, policy).check(message)
    assert RULE_ID not in {f.rule for f in report.findings}
