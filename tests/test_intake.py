"""Message intake: .eml, the add-in's JSON draft and Outlook .msg give the same Message essentials;
bodies split into new text, quoted text, signature and disclaimer; reply and forward flags."""

from __future__ import annotations

import base64
import io
import json
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import docx
import openpyxl
import pytest

from correspondence_guard import Message, load_message, parse_draft, parse_eml

DATA = Path(__file__).parent / "data"
MSG_SAMPLE = DATA / "outlook-newsletter.msg"  # origin: tests/data/README.md

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- building test documents ---------------------------------------------------------------


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page PDF whose text is drawn in Helvetica, written by hand (pypdf writes no text)."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL", *(f"({esc(line)}) Tj T*" for line in lines), "ET"]
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"
        b" /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % off for off in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def docx_bytes(paragraphs: list[str], table: list[list[str]]) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for row, values in zip(grid.rows, table, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# One attachment of each readable type, and a phrase its extracted text must hold.
ATTACHMENTS = [
    (
        "site-notes.txt",
        "text/plain",
        b"Site visit notes: damp in the rear bedroom.\n",
        "damp in the rear bedroom",
    ),
    ("rota.csv", "text/csv", b"Day,Crew\nMonday,Saltmarsh crew\n", "Monday, Saltmarsh crew"),
    (
        "notice.html",
        "text/html",
        b"<html><body><h1>Notice</h1><p>Road closed at <b>Heron Reach</b>.</p></body></html>",
        "Road closed at Heron Reach",
    ),
    (
        "letter.docx",
        DOCX,
        docx_bytes(["Dear resident, the inspection is booked."], [["Ward", "Harrowdene"]]),
        "the inspection is booked",
    ),
    ("arrears.xlsx", XLSX, xlsx_bytes([["Tenant", "Weeks"], ["Flat 4", 6]]), "Flat 4, 6"),
    (
        "report.pdf",
        "application/pdf",
        pdf_bytes(["Quarterly report on Tollgate Lane", "Repairs completed: 14"]),
        "Quarterly report on Tollgate Lane",
    ),
]

SENDER = ("Oswin Thackeray", "oswin.thackeray@ashdown.gov.uk")
TO = [("Lorcan Pettifer", "cllr.lorcan.pettifer@ashdown.gov.uk"), ("", "lorcan.pettifer77@gmail.com")]
CC = [("Kieran Reddaway", "kieran.reddaway@ashdown.gov.uk")]
SUBJECT = "RE: Repairs at Pennyfield Estate"
TEXT = (
    "Dear Lorcan,\n\nThe roof repairs at Pennyfield Estate are booked for next week.\n\n"
    "Kind regards\nOswin Thackeray\nHousing Services Manager\n"
)
HTML = (
    "<html><body><p>Dear Lorcan,</p><p>The roof repairs at Pennyfield Estate are booked for next week.</p>"
    "<p>Kind regards<br>Oswin Thackeray<br>Housing Services Manager</p></body></html>"
)


def _fmt(name: str, email: str) -> str:
    return f"{name} <{email}>" if name else email


def build_eml(
    text: str | None = TEXT, html: str | None = None, attachments=ATTACHMENTS, **headers: str
) -> bytes:
    msg = EmailMessage()
    msg["From"] = _fmt(*SENDER)
    msg["To"] = ", ".join(_fmt(*a) for a in TO)
    msg["Cc"] = ", ".join(_fmt(*a) for a in CC)
    msg["Subject"] = SUBJECT
    msg["Date"] = "Tue, 03 Mar 2026 10:15:00 +0000"
    msg["Message-ID"] = "<repairs-2@ashdown.gov.uk>"
    for name, value in headers.items():
        del msg[name.replace("_", "-")]
        msg[name.replace("_", "-")] = value
    if text is not None:
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    elif html is not None:
        msg.set_content(html, subtype="html")
    for name, ctype, data, _ in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=SMTP)


