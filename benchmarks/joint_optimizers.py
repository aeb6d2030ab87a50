"""info-NAS' two optimisers against a single one, side by side on one IO dataset; prints JSON.

- `two` (`train.optimizers: two`, info-NAS' trainer): the shared VAE keeps arch2vec's own Adam
  (`train.vae_lr`) for unlabeled batches, a second Adam over VAE + regressor (`train.lr`) takes the
  labeled batches.
- `one`: a single Adam (`train.lr`) over VAE + regressor for both batch kinds, so its moments mix them.

Both set-ups train from the same initial weights on the same batches (same seed) with every other
`train` setting of one variant of a workflow run, on that variant's search space, IO dataset and
images (found through `results/<run>/variants/<variant>/config.yaml`, `infonas.runs`):

    .venv/bin/python -m snakemake io_dataset_all --cores 2 --config run=h2
    .venv/bin/python -m snakemake --until variant_config --cores 1 --config run=h2
    .venv/bin/python benchmarks/joint_optimizers.py --run h2 --variant scaling=axis0 --seeds 1,2,3

For each set-up and seed the final epoch's info-NAS metrics are reported: labeled loss (mean and
the thesis' median over batches) and baseline per split, their ratio, VAE losses, reconstruction
accuracy (held-out cells and validation networks), validity; `mean_over_seeds` averages them. The
reference arch2vec does not depend on the set-up, so its final metrics must agree between set-ups
(`reference_identical`): a check that the comparison is like for like.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time

import numpy as np
import torch

from infonas.data.images import load_images
from infonas.data.io_dataset import load_io_dataset
from infonas.runs import add_run_arguments, run_from_arguments
from infonas.runtime import resolve_device
from infonas.searchspace.store import load_searchspace
from infonas.training.joint import train_joint
from infonas.training.run import EVALUATED_SPLITS, cell_pools, labeled_data, model_configs

WORKFLOW_KEYS = ("models", "seeds", "gpu_percent")
REPORTED = ("vae_loss_labeled", "vae_loss_unlabeled", "labeled_loss_batches", "ops_acc", "adj_acc",
            "ops_acc_valid_networks", "adj_acc_valid_networks", "validity", "uniqueness")


def train_settings(config: dict) -> dict:
    """The variant's `train` section without the keys that only the workflow reads."""
    return {k: v for k, v in config["train"].items() if k not in WORKFLOW_KEYS}


def summary(row: dict) -> dict:
    """The final info-NAS row: labeled loss, median, baseline and loss/baseline per split, cell metrics."""
    out = {k: row[k] for k in REPORTED}
    for split in EVALUATED_SPLITS:
        loss, base = row[f"labeled_loss_{split}"], row[f"baseline_{split}"]
        out[split] = {"loss": loss, "median": row[f"labeled_loss_{split}_median"], "baseline": base,
                      "loss_over_baseline": loss / base if base else math.nan,
                      "ci": [row[f"labeled_loss_{split}_ci_low"], row[f"labeled_loss_{split}_ci_high"]]}
    return out


def mean_over_seeds(results: list[dict]) -> dict:
    """Mean of every number over seeds (nested like `summary`)."""
    first = results[0]
    out = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = mean_over_seeds([r[key] for r in results])
        elif isinstance(value, list):
            out[key] = np.mean([r[key] for r in results], axis=0).tolist()
        else:
            out[key] = float(np.mean([r[key] for r in results]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser, required=True)
    parser.add_argument("--seeds", default="1", help="comma-separated training seeds")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--setups", default="two,one")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    outputs = run_from_arguments(args)
    settings = train_settings(outputs.config)
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    settings["checkpoint_every"] = settings["epochs"]
    space = load_searchspace(outputs.searchspace())
    dataset = load_io_dataset(outputs.io_dataset(), splits=EVALUATED_SPLITS)
    images = load_images(outputs.images(), splits=["valid", "test_2k"])
    unlabeled, heldout = cell_pools(space, dataset, "infonas", settings["remove_labeled"])
    labeled = labeled_data(dataset, images)
    device = torch.device(resolve_device(args.device))
    seeds = [int(s) for s in args.seeds.split(",")]
    setups = args.setups.split(",")
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(), "run": outputs.run, "variant": outputs.variant,
        "epochs": settings["epochs"], "seeds": seeds,
        "n_unlabeled": len(unlabeled), "n_heldout": len(heldout), "n_valid_networks": len(labeled.valid_networks),
        "split_sizes": {name: len(s) for name, s in labeled.splits.items()},
        "lr": settings["lr"], "vae_lr": settings["vae_lr"], "setups": {},
    }
    references: dict[str, list[dict]] = {}
    for setup in setups:
        finals, seconds = [], 0.0
        for seed in seeds:
            model_config, joint = model_configs("infonas", dict(settings, optimizers=setup), seed,
                                                int(labeled.splits["train"].targets.shape[1]))
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                rows = train_joint(tmp, unlabeled, labeled, heldout, model_config, joint, device)
            seconds += time.perf_counter() - start
            last = rows[-1]["epoch"]
            final = {r["model"]: r for r in rows if r["epoch"] == last}
            finals.append(summary(final["infonas"]))
            references.setdefault(setup, []).append({k: final["arch2vec"][k] for k in REPORTED[:2] + REPORTED[3:]})
        result["setups"][setup] = {"seconds": seconds, "per_seed": dict(zip(map(str, seeds), finals)),
                                   "mean_over_seeds": mean_over_seeds(finals)}
    result["reference_identical"] = all(references[s] == references[setups[0]] for s in setups)
    result["reference_mean_over_seeds"] = mean_over_seeds(references[setups[0]])
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
