"""arch2vec's published search curves: shipped with infonas, loaded and checked, drawn dashed beside a
run's curves only when the run searches the full NB-101 space, and named as left out otherwise."""

import json

import numpy as np
import pytest

from infonas.errors import InfonasError
from infonas.evaluation.benchmark import BenchmarkTable, save_benchmark
from infonas.evaluation.reference_curves import (
    DRAWN_REFERENCES,
    REFERENCE_CURVES,
    REFERENCE_DIR,
    load_reference_curves,
    reference_note,
    searches_full_space,
)
from infonas.evaluation.regret import save_search
from infonas.reporting import figures, stages
from test_paper_figures import drawn, legend_texts, save_world  # noqa: F401 (drawn is a fixture)
from test_reporting import search_results

FULL = 423_624


def test_every_published_curve_ships_with_its_note():
    assert sorted(p.stem for p in REFERENCE_DIR.glob("*.json")) == sorted(REFERENCE_CURVES)
    note = (REFERENCE_DIR / "README.md").read_text()
    assert "Apache License" in note and "MSU-MLSys-Lab/arch2vec" in note and "ea01b0cf" in note
    curves = load_reference_curves(list(REFERENCE_CURVES))
    for curve in curves.values():
        assert curve.time_s.shape == curve.valid_regret.shape == curve.test_regret.shape
        assert (np.diff(curve.time_s) > 0).all()


def test_published_values_at_1e6_seconds():
    """The numbers arch2vec's Table 2 reports (and the note beside the files repeats)."""
    curves = load_reference_curves(list(REFERENCE_CURVES))
    expected = {"RL-arch2vec-model-nasbench-101": (2.01e-3, 2.09e-3), "BO-arch2vec-model-nasbench-101": (3.55e-3, 2.75e-3),
                "Random-Search-Encoding-A": (3.50e-3, 8.58e-3), "Regularized-Evolution-Encoding-A": (3.07e-3, 7.51e-3)}
    for name, (valid, test) in expected.items():
        assert curves[name].at(1e6, "validation") == pytest.approx(valid, abs=5e-6), name
        assert curves[name].at(1e6, "test") == pytest.approx(test, abs=5e-6), name
    assert np.isnan(curves["RL-arch2vec-model-nasbench-101"].at(10.0))
    assert list(load_reference_curves()) == list(DRAWN_REFERENCES)


def test_unknown_or_broken_curves_are_errors_naming_them(tmp_path):
    with pytest.raises(InfonasError, match="unknown curve 'nope'"):
        load_reference_curves(["nope"])
    name = DRAWN_REFERENCES[0]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"time_plot": [1, 2], "valid_plot": [0.1], "test_plot": [0.1, 0.2]}))
    with pytest.raises(InfonasError, match="one length"):
        load_reference_curves([name], folder=tmp_path)
    path.write_text(json.dumps({"time_plot": [2, 1], "valid_plot": [0.1, 0.1], "test_plot": [0.1, 0.2]}))
    with pytest.raises(InfonasError, match="must increase"):
        load_reference_curves([name], folder=tmp_path)
    path.write_text("{")
    with pytest.raises(InfonasError, match=f"{name}.json: unreadable"):
        load_reference_curves([name], folder=tmp_path)


def test_full_space_means_every_nb101_cell_searchable():
    val, time = np.full(FULL, 0.9), np.full(FULL, 1e3)
    assert searches_full_space(val, time)
    assert not searches_full_space(val[:20001], time[:20001])
    val[7] = np.nan
    assert not searches_full_space(val, time)
    assert "left out" in reference_note(False, 20001) and "20,001 of the 423,624" in reference_note(False, 20001)
    assert "published" in reference_note(True, FULL)


def _reference_lines(ax):
    return [line for line in ax.get_lines() if line.get_label().startswith("arch2vec paper:")]


def test_plot_draws_references_dashed_only_when_given(tmp_path, drawn):  # noqa: F811
    results, best_val, best_test = search_results()
    refs = load_reference_curves()
    figures.plot_search_regret(results, best_val, best_test, tmp_path / "full", references=refs,
                               note=reference_note(True, FULL))
    fig = drawn["full"]
    for ax in (fig.axes[0], fig.axes[2]):  # the validation and test regret panels
        lines = _reference_lines(ax)
        assert len(lines) == len(refs) and all(line.get_linestyle() == "--" for line in lines)
        assert all(line.get_xdata().max() <= results["info-NAS"].budget_s for line in lines)
    assert "published mean regret" in fig.legends[0].get_title().get_text().replace("\n", " ")
    figures.plot_search_regret(results, best_val, best_test, tmp_path / "subset", note=reference_note(False, 400))
    assert not _reference_lines(drawn["subset"].axes[0])
    assert "not comparable" in drawn["subset"].legends[0].get_title().get_text().replace("\n", " ")


def test_report_on_the_full_space_draws_them_and_on_a_subset_says_why_not(tmp_path, drawn):  # noqa: F811
    curves = save_world(tmp_path)
    stages.search_features_report(curves, tmp_path / "bench.h5", tmp_path / "subset")
    assert not _reference_lines(drawn["subset_validation"].axes[0])
    assert "left out" in drawn["subset_validation"].legends[0].get_title().get_text().replace("\n", " ")
    assert "not comparable" in (tmp_path / "subset_table.md").read_text()

    rng = np.random.default_rng(0)
    val = rng.uniform(0.8, 0.95, FULL)
    val[0] = 0.96
    save_benchmark(tmp_path / "full.h5", BenchmarkTable(val, val - 0.005, rng.uniform(300, 5500, FULL), "tfrecord"))
    stages.search_features_report(curves, tmp_path / "full.h5", tmp_path / "full")
    for kind in ("validation", "test"):
        fig = drawn[f"full_{kind}"]
        assert len(_reference_lines(fig.axes[0])) == len(DRAWN_REFERENCES)
        assert "arch2vec paper: REINFORCE, arch2vec" in legend_texts(fig)
        assert "published" in fig.legends[0].get_title().get_text().replace("\n", " ")
    results, _, _ = search_results()
    save_search(tmp_path / "one.h5", results["info-NAS"])
    png = stages.search_comparison_report([("info-NAS", "v", "infonas", tmp_path / "one.h5")], tmp_path / "full.h5",
                                          tmp_path / "compare")
    assert png.is_file() and len(_reference_lines(drawn["compare"].axes[0])) == len(DRAWN_REFERENCES)
