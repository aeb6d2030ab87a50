"""report/workflow.rst, the report's front text: rendered as `snakemake --report` renders it, it tells
the truth about a sweep (every comparison and what it varies) and is valid reStructuredText."""
from pathlib import Path

import pytest
import yaml
from docutils.core import publish_parts
from jinja2 import Environment

from infonas.plan import build_plan

REPO = Path(__file__).resolve().parents[1]


def render(config: dict) -> str:
    """The text for a config as the workflow holds it (validated, defaults filled by the plan)."""
    build_plan(config)

    class Snakemake:
        pass

    Snakemake.config = config
    environment = Environment(trim_blocks=True, lstrip_blocks=True)  # Snakemake's report settings
    template = environment.from_string((REPO / "report" / "workflow.rst").read_text())
    return template.render(snakemake=Snakemake, categories={}, files=[])


def assert_clean_rst(text: str) -> None:
    html = publish_parts(text, writer="html", settings_overrides={"report_level": 2})["html_body"]
    assert "system-message" not in html and "<li>" in html


def test_the_default_sweep_is_listed_with_what_it_varies():
    text = render(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert "- Comparison **scaling**: one variant per value of ``io.scaling`` (axisnull-multiply, axis0)." in text
    assert "Base config (a swept setting takes each variant's value instead):" in text
    assert "``results/default/variants/<variant>/``" in text
    assert_clean_rst(text)


def test_named_variants_shared_settings_and_training_only_comparisons():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["sweep"] = {"opt": {"variants": {"base": {}, "one": {"train.optimizers": "one", "train.lr": 0.01}},
                               "set": {"train.seeds": [3]}, "evaluate": False},
                       "grid": {"product": {"train.epochs": [6, 9], "io.scaling": ["axis0"]}}}
    text = render(config)
    assert ("- Comparison **opt**: variants **base** (the base config); **one** (``train.optimizers``: one, "
            "``train.lr``: 0.01), each with ``train.seeds``: [3] (trained only: no search or prediction).") in text
    assert "one variant per combination of ``train.epochs`` (6, 9) and ``io.scaling`` (axis0)." in text
    assert_clean_rst(text)


def test_a_run_without_a_sweep_lists_its_settings_only():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    del config["sweep"]
    text = render(config)
    assert "Comparison" not in text and "Settings:" in text and "- Scaling variant: axisnull-multiply;" in text
    assert_clean_rst(text)


# ------------------------------------------------------------------------------ captions of report items
def render_caption(name: str, config: dict, **wildcards) -> str:
    """A report/<name>.rst caption as Snakemake renders it for a job of the config's one variant
    (params.cfg: the variant's config), whitespace collapsed so sentences read as one line each."""
    plan = build_plan(config)
    names = {"variant": next(iter(plan.variants)), **wildcards}

    class Snakemake:
        params = type("Params", (), {"cfg": next(iter(plan.variants.values()))})
        wildcards = type("Wildcards", (), names)

    environment = Environment(trim_blocks=True, lstrip_blocks=True)
    text = environment.from_string((REPO / "report" / f"{name}.rst").read_text()).render(snakemake=Snakemake)
    html = publish_parts(text, writer="html", settings_overrides={"report_level": 2})["html_body"]
    assert "system-message" not in html
    return " ".join(text.split())


def default_without_sweep() -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    del config["sweep"]
    return config


BUILTIN = "Benchmark: real NAS-Bench-101 validation accuracies shipped with infonas."
NB101 = "Benchmark: the search space's NB-101 metrics."
PRETRAINED = ("Benchmark: the accuracies the pretrain stage measured for its own networks (the search space carries "
              "no metrics).")
HELD_OUT = "Training samples are drawn outside the train networks of networks.csv (still scored)."
EVERY_ROW = "Training samples are drawn from every row with a known accuracy."


@pytest.mark.parametrize("space, remove_labeled, benchmark, sample", [
    ({}, ["train"], BUILTIN, HELD_OUT),
    ({"source": "tfrecord", "tfrecord": "nb.tfrecord", "metrics_csv": None}, ["train"], NB101, HELD_OUT),
    ({"metrics_csv": "metrics.csv"}, [], NB101, EVERY_ROW),
    ({"metrics_csv": None, "only_with_metrics": False}, [], PRETRAINED, EVERY_ROW),
], ids=["builtin", "tfrecord", "csv", "pretrained"])
def test_prediction_caption_has_each_sentence_whole_for_every_metrics_source(space, remove_labeled, benchmark, sample):
    config = default_without_sweep()
    config["searchspace"].update(space)
    config["evaluate"]["predict"]["remove_labeled"] = remove_labeled
    text = render_caption("predict", config, model="infonas", epoch=6)
    assert benchmark in text and sample in text, text
    assert text.index(benchmark) < text.index(sample)
    assert text.count("Training samples") == 1 and text.count("Benchmark:") == 1
    assert '"const."' in text


def test_test_regret_caption_says_why_the_builtin_metrics_have_no_test_figure():
    config = default_without_sweep()
    assert "carry validation accuracies only" in render_caption("search_test", config)
    config["searchspace"].update({"source": "tfrecord", "tfrecord": "nb.tfrecord", "metrics_csv": None})
    text = render_caption("search_test", config)
    assert "carry validation accuracies only" not in text and "(paper Fig 8)" in text


@pytest.mark.parametrize("name", ["search_validation", "search_test", "search_features_table", "prediction_boxes",
                                  "prediction_table", "predict_table"])
def test_paper_figure_captions_quote_the_paper_preset(name):
    config = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())
    text = render_caption(name, config, model="infonas", epoch=30)
    assert "{{" not in text and "{%" not in text
    if name in ("search_validation", "prediction_boxes"):
        assert "[10, 30]" in text and "(8 epochs)" in text
    if name == "search_validation":
        assert "500 runs per training seed, pooled over the 3 training seeds" in text
    if name.startswith("predict"):
        assert '"constant"' in text or '"const."' in text
