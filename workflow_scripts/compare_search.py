"""Rule compare_search: regret of the feature sets of a comparison's variants on one axis, and the table."""
from infonas.reporting.stages import search_comparison_report
from infonas.runtime import run_rule


def main(smk):
    curves = [tuple(curve) for curve in smk.params.curves]
    search_comparison_report(curves, smk.input.benchmark, smk.output.figure.removesuffix(".png"))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
