"""What each job asks a cluster for (memory, wall time, GPUs), from the run's own settings.

Why: a SLURM job states its memory, time and GPUs up front. Asking too little gets it killed,
asking too much makes it wait for a node (or never start: a fixed 32 GB for `train` could not
be placed on the 20 GB node where the tiny default runs in seconds). So every request follows
from the sizes the config implies (rows of the search space, images, networks, output width,
epochs, batches, runs) and from `device`, the same way from the tiny default to the paper preset.

Memory = a fixed cost of the interpreter and its libraries (measured) plus the arrays the stage
holds at its peak, times MEM_MARGIN. Time = the stage's work over a throughput of the device
(CPU rates measured on a 2-core box with the tiny default, GPU rates from the thesis' T4 cluster
or known trainer speeds, see RATES), times TIME_MARGIN, plus start-up, never below MIN_RUNTIME.
A GPU is asked for only with `device: cuda` (or cuda:N): `cpu` never asks, and `auto` uses a GPU
only where the job happens to see one, so it asks for none either.

Light on purpose (no torch): the Snakefile calls it for every job while it builds the DAG.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from typing import Callable, Mapping

from infonas.config import load_config_files
from infonas.errors import InfonasError
from infonas.models.variants import uses_labels
from infonas.plan import build_plan

NB101_CELLS = 423_624
#: rows of the larger official file (nasbench_full: 4 epoch budgets x 3 repeats); only108 has 3 per cell
NB101_TFRECORD_ROWS = 12 * NB101_CELLS
#: images of each source (imagefolder is not known before it is read: counted as CIFAR-10)
SOURCE_IMAGES = {"digits": 1797, "cifar10": 60_000, "imagefolder": 60_000}
#: test part of each source (digits draws 1/6 as its own test part; CIFAR-10's official 10,000)
SOURCE_TEST_IMAGES = {"digits": 300, "cifar10": 10_000, "imagefolder": 10_000}
IMAGE_BYTES = 32 * 32 * 3
FLOAT = 4

#: resident memory of a job before its data (MB). Measured peaks of the tiny default's jobs: 40-170 MB
#: without torch, 0.6-1.1 GB with torch on the CPU; CUDA's libraries and context add about 2-3 GB.
BASE_MB = {"python": 500, "torch": 1500, "cuda": 4000}
MEM_MARGIN = 1.5
MEM_STEP_MB = 500  # requests are rounded up to this
MIN_MEM_MB = 1000
#: tfrecord/cell-cache rows held while the search space is built (measured 0.4 KB per synthetic row)
ROW_PARSE_BYTES = 512

#: the CPU rates were measured on a shared 2-core box; the GPU rates are already a slow GPU's
TIME_MARGIN = {"cpu": 3.0, "cuda": 1.5}
STARTUP_S = 60  # interpreter, imports, reading inputs
MIN_RUNTIME = 10  # minutes

#: paper-size units per second, by device. "Paper size" = the unit at the paper preset's model sizes:
#: pretrain/extract: one image through a network of 128 stem channels and 3 x 3 modules (scaled by
#: `network_scale`); train: one labeled row (regressor of 128 stem channels, scaled by `regressor_scale`);
#: embed: one cell through both encoders; vae: one unlabeled cell of plain arch2vec; reinforce and
#: random search: one run over one row; predict: one labeled architecture per fit.
RATES = {
    # the slowest of the tiny default's 8 networks: 329 images/s at 1/192 of the paper's network size
    ("pretrain", "cpu"): 1.7,
    # a T4-class GPU (the thesis' cluster); NASBench-PyTorch's own trainer does ~1,100 on an H100
    ("pretrain", "cuda"): 400.0,
    # the tiny default's train job: 3 s per epoch of 1,560 row-units at 1/64 of the regressor size
    ("train", "cpu"): 8.0,
    # thesis: 30 epochs of the paper's sizes in at most 6 hours on a T4
    ("train", "cuda"): 390.0,
    ("vae", "cpu"): 2_000.0,
    ("vae", "cuda"): 20_000.0,
    ("embed", "cpu"): 5_000.0,
    ("embed", "cuda"): 50_000.0,
    # the tiny default: 20 runs over 5,000 rows in 2 s
    ("reinforce", "cpu"): 50_000.0,
    ("reinforce", "cuda"): 1_000_000.0,
    # BO: run x row x iteration scored (and a network fit per run and iteration); benchmarks/bo_search.py
    # measured ~1e6 on one CPU core (50 runs, 20k rows); the GPU figure is a guess
    ("bo", "cpu"): 1_000_000.0,
    ("bo", "cuda"): 50_000_000.0,
    # sklearn fits (GP cubic in n_train, below) on the CPU whatever the device
    ("predict", "cpu"): 2_000.0,
    ("predict", "cuda"): 2_000.0,
    # work that is not the device's: tfrecord rows parsed per second (benchmarks/read_tfrecord.py:
    # 52,000 here), images decoded per second, MB read per second from a shared file system
    ("parse", "cpu"): 50_000.0,
    ("decode", "cpu"): 1_000.0,
    ("read", "cpu"): 50.0,
}
#: seconds of a GP fit on 10,000 points (cubic in n), the dominant predictor at the paper's sizes
GP_10K_S = 600.0
#: seconds of one assessor-cells step (a 1,024-cell graph batch), measured on one CPU core: ~100 s per fit of
#: 210 epochs x 20 steps on the 20k subset (benchmarks/cell_assessor.py); a GPU is faster, this bounds it
CELL_ASSESSOR_STEP_S = 0.025
#: GPU share (percent of one GPU) a job declares for profiles/local, where the config has no key for it
GPU_SHARE = {"embed": 25, "reinforce": 50, "bo": 50, "predict": 25, "output_heatmaps": 25}


@dataclass(frozen=True)
class Request:
    """One job's request. `gpu` is the executor plugin's resource (sbatch --gpus); `gpu_percent`
    is the share of one GPU that profiles/local caps; `runtime` is in minutes."""

    mem_mb: int
    runtime: int
    gpu: int
    gpu_percent: int


@dataclass(frozen=True)
class Need:
    """A stage's peak data bytes, its work in paper-size units, the rate it runs at and its libraries."""

    data_bytes: float
    units: float = 0.0
    rate: str | None = None  # key of RATES without the device (None: no work worth timing)
    torch: bool = True
    gpu_stage: bool = True  # runs on `device` (asks for a GPU when device is cuda)
    extra_s: float = 0.0  # work not measured in units (GP fits)


