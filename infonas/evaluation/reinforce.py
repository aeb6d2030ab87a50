"""arch2vec's REINFORCE search in a latent space, with all independent runs stepped as one batch.

How arch2vec runs the search (paper section 3.3.1; details the paper leaves open were read from
arch2vec's search_methods/reinforce.py, which the info-NAS thesis also ran):

- State: the latent feature vector of the current architecture. A run starts from a uniformly random
  architecture, which is marked visited but not evaluated (no reward, no training time charged).
- Controller: a single-layer LSTM cell (latent dim -> 128 hidden) and a linear layer back to the
  latent dim, whose output is the mean of a Gaussian policy with identity covariance. PyTorch's
  default initialisation: every weight and bias uniform in +-1/sqrt(hidden).
- Step: sample action ~ N(mean, I); the next state is the nearest not-yet-visited architecture in L2
  distance; its validation accuracy is the reward and its training time is added to the run's clock.
- Episode: 16 steps. The LSTM state restarts at zero each episode; the architecture state carries
  over. After an episode: loss = mean over its steps of -log pi(a_t) * (G_t - baseline), then one
  Adam step (lr 1e-2, betas 0.9/0.999, eps 1e-8).
- Returns: the paper states discount 0.8, but the code computes discounted sums and then uses the raw
  rewards (G_t = r_t), i.e. discount 0, for the published runs. `discount` therefore defaults to 0.0;
  a value > 0 gives the textbook return G_t = r_t + discount * G_{t+1} within the episode.
- Baseline: the constant 0.95 (the paper's "baseline value", a constant in the code, not a moving
  average). Rewards are accuracy fractions, so accuracies must lie in [0, 1].
- Stop: a run stops with the evaluation that brings its clock to the budget (that evaluation is
  kept, as in the code's `while rt < budget` loop), or when every architecture has been visited.
  The update after the last, partial episode is skipped: it cannot change what the run visited.
  (The code's loop limit is 1.5e6 s while the paper reports curves to 1e6 s; pass the budget wanted.)
- Inputs: arch2vec feeds each architecture's 108-epoch validation accuracy, test accuracy and
  training time averaged over NB-101's three repeats, and measures regret against the maxima of
  those means over the whole space (0.95055 validation, 0.94318 test); see regret.regret_curves.

Batched form: run r has its own controller weights (leading run dimension on every parameter,
batched matmuls), its own Adam moments, its own visited mask row and its own CPU torch.Generator
seeded by `run_seeds(seed, n_runs)[r]`. Each generator draws, in order: the controller weights,
the start row, then Gaussian noise in blocks of NOISE_BLOCK steps. Everything runs in float64, so
the batched search reproduces a plain one-run loop (tests/test_reinforce.py's reference) run by
run, and the nearest-neighbour distances (expanded as |f|^2 - 2 q.f, a matmul) are exact to ~1e-14:
the search is exact, not approximate. Results can differ between CPU and GPU only where two distances tie to that precision.
"""

from __future__ import annotations

import logging
import math
import time as _time

import numpy as np
import torch
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.evaluation.regret import SearchResult, as_float64, pack_runs, run_seeds, searchable_rows
from infonas.runtime import resolve_device

logger = logging.getLogger(__name__)

NOISE_BLOCK = 256  # steps of policy noise drawn per generator call; part of a run's stream definition
_LOG_2PI = math.log(2.0 * math.pi)
_F64 = torch.float64


def _settings(hidden_dim, episode_len, discount, baseline, lr) -> dict:
    """Validated hyperparameters, also stored with the result for provenance."""
    if hidden_dim < 1 or episode_len < 1:
        raise InfonasError(
            f"reinforce: hidden_dim and episode_len must be >= 1, got {hidden_dim}, {episode_len}")
    if not 0.0 <= discount <= 1.0 or not lr > 0:
        raise InfonasError(f"reinforce: need 0 <= discount <= 1 and lr > 0, got {discount}, {lr}")
    return {"hidden_dim": int(hidden_dim), "episode_len": int(episode_len), "discount": float(discount),
            "baseline": float(baseline), "lr": float(lr), "betas": [0.9, 0.999], "eps": 1e-8,
            "noise_block": NOISE_BLOCK}


def _prepare(features, val_acc, test_acc, train_time, budget_s):
    """float64 inputs and the searchable rows (finite metrics and features, accuracies in [0, 1])."""
    feats = as_float64(features, "features")
    val, test, time = (as_float64(a, n) for a, n in
                       ((val_acc, "val_acc"), (test_acc, "test_acc"), (train_time, "train_time")))
    rows = searchable_rows(val, test, time, feats)
    for name, acc in (("val_acc", val), ("test_acc", test)):
        if np.any((acc[rows] < 0) | (acc[rows] > 1)):
            raise InfonasError(f"reinforce: {name} must be fractions in [0, 1] (the baseline 0.95 is one)")
    if not budget_s > 0:
        raise InfonasError(f"reinforce: budget_s must be > 0, got {budget_s}")
    return feats, val, test, time, rows


