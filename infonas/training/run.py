"""The `train` stage: stage files (searchspace.h5, dataset.h5, images.h5) in, a joint run out.

Kept apart from the training loop so that the loop only ever sees tensors and dataclasses, and
the files' layouts stay the business of their own modules.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from infonas.config import dataclass_from_section, saved_epochs
from infonas.data.io_dataset import IO_SPLITS, IODataset
from infonas.models.info_nas import InfoNASConfig
from infonas.models.vae import VAEConfig
from infonas.models.variants import uses_labels, uses_op_embeddings
from infonas.searchspace.store import SPLIT_TEST, SPLIT_TRAIN
from infonas.training.checkpoint import checkpoint_path, save_trained_weights
from infonas.training.joint import CellSet, JointConfig, LabeledData, LabeledSplit, train_joint

log = logging.getLogger(__name__)

#: the train job's trained models at every saved epoch (infonas.training.checkpoint.save_trained_weights)
WEIGHTS_FILE = "weights.pt"
#: labeled splits scored every epoch: all five of the IO dataset (paper Figs. 12-13 show the test ones).
EVALUATED_SPLITS = IO_SPLITS


def searchspace_cells(space: dict, exclude_hashes=()) -> tuple[CellSet, CellSet]:
    """(unlabeled = arch2vec train split, held out = its test split) as CPU tensors, without the
    rows whose hash is in `exclude_hashes` (str or bytes)."""
    keep = ~np.isin(space["hash"], np.asarray([h.encode() if isinstance(h, str) else h for h in exclude_hashes],
                                              dtype="S32"))

    def cells(split: int) -> CellSet:
        rows = (space["split"] == split) & keep
        return CellSet(torch.from_numpy(space["adjacency"][rows]), torch.from_numpy(space["ops"][rows]))

    return cells(SPLIT_TRAIN), cells(SPLIT_TEST)


def cell_pools(space: dict, dataset: IODataset | None, model: str, remove_labeled: bool) -> tuple[CellSet, CellSet]:
    """(unlabeled, held-out) cells of one job. With `remove_labeled` (info-NAS' default,
    info_nas/datasets/arch2vec_dataset.py), an info-NAS model's IO-dataset networks leave arch2vec's
    pools: its train networks the unlabeled cells (the VAE trains on them as labeled data only), its
    valid networks the held-out cells. Plain arch2vec keeps both pools whole.
    """
    removed = dataset.hashes if uses_labels(model) and remove_labeled else ()
    unlabeled, heldout = searchspace_cells(space, removed)
    if len(removed):
        log.info("remove_labeled: %d labeled networks left out of the cell pools (%d unlabeled, %d held out remain)",
                 len(removed), len(unlabeled), len(heldout))
    return unlabeled, heldout


def labeled_data(dataset: IODataset, images: dict, splits=EVALUATED_SPLITS) -> LabeledData:
    """The IO dataset's splits with their image groups and its `valid` networks, ready to move to the device."""
    def split(name: str) -> LabeledSplit:
        part = dataset[name]
        return LabeledSplit(
            torch.from_numpy(part.net_index),
            torch.from_numpy(part.image_index),
            torch.from_numpy(part.targets),
            torch.from_numpy(images[part.image_group]["images"]),
        )

    return LabeledData(
        CellSet(torch.from_numpy(dataset.adjacency), torch.from_numpy(dataset.ops)),
        {name: split(name) for name in splits},
        torch.as_tensor(images["mean"], dtype=torch.float32),
        torch.as_tensor(images["std"], dtype=torch.float32),
        valid_networks=torch.from_numpy(np.flatnonzero(dataset.roles == "valid")),
    )


#: `train` settings that configure the model rather than the JointConfig schedule.
MODEL_KEYS = ("op_embedding_dim", "ops_activation", "regressor", "arch2vec_epochs")
#: `train` settings of the stage's data preparation (`train_stage`).
DATA_KEYS = ("remove_labeled",)


def model_configs(model: str, settings: dict, seed: int, out_features: int) -> tuple[InfoNASConfig, JointConfig]:
    """InfoNASConfig and JointConfig of one (model variant, seed) job from the `train` section."""
    vae = VAEConfig(op_embedding_dim=settings["op_embedding_dim"] if uses_op_embeddings(model) else None,
                    ops_activation=settings["ops_activation"])
    regressor = dict(settings.get("regressor", {}), out_features=out_features, vae=vae)
    model_config = dataclass_from_section(InfoNASConfig, regressor, "train.regressor")
    joint = {k: v for k, v in settings.items() if k not in MODEL_KEYS + DATA_KEYS}
    if not uses_labels(model):  # the plain arch2vec reference keeps its own (8-epoch) schedule
        joint["epochs"] = settings.get("arch2vec_epochs", joint.get("epochs", JointConfig.epochs))
    joint_config = dataclass_from_section(JointConfig, dict(joint, seed=seed), "train")
    return model_config, joint_config


def train_stage(space: dict, dataset: IODataset | None, images: dict | None, out_dir, model: str, seed: int,
                settings: dict, device: str, progress: bool = False) -> list[dict]:
    """Train (or resume) one job in out_dir and gather its saved epochs' models into out_dir/weights.pt.

    metrics.csv and weights.pt are the declared outputs; checkpoints/ holds the resume state, which
    survives a failed or killed job because the workflow never declares it, and is deleted once the
    outputs are complete, so that a forced rerun trains afresh. Plain arch2vec takes no dataset or images.
    """
    unlabeled, heldout = cell_pools(space, dataset, model, settings.get("remove_labeled", False))
    labeled = labeled_data(dataset, images) if uses_labels(model) else None
    out_features = int(labeled.splits["train"].targets.shape[1]) if labeled else 1
    model_config, joint_config = model_configs(model, settings, seed, out_features)
    rows = train_joint(out_dir, unlabeled, labeled, heldout, model_config, joint_config, device, progress)
    checkpoints = Path(out_dir) / "checkpoints"
    epochs = saved_epochs(joint_config.epochs, joint_config.checkpoint_every)
    save_trained_weights(Path(out_dir) / WEIGHTS_FILE, {e: checkpoint_path(checkpoints, e) for e in epochs})
    shutil.rmtree(checkpoints)
    return rows
