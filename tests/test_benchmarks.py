"""Every script in benchmarks/ at a tiny size on the CPU, so that none can rot.

Each test runs the script's main() in this process, as `python benchmarks/<name>.py <args>` would,
and checks the JSON it prints. Scripts that read a finished run's outputs get a tiny run built here
(`tiny_run`): its variant config written as rule variant_config writes it and its stage files made
by the library's own writers, so they find their inputs through `infonas.runs` like on a real run.
benchmarks/cluster_overhead.py plans both its runs without a cluster here; its timed runs need a
live SLURM cluster (marker `slurm`, `make test-slurm`).
"""
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from infonas.config import validate_config
from infonas.data.images import _write_images, build_images, load_images
from infonas.data.io_dataset import build_io_dataset, save_io_dataset
from infonas.data.io_store import shard_path, write_shard
from infonas.data.scaling import fit_scaler
from infonas.evaluation.benchmark import BenchmarkTable, save_benchmark
from infonas.evaluation.embed import save_embeddings
from infonas.hdf5 import add_dataset, write_h5
from infonas.nets.sampling import sample_networks, write_networks
from infonas.plan import build_plan, write_variant_config
from infonas.runs import open_run
from infonas.searchspace.enumerate import CELL_KEYS, enumerate_cells
from infonas.searchspace.store import assign_split, save_searchspace, subsample

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
RUN = "tiny-bench"
N_ROWS, LATENT = 150, 8
TINY_TRAIN = {"models": ["infonas"], "seeds": [1], "epochs": 1, "checkpoint_every": 1, "batch_size": 32,
              "n_labeled_batches": 2, "n_unlabeled_batches": 2, "n_latent_points": 50, "n_bootstrap": 20,
              "regressor": {"stem_channels": 4, "dense_size": 16}}


def test_every_benchmark_script_has_a_smoke_test():
    scripts = {path.stem for path in BENCHMARKS.glob("*.py")}
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    assert scripts and scripts <= tested, f"benchmarks without a smoke test: {sorted(scripts - tested)}"


@pytest.fixture
def bench(monkeypatch, capsys):
    """Run benchmarks/<name>.py's main() with these arguments; its printed JSON (the last object)."""
    def run(name: str, *args) -> dict:
        path = BENCHMARKS / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        monkeypatch.setattr(sys, "argv", [str(path), *map(str, args)])
        threads = torch.get_num_threads()
        try:
            module.main()
        finally:
            torch.set_num_threads(threads)
        out = capsys.readouterr().out
        return json.loads(out[out.index("{"):])

    return run


# ------------------------------------------------------------------------------ a tiny finished run
def tiny_cells(n_rows: int, seed: int = 0) -> dict:
    """A seeded sample of the real cells with at most five vertices, split 90/10 like the workflow's."""
    return assign_split(subsample(enumerate_cells(5, 9, workers=1), n_rows, seed), 0.1, seed)


def write_shards(folder: Path, networks: pd.DataFrame, images: dict, seed: int = 0) -> None:
    """One IO shard per network: random pooled outputs and classifier on the run's own images."""
    rng = np.random.default_rng(seed)
    for net_hash in networks["hash"]:
        splits = {group: {"features": rng.gamma(2.0, 1.0, (len(images[group]["labels"]), 6)).astype(np.float32),
                          "logits": rng.standard_normal((len(images[group]["labels"]), 10)).astype(np.float32),
                          "labels": images[group]["labels"]} for group in ("valid", "test_2k")}
        write_shard(shard_path(folder, net_hash), net_hash, splits, rng.standard_normal((10, 6)).astype(np.float32),
                    rng.standard_normal(10).astype(np.float32))


def tiny_digits(path: Path, work: Path) -> Path:
    """images.h5 of the digits source (valid and test_2k: 20 images) with train and test cut to 256 and 100."""
    build_images("digits", None, 20, 20, 1, work / "digits.h5")
    data = load_images(work / "digits.h5")
    sizes = {"train": 256, "valid": 20, "test": 100, "test_2k": 20}
    splits = {name: (data[name]["images"][:n], data[name]["labels"][:n]) for name, n in sizes.items()}
    _write_images(path, splits, data["mean"], data["std"], data["source"], data["n_classes"], 1)
    return path


