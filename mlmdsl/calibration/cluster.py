"""The engine behind SBC and K-fold: many independent fits, on Dask.

Without a scheduler address, a `dask.distributed.LocalCluster` with one single-threaded worker
process per core runs them (stanli samples in-process, so one fit per process uses one core);
with `tcp://HOST:PORT` the same tasks go to that cluster. Tasks return small results (ranks, a
few pointwise numbers), never fits, so a thousand replications hold no thousand fits anywhere.
A worker that dies mid-task costs nothing but time: the scheduler reruns its tasks elsewhere.

Each worker process compiles a model once: `cached_model` keeps the checked Model keyed by the
hash of the program text and options, in the worker's module state.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distributed import Client

    from mlmdsl.api import Model

__all__ = ["ClusterError", "cached_model", "dask_client", "run_tasks"]

_MODELS: dict[str, Model] = {}
_CACHE: dict[tuple[str, str], Any] = {}


class ClusterError(RuntimeError):
    """The Dask scheduler cannot be reached (or the cluster cannot start)."""


def program_key(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def cached_model(
    factory: Callable[..., Model], source: str, filename: str, parameterization: str = "noncentered"
) -> Model:
    """The Model for this program text, compiled once per process.

    `factory` is `Model.from_string`, passed in (pickled by reference) rather than imported:
    calibration sits below the API in the stage order. The model is rebuilt from its text in
    each worker rather than unpickled, because the checked model keys statements by identity."""
    key = program_key(source, filename, parameterization)
    if key not in _MODELS:
        _MODELS[key] = factory(source, filename, parameterization=parameterization)
    return _MODELS[key]


def cached(kind: str, key: str, make: Callable[[], Any]) -> Any:
    """A per-process cache for derived values (a bound design) keyed by a content hash."""
    if (kind, key) not in _CACHE:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[(kind, key)] = make()
    return _CACHE[(kind, key)]


def local_workers(workers: int | None) -> int:
    return int(workers) if workers else max(1, os.cpu_count() or 1)


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A client on `scheduler`, or on a fresh local cluster of `workers` single-threaded processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=local_workers(workers),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def run_tasks(
    client: Client,
    fn: Callable[..., Any],
    items: Sequence[Any],
    *shared: Any,
    on_result: Callable[[Any], None],
    on_error: Callable[[Any, BaseException], None] | None = None,
    retries: int = 0,
) -> None:
    """Run fn(item, *shared) for every item on the cluster, calling on_result as each finishes
    (in completion order). A task that raised, or whose workers kept dying under it (Dask's
    KilledWorker, after the scheduler's own retries), goes to on_error(item, exception) when
    given. Ctrl-C cancels what has not finished and re-raises."""
    from distributed import as_completed

    # hash=False: a fresh key per call. With the content's hash as key, a second run scattering
    # the same table (`mlm compare --criterion kfold`: one run per model) reuses the key the first
    # run just released, and the scheduler's delayed delete can remove it under the new run's
    # tasks ("Could not find data", the fold cancelled for "lost dependencies"; seen once in CI).
    scattered = [client.scatter(s, broadcast=True, hash=False) for s in shared]
    futures = {client.submit(fn, item, *scattered, pure=False, retries=retries): item for item in items}
    try:
        for future in as_completed(list(futures)):
            try:
                value = future.result()
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(futures[future], exc)
            else:
                on_result(value)
            future.release()
    except BaseException:
        client.cancel(list(futures))
        raise
