"""How a workflow script's job runs: its torch device, its threads, its log file, and bad input as exit 1.

The Snakemake adapter: `run_rule` wraps every script in workflow_scripts/; `resolve_device` is also
what the library's torch code and the benchmarks use to read the config's `device`. torch is imported
inside the functions: `run_rule` limits torch's threads only when the script imported torch itself.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from infonas.errors import InfonasError


def resolve_device(name: str = "auto") -> str:
    """Map the config's `device` (auto | cpu | cuda | cuda:N) to a torch device string."""
    import torch  # lazy: see the module docstring

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InfonasError(f"config device: '{name}' requested but CUDA is not available")
    if name != "cpu" and not name.startswith("cuda"):
        raise InfonasError(f"config device: unknown device '{name}' (auto, cpu, cuda, cuda:N)")
    return name


def job_device(smk) -> str:
    """A job's torch device from the config's `device`: read from the config, not from params, so
    that moving a run from CPU to GPU reruns nothing."""
    return resolve_device(smk.config.get("device", "auto"))


def setup_logging(log_file: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Attach handlers for the rule's log file (and stderr); library modules only call getLogger."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def run_rule(body, smk) -> None:
    """Run a workflow script's body: log to the rule's log, bad input becomes one line and exit 1.

    `smk` is the `snakemake` object Snakemake injects; `body(smk)` does the work through infonas.
    """
    setup_logging(smk.log[0] if smk.log else None)
    fix_compute_threads(compute_threads(smk))
    try:
        body(smk)
    except InfonasError as error:
        logging.getLogger("infonas").error("%s", error)
        sys.exit(1)


#: the default of the `compute_threads` setting, for jobs whose rule does not pass the stage's own
DEFAULT_COMPUTE_THREADS = 2
_THREAD_LIMITS = []  # threadpoolctl's handle, kept so the limits hold for the whole job


def compute_threads(smk) -> int:
    """The CPU threads a job computes with: its stage's `compute_threads` setting (part of the digest), or
    the config's; never the threads Snakemake grants, which it lowers to --cores. CPU sums (matrix
    products, convolutions, reductions) are split by thread and added in an order that depends on the
    thread count, so results would depend on --cores and a resumed job could mix two."""
    if "compute_threads" in smk.params.keys():
        return int(smk.params.compute_threads)
    return int(smk.config.get("compute_threads", DEFAULT_COMPUTE_THREADS))


def fix_compute_threads(n: int) -> None:
    """Run BLAS/OpenMP (numpy, scikit-learn) and, where the script imported it, torch on `n` threads.

    Snakemake sets OMP_NUM_THREADS and the BLAS variables to its own thread count before the script
    starts; the libraries loaded by now are set again here.
    """
    from threadpoolctl import threadpool_limits

    n = max(1, int(n))
    _THREAD_LIMITS.append(threadpool_limits(limits=n))
    if "torch" in sys.modules:  # the script imported a torch stage (torch is not imported for nothing)
        import torch

        torch.set_num_threads(n)
