"""Faults of class 'config': values a user can write that must fail early with one line, or be taken."""
import subprocess
import sys

import pytest

from infonas.config import load_config_files, validate_config
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


def test_a_duplicate_key_in_a_config_file_is_refused_with_file_line_and_key(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("sweep:\n  s:\n    variants:\n      a: {train.lr: 0.1}\n      a: {train.lr: 0.2}\n")
    with pytest.raises(InfonasError, match=rf"^{path}:5: duplicate key 'a' \(first on line 4\)"):
        load_config_files([path])


def test_a_float_without_a_dot_is_a_number(tmp_path):
    """YAML 1.1 (PyYAML, Snakemake) reads `1e-3` as text: our loader and the validator take the number."""
    path = tmp_path / "lr.yaml"
    path.write_text("train: {lr: 1e-3, vae_lr: 2E-4}\n")
    assert load_config_files([path])["train"] == {"lr": 0.001, "vae_lr": 0.0002}
    config = validate_config({"train": {"lr": "1e-3"}, "pretrain": {"lr": "+5e-2"}})
    assert config["train"]["lr"] == 0.001 and config["pretrain"]["lr"] == 0.05
    with pytest.raises(InfonasError, match="config key 'train.lr'"):
        validate_config({"train": {"lr": "fast"}})


def run_snakemake(repo, *args):
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=repo, capture_output=True, text=True,
                            timeout=300)
    return result.returncode, result.stdout + result.stderr


def test_workflow_refuses_a_duplicate_key_and_takes_1e_minus_3(repo, tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("train: {lr: 1e-3}\nsweep:\n  s:\n    variants:\n      a: {train.vae_weight: 0.1}\n"
                   "      a: {train.vae_weight: 0.2}\n")
    code, out = run_snakemake(repo, "-n", "--configfile", "config.yaml", str(dup), "--config",
                              f"store_dir={tmp_path / 'store'}")
    assert code != 0 and f"{dup}:6: duplicate key 'a'" in out
    dup.write_text("train: {lr: 1e-3}\n")
    code, out = run_snakemake(repo, "-n", "--configfile", "config.yaml", str(dup), "--config",
                              f"store_dir={tmp_path / 'store'}")
    assert code == 0, out[-2000:]


def test_until_behind_the_checkpoint_is_one_line_in_a_real_run(repo, tmp_path):
    code, out = run_snakemake(repo, "--cores", "1", "--until", "pretrain", "--config",
                              f"store_dir={tmp_path / 'store'}")
    assert code != 0
    assert out.rstrip().splitlines()[-1].startswith("infonas: --until pretrain cannot reach")
    assert "Exception" not in out and "Traceback" not in out
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("module", ["infonas.plan", "infonas.resources"])
def test_project_commands_have_help_and_one_line_errors(repo, module, tmp_path):
    def command(*args):
        result = subprocess.run([sys.executable, "-m", module, *args], cwd=repo, capture_output=True, text=True,
                                timeout=120)
        return result.returncode, result.stdout, result.stderr

    code, out, _ = command("--help")
    assert code == 0 and "usage: python -m " + module in out and "CONFIG" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {epochs: -1}\n")
    for args, message in [(["missing.yaml"], "missing.yaml: config file not found"),
                          (["config.yaml", str(bad)], "config key 'train.epochs'")]:
        code, out, err = command(*args)
        assert code == 1 and out == "" and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"{module}: ") and message in err
    code, out, err = command("config.yaml")
    assert code == 0 and out.startswith("| `run` |" if module == "infonas.plan" else "variant "), err
