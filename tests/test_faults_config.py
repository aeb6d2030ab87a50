"""Faults of class 'config': values a user can write that must fail early with one line, or be taken."""
import subprocess
import sys

import pytest

from infonas.config import validate_config
from infonas.errors import InfonasError


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b", "", "x y"])
def test_run_name_must_be_a_plain_folder_name(name):
    with pytest.raises(InfonasError, match="config key 'run'"):
        validate_config({"run": name})


def test_integral_floats_are_taken_as_integers():
    config = validate_config({"train": {"epochs": 6.0, "checkpoint_every": 3.0, "seeds": [1.0, 2.0]},
                              "networks": {"n_train": 6.0}, "evaluate": {"embed_epochs": [6.0]}})
    assert config["train"]["epochs"] == 6 and isinstance(config["train"]["epochs"], int)
    assert config["networks"]["n_train"] == 6 and isinstance(config["networks"]["n_train"], int)
    assert all(isinstance(s, int) for s in config["train"]["seeds"] + config["evaluate"]["embed_epochs"])
    assert isinstance(validate_config({"train": {"lr": 1.0}})["train"]["lr"], float)


def test_fractional_float_for_an_integer_names_the_key():
    with pytest.raises(InfonasError, match="config key 'networks.n_train'"):
        validate_config({"networks": {"n_train": 6.5}})


def test_workflow_rejects_dot_dot_run_before_any_job(repo, tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("run: ..\n")
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", "config.yaml", str(overlay)],
                            cwd=repo, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "config key 'run'" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