def build_draft(text: str = TEXT, html: str = "", attachments=ATTACHMENTS, **extra: object) -> dict:
    """The JSON an Outlook add-in sends (Office.js field names, base64 attachments)."""
    return {
        "from": {"emailAddress": SENDER[1], "displayName": SENDER[0]},
        "to": [{"emailAddress": e, "displayName": n} for n, e in TO],
        "cc": [{"emailAddress": e, "displayName": n} for n, e in CC],
        "subject": SUBJECT,
        "body": {"text": text, "html": html},
        "composeType": "reply",
        "attachments": [
            {"name": name, "contentType": ctype, "content": base64.b64encode(data).decode("ascii")}
            for name, ctype, data, _ in attachments
        ],
        **extra,
    }


def essentials(m: Message) -> dict[str, object]:
    """What every input form must agree on."""
    return {
        "sender": m.sender.email if m.sender else None,
        "to": [a.email for a in m.to],
        "cc": [a.email for a in m.cc],
        "subject": m.subject,
        "new_text": " ".join(m.body.new_text.split()),
        "signature": " ".join(m.body.signature.split()),
        "is_reply": m.is_reply,
        "is_forward": m.is_forward,
        "attachments": [(a.name, " ".join(a.text.split())) for a in m.attachments],
    }


# --- every form, the same Message ----------------------------------------------------------


def test_eml_reads_addresses_subject_date_and_ids():
    m = parse_eml(build_eml(In_Reply_To="<repairs-1@ashdown.gov.uk>"))
    assert m.sender is not None and m.sender.email == SENDER[1] and m.sender.name == SENDER[0]
    assert [a.email for a in m.to] == [e for _, e in TO]
    assert [a.email for a in m.cc] == [e for _, e in CC]
    assert m.subject == SUBJECT
    assert m.date is not None and (m.date.year, m.date.month, m.date.day, m.date.hour) == (2026, 3, 3, 10)
    assert m.message_id == "<repairs-2@ashdown.gov.uk>"
    assert m.in_reply_to == "<repairs-1@ashdown.gov.uk>"
    assert m.problems == ()


def test_eml_headers_in_raw_utf8_in_encoded_words_and_with_commas_in_names():
    raw = (
        "From: José Núñez <jose@ashdown.gov.uk>\n"
        'To: "Smith, John" <j@ashdown.gov.uk>, =?utf-8?q?Jones=2C_Ann?= <a@ashdown.gov.uk>\n'
        "To: second@ashdown.gov.uk\n"
        "Subject: Café report\n =?utf-8?q?f=C3=A9?= r=?bogus\n\nHello\n"
    ).encode()
    m = parse_eml(raw)
    assert m.sender is not None and m.sender.name == "José Núñez"
    assert [(a.name, a.email) for a in m.to] == [
        ("Smith, John", "j@ashdown.gov.uk"),
        ("Jones, Ann", "a@ashdown.gov.uk"),
        ("", "second@ashdown.gov.uk"),
    ]
    assert m.subject == "Café report fé r=?bogus"
    latin1 = parse_eml(b"From: a@ashdown.gov.uk\nSubject: caf\xe9\n\nHello\n")
    assert latin1.subject == "café"


@pytest.mark.parametrize(
    ("name", "ctype", "data", "phrase"), ATTACHMENTS, ids=[a[0].split(".")[1] for a in ATTACHMENTS]
)
def test_attachment_text_is_extracted_from_eml_and_draft(name, ctype, data, phrase):
    one = [(name, ctype, data, phrase)]
    for m in (parse_eml(build_eml(attachments=one)), parse_draft(build_draft(attachments=one))):
        [att] = m.attachments
        assert att.name == name and att.size == len(data) and att.problem == ""
        assert phrase in " ".join(att.text.split())


def test_draft_and_eml_give_the_same_essentials():
    from_eml = parse_eml(build_eml())
    from_draft = parse_draft(json.dumps(build_draft()).encode())
    assert essentials(from_draft) == essentials(from_eml)
    assert essentials(from_eml)["new_text"].startswith("Dear Lorcan")


def test_html_only_eml_gives_the_same_text_as_plain():
    plain = parse_eml(build_eml())
    html_only = parse_eml(build_eml(text=None, html=HTML))
    assert essentials(html_only) == essentials(plain)


def test_alternative_with_only_an_html_part_is_read():
    msg = EmailMessage()
    msg["From"] = _fmt(*SENDER)
    msg["To"] = TO[0][1]
    msg["Subject"] = "Bin collections"
    msg.make_alternative()
    alt = EmailMessage()
    alt.set_content("<p>Collections resume on <b>Monday</b>.</p><p>Regards<br>Oswin</p>", subtype="html")
    msg.attach(alt)
    m = parse_eml(msg.as_bytes())
    assert m.body.new_text.replace("\n", " ").startswith("Collections resume on Monday.")
    assert "<" not in m.body.new_text and m.attachments == ()


