"""member-creates-legal-obligation: rules.md section 3, cases written from the rule text."""

import learned
import pytest

RULE_ID = "member-creates-legal-obligation"

FLAGGED = [
    pytest.param(
        dict(
            sender="member:Desmond",
            to="r.hale@example.org",
            subject="RE: Flooded garage",
            body="I'm sorry about the flooding. The council will reimburse the cost of the repairs in full; "
            "just send me the receipts.\n\nDesmond",
        ),
        id="promises-a-refund",
    ),
    pytest.param(
        dict(
            sender="member:Henrietta",
            to="sales@roofco.example",
            subject="RE: Quote for the pavilion roof",
            body="Thanks for this. I accept your quotation - you can start work on Monday.\n\nHenrietta",
        ),
        id="accepts-a-quote-and-authorises-work",
    ),
    pytest.param(
        dict(
            sender="member:Beatrix",
            to="events@example.org",
            subject="RE: Room booking",
            body="Don't worry about the booking fee - I'm waiving the fee for your group this year.\n\nBeatrix",
        ),
        id="waives-a-charge",
    ),
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="kiosk@example.org",
            subject="Your kiosk",
            body="Please treat this email as formal notice that your lease of the seafront kiosk is terminated "
            "from 1 June.\n\nCllr Cyrus Ballantyne",
        ),
        id="gives-formal-notice",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to="a.hughes@example.org",
            subject="RE: Extension",
            body="Good news: I can confirm that your extension has been approved, so work can begin.\n\nImogen",
        ),
        id="announces-a-decision-only-the-council-can-make",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to="bookings@harbourfestival.org.uk",
            subject="RE: Marquee on the green",
            body="Good news: I've waived the pitch fee for the marquee, and we won't charge you for the "
            "electricity either.\n\nDesmond",
        ),
        id="waives-fees-in-the-past-tense",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to="sponsor@dunmore-motors.co.uk",
            subject="RE: Roundabout sponsorship",
            body="On behalf of the council I'm pleased to accept your sponsorship of £2,500 a year. Please "
            "treat this email as our confirmation.",
        ),
        id="accepts-a-sponsorship-deal",
    ),
]

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="member:Desmond",
            to="r.hale@example.org",
            subject="RE: Flooded garage",
            body="I will ask officers whether the council can reimburse you, and I'll raise it with the "
            "Director.\n\nDesmond",
        ),
        id="intent-to-ask",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to="a.hughes@example.org",
            subject="RE: Extension",
            body="I support your application and have told the case officer so. The committee decides, "
            "so I cannot promise the outcome.\n\nImogen",
        ),
        id="advocacy-without-promise",
    ),
    pytest.param(
        dict(
            sender="officer:Oswin",
            to="agent@example.org",
            subject="Decision",
            body="I can confirm that permission has been granted under delegated powers, subject to the "
            "conditions in the notice.\n\nOswin",
        ),
        id="officer-sends-an-official-decision",
    ),
    pytest.param(
        dict(
            sender="member:Beatrix",
            to="events@example.org",
            subject="RE: Room booking",
            body="This is my personal view, not a council decision: I think the fee should be waived for "
            "charities. I've passed your request to the bookings team.\n\nBeatrix",
        ),
        id="personal-view-clearly-marked",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to="bookings@harbourfestival.org.uk",
            subject="RE: Hall hire",
            body="The hall hire fee is waived for registered charities under the council's published scheme; "
            "I will ask Democratic Services to send you the form.",
        ),
        id="explains-a-published-waiver-scheme",
    ),
]


JUDGED = [
    pytest.param(
        dict(sender="member:Desmond", to="r.hale@example.org", body="Some words."), id="member-to-resident"
    ),
    pytest.param(
        dict(sender="member:Henrietta", to="officer:Jasper", body="Some words."), id="member-to-officer"
    ),
]
NOT_JUDGED = [
    pytest.param(
        dict(sender="officer:Oswin", to="agent@example.org", body="Some words."), id="officer-decision"
    ),
    pytest.param(
        dict(sender="personal:Lorcan", to="r.hale@example.org", body="Some words."),
        id="member-personal-address",
    ),
    pytest.param(dict(sender="r.hale@example.org", to="member:Desmond", body="Some words."), id="resident"),
]


(
    test_the_model_decides_when_the_roles_fit,
    test_never_flagged_when_the_roles_do_not_fit,
    test_shipped_model_on_cases_written_from_the_rule,
) = learned.rule_tests(
    RULE_ID, JUDGED, NOT_JUDGED, FLAGGED, NOT_FLAGGED, misses=2, alarms=0
)  # today: 5 of 7 missed (short, explicit wording; docs/language-model.md)
