"""Faults of class 'divergence': a loss that leaves the finite numbers stops the job with one line
and leaves no output that looks complete. (Pretraining: test_pretrain.py::test_nan_loss_names_hash_and_epoch.)"""
import pytest
import torch

from infonas.errors import InfonasError
from infonas.training.joint import JointConfig, train_joint
from test_training import FAST, MODEL, tiny_data


@pytest.mark.parametrize("optimizers", ["two", "one"])
def test_diverging_joint_training_stops_with_one_line_and_no_output(tmp_path, optimizers):
    """An absurd learning rate drives the weights to inf within the first epoch."""
    unlabeled, labeled, heldout = tiny_data()
    config = JointConfig(**{**FAST, "epochs": 2, "checkpoint_every": 1, "lr": 1e30, "vae_lr": 1e30,
                            "grad_clip": None, "optimizers": optimizers})
    with pytest.raises(InfonasError, match=r"joint training: non-finite loss in epoch \d") as error:
        train_joint(tmp_path, unlabeled, labeled, heldout, MODEL, config)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "metrics.csv").exists() or "nan" not in (tmp_path / "metrics.csv").read_text().lower()


def test_nan_features_are_refused_by_the_predictors():
    from infonas.evaluation.predictors import build_predictor

    x = torch.randn(20, 4).numpy()
    x[3, 1] = float("nan")
    with pytest.raises(InfonasError, match="NaN"):
        build_predictor("rf").fit(x, x[:, 0])
