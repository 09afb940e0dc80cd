"""member-instructs-officer: FLAGGED cases from the rule's "Typical" text, NOT_FLAGGED hard
negatives from its "Not flagged" text (rules.md section 8). People are from tests/data/directory.yaml."""

from __future__ import annotations

import io

import learned
import pytest

RULE_ID = "member-instructs-officer"
CITES = ("CJC 2", "AIDE (instructions, consultants)", "COL 3(3)", "COL 3(5)", "CAM 2.2")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _docx(*paragraphs: str) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


FLAGGED = [
    pytest.param(
        dict(
            sender="member:Evander",
            to="officer:Jasper",
            subject="Summons",
            body="Jasper, cancel the council tax summons for my constituent at Pennyfield Row.\n\nEvander",
        ),
        id="order-opening-with-the-officers-name-on-behalf-of-a-constituent",
    ),
    pytest.param(
        dict(
            sender="member:Evander",
            to="officer:Marisol",
            subject="Car wash",
            body="Marisol, stop the enforcement action against the car wash until I tell you otherwise.\n\nEvander",
        ),
        id="stop-enforcement-with-a-vocative",
    ),
    pytest.param(
        dict(
            sender="member:Evander",
            to="officer:Marisol",
            subject="Tender",
            body="Marisol, make sure the contract goes to the local firm - I trust them.\n\nEvander",
        ),
        id="make-sure-a-contract-is-awarded",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to="officer:Florence",
            subject="Fixed penalty - Orchard Rise",
            body="Florence,\n\nAn elderly constituent was given a fixed penalty for leaving her bin out "
            "a day early. It was an honest mistake. Please cancel it.\n\nDesmond",
        ),
        id="cancel-a-penalty",
    ),
    pytest.param(
        dict(
            sender="member:Evander",
            to="officer:Florence",
            subject="The Anchor, Wickham Row",
            body="Can you hold off on the noise abatement notice for the pub on Wickham Row until the "
            "festival is over? The landlord does a lot for the area.",
        ),
        id="hold-off-enforcement-as-a-question",
    ),
    pytest.param(
        dict(
            sender="member:Lorcan",
            to="officer:Lionel",
            subject="Leisure management tender",
            body="Lionel,\n\nI'd like the leisure management contract to go to Saltmarsh Leisure Trust - "
            "they know the town and they employ local staff.",
        ),
        id="which-firm-gets-a-contract",
    ),
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="officer:Oswin",
            subject="Abara family",
            body="Oswin,\n\nI want the Abara family moved up to the emergency band straight away.",
        ),
        id="move-a-family-up-the-list",
    ),
    pytest.param(
        dict(
            sender="member:Henrietta",
            to="officer:Marisol",
            subject="Heron Reach report",
            body="Marisol,\n\nPlease change the recommendation in your report to approval, and take out the "
            "paragraph about parking.",
        ),
        id="change-a-report-and-its-recommendation",
    ),
    pytest.param(
        dict(
            sender="member:Lorcan",
            to="officer:Oswin",
            subject="Flat at Chandlers Yard",
            body="There's no need to go through the allocations panel for this one. Give the family the "
            "flat at Chandlers Yard.",
        ),
        id="bypass-procedure",
    ),
    pytest.param(
        dict(
            sender="member:Henrietta",
            to="officer:Marisol",
            subject="Saltmarsh Quay - my comments",
            body="My comments on the draft are attached.",
            attachments=[
                (
                    "saltmarsh_quay_chair_comments.docx",
                    _docx(
                        "Saltmarsh Quay - chair's comments on the draft report",
                        "Section 5 - delete the paragraph on the heritage objection.",
                        "Section 8 - change the recommendation to approve with conditions.",
                    ),
                    DOCX,
                )
            ],
        ),
        id="instructions-in-a-marked-up-report",
    ),
    pytest.param(
        dict(
            sender="member:Philippa",
            to="works@coastline-builders.co.uk",
            subject="RE: Price for the shelter repairs",
            body="Thanks for the price. Go ahead and start on Monday; I'll sort out the paperwork with the "
            "council.",
        ),
        id="tells-a-contractor-to-start",
    ),
    pytest.param(
        dict(
            sender="member:Evander",
            to="officer:Florence",
            subject="Harrowdene Allotments",
            body="No more inspections at the allotments please, until I say otherwise.",
        ),
        id="stop-inspections-until-told",
    ),
]

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="member:Desmond",
            to="officer:Florence",
            subject="Fixed penalty - Orchard Rise",
            body="Could you tell me whether the fixed penalty on Orchard Rise can be appealed, and how?",
        ),
        id="request-for-information",
    ),
    pytest.param(
        dict(
            sender="member:Lorcan",
            to="officer:Oswin",
            subject="Medical priority",
            body="Is there any discretion in the allocations policy for a family with a new medical need? "
            "I'd welcome your advice before I reply to them.",
        ),
        id="request-for-advice",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to="officer:Lionel",
            subject="Library options paper",
            body="As portfolio holder: the administration's priority is to keep Coppice End Library open, "
            "so I'd like the options paper to cost the alternatives to closure. The recommendation is of "
            "course yours to make.",
        ),
        id="cabinet-member-political-direction",
    ),
    pytest.param(
        dict(
            sender="member:Henrietta",
            to=["officer:Hamish", "officer:Marisol"],
            subject="Planning Committee running order",
            body="For next week's Planning Committee, please take the Saltmarsh Quay item first and give the "
            "two registered speakers five minutes each.",
        ),
        id="chair-arranging-the-meeting",
    ),
    pytest.param(
        dict(
            sender="member:Beatrix",
            to="officer:Lionel",
            subject="Car park charges",
            body="Cabinet resolved on Tuesday to suspend the new car park charges, so please go ahead with "
            "the notices.",
        ),
        id="acting-on-a-formal-decision",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to="officer:Florence",
            subject="Fixed penalty - Orchard Rise",
            body="Could you review the fixed penalty and withdraw it if the bin was in fact collected late?",
        ),
        id="judgement-left-to-the-officer",
    ),
    pytest.param(
        dict(
            sender="officer:Lionel",
            to="officer:Jasper",
            subject="Overpayment",
            body="Please cancel the overpayment recovery on this account.",
        ),
        id="an-officer-not-a-member",
    ),
    pytest.param(
        dict(
            sender="member:Nkechi",
            to="team:democratic-services",
            subject="Training",
            body="Please cancel my place at Thursday's training and remove me from the reminder list.",
        ),
        id="the-members-own-arrangements",
    ),
    pytest.param(
        dict(
            sender="member:Barnaby",
            to="officer:Tamsin",
            cc="officer:Oswin",
            subject="Missed bins",
            body="Residents tell me the bins on Pennyfield Estate were missed again. Could someone collect "
            "them this week?",
        ),
        id="a-service-request",
    ),
    pytest.param(
        dict(
            sender="member:Barnaby",
            to="resident.one@gmail.com",
            subject="RE: Pothole",
            body="Please send me a photo of the pothole and I will report it.",
        ),
        id="writing-to-a-resident",
    ),
]


