"""An HTTP tagging service: a small Starlette app over one loaded tagger, with a micro-batcher.

    app = create_app(nerwin.load())          # then run it with any ASGI server, e.g. uvicorn

Requests put their texts on a queue; one asyncio task takes what is waiting, tags it in ONE call on a
worker thread (so the event loop keeps accepting and parsing while the network runs) and hands each
request its own results, in order. When the server is idle a request is dispatched at once; while a
batch is being tagged the next requests queue up and go together (up to `max_batch` requests). After a
batch of several requests the batcher may also wait up to `max_wait_ms` for more; the default is not to
wait: the requests that arrive while a batch is tagged make the next batch anyway, and a wait of 2 ms
halved the throughput of 8 clients here (2,500-2,800 -> 1,100-1,300 one-sentence requests/s).

Endpoints: `POST /tag` with `{"text": str}`, `{"texts": [str, ...]}` or `{"tokens": [[str, ...], ...]}`;
`GET /health`; `GET /info`; `GET /stats` (what the batcher has done: batches, requests, texts, and the
tagging thread's wall and CPU seconds). Every error answers JSON `{"error": "..."}`.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

WARM_UP = "Samuel Quinn was arrested in the Hilton Hotel in Paris in April 1989 ."
MAX_BODY_BYTES = 1_000_000
MAX_TEXT_CHARS = 100_000
MAX_TEXTS = 1_000


class _Job:
    """One request's items (strings or token lists) and the future its results go to."""
    __slots__ = ("items", "future")

    def __init__(self, items: list, future: asyncio.Future):
        self.items, self.future = items, future


class Batcher:
    """Collects jobs from concurrent requests and tags them together on one worker thread."""

    def __init__(self, tagger, *, max_wait_ms: float = 0.0, max_batch: int = 64):
        self.tagger = tagger
        self.max_wait = max_wait_ms / 1000
        self.max_batch = max_batch
        self.queue: asyncio.Queue[_Job] | None = None
        self.task: asyncio.Task | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.blas_limit = None
        # counters since start (updated on the event loop; the seconds are measured on the tagging thread)
        self.stats = {"batches": 0, "requests": 0, "texts": 0, "tag_seconds": 0.0, "tag_cpu_seconds": 0.0}

    async def start(self) -> None:
        # BLAS on one thread while serving: a request's batch is small, and OpenBLAS's second thread would
        # spin after every product on the core the event loop needs (measured: 0.93 -> 0.49 ms of server CPU
        # a one-sentence request at 64 clients); big batches still split over the cores (nerwin.fast.threads)
        from threadpoolctl import threadpool_limits

        self.blas_limit = threadpool_limits(1, user_api="blas")
        self.queue = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="nerwin-tag")
        # one batch big enough for the compiled paths before the first request: loading the kernels
        # (~0.7 s) would otherwise land on the first big batch's callers (measured: p99 613 ms for eight
        # clients of 50-sentence requests on a fresh server, 35-45 ms once warm); once loaded, the kernels
        # also take the small batches (nerwin.decode.small), ~10x faster there than the numpy twins
        await asyncio.get_running_loop().run_in_executor(self.executor, self.tagger.tag_texts, [WARM_UP] * 64)
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        if self.blas_limit is not None:
            self.blas_limit.restore_original_limits()
            self.blas_limit = None

    async def tag(self, items: list) -> list:
        """Entity lists of `items`, tagged in a batch with whatever else is waiting."""
        if self.queue is None:
            raise RuntimeError("the batcher is not running (start the app's lifespan)")
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(items, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        busy = False  # the last batch held several requests: wait a little for company
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            if busy and len(batch) < self.max_batch and self.max_wait > 0:
                deadline = loop.time() + self.max_wait
                while len(batch) < self.max_batch:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(self.queue.get(), left))
                    except asyncio.TimeoutError:
                        break
            busy = len(batch) > 1
            batch = [job for job in batch if not job.future.done()]  # callers gone
            if not batch:
                continue
            results, wall, cpu = await loop.run_in_executor(self.executor, self._timed, batch)
            stats = self.stats
            stats["batches"] += 1
            stats["requests"] += len(batch)
            stats["texts"] += sum(len(job.items) for job in batch)
            stats["tag_seconds"] += wall
            stats["tag_cpu_seconds"] += cpu
            for job, result in zip(batch, results):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _timed(self, batch: list[_Job]) -> tuple[list, float, float]:
        wall, cpu = time.perf_counter(), time.thread_time()
        results = self._tag_batch(batch)
        return results, time.perf_counter() - wall, time.thread_time() - cpu

    def _tag_batch(self, batch: list[_Job]) -> list:
        """Each job's entity lists from one tagging call; if that call fails, each job alone, so only
        the job that fails gets the exception."""
        items = [item for job in batch for item in job.items]
        try:
            entities = self.tagger.tag_texts(items)
        except Exception as e:
            if len(batch) == 1:
                return [e]
            out = []
            for job in batch:
                try:
                    out.append(self.tagger.tag_texts(job.items))
                except Exception as err:
                    out.append(err)
            return out
        out, at = [], 0
        for job in batch:
            out.append(entities[at:at + len(job.items)])
            at += len(job.items)
        return out