# --------------------------------------------------------------------------------------- sizes
def uses_cuda(config: Mapping) -> bool:
    """Whether the config asks for a GPU: `cuda` or `cuda:N` (never `auto` or `cpu`)."""
    return str(config.get("device", "auto")).startswith("cuda")


def search_rows(config: Mapping) -> int:
    """Rows of searchspace.h5: the space (all cells) or its seeded subsample."""
    cap = config["searchspace"].get("max_archs")
    return min(cap, NB101_CELLS) if cap else NB101_CELLS


def image_counts(config: Mapping) -> dict[str, int]:
    """Images per split of images.h5 (train, valid, test, test_2k)."""
    images = config["images"]
    total, test = SOURCE_IMAGES[images["source"]], SOURCE_TEST_IMAGES[images["source"]]
    return {"train": total - test - images["valid_size"], "valid": images["valid_size"], "test": test,
            "test_2k": images["test_subset_size"]}


def network_scale(config: Mapping) -> float:
    """Cost of one image through the configured networks relative to the paper's (compute ~ C^2 per module)."""
    p = config["pretrain"]
    return (p["stem_channels"] / 128) ** 2 * p["num_stacks"] * p["modules_per_stack"] / 9


def network_params(config: Mapping) -> float:
    """Upper bound of a network's parameters: five 3x3 convolutions per module at every stack's width."""
    p = config["pretrain"]
    return sum(p["modules_per_stack"] * 5 * 9 * (p["stem_channels"] * 2**s) ** 2 for s in range(p["num_stacks"]))