def benchmark_table(n_rows: int, seed: int = 0) -> tuple[BenchmarkTable, np.ndarray]:
    """Accuracies that a latent vector predicts (plus noise), NB-101-like training times; the latents."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n_rows, LATENT)).astype(np.float32)
    val = 0.9 + 0.05 * np.tanh(latent @ rng.standard_normal(LATENT) / 3) + 0.005 * rng.standard_normal(n_rows)
    test = val - 0.01 * rng.random(n_rows)
    time = np.clip(rng.lognormal(np.log(1800.0), 0.45, n_rows), 300.0, 5500.0)
    return BenchmarkTable(val, test, time, "synthetic (tests/test_benchmarks.py)"), latent


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """The workflow directory of a finished one-variant run `tiny-bench` (tiny sizes, synthetic
    network outputs and accuracies); returns its root."""
    root = tmp_path_factory.mktemp("tiny-run")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.pop("sweep")
    config.update(run=RUN, images={"valid_size": 20, "test_subset_size": 20}, train=TINY_TRAIN,
                  evaluate={"embed_epochs": [1]})
    plan = build_plan(config)
    (variant,) = plan.variants
    stages = {key: rec.to_dict() for key, rec in plan.by_variant[variant].items()}
    write_variant_config(root / "results" / RUN / "variants" / variant / "config.yaml", plan.variants[variant],
                         stages, config["store_dir"])
    outputs = open_run(RUN, None, root)
    for stage in ("searchspace", "images", "networks", "extract_io", "io_dataset", "benchmark"):
        outputs.folder(stage).mkdir(parents=True)
    space = tiny_cells(N_ROWS)
    save_searchspace(outputs.folder("searchspace") / "searchspace.h5", space)
    tiny_digits(outputs.folder("images") / "images.h5", root)
    images = load_images(outputs.images(), ["valid", "test_2k"])
    networks = sample_networks(space, 6, 2, seed=1)
    write_networks(outputs.folder("networks") / "networks.csv", networks)
    write_shards(outputs.folder("extract_io"), networks, images)
    shards = {h: shard_path(outputs.folder("extract_io"), h) for h in networks["hash"]}
    scaler = fit_scaler(shards, "axisnull-multiply", train_hashes=list(networks["hash"][networks["role"] == "train"]))
    save_io_dataset(outputs.folder("io_dataset") / "dataset.h5",
                    build_io_dataset(networks, outputs.folder("extract_io"), scaler, 1, space))
    table, latent = benchmark_table(N_ROWS)
    save_benchmark(outputs.folder("benchmark") / "benchmark.h5", table)
    embeddings = outputs.folder("train", "infonas") / "infonas" / "seed1" / "embeddings" / "epoch1.h5"
    noise = np.random.default_rng(1).standard_normal(latent.shape).astype(np.float32)
    save_embeddings(embeddings, space["hash"], {"infonas": latent, "arch2vec": latent + 0.5 * noise})
    return root


def test_tiny_run_is_found_through_its_variant_config(tiny_run):
    outputs = open_run(RUN, None, tiny_run)
    for path in (outputs.searchspace(), outputs.images(), outputs.networks(), outputs.io_dataset(),
                 outputs.benchmark(), outputs.embeddings()):
        assert path.is_relative_to(tiny_run / "results" / "store")


def assert_fraction(value) -> None:
    assert 0.0 <= value <= 1.0, value


# ------------------------------------------------------------------------------ one test per script
def test_arch2vec_reconstruction(bench, tmp_path):
    result = bench("arch2vec_reconstruction", "--epochs", 1, "--cache", tmp_path / "cells.h5", "--max-vertices", 5,
                   "--max-train", 64, "--eval-max-samples", 64, "--latent-points", 100, "--device", "cpu")
    assert result["max_vertices"] == 5 and result["n_train"] == 64
    assert 0 < result["n_heldout"] < len(enumerate_cells(5, 9, workers=1)["hash"]) - 64
    assert_fraction(result["heldout_adj_ceiling"])
    assert set(result["schedules"]) == {"paper", "released"}
    for rows in result["schedules"].values():
        assert [row["epoch"] for row in rows] == [1]
        for key in ("ops_acc", "adj_acc", "validity"):
            assert_fraction(rows[0][key])
        assert rows[0]["validity"] == 0 or 0 < rows[0]["uniqueness"] <= 1  # NaN: no valid cell decoded


def test_assessor_graph(bench, tiny_run):
    result = bench("assessor_graph", "--run", RUN, "--root", tiny_run, "--n-train", 40, "--seeds", 0, 1,
                   "--n-unlabeled", 60, "--steps", 4, "--pretrain-steps", 2, "--scoring", "true>0.5")
    assert result["features"].startswith(str(tiny_run / "results" / "store" / "train"))
    assert result["features"].endswith(f"epoch1.h5:arch2vec ({N_ROWS} rows, {LATENT}-d)")
    assert result["target"].startswith(f"test_acc, {N_ROWS} rows known")
    assert {"no-edges", "paper-sigma"} < set(result["variants"]) and len(result["variants"]) == 3
    for variant in result["variants"].values():
        assert len(variant["kendall_tau"]["per_seed"]) == 2 and variant["rmse"]["mean"] > 0
        assert variant["kendall_tau"]["mean"] > 0.2  # the latents predict the synthetic accuracies
    derived = next(v for name, v in result["variants"].items() if name.startswith("derived-"))
    no_edges = result["variants"]["no-edges"]
    assert derived["neighbours_per_node_last_batch"] > 0 == no_edges["neighbours_per_node_last_batch"]
    assert result["kendall_tau_gain_over_no_edges"]["no-edges"]["mean"] == 0


def test_bo_search(bench, tmp_path):
    rng = np.random.default_rng(0)
    csv = tmp_path / "metrics.csv"
    pd.DataFrame({"hash": [f"{i:032x}" for i in range(300)], "val_acc_108": 0.8 + 0.15 * rng.random(300),
                  "train_time_108": rng.uniform(500.0, 3000.0, 300)}).to_csv(csv, index=False)
    result = bench("bo_search", "--metrics-csv", csv, "--n-runs", 3, "--single-runs", 1, "--budget", 60000,
                   "--epochs", 3, "--dtype", "float64", "--threads", 1, "--compare-kernels")
    assert result["n_rows"] == 300 and result["n_runs"] == 3
    assert result["evaluations"] > 3 * 16 and result["bo_wall_s"] > 0 and result["batched_speedup"] > 0
    assert result["single_equals_batched_run_0"] is True
    assert 0 <= result["mean_final_val_regret"] < 0.15
    assert result["torch_kernel_bo_wall_s"] > 0 and result["native_kernel_speedup"] > 0
    assert result["runs_with_same_picks_as_torch_kernel"] == 3  # float64: the kernels pick alike


def test_cell_assessor(bench, tmp_path):
    cells = enumerate_cells(5, 9, workers=1)
    rng = np.random.default_rng(0)
    n = len(cells["hash"])
    pd.DataFrame({"hash": [h.decode() for h in cells["hash"]], "val_acc_108": rng.uniform(0.8, 0.95, n),
                  "train_time_108": 100.0}).to_csv(tmp_path / "metrics.csv", index=False)
    result = bench("cell_assessor", "--cells-cache", tmp_path / "cells.h5", "--max-vertices", 5,
                   "--metrics-csv", tmp_path / "metrics.csv", "--n-train", 30, "--seeds", 0, 1,
                   "--epochs", 1, "--pretrain-epochs", 1, "--threads", 1, "--regressors", "assessor-cells", "rf")
    assert result["rows"] == n and result["scoring"] == "all" and result["target"] == "val_acc, mean of 1 repeat(s)"
    cell = result["results"]["assessor-cells n_train=30"]
    assert cell["n_unlabeled"] == cell["n_eval"] == n - 30  # N_u = N - N_l, every other row scored
    assert -1 <= cell["kendall_tau"]["mean"] <= 1 and cell["rmse"]["mean"] > 0
    assert "rf n_train=30" in result["results"]


def test_cluster_overhead(bench, tmp_path):
    """Without a cluster: the site profile is written and Snakemake plans the same jobs both ways."""
    result = bench("cluster_overhead", "--dry-run", "--partition", "pytest", "--workdir", tmp_path)
    assert result["partition"] == "pytest" and result["workdir"] == str(tmp_path)
    assert result["local_jobs_planned"] == result["cluster_jobs_planned"] > 10
    assert re.search(r"^  slurm_partition: pytest", (tmp_path / "profile" / "config.yaml").read_text(), re.M)


@pytest.mark.slurm
def test_cluster_overhead_on_a_live_cluster(bench, tmp_path):
    """The images job alone, locally and as one cluster job (make test-slurm)."""
    result = bench("cluster_overhead", "--until", "images", "--workdir", tmp_path)
    assert result["local_jobs"] == result["cluster_run_jobs"] == 1
    assert result["cluster_submissions"] == 1 and result["cluster_job_states"] == {"COMPLETED": 1}
    assert result["local_s"] > 0 and result["cluster_over_local"] > 0


def test_enumerate_searchspace(bench):
    result = bench("enumerate_searchspace", "--max-vertices", 4, "--max-edges", 9, "--workers", 1)
    assert result["n_unique"] == len(enumerate_cells(4, 9, workers=1)["hash"]) > 0
    assert result["seconds"] >= 0 and result["cpu_count"] == 1


def test_joint_optimizers(bench, tiny_run):
    result = bench("joint_optimizers", "--run", RUN, "--root", tiny_run, "--seeds", "1", "--device", "cpu")
    assert result["run"] == RUN and result["epochs"] == 1 and result["seeds"] == [1]
    assert result["split_sizes"]["train"] > 0 and result["n_valid_networks"] == 2
    assert result["reference_identical"] is True
    assert set(result["setups"]) == {"two", "one"}
    for setup in result["setups"].values():
        assert set(setup["per_seed"]) == {"1"}
        train = setup["mean_over_seeds"]["train"]
        assert train["loss"] > 0 and train["baseline"] > 0 and train["ci"][0] <= train["ci"][1]
        assert_fraction(setup["mean_over_seeds"]["ops_acc"])


def tiny_pretrain_config(tmp_path: Path) -> Path:
    """config.yaml with tiny images, networks and pretraining, on a search space without metrics."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(searchspace={"source": "enumerate", "metrics_csv": None, "only_with_metrics": False,
                               "max_archs": 60},
                  images={"source": "digits", "valid_size": 20, "test_subset_size": 20},
                  pretrain={"epochs": 1, "batch_size": 128, "stem_channels": 4, "num_stacks": 1,
                            "modules_per_stack": 1})
    validate_config(dict(config))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cells_cache(path: Path, n_rows: int = 200) -> Path:
    """An enumeration cache holding a sample of the real cells (keyed as the full space's)."""
    cells = subsample(enumerate_cells(5, 9, workers=1), n_rows, 0)
    with write_h5(path) as handle:
        handle.attrs["max_vertices"], handle.attrs["max_edges"] = 7, 9
        for key in CELL_KEYS:
            add_dataset(handle, key, cells[key])
    return path


