"""The council directory: what kind of address each recipient is, and clear errors for bad files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from correspondence_guard import DirectoryError, load_directory, load_policy
from correspondence_guard.detectors.base import Context
from correspondence_guard.directory import AddressClass

GOOD = (Path(__file__).parent / "data" / "directory.yaml").read_text(encoding="utf-8")

CLASSES = [
    pytest.param("cllr.nkechi.farrant@ashdown.gov.uk", AddressClass.MEMBER, id="member"),
    pytest.param("kieran.reddaway@ashdown.gov.uk", AddressClass.OFFICER, id="officer"),
    pytest.param("all.councillors@ashdown.gov.uk", AddressClass.LIST, id="all-members-list"),
    pytest.param("cabinet.members@ashdown.gov.uk", AddressClass.LIST, id="cabinet-list"),
    pytest.param("press.office@ashdown.gov.uk", AddressClass.TEAM, id="communications-team-mailbox"),
    pytest.param("committee.services@ashdown.gov.uk", AddressClass.TEAM, id="democratic-services-mailbox"),
    pytest.param("parking.appeals@ashdown.gov.uk", AddressClass.COUNCIL, id="other-council-address"),
    pytest.param("scanner@mfd.ashdown.gov.uk", AddressClass.COUNCIL, id="council-subdomain"),
    pytest.param("a.gp.practice@nhs.net", AddressClass.TRUSTED, id="trusted-domain"),
    pytest.param("case.worker@dwp.gov.uk", AddressClass.TRUSTED, id="subdomain-of-trusted-domain"),
    pytest.param("pc.1234@northshire.police.uk", AddressClass.TRUSTED, id="police-force-subdomain"),
    pytest.param("resident.one@hotmail.co.uk", AddressClass.PRIVATE, id="freemail-with-country-ending"),
    pytest.param("resident.two@yahoo.fr", AddressClass.PRIVATE, id="foreign-freemail"),
    pytest.param("resident.three@gmail.com", AddressClass.PRIVATE, id="gmail"),
    pytest.param("resident.four@btinternet.com", AddressClass.PRIVATE, id="consumer-isp"),
    pytest.param("lorcan.pettifer77@gmail.com", AddressClass.PRIVATE, id="member-personal-gmail"),
    pytest.param(
        "cyrus@ballantyne-family.org.uk", AddressClass.PRIVATE, id="personal-address-on-a-family-domain"
    ),
    pytest.param(
        "other@ballantyne-family.org.uk", AddressClass.EXTERNAL, id="same-family-domain-unlisted-address"
    ),
    pytest.param("estimates@harbourside-roofing.co.uk", AddressClass.EXTERNAL, id="company-domain"),
    pytest.param("news.desk@coastal-gazette.co.uk", AddressClass.EXTERNAL, id="newspaper-domain"),
    pytest.param("someone@notgmail.com", AddressClass.EXTERNAL, id="freemail-name-inside-another-domain"),
    pytest.param("someone@gmail.com.example.org", AddressClass.EXTERNAL, id="freemail-domain-as-a-prefix"),
    pytest.param(
        "someone@ashdown.gov.uk.example.org", AddressClass.EXTERNAL, id="council-domain-as-a-prefix"
    ),
]


@pytest.mark.parametrize(("email", "expected"), CLASSES)
def test_classify(context, email, expected):
    assert context.classify(email) is expected


@pytest.mark.parametrize(("email", "expected"), CLASSES[:8] + CLASSES[15:17])
def test_classify_ignores_case(context, email, expected):
    assert context.classify(email.upper()) is expected
    assert context.classify(email.title()) is expected


def test_council_domain_wins_over_a_trusted_parent(context, directory):
    # ashdown.gov.uk is under gov.uk, a trusted domain: the council's own domain wins
    assert context.classify("parking.appeals@ashdown.gov.uk") is AddressClass.COUNCIL
    assert directory.is_council_domain("x@ashdown.gov.uk") and not directory.is_trusted_domain(
        "x@ashdown.gov.uk"
    )
    assert directory.is_trusted_domain("x@gov.uk") and directory.is_trusted_domain("x@dwp.gov.uk")


def test_council_and_outside(context):
    assert all(c.is_council for c in (AddressClass.MEMBER, AddressClass.TEAM, AddressClass.COUNCIL))
    assert not AddressClass.TRUSTED.is_council and not AddressClass.PRIVATE.is_council
    assert context.is_outside("estimates@harbourside-roofing.co.uk") and context.is_outside("x@gmail.com")
    assert not context.is_outside("case.worker@dwp.gov.uk") and not context.is_outside(
        "kieran.reddaway@ashdown.gov.uk"
    )


def test_people_are_found_by_any_of_their_addresses(directory):
    by_work = directory.person("CLLR.LORCAN.PETTIFER@ashdown.gov.uk")
    by_home = directory.person("Lorcan.Pettifer77@Gmail.com")
    assert by_work is not None and by_work is by_home and by_work.name == "Lorcan Pettifer"
    assert directory.member("cllr.lorcan.pettifer@ashdown.gov.uk") is by_work
    assert directory.officer("cllr.lorcan.pettifer@ashdown.gov.uk") is None
    officer = directory.officer("kieran.reddaway@ashdown.gov.uk")
    assert officer is not None and officer.grade == "junior"
    assert directory.person("nobody@ashdown.gov.uk") is None
    assert directory.person_named("Cllr Lorcan Pettifer") is by_work


def test_lists_teams_and_team_membership(directory):
    assert directory.list_kind("ALL.COUNCILLORS@ashdown.gov.uk") == "all-members"
    assert directory.list_kind("cllr.nkechi.farrant@ashdown.gov.uk") is None
    assert directory.in_team("press.office@ashdown.gov.uk", "communications")
    assert directory.in_team("elspeth.varney@ashdown.gov.uk", "communications")  # department = team name
    assert not directory.in_team("jasper.oakes@ashdown.gov.uk", "communications")
    assert directory.in_team("hamish.larch@ashdown.gov.uk", "democratic-services")


def test_the_test_directory_is_complete(directory):
    """Other tests rely on these: every grade, three parties or more, a personal address of each kind."""
    assert {o.grade for o in directory.officers} == {"junior", "officer", "manager", "director", "chief"}
    assert len({m.party for m in directory.members}) >= 3
    assert {dl.kind for dl in directory.distribution_lists} >= {"all-members", "cabinet"}
    assert {t.function for t in directory.teams} >= {"communications", "democratic-services"}
    assert {m.ward for m in directory.members} == {w.name for w in directory.wards}
    first_names = [p.name.split()[0] for p in directory.members]
    assert len(first_names) == len(set(first_names))


# --- configuration errors ------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line(text: str, fragment: str) -> int:
    """The 1-based line of the first line of ``text`` holding ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


