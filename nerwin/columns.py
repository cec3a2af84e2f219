"""Entity columns for batch engines: Ray Data (`Dataset.map_batches`) and Hugging Face `datasets`
(`Dataset.map(batched=True, num_proc=N)`), the engines that spread a corpus over processes and machines.

`EntityColumns` is a callable class. Given to Ray's `map_batches` as the class itself, Ray makes one
instance per actor, so the model is loaded once per actor and never per batch; given to `datasets.map` as
an instance, it is pickled to each worker process, and the tagger inside travels by its model files'
content (`Tagger.__reduce__`), so the workers need no model folder. Each batch gets a column of entities,
a list of {"text", "label", "start", "end", "score"} per row; every other column is kept.

    import ray
    from nerwin.columns import EntityColumns

    ray.init()                                   # or ray.init(address="auto") on a cluster
    ds = ray.data.read_json("corpus/*.jsonl")    # any Ray Data source with a text column
    ds = ds.map_batches(EntityColumns, fn_constructor_kwargs={"text_column": "text"},
                        batch_size=512, concurrency=4, num_cpus=1)
    ds.write_json("tagged/")

Ray is an optional extra (`pip install "nerwin[ray]"`); nothing here imports it.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["EntityColumns"]


class EntityColumns:
    """Adds the entities of each row's `text_column` as `column`. `model`: a model folder, a loaded
    `Tagger` (pickled by content to where it runs), or None for the shipped model. `threads`: the
    threads one instance tags on (one per actor or worker by default: give the engine's workers the
    cores, e.g. Ray's `num_cpus=N` with `threads=N`)."""

    def __init__(self, model=None, text_column: str = "text", column: str = "entities", min_score: float = 0.0,
                 threads: int = 1):
        from .tagger import Tagger, load

        if isinstance(model, Tagger):
            model.threads = threads
            self.tagger = model
        else:
            self.tagger = load(Path(model) if model is not None else None, threads=threads)
        self.text_column, self.column, self.min_score = text_column, column, min_score

    def __call__(self, batch):
        """A batch (a dict of columns, as Ray's numpy format and `datasets` give, or a pandas DataFrame)
        with the entity column added."""
        texts = [str(t) for t in batch[self.text_column]]
        entities = [[e.to_dict() for e in found] for found in self.tagger.tag_texts(texts, self.min_score)]
        if hasattr(batch, "assign"):  # pandas
            return batch.assign(**{self.column: entities})
        return {**batch, self.column: entities}