JUDGED = [
    pytest.param(
        dict(sender="member:Cyrus", to="officer:Jasper", body="Some words."), id="member-to-officer"
    ),
    pytest.param(
        dict(sender="member:Cyrus", to="team:communications", body="Some words."), id="member-to-team"
    ),
    pytest.param(
        dict(sender="member:Cyrus", to="works@roofco.example", body="Some words."), id="member-to-contractor"
    ),
]
NOT_JUDGED = [
    pytest.param(
        dict(sender="officer:Oswin", to="officer:Kieran", body="Some words."), id="manager-to-own-staff"
    ),
    pytest.param(
        dict(sender="member:Cyrus", to="member:Beatrix", cc="officer:Jasper", body="Some words."),
        id="member-to-member",
    ),
    pytest.param(
        dict(sender="member:Cyrus", to="a.resident@gmail.com", body="Some words."), id="member-to-resident"
    ),
]


(
    test_the_model_decides_when_the_roles_fit,
    test_never_flagged_when_the_roles_do_not_fit,
    test_shipped_model_on_cases_written_from_the_rule,
) = learned.rule_tests(
    RULE_ID, JUDGED, NOT_JUDGED, FLAGGED, NOT_FLAGGED, misses=4, alarms=1
)  # today: 6 of 12 missed (short, explicit wording; docs/language-model.md)
