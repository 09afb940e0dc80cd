"""personal-data-to-private-address: rules.md section 1, cases written from the rule text.

Each flagged case lists the identifiers that must not appear in the finding's evidence:
evidence is shown, logged and stored, so it is masked.
"""

import pytest

RULE_ID = "personal-data-to-private-address"
CITES = {"CAM 9.7", "CAM 9.8", "CJC 1", "CJC 2"}  # and the aide memoire's private e-mail example


def quoted(sender: str, to: str, subject: str, text: str) -> str:
    """An Outlook-style quoted earlier message, for the body of a reply or forward."""
    return f"\n\n________________________________\nFrom: {sender}\nSent: 02 March 2026 09:12\nTo: {to}\nSubject: {subject}\n\n{text}"


CASE = (
    "Mrs Adaeze Morton-Flint of 14 Wickham Row, AD3 7PL, has been on the housing register since March and is in "
    "temporary accommodation with her two children. Her case reference is HSG/2026/0871."
)
CASE_SECRETS = ["Adaeze", "Morton-Flint", "14 Wickham", "7PL", "2026/0871"]

FLAGGED = [
    pytest.param(
        dict(
            sender="officer:Oswin",
            to="personal:Lorcan",
            subject="Housing case you raised",
            body=f"Dear Lorcan,\n\nAs requested, an update. {CASE}\n\nKind regards\nOswin",
        ),
        CASE_SECRETS,
        id="officer-sends-a-constituents-case-to-a-members-gmail",
    ),
    pytest.param(
        dict(
            sender="officer:Jasper",
            to="member:Desmond",
            cc="desmond.okonjo@hotmail.co.uk",
            subject="RE: Benefit claim papers",
            body="Desmond,\n\nAs you asked, copied to your hotmail: Mr Wilberforce Tench's housing benefit claim is "
            "attached in summary. His National Insurance number is JM 48 73 16 B.\n\nJasper",
        ),
        ["Wilberforce", "Tench", "48 73 16"],
        id="case-papers-copied-to-a-members-hotmail",
    ),
    pytest.param(
        dict(
            sender="member:Cyrus",
            to="personal:Cyrus",
            subject="FW: Safeguarding concern",
            compose_type="forward",
            body="For my records."
            + quoted(
                "Florence Iredale <florence.iredale@ashdown.gov.uk>",
                "Cyrus Ballantyne <cllr.cyrus.ballantyne@ashdown.gov.uk>",
                "Safeguarding concern",
                "Cllr Ballantyne, the resident at 7 Heron Reach, Ms Oriana Blackwood (DOB 12/09/1941), has "
                "dementia and social care have been informed.\n\nFlorence",
            ),
        ),
        ["Oriana", "Blackwood", "12/09/1941", "7 Heron"],
        id="casework-forwarded-to-a-personal-account-on-a-family-domain",
    ),
    pytest.param(
        dict(
            sender="officer:Kieran",
            to="kieran.r.home@outlook.com",
            subject="Arrears list",
            body="To work on at home.\n\nKieran",
            attachments=[
                (
                    "arrears.csv",
                    b"Name,Address,Postcode,Notes\n"
                    b"Mr Gareth Pumphrey,22 Tollgate Lane,AD3 1QX,rent arrears\n"
                    b"Mrs Olwen Treharne,5 Heron Reach,AD2 4LB,eviction notice served\n",
                )
            ],
        ),
        ["Gareth", "Pumphrey", "22 Tollgate", "1QX", "Treharne"],
        id="arrears-spreadsheet-attached-for-a-personal-mailbox",
    ),
    pytest.param(
        dict(
            sender="officer:Florence",
            to="officer:Oswin",
            bcc="personal:Lorcan",
            subject="Referral",
            body="Oswin,\n\nPlease refer the patient, NHS number 943 476 5919, to the falls team.\n\nFlorence",
        ),
        ["476 5919", "4765919"],
        id="nhs-number-with-a-private-address-in-bcc",
    ),
    pytest.param(
        dict(
            sender="member:Nkechi",
            to="sue.pennock@yahoo.co.uk",
            subject="Your neighbour",
            body="Dear Sue,\n\nI have spoken to officers about Mr Tobenna Harwick at 3 Orchard Rise. He has "
            "schizophrenia and has stopped taking his medication, so the mental health team is involved."
            "\n\nNkechi",
        ),
        ["Tobenna", "Harwick", "3 Orchard"],
        id="neighbours-health-details-to-a-resident",
    ),
]

