"""The workflow as a user drives it: lint, dry runs, config errors, and the tiny default end to end."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(*args, timeout=600):
    return subprocess.run([*SNAKEMAKE, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stderr
    assert "Lints for" not in result.stdout + result.stderr


@pytest.mark.parametrize("overlay", [[], ["--configfile", "presets/paper.yaml"]])
def test_dry_run_resolves_a_dag(overlay):
    result = snakemake("-n", "--config", "run=pytest-dry", *overlay)
    assert result.returncode == 0, result.stderr
    assert "searchspace" in result.stdout


def test_overlay_changes_the_run_folder(tmp_path):
    overlay = tmp_path / "variant.yaml"
    overlay.write_text("run: my-variant\nio: {scaling: axis0}\n")
    result = snakemake("-n", "--configfile", "config.yaml", str(overlay))
    assert result.returncode == 0, result.stderr
    assert "results/my-variant/searchspace.h5" in result.stdout


@pytest.mark.parametrize("roles, needs_networks", [("[train]", True), ("[]", False)])
def test_predict_needs_the_network_list_only_when_labeled_networks_are_held_out(tmp_path, roles, needs_networks):
    """A plain-arch2vec run on a space with metrics trains no network: sample_networks (cheap)
    joins the DAG only so that its predictors fit outside the same labeled networks."""
    overlay = tmp_path / "arch2vec.yaml"
    overlay.write_text("run: pytest-dry-arch2vec\nsearchspace: {metrics_csv: metrics.csv}\n"
                       f"train: {{models: [arch2vec]}}\nevaluate: {{predict: {{remove_labeled: {roles}}}}}\n")
    result = snakemake("-n", "--configfile", "config.yaml", str(overlay))
    assert result.returncode == 0, result.stderr
    assert "predict" in result.stdout and "pretrain" not in result.stdout
    assert ("sample_networks" in result.stdout) == needs_networks


def test_invalid_config_fails_before_any_job_naming_the_key(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("pretrain: {epochs: -3}\n")
    result = snakemake("-n", "--configfile", "config.yaml", str(overlay))
    assert result.returncode != 0
    assert "pretrain.epochs" in result.stderr + result.stdout


@pytest.mark.slow
def test_tiny_default_runs_end_to_end(tmp_path):
    """The README's `make run` on config.yaml, in its own run folder, then the HTML report."""
    run = "pytest-e2e"
    out = REPO / "results" / run
    shutil.rmtree(out, ignore_errors=True)
    try:
        result = snakemake("--cores", "2", "--config", f"run={run}", timeout=3000)
        assert result.returncode == 0, result.stderr[-4000:]
        for name in ("searchspace.h5", "images.h5", "networks.csv", "io/scaler.h5", "io/dataset.h5",
                     "benchmark.h5", "search/random.h5"):
            assert (out / name).is_file(), name
        assert len(list((out / "pretrained").glob("*.json"))) == 8
        assert len(list((out / "io").glob("*.h5"))) == 8 + 2
        assert list((out / "models").glob("*/seed*/metrics.csv"))
        assert list((out / "predict").glob("**/*.csv"))
        for figure in ("infonas/labeled_losses", "infonas/reconstruction", "search/infonas_seed1_epoch6",
                       "predict/infonas_epoch6"):
            assert (out / "figures" / f"{figure}.png").stat().st_size > 10_000, figure
            assert (out / "figures" / f"{figure}.pdf").is_file(), figure
        # a second run has nothing to do: every output is complete and up to date
        again = snakemake("--cores", "2", "--config", f"run={run}", "-n")
        assert "Nothing to be done" in again.stdout + again.stderr
        report = snakemake("--config", f"run={run}", "--report", str(out / "report.html"))
        assert report.returncode == 0, report.stderr[-2000:]
        html = (out / "report.html").read_text()
        assert "labeled_losses.png" in html and "pretrain stage measured" in html
    finally:
        shutil.rmtree(out, ignore_errors=True)
