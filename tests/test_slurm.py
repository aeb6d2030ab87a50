"""The SLURM profile on a live cluster: the tiny default end to end through `--profile profiles/slurm`,
a scancel of a running pretrain and a running train job, and a request no node can hold.

Needs slurmctld + slurmd with accounting (sacct), e.g. the one-node cluster of
scripts/local-slurm.sh that `.ci/run` starts. Run with `make test-slurm` (marker `slurm`,
left out of `make test`). Without a cluster these tests fail and say why; they never skip.
INFONAS_TEST_CACHE_DIR, when set, is the runs' cache_dir (default: the config's, results/_cache).
"""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from infonas import slurm
from infonas.config import validate_config
from infonas.plan import build_plan
from infonas.resources import request
from progress_wait import Stalled, folder_state, wait_on_progress

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
#: pretrain JSON fields that measure the run rather than its result
TIMING_KEYS = {"per_epoch", "train_time_s", "wall_time_s", "resumed_from_epoch", "images_per_s", "tflops"}
GROUP_SIZE = 8  # profiles/slurm: group-components network=8
#: a run that writes nothing (log, store) for this long has stalled; one that keeps writing gets LIMIT_S
STALL_S, LIMIT_S = 900, 4 * 3600


def sh(*cmd, timeout=60):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def start_log_tail() -> str:
    path = os.environ.get("INFONAS_SLURM_START_LOG")
    if path and Path(path).is_file():
        return "\n--- cluster start log (tail) ---\n" + "\n".join(Path(path).read_text().splitlines()[-15:])
    return ""


@pytest.fixture(scope="module")
def cluster():
    """(partition, account) of a cluster whose node takes jobs and whose accounting answers."""
    reasons = []
    for cmd in (["sinfo", "-h", "-o", "%P|%t"], ["sacct", "-n", "-X", "-S", "now"],
                ["sacctmgr", "-n", "-P", "list", "user", os.environ.get("USER", "root"), "format=defaultaccount"]):
        try:
            result = sh(*cmd)
        except (OSError, subprocess.TimeoutExpired) as error:
            reasons.append(f"{cmd[0]}: {error}")
            continue
        if result.returncode != 0:
            reasons.append(f"{cmd[0]}: {result.stderr.strip()}")
        elif cmd[0] == "sinfo":
            states = dict(line.split("|") for line in result.stdout.split())
            partition = next((p[:-1] for p in states if p.endswith("*")), None)
            if partition is None or not re.match(r"idle|mix|alloc", states[partition + "*"]):
                reasons.append(f"sinfo: no default partition with a node that takes jobs ({result.stdout.strip()})")
        elif cmd[0] == "sacctmgr":
            account = result.stdout.strip().splitlines()[0] if result.stdout.strip() else None
    if reasons:
        pytest.fail("no usable SLURM cluster: " + "; ".join(reasons) + start_log_tail(), pytrace=False)
    return partition, account


@pytest.fixture(scope="module")
def site_profile(cluster, tmp_path_factory):
    """profiles/slurm with only its two site lines filled in (partition, account), as docs/cluster.md says."""
    partition, account = cluster
    return slurm.site_profile(REPO / "profiles" / "slurm", tmp_path_factory.mktemp("profile") / "slurm",
                              partition, account)


class Run:
    """One Snakemake invocation through the profile, with its SLURM run id and its jobs from sacct."""

    def __init__(self, profile, store, name, *extra):
        self.store, self.log = Path(store), Path(store).parent / f"{name}.log"
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.tic = time.monotonic()
        self.handle = open(self.log, "w")
        cache = [f"cache_dir={os.environ['INFONAS_TEST_CACHE_DIR']}"] if "INFONAS_TEST_CACHE_DIR" in os.environ else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--profile", str(profile), *extra, "--config", f"run={name}",
             f"store_dir={store}", *cache], cwd=REPO, stdout=self.handle, stderr=subprocess.STDOUT, text=True)
        self.wall_s = None

    def text(self) -> str:
        return self.log.read_text()

    def run_id(self) -> str | None:
        found = re.search(r"SLURM run ID: (\S+)", self.text())
        return found.group(1) if found else None

    def progress(self) -> tuple:
        """Changes while any of its jobs runs: the log and every file of the store."""
        return folder_state(self.log, self.store)

    def wait(self, limit_s: float = LIMIT_S) -> int:
        """The exit status, waiting while the run writes (see progress_wait)."""
        try:
            wait_on_progress(lambda: self.proc.poll() is not None, self.progress, "snakemake through SLURM",
                             STALL_S, limit_s)
        except Stalled as error:
            self.stop()
            pytest.fail(f"{error}; log: {self.log}")
        self.wall_s = time.monotonic() - self.tic
        self.handle.close()
        return self.proc.returncode

    def stop(self) -> None:
        """End the run and its cluster jobs (Snakemake waits for jobs it cannot cancel)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.run_id():
            sh("scancel", "--name", self.run_id())

    def jobs(self) -> pd.DataFrame:
        """This run's cluster jobs from accounting: id, comment (rule or group and its rules), state."""
        return pd.DataFrame(slurm.run_jobs(self.run_id(), self.started),
                            columns=["id", "comment", "state", "elapsed"])

    def running(self, match) -> list[str]:
        result = sh("squeue", "-h", "--name", self.run_id(), "-t", "RUNNING", "-o", "%i|%k")
        return [jid for jid, comment in (line.split("|", 1) for line in result.stdout.split()) if match(comment)]


