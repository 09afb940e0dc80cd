"""member-contacts-junior-officer: rules.md section 5, cases written from the rule text."""

import pytest

RULE_ID = "member-contacts-junior-officer"
CITES = ("AIDE (paragraph 6.1 reference)", "COL 5(2)(f)", "CAM 3.2(f)", "CAM-OLD 5.2")


def quoted(sender: str, to: str, subject: str, text: str, sent: str = "Monday, 9 March 2026 10:15") -> str:
    """An Outlook-style quoted earlier message, for the body of a reply or forward."""
    return f"\n\n________________________________\nFrom: {sender}\nSent: {sent}\nTo: {to}\nSubject: {subject}\n\n{text}"


KIERAN = "Kieran Reddaway <kieran.reddaway@ashdown.gov.uk>"
TAMSIN = "Tamsin Greaves <tamsin.greaves@ashdown.gov.uk>"
DESMOND = "Cllr Desmond Okonjo <cllr.desmond.okonjo@ashdown.gov.uk>"
OSWIN = "Oswin Thackeray <oswin.thackeray@ashdown.gov.uk>"

FLAGGED = [
    pytest.param(
        dict(
            sender="member:Imogen",
            to=["officer:Kieran"],
            subject="Voids on Heron Reach",
            body="Kieran,\n\nHow many council homes on Heron Reach are empty at the moment, and how long has the "
            "longest been vacant? I have a residents' meeting on Thursday.\n\nImogen",
        ),
        id="cabinet-member-asks-housing-assistant-for-figures",
    ),
    pytest.param(
        dict(
            sender="personal:Lorcan",
            to=["officer:Tamsin"],
            subject="Green bins",
            body="Hi Tamsin, please send me the garden waste round dates for Tollgate Lane for the rest of the "
            "year.\n\nLorcan",
        ),
        id="member-writes-from-personal-address",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=["officer:Tamsin"],
            cc=["member:Henrietta"],
            subject="Fly-tipping, Fletcher's Green",
            body="Dear Tamsin,\n\nCould you tell me when the mattresses dumped behind the allotments will be "
            "cleared? I'm copying my ward colleague.\n\nDesmond",
        ),
        id="ward-colleague-copied-but-no-manager",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=["officer:Tamsin"],
            subject="RE: Fly-tipping, Fletcher's Green",
            compose_type="reply",
            body="Tamsin, I still haven't had an answer. When will it be cleared?\n\nDesmond"
            + quoted(
                DESMOND, TAMSIN, "Fly-tipping, Fletcher's Green", "Could you tell me when it will be cleared?"
            ),
        ),
        id="member-chases-own-earlier-message",
    ),
    pytest.param(
        dict(
            sender="member:Philippa",
            to=["officer:Kieran"],
            subject="FW: Damp at Chandlers Yard",
            compose_type="forward",
            body="Kieran - can you look into this for my constituent and let me know what can be done?\n\nPhilippa"
            + quoted(
                "A Resident <a.resident@example.org>",
                "Cllr Philippa Dunmore <cllr.philippa.dunmore@ashdown.gov.uk>",
                "Damp",
                "Our flat has black mould in every room.",
            ),
        ),
        id="member-forwards-casework-to-junior",
    ),
]

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="member:Imogen",
            to=["officer:Oswin"],
            cc=["officer:Kieran"],
            subject="Voids on Heron Reach",
            body="Oswin, how many homes on Heron Reach are empty? I've copied Kieran, who has been taking the "
            "tenants' calls.\n\nImogen",
        ),
        id="junior-officer-only-copied",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to=["officer:Kieran"],
            subject="RE: Estate walkabout",
            compose_type="reply",
            body="Thanks Kieran - will the caretaker be there too, or just you?\n\nImogen"
            + quoted(
                KIERAN,
                "Cllr Imogen Saltash <cllr.imogen.saltash@ashdown.gov.uk>",
                "Estate walkabout",
                "Dear Cllr Saltash, the estate walkabout is confirmed for Friday at 2pm.",
            ),
        ),
        id="reply-to-a-message-the-junior-sent-first",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=["officer:Tamsin"],
            subject="RE: Fly-tipping, Fletcher's Green",
            compose_type="reply",
            body="Thanks Tamsin, could you let me know once it's done?\n\nDesmond"
            + quoted(
                TAMSIN, DESMOND, "RE: Fly-tipping, Fletcher's Green", "The crew will clear it on Tuesday."
            )
            + quoted(DESMOND, OSWIN, "Fly-tipping, Fletcher's Green", "Who can get this cleared?"),
        ),
        id="member-first-asked-a-manager-who-passed-it-down",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=["officer:Jasper"],
            subject="Council tax support",
            body="Jasper, could you explain how the new council tax support bands work?\n\nDesmond",
        ),
        id="officer-grade-is-not-junior",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=["officer:Oswin"],
            subject="Voids",
            body="Oswin, how many empty homes do we have?\n\nDesmond",
        ),
        id="manager-addressed",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=["officer:Kieran"],
            cc=["officer:Oswin"],
            subject="Voids",
            body="Kieran, could you send me the void numbers for Harrowdene? Copying Oswin.\n\nDesmond",
        ),
        id="junior-addressed-with-their-manager-copied",
    ),
    pytest.param(
        dict(
            sender="officer:Marisol",
            to=["officer:Kieran"],
            subject="Tenancy list",
            body="Kieran, can you send me the list of new tenancies by Friday?\n\nMarisol",
        ),
        id="an-officer-not-a-member-asks",
    ),
    pytest.param(
        dict(
            sender="member:Henrietta",
            to=["officer:Tamsin"],
            subject="Thank you",
            body="Dear Tamsin,\n\nThank you for your talk at the community centre last night. The residents "
            "found it very useful.\n\nHenrietta",
        ),
        id="a-thank-you-is-no-enquiry",
    ),
]


@pytest.mark.parametrize("fields", FLAGGED)
def test_flagged(check, make_draft, fields):
    [finding] = check(make_draft(**fields), rules=[RULE_ID])
    assert finding.rule == RULE_ID
    assert finding.citations == CITES and finding.note
    assert finding.evidence[0].where == "recipients"


@pytest.mark.parametrize("fields", NOT_FLAGGED)
def test_not_flagged(check, make_draft, fields):
    assert check(make_draft(**fields), rules=[RULE_ID]) == []
