"""confidential-information-disclosed: rules.md section 9, cases written from the rule text."""

import pytest

RULE_ID = "confidential-information-disclosed"
CITES = ("CAM 8.3", "CAM 9.2", "COL 5(1)(h)", "DC 5", "CJC 1", "CJC 2")


def quoted(sender: str, to: str, subject: str, text: str) -> str:
    """An Outlook-style quoted earlier message, for the body of a reply or forward."""
    return f"\n\n________________________________\nFrom: {sender}\nSent: Tuesday, 3 March 2026 08:40\nTo: {to}\nSubject: {subject}\n\n{text}"


HAMISH = "Hamish Larch <hamish.larch@ashdown.gov.uk>"
CABINET = "Cabinet Members <cabinet.members@ashdown.gov.uk>"
CYRUS = "Cllr Cyrus Ballantyne <cllr.cyrus.ballantyne@ashdown.gov.uk>"
CONSERVATIVES = (
    "Cllr Evander Stallybrass <cllr.evander.stallybrass@ashdown.gov.uk>; "
    "Cllr Desmond Okonjo <cllr.desmond.okonjo@ashdown.gov.uk>; "
    "Cllr Henrietta Poulter <cllr.henrietta.poulter@ashdown.gov.uk>"
)
EXEMPT_CIRCULAR = (
    "Dear Cabinet Members,\n\nItem 9 (sale of the Quay car park) is exempt information under paragraph 3 of "
    "Schedule 12A to the Local Government Act 1972 and is not for publication.\n\n"
    "Offers received: Bidder A £1.2m; Bidder B £0.95m.\n\nHamish"
)
GROUP_NOTES = (
    "Colleagues,\n\nNotes of Monday's group meeting - for group members only.\n\n1. We agreed to abstain on "
    "the leisure centre motion.\n2. Evander will lead for us on the budget.\n\nCyrus"
)
OPINION = (
    b"OPINION\n\nRe: Saltmarsh Quay compulsory purchase\n\n1. In my view the council's prospects at inquiry are "
    b"poor unless funding for phase two is secured.\n\nChambers of A. Barrister, 2 March 2026"
)
FOOTER = (
    b"Agenda - Coppice End Community Forum, 12 March 2026\n\n1. Welcome\n2. Library opening hours\n3. AOB\n\n"
    b"This document and any attachments are confidential and intended solely for the addressee. If you have "
    b"received this in error please notify the sender."
)

