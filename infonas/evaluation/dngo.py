"""arch2vec's Bayesian optimisation with DNGO on a feature matrix, with all independent runs batched.

How arch2vec runs it (paper section 3.3.2; what the paper leaves open was read from arch2vec's
search_methods/dngo.py and the one-hidden-layer DNGO it imports; docs/settings.md lists where the
prose and the code differ):

- Start: `init_size` (16) architectures drawn uniformly without repetition, each evaluated and charged.
- Iteration: fit DNGO to the pool (features -> validation accuracy): inputs normalised to zero mean
  and unit variance over the pool; a network x -> tanh(x W1 + b1) -> linear output with `n_units`
  (128) hidden units, PyTorch's default uniform initialisation, trained `epochs` (100) epochs of
  Adam (lr 1e-2) on the mean squared error in shuffled minibatches of 10 (a last partial minibatch
  is dropped, as the code's minibatch iterator does). Then Bayesian linear regression on the hidden
  layer (no bias column): weight prior N(0, 1/alpha), noise precision beta, alpha and beta set by
  maximising the marginal likelihood (MacKay's fixed-point updates on the eigenvalues of
  Phi^T Phi, bounded to pybnn's range e^-10..e^10).
- Acquisition: expected improvement of every unvisited row over an incumbent: the constant 0.95 by
  default (`incumbent="fixed"`, as the code does), or the best validation accuracy in the pool
  (`incumbent="best"`). Rows are ranked by log EI (exact where EI underflows to 0 far below the
  incumbent, so those rows do not tie). The `top_k` (5) best are evaluated in the code's order
  (ascending EI: the best last) and charged.
- Stop: a run stops with the evaluation that brings its clock to the budget (kept, as in the code),
  or when every row has been visited.

Batched form: every run has its own CPU torch.Generator seeded `run_seeds(seed, n_runs)[r]`, which
draws, in order: the initial permutation, then per iteration the network's initial weights and the
minibatch orders of all epochs. All runs in an iteration have the same pool size, so their networks
train as one batched model (batched matmuls, gradients written out, Adam elementwise per run), and
the regression and EI are batched too. EI is computed exactly only for the rows that cheap bounds
leave in the running (a few dozen of 20k; top_ei), so the picks are those of scoring every row. In
float64 the batch reproduces the plain one-run reference of tests/test_dngo.py (torch.nn, autograd,
torch.optim.Adam, EI of every row) pick for pick. On the CPU the networks train and the bounds'
per-row terms are computed by default in C (dngo_native.py, same arithmetic); PyTorch is the
fallback and the GPU path.
"""

from __future__ import annotations

import logging
import math
import time as _time
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.evaluation import dngo_native
from infonas.evaluation.regret import SearchResult, as_float64, pack_runs, run_seeds, searchable_rows
from infonas.runtime import resolve_device

logger = logging.getLogger(__name__)

INCUMBENTS = ("fixed", "best")
KERNELS = ("auto", "native", "torch")
MINIBATCH = 10  # pybnn's DNGO default batch size, which arch2vec's script keeps
LOG_BOUND = 10.0  # pybnn bounds log(alpha) and log(1/beta) to [-10, 10]
MACKAY_ITERS = 100
# posterior eigen-directions whose variance part top_ei computes per row before bounding the rest
BOUND_DIRECTIONS = 32
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def dngo_settings(init_size, top_k, n_units, epochs, lr, incumbent, objective, dtype) -> dict:
    """Validated hyperparameters, also stored with the result for provenance."""
    if min(init_size, top_k, n_units, epochs) < 1:
        raise InfonasError(f"bo: init_size, top_k, n_units and epochs must be >= 1, got "
                           f"{init_size}, {top_k}, {n_units}, {epochs}")
    if incumbent not in INCUMBENTS:
        raise InfonasError(f"bo: incumbent must be one of {INCUMBENTS}, got '{incumbent}'")
    if not lr > 0 or dtype not in _DTYPES:
        raise InfonasError(f"bo: need lr > 0 and dtype in {tuple(_DTYPES)}, got {lr}, '{dtype}'")
    return {"init_size": int(init_size), "top_k": int(top_k), "n_units": int(n_units), "epochs": int(epochs),
            "lr": float(lr), "incumbent": incumbent, "objective": float(objective), "dtype": dtype,
            "minibatch": MINIBATCH, "betas": [0.9, 0.999], "eps": 1e-8, "mackay_iters": MACKAY_ITERS}


