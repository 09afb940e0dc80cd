"""``service.check_processes``: checks in worker processes, run by the real ``serve`` command
and, for what HTTP cannot reach, by ``CheckPool`` itself on an event loop.

The service answers and counts; the check processes are forked by a single-threaded fork
server that loaded the Checker's models once, so they share those pages; each stores its own
findings. A check process that dies is replaced (the requests it had get 503, later ones are
checked again), and no check process outlives the service, whether it stops cleanly or is
killed. Every answer goes to the request it belongs to, including after a request gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from addin_service import CLEAR, PERSONAL_DATA_TO_GMAIL, REPLY_ALL_MEMBERS, ROOT, TOKEN, wait_ready

from correspondence_guard.service.check_pool import BIG_PAYLOAD, CheckPool, CheckProcessError
from correspondence_guard.store.db import Store
from support import free_port

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_until(condition, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


class Running:
    def __init__(self, proc: subprocess.Popen[str], base: str, db: Path):
        self.proc, self.base, self.db = proc, base, db

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)

    def fork_servers(self) -> list[int]:
        """multiprocessing's fork server (not its resource tracker): the check processes' parent."""
        return [p for p in _children(self.proc.pid) if b"forkserver" in _cmdline(p)]

    def workers(self) -> list[int]:
        """The check processes."""
        return [w for server in self.fork_servers() for w in _children(server) if _alive(w)]


def _memory_kib(pid: int) -> dict[str, int]:
    """smaps_rollup of a process: Rss, Pss, Shared_Clean, ... in KiB."""
    lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    return {name: int(rest.split()[0]) for name, _, rest in (line.partition(":") for line in lines)}


def _threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def _working_threads(pid: int) -> int:
    """Threads that have used more than 20 ms of CPU (ONNX Runtime keeps one idle thread)."""
    busy = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        busy += int(fields[11]) + int(fields[12]) > 2  # utime + stime, in ticks of 10 ms
    return busy


def _shares_the_model(pid: int) -> bool:
    """Over 100 MB of the process's pages are shared (the models, from the fork server), and
    its proportional share is under the 150 MB a check process may cost."""
    memory = _memory_kib(pid)
    return memory["Shared_Clean"] + memory["Shared_Dirty"] > 100 * 1024 and memory["Pss"] < 150 * 1024


@pytest.fixture()
def pooled(tmp_path: Path, directory_path: Path) -> Iterator[Running]:
    port = free_port()
    config = tmp_path / "config.yaml"
    db = tmp_path / "store.db"
    config.write_text(
        f"directory: {directory_path}\nstore:\n  url: sqlite:///{db}\n"
        f"service:\n  port: {port}\n  allow_http: true\n  token_env: CG_TEST_SERVICE_TOKEN\n  check_processes: 2\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "correspondence_guard", "serve", "--no-schedule", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "CG_TEST_SERVICE_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            return httpx.get(f"{base}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    running = Running(proc, base, db)
    try:
        _wait_until(up, 90, "serve did not start")
        wait_ready(base)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)


def test_checks_run_in_the_worker_processes_and_are_counted_and_stored(pooled: Running) -> None:
    workers = pooled.workers()
    assert len(workers) == 2, "ready means both check processes have loaded their checker"
    with pooled.client() as http:
        block = http.post("/v1/check", json=PERSONAL_DATA_TO_GMAIL).json()
        prompt = http.post("/v1/check", json=REPLY_ALL_MEMBERS).json()
        clear = http.post("/v1/check", json=CLEAR).json()
        bad = http.post("/v1/check/eml", content=b"   \r\n\r\n  ", headers={"Content-Type": "message/rfc822"})
        metrics = http.get("/metrics").text
    assert (block["send_action"], prompt["send_action"], clear["verdict"]) == ("block", "prompt", "clear")
    assert "personal-data-to-private-address" in [f["rule"] for f in block["findings"]]
    assert bad.status_code == 400 and bad.json()["detail"].startswith("not a readable message")
    # counted by the service process, whichever worker checked (and stored)
    assert 'rule="personal-data-to-private-address"} 1.0' in metrics
    assert 'rule="reply-all-members"} 1.0' in metrics
    # stored by the workers: two flagged messages, masked, no body
    with contextlib.closing(sqlite3.connect(pooled.db)) as db:
        evidence = " ".join(row[0] for row in db.execute("SELECT evidence FROM findings"))
        (messages,) = db.execute("SELECT count(*) FROM messages").fetchone()
    assert messages == 2
    assert "900123" not in evidence and "Doverhampton" not in evidence
    assert sorted(pooled.workers()) == sorted(workers)  # the same two processes did the work


def test_the_workers_are_forked_with_the_model_shared_by_a_single_threaded_fork_server(
    pooled: Running,
) -> None:
    [server] = pooled.fork_servers()
    assert _threads(server) == 1, "a fork copies one thread: the fork server must have only one"
    assert _memory_kib(server)["Rss"] > 150 * 1024, "the fork server holds the loaded models"
    workers = pooled.workers()
    assert len(workers) == 2
    with pooled.client() as http:  # checked by the forked workers, with the shared model
        answers = [http.post("/v1/check", json=d).json() for d in (PERSONAL_DATA_TO_GMAIL, CLEAR) * 3]
    assert [a["verdict"] for a in answers[1::2]] == ["clear"] * 3
    assert [a["send_action"] for a in answers[0::2]] == ["block"] * 3
    for worker in workers:
        assert _working_threads(worker) == 1, "one check process, one core"
        assert _shares_the_model(worker), _memory_kib(worker)


def test_a_dead_worker_is_replaced_and_checking_goes_on(pooled: Running) -> None:
    [server] = pooled.fork_servers()
    before = pooled.workers()
    os.kill(before[0], signal.SIGKILL)
    statuses = []
    with pooled.client() as http:
        deadline = time.monotonic() + 120
        while not statuses or statuses[-1] != 200:
            assert time.monotonic() < deadline, f"never checked again: {statuses}"
            response = http.post("/v1/check", json=PERSONAL_DATA_TO_GMAIL)
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert response.headers["Retry-After"] and "try again" in response.json()["detail"]
        assert set(statuses) <= {200, 503}
        assert http.post("/v1/check", json=PERSONAL_DATA_TO_GMAIL).json()["send_action"] == "block"
        _wait_until(lambda: len(pooled.workers()) == 2, 30, "the dead worker was not replaced")
        [replacement] = set(pooled.workers()) - set(before)
        # forked by the same fork server, with the model shared rather than loaded again
        assert pooled.fork_servers() == [server] and replacement in _children(server)
        assert _shares_the_model(replacement), _memory_kib(replacement)
        for _ in range(4):  # whichever worker takes them, both check
            assert http.post("/v1/check", json=PERSONAL_DATA_TO_GMAIL).json()["send_action"] == "block"


def test_no_worker_outlives_the_service(pooled: Running) -> None:
    workers = pooled.workers() + pooled.fork_servers()
    assert len(workers) == 3
    pooled.proc.send_signal(signal.SIGTERM)  # a clean stop waits for them
    pooled.proc.communicate(timeout=60)
    _wait_until(lambda: not any(_alive(p) for p in workers), 10, "a check process outlived the service")


def test_no_worker_outlives_a_killed_service(pooled: Running) -> None:
    workers = pooled.workers() + pooled.fork_servers()
    assert len(workers) == 3
    pooled.proc.kill()  # no clean stop: each worker notices its parent is gone
    pooled.proc.communicate(timeout=30)
    _wait_until(lambda: not any(_alive(p) for p in workers), 15, "a check process outlived the service")


# --- CheckPool on an event loop -------------------------------------------------------------


def _pool(tmp_path: Path, directory: Path | str, processes: int = 1) -> CheckPool:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store(url).close()  # the service migrates the store before its workers open it
    return CheckPool(processes, directory, None, url)


def _verdict(answer: object) -> str:
    status, body = answer[0], answer[1]  # type: ignore[index]
    assert status == 200, body
    return str(json.loads(body)["verdict"])


def test_each_answer_goes_to_its_own_request_even_after_one_gives_up(
    tmp_path: Path, directory_path: Path
) -> None:
    clear, block = json.dumps(CLEAR).encode(), json.dumps(PERSONAL_DATA_TO_GMAIL).encode()
    # one check of over 64 KiB: written to the worker's pipe from a thread, not the event loop
    big = json.dumps({**CLEAR, "body": {"text": "Thank you for the papers. " * (BIG_PAYLOAD // 20)}}).encode()
    assert len(big) > BIG_PAYLOAD

    async def scenario() -> None:
        pool = _pool(tmp_path, directory_path, processes=2)
        pool.start()
        try:
            await pool.ready()
            abandoned = asyncio.ensure_future(pool.run("draft", block))
            await asyncio.sleep(0)
            abandoned.cancel()  # the client went away: its answer must not reach the next request
            payloads = [block if i % 3 == 0 else clear for i in range(30)] + [big]
            answers = await asyncio.gather(*(pool.run("draft", p) for p in payloads))
            expected = ["block" if p is block else "clear" for p in payloads]
            assert [_verdict(a) for a in answers] == expected
        finally:
            pool.close()

    asyncio.run(scenario())


def test_a_worker_that_cannot_load_says_why_and_checks_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        pool = _pool(tmp_path, tmp_path / "no-such-directory.yaml")
        pool.start()
        try:
            with pytest.raises(RuntimeError, match="no-such-directory.yaml"):
                await asyncio.wait_for(pool.ready(), 120)
            with pytest.raises(CheckProcessError, match="no check process"):
                await asyncio.wait_for(pool.run("draft", json.dumps(CLEAR).encode()), 10)
        finally:
            pool.close()

    asyncio.run(scenario())


def test_closing_answers_the_checks_in_hand_and_refuses_more(tmp_path: Path, directory_path: Path) -> None:
    async def scenario() -> None:
        pool = _pool(tmp_path, directory_path)
        pool.start()
        await pool.ready()
        [worker] = [w.process for w in pool._first]
        in_hand = asyncio.ensure_future(pool.run("draft", json.dumps(PERSONAL_DATA_TO_GMAIL).encode()))
        waiting = asyncio.ensure_future(pool.run("draft", json.dumps(CLEAR).encode()))
        await asyncio.sleep(0)
        pool.close()
        for check in (in_hand, waiting):
            with pytest.raises(CheckProcessError, match="stopping"):
                await check
        with pytest.raises(CheckProcessError, match="stopping"):
            await pool.run("draft", json.dumps(CLEAR).encode())
        assert not worker.is_alive()

    asyncio.run(scenario())
