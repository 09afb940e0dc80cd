"""Policy: which rules run, how severe they are, what the add-in does on send, notes and citations.

``policies/default.yaml`` declares every rule. A council's own file is laid over it key by
key (mappings merge, lists and values replace), then the whole is validated: unknown
keys, unknown rule ids and bad values raise PolicyError naming the file, line and key.
Each rule's ``params`` are validated by its detector's ``Params`` model.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from correspondence_guard.detectors import REGISTRY
from correspondence_guard.errors import PolicyError
from correspondence_guard.findings import SendAction, Severity
from correspondence_guard.settings import EnquirySettings, Limits, Period, Settings

__all__ = ["EnquirySettings", "Limits", "Period", "Policy", "PolicyError", "Settings", "load_policy"]
from correspondence_guard.yamlfile import Loc, describe_error, error_loc, line_of, load_yaml

DEFAULT_POLICY = "default.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleConfig(_Strict):
    """One rule's entry in a policy file."""

    enabled: bool = True
    severity: Severity
    on_send: SendAction
    title: str = Field(min_length=1)
    note: str = Field(min_length=1, description="what to do instead, in plain English")
    cite: list[str] = Field(min_length=1, description="protocol paragraphs, e.g. 'CAM 10.1'")
    params: dict[str, Any] = Field(default_factory=dict, description="checked by the rule's detector")


class PolicyFile(_Strict):
    """The shape of a policy file."""

    version: int = 1
    settings: Settings = Settings()
    rules: dict[str, RuleConfig] = {}


class Policy:
    """The effective policy: settings, rule configs and each rule's validated params."""

    def __init__(self, data: PolicyFile, params: dict[str, BaseModel], sources: tuple[Path, ...]):
        self.settings = data.settings
        self.rules = data.rules
        self.params = params
        self.sources = sources

    def enabled(self) -> list[str]:
        return [rule_id for rule_id, cfg in self.rules.items() if cfg.enabled]

    def to_dict(self) -> dict[str, Any]:
        out = PolicyFile(settings=self.settings, rules=self.rules).model_dump(mode="json")
        for rule_id, params in self.params.items():
            out["rules"][rule_id]["params"] = params.model_dump(mode="json")
        return out


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    return copy.deepcopy(over)


def default_policy_path() -> Path:
    return Path(str(resources.files("correspondence_guard.policies").joinpath(DEFAULT_POLICY)))


def _shipped_private_domains() -> list[str]:
    text = resources.files("correspondence_guard.policies").joinpath("private_domains.txt").read_text("utf-8")
    return [line.split("#")[0].strip().lower() for line in text.splitlines() if line.split("#")[0].strip()]


def _read(path: Path) -> tuple[dict[str, Any], dict[Loc, int]]:
    try:
        data, lines = load_yaml(path)
    except ValueError as exc:
        raise PolicyError(str(exc)) from None
    if data in (None, {}):
        return {}, lines
    if not isinstance(data, dict):
        raise PolicyError(f"{path}:1: a policy file must be a mapping (settings:, rules:)")
    return data, lines


def load_policy(path: str | Path | None = None) -> Policy:
    """The default policy, extended by the council's file at ``path`` if given."""

    default_path = default_policy_path()
    merged, default_lines = _read(default_path)
    layers = [(default_path, default_lines, merged)]
    if path is not None:
        council, lines = _read(Path(path))
        layers.append((Path(path), lines, council))
        merged = _merge(merged, council)

    def blame(loc: Loc) -> tuple[Path, dict[Loc, int]]:
        """The file that set the longest part of ``loc`` (the council's file wins a tie)."""

        def depth(data: Any) -> int:
            for n, part in enumerate(loc):
                ok = isinstance(data, dict) and part in data
                ok = ok or (isinstance(data, list) and isinstance(part, int) and part < len(data))
                if not ok:
                    return n
                data = data[part]
            return len(loc)

        file, lines, _ = max(reversed(layers), key=lambda layer: depth(layer[2]))
        return file, lines

    problems: list[tuple[str, int, str]] = []  # (file, line, text): every problem, sorted below

    def problem(loc: Loc, text: str) -> None:
        file, lines = blame(loc)
        line = line_of(lines, loc)
        problems.append((str(file), line, f"{file}:{line}: {text}"))

    known = ", ".join(sorted(REGISTRY))
    rules = merged.get("rules") if isinstance(merged, dict) else None
    rules = rules if isinstance(rules, dict) else {}
    for rule_id in rules:
        if rule_id not in REGISTRY:  # a misspelt id is the real problem, not its shape
            problem(("rules", rule_id), f"rules.{rule_id}: unknown rule id (known: {known})")
    data = None
    try:
        data = PolicyFile.model_validate(
            {**merged, "rules": {k: v for k, v in rules.items() if k in REGISTRY}}
            if isinstance(merged, dict)
            else merged
        )
    except ValidationError as exc:
        for err in exc.errors():
            loc = error_loc(err)
            file, lines = blame(loc)
            problems.append((str(file), line_of(lines, loc), describe_error(err, file, lines)))

    params: dict[str, BaseModel] = {}
    for rule_id, cfg in rules.items():
        if rule_id not in REGISTRY or not isinstance(cfg, dict):
            continue
        try:
            params[rule_id] = REGISTRY[rule_id].params.model_validate(cfg.get("params") or {})
        except ValidationError as exc:
            prefix = ("rules", rule_id, "params")
            for err in exc.errors():
                file, lines = blame(error_loc(err, prefix))
                problems.append(
                    (
                        str(file),
                        line_of(lines, error_loc(err, prefix)),
                        describe_error(err, file, lines, prefix),
                    )
                )
    missing = sorted(set(REGISTRY) - set(rules))
    if missing:
        problems.append((str(layers[0][0]), 1, f"{layers[0][0]}: rules: no entry for {', '.join(missing)}"))
    if problems or data is None:
        own = str(Path(path)) if path is not None else ""  # the council's own file first
        ordered = [text for _, _, text in sorted(problems, key=lambda p: (p[0] != own, p[0], p[1]))]
        raise PolicyError(ordered[0], ordered)

    settings = data.settings
    if not settings.private_domains:
        settings = settings.model_copy(update={"private_domains": _shipped_private_domains()})
    data = data.model_copy(update={"settings": settings})
    return Policy(data, params, tuple(layer[0] for layer in layers))


def policy_schema() -> dict[str, Any]:
    """JSON Schema for policy files, with each rule's params schema from its detector."""

    schema = PolicyFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "correspondence-guard policy"
    defs = schema.setdefault("$defs", {})
    rule_props: dict[str, Any] = {}
    for rule_id, rule in sorted(REGISTRY.items()):
        params_schema = rule.params.model_json_schema()
        for name, sub in params_schema.pop("$defs", {}).items():
            defs[name] = sub
        name = "Params_" + rule_id.replace("-", "_")
        defs[name] = params_schema
        rule_props[rule_id] = {
            "allOf": [{"$ref": "#/$defs/RuleConfig"}],
            "properties": {"params": {"$ref": f"#/$defs/{name}"}},
        }
    # Policy files may set only some keys of a rule: the default supplies the rest.
    defs["RuleConfig"]["required"] = []
    schema["properties"]["rules"] = {
        "type": "object",
        "properties": rule_props,
        "additionalProperties": False,
    }
    return schema


def schema_json() -> str:
    return json.dumps(policy_schema(), indent=2, sort_keys=True) + "\n"
