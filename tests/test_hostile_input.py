"""Hostile or malformed input costs bounded time and gives a clear answer (issue 11).

Each case is one that took from seconds to minutes, or failed with an unexpected error,
before its fix. The budgets are generous: they catch a return of quadratic or worse
behaviour, not a slow machine.
"""

from __future__ import annotations

import io
import json
import time

import pytest

from correspondence_guard.errors import MessageError
from correspondence_guard.intake.body import split_body
from correspondence_guard.intake.draft import parse_draft
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.intake.html import html_to_text

BUDGET_S = 5.0
PROSE = "On the subject of the budget, the council, the members, and officers agreed, " * 80  # 6 KB


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Hi\n\n> " + PROSE, id="6KB-quoted-paragraph"),
        pytest.param("Hi\n\n> " + PROSE * 33, id="200KB-gmail-quoting"),
        pytest.param("Hi\n\nOn " + PROSE * 33 + "\n> and so on", id="200KB-line-opening-with-on"),
    ],
)
def test_quoted_prose_is_split_in_linear_time(text: str) -> None:
    body, took = _timed(split_body, text)
    assert took < BUDGET_S
    assert body.new_text.startswith("Hi") and "budget" in body.new_text + body.quoted_text


def test_a_line_of_white_space_is_not_searched_quadratically() -> None:
    """3,000 spaces before a word took 15 s: two white-space runs of the reply-line pattern
    shared the spaces out in every way (now possessive)."""
    for text in ("Hi\n\n" + " " * 50_000 + "x\nmore", "Hi\n" + "\t" * 50_000 + "."):
        body, took = _timed(split_body, text)
        assert took < BUDGET_S and body.new_text.startswith("Hi")


def test_an_on_wrote_line_is_still_found_after_the_guard() -> None:
    body = split_body(
        "Thanks.\n\nOn Mon, 2 Mar 2026, Kieran Reddaway <kieran.reddaway@ashdown.gov.uk> wrote:\n> Hello"
    )
    assert body.new_text == "Thanks." and body.quoted_headers[0].sender is not None
    assert body.quoted_headers[0].sender.email == "kieran.reddaway@ashdown.gov.uk"


@pytest.mark.parametrize(
    "html", ["<" * 2_000_000, "<p>" + "a b " * 500_000], ids=["2MB-of-<", "2MB-paragraph"]
)
def test_html_to_text_is_linear(html: str) -> None:
    text, took = _timed(html_to_text, html)
    assert took < BUDGET_S and text


def test_stray_angle_brackets_stay_text_and_tags_still_work() -> None:
    assert html_to_text("<p>a < b and 3<4</p><p>next</p>") == "a < b and 3<4\n\nnext"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"subject": "x", "n": ' + "9" * 5000 + "}", "not a valid draft"),
    ],
    ids=["100k-deep-nesting", "5000-digit-integer"],
)
def test_hostile_json_drafts_are_not_valid_drafts(data: str, problem: str) -> None:
    with pytest.raises(MessageError, match=problem):
        parse_draft(data)


def test_a_mime_part_with_a_content_type_of_many_semicolons_is_cut_not_parsed_for_ever() -> None:
    raw = (
        b"From: a@ashdown.gov.uk\nTo: b@ashdown.gov.uk\nSubject: x\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
        b"Content-Type: text/plain" + b" ;" * 400_000 + b"\n\nThe part's own words\n--B--\n"
    )
    message, took = _timed(parse_eml, raw)
    assert took < BUDGET_S
    assert "The part's own words" in message.body.new_text


def test_a_wrongly_typed_field_is_named_in_the_error() -> None:
    """A validation error names the field and the problem, not "N validation errors"."""
    with pytest.raises(MessageError, match=r"^not a valid draft: to: Input should be a valid list$"):
        parse_draft('{"subject": "x", "to": 5}')


def test_a_normal_draft_still_parses() -> None:
    message = parse_draft(json.dumps({"subject": "Bins", "body": {"text": "Thanks"}}))
    assert message.subject == "Bins"


def test_a_100kb_word_does_not_blow_up_the_word_index() -> None:
    import resource

    from correspondence_guard.detectors.lexicon import MAX_ANCHOR, word_beginnings

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    found, took = _timed(word_beginnings, "x" * 100_000 + " ordinary words")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert took < BUDGET_S and grown_mb < 200
    assert "x" * MAX_ANCHOR in found and "ordinary" in found and "ord" in found


@pytest.mark.parametrize("broken", ["Message-Id: <>", "Cc: <", "Bcc: :;(", "To: <"])
def test_one_broken_header_does_not_stop_the_check_of_the_rest(broken: str) -> None:
    from correspondence_guard.intake.eml import parse_eml

    raw = (
        "From: Cllr Beatrix Quennell <cllr.beatrix.quennell@ashdown.gov.uk>\n"
        "To: Kieran Reddaway <kieran.reddaway@ashdown.gov.uk>\n"
        f"{broken}\nSubject: The bins\n\nPlease look at the bins.\n"
    ).encode()
    if broken.startswith("To:"):
        raw = raw.replace(b"To: Kieran Reddaway <kieran.reddaway@ashdown.gov.uk>\n", b"")
    message = parse_eml(raw)
    assert message.sender is not None and message.sender.email == "cllr.beatrix.quennell@ashdown.gov.uk"
    assert message.subject == "The bins" and "look at the bins" in message.body.new_text


