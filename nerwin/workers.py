"""Tagging on worker processes, for `Tagger.pipe(n_process=N)` and `nerwin tag --jobs N`.

Workers are started with spawn (a fresh interpreter: no forked threads, locks or BLAS state, and the same
on every OS) and each is given the tagger once, pickled by its model files' content, so the model is
loaded once per worker, never per batch. Batches go out in input order with at most `ahead` of them in
flight and come back in that order, so memory stays bounded however long the input. This is
`concurrent.futures` with a bounded window, not a scheduler: past one machine, use Ray (`nerwin.columns`).
"""
from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator

__all__ = ["Workers"]

_tagger = None  # in a worker: the tagger it was given


def _start(tagger, threads: int) -> None:
    global _tagger
    tagger.threads = threads
    _tagger = tagger


def _call(fn: Callable, payload):
    return fn(_tagger, payload)


class Workers:
    """`processes` worker processes, each holding a copy of `tagger` that tags on `threads` threads."""

    def __init__(self, tagger, processes: int, threads: int = 1, ahead: int | None = None):
        from concurrent.futures import ProcessPoolExecutor

        self.ahead = ahead or 2 * processes
        self.pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start, initargs=(tagger, threads))

    def map(self, fn: Callable, items: Iterable, payload: Callable = lambda item: item) -> Iterator[tuple]:
        """(item, fn(tagger, payload(item))) for each item, in order; fn must be a module-level function
        (or a partial of one), since it travels to the workers by pickle. An error reading `items` comes
        after the results of the items read before it."""
        pending: deque = deque()
        items, failure = iter(items), None
        while True:
            try:
                item = next(items)
            except StopIteration:
                break
            except Exception as e:  # the items read before it are still handed on, then the error
                failure = e
                break
            pending.append((item, self.pool.submit(_call, fn, payload(item))))
            if len(pending) >= self.ahead:
                item, future = pending.popleft()
                yield item, future.result()
        while pending:
            item, future = pending.popleft()
            yield item, future.result()
        if failure is not None:
            raise failure

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
