"""undue-pressure-on-officer: FLAGGED cases from the rule's "Typical" text, NOT_FLAGGED hard
negatives from its "Not flagged" text (rules.md section 7). People are from tests/data/directory.yaml."""

from __future__ import annotations

import learned
import pytest

RULE_ID = "undue-pressure-on-officer"
CITES = ("CAM 3.2(f)", "CAM 4.3", "CAM-OLD 5.1", "CAM-OLD 5.2", "CAM-OLD 5.3", "CJC 2", "COL 5(2)(f)")

FLAGGED = [
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="officer:Kieran",
            subject="Heron Reach arrears",
            body="I need the rent arrears figures for Heron Reach by 4pm today. If I don't have them, your "
            "manager and the Chief Executive will hear about it.",
        ),
        id="short-deadline-and-threat-to-escalate",
    ),
    pytest.param(
        dict(
            sender="member:Henrietta",
            to="officer:Marisol",
            subject="Fletcher's Green recommendation",
            body="I'd urge you to reconsider your refusal recommendation before Thursday. It would be a pity "
            "if this affected your career here.",
        ),
        id="change-a-recommendation-or-your-career",
    ),
    pytest.param(
        dict(
            sender="member:Evander",
            to="officer:Jasper",
            subject="Caseload",
            body="I want the full benefits caseload for my ward on my desk by 8am Monday. I don't care if "
            "you have to work through the weekend.",
        ),
        id="work-outside-hours",
    ),
    pytest.param(
        dict(
            sender="member:Beatrix",
            to="officer:Lionel",
            subject="RE: Reserves",
            body="I'm not asking for your advice on the reserves. Find a way round it, or I will be raising "
            "your attitude at Full Council.",
        ),
        id="dismissing-professional-advice-with-a-threat",
    ),
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="officer:Hamish",
            subject="Minutes",
            body="This is the third time I've had to chase this. No more excuses - I expect the minutes "
            "tonight.",
        ),
        id="intimidating-tone-and-same-day-demand",
    ),
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="officer:Marisol",
            subject="Harbour licence",
            body="I gather you plan to recommend refusal. If I were you I would think again: officers who "
            "take on the harbour traders find their careers don't go far in this district.",
        ),
        id="veiled-threat-to-a-career",
    ),
]

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="member:Nkechi",
            to="officer:Oswin",
            subject="Empty homes",
            body="When you have a chance over the next fortnight, could you send me the empty homes figures "
            "for Saltmarsh? There's no rush.",
        ),
        id="polite-request-reasonable-timescale",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to="officer:Lionel",
            subject="Scrutiny moved",
            body="Sorry for the short notice: scrutiny has moved to Monday, so the figures by Friday "
            "lunchtime would really help. If that isn't realistic, just say and I'll ask for a verbal update "
            "instead.",
        ),
        id="urgency-explained-with-a-fallback",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to="officer:Florence",
            subject="Allotment complaints",
            body="Apologies for writing so late on a Saturday - this can wait until you're back on Monday.",
        ),
        id="late-email-that-can-wait",
    ),
    pytest.param(
        dict(
            sender="member:Barnaby",
            to="officer:Marisol",
            subject="Tollgate Lane",
            body="I don't agree with the recommendation and will say so at committee, but I'm not asking you "
            "to change it.",
        ),
        id="disagreement-without-pressure",
    ),
    pytest.param(
        dict(
            sender="member:Philippa",
            to="officer:Florence",
            cc="officer:Gwendolyn",
            subject="Flooding",
            body="I've copied the Chief Executive, who asked to be kept informed about the flooding work.",
        ),
        id="copying-the-chief-executive-for-information",
    ),
    pytest.param(
        dict(
            sender="officer:Lionel",
            to="officer:Jasper",
            subject="Year end",
            body="I need the reconciliation by 5pm today. If it isn't done, the auditors will escalate it.",
        ),
        id="an-officer-not-a-member",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to="officer:Lionel",
            subject="Harbour parking",
            body="We don't want to make enemies of the harbour traders, so could we meet them before the "
            "consultation closes?",
        ),
        id="a-worry-about-relations-with-residents",
    ),
]


JUDGED = [
    pytest.param(
        dict(sender="member:Barnaby", to="officer:Kieran", body="Some words."), id="member-to-officer"
    ),
    pytest.param(
        dict(sender="member:Barnaby", to="team:democratic-services", body="Some words."), id="member-to-team"
    ),
]
NOT_JUDGED = [
    pytest.param(
        dict(sender="officer:Oswin", to="officer:Kieran", body="Some words."), id="manager-to-own-staff"
    ),
    pytest.param(
        dict(sender="member:Barnaby", to="member:Beatrix", cc="officer:Kieran", body="Some words."),
        id="officer-only-copied",
    ),
    pytest.param(
        dict(sender="member:Barnaby", to="builder@example.org", body="Some words."), id="member-to-outsider"
    ),
]


(
    test_the_model_decides_when_the_roles_fit,
    test_never_flagged_when_the_roles_do_not_fit,
    test_shipped_model_on_cases_written_from_the_rule,
) = learned.rule_tests(RULE_ID, JUDGED, NOT_JUDGED, FLAGGED, NOT_FLAGGED, misses=2, alarms=0)
