"""``review --archive``: check a whole mail archive (PST/OST, mbox, Maildir, folders of .eml).

``run_archive(config, checker, store, sources)`` splits the archive into chunks (chunks.py),
checks them in this process (``jobs=1``), in ``jobs`` worker processes, or as tasks on a Dask
cluster (cluster.py), and writes report.html, findings.csv and findings.json from the store.

- Each worker process loads the Checker once and checks its chunks' messages in batches
  (``Worker``): one SELECT for the keys already stored, then one transaction that records the
  batch (store/archive.py). A message already in the store, from an earlier run, another folder
  or another chunk, only gains a location: nothing is recorded twice.
- The last batch of a chunk is written together with the chunk's checkpoint (the store's
  ``archive_chunks`` table, keyed by the run and the chunk). Running the same command again
  after an interruption skips the chunks that are done; within an unfinished chunk the
  messages already recorded are not checked again.
- There is no date window unless ``since``/``until`` are given; a message's date is its Date
  header, else its file's modification time.
- One unreadable message is recorded as an error (keyed by its location when even its header
  cannot be read) and the run goes on. A chunk that fails as a whole (a PST folder that cannot
  be read, the store unreachable) is reported and left for the next run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from correspondence_guard.config import Config, ConfigError
from correspondence_guard.engine import Checker
from correspondence_guard.errors import CorrespondenceGuardError, MessageError
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.review.chunks import CHUNK_MESSAGES, ArchiveSource, Chunk, Item, items, plan
from correspondence_guard.review.sources import HEAD_BYTES, header_date
from correspondence_guard.review.tally import Tally
from correspondence_guard.store.archive import ChunkDone, Row, chunk_done, done_chunks, known, write_batch
from correspondence_guard.store.db import Location, MessageMeta, Store
from correspondence_guard.store.recording import header_key, message_key, message_meta

log = logging.getLogger(__name__)
BATCH = 100  # messages written to the store in one transaction
Advance = Callable[[int], None]  # "n more messages done"
ArchiveProgress = Callable[[int], Advance]  # given the total, returns ``advance``


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker process needs to check chunks: small and picklable (sent to each worker)."""

    directory: str
    policy: str | None
    store_url: str
    max_bytes: int
    run_key: str
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    batch: int = BATCH


@dataclass(frozen=True)
class ArchiveResult:
    status: str  # ok, or partial when a chunk could not be finished
    out_dir: Path
    data: dict[str, Any]
    summary: str
    chunks: int
    resumed: int  # chunks done by an earlier run
    seconds: float