BAD = [
    pytest.param(
        GOOD.replace("\nmembers:", "\nmemebers:"),
        "memebers:",
        r"memebers: unknown key",
        id="typo-in-a-top-level-key",
    ),
    pytest.param(
        GOOD.replace("    grade: junior", "    grade: intern", 1),
        "grade: intern",
        r"officers\[\d+\]\.grade: .*'intern'",
        id="unknown-grade",
    ),
    pytest.param(
        GOOD.replace("    title: Benefits Officer\n", "    title: Benefits Officer\n    grde: officer\n"),
        "grde:",
        r"officers\[\d+\]\.grde: unknown key",
        id="typo-in-an-officer-key",
    ),
    pytest.param(
        GOOD.replace("  timezone: Europe/London\n", "  timezone: Europe/London\n  timezone: Europe/Paris\n"),
        "timezone: Europe/Paris",
        r"council\.timezone: duplicate key",
        id="duplicate-key",
    ),
    pytest.param(
        GOOD.replace("email: jasper.oakes@ashdown.gov.uk", "email: jasper.oakes.ashdown.gov.uk"),
        "jasper.oakes.ashdown.gov.uk",
        r"officers\[\d+\]\.email: .*jasper\.oakes\.ashdown\.gov\.uk",
        id="address-without-at-sign",
    ),
    pytest.param(
        GOOD.replace("[lorcan.pettifer77@gmail.com]", "[lorcan pettifer@gmail.com]"),
        "lorcan pettifer@gmail.com",
        r"members\[\d+\]\.personal_emails.*not an e-mail address",
        id="personal-address-with-a-space",
    ),
    pytest.param(
        GOOD.replace("timezone: Europe/London", "timezone: Europe/Ashdown"),
        "Europe/Ashdown",
        r"council\.timezone: .*Europe/Ashdown",
        id="unknown-time-zone",
    ),
    pytest.param(
        GOOD.replace("positions: [chair]", "positions: [mayor]"),
        "[mayor]",
        r"members\[\d+\]\.positions\[0\]: .*'mayor'",
        id="unknown-position",
    ),
    pytest.param(
        GOOD.replace("    kind: cabinet", "    kind: cabnet"),
        "kind: cabnet",
        r"distribution_lists\[1\]\.kind: .*'cabnet'",
        id="unknown-list-kind",
    ),
    pytest.param(
        GOOD.replace("bank_holidays: england-and-wales", "bank_holidays: wales"),
        "bank_holidays",
        r"council\.bank_holidays: .*'wales'",
        id="unknown-bank-holiday-calendar",
    ),
    pytest.param(
        GOOD.replace("email: jasper.oakes@ashdown.gov.uk", "email: tamsin.greaves@ashdown.gov.uk"),
        "title: Waste Services Assistant",
        r"officers\[\d+\]\.email: tamsin\.greaves@ashdown\.gov\.uk is "
        r"already listed",
        id="one-address-for-two-people",
    ),
]


