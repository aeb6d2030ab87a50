"""BO with DNGO: the batched search against a plain one-run reference, and its parts on their own."""

import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from infonas.errors import InfonasError
from infonas.evaluation.dngo import (
    BOUND_DIRECTIONS,
    LOG_BOUND,
    MINIBATCH,
    bayesian_linear_regression,
    dngo_search,
    dngo_settings,
    ei_bounds,
    exact_log_ei,
    fit_networks,
    init_draws,
    log_ei_range,
    log_expected_improvement,
    mackay_evidence,
    network_draws,
    prepare_inputs,
    top_ei,
    train_batched,
)
from infonas.evaluation import dngo_native
from infonas.evaluation.regret import run_seeds

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# Reference: one run, plain loop, torch.nn, autograd, torch.optim.Adam, numpy regression
# ---------------------------------------------------------------------------------------------


def _reference_evidence(phi: np.ndarray, y: np.ndarray, iters: int = 100):
    """MacKay's updates written with the full matrices (Bishop, PRML eqs. 3.53-3.54, 3.91-3.95)."""
    n, n_units = phi.shape
    alpha, beta = 1.0, 1000.0
    eig = np.linalg.eigvalsh(phi.T @ phi)
    for _ in range(iters):
        a_mat = alpha * np.eye(n_units) + beta * phi.T @ phi
        m = beta * np.linalg.solve(a_mat, phi.T @ y)
        gamma = np.sum(beta * eig / (alpha + beta * eig))
        alpha = min(max(gamma / (m @ m), math.exp(-LOG_BOUND)), math.exp(LOG_BOUND))
        beta = min(max((n - gamma) / np.sum((y - phi @ m) ** 2), math.exp(-LOG_BOUND)), math.exp(LOG_BOUND))
    a_mat = alpha * np.eye(n_units) + beta * phi.T @ phi
    return beta * np.linalg.solve(a_mat, phi.T @ y), np.linalg.inv(a_mat), 1.0 / beta


def dngo_single_run_reference(features, val, test, time, budget_s, run_seed, *, init_size=16, top_k=5,
                              n_units=128, epochs=100, lr=1e-2, incumbent="fixed", objective=0.95):
    """One BO run written the obvious way: the specification the batch must match (float64).

    Shares with the batched search only the random-stream definition (`init_draws`, `network_draws`).
    """
    feats_all, val, test, time, rows = prepare_inputs(features, val, test, time, budget_s)
    feats, acc, cost = torch.as_tensor(feats_all[rows]), val[rows], time[rows]
    gen = torch.Generator().manual_seed(run_seed)
    sequence, clock = [], 0.0

    def charge(picks):
        nonlocal clock
        for row in picks:
            sequence.append(int(row))
            clock += float(cost[int(row)])
            if clock >= budget_s:
                return True
        return len(sequence) >= len(rows)

    done = charge(init_draws(gen, len(rows), init_size).tolist())
    while not done:
        x = feats[sequence]
        y = torch.as_tensor(acc[sequence])
        (w1, b1, w2, b2), order = network_draws(gen, feats.shape[1], n_units, epochs, len(sequence))
        mean, std = x.mean(0), x.std(0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))
        hidden = torch.nn.Linear(feats.shape[1], n_units, dtype=torch.float64)
        out = torch.nn.Linear(n_units, 1, dtype=torch.float64)
        with torch.no_grad():
            hidden.weight.copy_(w1.T)
            hidden.bias.copy_(b1)
            out.weight.copy_(w2[None])
            out.bias.copy_(b2[None])
        opt = torch.optim.Adam([*hidden.parameters(), *out.parameters()], lr=lr, foreach=False)
        xn = (x - mean) / std
        bs = min(MINIBATCH, len(sequence))
        for epoch in range(epochs):
            for s in range(0, len(sequence) - bs + 1, bs):
                idx = order[epoch, s:s + bs]
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(out(torch.tanh(hidden(xn[idx]))).squeeze(1), y[idx])
                loss.backward()
                opt.step()
        with torch.no_grad():
            phi = torch.tanh(hidden(xn)).numpy()
            basis = torch.tanh(hidden((feats - mean) / std)).numpy()
        weights, cov, noise = _reference_evidence(phi, y.numpy())
        mu = basis @ weights
        sigma = np.sqrt(np.einsum("ij,jk,ik->i", basis, cov, basis) + noise)
        best = objective if incumbent == "fixed" else float(y.max())
        u = (mu - best) / sigma
        ei = sigma * (stats.norm.pdf(u) + u * stats.norm.cdf(u))
        ei[sequence] = -np.inf
        k = min(top_k, len(rows) - len(sequence))
        picks = np.argsort(-ei, kind="stable")[:k]
        done = charge(picks[::-1].tolist())
    return rows[np.asarray(sequence)]


