"""media-enquiry-not-referred: rules.md section 10, cases written from the rule text."""

import pytest

RULE_ID = "media-enquiry-not-referred"
CITES = ("CAM 11.7", "DC 7.3", "COL 3(7)", "CJC 7")


def quoted(sender: str, to: str, subject: str, text: str) -> str:
    """An Outlook-style quoted earlier message, for the body of a reply or forward."""
    return f"\n\n________________________________\nFrom: {sender}\nSent: Wednesday, 4 March 2026 11:20\nTo: {to}\nSubject: {subject}\n\n{text}"


BROADCASTER = "Dev Sharma <dev.sharma@bbc.co.uk>"
FREELANCE = "Sam Ortiz <sam.ortiz.writes@gmail.com>"
GAZETTE = "Lena Fox <lena.fox@saltmarshgazette.example.co.uk>"
OSWIN = "Oswin Thackeray <oswin.thackeray@ashdown.gov.uk>"
FLORENCE = "Florence Iredale <florence.iredale@ashdown.gov.uk>"
BROADCAST_ENQUIRY = (
    "Hello,\n\nWe're covering the rise in homelessness across the district for tonight's bulletin. How many "
    "households are in temporary accommodation, and what is the council doing about it?\n\n"
    "Dev Sharma\nProducer, BBC Radio Ashdown"
)
FREELANCE_ENQUIRY = (
    "Hi,\n\nI'm a freelance journalist writing a piece on food hygiene ratings for a regional magazine. How "
    "many takeaways in Ashdown scored zero this year? My deadline is Thursday noon.\n\nSam Ortiz"
)
GAZETTE_ENQUIRY = (
    "Dear Ms Iredale,\n\nWe are running a story on the smell from the Saltmarsh Quay treatment works. Has the "
    "council served an abatement notice? Can I have a comment for Friday's edition?\n\nLena Fox\nReporter"
)

