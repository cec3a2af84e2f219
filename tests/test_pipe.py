"""Tagger.pipe (lazy, ordered, tuples, processes), pickling by content, threads, and the batch writers."""
from __future__ import annotations

import json
import multiprocessing
import pickle

import pytest

from nerwin import writers
from nerwin.fast.threads import THREADS_ENV, threads_wanted
from nerwin.tagger import Tagger, load
from nerwin.views import displacy
from tests.helpers import SENTENCE, TOY_TEST

TEXTS = [SENTENCE, "Greyfen Corp fell .", "", "  odd   spacing \t here ", "Velmora \"quoted\" \\ é"]


def toy_lines(n: int | None = None) -> list[str]:
    from nerwin.data import read_conll

    return [" ".join(s.tokens) for s in read_conll(TOY_TEST)][:n]


def test_pipe_yields_in_input_order_in_any_batch_size(tiny_tagger):
    lines = toy_lines(300) + TEXTS
    expected = tiny_tagger.tag_texts(lines)
    for size in (1, 7, 512):
        assert list(tiny_tagger.pipe(lines, batch_size=size)) == expected


def test_pipe_is_lazy_and_yields_what_came_before_an_error(tiny_tagger):
    lines = toy_lines(10)

    def stream():
        yield from lines
        raise RuntimeError("the source broke")

    got = []
    with pytest.raises(RuntimeError, match="the source broke"):
        for entities in tiny_tagger.pipe(stream(), batch_size=4):
            got.append(entities)
    assert got == tiny_tagger.tag_texts(lines)

    def endless():
        while True:
            yield SENTENCE

    first = next(iter(tiny_tagger.pipe(endless(), batch_size=3)))  # never reads the whole stream
    assert first == tiny_tagger(SENTENCE)


def test_pipe_with_tuples_carries_contexts(tiny_tagger):
    lines = toy_lines(20)
    pairs = [(line, {"id": i}) for i, line in enumerate(lines)]
    out = list(tiny_tagger.pipe(pairs, batch_size=6, as_tuples=True))
    assert [c for _, c in out] == [{"id": i} for i in range(len(lines))]
    assert [e for e, _ in out] == tiny_tagger.tag_texts(lines)
    with pytest.raises(ValueError, match="pair"):
        list(tiny_tagger.pipe(["not a pair"], as_tuples=True))


def test_pipe_on_two_processes_equals_one(tiny_tagger):
    lines = toy_lines(400)
    assert list(tiny_tagger.pipe(lines, batch_size=50, n_process=2)) == tiny_tagger.tag_texts(lines)

    def stream():
        yield from lines[:30]
        raise RuntimeError("broke")

    got = []
    with pytest.raises(RuntimeError):
        for entities in tiny_tagger.pipe(stream(), batch_size=8, n_process=2):
            got.append(entities)
    assert got == tiny_tagger.tag_texts(lines[:30])


def test_pipe_checks_its_arguments(tiny_tagger):
    with pytest.raises(ValueError):
        list(tiny_tagger.pipe(TEXTS, batch_size=0))
    with pytest.raises(ValueError):
        list(tiny_tagger.pipe(TEXTS, n_process=0))


def _tag_in_child(blob: bytes, lines: list[str], queue) -> None:
    tagger = pickle.loads(blob)
    queue.put([[e.to_dict() for e in ents] for ents in tagger.tag_texts(lines)])


def test_a_pickled_tagger_tags_the_same_in_a_spawned_process(tiny_model, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    tagger = load(folder)
    blob = pickle.dumps(tagger)
    shutil.rmtree(folder)  # the copy must not need the folder it came from
    assert len(blob) < 2 * sum(p.stat().st_size for p in tiny_model.iterdir())  # the files' content, no more
    lines = toy_lines(200) + TEXTS
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_tag_in_child, args=(blob, lines, queue))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert got == [[e.to_dict() for e in ents] for ents in tagger.tag_texts(lines)]


def test_a_damaged_pickle_is_refused_like_a_damaged_folder(tiny_tagger):
    from nerwin.errors import NerwinError
    from nerwin.tagger import _from_contents

    files = pickle.loads(pickle.dumps(tiny_tagger)).__reduce__()[1][0]
    with pytest.raises(NerwinError, match="weights.safetensors"):
        _from_contents({**files, "weights.safetensors": b"junk"}, True, None)


def test_threads_come_from_the_argument_or_the_environment(tiny_model, monkeypatch):
    lines = toy_lines(300)
    monkeypatch.setenv(THREADS_ENV, "1")
    one = load(tiny_model)
    assert one.threads == 1 and threads_wanted() == 1
    monkeypatch.delenv(THREADS_ENV)
    two = load(tiny_model, threads=2)
    assert two.threads == 2
    assert one.tag_texts(lines) == two.tag_texts(lines)
    assert pickle.loads(pickle.dumps(two)).threads == 2
    with pytest.raises(ValueError):
        load(tiny_model, threads=0)
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match=THREADS_ENV):
        threads_wanted()


# ---- writers: a batch at once, equal to the record-at-a-time output --------------------------------

def _bracketed(line, entities) -> str:
    parts, at = [], 0
    for e in entities:
        parts += [line[at:e.start], f"[{e.text}]{e.label}"]
        at = e.end
    return "".join(parts) + line[at:]


def _conll(tokens, entities) -> str:
    rows = []
    for text, start, end in tokens:
        inside = [e for e in entities if e.start <= start and end <= e.end]
        tag = "O" if not inside else ("B-" if inside[0].start == start else "I-") + inside[0].label
        rows.append(f"{text}\t{tag}\n")
    return "".join(rows)


@pytest.mark.parametrize("min_score", [0.0, 0.9])
def test_writers_equal_the_plain_record_at_a_time_output(tiny_tagger: Tagger, min_score):
    lines = toy_lines(200) + TEXTS
    flat = tiny_tagger.tag_flat(lines, min_score, tokens=True)
    spans, entities = tiny_tagger.tokens_and_entities(lines, min_score)
    assert flat.entities() == entities
    assert writers.text(flat) == "".join(_bracketed(t, e) + "\n" for t, e in zip(lines, entities))
    assert writers.json_lines(flat) == "".join(
        json.dumps({"text": t, "entities": [x.to_dict() for x in e]}, ensure_ascii=False) + "\n"
        for t, e in zip(lines, entities))
    assert writers.conll(flat) == "".join(_conll(s, e) + "\n" for s, e in zip(spans, entities))
    assert writers.displacy(flat) == "".join(json.dumps(displacy(t, e), ensure_ascii=False) + "\n"
                                             for t, e in zip(lines, entities))
    records = [{"id": i, "text": t, "entities": "old"} if i % 2 else {"id": i, "text": t} for i, t in enumerate(lines)]
    assert writers.json_lines(flat, records) == "".join(
        json.dumps({**r, "entities": [x.to_dict() for x in e]}, ensure_ascii=False) + "\n"
        for r, e in zip(records, entities))