@pytest.mark.parametrize(("text", "where", "pattern"), BAD)
def test_bad_directory_names_file_line_and_key(tmp_path, text, where, pattern):
    path = _write(tmp_path, text)
    with pytest.raises(DirectoryError) as err:
        load_directory(path)
    message = str(err.value)
    assert "\n" not in message
    match = re.fullmatch(rf"{re.escape(str(path))}:(\d+): (.*)", message)
    assert match, message
    assert re.search(pattern, match.group(2)), message
    expected = _line(text, where)
    # the line of the key itself, or (for a value check) of the entry it belongs to, a few lines up;
    # test_unknown_key_points_at_its_own_line holds the exact line for a key
    assert expected - 8 <= int(match.group(1)) <= expected + 2, message


def test_unknown_key_points_at_its_own_line(tmp_path):
    text = GOOD.replace("\nmembers:", "\nmemebers:")
    with pytest.raises(DirectoryError, match=rf":{_line(text, 'memebers:')}: memebers: unknown key"):
        load_directory(_write(tmp_path, text))


def test_x_keys_are_a_councils_own_and_ignored(tmp_path):
    text = (
        GOOD.replace("council:\n", "x-maintainer: ICT service desk\ncouncil:\n  x-note: reviewed yearly\n", 1)
        .replace("    party: Green\n", "    party: Green\n    x-phone-extension: 4410\n")
        .replace("  - name: Saltmarsh\n", "  - name: Saltmarsh\n    x-polling-district: SM1\n")
    )
    assert text.count("x-") == 4
    directory = load_directory(_write(tmp_path, text))
    assert directory.member("cllr.nkechi.farrant@ashdown.gov.uk") is not None
    assert (
        directory.model_dump()
        == load_directory(Path(__file__).parent / "data" / "directory.yaml").model_dump()
    )


def test_bad_yaml(tmp_path):
    text = GOOD.replace("  domains: [ashdown.gov.uk]", "  domains: [ashdown.gov.uk")
    path = _write(tmp_path, text)
    with pytest.raises(DirectoryError, match=rf"^{re.escape(str(path))}:\d+: not valid YAML"):
        load_directory(path)


def test_missing_file(tmp_path):
    with pytest.raises(DirectoryError, match=r"nowhere\.yaml: no such file"):
        load_directory(tmp_path / "nowhere.yaml")


@pytest.mark.parametrize(
    "text", ["", "members: []\n", "- just\n- a list\n"], ids=["empty", "no-council", "a-list"]
)
def test_directory_without_a_council(tmp_path, text):
    with pytest.raises(DirectoryError, match=r"directory\.yaml:1: .*council"):
        load_directory(_write(tmp_path, text))


def test_addresses_in_the_file_are_matched_whatever_their_case(tmp_path):
    text = GOOD.replace("email: jasper.oakes@ashdown.gov.uk", "email: Jasper.Oakes@Ashdown.GOV.UK")
    directory = load_directory(_write(tmp_path, text))
    context = Context(directory, load_policy().settings)
    assert context.classify("jasper.oakes@ashdown.gov.uk") is AddressClass.OFFICER


def test_cli_reports_a_bad_directory_in_one_line(cli, tmp_path):
    path = _write(tmp_path, GOOD.replace("\nofficers:", "\nofficer:"))
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: a@ashdown.gov.uk\nTo: b@ashdown.gov.uk\nSubject: x\n\nHello\n")
    code, out, err = cli("check", "--directory", path, message)
    assert code == 2 and out == ""
    assert re.fullmatch(
        rf"correspondence-guard: error: {re.escape(str(path))}:\d+: officer: unknown key", err.strip()
    )
