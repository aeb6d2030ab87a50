"""The workflow as a user drives it: lint, dry runs, config errors, the tiny default sweep end to end,
then what a second invocation does on the finished run: a new variant, a changed setting of every
schema key (the rerun table of docs/settings.md), a forced rerun that fails and one that succeeds."""
import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from infonas.config import get_path, load_schema, schema_leaves, validate_config
from infonas.plan import build_plan, rerun_table
from test_docs import fits_layout

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
#: IO splits with output heatmaps (rules/common.smk)
HEATMAP_SPLITS = ("train", "valid_unseen_networks", "valid_unseen_images")
#: rule -> the stage whose folder its outputs go to (reports and targets are left out)
RULE_STAGE = {"searchspace": "searchspace", "images": "images", "sample_networks": "networks", "pretrain": "pretrain",
              "extract_io": "extract_io", "fit_scaler": "fit_scaler", "io_dataset": "io_dataset",
              "benchmark_table": "benchmark", "random_search": "random_search", "train": "train", "embed": "train",
              "reinforce": "reinforce", "predict": "predict", "raw_features": "raw_features",
              "reinforce_raw": "reinforce", "predict_raw": "predict", "bo": "bo", "bo_raw": "bo",
              "evolution": "evolution"}


def snakemake(*args, timeout=600):
    return subprocess.run([*SNAKEMAKE, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def planned_rules(result) -> dict[str, int]:
    """Rule -> job count from a dry run's 'Job stats' table ({} for 'Nothing to be done')."""
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    stats = out.split("Job stats:", 1)
    if len(stats) == 1:
        assert "Nothing to be done" in out, out[-3000:]
        return {}
    rows = re.findall(r"^(\w+)\s+(\d+)$", stats[1].split("\n\n", 1)[0], flags=re.M)
    return {rule: int(n) for rule, n in rows if rule != "total"}


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stderr
    assert "Lints for" not in result.stdout + result.stderr


@pytest.mark.parametrize("preset", [None, "paper", "thesis"])
def test_dry_run_resolves_a_dag(preset, tmp_path):
    overlay = []
    if preset:  # the presets name a tfrecord file by path: it is a declared input, so it must exist
        (tmp_path / "nb.tfrecord").write_bytes(b"")
        data = tmp_path / "data.yaml"
        data.write_text(f"searchspace: {{tfrecord: {tmp_path / 'nb.tfrecord'}}}\n")
        overlay = ["--configfile", f"presets/{preset}.yaml", str(data)]
    result = snakemake("-n", *overlay, "--config", "run=pytest-dry", f"store_dir={tmp_path / 'store'}")
    assert "searchspace" in planned_rules(result)


def test_two_infonas_models_in_one_variant_plan_their_comparisons(tmp_path):
    """Curves and rows are labelled by model variant while the DAG is built (a repeated label fails there)."""
    overlay = tmp_path / "models.yaml"
    overlay.write_text("train: {models: [infonas, infonas-opemb, arch2vec]}\n")
    planned = planned_rules(snakemake("-n", "--configfile", "config.yaml", str(overlay),
                                      "--config", "run=pytest-dry", f"store_dir={tmp_path / 'store'}"))
    assert planned["compare_search"] == planned["compare_prediction"] == 1
    assert planned["variant_search"] == planned["variant_prediction"] == 2


def test_default_dry_run_searches_and_predicts_on_the_raw_features(tmp_path):
    """The raw cell features are computed once for the shared search space and evaluated like an
    encoder; evaluate.raw_features: false leaves them out."""
    args = ["-n", "--config", "run=pytest-dry", f"store_dir={tmp_path / 'store'}"]
    planned = planned_rules(snakemake(*args))
    assert planned["raw_features"] == planned["reinforce_raw"] == planned["bo_raw"] == planned["predict_raw"] == 1
    overlay = tmp_path / "no_raw.yaml"
    overlay.write_text("evaluate: {raw_features: false}\n")
    planned = planned_rules(snakemake("--configfile", "config.yaml", str(overlay), *args))
    assert not {"raw_features", "reinforce_raw", "bo_raw", "predict_raw"} & planned.keys()
    assert planned["reinforce"] and planned["predict"]


def test_thesis_preset_shares_everything_upstream_of_training():
    plan = build_plan(yaml.safe_load((REPO / "presets" / "thesis.yaml").read_text()))
    assert len(plan.variants) > 25
    for stage in ("searchspace", "images", "networks", "pretrain", "extract_io"):
        assert len(plan.records[stage]) == 1, stage
    assert len(plan.records["fit_scaler"]) == 6


def test_overlay_changes_the_run_folder(tmp_path):
    overlay = tmp_path / "variant.yaml"
    overlay.write_text("run: my-variant\nio: {scaling: axis0}\n")
    result = snakemake("-n", "--configfile", "config.yaml", str(overlay))
    assert result.returncode == 0, result.stderr
    assert "results/my-variant/variants/" in result.stdout


@pytest.mark.parametrize("roles, needs_networks", [("[train]", True), ("[]", False)])
def test_predict_needs_the_network_list_only_when_labeled_networks_are_held_out(tmp_path, roles, needs_networks):
    """A plain-arch2vec run on a space with metrics trains no network: sample_networks (cheap)
    joins the DAG only so that its predictors fit outside the same labeled networks."""
    overlay = tmp_path / "arch2vec.yaml"
    overlay.write_text(f"run: pytest-dry-arch2vec\nstore_dir: {tmp_path / 'store'}\n"
                       f"train: {{models: [arch2vec]}}\nevaluate: {{predict: {{remove_labeled: {roles}}}}}\n")
    planned = planned_rules(snakemake("-n", "--configfile", "config.yaml", str(overlay)))
    assert "predict" in planned and "pretrain" not in planned
    assert ("sample_networks" in planned) == needs_networks


def test_invalid_config_fails_before_any_job_naming_the_key(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("pretrain: {epochs: -3}\n")
    result = snakemake("-n", "--configfile", "config.yaml", str(overlay))
    assert result.returncode != 0
    assert "pretrain.epochs" in result.stderr + result.stdout


def test_bad_sweep_axis_fails_before_any_job(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("sweep: {s: {product: {train.lrr: [0.1]}}}\n")
    result = snakemake("-n", "--configfile", "config.yaml", str(overlay))
    assert result.returncode != 0
    assert "'train.lrr' is not a setting" in result.stderr + result.stdout


# ------------------------------------------------------------------------------ a finished run
class Finished:
    """The tiny default sweep, run once into its own store; later tests ask it what a change reruns."""

    def __init__(self, tmp: Path):
        self.run = "pytest-e2e"
        self.store = tmp / "store"
        self.out = REPO / "results" / self.run
        self.args = ["--config", f"run={self.run}", f"store_dir={self.store}"]

    def overlay(self, tmp: Path, name: str, text: str) -> Path:
        path = tmp / f"{name}.yaml"
        path.write_text(text)
        return path

    def dry(self, *extra):
        return planned_rules(snakemake("-n", "--configfile", "config.yaml", *extra, *self.args))

    def complete(self):
        """Finish what earlier tests left to do (a forced rerun --until train leaves newer weights)."""
        if self.dry():
            result = snakemake("--cores", "2", "--configfile", "config.yaml", *self.args, timeout=3600)
            assert result.returncode == 0, result.stderr[-4000:]
        assert self.dry() == {}

    def dry_without_sweep(self, tmp: Path, config: dict):
        """A dry run of one full config (no sweep; its own run and store_dir): its single variant equals
        the finished `scaling=axisnull-multiply` variant wherever the config agrees with the default."""
        path = self.overlay(tmp, "full", yaml.safe_dump(config))
        return planned_rules(snakemake("-n", "--configfile", str(path)))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = Finished(tmp_path_factory.mktemp("e2e"))
    shutil.rmtree(run.out, ignore_errors=True)
    result = snakemake("--cores", "2", "--configfile", "config.yaml", *run.args, timeout=3600)
    assert result.returncode == 0, result.stderr[-4000:]
    yield run
    shutil.rmtree(run.out, ignore_errors=True)


def files_under(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_tiny_default_sweep_runs_end_to_end(finished):
    store, out = finished.store, finished.out
    assert len(list((store / "pretrain").glob("*/*.json"))) == 8
    assert len(list((store / "extract_io").glob("*/*.h5"))) == 8
    assert len(list((store / "fit_scaler").glob("*/scaler.h5"))) == 2  # one per scaling variant
    assert len(list((store / "train").glob("*/*/seed*/metrics.csv"))) == 4  # 2 variants x 2 seeds
    variants = sorted(p.name for p in (out / "variants").iterdir())
    assert variants == ["scaling=axis0", "scaling=axisnull-multiply"]
    for variant in variants:
        figures = out / "variants" / variant / "figures"
        for figure in ("infonas/labeled_losses", *(f"infonas/heatmaps_{split}_{view}" for split in HEATMAP_SPLITS
                                                   for view in ("networks", "one_image")),
                       "search_validation", "search_test", "prediction_rmse", "prediction_pearson_r",
                       "search/infonas_seed1_epoch6", "predict/infonas_epoch6", "predict/infonas_epoch6_scatter",
                       "infonas/latent_space_pca_epoch6", "infonas/latent_space_tsne_epoch6", "latent_distances"):
            assert (figures / f"{figure}.png").stat().st_size > 10_000, (variant, figure)
            assert (figures / f"{figure}.pdf").is_file(), (variant, figure)
    compare = out / "compare" / "scaling"
    for name in ("comparison.csv", "comparison.md", "comparison.tex", "curves_valid_unseen_networks.png",
                 "search.png", "prediction_pearson_r.png"):
        assert (compare / name).is_file(), name
    table = (compare / "comparison.csv").read_text()
    assert "axis0" in table and "axisnull-multiply" in table
    per_split = pd.read_csv(compare / "comparison_valid_unseen_networks.csv", dtype={"seed": str})
    assert per_split["seed"].tolist() == ["all", "1", "2"] * 2  # two variants, pooled then per seed
    assert per_split["labeled_l1_valid_unseen_networks_mean"].notna().all()
    recon = pd.read_csv(compare / "comparison_reconstruction.csv")
    assert recon["ops_acc_padded_mean"].between(0, 1).all() and "info-NAS" in set(recon["model"])
    assert len(list((store / "raw_features").glob("*/embeddings.h5"))) == 1  # one search space, shared
    for table in (compare / "search_table.csv", figures / "search_table.csv", figures / "search/infonas_seed1_epoch6_table.csv"):
        assert "raw cells" in set(pd.read_csv(table)["method"]), table
    for table in (compare / "prediction_table.csv", figures / "prediction_table.csv", figures / "predict/infonas_epoch6_table.csv"):
        assert "raw cells" in set(pd.read_csv(table)["encoder"]), table
    assert "not comparable" in (compare / "search_table.md").read_text()  # a 5,000-cell subset: no published curves
    queries = pd.read_csv(figures / "search_queries.csv")  # arch2vec Table 2: every method after 50-400 queries
    assert {"random search", "regularized evolution", "raw cells"} <= set(queries["method"])
    assert (queries.loc[queries["queries"] == 50, "n_runs"] > 0).all()
    assert finished.dry() == {}, "a second run has nothing to do"
    report = snakemake("--configfile", "config.yaml", *finished.args, "--report", str(out / "report.html"))
    assert report.returncode == 0, report.stderr[-2000:]
    html = (out / "report.html").read_text()
    assert "labeled_losses.png" in html and "NAS-Bench-101 validation accuracies" in html
    assert "comparison_valid_unseen_networks.html" in html and "comparison_reconstruction.html" in html
    written = [f"results/store/{p.relative_to(store)}" for p in store.rglob("*") if p.is_file()]
    written += [f"results/{finished.run}/{p.relative_to(out)}" for p in out.rglob("*") if p.is_file()]
    assert [path for path in written if not fits_layout(path)] == [], "files off the layout of docs/layout.md"


@pytest.mark.slow
def test_a_new_scaling_variant_reruns_only_its_downstream(finished, tmp_path):
    before = files_under(finished.store) | files_under(finished.out / "variants")
    overlay = finished.overlay(tmp_path, "third", "sweep: {scaling: {product: {io.scaling: "
                                                   "[axisnull-multiply, axis0, axisnull]}}}\n")
    planned = finished.dry(str(overlay))
    assert not set(planned) & {"searchspace", "images", "sample_networks", "pretrain", "extract_io"}, planned
    assert planned["fit_scaler"] == 1 and planned["train"] == 2  # one variant, two seeds
    result = snakemake("io_dataset_all", "--cores", "2", "--configfile", "config.yaml", str(overlay), *finished.args)
    assert result.returncode == 0, result.stderr[-3000:]
    after = files_under(finished.store) | files_under(finished.out / "variants")
    assert {path: after[path] for path in before} == before, "the first variants' files stay untouched"
    assert len(set(after) - set(before)) >= 2 and len(list(finished.store.glob("io_dataset/*/dataset.h5"))) == 3


@pytest.mark.slow
def test_a_pretraining_change_reruns_pretraining_for_that_variant_only(finished, tmp_path):
    # a second comparison (config files merge key by key, so `scaling` itself cannot be redefined)
    overlay = finished.overlay(tmp_path, "pre", "sweep: {epochs: {variants: {more-epochs: {pretrain.epochs: 4}}}}\n")
    planned = finished.dry(str(overlay))
    assert planned["pretrain"] == 8 and planned["extract_io"] == 8
    assert "searchspace" not in planned and "train" in planned


def changed_value(key: str, value, node: dict, tmp: Path):
    """A valid value different from `value` for a schema leaf (and the default config)."""
    from infonas.searchspace.metrics import BUILTIN_CSV

    copy_csv = tmp / "metrics-copy.csv.gz"
    shutil.copyfile(BUILTIN_CSV, copy_csv)
    special = {
        "run": "pytest-e2e-other", "device": "cpu", "store_dir": str(tmp / "other-store"),
        "io.scaling": "axis0-multiply",  # axis0, axisnull: variants the finished run already has
        "cache_dir": str(tmp / "other-cache"), "download_timeout_s": 5,
        "searchspace.tfrecord": str(tmp / "unused.tfrecord"), "searchspace.metrics_csv": str(copy_csv),
        "images.root": str(tmp), "train.models": ["infonas", "arch2vec"], "train.seeds": [1, 2, 3],
        "evaluate.embed_epochs": [3, 6], "evaluate.predict.regressors": ["rf"], "evaluate.predict.scoring": "all",
        "evaluate.predict.n_train": [50, 100], "evaluate.predict.n_unlabeled": 100,
        "evaluate.predict.remove_labeled": ["train", "valid"], "report.projections": ["pca"],
        "evaluate.predict.scatter.regressors": ["gp"],
    }
    if key in special:
        return special[key]
    if key.startswith("evaluate.predict.params."):
        return {"n_estimators": 7} if key.endswith(("rf", "gb")) else {}
    if "enum" in node:
        return next(v for v in node["enum"] if v != value)
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "boolean" in types:
        return not value
    if value is None:
        return node.get("minimum", node.get("exclusiveMinimum", 0) + 1) if "integer" in types else 0.5
    if "integer" in types:
        return value - 1 if value + 1 > node.get("maximum", float("inf")) else value + 1
    if "number" in types:
        return value / 2 if value else 0.5
    raise AssertionError(f"no changed value for {key} ({node})")


def schema_node(schema: dict, key: str) -> dict:
    node = schema
    for part in key.split("."):
        node = node["properties"][part]
    return node


#: keys that add jobs (or report folders) instead of rerunning: the stages those new jobs belong to
ADDS_JOBS = {"train.seeds": {"train", "reinforce", "bo", "predict"},
             "train.models": {"train", "reinforce", "bo", "predict"},
             "evaluate.embed_epochs": {"train", "reinforce", "bo", "predict"}}
#: settings that need others changed with them to stay valid
COMPANIONS = {"searchspace.source": lambda tmp: {"searchspace.tfrecord": str(tmp / "unused.tfrecord"),
                                                "searchspace.metrics_csv": None, "searchspace.only_with_metrics": False}}
UNTESTED = {"sweep"}  # variants are tested above


@pytest.mark.slow
def test_every_setting_reruns_what_the_rerun_table_says(finished, tmp_path):
    """Each schema key changed alone, then `snakemake -n` on the finished run: the stages with jobs
    are those of infonas.plan.rerun_table (the table of docs/settings.md); behind the sample_networks checkpoint
    a dry run cannot see pretrain/extract_io jobs until the new networks.csv exists."""
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    base.pop("sweep", None)
    base.update(run=finished.run, store_dir=str(finished.store))  # in the file, where a change may move them
    table = rerun_table(validate_config(copy.deepcopy(base)))
    schema = load_schema()
    full = validate_config(copy.deepcopy(base))
    (tmp_path / "unused.tfrecord").write_bytes(b"")
    assert finished.dry_without_sweep(tmp_path, base).keys() <= {"variant_config"} | REPORT_RULES
    mismatches = []
    for key in schema_leaves():
        if key in UNTESTED:
            continue
        node = schema_node(schema, key)
        config = copy.deepcopy(base)
        companions = COMPANIONS[key](tmp_path) if key in COMPANIONS else {}
        for k, v in {key: changed_value(key, get_path(full, key), node, tmp_path), **companions}.items():
            merge(config, nested(k, v))
        planned = {RULE_STAGE[r] for r in finished.dry_without_sweep(tmp_path, config) if r in RULE_STAGE}
        expected = set(table[key]) | ADDS_JOBS.get(key, set())
        if "networks" in expected:
            expected -= {"pretrain", "extract_io"}
        if planned != expected:
            mismatches.append(f"{key}: planned {sorted(planned)}, table {sorted(expected)}")
    assert not mismatches, "\n".join(mismatches)


REPORT_RULES = {"scaling_variants_table", "training_report", "arch2vec_report", "search_report",
                "prediction_report", "variant_search", "variant_prediction", "output_heatmaps", "latent_space", "latent_distances", "all"}


def merge(config: dict, overlay: dict) -> None:
    for k, v in overlay.items():
        if isinstance(v, dict) and isinstance(config.get(k), dict) and v:
            merge(config[k], v)
        else:
            config[k] = v


def nested(key: str, value) -> dict:
    out: dict = {}
    node = out
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return out


@pytest.mark.slow
def test_forced_rerun_that_fails_keeps_outputs_and_one_that_succeeds_retrains(finished):
    metrics = sorted(finished.store.glob("train/*/infonas/seed1/metrics.csv"))[0]
    before = without_timings(metrics)
    # device=cuda changes no digest (same job) and fails on a machine without CUDA
    failed = snakemake("--cores", "2", "--configfile", "config.yaml", *finished.args, "device=cuda",
                       "--forcerun", "train", "--until", "train")
    assert failed.returncode != 0
    assert without_timings(metrics) == before and (metrics.parent / "weights.pt").is_file()
    again = snakemake("--cores", "2", "--configfile", "config.yaml", *finished.args, "--forcerun", "train",
                      "--until", "train")
    assert again.returncode == 0, again.stderr[-3000:]
    log = next(finished.store.glob(f"train/{metrics.parents[2].name}/logs/infonas_seed1.log")).read_text()
    assert "resuming" not in log and "epoch 6" in log
    assert without_timings(metrics) == before  # retrained from scratch on the CPU: the same numbers
    assert not (metrics.parent / "checkpoints").exists()


def without_timings(metrics: Path):
    """The metrics table less its wall-clock column, which no rerun reproduces."""
    import pandas as pd

    return pd.read_csv(metrics).drop(columns="seconds").to_csv(index=False)


@pytest.mark.slow
def test_every_variant_finds_its_outputs_through_infonas_runs(finished):
    """infonas.runs, which the benchmarks read a run through, names files the finished run has."""
    from infonas.runs import STAGE_FILES, embedded_epochs, open_run, run_variants

    variants = run_variants(finished.run, REPO)
    assert variants == ["scaling=axis0", "scaling=axisnull-multiply"]
    for variant in variants:
        outputs = open_run(finished.run, variant, REPO)
        assert outputs.folder("searchspace").parent == finished.store / "searchspace"
        for stage in STAGE_FILES:
            assert outputs.output(stage).stat().st_size > 0  # raises, naming the file, where it is missing
        train = outputs.config["train"]
        for model in train["models"]:
            for seed in train["seeds"]:
                for epoch in embedded_epochs(outputs.config, model):
                    assert outputs.embeddings(model, seed, epoch).is_file()


def test_until_a_stage_behind_the_checkpoint_says_what_works(tmp_path):
    for stage, target in (("pretrain", "pretrain_all"), ("io_dataset", "io_dataset_all")):
        result = snakemake("-n", "--until", stage, "--config", f"store_dir={tmp_path / 'store'}")
        assert result.returncode != 0
        assert f"snakemake {target}" in result.stdout + result.stderr
    targets = planned_rules(snakemake("-n", "pretrain_all", "--config", f"store_dir={tmp_path / 'store'}"))
    assert "sample_networks" in targets and "pretrain_all" in targets and "train" not in targets


#: one store file of each kind (a glob under the store) -> the rule that writes it
STORE_KINDS = {
    "searchspace/*/searchspace.h5": "searchspace", "images/*/images.h5": "images",
    "networks/*/networks.csv": "sample_networks", "pretrain/*/*.pt": "pretrain", "pretrain/*/*.json": "pretrain",
    "extract_io/*/*.h5": "extract_io", "fit_scaler/*/scaler.h5": "fit_scaler", "io_dataset/*/dataset.h5": "io_dataset",
    "benchmark/*/benchmark.h5": "benchmark_table", "random_search/*/random.h5": "random_search",
    "train/*/*/seed*/metrics.csv": "train", "train/*/*/seed*/weights.pt": "train",
    "train/*/*/seed*/embeddings/*.h5": "embed", "reinforce/*/*/*/*/*.h5": "reinforce", "bo/*/*/*/*/*.h5": "bo",
    "evolution/*/evolution.h5": "evolution",
    "predict/*/*/*/*/*.csv": "predict",
}


@pytest.mark.slow
@pytest.mark.parametrize("pattern, writer", STORE_KINDS.items(), ids=list(STORE_KINDS.values()))
def test_a_deleted_store_file_reruns_the_job_that_writes_it(finished, tmp_path, pattern, writer):
    """Snakemake reruns the writer of a missing file only when a target needs it: every store file is one."""
    finished.complete()
    path = sorted(finished.store.glob(pattern))[0]
    kept = tmp_path / path.name
    shutil.move(path, kept)  # a rename: the file comes back with its own mtime
    try:
        planned = finished.dry()
    finally:
        shutil.move(kept, path)
    assert planned.get(writer, 0) >= 1, (path, planned)


@pytest.mark.slow
def test_the_advice_for_a_corrupt_weights_file_works(finished):
    """A torn weights.pt fails the jobs that read it with advice; following it, the next run succeeds."""
    finished.complete()
    weights = sorted(finished.store.glob("train/*/infonas/seed1/weights.pt"))[0]
    weights.write_bytes(weights.read_bytes()[:200])  # newer than its embeddings: they are made again
    # --keep-going: the heatmap and latent-space jobs read the same file and may fail first
    failed = snakemake("--cores", "2", "--keep-going", "--configfile", "config.yaml", *finished.args)
    assert failed.returncode != 0
    log = (weights.parents[2] / "logs" / "embed_infonas_seed1_epoch6.log").read_text().strip().splitlines()[-1]
    assert f"checkpoint {weights}: corrupt or not a checkpoint" in log and "delete it and run again" in log
    weights.unlink()
    again = snakemake("--cores", "2", "--configfile", "config.yaml", *finished.args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert finished.dry() == {}


def tiny_run_config(tmp: Path, name: str) -> Path:
    """The default config without its sweep, as small as a full run gets (one model, seed and variant)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.pop("sweep")
    merge(config, {"run": name, "store_dir": str(tmp / "store"), "networks": {"n_train": 2, "n_valid": 1},
                   "pretrain": {"epochs": 1},
                   "train": {"seeds": [1], "epochs": 2, "checkpoint_every": 2, "n_labeled_batches": 10,
                             "n_unlabeled_batches": 5, "n_latent_points": 100, "n_bootstrap": 10},
                   "evaluate": {"embed_epochs": [2], "predict": {"n_train": [50], "seeds": 1}}})
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_train_and_predict_outputs_do_not_depend_on_cores(tmp_path):
    """Snakemake lowers a job's threads to --cores; the compute threads are a setting instead (issue 19)."""
    import torch

    config = tiny_run_config(tmp_path, "pytest-cores")
    first = snakemake("--cores", "2", "--configfile", str(config), "--until", "predict", timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    train = next((tmp_path / "store" / "train").glob("*/infonas/seed1"))
    predictions = sorted((tmp_path / "store" / "predict").rglob("*.csv"))
    assert len(predictions) == 4  # info-NAS and its reference arch2vec encoder, each with its scatter pairs

    def outputs():
        weights = torch.load(train / "weights.pt", weights_only=True)["epochs"][2]["models"]
        return without_timings(train / "metrics.csv"), weights, [p.read_text() for p in predictions]

    metrics, weights, predicted = outputs()
    written = [p.stat().st_mtime_ns for p in predictions]
    again = snakemake("--cores", "1", "--configfile", str(config), "--until", "predict", "--forcerun", "train",
                      timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming" not in (train.parents[1] / "logs" / "infonas_seed1.log").read_text()
    metrics_1, weights_1, predicted_1 = outputs()
    assert all(p.stat().st_mtime_ns != t for p, t in zip(predictions, written)), "predict ran again"
    assert metrics_1 == metrics and predicted_1 == predicted
    for name, state in weights.items():
        assert all(torch.equal(state[k], weights_1[name][k]) for k in state), name
    shutil.rmtree(REPO / "results" / "pytest-cores", ignore_errors=True)