def network_activation_bytes(config: Mapping) -> float:
    """Activations of one training batch kept for the backward pass (7 vertices per module, twice)."""
    p = config["pretrain"]
    per_image = sum(p["modules_per_stack"] * 7 * p["stem_channels"] * 1024 / 2**s for s in range(p["num_stacks"]))
    return 2 * FLOAT * p["batch_size"] * per_image


def output_width(config: Mapping) -> int:
    """Features of one IO target: the last stack's channels plus the appended bias."""
    p = config["pretrain"]
    return p["stem_channels"] * 2 ** (p["num_stacks"] - 1) + 1


def io_rows(config: Mapping) -> dict[str, int]:
    """Rows of the IO dataset: all of them, and those train reads (train, unseen nets, unseen images)."""
    n_train, n_valid = config["networks"]["n_train"], config["networks"]["n_valid"]
    images = image_counts(config)
    unseen = math.ceil(config["io"]["unseen_image_fraction"] * n_train)
    training = n_train * images["valid"] + n_valid * images["valid"] + unseen * images["test_2k"]
    return {"all": (n_train + n_valid) * (images["valid"] + images["test_2k"]), "training": training}


def n_networks(config: Mapping) -> int:
    return config["networks"]["n_train"] + config["networks"]["n_valid"]


def regressor_scale(config: Mapping) -> float:
    """Cost of one labeled row relative to the paper's regressor (128 stem channels)."""
    return (config["train"]["regressor"]["stem_channels"] / 128) ** 2


def train_eval_rows(config: Mapping) -> int:
    """Labeled rows evaluated per epoch: each training split, capped by train.eval_max_samples."""
    n_train, n_valid = config["networks"]["n_train"], config["networks"]["n_valid"]
    images = image_counts(config)
    unseen = math.ceil(config["io"]["unseen_image_fraction"] * n_train)
    splits = [n_train * images["valid"], n_valid * images["valid"], unseen * images["test_2k"]]
    cap = config["train"].get("eval_max_samples")
    return sum(min(n, cap) if cap else n for n in splits)


# --------------------------------------------------------------------------------------- stages
def _searchspace(config: Mapping, model: str | None) -> Need:
    tfrecord = config["searchspace"]["source"] == "tfrecord"
    rows = NB101_TFRECORD_ROWS if tfrecord else NB101_CELLS
    return Need(rows * ROW_PARSE_BYTES, rows if tfrecord else 0, "parse", torch=False, gpu_stage=False)


def _images(config: Mapping, model: str | None) -> Need:
    total = SOURCE_IMAGES[config["images"]["source"]]
    decoded = total if config["images"]["source"] == "imagefolder" else 0
    return Need(4 * total * IMAGE_BYTES, decoded, "decode", gpu_stage=False)  # decoded, float copies for statistics


def _pretrain(config: Mapping, model: str | None) -> Need:
    images = image_counts(config)
    held = sum(images.values()) * IMAGE_BYTES * (1 + FLOAT)  # uint8 upload and a float batch view
    state = 4 * FLOAT * network_params(config)  # weights, gradients, momentum, checkpoint copy
    activations = 0 if uses_cuda(config) else network_activation_bytes(config)
    seen = config["pretrain"]["epochs"] * images["train"] + images["valid"] + images["test"]
    return Need(held + state + activations, seen * network_scale(config), "pretrain")


def _extract_io(config: Mapping, model: str | None) -> Need:
    images = image_counts(config)
    n = images["valid"] + images["test_2k"]
    outputs = 3 * n * output_width(config) * FLOAT  # features, logits and their sorted copies
    held = n * IMAGE_BYTES * (1 + FLOAT) + 2 * FLOAT * network_params(config)
    return Need(held + outputs, n * network_scale(config) / 3, "pretrain")  # forward only


def _fit_scaler(config: Mapping, model: str | None) -> Need:
    images = image_counts(config)
    shard = (images["valid"] + images["test_2k"]) * output_width(config) * FLOAT
    shards_mb = n_networks(config) * shard / 1e6
    return Need(4 * shard, shards_mb, "read", torch=False, gpu_stage=False)  # one shard at a time