def prepare_inputs(features, val_acc, test_acc, train_time, budget_s):
    """float64 inputs and the searchable rows (finite metrics and features)."""
    feats = as_float64(features, "features")
    val, test, time = (as_float64(a, n) for a, n in
                       ((val_acc, "val_acc"), (test_acc, "test_acc"), (train_time, "train_time")))
    rows = searchable_rows(val, test, time, feats)
    if not budget_s > 0:
        raise InfonasError(f"bo: budget_s must be > 0, got {budget_s}")
    return feats, val, test, time, rows


def init_draws(gen: torch.Generator, n_rows: int, init_size: int) -> torch.Tensor:
    """A run's initial rows: the first `init_size` of a uniform permutation of the searchable rows."""
    return torch.randperm(n_rows, generator=gen)[:init_size]


def network_draws(gen: torch.Generator, dim: int, n_units: int, epochs: int, n_pool: int):
    """One iteration's draws of a run: initial weights (PyTorch's nn.Linear bounds) and minibatch orders.

    Returns w1 (dim, units), b1 (units,), w2 (units,), b2 () in float64 and (epochs, n_pool) orders.
    """
    u = torch.rand(dim * n_units + 2 * n_units + 1, generator=gen, dtype=torch.float64) * 2 - 1
    b_in, b_out = 1.0 / math.sqrt(dim), 1.0 / math.sqrt(n_units)
    w1 = u[: dim * n_units].view(dim, n_units) * b_in
    b1 = u[dim * n_units: dim * n_units + n_units] * b_in
    w2 = u[dim * n_units + n_units: -1] * b_out
    b2 = u[-1] * b_out
    order = torch.rand((epochs, n_pool), generator=gen, dtype=torch.float64).argsort(dim=1)
    return (w1, b1, w2, b2), order


def normalise(pool_x: torch.Tensor):
    """Zero mean, unit variance per feature over the pool (population std; a constant feature keeps std 1)."""
    mean = pool_x.mean(dim=-2, keepdim=True)
    std = pool_x.std(dim=-2, unbiased=False, keepdim=True)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def mackay_evidence(lam: torch.Tensor, q: torch.Tensor, yy: torch.Tensor, n: int, iters: int = MACKAY_ITERS):
    """alpha, beta maximising the BLR marginal likelihood, batched over the leading dimension.

    lam: (..., H) eigenvalues of Phi^T Phi; q: (..., H) V^T Phi^T y; yy: (...) |y|^2. MacKay's
    fixed-point updates (Bishop, PRML 3.5.2) from pybnn's defaults alpha=1, beta=1000, each clamped
    to [e^-10, e^10] like pybnn's search range.
    """
    lam = lam.clamp_min(0)
    alpha = torch.ones_like(yy)
    beta = torch.full_like(yy, 1000.0)
    lo, hi = math.exp(-LOG_BOUND), math.exp(LOG_BOUND)
    for _ in range(iters):
        denom = beta[..., None] * lam + alpha[..., None]
        m_coef = beta[..., None] * q / denom  # weights in the eigenbasis
        gamma = (beta[..., None] * lam / denom).sum(-1)
        mm = (m_coef ** 2).sum(-1)
        resid = (yy - 2 * (m_coef * q).sum(-1) + (m_coef ** 2 * lam).sum(-1)).clamp_min(1e-300)
        alpha = (gamma / mm.clamp_min(1e-300)).clamp(lo, hi)
        beta = ((n - gamma) / resid).clamp(lo, hi)
    return alpha, beta