def test_draft_from_html_body_only():
    m = parse_draft(build_draft(text="", html=HTML, attachments=[]))
    assert essentials(m) == essentials(parse_eml(build_eml(attachments=[])))


def test_draft_accepts_plain_field_names_too():
    plain = {
        "sender": {"email": SENDER[1], "name": SENDER[0]},
        "to": [{"email": e, "name": n} for n, e in TO],
        "cc": [{"email": e, "name": n} for n, e in CC],
        "subject": SUBJECT,
        "bodyText": TEXT,
        "isReply": True,
        "attachments": [{"name": "a.txt", "content_type": "text/plain", "contentBase64": "aGVsbG8="}],
    }
    m = parse_draft(plain)
    assert essentials(m) | {"attachments": []} == essentials(parse_draft(build_draft(attachments=[])))
    assert m.attachments[0].text == "hello"


def test_load_message_picks_the_reader_by_suffix(tmp_path):
    (tmp_path / "a.eml").write_bytes(build_eml())
    (tmp_path / "a.json").write_text(json.dumps(build_draft()), encoding="utf-8")
    from_files = [essentials(load_message(tmp_path / name)) for name in ("a.eml", "a.json")]
    assert from_files[0] == from_files[1] == essentials(parse_eml(build_eml()))


@pytest.fixture(scope="module")
def outlook_msg(msgconvert) -> Message:
    return load_message(MSG_SAMPLE)


def test_msg_file_is_read(outlook_msg):
    m = outlook_msg
    assert m.sender is not None and m.sender.email == "nueblingv@w-vwa.de"
    assert [a.email for a in m.to] == ["gaiser-schoenenborn@kreis-tuebingen.de"]
    # a folded, encoded Subject keeps its space (mail-parser alone drops it)
    assert m.subject == "Newsletter Prüfung Personalwesen / Prüfung Eröffnungsbilanz"
    assert m.date is not None and (m.date.year, m.date.month, m.date.day) == (2017, 9, 18)
    assert "Sehr geehrte Frau Gaiser-Schönenborn" in m.body.new_text
    assert "newsletter.png" in {a.name for a in m.attachments}


def test_msg_rtf_and_images_are_listed_as_attachments(outlook_msg):
    kinds = sorted(a.content_type for a in outlook_msg.attachments)
    assert "application/rtf" in kinds and "image/png" in kinds
    assert {"spacer.gif", "image004.jpg"} <= {a.name for a in outlook_msg.attachments}


NAMELESS = (
    b"From: Jasper Oakes <jasper.oakes@ashdown.gov.uk>\nTo: someone@example.org\nSubject: Lists\n"
    b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n'
    b"--B\nContent-Type: text/plain\n\nSee attached.\n"
    b"--B\nContent-Type: text/csv\nContent-Disposition: attachment\n\nStreet,Crew\nTollgate Lane,Red crew\n"
    b"--B\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
)


def test_nameless_attachment_gets_the_same_name_every_time():
    """Evidence says where a finding was seen ("attachment:NAME"): the same message must give the same name."""
    raw = NAMELESS + b"--B--\n"
    first, second = parse_eml(raw), parse_eml(raw)
    assert [a.name for a in first.attachments] == [a.name for a in second.attachments]
    [att] = first.attachments
    assert "Tollgate Lane" in att.text


def test_nameless_pdf_part_without_disposition_is_still_an_attachment():
    """A part that is neither the body nor named must not vanish: its text may carry what a rule looks for."""
    pdf = base64.encodebytes(pdf_bytes(["Tenancy file for Heron Reach"]))
    m = parse_eml(NAMELESS + pdf + b"--B--\n")
    pdfs = [a for a in m.attachments if a.content_type == "application/pdf"]
    assert len(pdfs) == 1, f"attachments found: {[(a.name, a.content_type) for a in m.attachments]}"
    assert "Tenancy file for Heron Reach" in pdfs[0].text


# --- body splitting ------------------------------------------------------------------------

