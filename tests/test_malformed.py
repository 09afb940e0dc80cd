"""Broken input: what can be read is read, what cannot gives one clear MessageError, never a crash."""

from __future__ import annotations

import base64
import json
import os
import time
from email.message import EmailMessage

import pytest

from correspondence_guard import MessageError, load_message, parse_draft, parse_eml, parse_msg
from correspondence_guard.intake.attachments import MAX_BYTES

HEAD = (
    b"From: Jasper Oakes <jasper.oakes@ashdown.gov.uk>\r\n"
    b"To: Imogen Saltash <cllr.imogen.saltash@ashdown.gov.uk>\r\n"
    b"Subject: Council tax reminder\r\n"
    b"MIME-Version: 1.0\r\n"
)

BROKEN_MIME = [
    pytest.param(
        HEAD + b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        b"--XX\r\nContent-Type: text/plain\r\n\r\nThe reminder letters go out on Friday.\r\n"
        b'--XX\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="list.txt"\r\n\r\n'
        b"Saltmarsh Quay, Heron Reach",
        id="multipart-missing-its-closing-boundary",
    ),
    pytest.param(
        HEAD + b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        b"--XX\r\nContent-Type: text/plain\r\n\r\nThe reminder letters go out on Friday.\r\n"
        b"--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="letters.pdf"\r\n\r\n!!!not*base64@@@\r\n--XX--\r\n',
        id="attachment-with-invalid-base64",
    ),
    pytest.param(
        HEAD + b'Content-Type: multipart/mixed; boundary="A"\r\n\r\n'
        b'--A\r\nContent-Type: multipart/alternative; boundary="B"\r\n\r\n'
        b"The reminder letters go out on Friday.\r\n",
        id="nested-multipart-without-inner-boundary",
    ),
    pytest.param(
        HEAD
        + b'Content-Type: text/plain; charset="utf\x008"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(b"The reminder letters go out on Friday.\r\n"),
        id="nul-byte-in-charset-of-base64-text",
    ),
    pytest.param(
        HEAD + b"Content-Type: multipart/mixed\r\n\r\nThe reminder letters go out on Friday.\r\n",
        id="multipart-without-boundary-parameter",
    ),
]


@pytest.mark.parametrize("raw", BROKEN_MIME)
def test_broken_mime_still_gives_the_headers_and_text(raw):
    m = parse_eml(raw)
    assert m.sender is not None and m.sender.email == "jasper.oakes@ashdown.gov.uk"
    assert [a.email for a in m.to] == ["cllr.imogen.saltash@ashdown.gov.uk"]
    assert m.subject == "Council tax reminder"
    assert "reminder letters go out on Friday" in m.body.new_text + m.body.quoted_text
    assert m.problems, "a defect should be recorded"


def test_unreadable_attachment_is_listed_with_its_problem():
    m = parse_eml(BROKEN_MIME[1].values[0])
    [att] = m.attachments
    assert att.name == "letters.pdf" and att.text == "" and att.problem


def test_truncated_attachment_keeps_what_arrived():
    [att] = parse_eml(BROKEN_MIME[0].values[0]).attachments
    assert att.name == "list.txt" and "Saltmarsh Quay" in att.text


def test_garbage_header_lines_do_not_crash():
    raw = (
        b"From: =?utf-8?q?broken <not-an-address\r\n"
        b"To: ,,,;;;@@@\r\n"
        b"Subject: =?x-unknown?B?////?=\r\n"
        b"Date: the day after tomorrow\r\n"
        b"\x01\x02 ???\r\n"
        b"\r\nThe body is still readable.\r\n"
    )
    m = parse_eml(raw)
    assert m.body.new_text.endswith("The body is still readable.")
    assert m.sender is None and m.to == () and m.date is None
    assert m.problems


def test_unknown_charset_decodes_with_replacement():
    raw = HEAD + (
        b'Content-Type: text/plain; charset="x-unknown"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        b"The caf\xe9 on Saltmarsh Quay reopens on Monday.\r\n"
    )
    m = parse_eml(raw)
    assert m.body.new_text.startswith("The caf") and m.body.new_text.endswith("reopens on Monday.")
    assert any("x-unknown" in p or "Charset" in p for p in m.problems)