def log_expected_improvement(mean: torch.Tensor, std: torch.Tensor, incumbent) -> torch.Tensor:
    """log EI for maximisation: log(std) + log(phi(u) + u Phi(u)), u = (mean - incumbent) / std.

    Finite and rising in u everywhere, so it ranks rows where EI itself underflows to 0 (far below the
    incumbent) and top_ei's bounds stay ordered. Above the incumbent (u >= 0) the sum is computed as it
    stands. Below, it is phi(u) (1 + u Phi(u)/phi(u)) with the Mills ratio from erfcx, until that
    difference loses more digits than the asymptotic series 1/u^2 (1 - 3/u^2 + 15/u^4 - 105/u^6) is off,
    at u = -(945 / eps)^(1/10) (-9.8 in float32, -76 in float64), where the series takes over.
    """
    u = (mean - incumbent) / std
    log_phi = -0.5 * u * u - 0.5 * math.log(2 * math.pi)
    above = torch.log(torch.exp(log_phi) + u * torch.special.ndtr(u))
    ratio = math.sqrt(math.pi / 2) * torch.special.erfcx(-u / math.sqrt(2))  # Phi(u) / phi(u)
    tiny = torch.finfo(mean.dtype).tiny
    below = log_phi + torch.log((1 + u * ratio).clamp_min(tiny))
    w = 1 / (u * u)
    far = log_phi + torch.log((w * (1 - w * (3 - w * (15 - 105 * w)))).clamp_min(tiny))
    cut = (945 / torch.finfo(mean.dtype).eps) ** 0.1
    return torch.log(std) + torch.where(u >= 0, above, torch.where(u < -cut, far, below))


def dngo_search(
    features,
    val_acc,
    test_acc,
    train_time,
    n_runs: int,
    budget_s: float,
    seed: int,
    device: str = "auto",
    *,
    init_size: int = 16,
    top_k: int = 5,
    n_units: int = 128,
    epochs: int = 100,
    lr: float = 1e-2,
    incumbent: str = "fixed",
    objective: float = 0.95,
    dtype: str = "float32",
    max_chunk_elems: int | None = None,
    kernel: str = "auto",
    progress: bool = True,
) -> SearchResult:
    """n_runs independent arch2vec DNGO searches on `features`, fitted and scored as one batch.

    features: (N, dim) per architecture; val_acc, test_acc, train_time: (N,) NB-101 metrics. Rows
    with any NaN are never visited. `objective` is the fixed incumbent of EI (`incumbent="fixed"`).
    `dtype` is the precision of network training and scoring (the regression runs in float64):
    float32 (default) is about twice as fast; float64 reproduces the reference pick for pick.
    `max_chunk_elems` bounds the (runs x rows x units) block of the scoring pass (CPU default: 2**18,
    which keeps a block in cache). `kernel` trains the networks and computes the EI bounds' terms:
    "native" in C (CPU only, dngo_native.py), "torch" in PyTorch, "auto" in C on the CPU where a C
    compiler works, else PyTorch; the one used is stored in the settings.
    Run r equals the one-run reference (tests/test_dngo.py) seeded `run_seeds(seed, n_runs)[r]`.
    """
    if n_runs < 1:
        raise InfonasError(f"bo: n_runs must be >= 1, got {n_runs}")
    settings = dngo_settings(init_size, top_k, n_units, epochs, lr, incumbent, objective, dtype)
    feats_all, val, test, time, rows = prepare_inputs(features, val_acc, test_acc, train_time, budget_s)
    dev = torch.device(resolve_device(device))
    settings["kernel"] = training_kernel(kernel, dev, _DTYPES[dtype])
    space = _Space(feats_all[rows], val[rows], time[rows], budget_s, dev, _DTYPES[dtype])
    if max_chunk_elems is None:
        max_chunk_elems = 2**18 if dev.type == "cpu" else 2**27
    started = _time.perf_counter()
    gens = [torch.Generator().manual_seed(s) for s in run_seeds(seed, n_runs)]
    runs = _initial_runs(space, gens, min(settings["init_size"], space.n_rows))
    with tqdm(total=n_runs, desc="bo runs done", disable=not progress) as bar:
        active = [r for r in runs if not r.done]
        bar.update(n_runs - len(active))
        while active:
            # runs end together near the budget: the postfix shows progress before any run is done
            bar.set_postfix(evaluated=len(active[0].sequence), clock_s=f"{min(r.clock for r in active):.3g}")
            _iteration(space, active, settings, max_chunk_elems)
            still = [r for r in active if not r.done]
            bar.update(len(active) - len(still))
            active = still
    logger.info("bo: %d runs on %d rows, %.1f s on %s", n_runs, space.n_rows, _time.perf_counter() - started, dev)
    settings["n_searchable_rows"] = int(space.n_rows)
    return pack_runs("bo", [rows[np.asarray(r.sequence, dtype=np.int64)] for r in runs],
                     val, test, time, budget_s, seed, settings=settings)


