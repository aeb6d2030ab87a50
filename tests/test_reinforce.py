"""REINFORCE (batched vs plain reference), random search, regret curves and the search-result store."""

import math

import numpy as np
import pytest
import torch

from infonas.errors import InfonasError
from infonas.evaluation.random_search import random_search
from infonas.evaluation.regret import (
    SearchResult,
    ecdf,
    final_regret,
    load_search,
    log_time_grid,
    pack_runs,
    regret_curves,
    run_seeds,
    save_search,
)
from infonas.evaluation.reinforce import _F64, _init_run, _noise_block, _prepare, _settings, reinforce_search

torch.set_num_threads(1)


def _discounted(rewards: list[float], discount: float) -> list[float]:
    """G_t = r_t + discount * G_{t+1} within the episode (discount 0 gives the rewards)."""
    out, g = [], 0.0
    for r in reversed(rewards):
        g = r + discount * g
        out.append(g)
    return out[::-1]


# ---------------------------------------------------------------------------------------------
# Reference: one run, plain loop, torch.nn modules and torch.optim.Adam (the batch's cross-check)
# ---------------------------------------------------------------------------------------------


def reinforce_single_run_reference(
    features,
    val_acc,
    test_acc,
    train_time,
    budget_s: float,
    run_seed: int,
    *,
    hidden_dim: int = 128,
    episode_len: int = 16,
    discount: float = 0.0,
    baseline: float = 0.95,
    lr: float = 1e-2,
) -> SearchResult:
    """One REINFORCE run written the obvious way (slow): the specification the batch must match.

    Uses nn.LSTMCell, nn.Linear, MultivariateNormal.log_prob, torch.optim.Adam and a full distance
    scan per step; shares with the batched search only the random-stream definition (`_init_run`,
    `_noise_block`). Returns a one-run SearchResult whose `seed` is `run_seed`.
    """
    settings = _settings(hidden_dim, episode_len, discount, baseline, lr)
    feats_all, val, test, time, rows = _prepare(features, val_acc, test_acc, train_time, budget_s)
    feats = torch.as_tensor(feats_all[rows])
    n_rows, dim = feats.shape
    gen = torch.Generator().manual_seed(run_seed)
    init, start = _init_run(gen, dim, hidden_dim, n_rows)
    cell = torch.nn.LSTMCell(dim, hidden_dim, dtype=_F64)
    head = torch.nn.Linear(hidden_dim, dim, dtype=_F64)
    with torch.no_grad():
        for p, k in ((cell.weight_ih, "w_ih"), (cell.weight_hh, "w_hh"), (cell.bias_ih, "b_ih"),
                     (cell.bias_hh, "b_hh"), (head.weight, "w_fc"), (head.bias, "b_fc")):
            p.copy_(init[k])
    optimizer = torch.optim.Adam([*cell.parameters(), *head.parameters()], lr=lr, foreach=False)
    eye = torch.eye(dim, dtype=_F64)

    visited, sequence, clock, state, noise = {start}, [], 0.0, feats[start], []
    finished = False
    while not finished:
        hc = (torch.zeros(1, hidden_dim, dtype=_F64), torch.zeros(1, hidden_dim, dtype=_F64))
        logps, rewards = [], []
        for _ in range(episode_len):
            if not noise:
                noise = list(_noise_block(gen, dim))
            hc = cell(state.unsqueeze(0), hc)
            mean = head(hc[0])[0]
            action = mean.detach() + noise.pop(0)
            logps.append(torch.distributions.MultivariateNormal(mean, eye).log_prob(action))
            dist = torch.linalg.vector_norm(feats - action, dim=1)
            dist[sorted(visited)] = math.inf
            j = int(torch.argmin(dist))
            visited.add(j)
            sequence.append(j)
            clock += float(time[rows[j]])
            rewards.append(float(val[rows[j]]))
            state = feats[j]
            if clock >= budget_s or len(visited) == n_rows:
                finished = True
                break
        if finished:
            break
        returns = _discounted(rewards, discount)
        loss = torch.stack([-lp * (g - baseline) for lp, g in zip(logps, returns)]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    settings["n_searchable_rows"] = int(n_rows)
    return pack_runs("reinforce", [rows[np.asarray(sequence, dtype=np.int64)]], val, test, time,
                     budget_s, run_seed, start_index=[int(rows[start])], settings=settings)


def space(n=300, dim=16, seed=0, nan_rows=()):
    """Synthetic search space: N(0,1) latents, accuracies in NB-101's range, times 300-5500 s."""
    rng = np.random.default_rng(seed)
    feats = torch.from_numpy(rng.standard_normal((n, dim)))
    val = 0.95 - 0.15 * rng.beta(1.5, 6.0, n)
    test = val - 0.01 * rng.random(n)
    time = rng.uniform(300.0, 5500.0, n)
    for r in nan_rows:
        val[r] = np.nan
    return feats, val, test, time


def assert_same_runs(batched, r, single):
    n = batched.lengths[r]
    assert n == single.lengths[0]
    np.testing.assert_array_equal(batched.run(r), single.run(0))
    assert batched.start_index[r] == single.start_index[0]
    np.testing.assert_array_equal(batched.times[r, :n], single.times[0, :n])


@pytest.mark.parametrize("discount", [0.0, 0.8])
def test_batched_equals_single_run_reference(discount):
    feats, val, test, time = space(nan_rows=(3, 50, 51, 299))
    n_runs, budget, seed = 3, 1.6e5, 7
    res = reinforce_search(feats, val, test, time, n_runs, budget, seed, "cpu",
                           discount=discount, progress=False)
    # runs stop at different steps, so the batch shrinks mid-search (finished runs are dropped)
    assert len(set(res.lengths.tolist())) > 1
    assert res.lengths.min() > 3 * 16  # several Adam updates happened before the runs ended
    for r, run_seed in enumerate(run_seeds(seed, n_runs)):
        single = reinforce_single_run_reference(feats, val, test, time, budget, run_seed,
                                                discount=discount)
        assert_same_runs(res, r, single)


def test_run_does_not_depend_on_batch_size_or_chunking():
    feats, val, test, time = space(n=200, seed=1)
    big = reinforce_search(feats, val, test, time, 4, 1e5, 3, "cpu", progress=False)
    small = reinforce_search(feats, val, test, time, 2, 1e5, 3, "cpu", max_chunk_elems=2 * 7,
                             progress=False)  # 7 rows per distance chunk
    for r in range(2):
        np.testing.assert_array_equal(big.run(r), small.run(r))


def test_budget_respected_nan_rows_skipped_no_repeats():
    nan_rows = (0, 10, 11, 12, 150)
    feats, val, test, time = space(nan_rows=nan_rows, seed=2)
    feats[20, 5] = float("nan")  # a NaN latent also removes the row
    budget = 1.2e5
    res = reinforce_search(feats, val, test, time, 5, budget, 11, "cpu", progress=False)
    for r in range(res.n_runs):
        run, t = res.run(r), res.times[r, : res.lengths[r]]
        assert len(set(run.tolist())) == len(run)
        assert res.start_index[r] not in run
        assert not set(run.tolist()) & {*nan_rows, 20}
        assert res.start_index[r] not in {*nan_rows, 20}
        assert np.all(t[:-1] < budget) and t[-1] >= budget
        np.testing.assert_allclose(t, np.cumsum(time[run]))
        np.testing.assert_array_equal(res.val_acc[r, : len(run)], val[run])
        assert np.all(res.indices[r, len(run):] == -1)


def test_small_space_is_exhausted_exactly_once():
    feats, val, test, time = space(n=40, seed=3)
    res = reinforce_search(feats, val, test, time, 2, 1e12, 5, "cpu", episode_len=4, progress=False)
    for r, run_seed in enumerate(run_seeds(5, 2)):
        assert sorted([*res.run(r), res.start_index[r]]) == list(range(40))
        single = reinforce_single_run_reference(feats, val, test, time, 1e12, run_seed, episode_len=4)
        assert_same_runs(res, r, single)


def test_bad_inputs_raise():
    feats, val, test, time = space(n=30)
    with pytest.raises(InfonasError, match="fractions"):
        reinforce_search(feats, val * 100, test * 100, time, 1, 1e4, 0, "cpu", progress=False)
    with pytest.raises(InfonasError, match="features"):
        reinforce_search(feats[:-1], val, test, time, 1, 1e4, 0, "cpu", progress=False)
    with pytest.raises(InfonasError, match="train_time"):
        reinforce_search(feats, val, test, -time, 1, 1e4, 0, "cpu", progress=False)
    with pytest.raises(InfonasError, match="budget"):
        reinforce_search(feats, val, test, time, 1, 0.0, 0, "cpu", progress=False)


# ------------------------------------------------------------------ random search


def test_random_search_shapes_budget_and_determinism():
    _, val, test, time = space(n=500, nan_rows=(1, 2, 3))
    budget = 5e4
    res = random_search(val, test, time, 6, budget, seed=4, progress=False)
    assert res.indices.shape == (6, res.lengths.max()) and res.method == "random"
    for r in range(6):
        run, t = res.run(r), res.times[r, : res.lengths[r]]
        assert len(set(run.tolist())) == len(run) and not {1, 2, 3} & set(run.tolist())
        assert np.all(t[:-1] < budget) and t[-1] >= budget
    again = random_search(val, test, time, 3, budget, seed=4, progress=False)
    for r in range(3):  # a run's stream does not depend on how many runs were asked for
        np.testing.assert_array_equal(again.run(r), res.run(r))
    assert not np.array_equal(res.run(0)[:5], res.run(1)[:5])


def test_random_search_exhausts_a_small_space():
    _, val, test, time = space(n=20)
    res = random_search(val, test, time, 2, 1e12, seed=0, progress=False)
    assert sorted(res.run(0).tolist()) == list(range(20))


# ------------------------------------------------------------------ regret


def hand_result():
    """Run 0: val 0.90, 0.93, 0.92, 0.94 finishing at 10, 30, 60, 100 s; test of the 0.94 one is lower."""
    val = np.array([0.90, 0.93, 0.92, 0.94, 0.5])
    test = np.array([0.89, 0.925, 0.93, 0.91, 0.5])
    time = np.array([10.0, 20.0, 30.0, 40.0, 1.0])
    return pack_runs("hand", [np.array([0, 1, 2, 3]), np.array([4])], val, test, time, 100.0, 0)


def test_regret_known_values_and_nan_before_first_result():
    res = hand_result()
    grid = np.array([5.0, 10.0, 29.9, 30.0, 60.0, 99.0, 100.0])
    val_r, test_r = regret_curves(res, 0.95, 0.94, grid)
    np.testing.assert_allclose(val_r[0], [np.nan, 0.05, 0.05, 0.02, 0.02, 0.02, 0.01], equal_nan=True)
    # incumbent = best validation so far: its test accuracy can drop (0.925 -> 0.91)
    np.testing.assert_allclose(test_r[0], [np.nan, 0.05, 0.05, 0.015, 0.015, 0.015, 0.03], equal_nan=True)
    _, best_r = regret_curves(res, 0.95, 0.94, grid, test_of="best")
    np.testing.assert_allclose(best_r[0], [np.nan, 0.05, 0.05, 0.015, 0.01, 0.01, 0.01], equal_nan=True)
    np.testing.assert_allclose(val_r[1], 0.45)  # run 1 finished at 1 s
    fv, ft = final_regret(res, 0.95, 0.94)
    np.testing.assert_allclose(fv, [0.01, 0.45])
    np.testing.assert_allclose(ft, [0.03, 0.44])
    with pytest.raises(InfonasError):
        regret_curves(res, 0.95, 0.94, grid, test_of="oracle")


def test_regret_monotone_on_real_searches():
    feats, val, test, time = space(n=400, seed=5)
    grid = log_time_grid(300.0, 2e5, 60)
    for res in (reinforce_search(feats, val, test, time, 3, 2e5, 1, "cpu", progress=False),
                random_search(val, test, time, 3, 2e5, seed=1, progress=False)):
        val_r, _ = regret_curves(res, val.max(), test.max(), grid)
        _, best_r = regret_curves(res, val.max(), test.max(), grid, test_of="best")
        for curve in (*val_r, *best_r):
            finite = curve[~np.isnan(curve)]
            assert finite.size > 20 and np.all(np.diff(finite) <= 0) and np.all(finite >= 0)
            assert np.all(np.isfinite(curve[np.argmax(~np.isnan(curve)):]))  # NaN only as a prefix


def test_ecdf_and_grid():
    x, p = ecdf(np.array([0.3, np.nan, 0.1, 0.2, 0.2]))
    np.testing.assert_allclose(x, [0.1, 0.2, 0.2, 0.3])
    np.testing.assert_allclose(p, [0.25, 0.5, 0.75, 1.0])
    g = log_time_grid(10.0, 1e6, 6)
    np.testing.assert_allclose(g, [10, 100, 1e3, 1e4, 1e5, 1e6])
    with pytest.raises(InfonasError):
        log_time_grid(0.0, 1.0)


# ------------------------------------------------------------------ store


def test_save_load_round_trip(tmp_path):
    feats, val, test, time = space(n=60)
    res = reinforce_search(feats, val, test, time, 2, 3e4, 2, "cpu", progress=False)
    path = tmp_path / "search" / "run.h5"
    save_search(path, res)
    assert [p.name for p in path.parent.iterdir()] == ["run.h5"]  # no temporary left behind
    back = load_search(path)
    assert isinstance(back, SearchResult)
    assert (back.method, back.budget_s, back.seed, back.settings) == \
        (res.method, res.budget_s, res.seed, res.settings)
    for name in ("indices", "times", "val_acc", "test_acc", "lengths", "start_index"):
        np.testing.assert_array_equal(getattr(back, name), getattr(res, name))


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(InfonasError, match="not found"):
        load_search(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(InfonasError, match="bad.h5: not a readable search result"):
        load_search(bad)
    import h5py

    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["indices"] = np.zeros((1, 1))
    with pytest.raises(InfonasError, match="missing"):
        load_search(tmp_path / "empty.h5")


def test_table_without_test_accuracy_is_searched_on_validation():
    from infonas.evaluation.regret import searchable_rows

    val = np.array([0.9, np.nan, 0.8, 0.85])
    time = np.array([10.0, 10.0, np.nan, 5.0])
    no_test = np.full(4, np.nan)
    assert list(searchable_rows(val, no_test, time)) == [0, 3]
    some_test = np.array([0.9, 0.9, 0.9, np.nan])
    with pytest.raises(InfonasError, match="only 1 of 4"):
        searchable_rows(val, some_test, time)
    result = random_search(val, no_test, time, n_runs=3, budget_s=100.0, seed=0, progress=False)
    assert np.isnan(result.test_acc[np.isfinite(result.val_acc)]).all()
