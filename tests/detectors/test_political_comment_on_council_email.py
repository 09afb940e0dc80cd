"""political-comment-on-council-email: rules.md section 2, cases written from the rule text."""

import learned
import pytest

RULE_ID = "political-comment-on-council-email"

FLAGGED = [
    pytest.param(
        dict(
            sender="member:Evander",
            to="resident.one@gmail.com",
            subject="RE: Library hours",
            body="Thank you for writing.\n\nThe Liberal Democrats have made a shambles of the library service, "
            "and the only way to fix it is a change of administration in May.\n\nEvander",
        ),
        id="member-attacks-another-party-to-resident",
    ),
    pytest.param(
        dict(
            sender="member:Nkechi",
            to=["member:Beatrix"],
            subject="Saturday",
            body="Can you help with canvassing on Saturday morning? We meet at the station at 10.\n\nNkechi",
        ),
        id="member-organises-canvassing",
    ),
    pytest.param(
        dict(
            sender="officer:Kieran",
            to=["member:Nkechi"],
            subject="RE: Allotments",
            body="The allotment waiting list is attached.\n\nPersonally I'll be delivering leaflets for you "
            "this weekend - fingers crossed for polling day!\n\nKieran",
        ),
        id="officer-joins-a-campaign",
    ),
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="club.secretary@example.org",
            subject="Supper",
            body="Please find the flyer attached.\n\nCyrus",
            attachments=[
                (
                    "flyer.txt",
                    b"Harrowdene Conservatives summer supper. All proceeds to our "
                    b"campaign fund. Help us win Harrowdene!",
                )
            ],
        ),
        id="fundraising-flyer-in-attachment",
    ),
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="a.resident@gmail.com",
            subject="RE: Parking charges",
            body="If you want the charges reversed, vote Conservative on 7 May and we will put it right.",
        ),
        id="asks-for-votes-for-a-party-by-name",
    ),
]

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="officer:Oswin",
            to=["member:Evander"],
            subject="Group briefing",
            body="The Conservative group has asked for a briefing on the budget; the same offer goes to the "
            "Liberal Democrat and Green groups.\n\nOswin",
        ),
        id="neutral-mention-of-groups",
    ),
    pytest.param(
        dict(
            sender="officer:Oswin",
            to=["member:Evander"],
            subject="Budget",
            body="We used a conservative estimate for pay, labour costs rise by 2%, green waste income is up, "
            "and we propose a reform of the fees procedure.\n\nOswin",
        ),
        id="ordinary-words-that-look-like-parties",
    ),
    pytest.param(
        dict(
            sender="member:Evander",
            to="resident.one@gmail.com",
            subject="RE: Council tax leaflet",
            body="A leaflet explaining the new council tax discounts is enclosed with your bill.\n\nEvander",
        ),
        id="a-council-information-leaflet",
    ),
    pytest.param(
        dict(
            sender="personal:Lorcan",
            to=["member:Beatrix"],
            subject="May",
            body="We need everyone out canvassing in Saltmarsh every weekend in April.\n\nLorcan",
        ),
        id="campaigning-from-a-personal-address",
    ),
    pytest.param(
        dict(
            sender="officer:Oswin",
            to=["list:all-members"],
            subject="Pre-election period",
            body="Council e-mail must not be used for campaigning, canvassing or party fundraising. Please use "
            "a personal account for party-political correspondence.\n\nOswin",
        ),
        id="guidance-on-what-not-to-do",
    ),
    pytest.param(
        dict(
            sender="officer:Oswin",
            to="member:Cyrus",
            subject="Budget council",
            body="The Conservative group's amendment will be taken first, and members will vote on it before "
            "the substantive budget.",
        ),
        id="officer-describes-the-order-of-voting",
    ),
]


JUDGED = [
    pytest.param(
        dict(sender="member:Evander", to="officer:Kieran", body="Some words."), id="member-council-address"
    ),
    pytest.param(dict(sender="officer:Kieran", to="member:Evander", body="Some words."), id="officer"),
]
NOT_JUDGED = [
    pytest.param(
        dict(sender="personal:Lorcan", to="member:Beatrix", body="Some words."), id="member-personal-address"
    ),
    pytest.param(dict(sender="voter@example.org", to="officer:Kieran", body="Some words."), id="outsider"),
]


(
    test_the_model_decides_when_the_roles_fit,
    test_never_flagged_when_the_roles_do_not_fit,
    test_shipped_model_on_cases_written_from_the_rule,
) = learned.rule_tests(
    RULE_ID, JUDGED, NOT_JUDGED, FLAGGED, NOT_FLAGGED, misses=1, alarms=0
)  # today: 2 of 5 missed (short, explicit wording; docs/language-model.md)


def test_quoted_campaigning_is_not_the_senders_words(check, make_draft, model_says):
    body = (
        "Thanks, I'll pass this to the events team.\n\nKieran\n\n"
        "________________________________\nFrom: Evander Stallybrass <cllr.evander.stallybrass@ashdown.gov.uk>\n"
        "Sent: Monday, 2 March 2026 09:00\nTo: Kieran\nSubject: Fete\n\n"
        "Vote for the Conservatives on 7 May!"
    )
    message = make_draft(
        sender="officer:Kieran", to=["member:Evander"], subject="RE: Fete", body=body, compose_type="reply"
    )
    with model_says(RULE_ID, 0.99, when=lambda text: "Vote" in text):
        assert check(message, rules=[RULE_ID]) == []