def test_text_that_is_not_in_its_declared_charset():
    raw = HEAD + (
        b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        b"Fees for the Chandlers Yard caf\xe9 are \xa3120.\r\n"
    )
    assert "Chandlers Yard" in parse_eml(raw).body.new_text


@pytest.mark.parametrize(
    "raw",
    [HEAD + b"Content-Type: text/plain\r\n\r\n", HEAD, HEAD + b"Content-Type: text/plain\r\n\r\n   \r\n\r\n"],
    ids=["blank-line-then-nothing", "headers-only", "whitespace-body"],
)
def test_empty_body_is_an_empty_message_not_an_error(raw):
    m = parse_eml(raw)
    assert m.subject == "Council tax reminder"
    assert (m.body.new_text, m.body.quoted_text, m.attachments) == ("", "", ())


def _big_message(size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jasper Oakes <jasper.oakes@ashdown.gov.uk>"
    msg["To"] = "someone@example.org"
    msg["Subject"] = "Scans"
    msg.set_content("The scans are attached.")
    msg.add_attachment(
        b"%PDF-1.4\n" + os.urandom(size), maintype="application", subtype="pdf", filename="scans.pdf"
    )
    return msg.as_bytes()


def test_attachment_over_the_size_limit_is_listed_but_not_opened(monkeypatch):
    import pypdf

    opened = []
    monkeypatch.setattr(pypdf, "PdfReader", lambda *a, **k: opened.append(1) or pytest.fail("PDF was opened"))
    raw = _big_message(20 * 1024 * 1024)
    start = time.perf_counter()
    m = parse_eml(raw, max_attachment_bytes=MAX_BYTES)
    elapsed = time.perf_counter() - start
    [att] = m.attachments
    assert att.name == "scans.pdf" and att.size > 20 * 1024 * 1024
    assert att.text == "" and "not opened" in att.problem
    assert opened == []
    assert elapsed < 8, f"a 20 MB attachment took {elapsed:.1f} s"


def test_draft_attachment_over_the_size_limit_is_not_opened():
    data = b"Name,Street\n" + b"x" * (MAX_BYTES + 1)
    draft = {"attachments": [{"name": "big.csv", "content": base64.b64encode(data).decode()}]}
    [att] = parse_draft(draft).attachments
    assert att.size == len(data) and att.text == "" and "not opened" in att.problem


def test_smaller_limit_from_the_caller_is_respected():
    [att] = parse_eml(_big_message(2048), max_attachment_bytes=1024).attachments
    assert att.text == "" and "not opened" in att.problem


# --- input that is not a message at all ----------------------------------------------------


def test_msg_that_is_an_eml_renamed(tmp_path):
    path = tmp_path / "renamed.msg"
    path.write_bytes(HEAD + b"\r\nHello.\r\n")
    with pytest.raises(MessageError, match=r"renamed\.msg: .*not an Outlook \.msg"):
        load_message(path)


def test_msg_with_an_ole_signature_but_no_message(msgconvert):
    with pytest.raises(MessageError, match=r"\.msg"):
        parse_msg(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[1, 2, 3]", id="json-array"),
        pytest.param('"just a string"', id="json-string"),
        pytest.param("{not json", id="broken-json"),
        pytest.param('{"to": "cllr.imogen.saltash@ashdown.gov.uk"}', id="recipients-not-a-list"),
        pytest.param(
            '{"name": "intranet", "version": "2.1.0", "dependencies": {}}', id="object-with-no-draft-field"
        ),
        pytest.param('{"hello": [1, 2, 3]}', id="unrelated-object"),
    ],
)
def test_json_that_is_not_a_draft(tmp_path, text):
    path = tmp_path / "thing.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MessageError, match=r"thing\.json: .*draft"):
        load_message(path)


