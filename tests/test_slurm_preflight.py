"""The check against a SLURM partition's largest node, on sinfo's output (no cluster needed)."""
import subprocess

import pytest

from infonas.errors import InfonasError
from infonas.slurm import Node, check_fits, largest_node, parse_sinfo, partition_of, run_jobs

SINFO = "main*|20000|2\ngpu|512000+|64\ngpu|256000|32\n"


def test_default_partition_is_the_starred_one():
    assert parse_sinfo(SINFO, None) == Node("main", 20000, 2)


def test_largest_node_of_a_named_partition():
    assert parse_sinfo(SINFO, "gpu") == Node("gpu", 512000, 64)


def test_unknown_partition_lists_the_known():
    with pytest.raises(InfonasError, match="partition 'big' is not among sinfo's partitions \\(gpu, main\\)"):
        parse_sinfo(SINFO, "big")


def test_one_line_names_the_rule_its_request_and_the_node():
    with pytest.raises(InfonasError) as info:
        check_fits({"pretrain": (2000, 2), "train": (32000, 2)}, Node("main", 20000, 2))
    message = str(info.value)
    assert "\n" not in message
    assert "rule train asks for mem_mb=32000" in message and "'main' has 20000 MB" in message


def test_cpus_beyond_the_node_are_refused_too():
    with pytest.raises(InfonasError, match="rule pretrain asks for 4 CPUs .* has 2"):
        check_fits({"pretrain": (2000, 4)}, Node("main", 20000, 2))


def test_requests_that_fit_pass():
    check_fits({"pretrain": (2000, 2), "train": (20000, 2)}, Node("main", 20000, 2))


def test_sinfo_failure_is_one_line():
    def failing(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "slurm_load_partitions: Unable to contact slurm controller\n")

    with pytest.raises(InfonasError, match="sinfo failed: slurm_load_partitions: Unable to contact"):
        largest_node(None, run=failing)


def test_partition_from_default_resources():
    assert partition_of(["tmpdir=system_tmpdir", "slurm_partition='gpu'", "slurm_account=x"]) == "gpu"
    assert partition_of(["tmpdir=system_tmpdir"]) is None


def test_run_jobs_reads_sacct_rows_and_names_a_failure():
    ok = subprocess.CompletedProcess([], 0, "12|rule_network_pretrain|CANCELLED by 0|00:00:07\n\n", "")
    assert run_jobs("r", "now", run=lambda *a, **k: ok) == [
        {"id": "12", "comment": "rule_network_pretrain", "state": "CANCELLED by 0", "elapsed": "00:00:07"}]
    failed = subprocess.CompletedProcess([], 1, "", "sacct: error: Problem talking to the database")
    with pytest.raises(InfonasError, match="sacct failed: sacct: error"):
        run_jobs("r", "now", run=lambda *a, **k: failed)
