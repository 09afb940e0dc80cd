"""Property-based fuzzing of intake and check (issue 11): any input gives a Message or a
MessageError, and any Message a Report; never another exception.

* ``parse_eml`` on arbitrary bytes, and on structured but mangled RFC 822 messages: real
  header names with junk values (bad encoded-words, control characters, half addresses),
  random MIME trees three deep (multipart with odd boundaries, missing closing boundaries,
  preambles; message/rfc822 and Office or PDF parts holding junk), random
  Content-Transfer-Encodings and charsets, base64 garbage, HTML parts, \\n or \\r\\n line ends;
* ``parse_draft`` on JSON-like drafts: the add-in's fields and the plain ones, right and
  wrong types, unknown keys, attachments with good and bad base64;
* ``Checker.check`` on every message that parses (the session's ``checker``, from conftest).

A short run by default, the same examples every time (the "ci" profile: derandomized, no
example database, no deadline). A longer, random search by hand::

    CG_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -p no:cacheprovider tests/test_fuzz.py

A failure prints the smallest example found, with a ``@reproduce_failure`` line to replay it.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from correspondence_guard import Checker, Message, MessageError, Report, parse_draft, parse_eml

_LONG_RUN = os.environ.get("CG_FUZZ_EXAMPLES")
settings.register_profile(
    "ci",
    max_examples=int(_LONG_RUN or 100),
    deadline=None,
    derandomize=not _LONG_RUN,  # in CI the same examples each run; by hand, new ones each run
    database=None,  # nothing written to .hypothesis/ in the checkout
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
FUZZ = settings.get_profile("ci")

# ---------------------------------------------------------------- RFC 822 messages

HEADER_NAMES = [
    "From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Subject", "Date", "Message-ID", "In-Reply-To",
    "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
    "Content-ID", "Received", "Return-Path", "X-Mailer", "Importance", "Thread-Index", "Thread-Topic",
    "Disposition-Notification-To", "Auto-Submitted", "X-MS-Exchange-Organization-SCL", "List-Id",
    "DKIM-Signature", "Authentication-Results", "Content-Language", "Organization", "X-Priority",
]  # fmt: skip
CHARSETS = [
    "utf-8", "UTF-8", "us-ascii", "iso-8859-1", "windows-1252", "utf-16", "utf-7", "koi8-r", "gb2312",
    "shift_jis", "unknown-8bit", "x-bogus", "", "utf-8\"; x=\"", "cp65001", "iso-2022-jp",
]  # fmt: skip
ENCODINGS = [
    "7bit",
    "8bit",
    "binary",
    "base64",
    "quoted-printable",
    "x-uuencode",
    "uuencode",
    "BASE64",
    "bogus",
    "",
]
LEAF_TYPES = [
    "text/plain", "text/html", "text/calendar", "text/csv", "application/octet-stream", "application/pdf",
    "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "image/png", "message/rfc822",
    "message/delivery-status", "application/ms-tnef", "text", "/", "",
]  # fmt: skip
MULTIPART_TYPES = ["mixed", "alternative", "related", "report", "signed", "digest", "x-unknown"]
# people of tests/data/directory.yaml (members, officers, the press office), private and media
# addresses, so that the rules get past "is this council mail" and do their work; then junk
COUNCIL = [
    "Beatrix Quennell <cllr.beatrix.quennell@ashdown.gov.uk>", "jasper.oakes@ashdown.gov.uk",
    "Kieran Reddaway <kieran.reddaway@ashdown.gov.uk>", "\"Oakes, Jasper\" <jasper.oakes@ashdown.gov.uk>",
    "Lionel Fairbairn <lionel.fairbairn@ashdown.gov.uk>", "press.office@ashdown.gov.uk",
]  # fmt: skip
OUTSIDE = [
    "Lorcan Pettifer <lorcan.pettifer77@gmail.com>", "someone@gmail.com", "Dana Reporter <dana@ashdownecho.co.uk>",
    "news@bbc.co.uk", "Pat Resident <pat@example.org>",
]  # fmt: skip
ADDRESSES = COUNCIL + OUTSIDE + [
    "undisclosed-recipients:;", "a@", "@b", "<>", "Name [mailto:a@x.org]", "=?utf-8?b?SsO2cmc=?= <j@x.de>",
    "a@b.c, d@e.f; g@h", "\"unterminated <x@y.z>", "(comment) x@y.z (more)", "x@[127.0.0.1]", "Bcc: :;(",
]  # fmt: skip
JUNK_VALUES = [
    "=?utf-8?b?!!!?=", "=?x-bogus?q?abc?=", "=?utf-8?q?=ZZ?=", "=?", "?=", "=?utf-8?B?" + "A" * 300 + "?=",
    "Mon, 32 Foo 99999 25:61:61 +9999", "Tue, 1 Jan 2030 10:00:00 +0000", "<id@host>", "<>", "<a<b>>",
    "\x00\x01\x7f", "\u202e\u200b\ufeff", "Re: Fwd: RE: AW: ", "Re" + " " * 300 + "x",
]  # fmt: skip
NEWLINES = ["\n", "\r\n"]
# pieces of real council mail that the rules and the body splitter look for
FRAGMENTS = [
    "Please could you sort this out by Friday.", "This is strictly confidential.", "my deadline is 5pm",
    "NHS number 943 476 5919", "DOB 01/02/1980", "her son has dementia and housing benefit", "Mr Ab Cd",
    "12 High Street", "AB12 3CD", "sort code 12-34-56", "Ref: HSG/2026/0412", "07700 900123",
    "On Mon, 1 Jan 2024 at 10:00, Bob <bob@example.org> wrote:", "> quoted line", "-----Original Message-----",
    "From: Jasper Oakes\nSent: Monday\nTo: Beatrix Quennell\nSubject: Re: x", "Kind regards,\nJasper",
    "-- \nsignature", "This email and any files transmitted with it are confidential.",
    "Labour group meeting discussed it", "I have passed this to the press office.", "________________",
    "Sent from my iPhone", "Dear Councillor,", "the officer is useless and incompetent", "vote for us",
]  # fmt: skip
prose = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=60)), max_size=8).flatmap(
    lambda parts: st.sampled_from([" ", "\n", "\n\n", "\r\n"]).map(lambda sep: sep.join(parts))
)

header_text = st.one_of(
    st.sampled_from(ADDRESSES + JUNK_VALUES),
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="ascii"), max_size=120),
)


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[str, str | None]]:
    """Header fields; a value of None is a mangled line written as it is (no colon, a space
    in the name, a fold with nothing to continue)."""
    names = draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=12))
    out: list[tuple[str, str | None]] = [(name, draw(header_text)) for name in names]
    if draw(st.booleans()):
        out.append(
            (draw(st.sampled_from(["No colon here", "Bad Name: x", " folded", "X-Empty:", ":"])), None)
        )
    return out


def _lines(fields: list[tuple[str, str | None]], nl: str) -> str:
    return nl.join(name if value is None else f"{name}: {value}" for name, value in fields)


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["text", "text", "html", "base64", "base64-garbage", "qp", "binary"]))
    if kind == "text":
        return draw(prose).encode("utf-8", "surrogatepass")
    if kind == "html":
        inner = draw(prose)
        tags = draw(
            st.sampled_from(["<p>", "<br>", "<div><b>", "<!--", "<script>", "<style>", "</p></div>", "<"])
        )
        return f"<html><body>{tags}{inner}{tags}</body>".encode("utf-8", "surrogatepass")
    if kind == "base64":
        data = draw(
            st.one_of(st.binary(max_size=300), prose.map(lambda t: t.encode("utf-8", "surrogatepass")))
        )
        return base64.encodebytes(data)
    if kind == "base64-garbage":
        return draw(st.text(alphabet="ABCDabcd0123+/=!*\n -", max_size=300)).encode()
    if kind == "qp":
        return draw(st.text(alphabet="abc =\n3D=0A=ZZ=\r", max_size=300)).encode()
    return draw(st.binary(max_size=400))


@st.composite
def mime_parts(draw: st.DrawFn, depth: int = 0) -> tuple[list[tuple[str, str | None]], bytes]:
    """(headers, body) of one MIME entity: a leaf, or a multipart of entities."""
    part_headers = [(n, v) for n, v in draw(headers()) if not n.lower().startswith("content-")]
    if depth < 3 and draw(st.integers(0, 2)) == 0:
        boundary = draw(
            st.one_of(st.sampled_from(["b1", "", " ", "=_x", "a" * 80, "--", 'b"q']), st.text(max_size=20))
        )
        subtype = draw(st.sampled_from(MULTIPART_TYPES))
        quoted = draw(st.booleans())
        ctype = (
            f'multipart/{subtype}; boundary="{boundary}"'
            if quoted
            else f"multipart/{subtype}; boundary={boundary}"
        )
        children = draw(st.lists(mime_parts(depth + 1), max_size=4))
        nl = draw(st.sampled_from(NEWLINES))
        pieces = [draw(st.sampled_from(["", "This is a multi-part message in MIME format.", "--"]))]
        for child_headers, child_body in children:
            pieces.append(f"--{boundary}")
            pieces.append(_lines(child_headers, nl) + nl)
            pieces.append(child_body.decode("utf-8", "surrogateescape"))
        if draw(st.booleans()):  # a closing boundary (often left out by broken mailers)
            pieces.append(f"--{boundary}--" + draw(st.sampled_from(["", "epilogue"])))
        body = nl.join(pieces).encode("utf-8", "surrogateescape")
        return [*part_headers, ("Content-Type", ctype)], body
    ctype = draw(st.sampled_from(LEAF_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    params = f"; charset={charset}" if draw(st.booleans()) else ""
    if draw(st.booleans()):
        params += f'; name="{draw(st.sampled_from(["a.pdf", "b.docx", "c.xlsx", "d.txt", "", "=?utf-8?q?x?=", "x" * 300]))}"'
    leaf = [*part_headers, ("Content-Type", ctype + params)]
    if draw(st.booleans()):
        leaf.append(("Content-Transfer-Encoding", draw(st.sampled_from(ENCODINGS))))
    if draw(st.booleans()):
        leaf.append(
            (
                "Content-Disposition",
                draw(
                    st.sampled_from(
                        [
                            "attachment",
                            "inline",
                            "attachment; filename*=utf-8''%ZZ",
                            'attachment; filename="x.txt',
                            "form-data",
                        ]
                    )
                ),
            )
        )
    return leaf, draw(payloads())


@st.composite
def rfc822_messages(draw: st.DrawFn) -> bytes:
    top_headers, body = draw(mime_parts())
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    if draw(st.booleans()):  # most real mail has these; the rest is left to chance
        top_headers = [
            ("From", draw(st.sampled_from(COUNCIL + ADDRESSES))),
            ("To", ", ".join(draw(st.lists(st.sampled_from(OUTSIDE + ADDRESSES), min_size=1, max_size=3)))),
            ("Subject", draw(header_text)),
            *top_headers,
        ]
    head = _lines(top_headers, nl).encode("utf-8", "surrogateescape")
    separator = draw(st.sampled_from([nl + nl, nl, "", nl + " " + nl])).encode()
    if nl == "\r\n":
        body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return head + separator + body


def _parse_or_refuse(raw: bytes) -> Message | None:
    try:
        message = parse_eml(raw)
    except MessageError as exc:
        assert str(exc) and "\n" not in str(exc), f"a refusal is one line: {exc!r}"
        event(f"refused: {str(exc).partition(':')[0]}")
        return None
    assert isinstance(message, Message)
    event("parsed")
    return message


def _check(checker: Checker, message: Message) -> None:
    report = checker.check(message, source="fuzz")
    assert isinstance(report, Report)
    event("findings" if report.findings else "no findings")


@FUZZ
@given(
    start=st.sampled_from([b"", b"", b"From: a@b.c\n", b"Subject: x\r\n\r\n", b"To: x\n\n--b\n"]),
    raw=st.binary(max_size=2000),
)
def test_any_bytes_parse_or_are_refused(checker: Checker, start: bytes, raw: bytes) -> None:
    message = _parse_or_refuse(start + raw)
    if message is not None:
        _check(checker, message)


@FUZZ
@given(raw=rfc822_messages())
def test_mangled_mime_messages_parse_or_are_refused_and_check(checker: Checker, raw: bytes) -> None:
    message = _parse_or_refuse(raw)
    if message is not None:
        _check(checker, message)


# ---------------------------------------------------------------- add-in drafts (intake/draft.py)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
body_text = st.one_of(prose, st.sampled_from(JUNK_VALUES))
html_text = st.builds(
    lambda t, tag: f"<p>{t}</p>{tag}", prose, st.sampled_from(["", "<br>", "<", "<!--", "<table><tr><td>"])
)


def _draft_strategy(wrong: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Drafts with every field of the right type, or (``wrong``) with any field sometimes any
    JSON value at all."""

    def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(good, good, good, json_values) if wrong else good

    def address_from(people: list[str]) -> st.SearchStrategy[dict[str, Any]]:
        emails = st.one_of(
            st.sampled_from([a.split("<")[-1].strip(">") for a in people]), st.text(max_size=30)
        )
        names = st.one_of(st.sampled_from([a.split("<")[0].strip() for a in people]), st.text(max_size=30))
        return st.fixed_dictionaries(
            {} if wrong else {"email": emails},
            optional={
                "emailAddress": maybe(emails),
                "name": maybe(names),
                "displayName": maybe(names),
                "recipientType": maybe(st.sampled_from(["user", "distributionList", "other", ""])),
            },
        )

    sender, recipient = address_from(COUNCIL + ADDRESSES), address_from(OUTSIDE + ADDRESSES)
    content = st.one_of(
        st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
        st.text(alphabet="ABCDabcd0123+/= \n!", max_size=200),
    )
    attachment = st.fixed_dictionaries(
        {"name": maybe(st.sampled_from(["a.pdf", "b.docx", "c.xlsx", "d.txt", "e.csv", "", "x" * 300]))},
        optional={
            "contentType": maybe(st.sampled_from(LEAF_TYPES)),
            "content": maybe(content),
            "contentBase64": maybe(content),
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "from": maybe(sender),
            "sender": maybe(sender),
            "to": maybe(st.lists(recipient, max_size=4)),
            "cc": maybe(st.lists(recipient, max_size=3)),
            "bcc": maybe(st.lists(recipient, max_size=3)),
            "subject": maybe(st.one_of(st.text(max_size=80), st.sampled_from(JUNK_VALUES))),
            "body": maybe(
                st.one_of(
                    body_text, st.fixed_dictionaries({}, optional={"text": body_text, "html": html_text})
                )
            ),
            "bodyHtml": maybe(html_text),
            "bodyText": maybe(body_text),
            "attachments": maybe(st.lists(attachment, max_size=2)),
            "composeType": maybe(st.sampled_from(["newMail", "reply", "forward", "", "Reply"])),
            "isReply": maybe(st.booleans()),
            "inReplyTo": maybe(st.text(max_size=40)),
            "conversationId": maybe(st.text(max_size=40)),
            "itemType": json_values,  # unknown keys are ignored
        },
    )


drafts = st.one_of(_draft_strategy(wrong=False), _draft_strategy(wrong=False), _draft_strategy(wrong=True))


@FUZZ
@given(draft=drafts)
def test_drafts_parse_or_are_refused_and_check(checker: Checker, draft: dict[str, Any]) -> None:
    try:
        message = parse_draft(draft)
    except MessageError as exc:
        assert str(exc) and "\n" not in str(exc), f"a refusal is one line: {exc!r}"
        event(f"refused: {str(exc)[:40]}")
        return
    assert isinstance(message, Message)
    event("parsed")
    _check(checker, message)


@pytest.mark.parametrize(
    "value", ["", "not json", "null", b"\xff\xfe", b"[1, 2]", '{"to": 1' + "0" * 5000 + "}", "[" * 100_000]
)
def test_not_a_draft_at_all_is_refused(value: str | bytes) -> None:
    with pytest.raises(MessageError):
        parse_draft(value)