HOLLINGBROOK = quoted(
    "Martin Hollingbrook <m.hollingbrook62@yahoo.co.uk>",
    "Jasper Oakes <jasper.oakes@ashdown.gov.uk>",
    "my council tax reduction",
    "Hello, what is happening with my claim CTR-448210? I live at 3 Orchard Rise, AD4 2RT.\n\nMartin",
)

NOT_FLAGGED = [
    pytest.param(
        dict(
            sender="officer:Oswin",
            to="member:Lorcan",
            cc="officer:Kieran",
            subject="Housing case you raised",
            body=f"Dear Lorcan,\n\nAs requested, an update. {CASE}\n\nKind regards\nOswin",
        ),
        id="same-case-to-council-addresses-only",
    ),
    pytest.param(
        dict(
            sender="officer:Florence",
            to="falls.team@nhs.net",
            subject="Referral",
            body="Please see Ms Oriana Blackwood (DOB 12/09/1941, NHS number 943 476 5919) at 7 Heron Reach, "
            "who has dementia.\n\nFlorence",
        ),
        id="health-details-to-a-trusted-partner",
    ),
    pytest.param(
        dict(
            sender="officer:Jasper",
            to="Martin Hollingbrook <m.hollingbrook62@yahoo.co.uk>",
            subject="RE: my council tax reduction",
            compose_type="reply",
            body="Dear Mr Hollingbrook,\n\nYour council tax reduction claim for 3 Orchard Rise, AD4 2RT has been "
            "approved from 1 April.\n\nKind regards\nJasper Oakes" + HOLLINGBROOK,
        ),
        id="reply-to-a-resident-about-their-own-case",
    ),
    pytest.param(
        dict(
            sender="officer:Jasper",
            to="m.hollingbrook62@yahoo.co.uk",
            subject="RE: my council tax reduction",
            compose_type="reply",
            body="Dear Mr Hollingbrook,\n\nYour council tax reduction claim has been approved from 1 April.\n\n"
            "Kind regards\nJasper Oakes" + HOLLINGBROOK,
        ),
        id="reply-to-a-resident-about-their-own-case-address-without-display-name",
    ),
    pytest.param(
        dict(
            sender="officer:Marisol",
            to="personal:Lorcan",
            subject="Planning committee date",
            body="Dear Lorcan,\n\nThe next planning committee is on Tuesday 14 April at 7pm in the Council "
            "Chamber. The agenda will be published a week before.\n\nKind regards\nMarisol",
        ),
        id="private-address-that-gets-no-personal-data",
    ),
    pytest.param(
        dict(
            sender="member:Henrietta",
            to="resident.one@gmail.com",
            subject="RE: Noise from the allotments",
            compose_type="reply",
            body="Thank you, I have asked the environmental health team to look into it.\n\nHenrietta"
            + quoted(
                "Jan Ferris <resident.one@gmail.com>",
                "Henrietta Poulter <cllr.henrietta.poulter@ashdown.gov.uk>",
                "Noise from the allotments",
                "Mr Colin Dace at 9 Orchard Rise runs a generator all night. His number is 07700 900123.",
            ),
        ),
        id="reply-quoting-the-residents-own-message-back-to-them",
    ),
    pytest.param(
        dict(
            sender="officer:Tamsin",
            to="resident.two@btinternet.com",
            subject="Your missed collection",
            body="Dear resident,\n\nI am sorry your bin was missed. Oswin Thackeray, our Housing Services "
            "Manager, can be reached on 01632 960441 if the problem continues.\n\nTamsin Greaves",
        ),
        id="council-staff-contact-details-to-a-resident",
    ),
    pytest.param(
        dict(
            sender="officer:Kieran",
            to="Carla Fenwick <carla.fenwick@hotmail.co.uk>",
            subject="Your housing register application",
            body="Dear Ms Fenwick,\n\nI have now assessed your application (reference 40718). You have been "
            "placed in Band C because you share a kitchen at your current address, 22 Sedge Green, Wickham Row, "
            "AD1 9LB. Your log-in details will follow by post.\n\nKieran",
        ),
        id="the-applicant-about-her-own-application-naming-a-ward-place",
    ),
]


@pytest.mark.parametrize(("fields", "secrets"), FLAGGED)
def test_flagged(check, make_draft, checker, fields, secrets):
    [finding] = check(make_draft(**fields), rules=[RULE_ID])
    assert finding.rule == RULE_ID
    assert CITES <= set(finding.citations) and any(c.startswith("AIDE") for c in finding.citations)
    assert finding.citations == tuple(checker.policy.rules[RULE_ID].cite)
    assert finding.note.strip() and finding.title.strip()
    assert finding.evidence
    shown = " ".join([finding.reason, *(e.text for e in finding.evidence)])
    for secret in secrets:
        assert secret not in shown, f"{secret!r} shown unmasked: {shown}"


