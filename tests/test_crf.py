"""The sentence-level (CRF) loss op (`nerwin.crf`): its kernel against brute-force enumeration in numpy,
its gradients against central differences, and a CRF tagger trained, saved and loaded end to end.
(Viterbi and the marginals: tests/test_decode.py.)"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerwin.autodiff import gradcheck
from nerwin.crf import crf_nll
from nerwin.tags import spans
from tests.helpers import TINY


def _path_score(scores, start, trans, end, path, at):
    n = len(path)
    return (start[path[0]] + end[path[-1]] + sum(scores[at + t, path[t]] for t in range(n))
            + sum(trans[path[t - 1], path[t]] for t in range(1, n)))


def _brute_nll(scores, start, trans, end, lengths, targets):
    k, total, at = scores.shape[1], 0.0, 0
    for n in lengths:
        all_paths = [_path_score(scores, start, trans, end, p, at) for p in itertools.product(range(k), repeat=n)]
        log_z = np.logaddexp.reduce(all_paths)
        total += log_z - _path_score(scores, start, trans, end, targets[at:at + n], at)
        at += n
    return total


chains = st.lists(st.integers(1, 4), min_size=1, max_size=3)


@settings(max_examples=20, deadline=None)
@given(lengths=chains, k=st.integers(2, 3), seed=st.integers(0, 10_000))
def test_crf_loss_equals_enumeration_over_all_paths(lengths, k, seed):
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    scores, start, trans, end = rng.normal(size=(n, k)), rng.normal(size=k), rng.normal(size=(k, k)), rng.normal(size=k)
    targets = rng.integers(0, k, size=n)
    got = crf_nll(scores, start, trans, end, lengths, targets, reduction="sum").item()
    assert got == pytest.approx(_brute_nll(scores, start, trans, end, lengths, targets), rel=1e-5)


@settings(max_examples=10, deadline=None)
@given(lengths=chains, seed=st.integers(0, 10_000))
def test_crf_gradients_match_central_differences(lengths, seed):
    rng = np.random.default_rng(seed)
    n, k = sum(lengths), 3
    targets = rng.integers(0, k, size=n)
    assert gradcheck(lambda s, a, t, e: crf_nll(s, a, t, e, lengths, targets), rng.normal(size=(n, k)),
                     rng.normal(size=k), rng.normal(size=(k, k)), rng.normal(size=k))


def test_crf_tagger_trains_saves_and_loads(tmp_path, toy_corpus):
    from dataclasses import replace

    import nerwin
    from nerwin.training import train

    result = train(toy_corpus, tmp_path / "crf", replace(TINY, crf=True))
    assert result.best_dev_f1 > 85
    tagger = nerwin.load(tmp_path / "crf")
    assert tagger.model.crf and tagger.config["network"]["crf"] is True
    sentences = [s.tokens for s in toy_corpus["test"][:50]]
    tags = tagger.tag_tokens(sentences)
    for seq in tags:  # always valid IOB2: every I-X continues an X
        for s, _, label in spans(seq):
            assert seq[s] == f"B-{label}"
    np.testing.assert_array_equal(tagger.model.transitions.data, nerwin.load(tmp_path / "crf").model.transitions.data)


def test_empty_chains_add_nothing_and_mean_divides_by_positions():
    rng = np.random.default_rng(3)
    k, lengths = 4, [3, 1, 2]
    n = sum(lengths)
    scores, start, trans, end = rng.normal(size=(n, k)), rng.normal(size=k), rng.normal(size=(k, k)), rng.normal(size=k)
    targets = rng.integers(0, k, size=n)
    total = crf_nll(scores, start, trans, end, lengths, targets, reduction="sum").item()
    with_empty = crf_nll(scores, start, trans, end, [0, 3, 0, 1, 2, 0], targets, reduction="sum").item()
    assert with_empty == pytest.approx(total, rel=1e-6)
    assert crf_nll(scores, start, trans, end, lengths, targets).item() == pytest.approx(total / n, rel=1e-6)


def test_crf_nll_rejects_mismatched_inputs():
    scores, k = np.zeros((4, 3)), 3
    with pytest.raises(ValueError, match="lengths must add up"):
        crf_nll(scores, np.zeros(k), np.zeros((k, k)), np.zeros(k), [2, 1], np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="one target per row"):
        crf_nll(scores, np.zeros(k), np.zeros((k, k)), np.zeros(k), [4], np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="reduction"):
        crf_nll(scores, np.zeros(k), np.zeros((k, k)), np.zeros(k), [4], np.zeros(4, dtype=int), reduction="max")
