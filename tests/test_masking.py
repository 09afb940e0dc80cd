"""Evidence masking: identifiers keep a short prefix, never the digits that identify someone."""

from __future__ import annotations

import re

import pytest

from correspondence_guard.masking import MAX_EVIDENCE, mask_name, mask_text

MASKED = [
    # (text, what must be gone, what stays)
    pytest.param("NHS number 943 476 5919", "476 5919", "943", id="nhs-number-spaced"),
    pytest.param("NHS no. 9434765919 on file", "4765919", "943", id="nhs-number-run-together"),
    pytest.param("NHS 943-476-5919", "476-5919", "943", id="nhs-number-with-dashes"),
    pytest.param("NI number JT 48 73 16 B", "48 73 16", "JT", id="ni-number-spaced"),
    pytest.param("NINO: jt487316b", "487316", "jt", id="ni-number-lower-case-run-together"),
    pytest.param("lives at AD3 7PL", "7PL", "AD3", id="postcode"),
    pytest.param("postcode AD37PL", "7PL", "AD3", id="postcode-without-space"),
    pytest.param("mobile 07700 900461", "900461", "07700", id="mobile"),
    pytest.param("mobile 07700900461", "900461", "07700", id="mobile-run-together"),
    pytest.param("call +44 7700 900461", "900461", "+44", id="mobile-international"),
    pytest.param("tel 01632 960123", "960123", "01632", id="landline-five-digit-code"),
    pytest.param("tel 020 7946 0958", "7946 0958", "020", id="landline-london-format"),
    pytest.param("tel 0113 496 0123", "496 0123", "0113", id="landline-four-digit-code"),
    pytest.param("tel (01632) 960 441", "960 441", "(01632)", id="landline-code-in-brackets"),
    pytest.param("phone number 086) 880 4187", "880 4187", "086)", id="phone-as-the-recogniser-cuts-it"),
    pytest.param("write to gareth.pumphrey@gmail.com", "gareth.pumphrey", "gmail.com", id="email"),
    pytest.param("DOB 12/09/1941", "12/09/1941", "DOB", id="date-with-slashes"),
    pytest.param("DOB 12.09.41", "12.09.41", "DOB", id="date-with-dots-short-year"),
    pytest.param("born 3rd March 1958", "March 1958", "born", id="date-in-words"),
    pytest.param("born 1958-03-12", "1958-03-12", "born", id="iso-date"),
    pytest.param("case HSG/2026/0871", "2026/0871", "HSG", id="case-reference-with-slashes"),
    pytest.param("claim BEN-558210", "558210", "BEN", id="case-reference-with-dash"),
    pytest.param("sort code 20-00-00 account 12345678", "12345678", "sort code", id="bank-details"),
    pytest.param("lives at 14 Wickham Row", "14", "Wickham Row", id="house-number"),
]


@pytest.mark.parametrize(("text", "gone", "kept"), MASKED)
def test_identifier_is_masked(text, gone, kept):
    masked = mask_text(text)
    assert gone.lower() not in masked.lower(), masked
    assert kept in masked, masked
    assert "*" in masked


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def test_nhs_number_keeps_only_its_first_three_digits():
    masked = mask_text("Patient NHS number 943 476 5919, seen on Monday.")
    assert _digits(masked) == "943"
    assert masked.endswith("seen on Monday.")


def test_several_identifiers_in_one_sentence():
    text = (
        "Mrs Olwen Treharne, 5 Heron Reach, AD2 4LB, NI JT 48 73 16 B, NHS 943 476 5919, "
        "tel 07700 900461, e-mail olwen.t@hotmail.co.uk, ref HSG/2026/0871"
    )
    masked = mask_text(text)
    for secret in ("4LB", "48 73 16", "476 5919", "900461", "olwen.t@", "2026/0871"):
        assert secret not in masked, (secret, masked)
    # a titled name is masked to its initials, so stored subjects and evidence name nobody
    assert masked.startswith("Mrs O*** T***, ") and "Treharne" not in masked


@pytest.mark.parametrize(
    "text",
    [
        "The committee meets at 7pm on 14 April in Room 2.",
        "Agenda item 5: the budget for 2026/27.",
        "A budget of 1,250,000 pounds over 3 years.",
        "Thank you for your e-mail about the bins.",
    ],
    ids=["time-and-room", "financial-year", "money", "plain-sentence"],
)
def test_ordinary_text_is_left_alone(text):
    assert mask_text(text) == text


def test_long_evidence_is_cut():
    masked = mask_text("word " * 200)
    assert len(masked) <= MAX_EVIDENCE and masked.endswith("…")


def test_white_space_is_collapsed():
    assert mask_text("  two\n\nlines\tand   gaps ") == "two lines and gaps"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Gareth Pumphrey", "G*** P***"), ("Mrs Adaeze Morton-Flint", "M*** A*** M***"), ("", "")],
    ids=["two-words", "title-and-double-barrelled", "empty"],
)
def test_mask_name(name, expected):
    assert mask_name(name) == expected