@pytest.mark.parametrize("fields", NOT_FLAGGED)
def test_not_flagged(check, make_draft, fields):
    assert check(make_draft(**fields), rules=[RULE_ID]) == []


def test_private_recipient_is_named_masked_in_the_evidence(check, make_draft):
    fields = FLAGGED[0].values[0]
    [finding] = check(make_draft(**fields), rules=[RULE_ID])
    shown = " ".join(e.text for e in finding.evidence)
    assert "@gmail.com" in shown and "lorcan.pettifer77" not in shown


def test_forward_discloses_quoted_data_afresh_but_the_same_reply_does_not(check, make_draft):
    earlier = quoted(
        "Florence Iredale <florence.iredale@ashdown.gov.uk>",
        "Lorcan Pettifer <lorcan.pettifer77@gmail.com>",
        "Your constituent",
        "Mrs Olwen Treharne of 5 Heron Reach has been diagnosed with dementia; social care are involved.",
    )
    reply = make_draft(
        sender="officer:Florence",
        to="personal:Lorcan",
        subject="RE: Your constituent",
        compose_type="reply",
        body="Yes, Thursday is fine." + earlier,
    )
    forward = make_draft(
        sender="officer:Florence",
        to="sue.pennock@yahoo.co.uk",
        subject="FW: Your constituent",
        compose_type="forward",
        body="See below." + earlier,
    )
    assert check(reply, rules=[RULE_ID]) == []
    [finding] = check(forward, rules=[RULE_ID])
    assert any(e.where == "quoted" for e in finding.evidence)


def test_the_evidence_lists_every_kind_of_identifier_found(check, make_draft):
    """Information governance sees each kind of detail that was sent, each masked, not the first few."""
    text = (
        "Mrs Jane Doverhampton of 12 Tollgate Lane, phone 07700 900123, sort code 20-45-77, "
        "case ref HSG/2026/0412, NHS number 943 476 5919, is in rent arrears and has dementia."
    )
    [finding] = check(
        make_draft(sender="member:Lorcan", to="j.smith.home@gmail.com", body=text), rules=[RULE_ID]
    )
    shown = [e.text for e in finding.evidence if e.where == "body"]
    for kind in ("NHS number", "case reference", "bank details", "phone number", "home address"):
        assert any(kind in line for line in shown), (kind, shown)
    assert any("dementia" in line for line in shown) and any("rent arrears" in line for line in shown)
    assert not any(s in " ".join(shown) for s in ("476 5919", "900123", "45-77", "Doverhampton"))


def test_a_health_term_in_the_names_own_long_sentence_is_about_that_person(check, make_draft):
    """A term counts in the name's own sentence however long it runs, and within ``term_window``
    characters of it; a term in another sentence further on is about someone or something else."""
    own_sentence = (
        "The occupier at No. 12, Mr Graham Oddington, is already known to us: he was served with an "
        "abatement notice last year, and since then we have been working with his care coordinator, as "
        "he has been in and out of hospital with bipolar disorder."
    )
    elsewhere = (
        "Mr Graham Oddington chairs the allotment society and organised the summer show this year, "
        "which was well attended by families from across the borough and beyond. Separately, the "
        "national charity has published figures on dementia across the county."
    )
    draft = {"sender": "officer:Jasper", "to": "sue.pennock@yahoo.co.uk"}
    [finding] = check(make_draft(body=own_sentence, **draft), rules=[RULE_ID])
    assert any("bipolar" in e.text or "hospital" in e.text for e in finding.evidence)
    assert check(make_draft(body=elsewhere, **draft), rules=[RULE_ID]) == []


def test_ten_digits_are_an_nhs_number_only_when_labelled(check, make_draft):
    """Any ten digits pass the NHS check digit one time in eleven: an order number is not one."""
    draft = {"sender": "officer:Jasper", "to": "sue.pennock@yahoo.co.uk"}
    labelled = "Please note the patient's NHS number is 943 476 5919 for the referral."
    bare = "Your order 943 476 5919 from the stationery catalogue has been dispatched."
    [finding] = check(make_draft(body=labelled, **draft), rules=[RULE_ID])
    assert any("NHS number" in e.text for e in finding.evidence)
    assert check(make_draft(body=bare, **draft), rules=[RULE_ID]) == []
