"""Decoding (`nerwin.decode`): Viterbi and the CRF marginals against brute-force enumeration, each kernel
against its numpy twin (the small-input path), the IOB2 transition constraints, and no numba import when
tagging one sentence. (Decoding tag sequences end to end: tests/test_tagger.py.)"""
from __future__ import annotations

import itertools
import subprocess
import sys
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nerwin import decode as decode_module
from nerwin.decode import FORBIDDEN, allowed_transitions, crf_marginals, viterbi
from nerwin.tags import TAGS_CONLL2003

FAST = settings(deadline=None, max_examples=25)
chains = st.lists(st.integers(1, 4), min_size=1, max_size=3)


def path_score(scores, start, trans, end, path, at):
    n = len(path)
    return (start[path[0]] + end[path[-1]] + sum(scores[at + t, path[t]] for t in range(n))
            + sum(trans[path[t - 1], path[t]] for t in range(1, n)))


def _kernels_always():
    """Within this context the kernels run for any input size (the numpy twins are off)."""
    return mock.patch.object(decode_module, "small", lambda rows, *kernels: False)


def _twins_always():
    """Within this context the numpy twins run for any input size, loaded kernels or not."""
    return mock.patch.object(decode_module, "small", lambda rows, *kernels: True)


@settings(max_examples=20, deadline=None)
@given(lengths=chains, seed=st.integers(0, 10_000))
def test_viterbi_finds_the_best_path(lengths, seed):
    rng = np.random.default_rng(seed)
    k = 3
    n = sum(lengths)
    scores, start, trans, end = rng.normal(size=(n, k)), rng.normal(size=k), rng.normal(size=(k, k)), rng.normal(size=k)
    got = viterbi(scores, np.array(lengths), start, trans, end)
    at = 0
    for m in lengths:
        best = max(itertools.product(range(k), repeat=m), key=lambda p: path_score(scores, start, trans, end, p, at))
        assert tuple(got[at:at + m]) == best
        at += m


@settings(max_examples=20, deadline=None)
@given(lengths=chains, k=st.integers(2, 3), seed=st.integers(0, 10_000))
def test_crf_marginals_match_enumeration_on_both_paths(lengths, k, seed):
    """Entity scores of CRF taggers are marginals p(y_t = j | sentence): check them by brute force."""
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    scores, start, trans, end = rng.normal(size=(n, k)), rng.normal(size=k), rng.normal(size=(k, k)), rng.normal(size=k)
    expected, at = np.zeros((n, k)), 0
    for m in lengths:
        paths = list(itertools.product(range(k), repeat=m))
        weights = np.exp([path_score(scores, start, trans, end, p, at) for p in paths])
        for p, w in zip(paths, weights / weights.sum()):
            for t, label in enumerate(p):
                expected[at + t, label] += w
        at += m
    with _twins_always():
        np.testing.assert_allclose(crf_marginals(scores, lengths, start, trans, end), expected, atol=1e-9)
    with _kernels_always():  # the compiled forward-backward
        np.testing.assert_allclose(crf_marginals(scores, lengths, start, trans, end), expected, atol=1e-9)


@FAST
@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=4), k=st.integers(1, 5),
       seed=st.integers(0, 10_000), ties=st.booleans())
def test_viterbi_kernel_and_numpy_paths_agree(lengths, k, seed, ties):
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    draw = (lambda *s: rng.integers(-2, 3, size=s).astype(float)) if ties else (lambda *s: rng.normal(size=s))
    scores, start, trans, end = draw(n, k), draw(k), draw(k, k), draw(k)
    with _kernels_always():
        by_kernel = viterbi(scores, np.array(lengths), start, trans, end)
    with _twins_always():
        np.testing.assert_array_equal(by_kernel, viterbi(scores, np.array(lengths), start, trans, end))


@FAST
@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=5), k=st.integers(1, 5),
       seed=st.integers(0, 10_000), scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_marginals_kernel_and_numpy_twin_agree_on_random_chains(lengths, k, seed, scale):
    """Length-0 and length-1 chains included: an empty chain has no rows, a one-word chain no transition."""
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    scores = rng.normal(0, scale, size=(n, k))
    start, trans, end = rng.normal(size=k), rng.normal(size=(k, k)), rng.normal(size=k)
    with _kernels_always():
        by_kernel = crf_marginals(scores, np.array(lengths), start, trans, end)
    with _twins_always():
        by_numpy = crf_marginals(scores, np.array(lengths), start, trans, end)
    assert by_kernel.shape == by_numpy.shape == (n, k)
    np.testing.assert_allclose(by_kernel, by_numpy, atol=1e-9)
    np.testing.assert_allclose(by_numpy.sum(axis=1), 1.0, atol=1e-9)


def test_length_zero_and_one_chains_on_both_paths():
    rng = np.random.default_rng(5)
    k, lengths = 3, np.array([0, 1, 0, 2, 1, 0])
    scores = rng.normal(size=(4, k))
    start, trans, end = rng.normal(size=k), rng.normal(size=(k, k)), rng.normal(size=k)
    for path in (_kernels_always, _twins_always):
        with path():
            ids = viterbi(scores, lengths, start, trans, end)
            marginals = crf_marginals(scores, lengths, start, trans, end)
        for at in (0, 3):  # one-word chains: the best single label, and its softmax as the marginal
            row = start + scores[at] + end
            assert ids[at] == row.argmax()
            np.testing.assert_allclose(marginals[at], np.exp(row - row.max()) / np.exp(row - row.max()).sum())
    with _kernels_always():
        assert viterbi(np.zeros((0, k)), np.array([0, 0]), start, trans, end).shape == (0,)
        assert crf_marginals(np.zeros((0, k)), np.array([0]), start, trans, end).shape == (0, k)


def test_allowed_transitions_forbid_exactly_what_iob2_forbids():
    tags = list(TAGS_CONLL2003)
    start, trans = allowed_transitions(tags)
    assert start.shape == (len(tags),) and trans.shape == (len(tags), len(tags))
    for j, tag in enumerate(tags):
        assert start[j] == (FORBIDDEN if tag.startswith("I-") else 0.0), tag
        for i, before in enumerate(tags):
            allowed = not tag.startswith("I-") or before[2:] == tag[2:]  # I-X only after B-X or I-X
            assert trans[i, j] == (0.0 if allowed else FORBIDDEN), (before, tag)


def test_tagging_one_sentence_does_not_import_numba(tiny_model):
    code = (f"import sys, nerwin; t = nerwin.load({str(tiny_model)!r}); "
            "t('Talvo Brenwick visited Velmora on Monday .'); print('numba' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_small_inputs_take_the_twins_until_the_kernel_is_loaded():
    rng = np.random.default_rng(1)
    k, lengths = 3, np.array([2, 3])
    scores, start, trans, end = rng.normal(size=(5, k)), rng.normal(size=k), rng.normal(size=(k, k)), rng.normal(size=k)
    twin = mock.Mock(wraps=decode_module._viterbi_numpy)
    with mock.patch.object(decode_module, "_viterbi_numpy", twin):
        with mock.patch.object(decode_module._viterbi, "_dispatcher", None):  # as in a new process
            cold = viterbi(scores, lengths, start, trans, end)
        assert twin.call_count == 1
        viterbi(np.zeros((decode_module.SMALL, k)), np.array([decode_module.SMALL]), start, trans, end)  # loads it
        assert decode_module._viterbi.loaded
        warm = viterbi(scores, lengths, start, trans, end)
        assert twin.call_count == 1  # the loaded kernel took the small input
    np.testing.assert_array_equal(cold, warm)