def _io_dataset(config: Mapping, model: str | None) -> Need:
    row_bytes = io_rows(config)["all"] * (output_width(config) * FLOAT + 8)
    return Need(2 * row_bytes, 2 * row_bytes / 1e6, "read", torch=False, gpu_stage=False)  # read, then written


def _train(config: Mapping, model: str | None) -> Need:
    t = config["train"]
    cells = search_rows(config) * 64  # adjacency, ops and the split of every row
    if model is not None and not uses_labels(model):
        return Need(4 * cells, t["arch2vec_epochs"] * search_rows(config), "vae")
    images = image_counts(config)
    targets = io_rows(config)["training"] * (output_width(config) * FLOAT + 8)
    held = 2 * targets + (images["valid"] + images["test_2k"]) * IMAGE_BYTES * FLOAT + 4 * cells
    per_epoch = (t["n_labeled_batches"] * t["batch_size"] + train_eval_rows(config) / 3) * regressor_scale(config)
    return Need(held, t["epochs"] * per_epoch, "train")


def _embed(config: Mapping, model: str | None) -> Need:
    rows = search_rows(config)
    return Need(rows * (64 + 2 * 7 * 16 * FLOAT * 2), rows, "embed")  # mu and logvar of both encoders


def _reinforce(config: Mapping, model: str | None) -> Need:
    rows, runs = search_rows(config), config["evaluate"]["reinforce"]["runs"]
    return Need(rows * 128 + runs * rows, runs * rows, "reinforce")  # features, metrics, visited masks


def _bo(config: Mapping, model: str | None) -> Need:
    """Every run scores every row each iteration; an iteration adds top_k cells of ~2,000 s each."""
    b = config["evaluate"]["bo"]
    rows, runs = search_rows(config), b["runs"]
    iterations = b["budget_s"] / (b["top_k"] * 2_000.0)
    return Need(rows * 128 + runs * rows + 2**27, runs * rows * iterations, "bo")  # + the scoring blocks


def _predict(config: Mapping, model: str | None) -> Need:
    p = config["evaluate"]["predict"]
    largest = max(p["n_train"])
    unlabeled = p["n_unlabeled"] if p["n_unlabeled"] is not None else search_rows(config)
    kernels = 3 * 8 * largest**2 if "gp" in p["regressors"] else 0
    # the assessors build their relation graph per mini-batch of 1,024 nodes: a few batch x batch matrices
    graph = 16 * FLOAT * 1024**2 + unlabeled * 128 if {"assessor", "assessor-cells"} & set(p["regressors"]) else 0
    gp_s = p["seeds"] * sum(GP_10K_S * (n / 10_000) ** 3 for n in p["n_train"]) if "gp" in p["regressors"] else 0
    fits = p["seeds"] * len(p["regressors"]) * sum(p["n_train"])
    return Need(search_rows(config) * 128 + max(kernels, graph), fits, "predict",
                extra_s=gp_s + _cell_assessor_s(p, unlabeled, model))


def _cell_assessor_s(p: Mapping, unlabeled: int, model: str | None) -> float:
    """assessor-cells' epochs over the N_l + N_u cells per fit; it runs on the raw cells only (model None)."""
    if model is not None or "assessor-cells" not in p["regressors"]:
        return 0.0
    from infonas.evaluation.predictors import default_params  # lazy: imports torch, only for this regressor

    c = {**default_params("assessor-cells"), **(p.get("params") or {}).get("assessor-cells", {})}
    steps = sum(math.ceil((n + unlabeled) / c["batch_size"]) for n in p["n_train"])
    return p["seeds"] * (c["epochs"] + c["pretrain_epochs"]) * steps * CELL_ASSESSOR_STEP_S


def _output_heatmaps(config: Mapping, model: str | None) -> Need:
    return Need(io_rows(config)["all"] * (output_width(config) * FLOAT + 8))


def _enumerate_cells(config: Mapping, model: str | None) -> Need:
    return Need(NB101_CELLS * 1024, torch=False, gpu_stage=False)  # measured 450 MB peak, 70 s on 2 cores


