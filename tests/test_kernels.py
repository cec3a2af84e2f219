"""The Numba kernels against plain numpy references, and the import-time cache folder logic.

Run both ways: with the JIT on, and with NUMBA_DISABLE_JIT=1 (the same code as plain Python).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nerwin.autodiff import kernels

FAST = settings(deadline=None, max_examples=25)
JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
DTYPES = st.sampled_from([np.float32, np.float64])


def floats_array(shape, dtype=np.float64, lo=-3.0, hi=3.0):
    return hnp.arrays(dtype, shape, elements=st.floats(lo, hi, width=32))


@st.composite
def table_and_rows(draw, min_rows=0):
    v, d = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    dtype = draw(DTYPES)
    table = draw(floats_array((v, d), dtype))
    n = draw(st.integers(min_rows, 10))
    rows = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, v - 1)))
    values = draw(floats_array((n, d), dtype))
    return table, rows, values


def test_jit_mode_is_what_the_environment_says():
    import numba

    assert bool(numba.config.DISABLE_JIT) == JIT_DISABLED
    assert (
        hasattr(kernels._window_gather.dispatcher, "py_func") != JIT_DISABLED
    )  # a compiled dispatcher, or the function


# ---- gathers and scatter-adds -----------------------------------------------------------------------


@FAST
@given(data=st.data(), n=st.integers(0, 5), w=st.integers(1, 4))
def test_window_gather(data, n, w):
    table, _, _ = data.draw(table_and_rows())
    idx = data.draw(hnp.arrays(np.int64, (n, w), elements=st.integers(0, len(table) - 1)))
    expected = table[idx].reshape(n, w * table.shape[1])
    out = kernels.window_gather([table], [idx])
    assert out.dtype == table.dtype
    np.testing.assert_array_equal(out, expected)
    # two tables: their windows side by side, and window_rows takes each block back apart
    d = table.shape[1]
    both = kernels.window_gather([table, table[::-1].copy()], [idx, idx])
    np.testing.assert_array_equal(both, np.concatenate([expected, table[::-1][idx].reshape(n, w * d)], axis=1))
    np.testing.assert_array_equal(kernels.window_rows(both, w * d, w, d), table[::-1][idx].reshape(n * w, d))


@FAST
@given(data=st.data())
def test_scatter_add_rows(data):
    table, rows, values = data.draw(table_and_rows())
    expected = table.copy()
    np.add.at(expected, rows, values)
    out = table.copy()
    kernels.scatter_add_rows(out, rows, values)
    np.testing.assert_allclose(out, expected, rtol=1e-6 if table.dtype == np.float32 else 1e-12, atol=1e-6)


def _coalesce_reference(rows, values):
    uniq, first = np.unique(rows, return_index=True)
    order = uniq[np.argsort(first)]  # in order of first use
    return order, np.stack([values[rows == r].sum(axis=0) for r in order]) if len(order) else values[:0]


@FAST
@given(data=st.data())
def test_coalesce_rows(data):
    table, rows, values = data.draw(table_and_rows())
    got_rows, got_values = kernels.coalesce_rows(rows, values, len(table))
    ref_rows, ref_values = _coalesce_reference(rows, values)
    np.testing.assert_array_equal(got_rows, ref_rows)
    np.testing.assert_allclose(got_values, ref_values, rtol=1e-5, atol=1e-5)
    assert np.all(kernels._slots[len(table)] == -1)  # the scratch map is clean for the next call


def test_coalesce_rows_reuses_its_scratch_map_correctly():
    values = np.arange(10.0).reshape(5, 2)
    rows, summed = kernels.coalesce_rows(np.array([3, 1, 3, 0, 1]), values, 7)
    assert rows.tolist() == [3, 1, 0] and summed.tolist() == [[4.0, 6.0], [10.0, 12.0], [6.0, 7.0]]
    rows, summed = kernels.coalesce_rows(np.array([1, 6]), values[:2], 7)
    assert rows.tolist() == [1, 6] and summed.tolist() == [[0.0, 1.0], [2.0, 3.0]]


# ---- fused softmax cross-entropy ----------------------------------------------------------------


@FAST
@given(
    n=st.integers(1, 6),
    k=st.integers(1, 5),
    dtype=DTYPES,
    scale=st.sampled_from([1.0, 100.0, 1e4]),
    data=st.data(),
)
def test_softmax_xent_forward_and_backward(n, k, dtype, scale, data):
    logits = (data.draw(floats_array((n, k))) * scale).astype(dtype)
    targets = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    weights = data.draw(floats_array((n,), lo=0.0, hi=2.0))
    z = logits.astype(np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses, probs = kernels.softmax_xent_forward(logits, targets)
    assert probs.dtype == dtype and losses.dtype == np.float64
    assert np.all(np.isfinite(losses))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(losses, -log_p[np.arange(n), targets], rtol=tol, atol=tol * max(scale, 1) / 10)
    np.testing.assert_allclose(probs, np.exp(log_p), rtol=tol, atol=tol)
    grad = kernels.softmax_xent_backward(probs, targets, weights)
    expected = (np.exp(log_p) - np.eye(k)[targets]) * weights[:, None]
    np.testing.assert_allclose(grad, expected, rtol=tol, atol=tol)


# ---- optimizer updates ---------------------------------------------------------------------------


def _adam_reference(p, g, m, v, lr, b1, b2, eps, bc1, bc2, decay):
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / bc1, v / bc2
    p -= lr * (m_hat / (np.sqrt(v_hat) + eps) + decay * p)


def _sgd_reference(p, g, buf, lr, momentum, decay):
    step = g + decay * p
    if momentum:
        buf[...] = momentum * buf + step
        step = buf
    p -= lr * step


hyper = st.fixed_dictionaries(
    {
        "lr": st.sampled_from([1e-3, 0.1]),
        "decay": st.sampled_from([0.0, 0.01]),
        "t": st.integers(1, 50),
    }
)


@FAST
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
    h=hyper,
    steps=st.integers(1, 3),
    data=st.data(),
)
def test_adam_dense(shape, h, steps, data):
    p = data.draw(floats_array(shape))
    ref_p, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    ref_m, ref_v = m.copy(), v.copy()
    for t in range(h["t"], h["t"] + steps):
        g = data.draw(floats_array(shape))
        args = (h["lr"], 0.9, 0.999, 1e-8, 1 - 0.9**t, 1 - 0.999**t, h["decay"])
        kernels.adam_dense(p, g, m, v, *args)
        _adam_reference(ref_p, g, ref_m, ref_v, *args)
    np.testing.assert_allclose(p, ref_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m, ref_m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v, ref_v, rtol=1e-12, atol=1e-12)


@FAST
@given(data=st.data(), h=hyper)
def test_adam_rows_touches_only_the_listed_rows(data, h):
    table, _, _ = data.draw(table_and_rows())
    v_, d = table.shape
    rows = np.array(data.draw(st.lists(st.integers(0, v_ - 1), unique=True, max_size=v_)), dtype=np.int64)
    g = data.draw(floats_array((len(rows), d), table.dtype))
    m = data.draw(floats_array(table.shape, table.dtype, 0.0, 1.0))
    v = data.draw(floats_array(table.shape, table.dtype, 0.0, 1.0))
    args = (h["lr"], 0.9, 0.999, 1e-8, 1 - 0.9 ** h["t"], 1 - 0.999 ** h["t"], h["decay"])
    ref_p, ref_m, ref_v = (a.astype(np.float64) for a in (table, m, v))
    sub = [a[rows] for a in (ref_p, ref_m, ref_v)]
    _adam_reference(sub[0], g.astype(np.float64), sub[1], sub[2], *args)
    for full, part in zip((ref_p, ref_m, ref_v), sub):
        full[rows] = part
    kernels.adam_rows(table, rows, g, m, v, *args)
    tol = 1e-5 if table.dtype == np.float32 else 1e-12
    for got, ref in ((table, ref_p), (m, ref_m), (v, ref_v)):
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@FAST
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
    lr=st.sampled_from([0.01, 0.5]),
    momentum=st.sampled_from([0.0, 0.9]),
    decay=st.sampled_from([0.0, 0.1]),
    data=st.data(),
)
def test_sgd_dense(shape, lr, momentum, decay, data):
    p = data.draw(floats_array(shape))
    buf = np.zeros_like(p)
    ref_p, ref_buf = p.copy(), buf.copy()
    for _ in range(3):
        g = data.draw(floats_array(shape))
        kernels.sgd_dense(p, g, buf, lr, momentum, decay)
        _sgd_reference(ref_p, g, ref_buf, lr, momentum, decay)
    np.testing.assert_allclose(p, ref_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(buf, ref_buf, rtol=1e-12, atol=1e-12)


@FAST
@given(
    data=st.data(),
    lr=st.sampled_from([0.01, 0.5]),
    momentum=st.sampled_from([0.0, 0.9]),
    decay=st.sampled_from([0.0, 0.1]),
)
def test_sgd_rows_touches_only_the_listed_rows(data, lr, momentum, decay):
    table, _, _ = data.draw(table_and_rows())
    table = table.astype(np.float64)
    rows = np.array(
        data.draw(st.lists(st.integers(0, len(table) - 1), unique=True, max_size=len(table))), dtype=np.int64
    )
    g = data.draw(floats_array((len(rows), table.shape[1])))
    buf = data.draw(floats_array(table.shape))
    ref_p, ref_buf = table.copy(), buf.copy()
    sub_p, sub_buf = ref_p[rows], ref_buf[rows]
    _sgd_reference(sub_p, g, sub_buf, lr, momentum, decay)
    ref_p[rows], ref_buf[rows] = sub_p, sub_buf
    kernels.sgd_rows(table, rows, g, buf, lr, momentum, decay)
    np.testing.assert_allclose(table, ref_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(buf, ref_buf, rtol=1e-12, atol=1e-12)


@FAST
@given(
    x=hnp.arrays(
        DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5), elements=st.floats(-100, 100, width=32)
    )
)
def test_sum_squares(x):
    got = kernels.sum_squares(x)
    assert type(got) is float
    np.testing.assert_allclose(got, float(np.sum(x.astype(np.float64) ** 2)), rtol=1e-6)
    assert kernels.sum_squares(np.asfortranarray(np.atleast_2d(x)).T) == pytest.approx(got, rel=1e-6)


def test_sum_squares_of_float32_is_float64_work():
    big = np.array([3e20, 4e20], dtype=np.float32)  # each square overflows float32
    assert kernels.sum_squares(big) == pytest.approx(25e40, rel=1e-6)
    assert kernels.sum_squares(np.array([1e-30], dtype=np.float32)) == pytest.approx(1e-60, rel=1e-6)


# ---- caching never breaks import ------------------------------------------------------------------

_PROBE = """
import os, sys
from pathlib import Path
package, deny = sys.argv[1], sys.argv[2]
real_access = os.access

