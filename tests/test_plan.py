"""The workflow plan: which settings key which stage's outputs, and the variants of a sweep."""
import copy
import os

import pytest
import yaml

from infonas.config import schema_leaves, validate_config
from infonas.errors import InfonasError
from infonas.files import FINGERPRINT_CACHE, content_fingerprint
from infonas.plan import DIGEST_STAGES, build_plan, rerun_table, variant_records
from infonas.sweep import BASE_VARIANT, sweep_variants


@pytest.fixture
def default(repo):
    config = yaml.safe_load((repo / "config.yaml").read_text())
    config.pop("sweep", None)
    return validate_config(config)


def digests(config):
    return {key: rec.digest for key, rec in variant_records(validate_config(copy.deepcopy(config))).items()}


def changed(base, **overrides):
    """Stage keys whose digest differs after setting dotted keys (a__b means a.b)."""
    config = copy.deepcopy(base)
    for dotted, value in overrides.items():
        node = config
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    before, after = digests(base), digests(config)
    return {key for key in before if before[key] != after.get(key)}


def test_same_config_same_digests(default):
    assert digests(default) == digests(copy.deepcopy(default))


def test_scaling_change_keeps_everything_before_the_scaler(default):
    assert changed(default, io__scaling="axis0") == {
        "fit_scaler", "io_dataset", "train:infonas", "reinforce:infonas", "bo:infonas", "predict:infonas"}


@pytest.mark.parametrize("key, value", [("train__lr", 0.01), ("train__labeled_loss", "mse"),
                                        ("train__vae_weight", 0.5), ("train__labeled_weight", 3.0)])
def test_training_settings_rerun_only_training_and_evaluation(default, key, value):
    assert changed(default, **{key: value}) == {"train:infonas", "reinforce:infonas", "bo:infonas", "predict:infonas"}


def test_pretraining_setting_reruns_pretraining_and_what_reads_it(default):
    stages = changed(default, pretrain__epochs=4)
    assert {"pretrain", "extract_io", "fit_scaler", "train:infonas"} <= stages
    assert not stages & {"searchspace", "images", "networks"}


def test_compute_threads_key_every_stage_that_computes_on_the_cpu(default):
    """CPU sums depend on the thread count: a result must follow the setting, not --cores (issue 19)."""
    assert changed(default, compute_threads=1) == {
        "pretrain", "extract_io", "fit_scaler", "io_dataset", "train:infonas", "reinforce:infonas", "bo:infonas",
        "predict:infonas", "reinforce:raw", "bo:raw", "predict:raw"}


def test_raw_features_depend_on_the_search_space_only(default):
    """Computed once per search space: no training, image, network or evaluation setting reruns them."""
    records = variant_records(copy.deepcopy(default))
    assert records["raw_features"].upstream == {"searchspace": records["searchspace"].digest}
    assert records["raw_features"].settings == {}
    assert records["reinforce:raw"].upstream["raw_features"] == records["raw_features"].digest
    assert records["predict:raw"].upstream["raw_features"] == records["raw_features"].digest
    for key, value in [("train__lr", 0.01), ("pretrain__epochs", 4), ("evaluate__reinforce__runs", 3),
                       ("images__valid_size", 300)]:
        assert "raw_features" not in changed(default, **{key: value}), key
    assert "raw_features" in changed(default, searchspace__max_archs=4000)
    assert {"reinforce:raw", "predict:raw"} <= changed(default, evaluate__reinforce__runs=3, evaluate__predict__seeds=3)


def test_raw_features_setting_adds_or_drops_the_raw_evaluations_only(default):
    config = copy.deepcopy(default)
    config["evaluate"]["raw_features"] = False
    before, after = digests(default), digests(config)
    assert set(before) - set(after) == {"reinforce:raw", "bo:raw", "predict:raw"}
    assert all(before[key] == digest for key, digest in after.items())


@pytest.mark.parametrize("key, value", [("device", "cpu"), ("run", "other"), ("train__seeds", [7]),
                                        ("pretrain__gpu_percent", 50), ("evaluate__embed_epochs", [3])])
def test_workflow_keys_change_no_digest(default, key, value):
    assert changed(default, **{key: value}) == set()


def test_search_settings_rerun_only_their_search(default):
    assert changed(default, evaluate__bo__incumbent="best") == {"bo:infonas", "bo:raw"}
    assert changed(default, evaluate__evolution__sample_size=5) == {"evolution"}
    assert changed(default, evaluate__reinforce__runs=3) == {"reinforce:infonas", "reinforce:raw", "random_search"}


def test_plain_arch2vec_ignores_labeled_settings(default):
    default["train"]["models"] = ["infonas", "arch2vec"]
    stages = changed(default, train__lr=0.02, io__scaling="axis0")
    assert "train:arch2vec" not in stages and "train:infonas" in stages
    assert "train:arch2vec" in changed(default, train__arch2vec_epochs=3)


