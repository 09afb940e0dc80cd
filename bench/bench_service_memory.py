"""Memory of the HTTP service and its check processes: RSS, PSS and USS of each process.

Starts ``correspondence-guard serve`` on a free loopback port (test directory, default policy,
SQLite store in a temp folder) once for each ``service.check_processes`` asked (default 0, 1
and 2), waits for /readyz, sends a few checks of each kind (internal, to private webmail with
personal data, reply to all members, an .eml), and reads /proc/PID/smaps_rollup of the service
and every process under it.

RSS counts a page shared by several processes once in each of them; PSS divides it among them
(the sum of PSS is what the tree really holds); USS is a process's private pages (what killing it
would free). With the model shared copy-on-write by a fork server, a check process's RSS still
counts the model, but its PSS and USS do not.

    .venv/bin/python bench/bench_service_memory.py [--processes 0 1 2] [--checks 30]
    .venv/bin/python bench/bench_service_memory.py --src /tmp/cg-before/src   # another copy of the code

Targets (issue 13): each check process <= 150 MB (PSS) over the service; the whole tree with
two check processes <= 400 MB (sum of PSS; the sum of RSS is shown too). Always exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DIRECTORY = ROOT / "tests" / "data" / "directory.yaml"
TOKEN = "bench-memory-token-7c1e"
WORKER_TARGET_MB = 150.0
TOTAL_TARGET_MB = 400.0

MEMBER = {"emailAddress": "cllr.lorcan.pettifer@ashdown.gov.uk", "displayName": "Lorcan Pettifer"}
OTHER = {"emailAddress": "cllr.beatrix.quennell@ashdown.gov.uk", "displayName": "Beatrix Quennell"}
DRAFTS = [
    {
        "from": MEMBER,
        "to": [{"emailAddress": "j.smith.home@gmail.com", "displayName": "J Smith"}],
        "subject": "Housing case",
        "body": {
            "html": "<p>Mrs Jane Doverhampton of 12 Tollgate Lane, phone 07700 900123, is in rent arrears "
            "and has dementia. Can you help?</p>"
        },
        "composeType": "newMail",
    },
    {
        "from": OTHER,
        "to": [{"emailAddress": "all.councillors@ashdown.gov.uk", "recipientType": "distributionList"}],
        "subject": "RE: budget consultation",
        "body": {"html": "<p>I agree with the points raised. The officers must sort this out by Friday.</p>"},
        "composeType": "reply",
    },
    {
        "from": OTHER,
        "to": [MEMBER],
        "subject": "Bin collections",
        "body": {
            "text": "Residents on Mill Lane have reported three missed collections since the start of the "
            "month. The crew was short-staffed on Tuesday. Could we put a note on the website?"
        },
        "composeType": "newMail",
    },
]
EML = (
    b"From: Beatrix Quennell <cllr.beatrix.quennell@ashdown.gov.uk>\r\n"
    b"To: Lorcan Pettifer <cllr.lorcan.pettifer@ashdown.gov.uk>\r\n"
    b"Subject: Lunch\r\nMessage-ID: <bench-1@ashdown.gov.uk>\r\n\r\nSee you at noon.\r\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree(pid: int) -> list[tuple[int, int]]:
    """(pid, depth) of the process and everything under it."""
    out, todo = [], [(pid, 0)]
    while todo:
        p, depth = todo.pop(0)
        out.append((p, depth))
        todo += [(c, depth + 1) for c in children(p)]
    return out


def role(pid: int, depth: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "gone"
    if depth == 0:
        return "service"
    if b"resource_tracker" in cmd:
        return "resource tracker"
    if b"forkserver" in cmd:
        return "fork server" if depth == 1 else "check process"
    if b"spawn_main" in cmd:
        return "check process"
    return cmd.replace(b"\0", b" ").decode(errors="replace")[:40]


def memory_kib(pid: int) -> dict[str, int]:
    """Rss, Pss and Uss (private clean + dirty) in KiB, from smaps_rollup."""
    fields: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0), "uss": uss}


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def measure(processes: int, checks: int, src: Path) -> list[tuple[str, int, dict[str, int], int]]:
    with tempfile.TemporaryDirectory(prefix="cg-mem-") as tmp:
        port = free_port()
        config = Path(tmp) / "config.yaml"
        config.write_text(
            f"directory: {DIRECTORY}\nstore:\n  url: sqlite:///{Path(tmp) / 'store.db'}\n"
            f"service:\n  host: 127.0.0.1\n  port: {port}\n  allow_http: true\n  token_env: CG_BENCH_TOKEN\n"
            f"  check_processes: {processes}\n",
            encoding="utf-8",
        )
        env = {**os.environ, "CG_BENCH_TOKEN": TOKEN, "PYTHONPATH": str(src)}
        cmd = [
            sys.executable,
            "-m",
            "correspondence_guard",
            "serve",
            "--no-schedule",
            "--config",
            str(config),
        ]
        log = (Path(tmp) / "service.log").open("wb")
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"the service exited: {(Path(tmp) / 'service.log').read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit("the service did not become ready in 180 s")
                time.sleep(0.2)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                for i in range(checks):
                    draft = dict(DRAFTS[i % len(DRAFTS)])
                    draft["subject"] = f"{draft['subject']} #{i}"
                    answer = http.post("/v1/check", content=json.dumps(draft).encode())
                    assert answer.status_code == 200, answer.text
                answer = http.post("/v1/check/eml", content=EML, headers={"Content-Type": "message/rfc822"})
                assert answer.status_code == 200, answer.text
            time.sleep(0.5)
            return [(role(p, d), p, memory_kib(p), threads(p)) for p, d in tree(proc.pid)]
        finally:
            proc.terminate()
            proc.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[0, 1, 2], help="check_processes to try")
    parser.add_argument("--checks", type=int, default=30, help="checks sent before measuring")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the code to run (PYTHONPATH)")
    args = parser.parse_args()

    print(f"code: {args.src}; load average {os.getloadavg()[0]:.1f}")
    for processes in args.processes:
        rows = measure(processes, args.checks, args.src)
        print(f"\ncheck_processes: {processes}")
        print(f"  {'process':<18}{'pid':>8}{'threads':>8}{'RSS MB':>9}{'PSS MB':>9}{'USS MB':>9}")
        for name, pid, mem, n in rows:
            print(
                f"  {name:<18}{pid:>8}{n:>8}{mem['rss'] / 1024:>9.1f}{mem['pss'] / 1024:>9.1f}"
                f"{mem['uss'] / 1024:>9.1f}"
            )
        rss = sum(m["rss"] for _, _, m, _ in rows) / 1024
        pss = sum(m["pss"] for _, _, m, _ in rows) / 1024
        print(f"  {'all':<18}{'':>8}{'':>8}{rss:>9.1f}{pss:>9.1f}")
        workers = [m for name, _, m, _ in rows if name == "check process"]
        if workers:
            service = next(m for name, _, m, _ in rows if name == "service")
            worst = max(m["pss"] for m in workers) / 1024
            print(
                f"  target: each check process PSS {worst:.1f} MB <= {WORKER_TARGET_MB:g} MB: "
                f"{'met' if worst <= WORKER_TARGET_MB else 'NOT met'} (service PSS {service['pss'] / 1024:.1f} MB)"
            )
            if processes == 2:
                print(
                    f"  target: all PSS {pss:.1f} MB <= {TOTAL_TARGET_MB:g} MB: "
                    f"{'met' if pss <= TOTAL_TARGET_MB else 'NOT met'}; "
                    f"all RSS {rss:.1f} MB <= {TOTAL_TARGET_MB:g} MB: {'met' if rss <= TOTAL_TARGET_MB else 'NOT met'}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