class BadInput(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _parse(body: bytes, max_text_chars: int, max_texts: int) -> tuple[str, list]:
    """(kind, items) of a /tag body: kind is "text", "texts" or "tokens"; BadInput if it is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(400, f"invalid JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadInput(422, 'the body must be a JSON object with one of "text", "texts" or "tokens"')
    keys = set(data) & {"text", "texts", "tokens"}
    if len(keys) != 1 or set(data) - keys:
        unknown = sorted(set(data) - {"text", "texts", "tokens"})
        extra = f" (unknown fields: {', '.join(unknown)})" if unknown else ""
        raise BadInput(422, f'give exactly one of "text", "texts" or "tokens"{extra}')
    kind = keys.pop()
    value = data[kind]
    if kind == "text":
        if not isinstance(value, str):
            raise BadInput(422, '"text" must be a string')
        items = [value]
    elif kind == "texts":
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise BadInput(422, '"texts" must be a list of strings')
        items = value
    else:
        if not isinstance(value, list) or not all(
                isinstance(s, list) and all(isinstance(t, str) for t in s) for s in value):
            raise BadInput(422, '"tokens" must be a list of sentences, each a list of strings')
        for i, sentence in enumerate(value):
            for token in sentence:
                if not token or token.split() != [token]:
                    raise BadInput(422, f'"tokens": sentence {i} has a token that is empty or holds '
                                        f'whitespace: {token!r}')
        items = value
    if len(items) > max_texts:
        raise BadInput(413, f"too many texts: {len(items)} > max_texts {max_texts}")
    for i, item in enumerate(items):
        n = len(item) if isinstance(item, str) else sum(map(len, item)) + max(len(item) - 1, 0)
        if n > max_text_chars:
            raise BadInput(413, f"text {i} is too long: {n} characters > max_text_chars {max_text_chars}")
    return kind, items


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BadInput(413, f"body too large: {declared} bytes > max_body_bytes {limit}")
        except ValueError:
            raise BadInput(400, "invalid Content-Length") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadInput(413, f"body too large: more than max_body_bytes {limit}")
        chunks.append(chunk)
    return b"".join(chunks)


def info(tagger, model_path: str | Path | None = None) -> dict:
    """What /info answers: tags, entity labels, the model's scores (if its folder has them), versions."""
    from . import __version__

    config = tagger.config
    out = {"nerwin_version": __version__, "model_nerwin_version": config.get("nerwin_version"),
           "task": config.get("task"), "tags": list(tagger.tags),
           "labels": sorted({t[2:] for t in tagger.tags if t != "O"})}
    if "dev" in config:
        out["dev"] = config["dev"]
    if model_path is not None:
        scores = Path(model_path) / "scores.json"
        if scores.is_file():
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(scores.read_text(encoding="utf-8"))
                for split in ("dev", "test"):
                    if isinstance(data.get(split), dict):
                        out[split] = {k: v for k, v in data[split].items() if k != "per_type"}
    return out


def create_app(tagger, *, model_path: str | Path | None = None, max_wait_ms: float = 0.0, max_batch: int = 64,
               max_body_bytes: int = MAX_BODY_BYTES, max_text_chars: int = MAX_TEXT_CHARS,
               max_texts: int = MAX_TEXTS) -> Starlette:
    """The service over `tagger` (see the module docstring)."""
    batcher = Batcher(tagger, max_wait_ms=max_wait_ms, max_batch=max_batch)
    about = info(tagger, model_path)
    about["limits"] = {"max_body_bytes": max_body_bytes, "max_text_chars": max_text_chars, "max_texts": max_texts,
                       "max_wait_ms": max_wait_ms, "max_batch": max_batch}

    async def tag(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _error(415, f"Content-Type must be application/json, not {ctype or 'missing'}")
        try:
            body = await _read_body(request, max_body_bytes)
            kind, items = _parse(body, max_text_chars, max_texts)
        except BadInput as e:
            return _error(e.status, e.message)
        try:
            entities = await batcher.tag(items)
        except Exception as e:
            return _error(500, f"tagging failed: {type(e).__name__}: {e}")
        if kind == "text":
            return JSONResponse({"text": items[0], "entities": [e.to_dict() for e in entities[0]]})
        key = "text" if kind == "texts" else "tokens"
        return JSONResponse({"results": [{key: item, "entities": [e.to_dict() for e in ents]}
                                         for item, ents in zip(items, entities)]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def info_endpoint(request: Request) -> Response:
        return JSONResponse(about)

    async def stats(request: Request) -> Response:
        return JSONResponse(batcher.stats)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, exc.detail)

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, f"internal error: {type(exc).__name__}")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = Starlette(routes=[Route("/tag", tag, methods=["POST"]), Route("/health", health, methods=["GET"]),
                            Route("/info", info_endpoint, methods=["GET"]),
                            Route("/stats", stats, methods=["GET"])],
                    exception_handlers={HTTPException: http_error, Exception: server_error}, lifespan=lifespan)
    app.state.batcher = batcher
    return app


def app_from_env() -> Starlette:
    """The app for `uvicorn --factory` (used by `nerwin serve --workers N`, one model per worker process):
    settings from NERWIN_SERVE_* environment variables."""
    from .tagger import default_model_path, load

    model = os.environ.get("NERWIN_SERVE_MODEL") or None
    settings = json.loads(os.environ.get("NERWIN_SERVE_SETTINGS", "{}"))
    return create_app(load(model), model_path=model or default_model_path(), **settings)