@pytest.mark.parametrize(
    "subject", ["x" * 5_000_000, "Re: " * 1_000_000], ids=["5MB-subject", "a-million-Re"]
)
def test_huge_headers_are_cut_not_choked_on(subject: str) -> None:
    from correspondence_guard.intake.eml import MAX_HEADER_CHARS, parse_eml

    raw = f"From: a@example.org\nTo: b@example.org\nSubject: {subject}\n\nHello\n".encode()
    message, took = _timed(parse_eml, raw)
    assert took < BUDGET_S and 0 < len(message.subject) <= MAX_HEADER_CHARS


def _zip_bomb_docx(expanded_mb: int) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(
            "word/document.xml", "<w:document>" + " " * (expanded_mb * 1024 * 1024) + "</w:document>"
        )
    return buffer.getvalue()


def test_a_docx_that_would_expand_past_the_limit_is_not_opened() -> None:
    from correspondence_guard.intake.attachments import MAX_UNZIPPED, extract

    data = _zip_bomb_docx(MAX_UNZIPPED // (1024 * 1024) + 10)
    assert len(data) < 1024 * 1024  # small on the wire
    attachment, took = _timed(extract, "minutes.docx", "", data)
    assert took < BUDGET_S
    assert attachment.text == "" and "could not be read: expands to over" in attachment.problem


def test_the_same_check_lets_an_ordinary_docx_through() -> None:
    import docx

    from correspondence_guard.intake.attachments import extract

    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Minutes of the licensing sub-committee")
    document.save(buffer)
    attachment = extract("minutes.docx", "", buffer.getvalue())
    assert "licensing sub-committee" in attachment.text and not attachment.problem


@pytest.mark.parametrize(
    "raw",
    [
        bytes(range(256)) * 12,
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
        b"just some text\nwith no headers\n",
    ],
    ids=["random-bytes", "png-renamed-eml", "text-with-no-headers"],
)
def test_what_is_not_a_message_is_said_so_not_passed_as_clear(raw: bytes) -> None:
    from correspondence_guard.intake.eml import parse_eml

    with pytest.raises(MessageError, match="not an e-mail message"):
        parse_eml(raw)


def _big_docx(paragraphs: int) -> bytes:
    """A real .docx (python-docx's template) with ``paragraphs`` more paragraphs: 35 bytes each
    of XML, so a million make 35 MB, under the 50 MB unzipped limit, about 200 KB on the wire."""
    import zipfile

    import docx

    template = io.BytesIO()
    docx.Document().save(template)
    out = io.BytesIO()
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(
                    b"<w:sectPr", b"<w:p><w:r><w:t>x</w:t></w:r></w:p>" * paragraphs + b"<w:sectPr", 1
                )
            dst.writestr(item, data)
    return out.getvalue()


def _small_docx(text: str) -> bytes:
    import docx

    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph(text)
    document.save(buffer)
    return buffer.getvalue()


def test_a_reader_that_runs_out_of_memory_is_contained() -> None:
    """35 MB of document XML parsed in a helper allowed 64 MB more than it started with: the
    file is 'could not be read', this process is untouched, and the next file reads."""
    from correspondence_guard.intake.isolated import Isolated

    helper = Isolated(seconds=30, headroom=64 * 1024 * 1024)
    try:
        (text, problem), took = _timed(helper.read, "docx", _big_docx(1_000_000))
        assert text == "" and problem.startswith("could not be read") and took < BUDGET_S * 2
        assert helper.read("docx", _small_docx("Agenda for the parish meeting")) == (
            "Agenda for the parish meeting",
            "",
        )
    finally:
        helper.close()


def test_a_reader_that_runs_too_long_is_stopped() -> None:
    """The same document takes python-docx seconds to read: with a 0.3 s limit the helper is
    killed and replaced, and the file is 'could not be read: took over 0.3 s'."""
    from correspondence_guard.intake.isolated import Isolated

    helper = Isolated(seconds=0.3)
    try:
        (text, problem), took = _timed(helper.read, "docx", _big_docx(1_000_000))
        assert (text, problem) == ("", "could not be read: took over 0.3 s") and took < 2
        assert helper.read("docx", _small_docx("Minutes"))[0] == "Minutes"
    finally:
        helper.close()


def test_a_sheet_of_a_hundred_thousand_rows_is_read_in_linear_time() -> None:
    """The running total of text read stops the sheet at the text limit; summing every part
    after each row made a 1M-row sheet take over 30 s."""
    import openpyxl

    from correspondence_guard.intake.attachments import MAX_TEXT, extract

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    for n in range(100_000):
        sheet.append([n, "Ward surgery", "Tollgate Lane"])
    buffer = io.BytesIO()
    book.save(buffer)
    attachment, took = _timed(extract, "rota.xlsx", "", buffer.getvalue())
    assert took < BUDGET_S and not attachment.problem
    assert attachment.text.startswith("0, Ward surgery") and len(attachment.text) <= MAX_TEXT + 1
