import copy

import pytest
import yaml

from infonas.config import dataclass_from_section, get_path, has_path, validate_config
from infonas.errors import InfonasError


@pytest.fixture
def default(repo):
    return yaml.safe_load((repo / "config.yaml").read_text())


def test_defaults_are_filled_from_schema(default):
    config = validate_config(default)
    assert config["searchspace"]["test_fraction"] == 0.1
    assert config["pretrain"]["momentum"] == 0.9
    assert config["train"]["labeled_loss"] == "l1"


def test_overlay_of_three_lines_is_a_complete_run():
    config = validate_config({"run": "x", "images": {"valid_size": 50}})
    assert config["images"]["source"] == "digits"
    assert config["networks"] == {"n_train": 608, "n_valid": 77}


def test_paper_preset_is_valid(repo):
    config = validate_config(yaml.safe_load((repo / "presets" / "paper.yaml").read_text()))
    assert config["searchspace"]["source"] == "tfrecord"
    assert config["images"]["source"] == "cifar10"


@pytest.mark.parametrize("files", [["config.yaml"], ["presets/paper.yaml"]])
def test_defaults_follow_the_code_behind_the_published_numbers(repo, files):
    """BatchNorm at PyTorch's defaults (NASBench-PyTorch as info-NAS used it) and REINFORCE on raw
    rewards (arch2vec's released search code), inherited by the default config and the paper preset."""
    from infonas.nets.pretrain import PretrainConfig

    config = {}
    for name in files:
        config.update(yaml.safe_load((repo / name).read_text()))
    config = validate_config(config)
    pretrain = dataclass_from_section(PretrainConfig, config["pretrain"], "pretrain", ignore=("gpu_percent",))
    assert (pretrain.bn_momentum, pretrain.bn_eps) == (PretrainConfig.bn_momentum, PretrainConfig.bn_eps) == (0.1, 1e-5)
    assert config["evaluate"]["reinforce"]["discount"] == 0.0


def test_paper_preset_predicts_with_the_thesis_regressors_outside_the_train_networks(repo):
    from infonas.evaluation.predictors import available_predictors

    predict = validate_config(yaml.safe_load((repo / "presets" / "paper.yaml").read_text()))["evaluate"]["predict"]
    assert predict["regressors"] == ["rf", "gb", "gp", "svr"] and predict["remove_labeled"] == ["train"]
    schema = yaml.safe_load((repo / "schemas" / "config.schema.yaml").read_text())
    predict_schema = schema["properties"]["evaluate"]["properties"]["predict"]["properties"]
    assert sorted(predict_schema["regressors"]["items"]["enum"]) == available_predictors()
    assert sorted(predict_schema["params"]["properties"]) == available_predictors()


def test_joint_training_defaults_follow_info_nas_code(repo):
    """Schema and paper preset: info-NAS' two Adams, arch2vec's sigmoid op decoder, remove_labeled."""
    code = {"optimizers": "two", "lr": 0.001, "vae_lr": 0.001, "ops_activation": "sigmoid", "remove_labeled": True}
    for config in (validate_config({}), validate_config(yaml.safe_load((repo / "presets" / "paper.yaml").read_text()))):
        assert {k: config["train"][k] for k in code} == code


@pytest.mark.parametrize(
    "path, value, key",
    [
        (("pretrain", "epochs"), 0, "pretrain.epochs"),
        (("images", "source"), "mnist", "images.source"),
        (("searchspace", "test_fraction"), 1.5, "searchspace.test_fraction"),
        (("train", "labeled_loss"), "l3", "train.labeled_loss"),
        (("train", "optimizers"), "three", "train.optimizers"),
        (("train", "ops_activation"), "tanh", "train.ops_activation"),
        (("train", "vae_lr"), 0, "train.vae_lr"),
        (("device",), "tpu", "device"),
        (("networks", "n_valid"), "many", "networks.n_valid"),
        (("pretrain", "bn_momentum"), 0, "pretrain.bn_momentum"),
        (("evaluate", "reinforce", "discount"), 1.5, "evaluate.reinforce.discount"),
        (("evaluate", "predict", "remove_labeled"), ["test"], "evaluate.predict.remove_labeled.0"),
        (("evaluate", "predict", "regressors"), ["gp-fancy"], "evaluate.predict.regressors.0"),
    ],
)
def test_bad_value_names_the_key(default, path, value, key):
    config = copy.deepcopy(default)
    node = config
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    with pytest.raises(InfonasError, match=f"'{key}'"):
        validate_config(config)


def test_unknown_key_is_rejected(default):
    default["pretrain"]["epochz"] = 3
    with pytest.raises(InfonasError, match="pretrain"):
        validate_config(default)


def test_tfrecord_source_needs_a_path():
    with pytest.raises(InfonasError, match="searchspace.tfrecord"):
        validate_config({"searchspace": {"source": "tfrecord"}})


def test_builtin_metrics_with_a_tfrecord_source_is_refused(default):
    """config.yaml + `source: tfrecord` would otherwise overwrite the tfrecord's metrics with the builtin ones."""
    assert default["searchspace"]["metrics_csv"] == "builtin"
    default["searchspace"].update(source="tfrecord", tfrecord="nasbench_only108.tfrecord")
    with pytest.raises(InfonasError, match="searchspace.metrics_csv': 'builtin' would replace"):
        validate_config(default)
    default["searchspace"]["metrics_csv"] = None
    validate_config(default)


def test_only_with_metrics_needs_a_metrics_source(default):
    default["searchspace"]["metrics_csv"] = None
    with pytest.raises(InfonasError, match="searchspace.only_with_metrics': the enumerated space has metrics only"):
        validate_config(default)
    default["searchspace"]["only_with_metrics"] = False
    validate_config(default)


def test_dotted_key_walk():
    assert get_path({"a": {"b": 3}}, "a.b") == 3 and has_path({"a": {"b": 3}}, "a.b")
    assert get_path({"a": {"b": 3}}, "a.c") is None and not has_path({"a": {"b": 3}}, "a.c")


def test_embed_epochs_must_have_a_checkpoint(default):
    default["train"].update(epochs=10, checkpoint_every=4)
    default["evaluate"]["embed_epochs"] = [8, 10]
    validate_config(default)
    default["evaluate"]["embed_epochs"] = [6]
    with pytest.raises(InfonasError, match="evaluate.embed_epochs.*6"):
        validate_config(default)


def test_saved_epochs():
    from infonas.config import saved_epochs

    assert saved_epochs(30, 5) == [5, 10, 15, 20, 25, 30]
    assert saved_epochs(7, 3) == [3, 6, 7]
