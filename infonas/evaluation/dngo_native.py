"""The C fast paths of DNGO on the CPU (dngo_native.c), compiled at first use: network training and
the per-row terms of the EI bounds.

On the CPU, training 500 runs' networks as one batched PyTorch model is bound by per-op memory
traffic and by small batched matmuls; the C loop trains one run at a time with its weights, Adam
moments and activations in cache. The bound terms run the hidden layer, its tanh and the projections
of a tile of rows in registers, where PyTorch makes a pass over memory for each. It is compiled
once per process and precision into a temporary folder with the system C compiler ($CC, else cc),
for this machine's CPU; where no compiler works, `available` says so and DNGO runs in PyTorch.
Runs are split across torch.get_num_threads() threads (ctypes releases the GIL during the call).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from infonas.errors import InfonasError

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("dngo_native.c")
_MATH = {torch.float32: ("float", "tanhf", "sqrtf"), torch.float64: ("double", "tanh", "sqrt")}
# -ffast-math lets the compiler call glibc's vector tanh; it is given to the compile step only, since
# linking with it would load crtfastmath.o and flush denormals to zero for the whole process
_FLAG_SETS = (["-O3", "-march=native", "-mprefer-vector-width=512", "-ffast-math"], ["-O3", "-ffast-math"], ["-O2"])
BASIS_COLUMNS = 11  # dngo_native.c's COLS: the basis is padded to a multiple of it
_SIGNATURES = {"dngo_train": [ctypes.c_int64] * 7 + [ctypes.c_void_p] * 7 + [ctypes.c_double] * 4,
               "dngo_bound_terms": [ctypes.c_int64] * 6 + [ctypes.c_void_p] * 8}


def compiler() -> str | None:
    """The C compiler used: $CC or cc, if it is on PATH."""
    return shutil.which(os.environ.get("CC", "cc"))


@functools.lru_cache(maxsize=None)
def _library(dtype: torch.dtype):
    """The compiled kernel for one precision, or None (logged once) where it cannot be built."""
    cc = compiler()
    if cc is None or dtype not in _MATH:
        return None
    real, tanh, sqrt = _MATH[dtype]
    folder = Path(tempfile.mkdtemp(prefix="infonas-dngo-"))
    obj, lib = folder / f"dngo_{real}.o", folder / f"dngo_{real}.so"
    defines = [f"-DREAL={real}", f"-DTANH={tanh}", f"-DSQRT={sqrt}"]
    try:
        for flags in _FLAG_SETS:
            steps = ([cc, *flags, *defines, "-fPIC", "-c", str(SOURCE), "-o", str(obj)],
                     [cc, "-shared", str(obj), "-o", str(lib), "-lm"])
            if all(subprocess.run(s, capture_output=True).returncode == 0 for s in steps):
                handle = ctypes.CDLL(str(lib))  # OSError where the folder may not hold executables
                for name, argtypes in _SIGNATURES.items():
                    getattr(handle, name).argtypes, getattr(handle, name).restype = argtypes, ctypes.c_int64
                return handle
    except OSError as error:
        logger.warning("bo: could not load the compiled %s: %s", SOURCE.name, error)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # a loaded library needs no file
    logger.warning("bo: could not build %s with %s; DNGO trains and scores in PyTorch (slower)", SOURCE.name, cc)
    return None


def available(dtype: torch.dtype) -> bool:
    """Whether the C kernel is built for `dtype` (compiling it now if needed)."""
    return _library(dtype) is not None


def train_native(xn, y, params, orders, settings, bs: int):
    """train_batched's result from the C kernel: xn (R, n, dim), y (R, n), params w1 (R, dim, H),
    b1 (R, H), w2 (R, H), b2 (R,) (copied, not changed), orders (R, epochs, n); CPU tensors of one dtype."""
    lib = _library(xn.dtype)
    if lib is None:
        raise InfonasError(f"bo: the C training kernel is not available for {xn.dtype} (no working C compiler)")
    x, yy = xn.contiguous(), y.contiguous()
    rows = orders.to(torch.int64).contiguous()
    w1, b1, w2, b2 = (p.detach().to(xn.dtype).clone().contiguous() for p in params)
    n_runs, n, dim = x.shape
    units, epochs = w1.shape[2], rows.shape[1]
    beta1, beta2 = settings["betas"]
    pointers = [ctypes.c_void_p(t.data_ptr()) for t in (x, yy, rows, w1, b1, w2, b2)]

    failed = _over_threads(n_runs, lambda first, last: lib.dngo_train(
        first, last, n, dim, units, epochs, bs, *pointers, settings["lr"], beta1, beta2, settings["eps"]))
    if failed:
        raise InfonasError(f"bo: the C training kernel ran out of memory in {failed} of {n_runs} runs")
    return w1, b1, w2, b2


def bound_terms(feats, w1, b1, basis, spread):
    """mean, near, rest (R, N) of dngo.ei_bounds: feats (N, dim), w1 (R, dim, H), b1 (R, H), basis
    (R, H, 1 + m) = [posterior mean weights | m eigenvectors], spread (R, m); CPU tensors of one dtype."""
    lib = _library(feats.dtype)
    if lib is None:
        raise InfonasError(f"bo: the C kernels are not available for {feats.dtype} (no working C compiler)")
    pad = -basis.shape[2] % BASIS_COLUMNS  # zero columns add nothing to any term
    basis, spread = torch.nn.functional.pad(basis, (0, pad)), torch.nn.functional.pad(spread, (0, pad))
    inputs = [t.to(feats.dtype).contiguous() for t in (feats, w1, b1, basis, spread)]
    n_runs, n_rows = w1.shape[0], feats.shape[0]
    outputs = [feats.new_empty((n_runs, n_rows)) for _ in range(3)]
    pointers = [ctypes.c_void_p(t.data_ptr()) for t in (*inputs, *outputs)]
    dim, units, cols = w1.shape[1], w1.shape[2], basis.shape[2]
    failed = _over_threads(n_runs, lambda first, last: lib.dngo_bound_terms(
        first, last, n_rows, dim, units, cols, *pointers))
    if failed:
        raise InfonasError("bo: the C scoring kernel ran out of memory")
    return outputs


def _over_threads(n_runs: int, call) -> int:
    """call(first, last) on runs split evenly across torch.get_num_threads() threads; the summed returns."""
    edges = np.linspace(0, n_runs, min(torch.get_num_threads(), n_runs) + 1).astype(int)
    with ThreadPoolExecutor(len(edges) - 1) as pool:
        return sum(pool.map(call, edges[:-1].tolist(), edges[1:].tolist()))