EARLIER = "The missed collection on Harrowdene Road was caused by a broken-down lorry."

REPLY_STYLES = [
    pytest.param(
        "Thank you, I will let the residents know.\n\n"
        "________________________________\n"
        "From: Tamsin Greaves <tamsin.greaves@ashdown.gov.uk>\n"
        "Sent: 02 March 2026 09:12\n"
        "To: Desmond Okonjo <cllr.desmond.okonjo@ashdown.gov.uk>\n"
        "Cc: Florence Iredale <florence.iredale@ashdown.gov.uk>; Oswin Thackeray <oswin.thackeray@ashdown.gov.uk>\n"
        "Subject: Missed bins\n\n" + EARLIER + "\n\nTamsin\n",
        id="outlook-underscore-header-block",
    ),
    pytest.param(
        "Thank you, I will let the residents know.\n\n"
        "-----Original Message-----\n"
        "From: Tamsin Greaves [mailto:tamsin.greaves@ashdown.gov.uk]\n"
        "Sent: Monday, March 2, 2026 9:12 AM\n"
        "To: Desmond Okonjo <cllr.desmond.okonjo@ashdown.gov.uk>\n"
        "Cc: Florence Iredale <florence.iredale@ashdown.gov.uk>; Oswin Thackeray <oswin.thackeray@ashdown.gov.uk>\n"
        "Subject: Missed bins\n\n" + EARLIER + "\n",
        id="original-message-banner",
    ),
    pytest.param(
        "Thank you, I will let the residents know.\n\n"
        "On Mon, 2 Mar 2026 at 09:12, Tamsin Greaves <tamsin.greaves@ashdown.gov.uk> wrote:\n"
        "> " + EARLIER + "\n>\n> Tamsin\n",
        id="on-date-wrote-with-angle-quoting",
    ),
]


@pytest.mark.parametrize("text", REPLY_STYLES)
def test_reply_splits_new_text_from_quoted(text):
    body = parse_draft({"from": {"email": "cllr.desmond.okonjo@ashdown.gov.uk"}, "body": text}).body
    assert body.new_text == "Thank you, I will let the residents know."
    assert EARLIER in " ".join(body.quoted_text.split())
    assert "broken-down lorry" not in body.new_text
    [header] = body.quoted_headers
    assert header.sender is not None and header.sender.email == "tamsin.greaves@ashdown.gov.uk"


@pytest.mark.parametrize("text", REPLY_STYLES[:2])
def test_quoted_header_block_gives_to_and_cc(text):
    [header] = parse_draft({"body": text}).body.quoted_headers
    assert [a.email for a in header.to] == ["cllr.desmond.okonjo@ashdown.gov.uk"]
    assert [a.email for a in header.cc] == [
        "florence.iredale@ashdown.gov.uk",
        "oswin.thackeray@ashdown.gov.uk",
    ]
    assert header.subject == "Missed bins"
    assert "2026" in header.sent


def test_outlook_html_reply_splits_at_the_reply_header():
    html = (
        '<html><body><div dir="ltr"><p>Yes, please book committee room 2.</p></div>'
        '<hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri" style="font-size:11pt">'
        "<b>From:</b> Hamish Larch &lt;hamish.larch@ashdown.gov.uk&gt;<br>"
        "<b>Sent:</b> 02 March 2026 09:00<br>"
        "<b>To:</b> Henrietta Poulter &lt;cllr.henrietta.poulter@ashdown.gov.uk&gt;<br>"
        "<b>Cc:</b> Priyanka Venn &lt;priyanka.venn@ashdown.gov.uk&gt;<br>"
        "<b>Subject:</b> Room for the licensing panel</font><div>&nbsp;</div></div>"
        "<div><p>Shall I book committee room 2 for the licensing panel?</p><p>Hamish</p></div>"
        "</body></html>"
    )
    m = parse_eml(build_eml(text=None, html=html, attachments=[]))
    assert m.body.new_text == "Yes, please book committee room 2."
    assert "licensing panel?" in m.body.quoted_text
    [header] = m.body.quoted_headers
    assert header.sender is not None and header.sender.email == "hamish.larch@ashdown.gov.uk"
    assert [a.email for a in header.to] == ["cllr.henrietta.poulter@ashdown.gov.uk"]
    assert [a.email for a in header.cc] == ["priyanka.venn@ashdown.gov.uk"]
    assert m.earlier_participants() == {
        "hamish.larch@ashdown.gov.uk",
        "cllr.henrietta.poulter@ashdown.gov.uk",
        "priyanka.venn@ashdown.gov.uk",
    }