def _space(n_rows=60, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((n_rows, dim))
    val = 0.85 + 0.1 * np.tanh(feats[:, 0] - 0.5 * feats[:, 1] ** 2) + 0.005 * rng.standard_normal(n_rows)
    test = val - 0.01 * rng.random(n_rows)
    time = rng.uniform(100.0, 300.0, n_rows)
    return feats, val, test, time


needs_cc = pytest.mark.skipif(dngo_native.compiler() is None, reason="no C compiler for the native kernel")
KERNELS = ["torch", pytest.param("native", marks=needs_cc)]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("incumbent", ["fixed", "best"])
def test_batched_search_equals_single_run_reference(incumbent, kernel):
    feats, val, test, time = _space()
    val[7] = np.nan  # a row without metrics is never visited
    budget = 6000.0
    kw = dict(init_size=8, top_k=3, n_units=40, epochs=5, incumbent=incumbent)  # > BOUND_DIRECTIONS units
    res = dngo_search(feats, val, test, time, n_runs=3, budget_s=budget, seed=11, device="cpu",
                      progress=False, dtype="float64", kernel=kernel, **kw)
    assert res.settings["kernel"] == kernel
    for r, run_seed in enumerate(run_seeds(11, 3)):
        ref = dngo_single_run_reference(feats, val, test, time, budget, run_seed, **kw)
        np.testing.assert_array_equal(res.run(r), ref)
    assert 7 not in res.indices
    assert res.lengths.min() > 8  # every run went past its initial rows
    # the budget rule: each run stops with the evaluation that reaches the budget
    for r in range(res.n_runs):
        times = res.times[r, : res.lengths[r]]
        assert times[-1] >= budget and (len(times) < 2 or times[-2] < budget)


@needs_cc
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 2e-3)])
@pytest.mark.parametrize("n_pool", [7, 43])  # one whole-pool minibatch; minibatches of 10, last one dropped
def test_native_kernel_trains_like_pytorch(dtype, tol, n_pool):
    """The C kernel gives train_batched's weights (float64: to rounding; float32: close), on any thread count.

    80 units: whole register blocks (64 floats or 32 doubles) and a remainder, both paths of the kernel."""
    gen = torch.Generator().manual_seed(0)
    n_runs, dim, units, epochs = 5, 3, 80, 20
    xn = torch.randn(n_runs, n_pool, dim, generator=gen, dtype=dtype)
    y = torch.rand(n_runs, n_pool, generator=gen, dtype=dtype)
    params, orders = zip(*(network_draws(gen, dim, units, epochs, n_pool) for _ in range(n_runs)))
    params = [torch.stack([p[i] for p in params]).to(dtype) for i in range(4)]
    settings = {**dngo_settings(16, 5, units, epochs, 1e-2, "fixed", 0.95, "float64"), "kernel": "native"}
    want = train_batched(xn, y, params, torch.stack(orders), settings)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        got = fit_networks(xn, y, params, torch.stack(orders), settings)
    finally:
        torch.set_num_threads(threads)
    for g, w in zip(got, want):
        assert g.dtype == dtype and g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=0, atol=tol)
    assert not torch.equal(got[0], params[0])  # trained, and the draws were not changed in place
    assert torch.tensor(1e-40, dtype=torch.float32) * 1 > 0  # loading it left denormals on for the process


def test_without_a_working_compiler_auto_trains_in_pytorch(monkeypatch):
    monkeypatch.setenv("CC", "false")  # found on PATH, fails every build
    dngo_native._library.cache_clear()
    try:
        assert not dngo_native.available(torch.float64)
        feats, val, test, time = _space(n_rows=30)
        kw = dict(n_runs=1, budget_s=2000.0, seed=0, device="cpu", init_size=4, n_units=4, epochs=1, progress=False)
        assert dngo_search(feats, val, test, time, **kw).settings["kernel"] == "torch"
        with pytest.raises(InfonasError, match="kernel 'native' needs the CPU and a working C compiler"):
            dngo_search(feats, val, test, time, kernel="native", **kw)
    finally:
        dngo_native._library.cache_clear()


