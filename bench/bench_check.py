"""Benchmark ``Checker.check``: messages per second and per-message p50/p95, model loaded once.

Three sets:
  internal  synthetic mail between council addresses and trusted partners (no private
            recipient, so the personal-data analyser is never run)
  private   synthetic mail with a private recipient (gmail, hotmail, a member's personal
            address), so Presidio + spaCy run on every message; half carry personal data
  folder    the .eml/.msg/.json files of a folder (default: the dev corpus), skipped if absent

The synthetic sets are generated in memory from a fixed seed against tests/data/directory.yaml.
The folder is checked against the directory.yaml beside it, if there is one (--folder-directory
overrides). Only ``check`` is timed; reading the files is timed apart and shown as "intake".

    .venv/bin/python bench/bench_check.py [--folder PATH] [--internal 400] [--private 200]

Targets: internal >= 300 msg/s; private >= 30 msg/s; p95 < 50 ms; with --by-rule, each rule within
its budget (RULE_BUDGET_MS), summed up in the "rule budgets:" line. Always exits 0.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from correspondence_guard import Checker, Message, parse_draft  # noqa: E402
from correspondence_guard.detectors.encoder import encoder  # noqa: E402
from correspondence_guard.directory import Directory  # noqa: E402
from correspondence_guard.intake import iter_message_files, load_message  # noqa: E402

TEST_DIRECTORY = ROOT / "tests" / "data" / "directory.yaml"
DEV_CORPUS = ROOT.parent / "shared" / "corpus" / "dev" / "msgs"
TARGETS = {"internal": 300.0, "private": 30.0}  # messages per second
P95_TARGET_MS = 50.0

# --- synthetic mail ------------------------------------------------------------------------

TOPICS = [
    (
        "Bin collections on {place}",
        [
            "Residents on {place} have reported three missed collections since the start of the month.",
            "The crew was short-staffed on Tuesday and the round was finished the following morning.",
            "Could we put a note on the website so people know the revised day over the bank holiday?",
        ],
    ),
    (
        "Planning application at {place}",
        [
            "The application for twelve homes at {place} is due at committee next month.",
            "Highways have no objection subject to a widened footway and a new crossing point.",
            "I have had several residents ask whether the trees along the boundary will be kept.",
        ],
    ),
    (
        "Budget workshop follow-up",
        [
            "Thank you for the workshop on Tuesday; the slides on reserves were especially useful.",
            "The gap for next year is now forecast at 1.2 million pounds after the pay award.",
            "Could the finance team share the assumptions behind the council tax base figure?",
        ],
    ),
    (
        "Repairs at {place}",
        [
            "The damp survey at {place} found problems in four of the flats on the ground floor.",
            "Contractors have been booked for the week after next and tenants have been written to.",
            "We will check back with each household once the works are finished.",
        ],
    ),
    (
        "Licensing panel papers",
        [
            "The papers for the licensing panel are now on the website.",
            "There are two applications: a late licence on {place} and a new premises licence.",
            "Please let Democratic Services know by Friday whether you can attend.",
        ],
    ),
    (
        "Flooding at {place}",
        [
            "The drains on {place} backed up again during Sunday's storm.",
            "The highway authority has been asked to jet the gullies and check the outfall.",
            "I will update ward members once we have a date for the works.",
        ],
    ),
]
CASES = [
    "Mrs {name} of {num} {place}, {postcode}, has been in temporary accommodation since {month}; "
    "her housing application reference is HSG/2026/{ref:04d}.",
    "Mr {name} (date of birth {dob}) has rent arrears of {amount} pounds and an eviction hearing next month.",
    "Ms {name}, NHS number 943 476 5919, was discharged from hospital and needs a care package urgently.",
    "{name}'s council tax reduction claim CTR-{ref:06d} was refused; she lives at {num} {place}.",
]
NAMES = [
    "Olwen Treharne",
    "Gareth Pumphrey",
    "Adaeze Morton-Flint",
    "Wilberforce Tench",
    "Oriana Blackwood",
    "Colin Dace",
    "Priti Ambrose-Lyle",
    "Tobenna Harwick",
    "Maud Ellesmere",
    "Jonah Kittow",
]
PRIVATE = [
    "resident.{n}@gmail.com",
    "a.householder{n}@hotmail.co.uk",
    "family{n}@yahoo.co.uk",
    "parent{n}@outlook.com",
    "user{n}@btinternet.com",
]
TRUSTED = ["duty.social.worker@nhs.net", "case.manager@dwp.gov.uk", "neighbourhood.team@northshire.police.uk"]
SIGNOFFS = ["Kind regards", "Many thanks", "Best wishes", "Regards", "Thanks"]


def _quoted(rng: random.Random, sender: str, to: str, subject: str, text: str) -> str:
    return (
        f"\n\n________________________________\nFrom: {sender}\nSent: {rng.randint(1, 28)} March 2026 "
        f"{rng.randint(8, 17)}:{rng.randint(0, 59):02d}\nTo: {to}\nSubject: {subject}\n\n{text}"
    )


def _body(rng: random.Random, directory: Directory, sender_name: str, personal: bool) -> tuple[str, str]:
    places = [p for w in directory.wards for p in w.places]
    subject_t, lines = rng.choice(TOPICS)
    place = rng.choice(places)
    subject = subject_t.format(place=place)
    paras = [line.format(place=place) for line in rng.sample(lines, k=rng.randint(2, 3))]
    if personal:
        paras.insert(
            1,
            rng.choice(CASES).format(
                name=rng.choice(NAMES),
                num=rng.randint(1, 120),
                place=rng.choice(places),
                postcode=f"AD{rng.randint(1, 9)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
                month=rng.choice(["January", "February", "March"]),
                ref=rng.randint(1, 999999),
                dob=f"{rng.randint(1, 28)}/{rng.randint(1, 12):02d}/19{rng.randint(40, 99)}",
                amount=rng.randint(200, 4000),
            ),
        )
    first = sender_name.split()[0]
    text = "Dear colleague,\n\n" + "\n\n".join(paras) + f"\n\n{rng.choice(SIGNOFFS)}\n{first}"
    text += f"\n{sender_name}\nAshdown District Council\nT: 01632 960{rng.randint(100, 999)}"
    return subject, text


def synthetic(directory: Directory, count: int, private: bool, seed: int) -> list[Message]:
    """``count`` varied drafts; with ``private`` each has a private recipient, half with personal data."""
    rng = random.Random(seed)
    members, officers = directory.members, directory.officers
    council = [*members, *officers]
    lists = [dl.address for dl in directory.distribution_lists] + [t.email for t in directory.teams]
    out = []
    for i in range(count):
        sender = rng.choice(council)
        others = [p for p in council if p is not sender]
        to = [{"email": p.email, "name": p.name} for p in rng.sample(others, k=rng.randint(1, 2))]
        cc = [{"email": p.email, "name": p.name} for p in rng.sample(others, k=rng.randint(0, 3))]
        if rng.random() < 0.2:
            cc.append({"email": rng.choice(lists)})
        if rng.random() < 0.2:
            cc.append({"email": rng.choice(TRUSTED)})
        if private:
            address = rng.choice(PRIVATE).format(n=i)
            (to if rng.random() < 0.7 else cc).append({"email": address})
        subject, body = _body(rng, directory, sender.name, personal=private and i % 2 == 0)
        compose = rng.choice(["newMail", "newMail", "reply", "forward"])
        if compose != "newMail":
            earlier = rng.choice(others)
            _, earlier_text = _body(rng, directory, earlier.name, personal=False)
            body += _quoted(
                rng,
                f"{earlier.name} <{earlier.email}>",
                f"{sender.name} <{sender.email}>",
                subject,
                earlier_text,
            )
            subject = ("RE: " if compose == "reply" else "FW: ") + subject
        out.append(
            parse_draft(
                {
                    "from": {"email": sender.email, "name": sender.name},
                    "to": to,
                    "cc": cc,
                    "subject": subject,
                    "body": {"text": body},
                    "composeType": compose,
                }
            )
        )
    return out


# --- timing --------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    times_ms: list[float]
    findings: int
    intake_ms: float | None = None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.times_ms:
            return 0.0
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(name: str, checker: Checker, messages: list[Message], warm: int = 10) -> Result:
    """Time ``checker.check`` on each message (after an untimed pass over the first few)."""
    for message in messages[:warm]:
        checker.check(message)
    times: list[float] = []
    findings = 0
    start = time.perf_counter()
    for message in messages:
        encoder().cache_clear()  # cold: the synthetic sets repeat sentences that real mail would not
        t0 = time.perf_counter()
        report = checker.check(message)
        times.append((time.perf_counter() - t0) * 1000)
        findings += len(report.findings)
    return Result(name, len(messages), time.perf_counter() - start, times, findings)


# Budget per rule, mean ms per message with the rule run alone, per set (issue 13): together they
# keep internal mail over 300 msg/s and a draft's p95 under 50 ms. The first learned rule run
# alone pays for scoring the sentences (the others reuse the encoder's cache), so political
# comment's budget carries the model.
LEARNED_FIRST = {"internal": 2.5, "private": 2.5, "folder": 15.0}
LEARNED = {"internal": 1.5, "private": 1.5, "folder": 3.0}
STRUCTURAL = {"internal": 0.5, "private": 1.0, "folder": 1.0}
RULE_BUDGET_MS: dict[str, dict[str, float]] = {
    "personal-data-to-private-address": {"internal": 0.5, "private": 15.0, "folder": 10.0},
    "reply-all-members": STRUCTURAL,
    "member-contacts-junior-officer": STRUCTURAL,
    "confidential-information-disclosed": STRUCTURAL,
    "media-enquiry-not-referred": STRUCTURAL,
    "political-comment-on-council-email": LEARNED_FIRST,
    "member-creates-legal-obligation": LEARNED,
    "member-instructs-officer": LEARNED,
    "undue-pressure-on-officer": LEARNED,
    "personal-criticism-of-officer": LEARNED,
}


def by_rule(checker: Checker, messages: list[Message]) -> dict[str, float]:
    """Mean ms per message for each enabled rule on its own (shows where the time goes)."""
    out = {}
    for rule_id in checker.policy.enabled():
        start = time.perf_counter()
        for message in messages:
            checker.check(message, rules=[rule_id])
        out[rule_id] = (time.perf_counter() - start) * 1000 / max(1, len(messages))
    return out


def load_folder(folder: Path, max_attachment_bytes: int) -> tuple[list[Message], float, int]:
    """Read every message file; return them, the mean read time in ms and the number unreadable."""
    messages, bad, spent = [], 0, 0.0
    for path in iter_message_files([folder]):
        t0 = time.perf_counter()
        try:
            messages.append(load_message(path, max_attachment_bytes))
        except Exception:  # noqa: BLE001 - a benchmark counts unreadable files, it does not stop
            bad += 1
        spent += time.perf_counter() - t0
    return messages, (spent * 1000 / max(1, len(messages) + bad)), bad


def table(results: list[Result], out: Callable[[str], None] = print) -> None:
    head = f"{'set':<10}{'messages':>9}{'msg/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'findings':>10}"
    head += f"{'intake ms':>11}  target"
    out(head)
    out("-" * len(head))
    for r in results:
        if r.note:
            out(f"{r.name:<10}  {r.note}")
            continue
        target = TARGETS.get(r.name)
        verdict = []
        if target is not None:
            verdict.append(f"{'ok' if r.rate >= target else 'MISSED'} >= {target:.0f} msg/s")
        verdict.append(f"{'ok' if r.pct(0.95) < P95_TARGET_MS else 'MISSED'} p95 < {P95_TARGET_MS:.0f} ms")
        intake = f"{r.intake_ms:.1f}" if r.intake_ms is not None else "-"
        out(
            f"{r.name:<10}{r.count:>9}{r.rate:>9.0f}{r.pct(0.50):>9.1f}{r.pct(0.95):>9.1f}"
            f"{max(r.times_ms, default=0):>9.1f}{r.findings:>10}{intake:>11}  {'; '.join(verdict)}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--folder", type=Path, default=DEV_CORPUS, help="folder of messages (default: dev corpus)"
    )
    parser.add_argument("--folder-directory", type=Path, help="directory for the folder (default: beside it)")
    parser.add_argument("--internal", type=int, default=400, help="synthetic internal messages")
    parser.add_argument(
        "--private", type=int, default=200, help="synthetic messages with a private recipient"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--by-rule", action="store_true", help="also show the mean time of each rule per set")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    checker = Checker.load(TEST_DIRECTORY)
    checker.warm_up()
    print(
        f"checker loaded and model warmed up in {time.perf_counter() - t0:.1f} s "
        f"({len(checker.policy.enabled())} rules enabled)\n"
    )

    sets = {
        "internal": (checker, synthetic(checker.directory, args.internal, private=False, seed=args.seed)),
        "private": (checker, synthetic(checker.directory, args.private, private=True, seed=args.seed + 1)),
    }
    results = [run(name, ck, messages) for name, (ck, messages) in sets.items()]
    folder: Path = args.folder
    if folder.is_dir():
        directory = args.folder_directory or next(
            (p for p in (folder / "directory.yaml", folder.parent / "directory.yaml") if p.exists()),
            TEST_DIRECTORY,
        )
        folder_checker = Checker(Checker.load(directory).directory, checker.policy)
        messages, intake_ms, bad = load_folder(folder, folder_checker.max_attachment_bytes)
        result = run("folder", folder_checker, messages)
        result.intake_ms = intake_ms
        results.append(result)
        sets["folder"] = (folder_checker, messages)
        print(f"folder: {folder} ({len(messages)} messages, {bad} unreadable; directory {directory})\n")
    else:
        results.append(Result("folder", 0, 0.0, [], 0, note=f"skipped: {folder} not found"))
    table(results)
    if args.by_rule:
        print("\nmean ms per message, each rule run alone:")
        times = {name: by_rule(ck, messages) for name, (ck, messages) in sets.items()}
        print(f"{'rule':<36}" + "".join(f"{name:>10}" for name in times))
        over = []
        for rule_id in checker.policy.enabled():
            budget = RULE_BUDGET_MS.get(rule_id, STRUCTURAL)
            cells = ""
            for name, t in times.items():
                late = t[rule_id] > budget.get(name, float("inf"))
                cells += f"{t[rule_id]:>9.2f}{'!' if late else ' '}"
                if late:
                    over.append(f"{rule_id} on {name}: {t[rule_id]:.2f} ms > {budget[name]:g} ms")
            print(f"{rule_id:<36}" + cells)
        print("rule budgets: " + ("ok" if not over else "MISSED: " + "; ".join(over)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
