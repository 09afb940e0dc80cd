"""The training corpus's source format: one folder per fictional council.

A folder holds ``directory.yaml`` (the checker's directory format) and ``messages-*.yaml``:
YAML lists of messages, each with its headers, the sender's new text, any quoted earlier
message, its rule labels and, for each rule about what the sender says, the sentences that
carry it (``corpora/FORMAT.md``). ``validate`` lists every problem; ``to_eml`` writes a
message as RFC 5322 so the checker reads it exactly as it reads real mail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

RULES = (
    "personal-data-to-private-address",
    "political-comment-on-council-email",
    "member-creates-legal-obligation",
    "reply-all-members",
    "member-contacts-junior-officer",
    "personal-criticism-of-officer",
    "undue-pressure-on-officer",
    "member-instructs-officer",
    "confidential-information-disclosed",
    "media-enquiry-not-referred",
)
# the rules about what the sender's words do: these are learned, and need sentence evidence
LANGUAGE_RULES = (
    "political-comment-on-council-email",
    "member-creates-legal-obligation",
    "member-instructs-officer",
    "personal-criticism-of-officer",
    "undue-pressure-on-officer",
)
_KEYS = {
    "id", "date", "from", "to", "cc", "subject", "kind", "rules", "negative_for", "why",
    "evidence", "body", "quoted", "attachments",
}  # fmt: skip
_REQUIRED = ("id", "date", "from", "to", "subject", "kind", "why", "body")


@dataclass
class Source:
    """One message as its writer wrote it."""

    data: dict[str, Any]
    file: str

    @property
    def id(self) -> str:
        return str(self.data.get("id", ""))

    @property
    def rules(self) -> list[str]:
        rules = self.data.get("rules") or []
        return [str(r) for r in rules] if isinstance(rules, list) else []

    @property
    def evidence(self) -> dict[str, list[str]]:
        ev = self.data.get("evidence") or {}
        if not isinstance(ev, dict):
            return {}
        return {str(k): [str(s) for s in v] for k, v in ev.items() if isinstance(v, list)}


@dataclass
class Council:
    """A council folder: its directory file and its messages."""

    folder: Path
    messages: list[Source] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.folder.name


def load_council(folder: Path) -> Council:
    council = Council(folder)
    for path in sorted(folder.glob("messages-*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            council.problems.append(f"{path.name}: not valid YAML: {' '.join(str(exc).split())}")
            continue
        if not isinstance(data, list):
            council.problems.append(f"{path.name}: must be a YAML list of messages")
            continue
        for n, item in enumerate(data, 1):
            if isinstance(item, dict):
                council.messages.append(Source(item, path.name))
            else:
                council.problems.append(f"{path.name}: item {n} is not a mapping")
    return council


def councils(root: Path) -> list[Council]:
    """Every council folder under ``root`` (a folder with a directory.yaml), by name."""
    return [load_council(p.parent) for p in sorted(root.glob("*/directory.yaml"))]


def data_hash(folders: list[Path]) -> str:
    """SHA-256 of the training sources (directories and messages, by relative name)."""
    digest = hashlib.sha256()
    for folder in sorted(folders):
        for path in sorted([folder / "directory.yaml", *folder.glob("messages-*.yaml")]):
            if path.exists():
                digest.update(f"{folder.name}/{path.name}\n".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _addresses(value: object) -> list[tuple[str, str]]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
    return [(n, a.lower()) for n, a in getaddresses([str(i) for i in items])]


def _directory_addresses(folder: Path) -> tuple[set[str], set[str], list[str]]:
    path = folder / "directory.yaml"
    if not path.exists():
        return set(), set(), ["directory.yaml is missing"]
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        return set(), set(), [f"directory.yaml: not valid YAML: {' '.join(str(exc).split())}"]
    known: set[str] = set()
    for section in ("members", "officers"):
        for p in d.get(section) or []:
            known.add(str(p.get("email", "")).lower())
            known.update(str(e).lower() for e in p.get("personal_emails") or [])
    for section in ("distribution_lists", "teams"):
        for p in d.get(section) or []:
            known.add(str(p.get("address") or p.get("email") or "").lower())
    domains = {str(x).lower() for x in (d.get("council") or {}).get("domains") or []}
    return known, domains, []


def _check_message(m: Source, known: set[str], domains: set[str]) -> list[str]:
    data, where = m.data, f"{m.id or '?'} ({m.file})"
    problems = [f"{where}: missing {k}" for k in _REQUIRED if data.get(k) in (None, "")]
    problems += [f"{where}: unknown key {k!r}" for k in data if k not in _KEYS]
    try:
        datetime.strptime(str(data.get("date", "")), "%Y-%m-%d %H:%M")
    except ValueError:
        problems.append(f"{where}: date must be YYYY-MM-DD HH:MM, not {data.get('date')!r}")
    if data.get("kind") not in ("new", "reply", "forward"):
        problems.append(f"{where}: kind must be new, reply or forward")
    for fld in ("from", "to", "cc"):
        for _, addr in _addresses(data.get(fld)):
            domain = addr.rpartition("@")[2]
            if "@" not in addr:
                problems.append(f"{where}: {fld}: {addr!r} is not an address (quote each one)")
            elif any(domain == d or domain.endswith("." + d) for d in domains) and addr not in known:
                problems.append(f"{where}: {fld}: council address {addr} is not in directory.yaml")
    if len(_addresses(data.get("from"))) != 1:
        problems.append(f"{where}: from must be exactly one address")
    if not isinstance(data.get("rules", []), list):
        problems.append(f"{where}: rules must be a list")
    problems += [
        f"{where}: unknown rule id {r!r}"
        for r in [*m.rules, *(data.get("negative_for") or [])]
        if r not in RULES
    ]
    texts = [str(data.get("body") or ""), str(data.get("subject") or "")]
    texts += [str(a.get("text") or "") for a in data.get("attachments") or [] if isinstance(a, dict)]
    for r, sentences in m.evidence.items():
        if r not in m.rules:
            problems.append(f"{where}: evidence for {r}, which is not in rules")
        if not sentences:
            problems.append(f"{where}: evidence for {r} must be a non-empty list")
        for s in sentences:
            if not any(s.strip() in t for t in texts):
                problems.append(f"{where}: evidence for {r} is not copied exactly from the text: {s!r}")
    problems += [
        f"{where}: {r} needs evidence (the sentences that carry it)"
        for r in m.rules
        if r in LANGUAGE_RULES and r not in m.evidence
    ]
    if m.rules and data.get("negative_for"):
        problems.append(f"{where}: negative_for is for messages with no rules")
    return problems


def validate(council: Council) -> list[str]:
    """Every problem in a council's sources, one line each, naming the message."""
    known, domains, problems = _directory_addresses(council.folder)
    problems = council.problems + problems
    seen: set[str] = set()
    for m in council.messages:
        if m.id in seen:
            problems.append(f"{m.id} ({m.file}): duplicate id")
        seen.add(m.id)
        problems += _check_message(m, known, domains)
    return problems


