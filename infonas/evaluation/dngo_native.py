"""The C fast path of DNGO network training on the CPU (dngo_train.c), compiled at first use.

On the CPU, training 500 runs' networks as one batched PyTorch model is bound by per-op memory
traffic and by small batched matmuls; the C loop trains one run at a time with its weights, Adam
moments and activations in cache, about 2.5x faster (benchmarks/bo_search.py). It is compiled
once per process and precision into a temporary folder with the system C compiler ($CC, else cc),
for this machine's CPU; where no compiler works, `available` says so and DNGO trains in PyTorch.
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

SOURCE = Path(__file__).with_name("dngo_train.c")
_MATH = {torch.float32: ("float", "tanhf", "sqrtf"), torch.float64: ("double", "tanh", "sqrt")}
# -ffast-math lets the compiler call glibc's vector tanh; it is given to the compile step only, since
# linking with it would load crtfastmath.o and flush denormals to zero for the whole process
_FLAG_SETS = (["-O3", "-march=native", "-mprefer-vector-width=512", "-ffast-math"], ["-O3", "-ffast-math"], ["-O2"])
_ARGTYPES = [ctypes.c_int64] * 7 + [ctypes.c_void_p] * 7 + [ctypes.c_double] * 4


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
                handle.dngo_train.argtypes, handle.dngo_train.restype = _ARGTYPES, ctypes.c_int64
                return handle
    except OSError as error:
        logger.warning("bo: could not load the compiled %s: %s", SOURCE.name, error)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # a loaded library needs no file
    logger.warning("bo: could not build %s with %s; DNGO networks train in PyTorch (slower)", SOURCE.name, cc)
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

    def train(first: int, last: int) -> int:
        return lib.dngo_train(first, last, n, dim, units, epochs, bs, *pointers, settings["lr"], beta1, beta2,
                              settings["eps"])

    edges = np.linspace(0, n_runs, min(torch.get_num_threads(), n_runs) + 1).astype(int)
    with ThreadPoolExecutor(len(edges) - 1) as pool:
        failed = sum(pool.map(train, edges[:-1].tolist(), edges[1:].tolist()))
    if failed:
        raise InfonasError(f"bo: the C training kernel ran out of memory in {failed} of {n_runs} runs")
    return w1, b1, w2, b2
