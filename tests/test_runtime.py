"""How a workflow script's job runs (infonas.runtime): its compute threads follow the settings, never --cores."""
import subprocess
import sys
from types import SimpleNamespace

from snakemake.iocontainers import Namedlist

from infonas.runtime import compute_threads


def job(params=None, config=None, threads=1):
    """The parts of Snakemake's `snakemake` object that run_rule reads."""
    return SimpleNamespace(params=Namedlist(fromdict=params or {}), config=config or {}, threads=threads, log=[])


def test_compute_threads_come_from_the_stage_setting_not_from_snakemake():
    assert compute_threads(job({"compute_threads": 3}, {"compute_threads": 5}, threads=1)) == 3
    assert compute_threads(job({}, {"compute_threads": 5}, threads=1)) == 5
    assert compute_threads(job(threads=7)) == 2  # the schema's default


def test_run_rule_sets_torch_and_blas_threads_whatever_omp_num_threads_says(tmp_path):
    """Snakemake starts a script with OMP_NUM_THREADS = its threads (1 under --cores 1)."""
    code = (
        "import torch, numpy\n"
        "from types import SimpleNamespace\n"
        "from snakemake.iocontainers import Namedlist\n"
        "from threadpoolctl import threadpool_info\n"
        "from infonas.runtime import run_rule\n"
        "smk = SimpleNamespace(params=Namedlist(fromdict={'compute_threads': 2}), config={}, threads=1, log=[])\n"
        "run_rule(lambda s: print(torch.get_num_threads(), sorted({p['num_threads'] for p in threadpool_info()})),"
        " smk)\n"
    )
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[0] == "2 [2]", result.stdout