def training_kernel(kernel: str, dev: torch.device, dtype: torch.dtype) -> str:
    """"native" or "torch": what `kernel` resolves to on `dev` (see dngo_search)."""
    if kernel not in KERNELS:
        raise InfonasError(f"bo: kernel must be one of {KERNELS}, got '{kernel}'")
    if kernel == "torch":
        return kernel
    usable = dev.type == "cpu" and dngo_native.available(dtype)  # compiles it at the first call
    if kernel == "native" and not usable:
        raise InfonasError(f"bo: kernel 'native' needs the CPU and a working C compiler "
                           f"(device {dev}, compiler {dngo_native.compiler()})")
    return "native" if usable else "torch"


class _Space:
    """The searchable rows on the device: features (float64 and working dtype), metrics, budget."""

    def __init__(self, feats, val, time, budget_s, dev, dtype):
        self.feats64 = torch.as_tensor(feats, device=dev)
        self.feats = self.feats64.to(dtype)
        self.val = torch.as_tensor(val, device=dev)
        self.time = time  # numpy float64: the clock adds in the same order as pack_runs
        self.budget_s = float(budget_s)
        self.n_rows, self.dim = self.feats.shape
        self.dtype = dtype


class _Run:
    """One run's generator, visited rows in order, clock and visited mask."""

    def __init__(self, gen, n_rows, dev):
        self.gen = gen
        self.sequence: list[int] = []
        self.clock = 0.0
        self.done = False
        self.visited = torch.zeros(n_rows, dtype=torch.bool, device=dev)

    def evaluate(self, picks, space: _Space) -> None:
        """Charge picks in order; stop at the one that brings the clock to the budget."""
        for row in picks:
            self.sequence.append(int(row))
            self.visited[int(row)] = True
            self.clock += float(space.time[int(row)])
            if self.clock >= space.budget_s:
                self.done = True
                return
        if len(self.sequence) >= space.n_rows:
            self.done = True


def _initial_runs(space: _Space, gens, init_size: int) -> list[_Run]:
    runs = []
    for gen in gens:
        run = _Run(gen, space.n_rows, space.feats.device)
        run.evaluate(init_draws(gen, space.n_rows, init_size).tolist(), space)
        runs.append(run)
    return runs


def _iteration(space: _Space, runs: list[_Run], settings: dict, max_chunk_elems: int) -> None:
    """Fit every run's DNGO on its pool, score the unvisited rows by EI and evaluate the top k."""
    dev, dt = space.feats.device, space.dtype
    pool = torch.tensor([r.sequence for r in runs], device=dev)  # (R, n): equal pool sizes
    n = pool.shape[1]
    draws = [network_draws(r.gen, space.dim, settings["n_units"], settings["epochs"], n) for r in runs]
    params = [torch.stack([d[0][i] for d in draws]).to(dev, dt) for i in range(4)]
    orders = torch.stack([d[1] for d in draws]).to(dev)
    x = space.feats[pool]
    mean, std = normalise(x)
    xn = (x - mean) / std
    y = space.val[pool].to(dt)
    w1, b1, w2, b2 = fit_networks(xn, y, params, orders, settings)
    # fold the normalisation into the first layer: ((x - mean) / std) W1 + b1 = x W1' + b1'
    w1s = w1 / std.transpose(1, 2)
    b1s = b1 - (mean @ w1s).squeeze(1)
    phi = torch.tanh(torch.baddbmm(b1s.unsqueeze(1), x, w1s)).double()
    post = bayesian_linear_regression(phi, space.val[pool])
    inc = torch.full((len(runs),), settings["objective"], dtype=torch.float64, device=dev)
    if settings["incumbent"] == "best":
        inc = space.val[pool].max(dim=1).values
    visited = torch.stack([r.visited for r in runs])
    k = min(settings["top_k"], space.n_rows - n)
    picks = top_ei(space.feats, w1s, b1s, post, inc.to(dt), visited, k, max_chunk_elems,
                   native=settings["kernel"] == "native")
    for run, row_picks in zip(runs, picks.flip(1).tolist()):  # ascending EI, as the code appends them
        run.evaluate(row_picks, space)


