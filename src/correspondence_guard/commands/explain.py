"""``correspondence-guard explain [RULE]``: what a rule flags, how it is set, and the protocol behind it.

With no RULE, lists every rule (id, severity, on_send, title). With RULE, prints the rule's
section of the rules text shipped in the package (``correspondence_guard/rules.md``, and where it
is installed), the detector's docstring, the effective severity and on_send (and the default's
when ``--policy`` changes them), the note, each citation with the protocol text it points to, and
the policy keys that tune it. Colour on a terminal; plain text otherwise. An unknown rule is an
error (exit 2).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from pydantic import BaseModel

from correspondence_guard.cli import EXIT_CLEAR, policy_arg
from correspondence_guard.errors import CorrespondenceGuardError

THREAD_RULE = "member-enquiry-overdue"  # thread-level: `correspondence-guard enquiries`, settings.enquiries
RULES_TEXT = "rules.md"  # every rule's meaning, one section each, shipped in the package

# "## 4. reply-all-members" or "## Thread-level: member-enquiry-overdue"
_SECTION = re.compile(r"^## +(?:(\d+)\. +([a-z][a-z-]*)|Thread-level: +([a-z][a-z-]*)) *$", re.M)


@dataclass(frozen=True)
class Section:
    """One rule's section of rules.md."""

    rule: str
    number: int | None  # None for the thread-level rule
    heading: str  # the heading without "## "
    body: str

    @property
    def cited_as(self) -> str:
        """How a docstring cites it: 'section 4', or '"Thread-level: member-enquiry-overdue"'."""
        return f"section {self.number}" if self.number is not None else f'"{self.heading}"'


def rules_text_file() -> Traversable:
    """The rules text as installed with the package."""
    return resources.files("correspondence_guard").joinpath(RULES_TEXT)


def rule_sections(text: str | None = None) -> dict[str, Section]:
    """Each rule's section of rules.md (the shipped file unless ``text`` is given), by rule id."""
    if text is None:
        text = rules_text_file().read_text(encoding="utf-8")
    matches = list(_SECTION.finditer(text))
    sections = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        number, rule = (int(match[1]), match[2]) if match[1] else (None, match[3])
        heading = match.group(0)[2:].strip()
        sections[rule] = Section(rule, number, heading, text[match.end() : end].strip())
    return sections


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("explain", help="explain a rule: what it flags, its settings and protocol text")
    policy_arg(parser)
    parser.add_argument("rule", nargs="?", metavar="RULE", help="a rule id (omit to list the rules)")
    parser.set_defaults(func=run)


