"""Policy files: the default, a council's file laid over it, clear errors, and the JSON Schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from correspondence_guard import Checker, PolicyError, load_policy
from correspondence_guard.detectors import REGISTRY
from correspondence_guard.findings import SendAction, Severity
from correspondence_guard.policy import policy_schema, schema_json

ROOT = Path(__file__).parent.parent
SCHEMA_FILE = ROOT / "policies" / "policy.schema.json"
RULE = "reply-all-members"  # the rule the council files below change
REGENERATE = "correspondence-guard policy schema > policies/policy.schema.json"


def _write(tmp_path: Path, text: str, name: str = "council.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _line(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


COUNCIL = f"""\
# Ashdown's own policy: only what it changes
rules:
  {RULE}:
    severity: low
    on_send: allow
    note: Please reply only to the person who wrote to you.
    params:
      max_members: 3
"""


def test_default_policy_loads():
    policy = load_policy()
    assert set(policy.rules) == set(REGISTRY)
    assert set(policy.params) == set(REGISTRY)
    for rule_id, cfg in policy.rules.items():
        assert isinstance(cfg.severity, Severity) and isinstance(cfg.on_send, SendAction), rule_id
        assert cfg.note.strip() and cfg.title.strip() and cfg.cite, rule_id
    assert "gmail.com" in policy.settings.private_domains  # the shipped list fills an empty setting
    assert len(policy.sources) == 1


def test_council_file_changes_one_rule_and_nothing_else(tmp_path):
    default = load_policy().to_dict()
    council = load_policy(_write(tmp_path, COUNCIL)).to_dict()
    changed = council["rules"].pop(RULE)
    before = default["rules"].pop(RULE)
    assert council == default, "rules the council file does not name must keep their default"
    assert changed["severity"] == "low" and changed["on_send"] == "allow"
    assert changed["note"] == "Please reply only to the person who wrote to you."
    assert changed["params"]["max_members"] == 3
    # what the council did not set in this rule keeps its default
    assert changed["title"] == before["title"] and changed["cite"] == before["cite"]
    assert changed["params"]["list_kinds"] == before["params"]["list_kinds"]
    assert changed["enabled"] is before["enabled"] is True


def test_council_settings_merge_with_the_default(tmp_path):
    policy = load_policy(_write(tmp_path, "settings:\n  extra_private_domains: [ashdown-residents.org.uk]\n"))
    assert policy.settings.extra_private_domains == ["ashdown-residents.org.uk"]
    assert "gmail.com" in policy.settings.private_domains


def test_council_params_reach_the_detector(tmp_path, directory_path, make_draft):
    """Three members addressed: below the default threshold (5 of 10), at the council's (3)."""
    message = make_draft(
        sender="member:Desmond",
        to=["member:Henrietta", "member:Nkechi", "member:Cyrus"],
        subject="RE: Harrowdene bus route",
        compose_type="reply",
        body="I agree with Henrietta.\n\nDesmond",
    )
    default = Checker.load(directory_path).check(message, rules=[RULE])
    council = Checker.load(directory_path, _write(tmp_path, COUNCIL)).check(message, rules=[RULE])
    assert default.findings == ()
    [finding] = council.findings
    assert finding.severity is Severity.LOW and finding.on_send is SendAction.ALLOW
    assert finding.note == "Please reply only to the person who wrote to you."


def test_a_rule_can_be_switched_off(tmp_path):
    policy = load_policy(_write(tmp_path, f"rules:\n  {RULE}:\n    enabled: false\n"))
    assert RULE not in policy.enabled() and set(policy.enabled()) == set(REGISTRY) - {RULE}


