"""infonas.runs: a finished run's stage outputs found through its variants' config.yaml."""
import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infonas.errors import InfonasError
from infonas.plan import build_plan, write_variant_config
from infonas.runs import (
    STAGE_FILES,
    add_run_arguments,
    embedded_epochs,
    embedding_inputs,
    open_run,
    run_variants,
)

REPO = Path(__file__).resolve().parents[1]
AXIS0 = "scaling=axis0"


def write_run(root: Path, run: str = "r", store_dir: str = "results/store", overlay: dict | None = None):
    """The variant configs rule variant_config writes for config.yaml (its two scaling variants)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text()) | {"store_dir": store_dir} | (overlay or {})
    plan = build_plan(config)
    for name, records in plan.by_variant.items():
        stages = {key: rec.to_dict() for key, rec in records.items()}
        write_variant_config(root / "results" / run / "variants" / name / "config.yaml", plan.variants[name],
                             stages, store_dir)
    return plan


def test_folders_are_the_plans_store_folders(tmp_path):
    plan = write_run(tmp_path)
    assert run_variants("r", tmp_path) == [AXIS0, "scaling=axisnull-multiply"]
    outputs = open_run("r", AXIS0, tmp_path)
    assert outputs.config == plan.variants[AXIS0]
    for stage in ("searchspace", "io_dataset", "benchmark"):
        assert outputs.folder(stage) == tmp_path / "results" / "store" / stage / plan.digest(AXIS0, stage)
    train = plan.digest(AXIS0, "train", "infonas")
    assert outputs.folder("train", "infonas") == tmp_path / "results" / "store" / "train" / train
    assert outputs.has("networks") and not outputs.has("train", "arch2vec")


def test_an_existing_output_is_returned_and_a_missing_one_names_the_file_and_its_command(tmp_path):
    write_run(tmp_path)
    outputs = open_run("r", AXIS0, tmp_path)
    target = outputs.folder("io_dataset") / STAGE_FILES["io_dataset"]
    with pytest.raises(InfonasError) as error:
        outputs.io_dataset()
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{target}: missing (io_dataset output of run 'r'")
    relative = target.relative_to(tmp_path)
    assert f"`snakemake {relative} --cores all --config run=r` in {tmp_path}" in message
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")
    assert outputs.io_dataset() == target


def test_embeddings_default_to_the_first_model_and_seed_and_the_last_evaluated_epoch(tmp_path):
    plan = write_run(tmp_path, overlay={"evaluate": {"embed_epochs": [3, 6]}})
    outputs = open_run("r", AXIS0, tmp_path)
    folder = tmp_path / "results/store/train" / plan.digest(AXIS0, "train", "infonas") / "infonas"
    for path in (folder / "seed1/embeddings/epoch6.h5", folder / "seed2/embeddings/epoch3.h5"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    assert outputs.embeddings() == folder / "seed1/embeddings/epoch6.h5"
    assert outputs.embeddings("infonas", 2, 3) == folder / "seed2/embeddings/epoch3.h5"
    with pytest.raises(InfonasError, match=r"has no train:arch2vec stage \(it has searchspace, "):
        outputs.embeddings("arch2vec")


def test_raw_features_are_one_file_per_search_space(tmp_path):
    plan = write_run(tmp_path)
    target = tmp_path / "results/store/raw_features" / plan.digest(AXIS0, "raw_features") / "embeddings.h5"
    assert plan.digest(AXIS0, "raw_features") == plan.digest("scaling=axisnull-multiply", "raw_features")
    with pytest.raises(InfonasError, match="raw_features output of run 'r'"):
        open_run("r", AXIS0, tmp_path).raw_features()
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")
    assert open_run("r", AXIS0, tmp_path).raw_features() == target


def test_embedded_epochs_follow_the_model():
    config = {"evaluate": {"embed_epochs": [3, 6]}, "train": {"arch2vec_epochs": 8}}
    assert embedded_epochs(config, "infonas") == [3, 6] and embedded_epochs(config, "infonas-opemb") == [3, 6]
    assert embedded_epochs(config, "arch2vec") == [8]


def test_an_absolute_store_is_read_where_it_is(tmp_path):
    store = tmp_path / "elsewhere"
    write_run(tmp_path / "work", store_dir=str(store))
    outputs = open_run("r", AXIS0, tmp_path / "work")
    assert outputs.folder("images").parent == store / "images"


def test_choosing_a_variant(tmp_path):
    write_run(tmp_path)
    with pytest.raises(InfonasError, match=f"run 'r' has variants {AXIS0}, scaling=axisnull-multiply: choose one"):
        open_run("r", None, tmp_path)
    with pytest.raises(InfonasError, match=r"variants/axis1/config.yaml: missing \(run 'r' has variants "):
        open_run("r", "axis1", tmp_path)
    (tmp_path / "results/r/variants/scaling=axisnull-multiply/config.yaml").unlink()
    assert open_run("r", None, tmp_path).variant == AXIS0  # the only one


def test_a_run_without_variant_configs_says_how_to_write_them(tmp_path):
    with pytest.raises(InfonasError) as error:
        open_run("nothing", None, tmp_path)
    assert str(error.value) == (
        f"{tmp_path}/results/nothing/variants: no variant config of run 'nothing'; write them with "
        "`snakemake --until variant_config --cores 1 --config run=nothing` and the run's config files")


@pytest.mark.parametrize("text, message", [("config: [1\n", "unreadable variant config"),
                                           ("config: {}\n", "not a variant config"),
                                           ("config: {}\nstages: {images: {digest: x}}\n", "not a variant config"),
                                           ("- 1\n", "not a variant config")])
def test_a_damaged_variant_config_names_itself(tmp_path, text, message):
    path = tmp_path / "results/r/variants/v/config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(InfonasError, match=f"^{re.escape(str(path))}: {message}"):
        open_run("r", "v", tmp_path)


def test_command_line_inputs_from_files_or_a_run(tmp_path):
    plan = write_run(tmp_path)
    parser = argparse.ArgumentParser()
    parser.add_argument("--embeddings")
    parser.add_argument("--benchmark")
    add_run_arguments(parser, embeddings=True)
    files = parser.parse_args(["--embeddings", "e.h5", "--benchmark", "b.h5"])
    assert embedding_inputs(files, parser) == (Path("e.h5"), Path("b.h5"))
    with pytest.raises(SystemExit):
        embedding_inputs(parser.parse_args(["--embeddings", "e.h5"]), parser)
    store = tmp_path / "results/store"
    embeddings = store / "train" / plan.digest(AXIS0, "train", "infonas") / "infonas/seed2/embeddings/epoch6.h5"
    benchmark = store / "benchmark" / plan.digest(AXIS0, "benchmark") / "benchmark.h5"
    for path in (embeddings, benchmark):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    args = parser.parse_args(["--run", "r", "--variant", AXIS0, "--root", str(tmp_path), "--train-seed", "2"])
    assert embedding_inputs(args, parser) == (embeddings, benchmark)


def dry_run(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_commands_in_the_messages_make_what_they_promise(tmp_path):
    """`--until variant_config` writes the variant configs and nothing else; a store file is a target."""
    store = tmp_path / "store"
    planned = dry_run("--until", "variant_config", "--config", "run=pytest-runs", f"store_dir={store}")
    assert re.findall(r"^(\w+)\s+\d+$", planned.split("Job stats:")[1].split("\n\n")[0], re.M) == [
        "variant_config", "total"]
    plan = build_plan(yaml.safe_load((REPO / "config.yaml").read_text()) | {"store_dir": str(store)})
    target = store / "io_dataset" / plan.digest(AXIS0, "io_dataset") / "dataset.h5"
    assert re.search(r"^io_dataset\s+1$", dry_run(str(target), "--config", "run=pytest-runs", f"store_dir={store}"),
                     re.M)