#: rule name -> its need; rules not listed are bookkeeping that runs where Snakemake runs (localrules)
RULE_NEEDS: dict[str, Callable[[Mapping, str | None], Need]] = {
    "enumerate_cells": _enumerate_cells,
    "searchspace": _searchspace,
    "images": _images,
    "pretrain": _pretrain,
    "extract_io": _extract_io,
    "fit_scaler": _fit_scaler,
    "io_dataset": _io_dataset,
    "train": _train,
    "embed": _embed,
    "reinforce": _reinforce,
    "bo": _bo,
    "predict": _predict,
    "output_heatmaps": _output_heatmaps,
}


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def request(rule: str, config: Mapping, model: str | None = None) -> Request:
    """The cluster request of one job of `rule` under a validated (variant) config."""
    if rule not in RULE_NEEDS:
        raise InfonasError(f"resources: no estimate for rule '{rule}' (known: {', '.join(RULE_NEEDS)})")
    need = RULE_NEEDS[rule](config, model)
    gpu = int(need.gpu_stage and uses_cuda(config))
    base = BASE_MB["cuda" if gpu else "torch" if need.torch else "python"]
    mem_mb = max(MIN_MEM_MB, _round_up(base + MEM_MARGIN * need.data_bytes / 2**20, MEM_STEP_MB))
    device = "cuda" if gpu else "cpu"
    rate = RATES.get((need.rate, device), RATES.get((need.rate, "cpu"))) if need.rate else None
    seconds = (need.units / rate if rate else 0.0) + need.extra_s
    runtime = max(MIN_RUNTIME, math.ceil((STARTUP_S + TIME_MARGIN[device] * seconds) / 60))
    return Request(mem_mb, runtime, gpu, gpu_share(rule, config) if need.gpu_stage else 0)


def small_job(req: Request) -> bool:
    """Whether a job's request is the floor: its work is negligible next to a cluster job's start-up,
    so it is better run inside the cluster job of the stage it follows (a Snakemake group)."""
    return req.runtime <= MIN_RUNTIME


def gpu_share(rule: str, config: Mapping) -> int:
    """Percent of one GPU a job declares for profiles/local: none on the CPU (`device: cpu`)."""
    if config.get("device", "auto") == "cpu":
        return 0
    if rule in ("pretrain", "extract_io"):
        return config["pretrain"]["gpu_percent"]
    if rule == "train":
        return config["train"]["gpu_percent"]
    return GPU_SHARE.get(rule, 0)


def table(config: Mapping, models=None) -> dict[str, Request]:
    """Every remote rule's request under one config (train once per model): what `main` prints."""
    out = {}
    for rule in RULE_NEEDS:
        if rule == "train":
            for model in models or config["train"]["models"]:
                out[f"train ({model})"] = request(rule, config, model)
        else:
            out[rule] = request(rule, config)
    return out


def main(argv: list[str] | None = None) -> None:
    """Print every remote rule's request, per variant, for the config files named (merged in order);
    a bad file or setting is one line on stderr and exit status 1."""
    parser = argparse.ArgumentParser(
        prog="python -m infonas.resources",
        description="Print each cluster rule's request (mem_mb, runtime, gpu) per variant of a run.")
    parser.add_argument("configs", nargs="*", default=["config.yaml"], metavar="CONFIG",
                        help="config files, merged in order like --configfile (default: config.yaml)")
    args = parser.parse_args(argv)
    try:
        variants = build_plan(load_config_files(args.configs)).variants
        tables = {name: table(variant) for name, variant in variants.items()}
    except InfonasError as error:
        sys.exit(f"infonas.resources: {error}")
    for name, requests in tables.items():
        print(f"variant {name}\n\n| rule | mem_mb | runtime (min) | gpu |\n|---|---|---|---|")
        for rule, req in requests.items():
            print(f"| {rule} | {req.mem_mb} | {req.runtime} | {req.gpu} |")
        print()


if __name__ == "__main__":
    main()