BAD = [
    pytest.param(
        "rules:\n  reply-all-membrs:\n    severity: low\n",
        "reply-all-membrs:",
        r"rules\.reply-all-membrs: unknown rule id",
        id="misspelt-rule-id-with-one-key",
    ),
    pytest.param(
        "rules:\n  reply-to-everyone:\n    enabled: true\n    severity: low\n    on_send: allow\n    title: T\n"
        "    note: N\n    cite: [CAM 10.1]\n",
        "reply-to-everyone:",
        r"rules\.reply-to-everyone: unknown rule id",
        id="unknown-rule-id-with-a-full-entry",
    ),
    pytest.param(
        f"rules:\n  {RULE}:\n    severty: low\n",
        "severty:",
        rf"rules\.{RULE}\.severty: unknown key",
        id="misspelt-rule-key",
    ),
    pytest.param(
        f"rules:\n  {RULE}:\n    severity: critical\n",
        "critical",
        rf"rules\.{RULE}\.severity: .*'critical'",
        id="severity-not-low-medium-or-high",
    ),
    pytest.param(
        f"rules:\n  {RULE}:\n    on_send: refuse\n",
        "refuse",
        rf"rules\.{RULE}\.on_send: .*'refuse'",
        id="unknown-send-action",
    ),
    pytest.param(
        f"rules:\n  {RULE}:\n    params:\n      max_members: lots\n",
        "lots",
        rf"rules\.{RULE}\.params\.max_members: .*integer",
        id="param-of-the-wrong-type",
    ),
    pytest.param(
        f"rules:\n  {RULE}:\n    params:\n      max_member: 3\n",
        "max_member:",
        rf"rules\.{RULE}\.params\.max_member: unknown key",
        id="misspelt-param",
    ),
    pytest.param(
        f"rules:\n  {RULE}:\n    params:\n      max_members: 0\n",
        "max_members: 0",
        rf"rules\.{RULE}\.params\.max_members: ",
        id="param-out-of-range",
    ),
    pytest.param(
        f"rules:\n  {RULE}:\n    severity: low\n    severity: high\n",
        "severity: high",
        rf"rules\.{RULE}\.severity: duplicate key",
        id="key-given-twice",
    ),
    pytest.param(
        "settings:\n  private_domain: [example.org]\n",
        "private_domain:",
        r"settings\.private_domain: unknown key",
        id="misspelt-setting",
    ),
    pytest.param(
        "settings:\n  max_attachment_mb: -1\n",
        "max_attachment_mb",
        r"settings\.max_attachment_mb: ",
        id="negative-attachment-limit",
    ),
    pytest.param("rulez:\n  {}\n", "rulez", r"rulez: unknown key", id="misspelt-top-level-key"),
]


@pytest.mark.parametrize(("text", "where", "pattern"), BAD)
def test_bad_council_policy_names_file_line_and_key(tmp_path, text, where, pattern):
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    message = str(err.value)
    assert "\n" not in message
    match = re.fullmatch(rf"{re.escape(str(path))}:(\d+): (.*)", message)
    assert match, f"not 'file:line: key: problem' for the council's file: {message}"
    assert re.search(pattern, match.group(2)), message
    expected = _line(text, where)
    assert expected <= int(match.group(1)) <= expected + 1, message


def test_unknown_rule_id_points_at_its_own_line(tmp_path):
    text = (
        "# typo below\nrules:\n  reply-all-membrs:\n    enabled: true\n    severity: low\n    on_send: allow\n"
        "    title: T\n    note: N\n    cite: [CAM 10.1]\n"
    )
    with pytest.raises(PolicyError, match=rf":{_line(text, 'reply-all-membrs')}: rules\.reply-all-membrs: "):
        load_policy(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("rules:\n  reply-all-members: [\n", r":\d+: not valid YAML"),
        ("- a list\n- not a mapping\n", r":1: .*mapping"),
    ],
    ids=["broken-yaml", "not-a-mapping"],
)
def test_policy_that_is_not_a_policy(tmp_path, text, pattern):
    with pytest.raises(PolicyError, match=pattern):
        load_policy(_write(tmp_path, text))


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError, match=r"absent\.yaml: no such file"):
        load_policy(tmp_path / "absent.yaml")


def test_empty_council_file_is_the_default(tmp_path):
    assert load_policy(_write(tmp_path, "# nothing changed yet\n")).to_dict() == load_policy().to_dict()


# --- the policy commands --------------------------------------------------------------------


def test_policy_validate(cli, tmp_path):
    good = _write(tmp_path, COUNCIL)
    code, out, err = cli("policy", "validate", good)
    assert code == 0 and str(good) in out and "valid" in out and err == ""
    bad = _write(tmp_path, f"rules:\n  {RULE}:\n    severity: critical\n", "bad.yaml")
    code, out, err = cli("policy", "validate", bad)
    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith(f"correspondence-guard: error: {bad}:3: rules.{RULE}.severity")


