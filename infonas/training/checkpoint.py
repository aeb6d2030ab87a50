"""Checkpoints of the joint training: atomic files that hold everything a resumed run needs.

A checkpoint `checkpoints/epoch_{E:03d}.pt` is a plain dict (loadable with weights_only=True):
`format`, `epoch` (epochs completed), `model_config`, `joint_config`, `data_sizes`, `models` (name ->
state_dict; `infonas`, `arch2vec`) and `optimizers` (name -> state_dict: `infonas`, `infonas_vae` with
two optimisers, `arch2vec`; see `JointTrainer._make_optimizers`), `rng` (global torch CPU/CUDA
states and the batch-order generator's state) and `metrics` (the metrics.csv rows so far). It is written
to a temporary name and renamed, so a killed job leaves either the previous checkpoint or the new one.
A finished job keeps its saved epochs' models in one weights file (`save_trained_weights`).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from infonas.errors import InfonasError
from infonas.files import save_torch
from infonas.models.info_nas import InfoNAS, InfoNASConfig
from infonas.models.vae import ArchVAE

FORMAT = "infonas-joint-checkpoint-v1"
WEIGHTS_FORMAT = "infonas-trained-weights-v1"
_NAME = re.compile(r"^epoch_(\d+)\.pt$")


def checkpoint_path(directory, epoch: int) -> Path:
    return Path(directory) / f"epoch_{epoch:03d}.pt"


def latest_checkpoint(directory) -> Path | None:
    """The checkpoint with the highest epoch in `directory`, or None when there is none."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return max(found)[1] if found else None


def save_checkpoint(path, state: dict) -> None:
    """torch.save through a temporary file renamed on success (`infonas.files.save_torch`)."""
    save_torch({"format": FORMAT, **state}, path)


def load_checkpoint(path, map_location="cpu", formats=(FORMAT,)) -> dict:
    """Read a checkpoint written by save_checkpoint (or a weights file, with `formats`); InfonasError
    naming the file if it is not one. Memory-mapped: a weights file of many epochs is read only where used.

    The advice in the messages works for both kinds of file: a resume checkpoint that is deleted is
    not resumed from, and a deleted weights file is a missing output that Snakemake trains again.
    """
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    except FileNotFoundError:
        raise InfonasError(f"checkpoint {path}: not found") from None
    except Exception as exc:  # torch raises several types for truncated/foreign files; its text
        # suggests unsafe loading (weights_only=False), which we never want a user to try
        raise InfonasError(f"checkpoint {path}: corrupt or not a checkpoint ({type(exc).__name__}); "
                           "delete it and run again (its job then trains anew)") from None
    if not isinstance(state, dict) or state.get("format") not in formats:
        raise InfonasError(f"checkpoint {path}: not an infonas joint-training checkpoint; "
                           "delete it and run again (its job then trains anew)")
    return state


def save_trained_weights(path, checkpoints: dict[int, Path]) -> None:
    """One file of the trained models at each saved epoch (the train job's declared output `weights.pt`).

    One file, not one per epoch: Snakemake notices a missing declared output and reruns its job, but
    cannot declare a number of files that depends on the settings; a folder of them would hide a
    deleted epoch. Optimiser and RNG states stay in the resume checkpoints, which are then deleted.
    """
    epochs = {}
    for epoch, source in sorted(checkpoints.items()):
        state = load_checkpoint(source)
        epochs[epoch] = {"epoch": state["epoch"], "model_config": state["model_config"], "models": state["models"]}
    save_torch({"format": WEIGHTS_FORMAT, "epochs": epochs}, path)


def saved_weight_epochs(path) -> list[int]:
    """The epochs a weights file holds."""
    return sorted(load_checkpoint(path, formats=(WEIGHTS_FORMAT,))["epochs"])


def load_trained_models(path, device="cpu", epoch: int | None = None) -> dict[str, nn.Module]:
    """The trained models in eval mode: `infonas` (InfoNAS) and/or `arch2vec` (ArchVAE), from a joint
    checkpoint or, at `epoch`, from a train job's weights file."""
    state = load_checkpoint(path, map_location=device, formats=(FORMAT, WEIGHTS_FORMAT))
    if state["format"] == WEIGHTS_FORMAT:
        if epoch not in state["epochs"]:
            raise InfonasError(f"{path}: has no epoch {epoch} (saved epochs {sorted(state['epochs'])}); "
                               "delete it and run again to retrain it with the current settings")
        state = state["epochs"][epoch]
    config = InfoNASConfig(**state["model_config"])
    models: dict[str, nn.Module] = {}
    for name, weights in state["models"].items():
        model = InfoNAS(config) if name == "infonas" else ArchVAE(config.vae)
        model.load_state_dict(weights)
        models[name] = model.to(device).eval()
    return models


def rng_state(device: torch.device) -> dict:
    """Global torch RNG states that dropout and the VAE's noise draw from."""
    state = {"torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["torch_cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Inverse of rng_state. States are CPU byte tensors whatever map_location moved them to."""
    torch.set_rng_state(state["torch_cpu"].cpu())
    if device.type == "cuda" and "torch_cuda" in state:
        torch.cuda.set_rng_state(state["torch_cuda"].cpu(), device)
