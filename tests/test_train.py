"""``correspondence-guard train``: reproducible training, held-out scoring, and a council's retrain
refused when it scores worse than the model it would replace.

The corpora here are small and made by the test (a commitment or an ordinary remark in each
message), so each training run takes seconds; the real corpus is in ``corpora/train``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

RULE = "member-creates-legal-obligation"
PROMISES = [
    "The council will pay you {n} pounds in compensation for the damage.",
    "Consider the {thing} charge waived, you will not be billed.",
    "I accept your quote of {n} pounds, so please start on Monday.",
    "We will refund the {thing} fee in full next week.",
    "You have permission to use the {thing} free of charge.",
]
REMARKS = [
    "Thanks for the update on the {thing}.",
    "I will ask officers whether anything can be done about the {thing}.",
    "Could you tell me when the {thing} report is due?",
    "The committee meets on the {n}th to discuss the {thing}.",
    "I hope the {thing} went well last week.",
]
THINGS = ["hall", "car park", "allotment", "bins", "pavilion", "library", "market", "play area"]


def _council(root: Path, name: str, count: int, seed: int, flip: bool = False) -> Path:
    """A council folder: one member writing to one officer, half of the messages committing the council
    (with ``flip``, every label is wrong)."""
    folder = root / name
    folder.mkdir(parents=True)
    domain = f"{name}.gov.uk"
    directory = {
        "council": {"name": f"{name.title()} Council", "domains": [domain]},
        "members": [{"name": "Ada Member", "email": f"ada@{domain}", "party": "Independent"}],
        "officers": [
            {"name": "Bo Officer", "email": f"bo@{domain}", "grade": "officer", "department": "Property"}
        ],
    }
    (folder / "directory.yaml").write_text(yaml.safe_dump(directory), encoding="utf-8")
    rnd = random.Random(seed)
    messages = []
    for i in range(count):
        promise = i % 2 == 0
        sentence = rnd.choice(PROMISES if promise else REMARKS).format(
            n=rnd.randint(2, 90), thing=rnd.choice(THINGS)
        )
        positive = promise != flip
        messages.append(
            {
                "id": f"{name}-{i:03}",
                "date": "2026-03-02 10:00",
                "from": f"Ada Member <ada@{domain}>",
                "to": [f"Bo Officer <bo@{domain}>"],
                "subject": "The " + rnd.choice(THINGS),
                "kind": "new",
                "rules": [RULE] if positive else [],
                "why": "made by the test",
                "evidence": {RULE: [sentence]} if positive else {},
                "body": f"Bo,\n\n{sentence}\n\nAda\n",
            }
        )
    (folder / "messages-01.yaml").write_text(yaml.safe_dump(messages, sort_keys=False), encoding="utf-8")
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for n, name in enumerate(["alder", "birch", "cedar", "damson"]):
        _council(root, name, 40, seed=n)
    (root / "HOLDOUT").write_text("damson\n", encoding="utf-8")
    return root


def _train(cli, corpus: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return cli(
        "train", "--corpus", corpus, "--out", out, "--design", "bow", "--folds", "3", *extra, timeout=600
    )


def test_training_is_reproducible_and_scored_on_the_held_out_council(cli, corpus, tmp_path):
    """One process or folds side by side in two: the same scores and the same model."""
    code, out, err = _train(cli, corpus, tmp_path / "one", "--jobs", "1")
    assert code == 0, err
    assert "held-out councils (damson)" in out and "chosen design: bow" in out
    card = json.loads((tmp_path / "one" / "card.json").read_text(encoding="utf-8"))
    assert card["heldout_councils"] == ["damson"] and card["training_councils"] == ["alder", "birch", "cedar"]
    assert card["heldout"][RULE]["recall"] >= 0.9 and card["heldout"][RULE]["precision"] >= 0.9
    assert len(card["data_sha256"]) == 64 and card["version"].endswith(card["data_sha256"][:8])
    code, out, err = _train(cli, corpus, tmp_path / "two", "--jobs", "2")
    assert code == 0, err
    assert "training 3 folds, 2 at a time" in out
    weights = [(tmp_path / d / "textcat_multilabel" / "model").read_bytes() for d in ("one", "two")]
    assert weights[0] == weights[1], "the same corpus and seed must give the same model"
    cards = [json.loads((tmp_path / d / "card.json").read_text(encoding="utf-8")) for d in ("one", "two")]
    assert cards[0]["out_of_fold"] == cards[1]["out_of_fold"]
    assert cards[0]["thresholds"] == cards[1]["thresholds"]


def test_a_retrain_that_scores_worse_is_refused_and_the_model_kept(cli, corpus, tmp_path):
    model = tmp_path / "model"
    assert _train(cli, corpus, model)[0] == 0
    before = (model / "card.json").read_text(encoding="utf-8")
    mislabelled = _council(tmp_path / "ours", "ours", 160, seed=9, flip=True)
    code, out, err = _train(cli, corpus, model, "--extra", str(mislabelled))
    assert code == 2
    assert "refused" in err and "scores worse" in err and "Traceback" not in err
    assert "the model it would replace" in out  # both sets of figures are printed
    assert (model / "card.json").read_text(encoding="utf-8") == before


def test_a_retrain_with_good_labels_is_accepted(cli, corpus, tmp_path):
    model = tmp_path / "model"
    assert _train(cli, corpus, model)[0] == 0
    ours = _council(tmp_path / "ours", "ours", 40, seed=5)
    code, out, err = _train(cli, corpus, model, "--extra", str(ours))
    assert code == 0, err
    card = json.loads((model / "card.json").read_text(encoding="utf-8"))
    assert "ours" in card["training_councils"]


def test_a_broken_corpus_is_one_line_naming_the_message(cli, corpus, tmp_path):
    path = corpus / "alder" / "messages-01.yaml"
    messages = yaml.safe_load(path.read_text(encoding="utf-8"))
    messages[3]["evidence"] = {RULE: ["words that are not in the message"]}
    messages[3]["rules"] = [RULE]
    path.write_text(yaml.safe_dump(messages), encoding="utf-8")
    code, _, err = _train(cli, corpus, tmp_path / "model")
    assert code == 2 and "alder-003" in err and "not copied exactly" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "model").exists()


def test_each_rules_threshold_is_the_one_with_the_best_f1():
    """choose_thresholds counts every candidate at once; the one it picks must beat every other
    candidate's F1 when tallied message by message."""
    import random

    from correspondence_guard.training import learn
    from correspondence_guard.training.corpus import LANGUAGE_RULES

    class Msg:
        def __init__(self, rules: set[str]):
            self.rules = rules

    rng = random.Random(5)
    messages = [Msg({r for r in LANGUAGE_RULES if rng.random() < 0.25}) for _ in range(300)]
    scores = [
        {r: min(1.0, max(0.0, (0.6 if r in m.rules else 0.3) + rng.gauss(0, 0.2))) for r in LANGUAGE_RULES}
        for m in messages
    ]
    chosen = learn.choose_thresholds(messages, scores)  # type: ignore[arg-type]
    for rule, threshold in chosen.items():
        best = learn.tally(messages, scores, {**chosen})[rule].f1  # type: ignore[arg-type]
        for t in [x / 200 for x in range(2, 199)]:
            other = learn.tally(messages, scores, {**chosen, rule: t})[rule].f1  # type: ignore[arg-type]
            assert round(other, 4) <= round(best, 4), (rule, t, threshold)


def _spawned_workers(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` and which are multiprocessing's spawned workers."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_killed_training_leaves_no_worker_running(corpus, tmp_path):
    """SIGKILL to `train` (no chance to clean up) ends its fold workers too."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "correspondence_guard", "train", "--corpus", str(corpus)]
        + ["--out", str(tmp_path / "m"), "--design", "bow", "--folds", "3", "--jobs", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            workers = _spawned_workers(proc.pid)
        assert len(workers) == 2, "the training started two workers"
        time.sleep(2)  # past their start-up: training
        assert all(_alive(w) for w in workers), "the workers were still training when it was killed"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if _alive(w)], "workers outlived the killed training"