def fit_networks(xn, y, params, orders, settings):
    """Every run's trained network: the C kernel where settings["kernel"] is "native", else PyTorch."""
    if settings["kernel"] == "native":
        return dngo_native.train_native(xn, y, params, orders, settings, minibatch_size(xn.shape[1]))
    return train_batched(xn, y, params, orders, settings)


def minibatch_size(n: int) -> int:
    """pybnn's rule: minibatches of 10, or the whole pool while it has at most 10 rows."""
    return n if n <= MINIBATCH else MINIBATCH


def train_batched(xn, y, params, orders, settings):
    """`epochs` of minibatch Adam on the MSE of each run's network, all runs at once.

    xn: (R, n, dim) normalised pool inputs; y: (R, n); params w1 (R, dim, H), b1 (R, H), w2 (R, H),
    b2 (R,); orders: (R, epochs, n) row orders. Gradients are written out (two layers); Adam is
    elementwise, so one torch.optim.Adam over the stacked (R, ...) tensors updates every run on its
    own (fused into one kernel per step where PyTorch offers it for the device).
    """
    w1, b1, w2, b2 = (p.detach().clone().requires_grad_() for p in params)
    lr, betas, eps = settings["lr"], tuple(settings["betas"]), settings["eps"]
    optimizer = torch.optim.Adam([w1, b1, w2, b2], lr=lr, betas=betas, eps=eps, fused=True)
    n = xn.shape[1]
    bs = minibatch_size(n)
    lanes = torch.arange(xn.shape[0], device=xn.device)[:, None]
    with torch.no_grad():
        for epoch in range(orders.shape[1]):
            # one gather per epoch; each minibatch is then a view of the shuffled pool
            x_epoch, y_epoch = xn[lanes, orders[:, epoch]], y[lanes, orders[:, epoch]]
            for start in range(0, n - bs + 1, bs):
                xb, yb = x_epoch[:, start:start + bs], y_epoch[:, start:start + bs]
                h = torch.tanh(torch.baddbmm(b1.unsqueeze(1), xb, w1))  # (R, B, H)
                out = torch.baddbmm(b2[:, None, None], h, w2.unsqueeze(2)).squeeze(2)
                d_out = (out - yb).mul_(2.0 / bs)  # d mean((out - y)^2) / d out
                d_z = torch.mul(h, h).neg_().add_(1).mul_(d_out.unsqueeze(2)).mul_(w2.unsqueeze(1))
                w1.grad = torch.bmm(xb.transpose(1, 2), d_z)
                b1.grad = d_z.sum(1)
                w2.grad = torch.bmm(d_out.unsqueeze(1), h).squeeze(1)
                b2.grad = d_out.sum(1)
                optimizer.step()
    return w1.detach(), b1.detach(), w2.detach(), b2.detach()


class Posterior(NamedTuple):
    """Per-run BLR posterior: mean weights (R, H); weight covariance cov (R, H, H) = V diag(spread) V^T
    with eigenvectors vecs V (R, H, H) and spread (R, H) in descending order; noise variance (R,).

    The predictive variance of a row with basis h is h^T cov h + noise (pybnn's BLR prediction).
    """

    weights: torch.Tensor
    cov: torch.Tensor
    noise: torch.Tensor
    vecs: torch.Tensor
    spread: torch.Tensor


