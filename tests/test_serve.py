"""`nerwin serve`: answers equal the in-process tagger's, every bad input has its status and a JSON error,
a failing tagging call fails only its own request, concurrent requests are batched, and the real server
(a subprocess on a free loopback port) holds up: 200 concurrent requests, idle latency, SIGTERM draining."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from nerwin.serve import Batcher, create_app  # noqa: E402
from tests.helpers import SENTENCE, read_toy_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LIMITS = {"max_body_bytes": 20_000, "max_text_chars": 2_000, "max_texts": 100}
JSON = {"content-type": "application/json"}


def texts(n: int) -> list[str]:
    sentences = [" ".join(s.tokens) for s in read_toy_corpus()["test"]]
    return [sentences[i % len(sentences)] for i in range(n)]


def expected(tagger, text: str) -> dict:
    return {"text": text, "entities": [e.to_dict() for e in tagger.tag_texts([text])[0]]}


# (name, method, path, headers, body, status, words the error names)
BAD = [
    ("unknown path", "GET", "/nope", {}, None, 404, "Not Found"),
    ("wrong method", "GET", "/tag", {}, None, 405, "Method Not Allowed"),
    ("wrong content type", "POST", "/tag", {"content-type": "text/plain"}, b'{"text": "a"}', 415, "application/json"),
    ("no content type", "POST", "/tag", {}, b'{"text": "a"}', 415, "application/json"),
    ("invalid JSON", "POST", "/tag", JSON, b'{"text": ', 400, "invalid JSON"),
    ("not UTF-8", "POST", "/tag", JSON, b'{"text": "\xff"}', 400, "invalid JSON"),
    ("empty body", "POST", "/tag", JSON, b"", 400, "invalid JSON"),
    ("not an object", "POST", "/tag", JSON, b'["a"]', 422, "JSON object"),
    ("no field", "POST", "/tag", JSON, b"{}", 422, "exactly one of"),
    ("two fields", "POST", "/tag", JSON, b'{"text": "a", "texts": ["b"]}', 422, "exactly one of"),
    ("unknown field", "POST", "/tag", JSON, b'{"text": "a", "lang": "en"}', 422, "lang"),
    ("text not a string", "POST", "/tag", JSON, b'{"text": 3}', 422, '"text" must be a string'),
    ("texts not strings", "POST", "/tag", JSON, b'{"texts": ["a", 1]}', 422, '"texts" must be a list'),
    ("texts a string", "POST", "/tag", JSON, b'{"texts": "a"}', 422, '"texts" must be a list'),
    ("tokens flat", "POST", "/tag", JSON, b'{"tokens": ["a", "b"]}', 422, '"tokens" must be'),
    ("token with space", "POST", "/tag", JSON, b'{"tokens": [["a b"]]}', 422, "whitespace"),
    ("empty token", "POST", "/tag", JSON, b'{"tokens": [["a", ""]]}', 422, "empty"),
    ("body too large", "POST", "/tag", JSON, json.dumps({"text": "a " * 15_000}).encode(), 413, "max_body_bytes"),
    ("text too long", "POST", "/tag", JSON, json.dumps({"text": "a" * 2_001}).encode(), 413, "max_text_chars"),
    ("tokens too long", "POST", "/tag", JSON, json.dumps({"tokens": [["ab"] * 700]}).encode(), 413,
     "max_text_chars"),
    ("too many texts", "POST", "/tag", JSON, json.dumps({"texts": ["a"] * 101}).encode(), 413, "max_texts"),
]


def check_bad(client, case) -> None:
    name, method, path, headers, body, status, needle = case
    r = client.request(method, path, headers=headers, content=body)
    assert r.status_code == status, (name, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), name
    error = r.json()["error"]
    assert isinstance(error, str) and needle in error, (name, error)


# ---- in process --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(tiny_tagger, tiny_model):
    with TestClient(create_app(tiny_tagger, model_path=tiny_model, **LIMITS)) as c:
        yield c


def test_answers_equal_the_in_process_tagger(client, tiny_tagger):
    some = texts(20) + ["", "   ", "Ünïcode Straße in Köln ."]
    for text in some[:5] + some[-3:]:
        r = client.post("/tag", json={"text": text})
        assert r.status_code == 200 and r.json() == expected(tiny_tagger, text)
    r = client.post("/tag", json={"texts": some})
    assert r.status_code == 200 and r.json() == {"results": [expected(tiny_tagger, t) for t in some]}
    sentences = [t.split() for t in some if t.strip()]
    r = client.post("/tag", json={"tokens": sentences})
    want = [{"tokens": s, "entities": [e.to_dict() for e in ents]}
            for s, ents in zip(sentences, tiny_tagger.tag_texts(sentences))]
    assert r.status_code == 200 and r.json() == {"results": want}
    for s, res in zip(sentences, r.json()["results"]):  # offsets into the tokens joined by single spaces
        assert all(" ".join(s)[e["start"]:e["end"]] == e["text"] for e in res["entities"])


def test_health_and_info(client, tiny_tagger):
    assert client.get("/health").json() == {"status": "ok"}
    about = client.get("/info").json()
    import nerwin

    assert about["nerwin_version"] == nerwin.__version__
    assert about["tags"] == list(tiny_tagger.tags)
    assert set(about["labels"]) == {t[2:] for t in tiny_tagger.tags if t != "O"}
    assert about["dev"]["f1"] == tiny_tagger.config["dev"]["f1"]
    assert about["limits"]["max_texts"] == LIMITS["max_texts"]


def test_stats_count_what_the_batcher_tagged(tiny_tagger):
    with TestClient(create_app(tiny_tagger)) as c:
        before = c.get("/stats").json()
        c.post("/tag", json={"text": SENTENCE})
        c.post("/tag", json={"texts": texts(5)})
        after = c.get("/stats").json()
    assert after["requests"] - before["requests"] == 2
    assert after["texts"] - before["texts"] == 6
    assert after["batches"] - before["batches"] == 2  # one client, one request at a time
    assert after["tag_seconds"] > before["tag_seconds"] and after["tag_cpu_seconds"] > before["tag_cpu_seconds"]


@pytest.mark.reliability
@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_in_process(client, case):
    check_bad(client, case)
    assert client.post("/tag", json={"text": SENTENCE}).status_code == 200


class Flaky:
    """A tagger that raises for any text containing "boom" and counts its calls."""

    def __init__(self, tagger):
        self.tagger, self.tags, self.config, self.calls = tagger, tagger.tags, tagger.config, []

    def tag_texts(self, items):
        items = list(items)
        self.calls.append(len(items))
        time.sleep(0.01)  # long enough that concurrent requests queue up behind a call
        if any("boom" in t for t in items if isinstance(t, str)):
            raise RuntimeError("boom")
        return self.tagger.tag_texts(items)


@pytest.mark.reliability
def test_a_tagging_exception_fails_only_its_request(tiny_tagger):
    with TestClient(create_app(Flaky(tiny_tagger))) as c:
        r = c.post("/tag", json={"text": "boom goes the tagger"})
        assert r.status_code == 500 and "boom" in r.json()["error"]
        assert c.post("/tag", json={"text": SENTENCE}).json() == expected(tiny_tagger, SENTENCE)


def test_concurrent_requests_share_tagging_calls_and_a_failure_stays_in_its_request(tiny_tagger):
    flaky = Flaky(tiny_tagger)
    some = texts(30)

    async def main():
        batcher = Batcher(flaky, max_wait_ms=2, max_batch=64)
        await batcher.start()
        try:
            good = await asyncio.gather(*[batcher.tag([t]) for t in some])
            calls = len(flaky.calls)
            jobs = [batcher.tag([t]) for t in some] + [batcher.tag(["boom"])] + [batcher.tag(some[:3])]
            return good, calls, await asyncio.gather(*jobs, return_exceptions=True)
        finally:
            await batcher.stop()

    good, calls, results = asyncio.run(main())
    assert good == [tiny_tagger.tag_texts([t]) for t in some]
    assert calls < len(some) // 2, flaky.calls  # batched, not one call a request
    for text, got in zip(some, results):
        assert got == tiny_tagger.tag_texts([text])
    assert isinstance(results[-2], RuntimeError)
    assert results[-1] == tiny_tagger.tag_texts(some[:3])


def test_serve_without_the_extra_says_which_to_install(monkeypatch):
    from typer.testing import CliRunner

    from nerwin.cli import app

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1
    assert result.stderr.strip() == 'error: nerwin serve needs the serve extra: pip install "nerwin[serve]"'


# ---- a real server in a subprocess -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nerwin.cli", "serve", "--model", str(model), "--port", str(self.port), *args],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"server did not start: {self.proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            pipe.close()


@pytest.fixture(scope="module")
def server(tiny_model):
    s = Server(tiny_model, *[f"--{k.replace('_', '-')}={v}" for k, v in LIMITS.items()])
    try:
        yield s
    finally:
        s.stop()


def test_server_answers_equal_the_in_process_tagger(server, tiny_tagger):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for text in texts(10):
            assert c.post("/tag", json={"text": text}).json() == expected(tiny_tagger, text)
        assert c.post("/tag", json={"texts": texts(40)}).json() == {
            "results": [expected(tiny_tagger, t) for t in texts(40)]}


@pytest.mark.reliability
def test_server_bad_input(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for case in BAD:
            check_bad(c, case)
        assert c.post("/tag", json={"text": SENTENCE}).status_code == 200


def test_server_200_concurrent_requests(server, tiny_tagger):
    some = texts(200)

    async def main():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as c:
            return await asyncio.gather(*[c.post("/tag", json={"text": t}) for t in some])

    answers = asyncio.run(asyncio.wait_for(main(), 60))
    assert [r.status_code for r in answers] == [200] * len(some)
    assert [r.json() for r in answers] == [expected(tiny_tagger, t) for t in some]


def test_server_idle_single_request_is_fast(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for _ in range(5):  # warm up the connection and the model's first-call paths
            c.post("/tag", json={"text": SENTENCE})
        times = []
        for _ in range(15):
            time.sleep(0.02)  # idle between requests
            t = time.perf_counter()
            assert c.post("/tag", json={"text": SENTENCE}).status_code == 200
            times.append(time.perf_counter() - t)
    assert statistics.median(times) < 0.05, times


def raw_request(port: int, body: dict) -> socket.socket:
    """Connect, make sure the server has accepted the connection (one answered GET), then send a POST
    without waiting for its answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    read_response(s)
    data = json.dumps(body).encode()
    s.sendall(b"POST /tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
    return s


def read_response(s: socket.socket) -> tuple[int, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {buf!r}")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = next(int(v) for k, v in (x.split(":", 1) for x in lines[1:]) if k.strip().lower() == "content-length")
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-answer")
        body += chunk
    return int(lines[0].split()[1]), body


@pytest.mark.reliability
def test_sigterm_drains_in_flight_requests_and_exits_0(tiny_model, tiny_tagger):
    s = Server(tiny_model)
    socks = []
    try:
        big = texts(50)
        socks = [raw_request(s.port, {"texts": big}) for _ in range(40)]
        time.sleep(0.05)  # the requests have reached the server; many are queued behind the first batch
        s.proc.send_signal(signal.SIGTERM)
        want = {"results": [expected(tiny_tagger, t) for t in big]}
        for sock in socks:
            status, body = read_response(sock)
            assert status == 200 and json.loads(body) == want
        assert s.proc.wait(30) == 0
        with pytest.raises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
    finally:
        for sock in socks:
            sock.close()
        s.stop()


@pytest.mark.reliability
def test_workers_serve_and_sigterm_exits_0(tiny_model, tiny_tagger):
    s = Server(tiny_model, "--workers", "2")
    try:
        for text in texts(20):  # a new connection each, spread over the worker processes
            assert httpx.post(s.url + "/tag", json={"text": text}, timeout=10).json() == expected(tiny_tagger, text)
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(30) == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
    finally:
        s.stop()