def _init_run(gen: torch.Generator, dim: int, hidden: int, n_rows: int) -> tuple[dict, int]:
    """One run's controller weights (PyTorch's default LSTMCell/Linear init) and its start row."""
    bound = 1.0 / math.sqrt(hidden)
    shapes = {"w_ih": (4 * hidden, dim), "w_hh": (4 * hidden, hidden), "b_ih": (4 * hidden,),
              "b_hh": (4 * hidden,), "w_fc": (dim, hidden), "b_fc": (dim,)}
    params = {name: (torch.rand(shape, generator=gen, dtype=_F64) * 2 - 1) * bound
              for name, shape in shapes.items()}
    start = int(torch.randint(n_rows, (1,), generator=gen))
    return params, start


def _noise_block(gen: torch.Generator, dim: int) -> torch.Tensor:
    """The next NOISE_BLOCK policy-noise vectors of a run: a fixed block size fixes the stream."""
    return torch.randn((NOISE_BLOCK, dim), generator=gen, dtype=_F64)


# ---------------------------------------------------------------------------------------------
# Batched search
# ---------------------------------------------------------------------------------------------


class _Batch:
    """Per-run tensors of the runs still searching (row b is run run_ids[b]); `keep` drops rows."""

    def __init__(self, run_ids, params, gens, visited, state):
        self.run_ids = run_ids
        self.params = params
        self.exp_avg = {k: torch.zeros_like(p) for k, p in params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(p) for k, p in params.items()}
        self.gens = gens
        self.visited = visited
        self.state = state
        self.clock = torch.zeros(len(gens), dtype=_F64, device=state.device)
        self.done = torch.zeros(len(gens), dtype=torch.bool, device=state.device)
        self.noise = None

    def keep(self, rows: torch.Tensor) -> None:
        sel = rows.nonzero().squeeze(1)
        sel_cpu = sel.tolist()
        self.params = {k: p.detach()[sel].requires_grad_() for k, p in self.params.items()}
        self.exp_avg = {k: m[sel] for k, m in self.exp_avg.items()}
        self.exp_avg_sq = {k: v[sel] for k, v in self.exp_avg_sq.items()}
        self.gens = [self.gens[i] for i in sel_cpu]
        for name in ("run_ids", "visited", "state", "clock", "done", "noise"):
            setattr(self, name, getattr(self, name)[sel])

    def refill_noise(self, dim: int) -> None:
        self.noise = torch.stack([_noise_block(g, dim) for g in self.gens]).to(self.state.device)


def _controller_step(p: dict, x, h, c):
    """One LSTMCell step for every run at once (weights (R, ...)): gates, policy mean, new h and c."""
    gates = _matvec(p["w_ih"], x, p["b_ih"]) + _matvec(p["w_hh"], h, p["b_hh"])
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return gates, _matvec(p["w_fc"], h, p["b_fc"]), h, c


def _matvec(w, x, b):
    """Per-run W @ x + b for W (R, out, in): the weight keeps its memory layout (no transposed copy)."""
    return torch.baddbmm(b.unsqueeze(2), w, x.unsqueeze(2)).squeeze(2)


@torch.no_grad()
def _nearest_unvisited(feats_t, sq_norms, queries, visited, chunk: int) -> torch.Tensor:
    """Row of the nearest unvisited feature for each query, scanning the rows in chunks.

    argmin_j |f_j - q|^2 = argmin_j |f_j|^2 - 2 q.f_j: one matmul per chunk, (R, chunk) memory.
    `feats_t` is the (dim, N) transposed feature matrix, contiguous so the matmul reads it directly.
    Ties go to the lowest row (first minimum within a chunk, strict improvement across chunks).
    """
    best = torch.full((queries.shape[0],), math.inf, dtype=_F64, device=queries.device)
    best_idx = torch.zeros(queries.shape[0], dtype=torch.long, device=queries.device)
    for s in range(0, feats_t.shape[1], chunk):
        d = torch.addmm(sq_norms[s:s + chunk], queries, feats_t[:, s:s + chunk], alpha=-2.0)
        d.masked_fill_(visited[:, s:s + chunk], math.inf)
        val, idx = d.min(dim=1)
        better = val < best
        best = torch.where(better, val, best)
        best_idx = torch.where(better, idx + s, best_idx)
    return best_idx


