"""Load test of the HTTP service: N concurrent clients posting a mix of drafts to /v1/check.

Starts ``correspondence-guard serve`` in its own process on a free loopback port (test
directory, default policy, SQLite store in a temp folder), waits for /readyz, warms up, then
runs ``--clients`` keep-alive clients for ``--seconds`` (each stops early after
``--max-requests``), and prints the latency percentiles, throughput, errors and the service's
resident memory at the start and end of the run (and its peak, sampled every second).

    .venv/bin/python bench/load_service.py [--clients 20] [--seconds 30] [--think-ms 0]
    .venv/bin/python bench/load_service.py --url https://cg.example:8765 --token T   # a running service

The mix is weighted like a council mailbox: mostly internal mail (no private recipient, so the
personal-data analyser never runs), some to residents and partners, some to private webmail
with and without personal data, some replies to all members. Each request's subject carries a
counter, so no two drafts are identical. Target on a 2-core machine: 0 errors, p95 <= 100 ms.
Always exits 0 unless the service could not be started.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DIRECTORY = ROOT / "tests" / "data" / "directory.yaml"
TOKEN = "bench-token"
P95_TARGET_MS = 100.0

LEADER = {"emailAddress": "cllr.beatrix.quennell@ashdown.gov.uk", "displayName": "Beatrix Quennell"}
MEMBER = {"emailAddress": "cllr.lorcan.pettifer@ashdown.gov.uk", "displayName": "Lorcan Pettifer"}
PARAGRAPH = (
    "Thank you for the update on the draft budget and the consultation timetable. I have read the "
    "papers for Thursday's meeting and have a few questions about the figures for the leisure "
    "centre and the waste contract, which I will raise at the meeting. "
)


def _to(address: str, kind: str = "user") -> list[dict[str, str]]:
    return [{"emailAddress": address, "displayName": "", "recipientType": kind}]


# (weight, draft): the subject gets " #<n>" appended per request.
MIX: list[tuple[int, dict[str, Any]]] = [
    (40, {"from": LEADER, "to": _to(MEMBER["emailAddress"]), "subject": "Lunch",
          "body": {"html": "<p>See you at noon.</p>"}, "composeType": "newMail"}),
    (20, {"from": MEMBER, "to": _to("committee.services@ashdown.gov.uk"), "subject": "Thursday's papers",
          "body": {"html": "<p>" + PARAGRAPH * 6 + "</p>"}, "composeType": "newMail"}),
    (10, {"from": MEMBER, "to": _to("ward.partner@nhs.net", "externalUser"), "subject": "Surgery dates",
          "body": {"html": "<p>The next ward surgeries are on the first Saturday of each month.</p>"}}),
    (10, {"from": MEMBER, "to": _to("a.resident@gmail.com", "externalUser"), "subject": "Your enquiry",
          "body": {"html": "<p>Thank you for writing. I have asked officers to look into the bins on your "
                   "street and will come back to you next week.</p>"}}),
    (10, {"from": MEMBER, "to": _to("j.smith.home@gmail.com", "externalUser"), "subject": "Housing case",
          "body": {"html": "<p>Mrs Jane Doverhampton of 12 Tollgate Lane, phone 07700 900123, is in rent "
                   "arrears and has dementia. Can you help?</p>"}}),
    (10, {"from": LEADER, "to": _to("all.councillors@ashdown.gov.uk", "distributionList"),
          "subject": "RE: budget consultation", "body": {"html": "<p>I agree with the points raised.</p>"},
          "composeType": "reply"}),
]  # fmt: skip


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp / "config.yaml"
    config.write_text(
        f"directory: {DIRECTORY}\nstore:\n  url: sqlite:///{tmp / 'store.db'}\n"
        f"service:\n  host: 127.0.0.1\n  port: {port}\n  token_env: CG_BENCH_TOKEN\n",
        encoding="utf-8",
    )
    env = {**os.environ, "CG_BENCH_TOKEN": TOKEN}
    log = (tmp / "service.log").open("wb")
    cmd = [sys.executable, "-m", "correspondence_guard", "serve", "--config", str(config)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(base: str, proc: subprocess.Popen[bytes] | None, verify: bool) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", verify=verify, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not become ready in 180 s")


async def client(
    http: httpx.AsyncClient, drafts: list[dict[str, Any]], counter: itertools.count[int], stop_at: float,
    max_requests: int, think: float, latencies: list[tuple[bool, float]], errors: list[str], rng: random.Random,
) -> None:  # fmt: skip
    for _ in range(max_requests):
        if time.monotonic() >= stop_at:
            return
        draft = dict(rng.choice(drafts))
        draft["subject"] = f"{draft['subject']} #{next(counter)}"
        started = time.perf_counter()
        try:
            response = await http.post("/v1/check", json=draft)
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}")
            else:
                response.json()
        except httpx.HTTPError as exc:
            errors.append(f"{type(exc).__name__} {exc}".strip())
        private = any(r["emailAddress"].endswith("@gmail.com") for r in draft["to"])
        latencies.append((private, time.perf_counter() - started))
        if think:
            await asyncio.sleep(think)


async def run(
    base: str, token: str, args: argparse.Namespace, seconds: float, pid: int | None
) -> dict[str, Any]:
    drafts = [draft for weight, draft in MIX for _ in range(weight)]
    latencies: list[tuple[bool, float]] = []
    errors: list[str] = []
    counter = itertools.count()
    peak = rss_kib(pid) if pid else 0
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30, verify=not args.insecure
    ) as http:
        stop_at = time.monotonic() + seconds
        tasks = [
            asyncio.create_task(
                client(http, drafts, counter, stop_at, args.max_requests, args.think_ms / 1000, latencies,
                       errors, random.Random(i))
            )
            for i in range(args.clients)
        ]  # fmt: skip
        while not all(t.done() for t in tasks):
            await asyncio.sleep(1)
            if pid:
                peak = max(peak, rss_kib(pid))
        await asyncio.gather(*tasks)
    return {"latencies": latencies, "errors": errors, "peak": peak}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-requests", type=int, default=20_000, help="per client")
    parser.add_argument("--think-ms", type=float, default=0, help="pause between a client's requests")
    parser.add_argument("--warm-up", type=float, default=3, help="seconds of load before measuring")
    parser.add_argument("--url", help="a running service instead of starting one")
    parser.add_argument("--token", default=os.environ.get("CG_SERVICE_TOKEN", TOKEN))
    parser.add_argument("--insecure", action="store_true", help="do not verify the service's certificate")
    args = parser.parse_args()

    proc = None
    with tempfile.TemporaryDirectory(prefix="cg-load-") as tmp:
        if args.url:
            base, pid = args.url.rstrip("/"), None
        else:
            proc, base = start_service(Path(tmp))
            pid = proc.pid
        try:
            wait_ready(base, proc, verify=not args.insecure)
            asyncio.run(run(base, args.token, args, args.warm_up, None))
            rss_start = rss_kib(pid) if pid else 0
            cpu_start = cpu_seconds(pid) if pid else 0.0
            own_start = resource.getrusage(resource.RUSAGE_SELF)
            started = time.monotonic()
            result = asyncio.run(run(base, args.token, args, args.seconds, pid))
            elapsed = time.monotonic() - started
            rss_end = rss_kib(pid) if pid else 0
            cpu = cpu_seconds(pid) - cpu_start if pid else 0.0
            own = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu = own.ru_utime + own.ru_stime - own_start.ru_utime - own_start.ru_stime
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
                problems = [
                    line
                    for line in (Path(tmp) / "service.log").read_text(errors="replace").splitlines()
                    if not line.startswith(("INFO", "correspondence-guard: serving"))
                ]
                if problems:
                    print("service log (other than INFO):", *problems[-20:], sep="\n  ")

    lat = sorted(seconds for _, seconds in result["latencies"])
    private = sorted(seconds for is_private, seconds in result["latencies"] if is_private)
    others = sorted(seconds for is_private, seconds in result["latencies"] if not is_private)
    errors = result["errors"]
    p50, p95, p99 = (percentile(lat, q) * 1000 for q in (50, 95, 99))
    print(f"clients {args.clients}, {elapsed:.1f} s, think {args.think_ms:g} ms: {len(lat)} requests, "
          f"{len(lat) / elapsed:.1f} req/s")  # fmt: skip
    print(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {lat[-1] * 1000:.1f}")
    for label, values in (("to private webmail (analyser runs)", private), ("internal and partners", others)):
        if values:
            print(f"  {label}: {len(values)}, p50 {percentile(values, 50) * 1000:.1f}  "
                  f"p95 {percentile(values, 95) * 1000:.1f}")  # fmt: skip
    print(f"errors: {len(errors)}" + (f" ({', '.join(sorted(set(errors)))})" if errors else ""))
    if pid:
        print(f"service RSS MiB: start {rss_start / 1024:.1f}  end {rss_end / 1024:.1f}  "
              f"peak {result['peak'] / 1024:.1f}")  # fmt: skip
        print(f"service CPU: {cpu:.1f} s, {cpu / max(len(lat), 1) * 1000:.1f} ms per request; "
              f"load generator CPU: {client_cpu:.1f} s; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    verdict = "met" if not errors and p95 <= P95_TARGET_MS else "NOT met"
    print(f"target (0 errors, p95 <= {P95_TARGET_MS:g} ms): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
