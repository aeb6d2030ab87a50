"""Cluster requests follow the run's sizes and device: the tiny default fits a small node, the paper
preset asks for what a GPU node needs, and nothing asks for a GPU without `device: cuda`."""
import copy

import pytest
import yaml

from infonas.config import validate_config
from infonas.errors import InfonasError
from infonas.resources import RULE_NEEDS, io_rows, request, small_job, table

#: rules that run on the config's device (they call infonas.runtime.job_device)
DEVICE_RULES = {"pretrain", "extract_io", "train", "embed", "reinforce", "bo", "predict", "output_heatmaps"}


@pytest.fixture
def tiny(repo):
    return validate_config(yaml.safe_load((repo / "config.yaml").read_text()))


@pytest.fixture
def paper(repo):
    return validate_config(yaml.safe_load((repo / "presets" / "paper.yaml").read_text()))


def with_changes(config, **sections):
    out = copy.deepcopy(config)
    for section, values in sections.items():
        if isinstance(values, dict):
            out[section].update(values)
        else:
            out[section] = values
    return out


def test_tiny_default_fits_a_small_cpu_node(tiny):
    # the node the tiny default met on a real SLURM: 2 CPUs, 20 GB; every job fits it with room to spare
    for rule, req in table(tiny).items():
        assert req.gpu == 0, rule
        assert 1000 <= req.mem_mb <= 4000, (rule, req)
        assert req.runtime <= 60, (rule, req)


def test_paper_preset_asks_for_a_gpu_node(paper):
    requests = table(paper)
    for rule, req in requests.items():
        assert req.gpu == (rule.split()[0] in DEVICE_RULES), rule
    # the thesis trained each network with 16 GB of RAM, and 30 info-NAS epochs took 5-6 hours on a T4
    assert 4000 <= requests["pretrain"].mem_mb <= 16000
    assert 5 * 60 <= requests["train (infonas)"].runtime <= 12 * 60
    assert requests["pretrain"].runtime > 15  # 12 epochs of CIFAR-10 are not a few minutes on a T4


def test_io_sizes_match_the_thesis_table(paper):
    # thesis Table 3.4: 608,000 + 77,000 + 122,000 + 1,094,000 + 154,000 labeled rows, 807,000 of them trained on
    assert io_rows(paper) == {"all": 2_055_000, "training": 807_000}
    # the IO dataset holds them as 513 float32 targets: more than 4 GB, which its request must cover
    assert request("io_dataset", paper).mem_mb * 2**20 > 2_055_000 * 513 * 4


@pytest.mark.parametrize("device, gpu, shares", [("cpu", 0, False), ("auto", 0, True), ("cuda", 1, True),
                                                 ("cuda:1", 1, True)])
def test_only_cuda_asks_for_a_gpu(paper, device, gpu, shares):
    config = dict(paper, device=device)
    for rule in DEVICE_RULES:
        req = request(rule, config, "infonas")
        assert req.gpu == gpu, rule
        assert (req.gpu_percent > 0) == shares, rule  # profiles/local shares a GPU it may see
    for rule in set(RULE_NEEDS) - DEVICE_RULES:
        assert request(rule, config).gpu == 0 and request(rule, config).gpu_percent == 0, rule


def test_gpu_share_is_the_configured_percent(paper):
    config = with_changes(paper, pretrain={"gpu_percent": 40}, train={"gpu_percent": 60})
    assert request("pretrain", config).gpu_percent == 40 and request("extract_io", config).gpu_percent == 40
    assert request("train", config, "infonas").gpu_percent == 60


def test_requests_grow_with_the_work(paper):
    longer = with_changes(paper, pretrain={"epochs": 24}, train={"epochs": 60})
    assert request("pretrain", longer).runtime > request("pretrain", paper).runtime
    assert request("train", longer, "infonas").runtime > request("train", paper, "infonas").runtime
    more = with_changes(paper, networks={"n_train": 1216, "n_valid": 154})
    assert request("io_dataset", more).mem_mb > request("io_dataset", paper).mem_mb
    assert request("train", more, "infonas").mem_mb > request("train", paper, "infonas").mem_mb
    wider = with_changes(paper, pretrain={"stem_channels": 256})
    assert request("pretrain", wider).runtime > request("pretrain", paper).runtime


def test_the_cpu_is_slower_than_the_gpu(paper):
    cpu = dict(paper, device="cpu")
    assert request("pretrain", cpu).runtime > 10 * request("pretrain", paper).runtime
    assert request("pretrain", cpu).mem_mb < request("pretrain", paper).mem_mb + 8000  # no CUDA context


def test_plain_arch2vec_needs_no_io_dataset(paper):
    arch2vec, infonas = request("train", paper, "arch2vec"), request("train", paper, "infonas")
    assert arch2vec.mem_mb < infonas.mem_mb and arch2vec.runtime < infonas.runtime


def test_small_jobs_are_the_floor(tiny, paper):
    assert small_job(request("reinforce", tiny)) and small_job(request("predict", tiny))
    assert not small_job(request("predict", paper))  # ten seeds of GP fits on up to 10,000 points
    assert not small_job(request("train", paper, "infonas"))


def test_unknown_rule_names_the_known_ones(tiny):
    with pytest.raises(InfonasError, match="no estimate for rule 'sample_networks'.*pretrain"):
        request("sample_networks", tiny)


def test_each_job_is_sized_by_a_variant_that_runs_it(repo):
    from infonas.plan import build_plan

    config = yaml.safe_load((repo / "config.yaml").read_text())
    config["sweep"] = {"epochs": {"product": {"pretrain.epochs": [3, 300]}}}
    plan = build_plan(config)
    long_digest = plan.digest("epochs=300", "pretrain")
    assert plan.config_of("pretrain", long_digest)["pretrain"]["epochs"] == 300
    assert request("pretrain", plan.config_of("pretrain", long_digest)).runtime > request(
        "pretrain", plan.config_of("pretrain", plan.digest("epochs=3", "pretrain"))).runtime
    with pytest.raises(InfonasError, match="no pretrain stage with digest 0000000000"):
        plan.config_of("pretrain", "0000000000")


def test_predict_on_raw_cells_counts_the_cell_assessor_epochs():
    """assessor-cells trains 210 epochs over every cell per fit: the raw-cell predict job asks for that time."""
    config = validate_config({"evaluate": {"predict": {"regressors": ["rf", "assessor-cells"], "n_train": [1000],
                                                       "seeds": 3, "n_unlabeled": None}}})
    without = validate_config({"evaluate": {"predict": {"regressors": ["rf"], "n_train": [1000], "seeds": 3,
                                                        "n_unlabeled": None}}})
    raw, encoder = request("predict", config, None), request("predict", config, "arch2vec")
    assert raw.runtime > encoder.runtime == request("predict", without, "arch2vec").runtime
