"""Both cores without fighting BLAS: row blocks on our own threads, BLAS held to one thread meanwhile.

numpy's elementwise loops, BLAS and the Numba kernels (compiled `nogil`) release the GIL, so a batch
split into row blocks runs on all cores from plain Python threads. OpenBLAS's own worker threads would
then spin-wait on the same cores after each product (measured: ~30% slower), so while any split is
running, BLAS is limited to one thread (threadpoolctl) and restored when the last one leaves.

How many threads one tagger uses is its own setting (`Tagger(threads=N)`, default $NERWIN_THREADS or the
cores this process may run on): its batches are split into that many row blocks, and a tagger held to
fewer threads than the cores keeps BLAS on one thread for all its work, so that several tagging processes
on one machine (`--jobs`, Ray actors) do not fight. No Numba kernel of nerwin runs threads of its own (no
`prange`), so Numba's thread pool never starts.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where first used: concurrent.futures costs ~15 ms of start-up
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["CORES", "THREADS_ENV", "threads_wanted", "by_rows", "in_background", "blas_on_one_thread", "together"]

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
THREADS_ENV = "NERWIN_THREADS"


def threads_wanted(threads: int | None = None) -> int:
    """The threads a tagger uses: `threads` if given, else $NERWIN_THREADS, else every core it may run on."""
    if threads is None:
        value = os.environ.get(THREADS_ENV, "").strip()
        if not value:
            return CORES
        try:
            threads = int(value)
        except ValueError:
            raise ValueError(f"${THREADS_ENV} must be a whole number of threads, got {value!r}") from None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be 1 or more, got {threads!r}")
    return threads
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(name: str, workers: int) -> ThreadPoolExecutor:
    with _pools_lock:
        if name not in _pools:
            from concurrent.futures import ThreadPoolExecutor

            _pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"nerwin-{name}")
        return _pools[name]


def by_rows(n: int, work: Callable[[int, int], None], blocks: int = CORES) -> None:
    """work(a, b) over row blocks [a, b) of [0, n), `blocks` of them (one per thread) for 256 rows or more.
    `work` must write only its own rows."""
    if n < 256 or blocks < 2:
        work(0, n)
        return
    bounds = np.linspace(0, n, blocks + 1).astype(int).tolist()
    pool = _pool(f"rows{blocks}", blocks)
    for future in [pool.submit(work, a, b) for a, b in zip(bounds[:-1], bounds[1:])]:
        future.result()


def in_background(fn: Callable, *args) -> Future:
    """fn(*args) on a helper thread, overlapping the caller's own work (both must release the GIL)."""
    return _pool("helper", 1).submit(fn, *args)


class _BlasLimit:
    """Counts the threads inside `blas_on_one_thread`; the first in limits BLAS, the last out restores it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inside = 0
        self.limit = None
        self.controller = None

    def enter(self) -> None:
        with self.lock:
            if self.inside == 0:
                if self.controller is None:
                    from threadpoolctl import ThreadpoolController

                    self.controller = ThreadpoolController()
                self.limit = self.controller.limit(limits=1, user_api="blas")
            self.inside += 1

    def leave(self) -> None:
        with self.lock:
            self.inside -= 1
            if self.inside == 0 and self.limit is not None:
                self.limit.restore_original_limits()
                self.limit = None


_blas = _BlasLimit()


@contextmanager
def blas_on_one_thread():
    """BLAS on one thread inside the block (re-entrant across threads)."""
    _blas.enter()
    try:
        yield
    finally:
        _blas.leave()


def together(first: Callable, second: Callable) -> tuple:
    """(first(), second()), first running on the helper thread while this one runs second."""
    future = in_background(first)
    return future.result(), second()
