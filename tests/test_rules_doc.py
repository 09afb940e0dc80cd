"""The rules text shipped in the package (``correspondence_guard/rules.md``).

Every rule the checker knows has its section there, numbered as the code's docstrings cite it
("Spec: rules.md section N"), the file ships in the wheel, ``explain RULE`` prints the section
and where the file is installed, and the docs site includes the same file rather than a copy.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

import correspondence_guard
from correspondence_guard.cli import main
from correspondence_guard.commands.explain import THREAD_RULE, rule_sections, rules_text_file
from correspondence_guard.detectors import REGISTRY
from correspondence_guard.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(correspondence_guard.__file__).resolve().parent
RULES = sorted(REGISTRY)
KNOWN = [*RULES, THREAD_RULE]

# 'Spec: rules.md section 4' or 'Spec: rules.md "Thread-level: member-enquiry-overdue"'
_CITE = re.compile(r'Spec:\s+rules\.md\s+(section\s+\d+|"[^"]+")')


def _flat(text: str) -> str:
    return " ".join(text.split())


def _cited() -> dict[str, list[tuple[str, str]]]:
    """Rule id -> [(citation, module file)] for every module docstring in the package that cites
    rules.md; the rule id is what the docstring's first line names before its colon."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        match = _CITE.search(_flat(doc))
        if match:
            rule = doc.split(":", 1)[0].strip()
            citation = _flat(match[1])
            found.setdefault(rule, []).append((citation, str(path.relative_to(PACKAGE))))
    return found


def test_the_shipped_file_is_found() -> None:
    assert rules_text_file().is_file()
    assert Path(str(rules_text_file())).resolve() == PACKAGE / "rules.md"


def test_every_rule_has_its_section() -> None:
    sections = rule_sections()
    assert set(load_policy().rules) == set(RULES), "policies/default.yaml and the detectors differ"
    missing = [rule for rule in KNOWN if rule not in sections]
    assert missing == [], f"no section in rules.md for: {missing}"
    assert set(sections) == set(KNOWN), f"sections for unknown rules: {set(sections) - set(KNOWN)}"
    for section in sections.values():
        body = section.body
        assert "Meaning:" in body and "Flagged:" in body and "Not flagged:" in body, section.heading
        assert "Protocol:" in body, section.heading


def test_sections_are_numbered_one_to_ten_in_order() -> None:
    text = rules_text_file().read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## +(\d+)\. ", text, re.M)]
    assert numbers == list(range(1, len(RULES) + 1))
    assert text.index(f"## Thread-level: {THREAD_RULE}") > text.index(f"## {len(RULES)}. ")


@pytest.mark.parametrize("rule_id", KNOWN)
def test_section_number_is_the_one_the_code_cites(rule_id: str) -> None:
    cited = _cited().get(rule_id)
    assert cited, f"no module docstring naming {rule_id} cites rules.md"
    section = rule_sections()[rule_id]
    for citation, module in cited:
        assert citation == section.cited_as, (
            f"{module} cites rules.md {citation}; the file has {section.cited_as}"
        )


def test_every_detector_docstring_cites_its_section() -> None:
    for rule_id in RULES:
        assert _CITE.search(_flat(REGISTRY[rule_id].doc)), f"{rule_id}: docstring cites no rules.md section"


def test_the_wheel_ships_it() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "rules.md" in pyproject["tool"]["setuptools"]["package-data"]["correspondence_guard"]


@pytest.mark.parametrize("rule_id", KNOWN)
def test_explain_prints_the_section(capsys: pytest.CaptureFixture[str], rule_id: str) -> None:
    assert main(["explain", rule_id]) == 0
    out = capsys.readouterr().out
    section = rule_sections()[rule_id]
    assert f"rules.md, {section.cited_as}" in out
    assert _flat(section.body) in _flat(out)
    assert str(rules_text_file()) in out


def test_the_docs_include_the_shipped_file_not_a_copy() -> None:
    page = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert '--8<-- "src/correspondence_guard/rules.md"' in page
    assert not re.search(r"^## +\d+\. ", page, re.M), (
        "docs/rules.md repeats a section instead of including it"
    )
