"""Rule variant_search: paper Figs 7-8, every feature set's regret over time (validation, test), and its table."""
from infonas.reporting.stages import search_features_report
from infonas.runtime import run_rule


def main(smk):
    curves = [tuple(curve) for curve in smk.params.curves]
    search_features_report(curves, smk.input.benchmark, smk.output.table.removesuffix("_table.csv"))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
