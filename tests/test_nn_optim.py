"""Layers and optimizers: update formulas written out in numpy, lazy row-sparse updates, PyTorch parity,
bad hyper-parameters, and small networks that must learn XOR and two spirals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nerwin import nn
from nerwin.autodiff import RowGrad, tensor
from nerwin.autodiff import functions as F
from nerwin.autodiff.optim import SGD, Adam, clip_grad_norm


def _param(x, dtype=np.float64):
    return tensor(np.array(x, dtype=dtype), requires_grad=True)


GRADS = [np.array([[0.5, -1.0, 2.0], [0.1, 0.0, -0.3]]) * s for s in (1.0, -0.5, 2.0, 0.3)]
START = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])


def _run(opt_factory, grads=GRADS, start=START):
    p = _param(start)
    opt = opt_factory([p])
    for g in grads:
        opt.zero_grad()
        p.grad = g.copy()
        opt.step()
    return p.data


# ---- dense parameters against the formulas ---------------------------------------------------------


@pytest.mark.parametrize("momentum, decay", [(0.0, 0.0), (0.0, 0.1), (0.9, 0.0), (0.8, 0.05)])
def test_sgd_matches_its_formula(momentum, decay):
    lr = 0.1
    p, buf = START.copy(), np.zeros_like(START)
    for g in GRADS:
        step = g + decay * p
        buf = momentum * buf + step
        p = p - lr * (buf if momentum else step)
    np.testing.assert_allclose(
        _run(lambda ps: SGD(ps, lr=lr, momentum=momentum, weight_decay=decay)), p, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_adam_matches_its_formula_with_decoupled_weight_decay(decay):
    lr, b1, b2, eps = 0.01, 0.9, 0.99, 1e-8
    p, m, v = START.copy(), np.zeros_like(START), np.zeros_like(START)
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * (m_hat / (np.sqrt(v_hat) + eps) + decay * p)  # AdamW: decay outside the moments
    got = _run(lambda ps: Adam(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=decay))
    np.testing.assert_allclose(got, p, rtol=1e-12, atol=1e-12)


def test_step_skips_parameters_without_gradient_and_zero_grad_clears():
    a, b = _param([1.0, 2.0]), _param([3.0])
    opt = Adam([a, b], lr=0.1)
    (a * a).sum().backward()
    opt.step()
    assert b.data.tolist() == [3.0] and not np.array_equal(a.data, [1.0, 2.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_non_contiguous_parameters_are_updated():
    """A parameter over a Fortran-ordered or transposed array must move (not a silently updated copy)."""
    for start in (np.asfortranarray(START), START.T.copy().T):
        for opt_cls in (SGD, Adam):
            p = tensor(start.copy(order="K"), requires_grad=True)
            assert not p.data.flags.c_contiguous
            opt = opt_cls([p], lr=0.1, **({"momentum": 0.9} if opt_cls is SGD else {}))
            for _ in range(2):
                p.grad = np.ones_like(START)
                opt.step()
            assert np.all(p.data < START), opt_cls


# ---- row-sparse (embedding) parameters: lazy updates ----------------------------------------------

BATCHES = [np.array([1, 1, 4]), np.array([2]), np.array([1, 3, 3, 3])]
SCALE = np.array([1.0, -2.0, 0.5])


def _embedding_steps(opt_factory, batches=BATCHES, scale=SCALE):
    rng = np.random.default_rng(0)
    emb = nn.Embedding(6, 3, rng)
    emb.weight = _param(emb.weight.data)  # float64, for exact comparisons
    start = emb.weight.data.copy()
    opt = opt_factory([emb.weight])
    grads = []
    for idx in batches:
        opt.zero_grad()
        before = emb.weight.data.copy()
        (emb(idx) * scale * emb(idx)).sum().backward()  # row-sparse gradient, rows repeat
        assert isinstance(emb.weight.grad, RowGrad)
        dense = emb.weight.grad.to_dense()
        # by hand: each use of row r adds 2 scale L[r], so a row used k times gets k times that, summed
        uses = np.bincount(idx, minlength=len(before))[:, None]
        np.testing.assert_allclose(dense, uses * 2 * scale * before, rtol=1e-12)
        grads.append(dense)
        opt.step()
    return start, grads, emb.weight.data, opt


def test_lazy_adam_on_embedding_rows():
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    start, grads, got, opt = _embedding_steps(lambda ps: Adam(ps, lr=lr, betas=(b1, b2), eps=eps))
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, (idx, g) in enumerate(zip(BATCHES, grads), start=1):
        used = np.unique(idx)  # rows used twice got the summed gradient (g is that sum)
        m[used] = b1 * m[used] + (1 - b1) * g[used]
        v[used] = b2 * v[used] + (1 - b2) * g[used] ** 2
        m_hat, v_hat = m[used] / (1 - b1**t), v[used] / (1 - b2**t)
        p[used] -= lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(got, p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(opt.m[0], m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(opt.v[0], v, rtol=1e-12, atol=1e-12)
    assert np.array_equal(got[[0, 5]], start[[0, 5]]) and not np.any(
        opt.m[0][[0, 5]]
    )  # never used: untouched
    # row 4 was used at step 1 only: dense Adam would keep moving it by its momentum; lazy Adam does not
    _, _, after_step_1, _ = _embedding_steps(lambda ps: Adam(ps, lr=lr, betas=(b1, b2), eps=eps), BATCHES[:1])
    assert np.array_equal(got[4], after_step_1[4])


@pytest.mark.parametrize("momentum, decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 0.1)])
def test_lazy_sgd_on_embedding_rows(momentum, decay):
    lr = 0.1
    start, grads, got, _ = _embedding_steps(lambda ps: SGD(ps, lr=lr, momentum=momentum, weight_decay=decay))
    p, buf = start.copy(), np.zeros_like(start)
    for idx, g in zip(BATCHES, grads):
        used = np.unique(idx)
        step = g[used] + decay * p[used]
        if momentum:
            buf[used] = momentum * buf[used] + step
            step = buf[used]
        p[used] -= lr * step
    np.testing.assert_allclose(got, p, rtol=1e-12, atol=1e-12)
    if not momentum and not decay:  # plain SGD: lazy is exactly the dense update
        dense = start.copy()
        for g in grads:
            dense -= lr * g
        np.testing.assert_allclose(got, dense, rtol=1e-12, atol=1e-12)


def test_row_updates_on_a_one_dimensional_table():
    bias = _param(np.zeros(5))
    opt = Adam([bias], lr=0.1)
    (bias[np.array([1, 1, 3])] * np.array([1.0, 1.0, -1.0])).sum().backward()
    opt.step()
    np.testing.assert_allclose(bias.data, [0, -0.1, 0, 0.1, 0], atol=1e-7)


# ---- gradient clipping ------------------------------------------------------------------------------


def test_clip_grad_norm_dense_and_row_sparse():
    a, b = _param(np.zeros((2, 2))), _param(np.zeros((4, 3)))
    a.grad = np.array([[3.0, 0.0], [0.0, 0.0]])
    b.grad = RowGrad(
        np.array([1, 1]), np.array([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]), (4, 3)
    )  # row 1: [4, 0, 0]
    norm = clip_grad_norm([a, b], max_norm=1.0)
    assert norm == pytest.approx(5.0)  # sqrt(3^2 + 4^2): repeated rows count once, summed
    total = np.sqrt((a.grad**2).sum() + (b.grad.to_dense() ** 2).sum())
    assert total == pytest.approx(1.0, rel=1e-9)
    np.testing.assert_allclose(a.grad, [[0.6, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(b.grad.to_dense()[1], [0.8, 0.0, 0.0])
    assert clip_grad_norm([a, b], max_norm=10.0) == pytest.approx(1.0)  # below the limit: unchanged
    np.testing.assert_allclose(a.grad, [[0.6, 0.0], [0.0, 0.0]])
    assert clip_grad_norm([_param([1.0])], 1.0) == 0.0  # no gradients at all


def test_clip_grad_norm_of_exploding_float32_gradients():
    p = tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    p.grad = np.array([3e20, -4e20], dtype=np.float32)  # squares overflow float32, not float64
    assert clip_grad_norm([p], 1.0) == pytest.approx(5e20, rel=1e-6)
    np.testing.assert_allclose(p.grad, [0.6, -0.8], rtol=1e-6)


def test_clip_grad_norm_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=(4,))]
    ours = [_param(np.zeros_like(g)) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ours, theirs, grads):
        p.grad, tp.grad = g.copy(), torch.tensor(g)
    assert clip_grad_norm(ours, 0.5) == pytest.approx(float(torch.nn.utils.clip_grad_norm_(theirs, 0.5)))
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-5)


# ---- against PyTorch, dense parameters ---------------------------------------------------------------

TORCH_OPTIMIZERS = [
    ("SGD", {"lr": 0.1}, "SGD", {"lr": 0.1}),
    (
        "SGD",
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
        "SGD",
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    ),
    (
        "Adam",
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6},
        "Adam",
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6},
    ),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}, "AdamW", {"lr": 0.01, "weight_decay": 0.1}),  # decoupled
]


@pytest.mark.parametrize("ours_name, ours_kw, torch_name, torch_kw", TORCH_OPTIMIZERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizers_against_torch(ours_name, ours_kw, torch_name, torch_kw, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    starts = [rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=(4, 2)).astype(dtype)]
    ours = [_param(s, dtype) for s in starts]
    theirs = [torch.tensor(s, requires_grad=True) for s in starts]
    opt = {"SGD": SGD, "Adam": Adam}[ours_name](ours, **ours_kw)
    topt = getattr(torch.optim, torch_name)(theirs, **torch_kw)
    for _ in range(5):
        opt.zero_grad()
        topt.zero_grad()
        target = rng.normal(size=(3, 2)).astype(dtype)
        ((torch.tanh(theirs[0]) @ theirs[1] - torch.tensor(target)) ** 2).sum().backward()
        for p, tp in zip(ours, theirs):  # the same gradients, so only the updates are compared
            p.grad = tp.grad.numpy().copy()
        opt.step()
        topt.step()
        for p, tp in zip(ours, theirs):
            assert p.dtype == dtype
            np.testing.assert_allclose(
                p.data,
                tp.detach().numpy(),
                rtol=1e-5 if dtype == np.float32 else 1e-12,
                atol=1e-6 if dtype == np.float32 else 1e-12,
            )


# ---- bad hyper-parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.0),
        lambda ps: SGD(ps, lr=-1.0),
        lambda ps: SGD(ps, lr=math.nan),
        lambda ps: SGD(ps, lr=math.inf),
        lambda ps: SGD(ps, momentum=-0.1),
        lambda ps: SGD(ps, momentum=1.0),
        lambda ps: SGD(ps, weight_decay=-1e-4),
        lambda ps: Adam(ps, lr=0.0),
        lambda ps: Adam(ps, betas=(1.0, 0.999)),
        lambda ps: Adam(ps, betas=(0.9, -0.1)),
        lambda ps: Adam(ps, eps=0.0),
        lambda ps: Adam(ps, weight_decay=-0.1),
        lambda ps: SGD([], lr=0.1),
        lambda ps: Adam([tensor([1.0])], lr=0.1),
    ],
)
def test_bad_hyper_parameters_raise(make):
    with pytest.raises(ValueError):
        make([_param([1.0])])


def test_adam_state_round_trip_continues_identically():
    def build():
        p = _param(START)
        return p, Adam([p], lr=0.05, weight_decay=0.01)

    p1, o1 = build()
    for g in GRADS[:2]:
        p1.grad = g.copy()
        o1.step()
    p2, o2 = build()
    p2.data = p1.data.copy()
    o2.load_state_dict(o1.state_dict())
    for g in GRADS[2:]:
        for p, o in ((p1, o1), (p2, o2)):
            p.grad = g.copy()
            o.step()
    np.testing.assert_array_equal(p1.data, p2.data)
    with pytest.raises(ValueError):
        o2.load_state_dict({"m.0": np.zeros(3)})


# ---- layers ------------------------------------------------------------------------------------------


def test_modules_parameters_modes_and_state():
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(4, 3, rng), nn.Dropout(0.5, rng), nn.Tanh(), nn.Linear(3, 2, rng, bias=False)
    )
    names = [n for n, _ in model.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.3.weight"]
    assert model.num_parameters() == 4 * 3 + 3 + 3 * 2
    assert all(p.dtype == np.float32 for p in model.parameters())
    x = tensor(np.ones((5, 4), dtype=np.float32))
    model.eval()
    assert not any(m.training for m in model.modules())
    np.testing.assert_array_equal(model(x).data, model(x).data)  # dropout off
    model.train()
    assert model.layers[1].training
    state = model.state_dict()
    other = nn.Sequential(
        nn.Linear(4, 3, np.random.default_rng(9)),
        nn.Dropout(0.5),
        nn.Tanh(),
        nn.Linear(3, 2, np.random.default_rng(9), bias=False),
    )
    other.load_state_dict(state)
    model.eval()
    other.eval()
    np.testing.assert_array_equal(other(x).data, model(x).data)
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({k: v for k, v in state.items() if k != "layers.0.bias"})
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict({**state, "layers.0.bias": np.zeros(4)})
    with pytest.raises(ValueError):
        nn.Dropout(1.0)


def test_use_params_swaps_values_in_and_restores_them():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 3, rng), nn.Tanh(), nn.Linear(3, 2, rng)).eval()
    x = tensor(rng.normal(size=(5, 4)).astype(np.float32))
    before = model(x).data.copy()
    own = {name: p.data for name, p in model.named_parameters()}
    averaged = {name: v * 0.5 for name, v in model.state_dict().items() if name != "layers.2.bias"}
    with model.use_params(averaged):
        params = dict(model.named_parameters())
        for name, value in averaged.items():  # the given values inside the block
            np.testing.assert_array_equal(params[name].data, value)
        assert params["layers.2.bias"].data is own["layers.2.bias"]  # a parameter not named keeps its array
        assert not np.allclose(model(x).data, before)
    for name, p in model.named_parameters():  # the original arrays themselves afterwards
        assert p.data is own[name]
    np.testing.assert_array_equal(model(x).data, before)

    with pytest.raises(RuntimeError, match="inside"), model.use_params(averaged):
        raise RuntimeError("inside")
    assert all(p.data is own[name] for name, p in model.named_parameters())  # restored after an exception

    with pytest.raises(ValueError, match="layers.9.weight"), model.use_params({"layers.9.weight": np.zeros((4, 3))}):
        pass
    with pytest.raises(ValueError, match="shape"), model.use_params({"layers.0.bias": np.zeros(4)}):
        pass
    assert all(p.data is own[name] for name, p in model.named_parameters())  # nothing swapped by a bad call


def test_embedding_lookups_and_windows():
    emb = nn.Embedding(5, 2, np.random.default_rng(0))
    idx = np.array([[0, 4, 4]])
    np.testing.assert_array_equal(emb.windows(idx).data, emb.weight.data[idx].reshape(1, 6))
    np.testing.assert_array_equal(emb(np.array([3, 3])).data, emb.weight.data[[3, 3]])
    assert np.all(np.abs(emb.weight.data) <= np.sqrt(3.0 / 2))


# ---- small networks learn ---------------------------------------------------------------------------


def _train(model, x, y, steps, lr):
    opt = Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(np.mean(model(x).data.argmax(axis=1) == y))


def test_mlp_learns_xor():
    rng = np.random.default_rng(0)
    x = tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32))
    y = np.array([0, 1, 1, 0])
    model = nn.Sequential(nn.Linear(2, 8, rng), nn.Tanh(), nn.Linear(8, 2, rng))
    assert _train(model, x, y, steps=200, lr=0.05) == 1.0


def _two_spirals(n, rng, noise=0.02):
    t = np.sqrt(rng.uniform(0.05, 1.0, size=n)) * 3 * np.pi  # 1.5 turns
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(scale=noise, size=(2 * n, 2))
    return x.astype(np.float32), np.repeat([0, 1], n)


def test_mlp_learns_two_spirals():
    rng = np.random.default_rng(0)
    x, y = _two_spirals(100, rng)
    model = nn.Sequential(
        nn.Linear(2, 16, rng), nn.Tanh(), nn.Linear(16, 16, rng), nn.Tanh(), nn.Linear(16, 2, rng)
    )
    assert _train(model, tensor(x), y, steps=1500, lr=0.03) >= 0.95  # 100% for seeds 0-9
    x_new, y_new = _two_spirals(100, rng)  # and it generalizes along the arms
    assert np.mean(model(tensor(x_new)).data.argmax(axis=1) == y_new) >= 0.9