def test_policy_validate_lists_every_problem_in_line_order(cli, tmp_path):
    text = (
        "settings:\n  max_attachment_mb: -1\n  bogus: 2\n"
        f"rules:\n  {RULE}:\n    severity: critical\n  no-such-rule:\n    enabled: true\n"
    )
    bad = _write(tmp_path, text, "many.yaml")
    code, out, err = cli("policy", "validate", bad)
    assert code == 2 and out == ""
    where = [line.removeprefix("correspondence-guard: error: ").split(": ")[0] for line in err.splitlines()]
    assert where == [f"{bad}:2", f"{bad}:3", f"{bad}:6", f"{bad}:7"]
    assert "unknown key" in err and "unknown rule id" in err and "greater than 0" in err
    directory = Path(__file__).parent / "data" / "directory.yaml"
    code, out, err = cli("check", "--directory", directory, "--policy", bad, __file__)  # elsewhere: one line
    assert code == 2 and err.count("\n") == 1 and "(and 3 more: run `policy validate`)" in err


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_policy_show_prints_the_effective_values(cli, tmp_path, fmt):
    import yaml

    code, out, err = cli("policy", "show", "--format", fmt, "--policy", _write(tmp_path, COUNCIL))
    assert code == 0, err
    shown = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    rule = shown["rules"][RULE]
    assert (rule["severity"], rule["on_send"], rule["params"]["max_members"]) == ("low", "allow", 3)
    assert rule["params"]["list_kinds"] == ["all-members"]  # a default the council did not touch
    assert shown == json.loads(json.dumps(load_policy(tmp_path / "council.yaml").to_dict()))


def test_policy_show_without_a_council_file_is_the_default(cli):
    code, out, _ = cli("policy", "show", "--format", "json")
    assert code == 0 and json.loads(out) == json.loads(json.dumps(load_policy().to_dict()))


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        assert node["$ref"].startswith("#/$defs/"), node["$ref"]
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node


def test_policy_schema_command(cli):
    code, out, err = cli("policy", "schema")
    assert code == 0 and err == ""
    schema = json.loads(out)
    assert schema == policy_schema()
    assert schema["$schema"].startswith("https://json-schema.org/") and schema["type"] == "object"
    assert {"settings", "rules"} <= set(schema["properties"])
    rules = schema["properties"]["rules"]
    assert rules["additionalProperties"] is False
    assert set(rules["properties"]) == set(REGISTRY)
    for rule_id, rule in REGISTRY.items():
        entry = rules["properties"][rule_id]
        params = _resolve(schema, entry["properties"]["params"])
        assert set(params.get("properties", {})) == set(rule.params.model_fields), rule_id
        assert params.get("additionalProperties") is False, rule_id
        config = _resolve(schema, entry["allOf"][0])
        assert {"severity", "on_send", "note", "cite", "params"} <= set(config["properties"]), rule_id
    # every reference resolves
    for ref in re.findall(r'"\$ref": "([^"]+)"', out):
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


def test_schema_file_is_up_to_date():
    assert SCHEMA_FILE.exists(), f"{SCHEMA_FILE} is missing: run `{REGENERATE}`"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_json(), (
        f"policies/policy.schema.json is out of date with the rules' Params: run `{REGENERATE}`"
    )


@pytest.mark.parametrize(
    ("severity", "on_send", "verdict"),
    [
        ("low", "allow", "advisory"),
        ("medium", "allow", "advisory"),
        ("high", "allow", "warning"),
        ("low", "prompt", "warning"),
        ("low", "block", "block"),
        ("high", "block", "block"),
    ],
    ids=lambda v: v,
)
def test_severity_and_on_send_decide_the_verdict(
    tmp_path, directory_path, make_draft, severity, on_send, verdict
):
    policy = _write(tmp_path, f"rules:\n  {RULE}:\n    severity: {severity}\n    on_send: {on_send}\n")
    checker = Checker.load(directory_path, policy)
    message = make_draft(
        sender="member:Desmond", to="list:all-members", subject="RE: Briefing", body="Agreed.\n\nDesmond"
    )
    report = checker.check(message, rules=[RULE])
    assert [f.rule for f in report.findings] == [RULE]
    assert (report.send_action.value, report.verdict.value) == (on_send, verdict)
    assert report.to_dict()["verdict"] == verdict and report.to_dict()["send_action"] == on_send
    assert (
        checker.check(
            make_draft(sender="member:Desmond", to="officer:Oswin", subject="Hello"), rules=[RULE]
        ).verdict.value
        == "clear"
    )