def bayesian_linear_regression(phi: torch.Tensor, y: torch.Tensor) -> Posterior:
    """BLR on basis phi (R, n, H) and targets y (R, n), float64, alpha and beta by evidence."""
    gram = phi.transpose(1, 2) @ phi
    lam, vecs = torch.linalg.eigh(gram)  # ascending, so spread = 1 / (beta lam + alpha) descends
    q = (vecs.transpose(1, 2) @ (phi.transpose(1, 2) @ y.unsqueeze(2))).squeeze(2)
    alpha, beta = mackay_evidence(lam, q, (y * y).sum(1), phi.shape[1])
    spread = 1.0 / (beta[:, None] * lam.clamp_min(0) + alpha[:, None])
    weights = (vecs @ (beta[:, None] * q * spread).unsqueeze(2)).squeeze(2)
    cov = (vecs * spread.unsqueeze(1)) @ vecs.transpose(1, 2)
    return Posterior(weights, cov, 1.0 / beta, vecs, spread)


@torch.no_grad()
def top_ei(feats, w1, b1, post: Posterior, incumbent, visited, k: int, max_chunk_elems: int, native: bool = False):
    """The k unvisited rows of highest EI for each run, best first: (R, k) row numbers.

    Works in blocks of (runs, rows, units) of at most `max_chunk_elems` (a few runs by up to 4096 rows,
    so each matmul is large and its block stays in cache); with `native`, the C kernel computes the
    bound terms, in groups of runs of at most `max_chunk_elems` (runs x rows). Visited rows never count.
    """
    n_runs, n_units, n_rows = w1.shape[0], w1.shape[2], feats.shape[0]
    rows_per = max(1, min(n_rows, 4096, max_chunk_elems // n_units))
    runs_per = max(1, max_chunk_elems // (n_rows if native else n_units * rows_per))
    picks = []
    for g in range(0, n_runs, runs_per):
        sl = slice(g, g + runs_per)
        group = Posterior(*(t[sl] for t in post))
        candidates = _ei_candidates(feats, w1[sl], b1[sl], group, incumbent[sl], visited[sl], k, rows_per, native)
        score = exact_log_ei(feats, candidates, w1[sl], b1[sl], group, incumbent[sl], rows_per)
        score.masked_fill_(visited[sl].gather(1, candidates), -math.inf)
        picks.append(candidates.gather(1, score.topk(k, dim=1).indices))
    return torch.cat(picks).cpu()


def _ei_candidates(feats, w1, b1, post: Posterior, incumbent, visited, k, rows_per, native):
    """Rows (G, C) in ascending order that hold every run's k best by EI: a row whose upper bound is
    below the k-th best lower bound cannot be picked. Typically a few dozen of 20k rows remain."""
    lower, upper = ei_bounds(feats, w1, b1, post, incumbent, rows_per, native)
    lower.masked_fill_(visited, -math.inf)
    upper = torch.maximum(upper, lower).masked_fill_(visited, -math.inf)  # ordered even in the last bit
    threshold = lower.topk(k, dim=1).values[:, -1:]
    n_candidates = int((upper >= threshold).sum(1).max())
    return upper.topk(n_candidates, dim=1).indices.sort(dim=1).values


def ei_bounds(feats, w1, b1, post: Posterior, incumbent, rows_per: int, native: bool = False):
    """Lower and upper bounds (G, N) on every row's log EI, for a fraction of the exact cost.

    The exact variance h^T cov h costs an H x H product per row. Its part along the BOUND_DIRECTIONS
    eigenvectors of least spread (where the pool's bases lie, so nearly all of |h|^2 does too) is
    computed; the rest of |h|^2 lies along directions whose spread is between the smallest and the
    largest left, which bounds that part both ways. EI rises with the mean and with the deviation,
    so bounds on them bound EI (log_ei_range). Slack terms cover rounding. `native`: the per-row
    terms in C.
    """
    n_units, dt = w1.shape[2], feats.dtype
    m = min(BOUND_DIRECTIONS, n_units)
    basis = torch.cat([post.weights.unsqueeze(2), post.vecs[:, :, n_units - m:]], dim=2).to(dt)
    near_spread = post.spread[:, n_units - m:].to(dt)
    if native:
        mean, near, rest = dngo_native.bound_terms(feats, w1, b1, basis, near_spread)
    else:
        mean, near, rest = _bound_terms(feats, w1, b1, basis, near_spread, rows_per)
    far = post.spread[:, :n_units - m].to(dt)
    hi, lo = (far[:, 0], far[:, -1]) if m < n_units else (far.new_zeros(len(far)),) * 2
    eps = torch.finfo(dt).eps
    mean_slack = (16 * eps * math.sqrt(n_units) * post.weights.norm(dim=1)).to(dt)[:, None]
    var_slack = 16 * eps * n_units * post.spread[:, :1].to(dt)
    noise = post.noise.to(dt)[:, None]
    rest.clamp_(min=0)
    var_hi = near + hi[:, None] * rest + var_slack + noise
    var_lo = (near + lo[:, None] * rest - var_slack).clamp_(min=0) + noise
    return log_ei_range(mean - mean_slack, var_lo.sqrt_(), mean + mean_slack, var_hi.sqrt_(), incumbent[:, None])


def log_ei_range(mean_lo, std_lo, mean_hi, std_hi, incumbent):
    """Lower and upper bounds on log EI over boxes of means and deviations, in a few elementwise steps.

    EI = std f(u), f(u) = phi(u) + u Phi(u), rises with the mean and the deviation. With x = |u|,
    f(-x) = phi(x) (1 - x R(x)) for the Mills ratio R, and f(x) = x + f(-x). Birnbaum's (1942) and
    Sampford's (1953) bounds 2 / (x + sqrt(x^2 + 4)) < R(x) < 4 / (3x + sqrt(x^2 + 8)) give
    8 / ((s8 + x)(3x + s8)) < 1 - x R(x) < 4 / (s4 + x)^2, equal at x = 0 and within 1/x^2 of each
    other as x grows, with no cancellation anywhere (s4, s8 = sqrt(x^2 + 4), sqrt(x^2 + 8)).
    """
    return _log_f_bound((mean_lo - incumbent) / std_lo, upper=False) + torch.log(std_lo), \
        _log_f_bound((mean_hi - incumbent) / std_hi, upper=True) + torch.log(std_hi)


def _log_f_bound(u, upper: bool):
    x = u.abs()
    if upper:
        log_tail = math.log(4.0) - 2 * torch.log(torch.sqrt(x * x + 4) + x)
    else:
        s8 = torch.sqrt(x * x + 8)
        log_tail = math.log(8.0) - torch.log(s8 + x) - torch.log(3 * x + s8)
    log_below = log_tail - 0.5 * x * x - 0.5 * math.log(2 * math.pi)  # log f(-x)
    return torch.where(u < 0, log_below, torch.log(x + torch.exp(log_below)))


def _bound_terms(feats, w1, b1, basis, near_spread, rows_per):
    """Per row and run: the mean, the variance part along the basis' eigenvectors, the rest of |h|^2."""
    mean, near, rest = (feats.new_empty((w1.shape[0], feats.shape[0])) for _ in range(3))
    for s in range(0, feats.shape[0], rows_per):
        h = torch.tanh(torch.matmul(feats[s:s + rows_per], w1).add_(b1.unsqueeze(1)))  # (G, C, H)
        proj = h @ basis
        mean[:, s:s + rows_per] = proj[:, :, 0]
        p2 = proj[:, :, 1:].square_()
        near[:, s:s + rows_per] = (p2 @ near_spread.unsqueeze(2)).squeeze(2)
        rest[:, s:s + rows_per] = h.square_().sum(2).sub_(p2.sum(2))
    return mean, near, rest


def exact_log_ei(feats, rows, w1, b1, post: Posterior, incumbent, rows_per):
    """Exact log EI of the rows (G, C) of each run, in blocks of rows_per."""
    dt = feats.dtype
    weights, cov, noise = post.weights.to(dt).unsqueeze(2), post.cov.to(dt), post.noise.to(dt)[:, None]
    score = feats.new_empty(rows.shape)
    for s in range(0, rows.shape[1], rows_per):
        h = torch.tanh(torch.baddbmm(b1.unsqueeze(1), feats[rows[:, s:s + rows_per]], w1))  # (G, C, H)
        mean = (h @ weights).squeeze(2)
        std = (h @ cov).mul_(h).sum(2).add_(noise).sqrt_()
        score[:, s:s + rows_per] = log_expected_improvement(mean, std, incumbent[:, None])
    return score
