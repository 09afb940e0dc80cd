#!/usr/bin/env python3
"""The training corpus: validate a council's source files, and build them into .eml files.

  corpus.py validate DIR...          check the YAML sources of one or more councils
  corpus.py build DIR OUT            write OUT/directory.yaml, OUT/msgs/*.eml, OUT/labels.jsonl
  corpus.py stats DIR...             counts per rule (positives, hard negatives) as a table

Needs only Python 3.11+ and PyYAML (the checker's own environment has both).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
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
LANGUAGE_RULES = (
    "political-comment-on-council-email",
    "member-creates-legal-obligation",
    "member-instructs-officer",
    "personal-criticism-of-officer",
    "undue-pressure-on-officer",
)
KEYS = {
    "id", "date", "from", "to", "cc", "subject", "kind", "rules", "negative_for", "why",
    "evidence", "body", "quoted", "attachments",
}
REQUIRED = ("id", "date", "from", "to", "subject", "kind", "rules", "why", "body")


def load_messages(folder: Path) -> tuple[list[dict], list[str]]:
    """Every message of a council folder, in file order, and the problems found reading them."""
    problems: list[str] = []
    out: list[dict] = []
    for path in sorted(folder.glob("messages-*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            problems.append(f"{path.name}: not valid YAML: {exc}")
            continue
        if not isinstance(data, list):
            problems.append(f"{path.name}: must be a YAML list of messages")
            continue
        for n, item in enumerate(data, 1):
            if not isinstance(item, dict):
                problems.append(f"{path.name}: item {n} is not a mapping")
                continue
            item["_file"] = path.name
            out.append(item)
    return out, problems


def directory_addresses(folder: Path) -> tuple[set[str], list[str]]:
    path = folder / "directory.yaml"
    if not path.exists():
        return set(), ["directory.yaml is missing"]
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        return set(), [f"directory.yaml: not valid YAML: {exc}"]
    known: set[str] = set()
    for section in ("members", "officers"):
        for p in d.get(section) or []:
            known.add(str(p.get("email", "")).lower())
            known.update(str(e).lower() for e in p.get("personal_emails") or [])
    for section in ("distribution_lists", "teams"):
        for p in d.get(section) or []:
            known.add(str(p.get("address") or p.get("email") or "").lower())
    domains = [str(x).lower() for x in (d.get("council") or {}).get("domains") or []]
    return known | {f"@{x}" for x in domains}, []


def _addresses(value: object) -> list[tuple[str, str]]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
    return [(n, a.lower()) for n, a in getaddresses([str(i) for i in items])]


def validate(folder: Path) -> list[str]:
    messages, problems = load_messages(folder)
    known, dir_problems = directory_addresses(folder)
    problems += dir_problems
    council_domains = {k[1:] for k in known if k.startswith("@")}
    seen: set[str] = set()
    for m in messages:
        mid = str(m.get("id", f"{m['_file']}:?"))
        where = f"{mid} ({m['_file']})"
        if mid in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(mid)
        for key in REQUIRED:
            if key not in m or m[key] in (None, ""):
                if key == "rules" and m.get(key) == []:
                    continue
                problems.append(f"{where}: missing {key}")
        for key in m:
            if key not in KEYS and key != "_file":
                problems.append(f"{where}: unknown key {key!r}")
        try:
            datetime.strptime(str(m.get("date", "")), "%Y-%m-%d %H:%M")
        except ValueError:
            problems.append(f"{where}: date must be YYYY-MM-DD HH:MM, not {m.get('date')!r}")
        if m.get("kind") not in ("new", "reply", "forward"):
            problems.append(f"{where}: kind must be new, reply or forward")
        for field in ("from", "to", "cc"):
            for name, addr in _addresses(m.get(field)):
                if "@" not in addr:
                    problems.append(f"{where}: {field}: {addr!r} is not an address (quote each one)")
                    continue
                domain = addr.rpartition("@")[2]
                if any(domain == d or domain.endswith("." + d) for d in council_domains) and addr not in known:
                    problems.append(f"{where}: {field}: council address {addr} is not in directory.yaml")
        if len(_addresses(m.get("from"))) != 1:
            problems.append(f"{where}: from must be exactly one address")
        rules = m.get("rules") or []
        if not isinstance(rules, list):
            problems.append(f"{where}: rules must be a list")
            rules = []
        for r in [*rules, *(m.get("negative_for") or [])]:
            if r not in RULES:
                problems.append(f"{where}: unknown rule id {r!r}")
        evidence = m.get("evidence") or {}
        if not isinstance(evidence, dict):
            problems.append(f"{where}: evidence must map rule id -> list of sentences")
            evidence = {}
        texts = [str(m.get("body") or ""), str(m.get("subject") or "")]
        texts += [str(a.get("text") or "") for a in m.get("attachments") or [] if isinstance(a, dict)]
        for r, sentences in evidence.items():
            if r not in rules:
                problems.append(f"{where}: evidence for {r}, which is not in rules")
            if not isinstance(sentences, list) or not sentences:
                problems.append(f"{where}: evidence for {r} must be a non-empty list")
                continue
            for s in sentences:
                if not any(str(s).strip() in t for t in texts):
                    problems.append(f"{where}: evidence for {r} is not copied exactly from the text: {s!r}")
        for r in rules:
            if r in LANGUAGE_RULES and r not in evidence:
                problems.append(f"{where}: {r} needs evidence (the sentences that carry it)")
        if rules and m.get("negative_for"):
            problems.append(f"{where}: negative_for is for messages with no rules")
    return problems


def stats(folders: list[Path]) -> str:
    pos = dict.fromkeys(RULES, 0)
    neg = dict.fromkeys(RULES, 0)
    total = clean = 0
    for folder in folders:
        messages, _ = load_messages(folder)
        for m in messages:
            total += 1
            rules = m.get("rules") or []
            clean += not rules
            for r in rules:
                pos[r] = pos.get(r, 0) + 1
            for r in m.get("negative_for") or []:
                neg[r] = neg.get(r, 0) + 1
    lines = [f"{'rule':40} {'positives':>9} {'hard negatives':>14}"]
    lines += [f"{r:40} {pos[r]:9} {neg[r]:14}" for r in RULES]
    lines.append(f"{total} messages, {clean} with no rule")
    return "\n".join(lines)


def _when(text: str, tz: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(tz))


def to_eml(m: dict, domain: str, tz: str) -> bytes:
    """One source message as an RFC 5322 message (text/plain, with attachments as parts)."""
    msg = EmailMessage()
    msg["From"] = str(m["from"])
    for field in ("to", "cc"):
        values = m.get(field) or []
        if isinstance(values, str):
            values = [values]
        if values:
            msg[field.capitalize()] = ", ".join(str(v) for v in values)
    msg["Subject"] = str(m["subject"])
    msg["Date"] = format_datetime(_when(str(m["date"]), tz))
    msg["Message-ID"] = f"<{m['id']}@{domain}>"
    if m.get("kind") in ("reply", "forward"):
        earlier = f"<{m['id']}-earlier@{domain}>"
        msg["References"] = earlier
        if m["kind"] == "reply":
            msg["In-Reply-To"] = earlier
    text = str(m["body"]).rstrip("\n") + "\n"
    if m.get("quoted"):
        quoted = str(m["quoted"]).strip("\n")
        if m.get("kind") == "forward":
            text += "\n-----Original Message-----\n" if not quoted.startswith("-") else "\n"
        else:
            text += "\n"
            if not quoted.lstrip().startswith(("From:", ">", "-", "On ")):
                quoted = "\n".join("> " + line for line in quoted.splitlines())
        text += quoted + "\n"
    msg.set_content(text)
    for att in m.get("attachments") or []:
        msg.add_attachment(str(att.get("text", "")).encode(), maintype="text", subtype="plain",
                           filename=str(att.get("name", "attachment.txt")))
    return bytes(msg)


def build(folder: Path, out: Path) -> int:
    messages, problems = load_messages(folder)
    if problems:
        raise SystemExit("\n".join(problems))
    d = yaml.safe_load((folder / "directory.yaml").read_text(encoding="utf-8"))
    domain = d["council"]["domains"][0]
    tz = d["council"].get("timezone", "Europe/London")
    (out / "msgs").mkdir(parents=True, exist_ok=True)
    (out / "directory.yaml").write_text((folder / "directory.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    with (out / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for m in messages:
            name = f"{m['id']}.eml"
            (out / "msgs" / name).write_bytes(to_eml(m, domain, tz))
            fh.write(json.dumps({"file": name, "rules": list(m.get("rules") or []), "why": m.get("why", "")}) + "\n")
    return len(messages)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("validate", "build", "stats"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, args = argv[0], [Path(a) for a in argv[1:]]
    if command == "validate":
        bad = 0
        for folder in args:
            problems = validate(folder)
            for p in problems:
                print(f"{folder.name}: {p}")
            bad += len(problems)
        print(stats(args))
        print(f"{bad} problem(s)")
        return 1 if bad else 0
    if command == "stats":
        print(stats(args))
        return 0
    print(f"{build(args[0], args[1])} messages written to {args[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
