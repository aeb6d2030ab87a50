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
    if "torch" in sys.modules:  # the script imported a torch stage
        limit_threads(smk.threads)
    try:
        body(smk)
    except InfonasError as error:
        logging.getLogger("infonas").error("%s", error)
        sys.exit(1)


def limit_threads(n: int) -> None:
    """Keep torch's CPU thread pool within the threads Snakemake granted the job."""
    import torch  # lazy: see the module docstring

    torch.set_num_threads(max(1, int(n)))