@torch.no_grad()
def _adam_(batch: _Batch, grads: dict, step: int, settings: dict) -> None:
    """torch.optim.Adam's single-tensor update, elementwise, so each run's row updates on its own."""
    lr, (b1, b2), eps = settings["lr"], settings["betas"], settings["eps"]
    step_size = lr / (1 - b1 ** step)
    bias_correction2_sqrt = math.sqrt(1 - b2 ** step)
    for k, p in batch.params.items():
        g = grads[k]
        batch.exp_avg[k].lerp_(g, 1 - b1)
        batch.exp_avg_sq[k].mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (batch.exp_avg_sq[k].sqrt() / bias_correction2_sqrt).add_(eps)
        p.addcdiv_(batch.exp_avg[k], denom, value=-step_size)


def _episode_grads(loss, trace: dict) -> dict:
    """Weight gradients of one episode, summed over its steps with one batched matmul per weight.

    Autograd is asked only for the gradients at the gate pre-activations and policy means of each
    step (backpropagated through time); a weight's gradient is then sum_t dgate_t outer input_t.
    Letting autograd accumulate the 16 per-step outer products into every (R, 4H, H) weight instead
    makes the backward pass about 4x slower than the forward (measured on CPU).
    """
    n = len(trace["gates"])
    grads = torch.autograd.grad(loss, [*trace["gates"], *trace["means"]])
    d_gates = torch.stack(grads[:n], dim=2)  # (R, 4H, K)
    d_means = torch.stack(grads[n:], dim=2)  # (R, dim, K)
    d_bias = d_gates.sum(dim=2)
    return {"w_ih": torch.bmm(d_gates, torch.stack(trace["x"], dim=1)),
            "w_hh": torch.bmm(d_gates, torch.stack(trace["h_in"], dim=1)),
            "b_ih": d_bias, "b_hh": d_bias,
            "w_fc": torch.bmm(d_means, torch.stack(trace["h_out"], dim=1)),
            "b_fc": d_means.sum(dim=2)}


def _episode_loss(logps, rewards, settings) -> torch.Tensor:
    """Sum over runs of each run's REINFORCE loss; runs share no parameter, so gradients separate."""
    rewards = torch.stack(rewards)  # (K, R)
    returns = torch.empty_like(rewards)
    g = torch.zeros_like(rewards[0])
    for k in reversed(range(rewards.shape[0])):
        g = rewards[k] + settings["discount"] * g
        returns[k] = g
    advantage = returns - settings["baseline"]
    return (-torch.stack(logps) * advantage).mean(dim=0).sum()