FLAGGED = [
    pytest.param(
        dict(
            sender="officer:Oswin",
            to=BROADCASTER,
            subject="RE: Temporary accommodation",
            compose_type="reply",
            body="Dear Dev,\n\nWe have 61 households in temporary accommodation, up from 40 a year ago, mainly "
            "because private rents have risen so fast. We are buying 15 homes to use instead of B&B.\n\nOswin"
            + quoted(BROADCASTER, OSWIN, "Temporary accommodation", BROADCAST_ENQUIRY),
        ),
        id="manager-gives-a-broadcaster-figures-and-reasons",
    ),
    pytest.param(
        dict(
            sender="officer:Florence",
            to=FREELANCE,
            subject="RE: Hygiene ratings",
            compose_type="reply",
            body="Hi Sam,\n\nFive takeaways were rated zero this year. To be honest I think the standards in "
            "some of them are shocking.\n\nFlorence"
            + quoted(FREELANCE, FLORENCE, "Hygiene ratings", FREELANCE_ENQUIRY),
        ),
        id="officer-answers-a-freelance-journalist-at-gmail",
    ),
    pytest.param(
        dict(
            sender="officer:Florence",
            to=GAZETTE,
            cc=["member:Imogen"],
            subject="RE: Treatment works smell",
            compose_type="reply",
            body='Dear Lena,\n\nYou can quote me: "The council takes the odour seriously and served an abatement '
            'notice on the operator on 2 March."\n\nI have copied Cllr Saltash, the cabinet member.\n\nFlorence'
            + quoted(GAZETTE, FLORENCE, "Treatment works smell", GAZETTE_ENQUIRY),
        ),
        id="statement-with-cabinet-member-copied-not-the-press-office",
    ),
    pytest.param(
        dict(
            sender="officer:Lionel",
            to="business.desk@example-newspaper.co.uk",
            subject="Council budget",
            body="Further to your enquiry this morning, the budget gap for next year is £4.2m and we expect to "
            "close it without cutting frontline services.\n\nLionel",
        ),
        id="new-mail-answering-a-newspapers-earlier-enquiry",
    ),
]

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="officer:Oswin",
            to=["team:communications"],
            subject="FW: Temporary accommodation",
            compose_type="forward",
            body="Hi both - BBC enquiry below, can you pick it up? For background: 61 households in TA, up from "
            "40. I haven't replied.\n\nOswin"
            + quoted(BROADCASTER, OSWIN, "Temporary accommodation", BROADCAST_ENQUIRY),
        ),
        id="enquiry-forwarded-to-the-press-office",
    ),
    pytest.param(
        dict(
            sender="officer:Elspeth",
            to=BROADCASTER,
            subject="RE: Temporary accommodation",
            compose_type="reply",
            body='Hi Dev,\n\nA council spokesperson said: "We have 61 households in temporary accommodation and '
            'are buying homes to reduce the use of B&B."\n\nElspeth'
            + quoted(BROADCASTER, OSWIN, "Temporary accommodation", BROADCAST_ENQUIRY),
        ),
        id="communications-officer-replies",
    ),
    pytest.param(
        dict(
            sender="team:communications",
            to=GAZETTE,
            subject="RE: Treatment works smell",
            compose_type="reply",
            body="Hi Lena,\n\nThe council served an abatement notice on 2 March and is monitoring the site "
            "weekly.\n\nPress Office" + quoted(GAZETTE, FLORENCE, "Treatment works smell", GAZETTE_ENQUIRY),
        ),
        id="press-office-mailbox-replies",
    ),
    pytest.param(
        dict(
            sender="officer:Florence",
            to=GAZETTE,
            subject="RE: Treatment works smell",
            compose_type="reply",
            body="Dear Lena,\n\nI'm afraid I can't comment - media enquiries are handled by our press office, "
            "who you can reach at press.office@ashdown.gov.uk.\n\nKind regards\nFlorence"
            + quoted(GAZETTE, FLORENCE, "Treatment works smell", GAZETTE_ENQUIRY),
        ),
        id="logistical-reply-pointing-to-the-press-office",
    ),
    pytest.param(
        dict(
            sender="officer:Florence",
            to=GAZETTE,
            cc=["officer:Elspeth"],
            subject="RE: Treatment works smell",
            compose_type="reply",
            body="Dear Lena,\n\nAn abatement notice was served on 2 March. I've copied our Communications Team, "
            "who will handle any follow-up.\n\nFlorence"
            + quoted(GAZETTE, FLORENCE, "Treatment works smell", GAZETTE_ENQUIRY),
        ),
        id="facts-given-with-the-communications-team-copied",
    ),
    pytest.param(
        dict(
            sender="member:Imogen",
            to=GAZETTE,
            subject="RE: Treatment works smell",
            compose_type="reply",
            body="Dear Lena,\n\nResidents have put up with this for far too long and I will keep pressing the "
            "operator.\n\nCllr Imogen Saltash"
            + quoted(GAZETTE, FLORENCE, "Treatment works smell", GAZETTE_ENQUIRY),
        ),
        id="a-member-speaks-for-themselves",
    ),
    pytest.param(
        dict(
            sender="officer:Florence",
            to="a.resident@example.net",
            subject="RE: Smell from the works",
            compose_type="reply",
            body="Dear Mr Resident,\n\nWe served an abatement notice on the operator on 2 March and will be "
            "monitoring the site weekly.\n\nFlorence"
            + quoted(
                "A Resident <a.resident@example.net>",
                FLORENCE,
                "Smell from the works",
                "The smell is unbearable. What are you doing about it?",
            ),
        ),
        id="a-resident-is-not-a-journalist",
    ),
]


@pytest.mark.parametrize("fields", FLAGGED)
def test_flagged(check, make_draft, fields):
    [finding] = check(make_draft(**fields), rules=[RULE_ID])
    assert finding.rule == RULE_ID
    assert finding.citations == CITES and finding.note
    assert finding.evidence[0].where == "body"


@pytest.mark.parametrize("fields", NOT_FLAGGED)
def test_not_flagged(check, make_draft, fields):
    assert check(make_draft(**fields), rules=[RULE_ID]) == []
