"""Whether a SLURM partition can hold the workflow's jobs, checked before the first submission.

Why: `sbatch` refuses a job whose memory no node has ("Memory specification can not be satisfied"),
and the executor plugin then prints the refusal with the whole sbatch call, once per job; a job
asking for more CPUs than any node has is accepted and pends forever (reason PartitionConfig). Both
are known from `sinfo` before anything is submitted, so the run stops at once with one line that
names the rule, what it asks for, what the partition offers and what to change.
"""

from __future__ import annotations

import getpass
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from infonas.errors import InfonasError


@dataclass(frozen=True)
class Node:
    """The largest memory and CPU count among a partition's nodes (they may be different nodes)."""

    partition: str
    mem_mb: int
    cpus: int


def parse_sinfo(text: str, partition: str | None) -> Node:
    """The partition's largest node from `sinfo -h -o '%P|%m|%c'` lines (the default partition, marked
    with '*', when `partition` is None). Values such as '20000+' (nodes differ) count as shown."""
    best: dict[str, tuple[int, int]] = {}
    default = None
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 3:
            continue
        name, mem, cpus = parts
        if name.endswith("*"):
            name = default = name[:-1]
        numbers = [int(re.sub(r"\D", "", v) or 0) for v in (mem, cpus)]
        old = best.get(name, (0, 0))
        best[name] = (max(old[0], numbers[0]), max(old[1], numbers[1]))
    wanted = partition or default
    if wanted is None:
        raise InfonasError("SLURM: no partition given (slurm_partition) and sinfo marks no default partition")
    if wanted not in best:
        raise InfonasError(f"SLURM: partition '{wanted}' is not among sinfo's partitions ({', '.join(sorted(best))})")
    return Node(wanted, *best[wanted])


def largest_node(partition: str | None, run: Callable = subprocess.run) -> Node:
    """Ask `sinfo` for the partition's largest node."""
    try:
        result = run(["sinfo", "-h", "-o", "%P|%m|%c"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InfonasError(f"SLURM: sinfo did not answer ({error})") from None
    if result.returncode != 0:
        raise InfonasError(f"SLURM: sinfo failed: {result.stderr.strip()}")
    return parse_sinfo(result.stdout, partition)


def check_fits(requests: Mapping[str, tuple[int, int]], node: Node) -> None:
    """Raise one line for the rule whose (mem_mb, CPUs) the partition's largest node cannot hold."""
    for rule, (mem_mb, cpus) in sorted(requests.items(), key=lambda item: -item[1][0]):
        if mem_mb > node.mem_mb:
            raise InfonasError(
                f"rule {rule} asks for mem_mb={mem_mb} but the largest node of SLURM partition "
                f"'{node.partition}' has {node.mem_mb} MB: use a partition with larger nodes (slurm_partition) "
                f"or a smaller run (the request follows its sizes, infonas.resources)")
        if cpus > node.cpus:
            raise InfonasError(
                f"rule {rule} asks for {cpus} CPUs but the largest node of SLURM partition "
                f"'{node.partition}' has {node.cpus}: lower the profile's `cores`")


def partition_of(default_resources: list[str]) -> str | None:
    """The `slurm_partition=...` among Snakemake's default-resources arguments, unquoted, or None."""
    for item in default_resources:
        name, _, value = item.partition("=")
        if name == "slurm_partition" and value:
            return value.strip("'\"")
    return None


def site_profile(profile: Path, dest: Path, partition: str | None, account: str | None) -> Path:
    """A copy of `profile` (a folder with config.yaml) with its two SITE lines filled in, as a user does
    by hand in profiles/slurm/config.yaml; None leaves a line commented (the plugin's default)."""
    text = (Path(profile) / "config.yaml").read_text()
    for key, value in (("slurm_partition", partition), ("slurm_account", account)):
        if value is None:
            continue
        text, n = re.subn(rf"^  # {key}: \S+", f"  {key}: {value}", text, flags=re.M)
        if n != 1:
            raise InfonasError(f"{profile}/config.yaml: no SITE line '# {key}: ...' to fill in")
    Path(dest).mkdir(parents=True, exist_ok=True)
    (Path(dest) / "config.yaml").write_text(text)
    return Path(dest)


def default_account(run: Callable = subprocess.run) -> str | None:
    """The user's default SLURM account (sacctmgr), or None where accounting has none."""
    try:
        result = run(["sacctmgr", "-n", "-P", "list", "user", getpass.getuser(), "format=defaultaccount"],
                     capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InfonasError(f"SLURM: sacctmgr did not answer ({error})") from None
    lines = result.stdout.split()
    return lines[0] if result.returncode == 0 and lines else None


def run_jobs(run_id: str, started: str, run: Callable = subprocess.run) -> list[dict]:
    """A Snakemake run's SLURM jobs from accounting (the plugin names every job by the run's id):
    id, comment (rule or group and its rules), state, elapsed."""
    result = run(["sacct", "-n", "-X", "-P", "--name", run_id, "-S", started, "-o", "JobIDRaw,Comment,State,Elapsed"],
                 capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise InfonasError(f"SLURM: sacct failed: {result.stderr.strip()}")
    rows = [line.split("|") for line in result.stdout.splitlines() if line.strip()]
    return [dict(zip(("id", "comment", "state", "elapsed"), row)) for row in rows]
