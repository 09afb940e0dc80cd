"""personal-criticism-of-officer: FLAGGED cases from the rule's "Typical" text, NOT_FLAGGED hard
negatives from its "Not flagged" text (rules.md section 6). People are from tests/data/directory.yaml."""

from __future__ import annotations

import learned
import pytest

RULE_ID = "personal-criticism-of-officer"
CITES = ("CAM 4.4", "CAM 4.5", "CAM 12.3", "CAM-OLD 6.2", "DC 2", "COL 5(2)(d)")

FLAGGED = [
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="officer:Marisol",
            cc=["member:Evander", "member:Desmond"],
            subject="Harrowdene Road report",
            body="Marisol,\n\nFrankly you are out of your depth with this application, and you plainly don't "
            "understand our own local plan.",
        ),
        id="member-attacks-the-officer-addressed-copying-members",
    ),
    pytest.param(
        dict(
            sender="officer:Oswin",
            to="member:Lorcan",
            subject="RE: Repairs backlog",
            body="Between us, the problem is Kieran. He is hopeless and loses half the paperwork he is given.",
        ),
        id="officer-runs-down-a-colleague-to-a-member",
    ),
    pytest.param(
        dict(
            sender="member:Evander",
            to="newsdesk@saltmarsh-gazette.co.uk",
            subject="RE: Depot - comment?",
            body="You can quote me: the state of the depot is down to Florence Iredale, who is plainly "
            "incompetent.",
        ),
        id="to-the-press-naming-an-officer",
    ),
    pytest.param(
        dict(
            sender="member:Barnaby",
            to="pennyfield.residents@gmail.com",
            subject="RE: Bin rounds",
            body="I share your frustration with Tamsin Greaves. Honestly, a monkey could plan the bin rounds "
            "better.",
        ),
        id="ridicule-to-residents",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to="officer:Oswin",
            cc="officer:Priyanka",
            subject="Kieran",
            body="I do wonder whether Kieran is capable of opening his own post.",
        ),
        id="mocking-competence-to-the-manager",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to="officer:Lionel",
            cc=["member:Evander", "member:Cyrus"],
            subject="Harbour lighting",
            body="The lighting scheme is late again. Florence Iredale has never met a deadline in her life, and "
            "frankly she couldn't run a raffle in a wet paper bag.",
        ),
        id="ridicule-and-blame-copied-to-members",
    ),
    pytest.param(
        dict(
            sender="member:Barnaby",
            to="newsdesk@saltmarsh-gazette.co.uk",
            subject="Depot",
            body="Off the record, the real problem is the officer in charge of the depot, and I am sick of "
            "her excuses.",
        ),
        id="blame-to-the-press-by-role",
    ),
    pytest.param(
        dict(
            sender="member:Evander",
            to="list:all-members",
            subject="RE: Revised agenda",
            body="Wrong papers again. How Marisol still has a job is a mystery to me.",
        ),
        id="questioning-an-officers-job-to-all-members",
    ),
]

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="officer:Marisol",
            subject="Harrowdene Road report",
            body="The report underestimates the traffic impact, and the figures in table 3 don't match the "
            "appendix. Could they be checked before it is published?",
        ),
        id="constructive-criticism-of-a-report",
    ),
    pytest.param(
        dict(
            sender="member:Barnaby",
            to="officer:Tamsin",
            cc="officer:Oswin",
            subject="Wickham Row",
            body="The contractor's crews have been careless and sloppy on Wickham Row. What penalties does "
            "the contract allow?",
        ),
        id="a-contractor-criticised",
    ),
    pytest.param(
        dict(
            sender="member:Nkechi",
            to="officer:Priyanka",
            subject="In confidence",
            body="I'd like to raise a concern privately. Several enquiries to Florence's team have gone "
            "unanswered for weeks; I know they are stretched, so could we talk about how to support them?",
        ),
        id="measured-concern-privately-to-the-director",
    ),
    pytest.param(
        dict(
            sender="member:Philippa",
            to="officer:Florence",
            subject="Licence decision",
            body="I think the decision to refuse the licence was wrong, for the reasons below, and I will "
            "support the owners if they appeal.",
        ),
        id="disagreement-with-a-decision",
    ),
    pytest.param(
        dict(
            sender="member:Lorcan",
            to="officer:Oswin",
            subject="Kieran",
            body="To be clear, I don't think Kieran is incompetent at all; he has been very helpful.",
        ),
        id="a-denied-attack",
    ),
    pytest.param(
        dict(
            sender="officer:Jasper",
            to="member:Lorcan",
            subject="RE: Letter",
            body="I'm sorry the letter went to the wrong address - that was my mistake and my fault.",
        ),
        id="an-officer-blaming-himself",
    ),
]


JUDGED = [
    pytest.param(
        dict(sender="member:Imogen", to="officer:Jasper", body="Some words."), id="member-to-officer"
    ),
    pytest.param(
        dict(sender="officer:Oswin", to="officer:Lionel", body="Some words."), id="officer-to-officer"
    ),
    pytest.param(
        dict(sender="member:Imogen", to="news@gazette.example", body="Some words."), id="member-to-press"
    ),
]
NOT_JUDGED = [
    pytest.param(
        dict(sender="angry.resident@gmail.com", to="officer:Jasper", body="Some words."), id="resident"
    ),
    pytest.param(
        dict(sender="reporter@gazette.example", to="officer:Jasper", body="Some words."), id="journalist"
    ),
]


(
    test_the_model_decides_when_the_roles_fit,
    test_never_flagged_when_the_roles_do_not_fit,
    test_shipped_model_on_cases_written_from_the_rule,
) = learned.rule_tests(
    RULE_ID, JUDGED, NOT_JUDGED, FLAGGED, NOT_FLAGGED, misses=2, alarms=0
)  # today: 3 of 8 missed (short, explicit wording; docs/language-model.md)