FLAGGED = [
    pytest.param(
        dict(
            sender="member:Evander",
            to="j.developer@quayside-homes.example.com",
            subject="FW: Cabinet item 9 - Quay car park",
            compose_type="forward",
            body="Worth a look before you put in your final offer.\n\nE"
            + quoted(HAMISH, CABINET, "Cabinet item 9 - Quay car park", EXEMPT_CIRCULAR),
        ),
        id="member-forwards-exempt-report-to-a-bidder",
    ),
    pytest.param(
        dict(
            sender="officer:Priyanka",
            to="campaign.chair@example.org",
            subject="Quay CPO",
            body="As promised, the note from counsel is attached.\n\nPriyanka",
            attachments=[("Counsels_Opinion_Quay_CPO.txt", OPINION, "text/plain")],
        ),
        id="counsels-opinion-attached-to-an-outside-address",
    ),
    pytest.param(
        dict(
            sender="member:Lorcan",
            to="personal:Lorcan",
            subject="FW: Senior management review",
            compose_type="forward",
            body="For reading at home."
            + quoted(
                "Gwendolyn Harcastle <gwendolyn.harcastle@ashdown.gov.uk>",
                CABINET,
                "Senior management review",
                "Attached is the draft restructure. The unions have not been consulted yet, so please keep this "
                "strictly confidential.",
            ),
        ),
        id="cabinet-member-forwards-draft-restructure-to-own-gmail",
    ),
    pytest.param(
        dict(
            sender="member:Desmond",
            to=["member:Imogen"],
            subject="FW: Conservative Group - Monday",
            compose_type="forward",
            body="Imogen - thought you'd like to see where we're heading on the motion.\n\nDesmond"
            + quoted(CYRUS, CONSERVATIVES, "Conservative Group - Monday", GROUP_NOTES),
        ),
        id="group-notes-forwarded-to-a-member-of-another-group",
    ),
    pytest.param(
        dict(
            sender="member:Barnaby",
            to="news@saltmarsh-gazette.example.co.uk",
            subject="Quay appeal",
            body="Strictly between us, the legal advice is that the council will lose the appeal and the "
            "leadership know it.\n\nBarnaby",
        ),
        id="member-tells-a-journalist-what-the-legal-advice-says",
    ),
    pytest.param(
        dict(
            sender="officer:Lionel",
            to="consultant@example-advisers.com",
            subject="RESTRICTED - budget gap options",
            body="Options paper below for your comments.\n\n1. Close two libraries.\n2. Raise car park charges.",
        ),
        id="restricted-marking-in-subject-to-a-consultant",
    ),
]

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="officer:Hamish",
            to=["list:cabinet"],
            cc=["officer:Priyanka"],
            subject="Cabinet item 9 - Quay car park",
            body=EXEMPT_CIRCULAR,
        ),
        id="exempt-report-kept-to-cabinet-and-monitoring-officer",
    ),
    pytest.param(
        dict(
            sender="officer:Florence",
            to="bookings@example-caterers.co.uk",
            subject="Forum refreshments",
            body="Hi, could you deliver tea and coffee for 40 to the community centre at 6pm on 12 March?\n\n"
            "Florence\n\nThis email and any files transmitted with it are confidential and intended solely for "
            "the use of the individual to whom they are addressed.",
        ),
        id="standard-disclaimer-only",
    ),
    pytest.param(
        dict(
            sender="officer:Florence",
            to="bookings@example-caterers.co.uk",
            subject="Forum agenda",
            body="Agenda attached for your information.\n\nFlorence",
            attachments=[("Forum_agenda.txt", FOOTER, "text/plain")],
        ),
        id="disclaimer-inside-an-attachment",
    ),
    pytest.param(
        dict(
            sender="officer:Hamish",
            to="a.resident@example.net",
            subject="RE: Quay car park sale - request for the exempt report",
            compose_type="reply",
            body="Dear Ms Resident,\n\nThe Quay car park report was taken in private session in March. The sale "
            "has now completed and the report has since been published on our website, with the bidders' "
            "names redacted.\n\nHamish",
        ),
        id="formerly-exempt-report-since-published",
    ),
    pytest.param(
        dict(
            sender="officer:Hamish",
            to="a.resident@example.net",
            subject="Quay car park",
            body="Dear Ms Resident,\n\nThe report contains exempt information under Schedule 12A, so I am unable "
            "to send you a copy until the sale completes.\n\nHamish",
        ),
        id="exempt-report-withheld-not-sent",
    ),
    pytest.param(
        dict(
            sender="officer:Oswin",
            to="chair@example-tenants.org.uk",
            subject="Estate improvements",
            body="Nothing in this note is confidential, so please share it with your committee.\n\nThe "
            "new windows will be fitted from May.\n\nOswin",
        ),
        id="negated-mention",
    ),
    pytest.param(
        dict(
            sender="officer:Jasper",
            to="a.resident@example.net",
            subject="Your tenancy query",
            body="You may wish to seek independent legal advice about the terms of your lease.\n\nJasper",
        ),
        id="advice-to-get-legal-advice",
    ),
    pytest.param(
        dict(
            sender="member:Cyrus",
            to=["member:Evander", "member:Desmond", "member:Henrietta"],
            subject="Conservative Group - Monday - PRIVATE",
            body=GROUP_NOTES,
        ),
        id="group-notes-kept-within-the-group",
    ),
    pytest.param(
        dict(
            sender="officer:Priyanka",
            to="caseworker@example.gov.uk",
            subject="Quay CPO - legal advice (privileged)",
            body="Our legal advice is attached, for the inspectorate's case file.\n\nPriyanka",
            attachments=[("Counsels_Opinion_Quay_CPO.txt", OPINION, "text/plain")],
        ),
        id="legal-advice-to-a-trusted-partner-domain",
    ),
]


@pytest.mark.parametrize("fields", FLAGGED)
def test_flagged(check, make_draft, fields):
    [finding] = check(make_draft(**fields), rules=[RULE_ID])
    assert finding.rule == RULE_ID
    assert finding.citations == CITES and finding.note
    assert finding.evidence and finding.evidence[-1].where == "recipients"


@pytest.mark.parametrize("fields", NOT_FLAGGED)
def test_not_flagged(check, make_draft, fields):
    assert check(make_draft(**fields), rules=[RULE_ID]) == []