def remote_rules(log: str) -> set[str]:
    """Rules Snakemake submitted (printed `rule X:`, also inside group jobs), not `localrule X:`."""
    return set(re.findall(r"^\s*rule (\w+):$", log, flags=re.M))


@pytest.fixture(scope="module")
def uninterrupted(site_profile, tmp_path_factory):
    store = tmp_path_factory.mktemp("uninterrupted") / "store"
    run = Run(site_profile, store, "pytest-slurm")
    try:
        rc = run.wait()
    finally:
        run.stop()
    assert rc == 0, run.text()[-4000:]
    return run


def test_tiny_default_runs_through_the_slurm_profile(uninterrupted):
    run, log = uninterrupted, uninterrupted.text()
    jobs = run.jobs()
    print(f"\ntiny default through SLURM: {run.wall_s:.0f} s, {len(jobs)} cluster jobs:\n{jobs.to_string()}")
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert sorted(jobs["id"]) == sorted(submitted)
    assert (jobs["state"] == "COMPLETED").all(), jobs
    # every rule that was not a localrule ran inside a completed cluster job
    remote = remote_rules(log)
    assert {"pretrain", "extract_io", "fit_scaler", "io_dataset", "train", "embed"} <= remote
    for rule in remote:
        assert jobs["comment"].str.contains(rf"(?:^|_){rule}(?:_|$)").any(), (rule, jobs)
    for rule in ("sample_networks", "benchmark_table", "random_search", "training_report", "variant_config"):
        assert re.search(rf"^local(?:rule|checkpoint) {rule}:$", log, flags=re.M), rule
        assert not jobs["comment"].str.contains(rule).any(), rule
    # the networks' pretrain + extract_io ran as groups of up to eight
    config = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    n_networks = config["networks"]["n_train"] + config["networks"]["n_valid"]
    assert jobs["comment"].str.contains("pretrain").sum() == math.ceil(n_networks / GROUP_SIZE)
    assert not re.search(r"No SLURM account given|Unable to guess SLURM account", log)
    assert list(run.store.glob("predict/*/*/seed*/epoch*/*.csv")) and list(run.store.glob("train/*/*/seed*/metrics.csv"))


def wait_for(predicate, what, run):
    """What `predicate` finds, waiting while the run writes; fails when the run ends, stalls or runs too long."""
    def found():
        if run.proc.poll() is not None and not predicate():
            pytest.fail(f"the run ended before {what}; log: {run.log}")
        return predicate()

    try:
        return wait_on_progress(found, run.progress, what, STALL_S, LIMIT_S, poll_s=0.2)
    except Stalled as error:
        pytest.fail(f"{error}; log: {run.log}")


def test_scancel_of_pretrain_and_train_resumes_to_the_same_outputs(site_profile, uninterrupted, tmp_path):
    store = tmp_path / "store"
    run = Run(site_profile, store, "pytest-slurm-faults", "--until", "train")
    try:
        ckpt = wait_for(lambda: sorted(store.glob("pretrain/*/*.pt.ckpt")), "a pretrain checkpoint", run)[0]
        killed_network = ckpt.name.split(".")[0]
        network_jobs = run.running(lambda comment: "pretrain" in comment)
        assert network_jobs, "the pretrain job with a checkpoint is not running"
        sh("scancel", *network_jobs)
        wait_for(lambda: list(store.glob("train/*/*/seed*/checkpoints/*")), "a train checkpoint", run)
        train_jobs = run.running(lambda comment: comment.startswith("rule_train"))
        assert train_jobs, "the train job with a checkpoint is not running"
        sh("scancel", *train_jobs)
        rc = run.wait()
    finally:
        run.stop()
    assert rc == 0, run.text()[-4000:]
    jobs = run.jobs()
    print(f"\nscancel run: {run.wall_s:.0f} s\n{jobs.to_string()}")
    # both cancels were seen and each job ran once more, from its checkpoint
    for cancelled in (network_jobs, train_jobs):
        assert jobs.set_index("id").loc[cancelled, "state"].str.startswith("CANCELLED").all(), jobs
    others = jobs[~jobs["id"].isin(network_jobs + train_jobs)]
    assert (others["state"] == "COMPLETED").all(), jobs
    plan = build_plan(yaml.safe_load((REPO / "config.yaml").read_text()))
    seeds = {len(cfg["train"]["seeds"]) for cfg in plan.variants.values()}.pop()
    n_train = len({plan.digest(v, "train", "infonas") for v in plan.variants}) * seeds  # one job per run
    for pattern, uninterrupted_jobs in (("pretrain", 1), ("^rule_train", n_train)):
        count = jobs["comment"].str.contains(pattern).sum()
        assert count == uninterrupted_jobs + 1, (pattern, jobs)  # the cancelled job once more
    pretrained = json.loads(next(store.glob(f"pretrain/*/{killed_network}.json")).read_text())
    assert pretrained["resumed_from_epoch"] >= 1
    train_log = "\n".join(p.read_text() for p in store.glob("train/*/logs/*.log"))
    assert re.search(r"resuming from .*\(epoch \d+\)", train_log), train_log[-2000:]
    # ... and the outputs are the uninterrupted run's, bit for bit (CPU)
    assert_same_outputs(store, uninterrupted.store)


