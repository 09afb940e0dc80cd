"""Archive chunks as Dask tasks: ``review --archive --cluster tcp://scheduler:8786`` or ``local:N``.

The client sends each chunk (paths and numbers: the workers read the archive from a path they
all mount) as one task. A worker plugin (``CheckerPlugin``) loads the Checker and opens the
store once per worker process; the task checks the chunk and writes its findings and its
checkpoint to the shared PostgreSQL store (archive.py). Dask retries the tasks of a lost worker
on another; a chunk that was written before the loss is found done in the store, and messages
already recorded are only given a location, so every message is recorded once. The client
writes the reports from the store when every task has finished.

Needs the ``cluster`` extra: ``pip install 'correspondence-guard[cluster]'`` (dask[distributed]).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from correspondence_guard.config import ConfigError
from correspondence_guard.review.archive import Worker, WorkerSpec
from correspondence_guard.review.chunks import Chunk
from correspondence_guard.store.archive import ChunkDone

PLUGIN = "correspondence-guard-checker"
RETRIES = 3  # more attempts for a chunk whose task raised (the store unreachable for a moment)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "--cluster needs Dask distributed: pip install 'correspondence-guard[cluster]'"
        ) from None
    return distributed


try:
    from distributed import WorkerPlugin as _PluginBase
except ImportError:  # the cluster extra is not installed: run_on_cluster says so
    _PluginBase = object  # type: ignore[assignment, misc]


class CheckerPlugin(_PluginBase):
    """Loads the checker and opens the store once per worker process (a Dask WorkerPlugin)."""

    name = PLUGIN

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self.worker: Worker | None = None

    def setup(self, worker: Any) -> None:
        self.worker = Worker(self.spec)
        self.worker.checker.warm_up()

    def teardown(self, worker: Any) -> None:
        if self.worker is not None:
            self.worker.close()


def check_chunk(chunk: Chunk) -> ChunkDone:
    """The Dask task: check one chunk with this worker's checker."""
    from distributed import get_worker

    plugin = get_worker().plugins[PLUGIN]
    assert isinstance(plugin, CheckerPlugin) and plugin.worker is not None
    return plugin.worker.run(chunk)


def run_on_cluster(
    address: str,
    spec: WorkerSpec,
    chunks: list[Chunk],
    on_done: Callable[[Chunk, ChunkDone | BaseException], None],
) -> None:
    distributed = _distributed()
    cluster = None
    if address.startswith("local:"):
        cluster = distributed.LocalCluster(
            n_workers=int(address[6:]), threads_per_worker=1, processes=True, dashboard_address=None
        )
        address = cluster.scheduler_address
    try:
        with distributed.Client(address, timeout="30s") as client:
            client.register_plugin(CheckerPlugin(spec), name=PLUGIN)
            futures = client.map(
                check_chunk, chunks, key=[f"cg-chunk-{spec.run_key[:8]}-{c.id}" for c in chunks],
                retries=RETRIES, pure=False,
            )  # fmt: skip
            by_key = {f.key: c for f, c in zip(futures, chunks, strict=True)}
            for future in distributed.as_completed(futures):
                chunk = by_key[future.key]
                try:
                    result: ChunkDone | BaseException = future.result()
                except Exception as exc:  # this chunk failed every attempt: reported, left for a re-run
                    result = exc
                on_done(chunk, result)
    except OSError as exc:
        raise ConfigError(f"--cluster {address}: cannot reach the Dask scheduler ({exc})") from None
    finally:
        if cluster is not None:
            cluster.close()
