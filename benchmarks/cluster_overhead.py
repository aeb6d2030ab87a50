"""Wall time of the tiny default run locally and through profiles/slurm, side by side on one machine.

Why: on a cluster every job pays a submission, the plugin's status polling and a fresh Snakemake
start-up; grouping small jobs and keeping bookkeeping local are meant to bring a cluster run of a small
config close to a local one plus queueing. This measures both on the same code, config and machine,
each into a fresh store (the enumerated-cells cache is warmed first, outside both timings).

Needs a SLURM cluster whose node can run the jobs (e.g. `bash ../shared/tools/local-slurm.sh`, which
is that machine itself) and snakemake-executor-plugin-slurm. The profile is profiles/slurm with its
two SITE lines filled from sinfo's default partition and sacctmgr's default account.

    python benchmarks/cluster_overhead.py --cores 2

Prints one JSON object: local_s, cluster_s, their ratio, the jobs each ran, the cluster jobs by
rule/group name and state (from sacct).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from infonas.slurm import default_account, largest_node, run_jobs, site_profile

REPO = Path(__file__).resolve().parents[1]


def snakemake(*args: str, log: Path) -> float:
    """Run Snakemake in the repository, its output into `log`; seconds it took (raises on failure)."""
    tic = time.monotonic()
    with open(log, "w") as handle:
        rc = subprocess.call([sys.executable, "-m", "snakemake", *args], cwd=REPO, stdout=handle,
                             stderr=subprocess.STDOUT)
    if rc != 0:
        raise SystemExit(f"cluster_overhead: snakemake {' '.join(args)} failed (exit {rc}); see {log}")
    return time.monotonic() - tic


def steps_done(log: Path) -> int:
    found = re.findall(r"(\d+) of \d+ steps \(100%\) done", log.read_text())
    return int(found[-1]) if found else 0


def cluster_jobs(log: Path, started: str) -> list[dict]:
    """The run's SLURM jobs from sacct: id, comment (rule or group), state, elapsed."""
    run_id = re.search(r"SLURM run ID: (\S+)", log.read_text())
    if not run_id:
        return []
    return run_jobs(run_id.group(1), started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2, help="local cores (the profile's `cores` is 2)")
    parser.add_argument("--workdir", type=Path, default=None, help="stores and logs (default: a temporary folder)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cluster-overhead-"))
    work.mkdir(parents=True, exist_ok=True)
    node = largest_node(None)
    profile = site_profile(REPO / "profiles" / "slurm", work / "profile", node.partition, default_account())

    snakemake("--cores", str(args.cores), "--until", "searchspace", "--config", "run=bench-warm",
              f"store_dir={work / 'warm'}", log=work / "warm.log")
    local_s = snakemake("--cores", str(args.cores), "--config", "run=bench-local", f"store_dir={work / 'local'}",
                        log=work / "local.log")
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    cluster_s = snakemake("--profile", str(profile), "--config", "run=bench-slurm", f"store_dir={work / 'slurm'}",
                          log=work / "slurm.log")
    jobs = cluster_jobs(work / "slurm.log", started)
    print(json.dumps({
        "config": "config.yaml (tiny default)", "partition": node.partition, "node_cpus": node.cpus,
        "local_s": round(local_s, 1), "cluster_s": round(cluster_s, 1), "cluster_over_local": round(cluster_s / local_s, 2),
        "local_jobs": steps_done(work / "local.log"), "cluster_run_jobs": steps_done(work / "slurm.log"),
        "cluster_submissions": len(jobs), "cluster_job_states": dict(Counter(j["state"] for j in jobs)),
        "cluster_jobs_by_name": dict(Counter(re.sub(r"^rule_|_wildcards_.*$", "", j["comment"]) for j in jobs)),
        "workdir": str(work),
    }, indent=1))


if __name__ == "__main__":
    main()