def assert_same_outputs(store: Path, reference: Path) -> None:
    for stage in ("pretrain", "extract_io", "fit_scaler", "io_dataset", "train"):
        files = sorted(p.relative_to(store) for p in store.glob(f"{stage}/*/**/*")
                       if p.is_file() and p.suffix in {".pt", ".json", ".h5", ".csv"} and "logs" not in p.parts
                       and "checkpoints" not in p.parts)
        assert files, stage
        for name in files:
            assert_same_file(store / name, reference / name)


def assert_same_file(path: Path, reference: Path) -> None:
    if path.suffix == ".pt":
        a, b = torch.load(path, weights_only=True), torch.load(reference, weights_only=True)
        flat_a, flat_b = _tensors(a), _tensors(b)
        assert flat_a.keys() == flat_b.keys(), path
        for key in flat_a:
            assert torch.equal(flat_a[key], flat_b[key]), (path, key)
    elif path.suffix == ".json":
        a, b = (json.loads(p.read_text()) for p in (path, reference))
        assert {k: v for k, v in a.items() if k not in TIMING_KEYS} == {k: v for k, v in b.items() if k not in TIMING_KEYS}
    elif path.suffix == ".csv":
        a, b = pd.read_csv(path), pd.read_csv(reference)
        pd.testing.assert_frame_equal(a.drop(columns=["seconds"], errors="ignore"),
                                      b.drop(columns=["seconds"], errors="ignore"), check_exact=True)
    else:
        with h5py.File(path) as a, h5py.File(reference) as b:
            names = []
            a.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            for name in names:
                x, y = a[name][()], b[name][()]
                floats = np.issubdtype(np.asarray(x).dtype, np.floating)
                assert np.array_equal(x, y, equal_nan=floats), (path, name)


def _tensors(obj, prefix=""):
    """Every tensor of a (nested) checkpoint dict, by its path."""
    if torch.is_tensor(obj):
        return {prefix: obj}
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in _tensors(value, f"{prefix}/{key}").items()}
    if isinstance(obj, (list, tuple)):
        return {k: v for i, value in enumerate(obj) for k, v in _tensors(value, f"{prefix}/{i}").items()}
    return {}


def test_a_request_no_node_can_hold_stops_the_run_with_one_line(site_profile, cluster, tmp_path):
    node_mb = int(re.sub(r"\D", "", sh("sinfo", "-h", "-p", cluster[0], "-o", "%m").stdout.split()[0]))
    overlay = yaml.safe_load((REPO / "config.yaml").read_text())
    overlay.update(searchspace={**overlay["searchspace"], "max_archs": None},
                   images={**overlay["images"], "valid_size": 1000, "test_subset_size": 300},
                   pretrain={**overlay["pretrain"], "stem_channels": 128})
    while request("io_dataset", validate_config(overlay)).mem_mb <= node_mb:
        overlay["networks"] = {"n_train": overlay["networks"]["n_train"] * 2, "n_valid": 2}
    path = tmp_path / "too-big.yaml"
    path.write_text(yaml.safe_dump(overlay))
    run = Run(site_profile, tmp_path / "store", "pytest-slurm-too-big", "--configfile", str(path))
    try:
        rc = run.wait(limit_s=600)  # refused before any job: nothing to wait for
    finally:
        run.stop()
    assert rc != 0
    lines = [line for line in run.text().splitlines() if line.startswith("infonas: ")]
    assert len(lines) == 1 and re.search(r"rule \w+ asks for mem_mb=\d+ but the largest node of SLURM partition "
                                         rf"'{cluster[0]}' has {node_mb} MB", lines[0]), run.text()[-2000:]
    assert "submitted with SLURM jobid" not in run.text()
