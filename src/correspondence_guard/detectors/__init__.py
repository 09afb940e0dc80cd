"""The rule registry: every module in this package that defines ``RULE`` is a detector.

Adding a rule is one module here, one entry in policies/default.yaml and one test file.
"""

from __future__ import annotations

import importlib
import pkgutil

from correspondence_guard.detectors.base import Context, Rule

REGISTRY: dict[str, Rule] = {}

for _info in pkgutil.iter_modules(__path__):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    _rule = getattr(_module, "RULE", None)
    if isinstance(_rule, Rule):
        if _rule.id in REGISTRY:
            raise RuntimeError(f"two detectors declare rule id {_rule.id!r}")
        REGISTRY[_rule.id] = Rule(
            _rule.id, _rule.params, _rule.detect, (_module.__doc__ or "").strip(), _rule.gate
        )

__all__ = ["REGISTRY", "Context", "Rule"]
