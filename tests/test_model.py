"""The window network: shapes, its settings written and read in one place, copies."""
from __future__ import annotations

import numpy as np
import pytest

from nerwin.autodiff import gradcheck
from nerwin.autodiff.tensor import no_grad
from nerwin.model import WindowModel


def _model(**kw) -> WindowModel:
    return WindowModel([30, 7], [4, 2], 5, 16, 9, "tanh", 0.5, np.random.default_rng(0), **kw)


def test_forward_scores_every_window():
    model = _model(crf=True, input_dropout=0.2).eval()
    rng = np.random.default_rng(1)
    windows = [rng.integers(0, 30, size=(11, 5)), rng.integers(0, 7, size=(11, 5))]
    with no_grad():
        scores = model(windows).data
    assert scores.shape == (11, 9) and np.isfinite(scores).all()
    assert {"start", "transitions", "end"} <= set(dict(model.named_parameters()))


def test_hparams_round_trip_gives_the_same_network():
    model = _model(crf=True, input_dropout=0.3)
    hp = model.hparams()
    assert hp == {"hidden": 16, "activation": "tanh", "dropout": 0.5, "crf": True, "input_dropout": 0.3}
    again = WindowModel.from_hparams(hp, [30, 7], [4, 2], 5, 9)
    again.load_state_dict(model.state_dict())
    rng = np.random.default_rng(2)
    windows = [rng.integers(0, 30, size=(6, 5)), rng.integers(0, 7, size=(6, 5))]
    with no_grad():
        np.testing.assert_array_equal(model.eval()(windows).data, again.eval()(windows).data)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="unknown activation"):
        WindowModel([5], [2], 3, 4, 3, "swish", 0.0, np.random.default_rng(0))


def test_a_copy_keeps_its_weights_when_the_original_trains_on():
    model = _model()
    twin = model.copy()
    assert not twin.training
    model.hidden.weight.data *= 2
    assert not np.array_equal(twin.hidden.weight.data, model.hidden.weight.data)


def test_the_whole_model_loss_passes_gradcheck():
    from nerwin.autodiff import functions as F

    model = WindowModel([6, 3], [3, 2], 3, 5, 4, "tanh", 0.0, np.random.default_rng(3)).eval()
    rng = np.random.default_rng(4)
    windows = [rng.integers(0, 6, size=(7, 3)), rng.integers(0, 3, size=(7, 3))]
    targets = rng.integers(0, 4, size=7)
    start = [model.embeddings[0].weight.data, model.hidden.weight.data, model.output.weight.data]

    def loss(table, w1, w2):  # the window network's loss as a function of three of its weights
        model.embeddings[0].weight, model.hidden.weight, model.output.weight = table, w1, w2
        return F.cross_entropy(model(windows), targets)

    assert gradcheck(loss, *start)