def counts(items: list[Council]) -> dict[str, tuple[int, int]]:
    """Per rule: (positive messages, hard negatives written for it)."""
    out = {r: [0, 0] for r in RULES}
    for council in items:
        for m in council.messages:
            for r in m.rules:
                if r in out:
                    out[r][0] += 1
            for r in m.data.get("negative_for") or []:
                if r in out:
                    out[r][1] += 1
    return {r: (p, n) for r, (p, n) in out.items()}


def to_eml(m: Source, domain: str, tz: str) -> bytes:
    """One source message as RFC 5322 text/plain (attachments as text parts)."""
    data = m.data
    msg = EmailMessage()
    msg["From"] = str(data["from"])
    for fld in ("to", "cc"):
        values = data.get(fld) or []
        values = [values] if isinstance(values, str) else values
        if values:
            msg[fld.capitalize()] = ", ".join(str(v) for v in values)
    msg["Subject"] = str(data["subject"])
    when = datetime.strptime(str(data["date"]), "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(tz))
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{m.id}@{domain}>"
    if data.get("kind") in ("reply", "forward"):
        earlier = f"<{m.id}-earlier@{domain}>"
        msg["References"] = earlier
        if data["kind"] == "reply":
            msg["In-Reply-To"] = earlier
    text = str(data["body"]).rstrip("\n") + "\n"
    if data.get("quoted"):
        quoted = str(data["quoted"]).strip("\n")
        if data.get("kind") == "forward":
            text += "\n" if quoted.startswith("-") else "\n-----Original Message-----\n"
        else:
            text += "\n"
            if not quoted.lstrip().startswith(("From:", ">", "-", "On ")):
                quoted = "\n".join("> " + line for line in quoted.splitlines())
        text += quoted + "\n"
    msg.set_content(text)
    for att in data.get("attachments") or []:
        if isinstance(att, dict):
            msg.add_attachment(
                str(att.get("text", "")).encode(),
                maintype="text",
                subtype="plain",
                filename=str(att.get("name", "attachment.txt")),
            )
    return bytes(msg)


def council_zone(folder: Path) -> tuple[str, str]:
    """The council's first mail domain and its time zone, from its directory file."""
    d = yaml.safe_load((folder / "directory.yaml").read_text(encoding="utf-8")) or {}
    council = d.get("council") or {}
    return str((council.get("domains") or ["council.example"])[0]), str(
        council.get("timezone") or "Europe/London"
    )


def build(council: Council, out: Path) -> int:
    """Write ``out/directory.yaml``, ``out/msgs/<id>.eml`` and ``out/labels.jsonl`` (score-corpus layout)."""
    import json

    domain, tz = council_zone(council.folder)
    (out / "msgs").mkdir(parents=True, exist_ok=True)
    (out / "directory.yaml").write_bytes((council.folder / "directory.yaml").read_bytes())
    with (out / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for m in council.messages:
            (out / "msgs" / f"{m.id}.eml").write_bytes(to_eml(m, domain, tz))
            row = {"file": f"{m.id}.eml", "rules": m.rules, "why": str(m.data.get("why", ""))}
            fh.write(json.dumps(row) + "\n")
    return len(council.messages)
