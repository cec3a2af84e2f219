"""Past one process: Ray Data's map_batches with `EntityColumns` (one model per actor), and Hugging Face
`datasets.Dataset.map(num_proc=2)` with a nerwin tagger; both checked record by record against the
tagger in this process."""
from __future__ import annotations

import pytest

from nerwin.columns import EntityColumns
from nerwin.data import read_conll
from tests.helpers import TOY_TEST, TOY_TRAIN


def texts(n: int) -> list[str]:
    lines = [" ".join(s.tokens) for path in (TOY_TRAIN, TOY_TEST) for s in read_conll(path)]
    return (lines * (n // len(lines) + 1))[:n]


def expected(tagger, lines: list[str]) -> list[list[dict]]:
    return [[e.to_dict() for e in found] for found in tagger.tag_texts(lines)]


def test_entity_columns_adds_a_column_and_keeps_the_others(tiny_tagger):
    lines = texts(30)
    batch = {"id": list(range(30)), "text": lines}
    out = EntityColumns(tiny_tagger, threads=2)(batch)
    assert out["id"] == batch["id"] and out["text"] == lines
    assert out["entities"] == expected(tiny_tagger, lines)


def test_datasets_map_on_two_processes(tiny_model, tiny_tagger, tmp_path):
    datasets = pytest.importorskip("datasets")
    lines = texts(600)
    ds = datasets.Dataset.from_dict({"id": list(range(len(lines))), "text": lines})
    tagger = EntityColumns(str(tiny_model))  # pickled to the workers by its model files' content
    out = ds.map(tagger, batched=True, batch_size=64, num_proc=2, load_from_cache_file=False)
    assert out["id"] == list(range(len(lines)))
    assert out["entities"] == expected(tiny_tagger, lines)


@pytest.fixture(scope="module")
def ray_instance():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        pytest.skip('Ray cannot be imported here: pip install "nerwin[ray]" to run this test')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_map_batches_tags_every_record_as_the_tagger_here(ray_instance, tiny_model, tiny_tagger):
    ray = ray_instance
    lines = texts(3000)
    ds = ray.data.from_items([{"id": i, "text": line} for i, line in enumerate(lines)], override_num_blocks=4)
    tagged = ds.map_batches(EntityColumns, fn_constructor_kwargs={"model": str(tiny_model)}, batch_size=500,
                            compute=ray.data.ActorPoolStrategy(size=2), num_cpus=0.5)
    rows = sorted(tagged.take_all(), key=lambda row: row["id"])
    assert [row["text"] for row in rows] == lines
    assert [list(row["entities"]) for row in rows] == expected(tiny_tagger, lines)
