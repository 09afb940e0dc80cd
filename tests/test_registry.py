"""The rule registry agrees with the default policy, and every detector has its test file. No counts:
an eleventh rule is one detector module, one policy entry and one test file, and breaks nothing here."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import yaml

import correspondence_guard.detectors as detectors
from correspondence_guard.detectors import REGISTRY, Rule

TESTS = Path(__file__).parent
DEFAULT_POLICY = TESTS.parent / "policies" / "default.yaml"


def _detector_modules() -> dict[str, str]:
    """Module name -> rule id, for every module of the detectors package that defines RULE."""
    found = {}
    for info in pkgutil.iter_modules(detectors.__path__):
        module = importlib.import_module(f"{detectors.__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if isinstance(rule, Rule):
            found[info.name] = rule.id
    return found


def test_default_policy_declares_exactly_the_registered_rules():
    declared = set(yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))["rules"])
    assert declared - set(REGISTRY) == set(), "policies/default.yaml names rules no detector implements"
    assert set(REGISTRY) - declared == set(), "detectors without an entry in policies/default.yaml"


def test_every_detector_module_is_registered_under_its_own_name():
    modules = _detector_modules()
    assert set(modules.values()) == set(REGISTRY)
    for name, rule_id in modules.items():
        assert name == rule_id.replace("-", "_"), f"detectors/{name}.py declares {rule_id!r}"


def test_every_detector_has_its_test_file():
    missing = [
        f"tests/detectors/test_{name}.py"
        for name in _detector_modules()
        if not (TESTS / "detectors" / f"test_{name}.py").is_file()
    ]
    assert missing == []


def test_every_rule_documents_itself():
    for rule_id, rule in REGISTRY.items():
        assert rule.doc.startswith(f"{rule_id}:"), (
            f"the docstring of the {rule_id} detector starts with its id"
        )
        assert "Not flagged" in rule.doc, f"the docstring of the {rule_id} detector says what is not flagged"


def test_rule_ids_are_kebab_case():
    for rule_id in REGISTRY:
        assert rule_id == rule_id.lower() and " " not in rule_id and "_" not in rule_id