def test_signature_after_a_sign_off_is_set_apart():
    text = (
        "Could you tell me when the verges on Orchard Rise will be cut?\n\n"
        "Many thanks\nHenrietta Poulter\nCouncillor for Harrowdene Ward\nAshdown District Council\n"
        "Mobile: 07700 900461\n"
    )
    body = parse_draft({"from": {"email": "cllr.henrietta.poulter@ashdown.gov.uk"}, "body": text}).body
    assert body.new_text == "Could you tell me when the verges on Orchard Rise will be cut?\n\nMany thanks"
    assert body.signature.startswith("Henrietta Poulter") and "07700 900461" in body.signature
    assert "Councillor" not in body.new_text


def test_dash_dash_signature_delimiter():
    body = parse_draft({"body": "Agenda attached.\n\n-- \nImogen Saltash\nCabinet Member for Finance\n"}).body
    assert body.new_text == "Agenda attached."
    assert "Cabinet Member for Finance" in body.signature


def test_standard_disclaimer_is_set_apart():
    disclaimer = (
        "This email and any files transmitted with it are confidential and intended solely for the use of "
        "the individual to whom they are addressed. If you have received this email in error please "
        "notify the sender."
    )
    text = f"The agenda for Thursday is attached.\n\nRegards\nHamish Larch\n\n{disclaimer}\n"
    body = parse_eml(build_eml(text=text, attachments=[])).body
    assert "confidential" not in body.new_text and "confidential" not in body.signature
    assert " ".join(body.disclaimer.split()) == disclaimer
    assert body.new_text == "The agenda for Thursday is attached.\n\nRegards"


def test_own_words_only_when_nothing_is_quoted():
    body = parse_draft({"body": "Please find the minutes attached."}).body
    assert body.new_text == "Please find the minutes attached."
    assert (body.quoted_text, body.signature, body.disclaimer, body.quoted_headers) == ("", "", "", ())


# --- reply and forward ---------------------------------------------------------------------

SUBJECT_FLAGS = [
    pytest.param("RE: Budget", (True, False), id="re-prefix-is-a-reply"),
    pytest.param("Re: Budget", (True, False), id="mixed-case-re-prefix"),
    pytest.param("FW: Budget", (False, True), id="fw-prefix-is-a-forward"),
    pytest.param("Fwd: Budget", (False, True), id="fwd-prefix-is-a-forward"),
    pytest.param("AW: Budget", (True, False), id="german-client-reply-prefix"),
    pytest.param("WG: Budget", (False, True), id="german-client-forward-prefix"),
    pytest.param("Budget", (False, False), id="new-message"),
    pytest.param("Reply needed: Budget", (False, False), id="word-starting-with-re-is-not-a-prefix"),
]


@pytest.mark.parametrize(("subject", "flags"), SUBJECT_FLAGS)
def test_reply_and_forward_flags_from_the_subject(subject, flags):
    eml = parse_eml(build_eml(attachments=[], Subject=subject))
    draft = parse_draft(build_draft(attachments=[], subject=subject, composeType=""))
    assert (eml.is_reply, eml.is_forward) == flags
    assert (draft.is_reply, draft.is_forward) == flags, "the draft form must agree with the .eml form"


def test_in_reply_to_makes_an_eml_a_reply():
    m = parse_eml(build_eml(attachments=[], Subject="Budget", In_Reply_To="<earlier@ashdown.gov.uk>"))
    assert (m.is_reply, m.is_forward) == (True, False)


@pytest.mark.parametrize(
    ("compose_type", "flags"),
    [("reply", (True, False)), ("forward", (False, True)), ("newMail", (False, False))],
    ids=["add-in-reply", "add-in-forward", "add-in-new-mail"],
)
def test_reply_and_forward_flags_from_the_add_in(compose_type, flags):
    m = parse_draft(build_draft(attachments=[], subject="Budget", composeType=compose_type))
    assert (m.is_reply, m.is_forward) == flags
