"""Presets: plain `nerwin train` trains the default preset, `--preset classic` the plain window model, and
options typed on the command line override either."""
from __future__ import annotations

import pytest

import nerwin.training
from nerwin.errors import NerwinError
from nerwin.train_config import PRESETS, TrainConfig
from nerwin.training import TrainResult
from tests.helpers import TOY, fails, ok, run


def test_the_default_preset_is_the_shipped_configuration_and_classic_row_1():
    default, classic = TrainConfig(), TrainConfig.preset("classic")
    assert TrainConfig.preset("default") == default
    # the shipped model's flags (README, "The shipped model") plus the dev-chosen O offset
    assert (default.suffix_dim, default.prefix_dim, default.shape_dim) == (20, 10, 10)
    assert default.features == {"suffix2": 10, "suffix4": 10, "prefix2": 5, "prefix4": 10}
    assert default.crf and default.input_dropout == 0.4 and default.average == 3 and default.calibrate
    # the classic model: words + caps, word-level softmax (row 1 of the ablation)
    assert classic.feature_dims() == {"word": 50, "caps": 5}
    assert not classic.crf and classic.input_dropout == 0 and classic.average == 0 and not classic.calibrate
    assert TrainConfig.preset("classic", crf=True).crf
    default.features["suffix5"] = 3  # presets hand out fresh dicts
    assert "suffix5" not in TrainConfig().features
    with pytest.raises(NerwinError, match="unknown preset 'fancy'"):
        TrainConfig.preset("fancy")
    assert set(PRESETS) == {"default", "classic"}


@pytest.fixture
def seen(monkeypatch) -> dict:
    """What `nerwin train` hands to `nerwin.training.train` (which does not run)."""
    got: dict = {}

    def fake_train(corpus, out, config, **kwargs):
        got.update(config=config, **kwargs)
        return TrainResult(50.0, 1, 1, False, 0.1, 1000.0, out, [])

    monkeypatch.setattr(nerwin.training, "train", fake_train)
    return got


@pytest.mark.parametrize("args, expected", [
    ([], TrainConfig()),
    (["--preset", "default"], TrainConfig()),
    (["--preset", "classic"], TrainConfig.preset("classic")),
    (["--preset", "classic", "--crf", "--feature", "suffix2=10"],
     TrainConfig.preset("classic", crf=True, features={"suffix2": 10})),
    (["--no-crf", "--hidden", "100", "--seed", "3"], TrainConfig(crf=False, hidden=100, seed=3)),
    (["--preset", "classic", "--calibrate"], TrainConfig.preset("classic", calibrate=True)),
    (["--no-calibrate"], TrainConfig(calibrate=False)),
    (["-p", "classic", "--epochs", "30", "--suffix-dim", "20"], TrainConfig.preset("classic", suffix_dim=20)),
    (["--binary-loc"], TrainConfig(task="binary", crf=False)),
])
def test_options_given_override_the_preset(seen, tmp_path, args, expected):
    ok(run("train", tmp_path / "m", "--data", TOY, "--quiet", *args))
    assert seen["config"] == expected


def test_the_command_is_recorded_as_typed_without_absolute_paths(seen, tmp_path):
    ok(run("train", tmp_path / "m", "--data", TOY.resolve(), "-p", "classic", "--feature", "suffix2=10",
           "--feature", "prefix2=5", "--no-crf", "--quiet"))
    command = seen["command"]
    assert command.startswith("nerwin train ")
    assert "--preset classic" in command and "--feature suffix2=10 --feature prefix2=5" in command
    assert "--no-crf" in command and "--quiet" in command
    assert str(tmp_path) not in command and str(TOY.resolve()) not in command
    assert not any(word.startswith("/") for word in command.split())


def test_an_unknown_preset_is_one_line(tmp_path):
    fails(run("train", tmp_path / "m", "--data", TOY, "--preset", "fancy"), "fancy", "default", "classic")
    assert not (tmp_path / "m").exists()