class Worker:
    """One process's checker and store connection; ``run(chunk)`` checks one chunk."""

    def __init__(self, spec: WorkerSpec, checker: Checker | None = None, store: Store | None = None):
        self.spec = spec
        self.checker = checker or Checker.load(spec.directory, spec.policy)
        self.store = store or Store(spec.store_url, create=False)
        self._own_store = store is None

    def close(self) -> None:
        if self._own_store:
            self.store.close()

    def run(self, chunk: Chunk) -> ChunkDone:
        before = chunk_done(self.store, self.spec.run_key, chunk.id)
        if before is not None:  # a retry of a chunk that did finish (a worker lost after writing)
            return before
        done = ChunkDone(self.spec.run_key, chunk.id, chunk.label)
        batch: list[tuple[Item, bytes | None, str]] = []
        for item, raw, error in self._read(chunk, done):
            done.messages += 1
            batch.append((item, raw, error))
            if len(batch) >= self.spec.batch:
                self._flush(batch, done, last=False)
                batch = []
        self._flush(batch, done, last=True)
        return done

    def _read(self, chunk: Chunk, done: ChunkDone) -> Iterator[tuple[Item, bytes | None, str]]:
        """(item, raw bytes or None, error) for each message of the chunk in the window."""
        since, until = self.spec.since, self.spec.until
        it = items(chunk)
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            except Exception as exc:  # the rest of the chunk cannot be read (a broken PST folder)
                done.problems.append({"kind": "source", "source": chunk.label, "problem": _why(exc)})
                return
            try:
                raw: bytes | None = item.read()
                error = ""
            except Exception as exc:  # a file gone or unreadable, a PST item that cannot be converted
                raw, error = None, f"could not read the message: {_why(exc)}"
            if (since or until) and raw is not None:
                when = header_date(raw[:HEAD_BYTES]) or item.fallback_date
                if when is None or (since and when < since) or (until and when >= until):
                    continue
            yield item, raw, error

    def _flush(self, batch: list[tuple[Item, bytes | None, str]], done: ChunkDone, last: bool) -> None:
        keyed = [(item, raw, error, *_key(item, raw)) for item, raw, error in batch]
        stored = known(self.store, [k for *_, k, _ in keyed])
        rows: list[Row] = []
        for item, raw, error, key, mid in keyed:
            location = Location("", item.folder, item.uid, item.label)
            if key in stored:
                rows.append(Row(MessageMeta(message_key=key), None, location))
                done.seen += 1
                continue
            stored[key] = "pending"  # a second copy in this batch is a sighting
            row = self._check(item, raw, error, key, mid, location)
            rows.append(row)
            if row.report is None:
                done.errors += 1
                done.problems.append({"kind": "message", "source": item.label, "problem": row.error or ""})
            else:
                done.checked += 1
                done.flagged += bool(row.report.findings)
                if row.report.unchecked:
                    from correspondence_guard.masking import mask_text

                    problem = mask_text("; ".join(row.report.unchecked))
                    done.problems.append({"kind": "part", "source": item.label, "problem": problem})
        write_batch(self.store, rows, done if last else None)

    def _check(
        self, item: Item, raw: bytes | None, error: str, key: str, mid: str, location: Location
    ) -> Row:
        def failed(why: str) -> Row:
            return Row(MessageMeta(message_key=key, message_id=mid), None, location, why)

        if raw is None:
            return failed(error or "could not read the message")
        if len(raw) > self.spec.max_bytes:
            return failed(f"message is {len(raw)} bytes, over the {self.spec.max_bytes}-byte limit")
        if not (mid or header_date(raw[:HEAD_BYTES]) or _has_from(raw)):
            return failed("not an e-mail message: no From, Date or Message-ID")
        try:
            message = parse_eml(raw, self.checker.max_attachment_bytes)
            report = self.checker.check(message, source=item.label)
            meta = message_meta(key, message, self.checker)
        except MessageError as exc:
            return failed(str(exc))
        except Exception as exc:  # a crash in a parser or rule never stops the run
            log.warning("%s: %s", item.label, _why(exc))
            return failed(f"could not check the message: {type(exc).__name__}")
        return Row(meta, report, location)


def _key(item: Item, raw: bytes | None) -> tuple[str, str]:
    if raw is None:  # nothing to key on but where it is: stable from run to run
        where = f"{item.label}\0{item.folder}\0{item.uid}"
        return "unreadable:" + hashlib.sha256(where.encode("utf-8", "replace")).hexdigest(), ""
    try:
        return header_key(raw)
    except Exception:
        return message_key(raw), ""


def _has_from(raw: bytes) -> bool:
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    return any(line.lower().startswith(b"from:") for line in head.splitlines())


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return text if isinstance(exc, CorrespondenceGuardError) else f"{type(exc).__name__}: {text}".rstrip(": ")


# -- worker processes on this machine ------------------------------------------------------------
_WORKER: Worker | None = None


def _init_process(spec: WorkerSpec) -> None:
    global _WORKER
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops the pool
    _WORKER = Worker(spec)


def _run_in_process(chunk: Chunk) -> ChunkDone:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.run(chunk)