def access(path, mode, *args, **kwargs):  # pretend the package folder (or everything) is read-only
    if mode & os.W_OK and (deny == "all" or os.path.abspath(str(path)) == package):
        return False
    return real_access(path, mode, *args, **kwargs)

os.access = access
import numpy as np
from nerwin.autodiff import kernels
kernels.FEW_ROWS = 0  # take the compiled kernel even for this tiny input
out = kernels.window_gather([np.arange(6.0).reshape(3, 2)], [np.array([[0, 2]], dtype=np.int64)])
assert out.tolist() == [[0.0, 1.0, 4.0, 5.0]], out
print(os.environ.get("NUMBA_CACHE_DIR", "<unset>"))
"""


def _import_kernels(tmp_path: Path, deny: str, **env_overrides) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(env_overrides)
    package = os.path.abspath(Path(kernels.__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, package, deny],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_read_only_package_caches_in_the_user_cache_folder(tmp_path):
    xdg = tmp_path / "xdg"
    chosen = _import_kernels(tmp_path, "package", XDG_CACHE_HOME=str(xdg))
    assert Path(chosen).is_relative_to(xdg) and "nerwin" in str(Path(chosen).relative_to(xdg))
    assert Path(chosen).is_dir()
    if not JIT_DISABLED:  # the compiled kernel was really cached there
        assert list(Path(chosen).rglob("*.nbi")), list(Path(chosen).rglob("*"))


def test_unusable_user_cache_falls_back_to_the_temp_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    temp = tmp_path / "tmp"
    temp.mkdir()
    chosen = _import_kernels(tmp_path, "package", XDG_CACHE_HOME=str(blocker / "cache"), TMPDIR=str(temp))
    assert Path(chosen).is_relative_to(temp) and "nerwin" in str(Path(chosen).relative_to(temp))


def test_an_explicit_numba_cache_dir_is_respected(tmp_path):
    mine = tmp_path / "mine"
    assert Path(_import_kernels(tmp_path, "package", NUMBA_CACHE_DIR=str(mine))) == mine


def test_import_works_when_nothing_is_writable(tmp_path):
    assert _import_kernels(tmp_path, "all", XDG_CACHE_HOME=str(tmp_path / "xdg")) == "<unset>"
    assert not (tmp_path / "xdg").exists() or not any((tmp_path / "xdg").rglob("*.nbi"))


def test_jit_falls_back_to_no_cache_when_numba_cannot_cache():
    namespace: dict = {}
    exec("def add_one(x):\n    return x + 1\n", namespace)  # noqa: S102  (no source file: no cache locator)
    compiled = kernels.jit(namespace["add_one"])
    assert compiled(41) == 42


def test_jit_is_public_and_compiles_on_the_first_call_only():
    import nerwin.autodiff

    def twice(x):
        return 2 * x

    kernel = nerwin.autodiff.jit(twice)
    assert nerwin.autodiff.jit is kernels.jit and kernel.py_func is twice and kernel.__name__ == "twice"
    assert kernel._dispatcher is None  # nothing compiled (nor numba imported) by decorating
    assert kernel(21) == 42
    assert kernel._dispatcher is kernel.dispatcher is not None


# ---- gathers of few rows take numpy (no numba import); both paths must agree ----------------------

def _kernels_always():
    """Within this context the gather kernel runs for any input size (the numpy few-rows path is off)."""
    from unittest import mock

    return mock.patch.object(kernels, "FEW_ROWS", 0)


@FAST
@given(data=st.data(), n=st.integers(0, 6), w=st.integers(1, 4), seed=st.integers(0, 1000))
def test_window_gather_kernel_and_numpy_paths_agree(data, n, w, seed):
    table, _, _ = data.draw(table_and_rows())
    idx = np.random.default_rng(seed).integers(0, len(table), size=(n, w))
    reverse = idx[:, ::-1].copy()
    with _kernels_always():
        by_kernel = kernels.window_gather([table, table], [idx, reverse])
    np.testing.assert_array_equal(by_kernel, kernels.window_gather([table, table], [idx, reverse]))


def test_window_gather_fills_a_given_output_on_both_paths():
    rng = np.random.default_rng(1)
    table, idx = rng.normal(size=(9, 3)).astype(np.float32), rng.integers(0, 9, size=(700, 2))
    for n in (4, 700):  # the numpy path and the kernel
        assert (n < kernels.FEW_ROWS) == (n == 4)
        out = np.full((n, 6), np.nan, dtype=np.float32)
        assert kernels.window_gather([table], [idx[:n]], out=out) is out
        np.testing.assert_array_equal(out, table[idx[:n]].reshape(n, 6))