def test_pretrain_bn_momentum(bench, tmp_path):
    result = bench("pretrain_bn_momentum", "--config", tiny_pretrain_config(tmp_path), "--cells-cache",
                   cells_cache(tmp_path / "cells.h5"), "--n-networks", 1, "--threads", 1)
    assert result["n_networks"] == 1 and result["momenta"] == [0.997, 0.1]
    assert result["images"]["source"] == "digits" and result["pretrain"]["stem_channels"] == 4
    summary = result["summary"]
    assert summary["weights_identical"] is True  # train-mode BN: the momentum changes no weight
    assert summary["all_0.1"]["pooled_rel_change_vs_0.1_valid"] == 0.0
    for variant in ("all_0.997", "all_0.1", "nasbench_pytorch_1.3.1"):
        assert_fraction(summary[variant]["valid_acc_eval"])
    (network,) = result["networks"]
    assert 0 < network["bn_layers_reached_by_network_momentum"] <= network["bn_layers"]


def test_pretrain_throughput(bench):
    result = bench("pretrain_throughput", "--device", "cpu", "--stem", 4, "--stacks", 1, "--modules-per-stack", 1,
                   "--steps", 2, "--warmup", 1, "--batch-size", 16, "--workers", 0)
    assert result["data"] == "synthetic" and result["steps"] == 2
    assert [row["cell"] for row in result["results"]] == ["7v9e", "3v2e"]
    for row in result["results"]:
        assert row["ours_images_per_s"] > 0 and row["baseline_images_per_s"] > 0 and row["speedup"] > 0