def _run_local(
    spec: WorkerSpec,
    chunks: list[Chunk],
    jobs: int,
    checker: Checker,
    store: Store,
    on_done: Callable[[Chunk, ChunkDone | BaseException], None],
) -> None:
    if jobs <= 1:
        worker = Worker(spec, checker, store)
        for chunk in chunks:
            try:
                result: ChunkDone | BaseException = worker.run(chunk)
            except Exception as exc:
                result = exc
            on_done(chunk, result)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")  # no forked copies of our threads and connections
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")  # one core per worker: no BLAS threads fighting over them
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_process, initargs=(spec,)) as pool:
        try:
            pending = {pool.submit(_run_in_process, c): c for c in chunks}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    chunk = pending.pop(future)
                    error = future.exception()
                    on_done(chunk, error if error is not None else future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


# -- the run --------------------------------------------------------------------------------------
def run_key(
    sources: list[ArchiveSource], since: dt.datetime | None, until: dt.datetime | None, chunk_size: int
) -> str:
    spec = json.dumps(
        [
            sorted(str(s) for s in sources),
            since.isoformat() if since else None,
            until.isoformat() if until else None,
            chunk_size,
        ]
    )
    return hashlib.sha256(spec.encode()).hexdigest()[:32]


def parse_cluster(value: str) -> str:
    if value.startswith("local:"):
        n = value[6:]
        if not n.isdigit() or int(n) < 1:
            raise ConfigError(f"--cluster {value}: give local:N with N workers, e.g. local:4")
        return value
    if "://" not in value:
        raise ConfigError(f"--cluster {value}: give the scheduler's address (tcp://host:8786) or local:N")
    return value


def run_archive(
    config: Config,
    checker: Checker,
    store: Store,
    sources: list[ArchiveSource],
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    jobs: int = 1,
    cluster: str | None = None,
    chunk_size: int = CHUNK_MESSAGES,
    out_dir: Path | None = None,
    progress: ArchiveProgress | None = None,
    tz: ZoneInfo | None = None,
) -> ArchiveResult:
    """Check every message of ``sources`` (in [since, until) when given) and write the reports."""
    if not sources:
        raise ConfigError("review --archive: give at least one --source (mbox:, maildir:, folder:, pst:)")
    if jobs < 1:
        raise ConfigError("--jobs: give 1 or more worker processes")
    if cluster is not None:
        parse_cluster(cluster)
        if cluster.startswith("tcp://") or "://" in cluster:
            if store.engine.dialect.name != "postgresql":
                raise ConfigError(
                    "--cluster: the workers write to the store, which must be a PostgreSQL server they all reach "
                    f"(store.url is {store.engine.dialect.name})"
                )
    started = time.monotonic()
    chunks = plan(sources, chunk_size)
    key = run_key(sources, since, until, chunk_size)
    earlier = done_chunks(store, key)
    todo = [c for c in chunks if c.id not in earlier]
    total = sum(c.count for c in chunks)
    log.info(
        "archive review %s: %d messages in %d chunks, %d done earlier",
        key[:8],
        total,
        len(chunks),
        len(chunks) - len(todo),
    )
    advance = progress(total) if progress else None
    if advance:
        advance(sum(c.count for c in chunks if c.id in earlier))
    spec = WorkerSpec(
        directory=str(config.directory),
        policy=str(config.policy) if config.policy else None,
        store_url=store.engine.url.render_as_string(hide_password=False),
        max_bytes=int(config.watch.max_message_mb * 1024 * 1024),
        run_key=key,
        since=since,
        until=until,
    )
    failures: list[dict[str, str]] = []
    finished = [0]  # messages in the chunks finished by this run

    def on_done(chunk: Chunk, result: ChunkDone | BaseException) -> None:
        if not isinstance(result, BaseException):
            finished[0] += chunk.count
        else:
            log.error("archive chunk %s failed: %s", chunk.label, _why(result))
            failures.append(
                {"kind": "source", "source": chunk.label, "problem": f"chunk not finished: {_why(result)}"}
            )
        if advance:
            advance(chunk.count)

    if todo and cluster is not None:
        from correspondence_guard.review.cluster import run_on_cluster

        run_on_cluster(cluster, spec, todo, on_done)
    elif todo:
        _run_local(spec, todo, jobs, checker, store, on_done)
    seconds = time.monotonic() - started
    done = done_chunks(store, key)
    missing = [c for c in chunks if c.id not in done]
    for chunk in missing:
        if not any(f["source"] == chunk.label for f in failures):
            failures.append({"kind": "source", "source": chunk.label, "problem": "chunk not finished"})
    tally = Tally()
    for d in done.values():
        if d.chunk_id in {c.id for c in chunks}:
            tally.read += d.messages
            tally.checked += d.checked
            tally.seen += d.seen
            tally.flagged += d.flagged
            tally.problems += d.problems
    tally.problems += failures
    tz = tz or _zone(config, checker)
    data = archive_report(store, checker, tz, sources, since, until, tally)
    data["archive"] = {
        "chunks": len(chunks),
        "chunks_done_earlier": len(chunks) - len(todo),
        "chunks_not_finished": len(missing),
        "messages": total,
        "jobs": jobs if cluster is None else None,
        "cluster": cluster,
        "seconds": round(seconds, 1),
        "messages_per_second": round(finished[0] / seconds, 1) if seconds > 0 and finished[0] else None,
    }
    out_dir = out_dir or config.review.out_dir / f"archive-{key[:8]}"
    write_reports(data, out_dir)
    status = "partial" if missing or any(p["kind"] == "source" for p in tally.problems) else "ok"
    summary = archive_line(data, out_dir)
    return ArchiveResult(status, out_dir, data, summary, len(chunks), len(chunks) - len(todo), seconds)


def _zone(config: Config, checker: Checker) -> ZoneInfo:
    from correspondence_guard.review.run import council_tz

    return council_tz(config, checker)


def archive_report(
    store: Store,
    checker: Checker,
    tz: ZoneInfo,
    sources: list[ArchiveSource],
    since: dt.datetime | None,
    until: dt.datetime | None,
    tally: Tally,
) -> dict[str, Any]:
    """The review report's data for the archive's messages only, each finding with its folders."""
    from correspondence_guard.report.review_data import CHART_DAYS, _totals, gather
    from correspondence_guard.store.archive import archive_findings

    found = archive_findings(store, [str(s.path) for s in sources], since, until)

    def local(value: dt.datetime | None) -> str | None:
        if value is None:
            return None
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return value.astimezone(tz).isoformat()

    dates = [f["date"] or f["checked_at"] for f in found]
    first = since or (min(dates) if dates else dt.datetime.now(dt.UTC))
    last = until or (max(dates) + dt.timedelta(seconds=1) if dates else dt.datetime.now(dt.UTC))
    first = first if first.tzinfo else first.replace(tzinfo=dt.UTC)
    last = last if last.tzinfo else last.replace(tzinfo=dt.UTC)
    if last <= first:
        last = first + dt.timedelta(seconds=1)
    data = gather(store, checker, tz, first, last, 2**31 - 1, tally, [], [])
    findings = [
        {
            "date": local(f["date"] or f["checked_at"]), "rule": f["rule"], "title": f["title"],
            "severity": f["severity"], "on_send": f["on_send"], "sender": f["sender"],
            "sender_role": f["sender_role"], "department": f["department"],
            "recipient_classes": f["recipient_classes"], "subject": f["subject"], "reason": f["reason"],
            "note": f["note"], "citations": f["citations"], "evidence": f["evidence"],
            "message_id": f["message_id"], "folders": f["folders"],
        }
        for f in found
    ]  # fmt: skip
    titles = {f["rule"]: f["title"] for f in findings}
    last_day = (last - dt.timedelta(microseconds=1)).astimezone(tz).date()
    days = [last_day - dt.timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    per_day = Counter(dt.date.fromisoformat(f["date"][:10]) for f in findings if f["date"])
    data.update(
        sources=[str(s) for s in sources],
        findings=findings,
        per_day=[{"date": d.isoformat(), "findings": per_day.get(d, 0)} for d in days],
        totals={
            "rule": _totals(findings, "rule", titles),
            "severity": _totals(findings, "severity", order=["high", "medium", "low"]),
            "department": _totals(findings, "department", empty="(no department: not an officer)"),
            "sender_role": _totals(findings, "sender_role", empty="(not in the directory)"),
        },
        overrides=[],
        feedback=[],
    )
    data["store"] = {
        "messages": tally.read,
        "by_verdict": {},
        "findings": len(findings),
    }
    return data


def write_reports(data: dict[str, Any], out_dir: Path) -> None:
    from correspondence_guard.private_files import open_private, private_dir
    from correspondence_guard.report.csvout import CSV_FIELDS, SpreadsheetWriter, csv_row, write_json
    from correspondence_guard.report.html import write_html

    private_dir(out_dir)
    write_html(data, out_dir / "report.html")
    write_json(data, out_dir / "findings.json")
    fields = (*CSV_FIELDS, "folder")
    with open_private(out_dir / "findings.csv", encoding="utf-8-sig", newline="") as f:
        writer = SpreadsheetWriter(f, fieldnames=fields, lineterminator="\r\n")
        writer.writeheader()
        for finding in data["findings"]:
            writer.writerow({**csv_row(finding), "folder": "; ".join(finding.get("folders", []))})


def archive_line(data: dict[str, Any], out_dir: Path) -> str:
    run, archive = data["run"], data["archive"]
    high = sum(t["count"] for t in data["totals"]["severity"] if t["key"] == "high")
    rate = archive["messages_per_second"]
    return (
        f"archive: {run['messages_in_period']} messages ({run['checked']} checked now, {run['already_recorded']} "
        f"already recorded, {run['could_not_check']} could not be checked); {data['store']['findings']} findings "
        f"({high} high); {archive['chunks']} chunks, {archive['chunks_done_earlier']} done by an earlier run"
        + (
            f", {archive['chunks_not_finished']} not finished (run again to resume)"
            if archive["chunks_not_finished"]
            else ""
        )
        + (f"; {rate:.0f} messages/s" if rate else "")
        + f"; report: {out_dir / 'report.html'}"
    )
