"""report/workflow.rst, the report's front text: rendered as `snakemake --report` renders it, it tells
the truth about a sweep (every comparison and what it varies) and is valid reStructuredText."""
from pathlib import Path

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