def test_pretrain_throughput_parity_on_a_runs_images(bench, tiny_run):
    result = bench("pretrain_throughput", "--run", RUN, "--root", tiny_run, "--device", "cpu", "--stem", 4,
                   "--stacks", 1, "--modules-per-stack", 1, "--batch-size", 256, "--workers", 0, "--epochs-parity", 1)
    assert result["data"] == str(open_run(RUN, None, tiny_run).images())
    for trainer in ("ours", "baseline"):
        assert_fraction(result["parity"][trainer]["valid_accuracy"])
        assert_fraction(result["parity"][trainer]["test_accuracy"])


def test_read_tfrecord(bench):
    result = bench("read_tfrecord", "--rows", 300)
    assert result["rows"] == 300 and result["unique_hashes"] == 100  # three repeats per hash
    assert result["read_rows_per_s"] > 0 and result["projected_only108_s"] > 0


def test_reinforce_discount(bench, tiny_run):
    result = bench("reinforce_discount", "--run", RUN, "--root", tiny_run, "--runs", 4, "--budget", 20000,
                   "--threads", 1)
    assert result["embeddings"] == str(open_run(RUN, None, tiny_run).embeddings())
    assert result["n_searchable_rows"] == N_ROWS and 0.9 < result["best_val"] < 1
    for name in ("reinforce_discount_0", "reinforce_discount_0.8", "random_search"):
        regret = result[name]["final_val_regret"]
        assert regret["n"] == 4 and 0 <= regret["min"] <= regret["max"] < 0.2
    paired = result["paired_val_regret_discount_0_minus_0.8"]
    assert paired["a_lower"] + paired["b_lower"] + paired["ties"] == 4