def test_replacing_a_metrics_file_changes_the_searchspace_digest(default, tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("hash,val_acc_108\n")
    default["searchspace"]["metrics_csv"] = str(csv)
    before = digests(default)
    csv.write_text("hash,val_acc_108,train_time_108\n")
    os.utime(csv, ns=(1, 1))
    assert digests(default)["searchspace"] != before["searchspace"]


def test_fingerprint_of_a_folder_sees_a_replaced_file(tmp_path):
    (tmp_path / "a").mkdir()
    image = tmp_path / "a" / "1.jpg"
    image.write_bytes(b"x")
    first = content_fingerprint(str(tmp_path))
    image.write_bytes(b"yy")
    assert content_fingerprint(str(tmp_path)) != first
    assert content_fingerprint("https://example.org/file") is None
    assert content_fingerprint(str(tmp_path / "none")) is None


def test_a_same_size_edit_with_its_mtime_restored_changes_the_digest(default, tmp_path):
    """`touch -r`, rsync -t and cp -p keep size and mtime: only the content tells (issue 19)."""
    csv = tmp_path / "metrics.csv"
    csv.write_text("hash,val_acc_108\nabc,0.5\n")
    default["searchspace"]["metrics_csv"] = str(csv)
    default["cache_dir"] = str(tmp_path / "cache")
    before = digests(default)
    stat = csv.stat()
    with open(csv, "r+") as handle:  # in place: same inode, same size
        handle.write("hash,val_acc_108\nabc,0.6\n")
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (csv.stat().st_size, csv.stat().st_mtime_ns, csv.stat().st_ino) == (stat.st_size, stat.st_mtime_ns,
                                                                                stat.st_ino)
    assert digests(default)["searchspace"] != before["searchspace"]


def test_content_hashes_are_cached_by_file_identity(tmp_path, monkeypatch):
    """A large input is read once: later DAG builds (every job builds one) take the cached hash."""
    data = tmp_path / "big.tfrecord"
    data.write_bytes(b"x" * 1000)
    first = content_fingerprint(data, tmp_path / "cache")
    assert str(data.resolve()) in (tmp_path / "cache" / FINGERPRINT_CACHE).read_text()
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    assert content_fingerprint(data, tmp_path / "cache") == first and str(data) not in opened
    data.write_bytes(b"y" * 1000)
    assert content_fingerprint(data, tmp_path / "cache") != first and str(data) in opened


def test_rerun_table_follows_the_configs_own_edges(default):
    table = rerun_table(default)
    assert set(table) == set(schema_leaves())
    assert table["io.scaling"] == ["fit_scaler", "io_dataset", "train", "reinforce", "bo", "predict"]
    assert table["evaluate.reinforce.discount"] == ["reinforce"]
    assert table["evaluate.bo.incumbent"] == ["bo"]
    assert table["evaluate.evolution.population"] == ["evolution"]
    assert table["device"] == [] and table["train.seeds"] == []
    assert table["seed"] == list(DIGEST_STAGES)


def test_no_sweep_is_one_base_variant(default):
    plan = build_plan(default)
    assert list(plan.variants) == [BASE_VARIANT] and plan.comparisons == {}


def test_product_sweep_names_variants_and_shares_upstream(default):
    default["sweep"] = {"lr_loss": {"product": {"train.lr": [0.01, 0.001], "train.labeled_loss": ["l1", "mse"]}}}
    plan = build_plan(default)
    assert sorted(plan.variants) == ["lr=0.001,labeled_loss=l1", "lr=0.001,labeled_loss=mse",
                                     "lr=0.01,labeled_loss=l1", "lr=0.01,labeled_loss=mse"]
    assert plan.variants["lr=0.01,labeled_loss=mse"]["train"]["lr"] == 0.01
    assert len(plan.records["pretrain"]) == 1 and len(plan.records["io_dataset"]) == 1
    assert len(plan.records["train"]) == 4
    assert plan.comparisons["lr_loss"].columns == "lr_loss"


def test_explicit_variants_and_shared_names(default):
    default["sweep"] = {
        "weights": {"variants": {"base": None, "vae-0.01": {"train.vae_weight": 0.01}}},
        "scaling": {"variants": {"base": {}, "axis0": {"io.scaling": "axis0"}}, "columns": "scaling"},
    }
    plan = build_plan(default)
    assert sorted(plan.variants) == ["axis0", "base", "vae-0.01"]
    assert plan.comparisons["weights"].columns == "all"
    assert plan.digest("base", "train", "infonas") != plan.digest("vae-0.01", "train", "infonas")


@pytest.mark.parametrize("sweep, message", [
    ({"s": {"product": {"train.lrr": [1]}}}, "'sweep.s.lrr=1': 'train.lrr' is not a setting"),
    ({"s": {"product": {"device": ["cpu"]}}}, "whole invocation"),
    ({"s": {"product": {"train.lr": [-1]}}}, "sweep variant 'lr=-1': config key 'train.lr'"),
    ({"s": {"variants": {"../x": {}}}}, "not a plain name"),
    ({"s": {"variants": {"a": {"train.lr": 0.1}}}, "t": {"variants": {"a": {"train.lr": 0.2}}}}, "defined twice"),
    ({"s": {"product": {"train.lr": [0.1]}, "epoch": 99}}, "'sweep.s.epoch': variant 'lr=0.1' trains epochs 1-"),
])
def test_bad_sweeps_fail_before_any_job_naming_where(default, sweep, message):
    default["sweep"] = sweep
    with pytest.raises(InfonasError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build_plan(default)


def test_sweep_without_product_or_variants_is_rejected(default):
    default["sweep"] = {"s": {"columns": "all"}}
    with pytest.raises(InfonasError, match="sweep.s"):
        build_plan(default)


def test_sweep_variants_of_empty_sweep(default):
    assert sweep_variants(default) == ({BASE_VARIANT: {}}, {})
