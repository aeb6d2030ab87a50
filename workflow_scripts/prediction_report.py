"""Rule prediction_report: predictor box plots, table and predicted-vs-true scatter for one model variant and epoch."""
from infonas.reporting.stages import prediction_report, prediction_scatter_report
from infonas.runtime import run_rule


def main(smk):
    prediction_report(list(smk.input.csv), smk.output.figure.removesuffix(".png"))
    prediction_scatter_report(list(smk.input.pairs), smk.output.scatter.removesuffix(".png"))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
