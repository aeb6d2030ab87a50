"""Faults of class 'interruption': killed, forced and corrupt runs of the resumable stages.

Resuming after a kill is tested where the resume lives (test_training.py: test_resume_after_kill_mid_epoch,
test_pretrain.py: test_resume_after_kill_gives_identical_weights); here the cases around it.
"""
import numpy as np
import pytest
import torch

from infonas.errors import InfonasError
from infonas.training import checkpoint as ckpt
from infonas.training import joint as J
from infonas.training.run import train_stage
from test_models import random_cells

ARCH2VEC = {"op_embedding_dim": 3, "ops_activation": "sigmoid", "arch2vec_epochs": 2, "checkpoint_every": 1,
            "batch_size": 16, "vae_lr": 0.001, "n_latent_points": 50, "eval_max_samples": None,
            "vae_train_mode_epochs": None}


def space(n=60):
    adj, ops = random_cells(n, 3)
    return {"adjacency": adj, "ops": ops, "split": np.where(np.arange(n) < 48, 0, 1).astype(np.int8),
            "hash": np.array([f"{i:032x}" for i in range(n)], dtype="S32")}


def test_a_finished_job_run_again_trains_again(tmp_path, monkeypatch):
    """--forcerun on a finished job used to resume from its final checkpoint and train nothing."""
    epochs = []
    original = J.JointTrainer.run_epoch
    monkeypatch.setattr(J.JointTrainer, "run_epoch", lambda self, **kw: epochs.append(self.epoch) or original(self, **kw))
    cells = space()
    first = train_stage(cells, None, None, tmp_path, "arch2vec", 1, ARCH2VEC, "cpu")
    assert epochs == [0, 1] and not (tmp_path / "checkpoints").exists()
    assert ckpt.saved_weight_epochs(tmp_path / "weights.pt") == [1, 2]
    again = train_stage(cells, None, None, tmp_path, "arch2vec", 1, ARCH2VEC, "cpu")
    assert epochs == [0, 1, 0, 1]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(again) == strip(first)  # retrained from scratch on the CPU: the same numbers


def test_corrupt_checkpoint_names_the_file_and_never_suggests_unsafe_loading(tmp_path):
    path = tmp_path / "epoch_002.pt"
    torch.save({"format": ckpt.FORMAT}, path)
    path.write_bytes(path.read_bytes()[:40])  # torn, as by a full disk or a copy cut short
    with pytest.raises(InfonasError) as error:
        ckpt.load_checkpoint(path)
    message = str(error.value)
    assert str(path) in message and "delete it and run again" in message
    assert "weights_only" not in message and "\n" not in message


def test_weights_file_holds_every_saved_epoch_and_names_a_missing_one(tmp_path):
    train_stage(space(), None, None, tmp_path, "arch2vec", 1, ARCH2VEC, "cpu")
    weights = tmp_path / "weights.pt"
    assert set(ckpt.load_trained_models(weights, epoch=2)) == {"arch2vec"}
    one, two = (ckpt.load_trained_models(weights, epoch=e)["arch2vec"].state_dict() for e in (1, 2))
    assert any(not torch.equal(one[k], two[k]) for k in one)  # two epochs, not one copied twice
    with pytest.raises(InfonasError, match=r"has no epoch 3 \(saved epochs \[1, 2\]\); delete it and run again"):
        ckpt.load_trained_models(weights, epoch=3)