class _Out:
    """Lines with a style and an indent: rich on a terminal, plain unwrapped text otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.console: Any = None
        if self.tty:
            from rich.console import Console

            self.console = Console(highlight=False)

    def line(self, text: str = "", style: str = "", indent: int = 0) -> None:
        if self.console is None:
            for part in text.split("\n") or [""]:
                print((" " * indent + part).rstrip())
            return
        from rich.padding import Padding
        from rich.text import Text

        if not text:
            self.console.print()
            return
        self.console.print(Padding(Text(text, style=style), (0, 0, 0, indent), expand=False))

    def heading(self, text: str) -> None:
        self.line()
        self.line(text, style="bold underline")

    def markdown(self, text: str, indent: int = 0) -> None:
        """Markdown source: rendered on a terminal, as written otherwise."""
        if self.console is None:
            self.line(text, indent=indent)
            return
        from rich.markdown import Markdown
        from rich.padding import Padding

        self.console.print(Padding(Markdown(text), (0, 0, 0, indent)))


def _show(value: Any, limit: int = 160) -> str:
    """A value as a policy file would write it, shortened when long."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_show(v, limit) for v in value) + "]"
        if len(text) > limit:
            text = text[: limit - 1].rsplit(",", 1)[0] + f", ...] ({len(value)} items)"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_show(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text


def _list_rules(out: _Out, policy: Any) -> None:
    rows = [
        (rule_id, cfg.severity.value, cfg.on_send.value, cfg.title + ("" if cfg.enabled else "  (disabled)"))
        for rule_id, cfg in sorted(policy.rules.items())
    ]
    header = ("RULE", "SEVERITY", "ON SEND", "TITLE")
    if out.console is not None:
        from rich import box
        from rich.table import Table

        table = Table(*header, box=box.SIMPLE, header_style="bold")
        for row in rows:
            table.add_row(*row)
        out.console.print(table)
    else:
        widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
        for row in (header, *rows):
            print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    out.line()
    out.line(f"Thread-level: {THREAD_RULE} (correspondence-guard enquiries; settings.enquiries)", style="dim")
    out.line(
        "correspondence-guard explain RULE shows what a rule flags, its settings and protocol text.",
        style="dim",
    )


def _citations(out: _Out, labels: list[str]) -> list[str]:
    """Print each citation with its protocol text; return the labels that could not be found."""
    from correspondence_guard.citations import resolve

    missing = []
    for label in labels:
        cite = resolve(label)
        out.line()
        out.line(label + (f"  ({cite.title})" if cite.title else ""), style="bold", indent=2)
        out.line(cite.text, style="" if cite.found else "red", indent=4)
        if not cite.found:
            missing.append(label)
    return missing


def _params(out: _Out, model: type[BaseModel], current: BaseModel, base: BaseModel, where: str) -> None:
    """Each key with its value, its default-policy value when the council's policy changes it, and
    its description."""
    out.heading(f"Policy keys ({where})")
    if not model.model_fields:
        out.line("(none: this rule has no parameters)", indent=2)
    for name, field in model.model_fields.items():
        value, default = getattr(current, name, None), getattr(base, name, None)
        changed = "" if value == default else f"  (default: {_show(default, 60)})"
        out.line(f"{name}: {_show(value)}{changed}", style="bold", indent=2)
        if field.description:
            out.line(field.description, style="dim", indent=6)


def _rules_text(out: _Out, rule_id: str) -> None:
    """The rule's section of the shipped rules.md, and where that file is."""
    where = rules_text_file()
    try:
        section = rule_sections().get(rule_id)
    except OSError:  # an installation without the file: say so, and explain the rest
        out.heading("What it means")
        out.line(f"({RULES_TEXT} is missing from the installation: {where})", style="red", indent=2)
        return
    out.heading(f"What it means ({RULES_TEXT}, {section.cited_as})" if section else "What it means")
    out.markdown(section.body if section else f"(no section for {rule_id} in {RULES_TEXT})", indent=2)
    out.line()
    out.line(f"From {where}, installed with correspondence-guard.", style="dim", indent=2)


def _explain_rule(out: _Out, rule_id: str, policy: Any, default: Any) -> None:
    from correspondence_guard.detectors import REGISTRY

    cfg, base = policy.rules[rule_id], default.rules[rule_id]
    out.line(f"{rule_id}: {cfg.title}", style="bold")
    for key in ("severity", "on_send", "enabled"):
        value, was = getattr(cfg, key), getattr(base, key)
        shown = _show(value.value if hasattr(value, "value") else value)
        before = _show(was.value if hasattr(was, "value") else was)
        note = f"  (default: {before}; set by {policy.sources[-1]})" if value != was else ""
        out.line(f"{key.replace('_', ' ')}: {shown}{note}", indent=2)
    _rules_text(out, rule_id)
    out.heading("How the detector reads it")
    out.line(REGISTRY[rule_id].doc or "(no description)", indent=2)
    out.heading("What to do (the note)")
    out.line(cfg.note, indent=2)
    out.heading("Protocol")
    _citations(out, list(cfg.cite))
    if REGISTRY[rule_id].gate is not None:
        _model(out, rule_id, policy)
    _params(
        out,
        REGISTRY[rule_id].params,
        policy.params[rule_id],
        default.params[rule_id],
        f"rules.{rule_id}.params",
    )
    out.line()
    out.line(
        f"Also set per rule: enabled, severity, on_send, title, note, cite (rules.{rule_id}).", style="dim"
    )


def _model(out: _Out, rule_id: str, policy: Any) -> None:
    """The learned model behind a language rule: which one, the threshold in force, how it scored."""
    from correspondence_guard.detectors.language import design_label, model_card

    card = model_card(policy.settings.language_model)
    out.heading("Language model")
    if not card:
        out.line("(no model card found)", indent=2)
        return
    configured = getattr(policy.params[rule_id], "threshold", None)
    own = card.get("thresholds", {}).get(rule_id)
    threshold = (
        f"{configured} (set by the policy; the model's own: {own})" if configured is not None else f"{own}"
    )
    out.line(f"model: {card.get('name')} {card.get('version')} ({design_label(card)})", indent=2)
    out.line(f"training data sha256: {card.get('data_sha256')}", indent=2)
    out.line(f"threshold: {threshold}", indent=2)
    held = card.get("heldout", {}).get(rule_id)
    if held:
        councils = ", ".join(card.get("heldout_councils", []))
        out.line(
            f"on councils it never saw ({councils}): precision {held['precision']:.2f}, recall {held['recall']:.2f}",
            indent=2,
        )


def _explain_thread_rule(out: _Out, policy: Any, default: Any) -> None:
    from correspondence_guard import threads
    from correspondence_guard.policy import EnquirySettings

    settings = policy.settings.enquiries
    out.line(f"{THREAD_RULE}: member enquiries left without a reply (thread level)", style="bold")
    out.line("checked by: correspondence-guard enquiries MAILBOX", indent=2)
    _rules_text(out, THREAD_RULE)
    out.heading("How the check reads a mailbox")
    out.line((threads.__doc__ or "").strip(), indent=2)
    out.heading("Protocol")
    _citations(out, list(settings.cite))
    _params(out, EnquirySettings, settings, default.settings.enquiries, "settings.enquiries")


def run(args: argparse.Namespace) -> int:
    from correspondence_guard.detectors import REGISTRY
    from correspondence_guard.policy import load_policy

    policy = load_policy(args.policy)
    out = _Out()
    if args.rule is None:
        _list_rules(out, policy)
        return EXIT_CLEAR
    default = load_policy(None) if args.policy else policy
    if args.rule == THREAD_RULE:
        _explain_thread_rule(out, policy, default)
        return EXIT_CLEAR
    if args.rule not in policy.rules or args.rule not in REGISTRY:
        known = ", ".join(sorted(policy.rules))
        raise CorrespondenceGuardError(f"unknown rule {args.rule!r} (known: {known}, {THREAD_RULE})")
    _explain_rule(out, args.rule, policy, default)
    return EXIT_CLEAR