def reinforce_search(
    features,
    val_acc,
    test_acc,
    train_time,
    n_runs: int,
    budget_s: float,
    seed: int,
    device: str = "auto",
    *,
    hidden_dim: int = 128,
    episode_len: int = 16,
    discount: float = 0.0,
    baseline: float = 0.95,
    lr: float = 1e-2,
    max_chunk_elems: int | None = None,
    progress: bool = True,
) -> SearchResult:
    """n_runs independent arch2vec REINFORCE searches, stepped together as one batch on `device`.

    features: (N, dim) latent vector per architecture; val_acc, test_acc, train_time: (N,) NB-101
    metrics (fractions, seconds). Rows with any NaN are not states. Each run spends `budget_s`
    summed training seconds. `max_chunk_elems` bounds the (runs x rows) float64 distance block; the
    default keeps it in a CPU's L2 cache (2**18 elements, 2 MiB; measured 1.8x faster than one big
    block) or, on a GPU, amortises kernel launches (2**25, 256 MiB). Finished runs leave the batch at
    the next episode boundary.
    Run r equals the plain one-run reference (tests/test_reinforce.py) seeded `run_seeds(seed, n_runs)[r]`.
    """
    if n_runs < 1:
        raise InfonasError(f"reinforce: n_runs must be >= 1, got {n_runs}")
    settings = _settings(hidden_dim, episode_len, discount, baseline, lr)
    feats_all, val, test, time, rows = _prepare(features, val_acc, test_acc, train_time, budget_s)
    dev = torch.device(resolve_device(device))
    space = _Space(torch.as_tensor(feats_all[rows], device=dev), torch.as_tensor(val[rows], device=dev),
                   torch.as_tensor(time[rows], device=dev), float(budget_s))
    if max_chunk_elems is None:
        max_chunk_elems = 2**18 if dev.type == "cpu" else 2**25
    started = _time.perf_counter()
    batch, starts = _new_batch(space, run_seeds(seed, n_runs), hidden_dim)

    record, t, updates = [], 0, 0
    with tqdm(total=n_runs, desc="reinforce runs done", disable=not progress) as bar:
        while True:
            chunk = max(1, max_chunk_elems // len(batch.gens))
            logps, rewards, trace, t = _episode(batch, space, settings, t, chunk, record)
            n_done = int(batch.done.sum())  # the one host sync per episode
            bar.update(n_runs - len(batch.gens) + n_done - bar.n)
            if n_done == len(batch.gens):
                break
            updates += 1
            _adam_(batch, _episode_grads(_episode_loss(logps, rewards, settings), trace), updates, settings)
            if n_done:
                batch.keep(~batch.done)

    sequences = _assemble(record, n_runs, rows)
    logger.info("reinforce: %d runs on %d rows, %d steps, %.1f s on %s",
                n_runs, len(rows), t, _time.perf_counter() - started, dev)
    settings["n_searchable_rows"] = int(len(rows))
    return pack_runs("reinforce", sequences, val, test, time, budget_s, seed,
                     start_index=rows[np.asarray(starts)], settings=settings)


class _Space:
    """The searchable rows on the device: latents (and their transpose and squared norms), metrics."""

    def __init__(self, feats, val, time, budget_s):
        self.feats, self.val, self.time, self.budget_s = feats, val, time, budget_s
        self.feats_t = feats.T.contiguous()
        self.sq_norms = (feats * feats).sum(dim=1)
        self.n_rows, self.dim = feats.shape


def _new_batch(space: _Space, seeds: list[int], hidden_dim: int) -> tuple[_Batch, list[int]]:
    """Every run's generator, controller weights, start row and visited mask, stacked on the device."""
    dev, n_runs = space.feats.device, len(seeds)
    gens, inits, starts = [], [], []
    for run_seed in seeds:
        gen = torch.Generator().manual_seed(run_seed)
        params, start = _init_run(gen, space.dim, hidden_dim, space.n_rows)
        gens.append(gen)
        inits.append(params)
        starts.append(start)
    params = {k: torch.stack([p[k] for p in inits]).to(dev).requires_grad_() for k in inits[0]}
    start = torch.tensor(starts, device=dev)
    visited = torch.zeros((n_runs, space.n_rows), dtype=torch.bool, device=dev)
    visited[torch.arange(n_runs, device=dev), start] = True
    return _Batch(torch.arange(n_runs, device=dev), params, gens, visited, space.feats[start]), starts


def _episode(batch: _Batch, space: _Space, settings: dict, t: int, chunk: int, record: list):
    """Step every run of the batch through one episode from global step t.

    Runs that finish mid-episode keep computing (the batch stays rectangular) but visit, spend and
    record nothing more. Appends (step, run ids, chosen rows, active) per step to `record`.
    Returns the per-step log-probabilities and rewards, the controller trace, and the next step.
    """
    dev, n = space.feats.device, len(batch.gens)
    lane = torch.arange(n, device=dev)
    h = torch.zeros((n, settings["hidden_dim"]), dtype=_F64, device=dev)
    c = torch.zeros_like(h)
    logps, rewards = [], []
    trace = {"x": [], "h_in": [], "h_out": [], "gates": [], "means": []}
    for _ in range(settings["episode_len"]):
        if t % NOISE_BLOCK == 0:
            batch.refill_noise(space.dim)
        trace["x"].append(batch.state)
        trace["h_in"].append(h.detach())
        gates, mean, h, c = _controller_step(batch.params, batch.state, h, c)
        for name, value in (("gates", gates), ("means", mean), ("h_out", h.detach())):
            trace[name].append(value)
        action = mean.detach() + batch.noise[:, t % NOISE_BLOCK]
        logps.append(-0.5 * ((action - mean) ** 2).sum(dim=1) - 0.5 * space.dim * _LOG_2PI)
        idx = _nearest_unvisited(space.feats_t, space.sq_norms, action, batch.visited, chunk)
        active = ~batch.done
        batch.visited[lane, idx] |= active
        batch.clock = batch.clock + torch.where(active, space.time[idx], 0.0)
        batch.state = torch.where(active[:, None], space.feats[idx], batch.state)
        rewards.append(space.val[idx])
        record.append((t, batch.run_ids, idx, active))
        t += 1
        batch.done = batch.done | (batch.clock >= space.budget_s) | (t >= space.n_rows - 1)
    return logps, rewards, trace, t


def _assemble(record, n_runs: int, rows: np.ndarray) -> list[np.ndarray]:
    """Per-run visited original rows from the per-step records (a run's active steps are a prefix)."""
    run_ids = torch.cat([r for _, r, _, a in record]).cpu().numpy()
    idx = torch.cat([i for _, _, i, _ in record]).cpu().numpy()
    active = torch.cat([a for _, _, _, a in record]).cpu().numpy()
    step = np.concatenate([np.full(len(r), t) for t, r, _, _ in record])
    run_ids, idx, step = run_ids[active], idx[active], step[active]
    lengths = np.bincount(run_ids, minlength=n_runs)
    out = np.full((n_runs, max(lengths.max(initial=0), 1)), -1, dtype=np.int64)
    out[run_ids, step] = rows[idx]
    return [out[r, : lengths[r]] for r in range(n_runs)]