@pytest.mark.parametrize("native", [False, pytest.param(True, marks=needs_cc)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_top_ei_bounds_hold_and_pruned_picks_equal_exhaustive(dtype, native):
    """Every row's log EI lies within ei_bounds (terms in PyTorch or in C), the bounds leave few rows,
    and top_ei's picks are the exhaustive top k of the exact scores, in several groups of runs and
    blocks of rows."""
    gen = torch.Generator().manual_seed(4)
    n_runs, n_rows, dim, units, n_pool = 6, 3000, 5, 2 * BOUND_DIRECTIONS, 60
    feats = torch.randn(n_rows, dim, generator=gen, dtype=torch.float64)
    val = 0.9 + 0.04 * torch.tanh(feats[:, 0]) + 0.005 * torch.rand(n_rows, generator=gen, dtype=torch.float64)
    pool = torch.stack([torch.randperm(n_rows, generator=gen)[:n_pool] for _ in range(n_runs)])
    w1 = torch.randn(n_runs, dim, units, generator=gen, dtype=torch.float64)
    b1 = 0.1 * torch.randn(n_runs, units, generator=gen, dtype=torch.float64)
    post = bayesian_linear_regression(torch.tanh(torch.baddbmm(b1.unsqueeze(1), feats[pool], w1)), val[pool])
    visited = torch.zeros(n_runs, n_rows, dtype=torch.bool).scatter_(1, pool, True)
    inc = torch.full((n_runs,), 0.95, dtype=dtype)
    feats, w1, b1 = feats.to(dtype), w1.to(dtype), b1.to(dtype)
    lower, upper = ei_bounds(feats, w1, b1, post, inc, rows_per=700, native=native)
    every = torch.arange(n_rows).expand(n_runs, n_rows)
    exact = exact_log_ei(feats, every, w1, b1, post, inc, rows_per=700)
    assert (lower <= exact).all() and (exact <= upper).all()
    threshold = lower.masked_fill(visited, -math.inf).topk(5, dim=1).values[:, -1:]
    assert ((upper >= threshold) & ~visited).sum(1).max() < n_rows // 10  # the bounds prune
    want = exact.masked_fill(visited, -math.inf).topk(5, dim=1).indices
    for chunk in (1, 1000, 2**19):  # one row at a time; blocks of 15 rows; 2 runs per group
        np.testing.assert_array_equal(top_ei(feats, w1, b1, post, inc, visited, 5, chunk, native=native), want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_ei_range_brackets_log_ei_from_far_below_to_far_above(dtype):
    u = torch.linspace(-3000, 60, 30001, dtype=dtype)
    std = torch.full_like(u, 0.5)
    exact = log_expected_improvement(u * 0.5, std, 0.0)  # mean = u * std, incumbent 0
    lower, upper = log_ei_range(u * 0.5, std, u * 0.5, std, 0.0)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.isfinite(exact).all() and (exact[1:] > exact[:-1]).all()  # finite and rising
    assert (lower <= exact + tol * exact.abs().clamp_min(1)).all()
    assert (exact <= upper + tol * exact.abs().clamp_min(1)).all()
    assert (upper - lower).max() < 0.15  # within 15 % of EI everywhere


def test_run_is_independent_of_batch_size_and_float32_runs():
    feats, val, test, time = _space(seed=3)
    kw = dict(init_size=6, top_k=2, n_units=8, epochs=3, progress=False, device="cpu", dtype="float64")
    many = dngo_search(feats, val, test, time, n_runs=4, budget_s=3000.0, seed=5, **kw)
    one = dngo_search(feats, val, test, time, n_runs=1, budget_s=3000.0, seed=5, **kw)
    np.testing.assert_array_equal(many.run(0), one.run(0))
    small = dngo_search(feats, val, test, time, n_runs=4, budget_s=3000.0, seed=5, max_chunk_elems=1, **kw)
    np.testing.assert_array_equal(small.indices, many.indices)
    f32 = dngo_search(feats, val, test, time, n_runs=2, budget_s=3000.0, seed=5, **{**kw, "dtype": "float32"})
    assert f32.settings["dtype"] == "float32" and np.all(f32.times[:, 0] > 0)
    for r in range(f32.n_runs):
        assert len(set(f32.run(r).tolist())) == f32.lengths[r]  # never a row twice


def test_search_finds_the_good_region():
    """On a smooth landscape BO's picks beat random ones on average and find a top-1% row."""
    feats, val, test, time = _space(n_rows=400, dim=3, seed=4)
    res = dngo_search(feats, val, test, time, n_runs=2, budget_s=60 * 200.0, seed=1, device="cpu",
                      init_size=8, top_k=5, n_units=32, epochs=30, incumbent="best", progress=False)
    for r in range(res.n_runs):
        picked = res.val_acc[r, 8: res.lengths[r]]
        assert np.mean(picked) > np.mean(val) + 0.02
        assert np.max(picked) >= np.quantile(val, 0.99)


def test_every_row_visited_stops_the_run():
    feats, val, test, time = _space(n_rows=20)
    res = dngo_search(feats, val, test, time, n_runs=2, budget_s=1e9, seed=0, device="cpu", init_size=4,
                      top_k=5, n_units=4, epochs=1, progress=False)
    assert res.lengths.tolist() == [20, 20]
    assert sorted(res.run(0).tolist()) == list(range(20))


def test_mackay_evidence_maximises_the_marginal_likelihood():
    rng = np.random.default_rng(0)
    phi = np.tanh(rng.standard_normal((40, 6)))
    y = phi @ rng.standard_normal(6) * 0.1 + 0.02 * rng.standard_normal(40)

    def neg_log_evidence(theta):
        alpha, beta = np.exp(theta)
        a_mat = alpha * np.eye(6) + beta * phi.T @ phi
        m = beta * np.linalg.solve(a_mat, phi.T @ y)
        e = beta / 2 * np.sum((y - phi @ m) ** 2) + alpha / 2 * m @ m
        return -(3 * np.log(alpha) + 20 * np.log(beta) - e - 0.5 * np.linalg.slogdet(a_mat)[1])

    best = optimize.minimize(neg_log_evidence, [0.0, 5.0], method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000}).x
    lam, vecs = np.linalg.eigh(phi.T @ phi)
    alpha, beta = mackay_evidence(torch.tensor(lam), torch.tensor(vecs.T @ phi.T @ y),
                                  torch.tensor(y @ y), len(y))
    np.testing.assert_allclose([math.log(alpha), math.log(beta)], best, atol=1e-4)
    post = bayesian_linear_regression(torch.tensor(phi)[None], torch.tensor(y)[None])
    ref_w, ref_cov, ref_noise = _reference_evidence(phi, y)
    np.testing.assert_allclose(post.weights[0].numpy(), ref_w, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(post.cov[0].numpy(), ref_cov, rtol=1e-8, atol=1e-12)
    assert post.noise[0].item() == pytest.approx(ref_noise)
    spread, vecs = post.spread[0], post.vecs[0]
    assert (spread[:-1] >= spread[1:]).all()  # descending, as top_ei's bounds assume
    torch.testing.assert_close((vecs * spread) @ vecs.T, post.cov[0])


def test_log_expected_improvement_matches_closed_form_and_stays_finite():
    mean = torch.tensor([0.9, 0.95, 0.97, 0.2, 0.0], dtype=torch.float64)
    std = torch.tensor([0.01, 0.02, 0.005, 0.01, 0.001], dtype=torch.float64)
    got = log_expected_improvement(mean, std, 0.95)
    u = (mean.numpy() - 0.95) / std.numpy()
    ei = std.numpy() * (stats.norm.pdf(u) + u * stats.norm.cdf(u))
    np.testing.assert_allclose(got[:3].numpy(), np.log(ei[:3]), rtol=1e-9)
    assert torch.isfinite(got).all() and got[4] < got[3] < got[0]  # EI underflows; its log still ranks


@pytest.mark.parametrize("kw, match", [
    (dict(incumbent="median"), "incumbent"),
    (dict(top_k=0), "top_k"),
    (dict(dtype="float16"), "dtype"),
    (dict(budget_s=0.0), "budget_s"),
    (dict(n_runs=0), "n_runs"),
    (dict(kernel="fortran"), "kernel"),
])
def test_bad_settings_are_one_line_errors(kw, match):
    feats, val, test, time = _space(n_rows=10)
    args = {"n_runs": 1, "budget_s": 100.0, "seed": 0, "device": "cpu", "progress": False, **kw}
    with pytest.raises(InfonasError, match=match):
        dngo_search(feats, val, test, time, **args)
