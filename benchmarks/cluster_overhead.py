"""Wall time of the tiny default run locally and through profiles/slurm, side by side on one machine.

Why: on a cluster every job pays a submission, the plugin's status polling and a fresh Snakemake
start-up; grouping small jobs and keeping bookkeeping local are meant to bring a cluster run of a small
config close to a local one plus queueing. This measures both on the same code, config and machine,
each into a fresh store (the enumerated-cells cache is warmed first, outside both timings).

Needs a SLURM cluster whose node can run the jobs (e.g. `bash scripts/local-slurm.sh`, which
is that machine itself) and snakemake-executor-plugin-slurm. The profile is profiles/slurm with its
two SITE lines filled from sinfo's default partition and sacctmgr's default account (or --partition,
--account). `--until RULE` times only the run up to that rule (the smoke test's tiny size);
`--dry-run` needs no cluster: Snakemake plans both runs, which checks the profile and the commands.

    python benchmarks/cluster_overhead.py --cores 2
    python benchmarks/cluster_overhead.py --dry-run --partition main

Prints one JSON object: local_s, cluster_s, their ratio, the jobs each ran, the cluster jobs by
rule/group name and state (from sacct); with --dry-run the jobs each run plans.
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


def planned_jobs(log: Path) -> int:
    """Jobs a dry run plans (its 'Job stats' total)."""
    found = re.findall(r"^total\s+(\d+)$", log.read_text(), flags=re.M)
    return int(found[-1]) if found else 0


def steps_done(log: Path) -> int:
    found = re.findall(r"(\d+) of \d+ steps \(\d+%\) done", log.read_text())  # --until stops short of 100%
    return int(found[-1]) if found else 0


def cluster_jobs(log: Path, started: str) -> list[dict]:
    """The run's SLURM jobs from sacct: id, comment (rule or group), state, elapsed."""
    run_id = re.search(r"SLURM run ID: (\S+)", log.read_text())
    if not run_id:
        return []
    return run_jobs(run_id.group(1), started)


def run_arguments(args, work: Path, profile: Path) -> dict[str, list[str]]:
    """Snakemake arguments of the warm-up, the local and the cluster run, each into its own store."""
    until = ["--until", args.until] if args.until else []
    return {
        "warm": ["--cores", str(args.cores), "--until", "enumerate_cells", "--config", "run=bench-warm",
                 f"store_dir={work / 'warm'}"],
        "local": ["--cores", str(args.cores), *until, "--config", "run=bench-local", f"store_dir={work / 'local'}"],
        "slurm": ["--profile", str(profile), *until, "--config", "run=bench-slurm", f"store_dir={work / 'slurm'}"],
    }


def dry_run(runs: dict[str, list[str]], work: Path) -> dict:
    """The jobs Snakemake plans for the local and the cluster run (no job runs, no cluster needed)."""
    for name in ("local", "slurm"):
        snakemake("-n", *runs[name], log=work / f"{name}-dry.log")
    return {"local_jobs_planned": planned_jobs(work / "local-dry.log"),
            "cluster_jobs_planned": planned_jobs(work / "slurm-dry.log")}


def timed_runs(runs: dict[str, list[str]], work: Path) -> dict:
    """Both runs' wall times, the jobs each ran and the cluster jobs by name and state (sacct)."""
    snakemake(*runs["warm"], log=work / "warm.log")
    local_s = snakemake(*runs["local"], log=work / "local.log")
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    cluster_s = snakemake(*runs["slurm"], log=work / "slurm.log")
    jobs = cluster_jobs(work / "slurm.log", started)
    return {
        "local_s": round(local_s, 1), "cluster_s": round(cluster_s, 1),
        "cluster_over_local": round(cluster_s / local_s, 2),
        "local_jobs": steps_done(work / "local.log"), "cluster_run_jobs": steps_done(work / "slurm.log"),
        "cluster_submissions": len(jobs), "cluster_job_states": dict(Counter(j["state"] for j in jobs)),
        "cluster_jobs_by_name": dict(Counter(re.sub(r"^rule_|_wildcards_.*$", "", j["comment"]) for j in jobs)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2, help="local cores (the profile's `cores` is 2)")
    parser.add_argument("--workdir", type=Path, default=None, help="stores and logs (default: a temporary folder)")
    parser.add_argument("--until", default=None, help="time the runs up to this rule only (default: the whole run)")
    parser.add_argument("--partition", default=None, help="SLURM partition (default: sinfo's default partition)")
    parser.add_argument("--account", default=None, help="SLURM account (default: the user's, from sacctmgr)")
    parser.add_argument("--dry-run", action="store_true", help="only plan both runs (no cluster needed)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cluster-overhead-"))
    work.mkdir(parents=True, exist_ok=True)
    node = None if args.dry_run else largest_node(args.partition)
    partition = args.partition or (node.partition if node else None)
    account = args.account or (None if args.dry_run else default_account())
    profile = site_profile(REPO / "profiles" / "slurm", work / "profile", partition, account)
    runs = run_arguments(args, work, profile)
    print(json.dumps({
        "config": "config.yaml (tiny default)", "until": args.until, "partition": partition, "account": account,
        "node_cpus": node.cpus if node else None,
        **(dry_run(runs, work) if args.dry_run else timed_runs(runs, work)),
        "workdir": str(work),
    }, indent=1))


if __name__ == "__main__":
    main()
