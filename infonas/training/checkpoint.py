"""Checkpoints of the joint training: atomic files that hold everything a resumed run needs.

A checkpoint `checkpoints/epoch_{E:03d}.pt` is a plain dict (loadable with weights_only=True):
`format`, `epoch` (epochs completed), `model_config`, `joint_config`, `data_sizes`, `models` (name ->
state_dict; `infonas`, `arch2vec`) and `optimizers` (name -> state_dict: `infonas`, `infonas_vae` with
two optimisers, `arch2vec`; see `JointTrainer._make_optimizers`), `rng` (global torch CPU/CUDA
states and the batch-order generator's state) and `metrics` (the metrics.csv rows so far). It is written
to a temporary name and renamed, so a killed job leaves either the previous checkpoint or the new one.
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


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by save_checkpoint; InfonasError naming the file if it is not one."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise InfonasError(f"checkpoint {path}: not found") from None
    except Exception as exc:  # torch raises several types for truncated/foreign files; its text
        # suggests unsafe loading (weights_only=False), which we never want a user to try
        raise InfonasError(f"checkpoint {path}: corrupt or not a checkpoint ({type(exc).__name__}); "
                           "delete it to start the job over") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InfonasError(f"checkpoint {path}: not an infonas joint-training checkpoint")
    return state


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


def load_trained_models(path, device="cpu") -> dict[str, nn.Module]:
    """The trained models of a checkpoint in eval mode: `infonas` (InfoNAS) and/or `arch2vec` (ArchVAE)."""
    state = load_checkpoint(path, map_location=device)
    config = InfoNASConfig(**state["model_config"])
    models: dict[str, nn.Module] = {}
    for name, weights in state["models"].items():
        model = InfoNAS(config) if name == "infonas" else ArchVAE(config.vae)
        model.load_state_dict(weights)
        models[name] = model.to(device).eval()
    return models
