"""The README's promises: its rules table matches the default policy, and its two commands exist."""

import re
from pathlib import Path

from correspondence_guard.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _table_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in README.splitlines():
        m = re.match(r"^\| `([a-z-]+)` \|[^|]*\| (low|medium|high) \| (allow|prompt|block) \|", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def test_rules_table_matches_the_default_policy():
    policy = load_policy()
    rows = _table_rows()
    assert set(rows) == set(policy.rules), "README rules table and policies/default.yaml list different rules"
    for rule_id, (severity, on_send) in rows.items():
        cfg = policy.rules[rule_id]
        assert (cfg.severity.value, cfg.on_send.value) == (severity, on_send), rule_id


def test_the_two_commands_exist_and_ci_calls_the_test_command():
    assert "scripts/quickstart" in README and "scripts/test" in README
    for script in ("scripts/quickstart", "scripts/test", ".ci/run"):
        path = ROOT / script
        assert path.exists() and path.stat().st_mode & 0o111, f"{script} missing or not executable"
    assert "scripts/test" in (ROOT / ".ci/run").read_text(encoding="utf-8")
