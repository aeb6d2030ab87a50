"""Rule benchmark_table: accuracies and training times the evaluations query, and their source."""
import logging

from infonas.evaluation.benchmark import build_benchmark, save_benchmark
from infonas.runtime import run_rule
from infonas.searchspace.store import load_searchspace


def main(smk):
    table = build_benchmark(load_searchspace(smk.input.space), list(smk.input.pretrained))
    logging.getLogger("infonas").info("benchmark table: %s", table.source)
    save_benchmark(smk.output[0], table)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