@pytest.mark.parametrize(
    "content",
    ["this is plain text, not base64", "!!!@@@"],
    ids=["plain-text-instead-of-base64", "no-base64-at-all"],
)
def test_draft_attachment_that_is_not_base64(content):
    draft = {
        "from": {"email": "jasper.oakes@ashdown.gov.uk"},
        "attachments": [{"name": "a.txt", "content": content}],
    }
    with pytest.raises(MessageError, match=r"a\.txt.*base64"):
        parse_draft(json.dumps(draft))


@pytest.mark.parametrize("suffix", [".eml", ".json", ".msg"])
def test_empty_file(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(MessageError, match=rf"empty\{suffix}: "):
        load_message(path)


def test_unreadable_path(tmp_path):
    with pytest.raises(MessageError, match="cannot read"):
        load_message(tmp_path / "missing.eml")


# --- through the command line --------------------------------------------------------------


@pytest.fixture
def mixed_folder(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "1-good.eml").write_bytes(
        b"From: Jasper Oakes <jasper.oakes@ashdown.gov.uk>\nTo: Tamsin Greaves <tamsin.greaves@ashdown.gov.uk>\n"
        b"Subject: Rota\n\nThe rota for April is attached.\n"
    )
    (folder / "2-empty.eml").write_bytes(b"")
    (folder / "3-broken-mime.eml").write_bytes(BROKEN_MIME[2].values[0])
    (folder / "4-not-outlook.msg").write_bytes(b"plain text pretending")
    (folder / "5-good.json").write_text(
        json.dumps(
            {
                "from": {"email": "jasper.oakes@ashdown.gov.uk"},
                "to": [{"email": "a@nhs.net"}],
                "subject": "Referral",
                "body": {"text": "Please call me."},
            }
        ),
        encoding="utf-8",
    )
    return folder


def test_folder_with_bad_files_checks_the_others(cli, directory_path, mixed_folder):
    code, out, err = cli("check", "--directory", directory_path, "--format", "jsonl", mixed_folder)
    assert code == 2
    records = {os.path.basename(r["source"]): r for r in map(json.loads, out.splitlines())}
    assert set(records) == {
        "1-good.eml",
        "2-empty.eml",
        "3-broken-mime.eml",
        "4-not-outlook.msg",
        "5-good.json",
    }
    assert "error" in records["2-empty.eml"] and "error" in records["4-not-outlook.msg"]
    for good in ("1-good.eml", "3-broken-mime.eml", "5-good.json"):
        assert "error" not in records[good] and records[good]["verdict"] == "clear"
    error_lines = [line for line in err.splitlines() if line.strip()]
    assert len(error_lines) == 2 and all(
        line.startswith("correspondence-guard: error: ") for line in error_lines
    )
    assert any("2-empty.eml" in line for line in error_lines)
    assert any("4-not-outlook.msg" in line for line in error_lines)
    assert "Traceback" not in err


def test_folder_with_bad_files_in_text_format(cli, directory_path, mixed_folder):
    code, out, err = cli("check", "--directory", directory_path, mixed_folder)
    assert code == 2
    assert "1-good.eml" in out and "5-good.json" in out
    assert "5 messages checked, 2 could not be read" in " ".join(out.split())
    assert "Traceback" not in err and err.count("correspondence-guard: error:") == 2


def test_no_traceback_for_any_broken_input(cli, directory_path, tmp_path):
    for i, param in enumerate(BROKEN_MIME):
        (tmp_path / f"broken-{i}.eml").write_bytes(param.values[0])
    (tmp_path / "binary.eml").write_bytes(os.urandom(4096))
    (tmp_path / "nul.json").write_bytes(b"\x00\x01{")
    code, out, err = cli("check", "--directory", directory_path, "--format", "jsonl", tmp_path)
    assert code in (0, 1, 2)
    assert "Traceback" not in err and "Traceback" not in out
    assert len(out.splitlines()) == len(BROKEN_MIME) + 2
    # stderr holds our one-line errors, each naming its file: no library warnings without a file name
    stray = [
        line for line in err.splitlines() if line.strip() and not line.startswith("correspondence-guard: ")
    ]
    assert stray == []
