"""Fault class: the disk fills up while an output is written. Every writer must end with one line
naming the file and "no space left on device", and leave no file behind (neither the output nor
its temporary).

The kernel says ENOSPC in two ways here: a real, tiny tmpfs mounted for the test (needs root; the
case is skipped, visibly, where mounting is not allowed), and /dev/full, which any user may write
to: the writer's temporary file is made a link to it. Each write runs in a child process, so a
writer that crashes the interpreter (HDF5 2.0 did, on a full disk with a chunk cache) fails the
test instead of ending the session.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TMPFS_SIZE = "64k"  # every case below writes well over this


def _write_io_shard(target: Path) -> None:
    from infonas.data.io_store import write_shard

    rng = np.random.default_rng(0)
    splits = {g: {"features": rng.random((2000, 64), dtype=np.float32),
                  "logits": rng.standard_normal((2000, 10)).astype(np.float32),
                  "labels": rng.integers(0, 10, 2000)} for g in ("valid", "test_2k")}
    write_shard(target, "ab" * 16, splits, rng.standard_normal((10, 64)).astype(np.float32),
                rng.standard_normal(10).astype(np.float32))


def _write_checkpoint(target: Path) -> None:
    import torch

    from infonas.training.checkpoint import save_checkpoint

    save_checkpoint(target, {"model": {"weight": torch.randn(200_000)}, "epoch": 3})


def _write_metrics_csv(target: Path) -> None:
    from infonas.training.metrics import metric_columns, write_metrics_csv

    rng = np.random.default_rng(0)
    columns = metric_columns(["train"])
    write_metrics_csv([dict(zip(columns, rng.random(len(columns)))) for _ in range(3000)], target, ["train"])


def _write_figure(target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from infonas.reporting.figures import save_figure

    fig, ax = plt.subplots()
    ax.imshow(np.random.default_rng(0).random((400, 400)))
    save_figure(fig, target.with_suffix(""))


CASES = {"io_shard.h5": _write_io_shard, "checkpoint.pt": _write_checkpoint, "metrics.csv": _write_metrics_csv,
         "figure.png": _write_figure}


def child(case: str, target: str, via_dev_full: bool) -> None:
    """Run in the child process: write one output, print what happened as one JSON line."""
    target = Path(target)
    if via_dev_full:  # atomic_path's temporary name: a link to /dev/full, made before the writer opens it
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/dev/full", target.with_name(f".{target.name}.tmp{os.getpid()}"))
    from infonas.errors import InfonasError

    try:
        CASES[case](target)
        outcome, message = "written", ""
    except InfonasError as error:
        outcome, message = "InfonasError", str(error)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which fails the test
        outcome, message = f"raw {type(error).__name__}", str(error)
    print(json.dumps({"outcome": outcome, "message": message}))


def run_child(case: str, target: Path, via_dev_full: bool) -> dict:
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_faults_disk_full as t; " \
           f"t.child({case!r}, {str(target)!r}, {via_dev_full})"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{case}: the writer crashed (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture()
def tiny_tmpfs(tmp_path):
    """A mounted tmpfs of TMPFS_SIZE bytes, unmounted afterwards; skipped where mounting is not allowed."""
    mount_point = tmp_path / f"full-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the /dev/full cases still run")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the /dev/full cases still run")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def _assert_one_line_and_nothing_left(case: str, result: dict, target: Path, folder: Path) -> None:
    assert result["outcome"] == "InfonasError", f"{case}: {result['outcome']}: {result['message'][:500]}"
    message = result["message"]
    assert "\n" not in message and str(target) in message and "no space left on device" in message, message
    assert _files_under(folder) == [], f"{case}: left behind {_files_under(folder)}"


@pytest.mark.parametrize("case", list(CASES))
def test_full_tmpfs_gives_one_line_and_no_output(case, tiny_tmpfs):
    target = tiny_tmpfs / "run" / case
    result = run_child(case, target, via_dev_full=False)
    _assert_one_line_and_nothing_left(case, result, target, tiny_tmpfs)


@pytest.mark.parametrize("case", list(CASES))
def test_dev_full_gives_one_line_and_no_output(case, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    target = tmp_path / "run" / case
    result = run_child(case, target, via_dev_full=True)
    _assert_one_line_and_nothing_left(case, result, target, tmp_path)


def test_errors_that_are_not_a_full_disk_pass_through(tmp_path):
    from infonas.errors import InfonasError
    from infonas.files import atomic_path, is_disk_full

    with pytest.raises(ValueError, match="not a disk problem"):
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("partial")
            raise ValueError("not a disk problem")
    assert _files_under(tmp_path) == []
    wrapped = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    wrapped.__context__ = OSError(28, "No space left on device")
    assert is_disk_full(wrapped) and not is_disk_full(RuntimeError("unexpected pos 704 vs 598"))
    with pytest.raises(InfonasError, match=r"out.txt: no space left on device \(the partial file was removed\)$"):
        with atomic_path(tmp_path / "out.txt"):
            raise wrapped