def test_reinforce_search(bench):
    result = bench("reinforce_search", "--device", "cpu", "--n-rows", 2000, "--n-runs", 4, "--budget", 20000,
                   "--threads", 1)
    assert result["n_rows"] == 2000 and result["n_runs"] == 4
    assert result["evaluations"] >= result["steps"] > 0 and result["ns_per_run_row_step"] > 0
    for key in ("mean_final_test_regret_reinforce", "mean_final_test_regret_random"):
        assert 0 <= result[key] < 0.2


def test_thesis_regressors(bench, tiny_run):
    result = bench("thesis_regressors", "--run", RUN, "--root", tiny_run, "--n-train", 40, "--seeds", 0, 1,
                   "--scoring", "true>0.5")
    assert result["labeled"] == f"6 networks of roles ['train'] in {open_run(RUN, None, tiny_run).networks()}"
    assert set(result["settings"]) == {"before", "after", "after-all-rows"}
    after = result["settings"]["after"]
    assert after["remove_labeled"] is True and set(after["mean_std"]) == {"gp", "svr", "rf", "gb", "gp-tuned",
                                                                          "svr-tuned"}
    for name, regressor in after["mean_std"].items():
        scores = regressor["40"]
        assert scores["rmse"][0] > 0
        assert np.isnan(scores["kendall_tau"][0]) == (scores["n_nan_correlations"] > 0)  # a constant prediction
        if name not in ("gp", "svr"):  # scikit-learn defaults on raw features may not rank at all (the thesis')
            assert scores["kendall_tau"][0] > 0.2, name  # the latents predict the synthetic accuracies


def test_train_throughput(bench):
    result = bench("train_throughput", "--device", "cpu", "--scale", 0.002, "--networks", 8, "--stem-channels", 8,
                   "--dense-size", 32, "--threads", 1)
    assert result["labeled_samples"] == 8 * 2 and result["unlabeled_cells"] == 762
    assert result["paper_scale_epoch_seconds_estimate"] is None  # not the paper's regressor
    assert [run["reference"] for run in result["runs"]] == [True, False]
    for run in result["runs"]:
        assert run["labeled_steps"] == 1 and run["unlabeled_steps"] == 24 and run["steps_per_second"] > 0
