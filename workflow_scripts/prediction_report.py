"""Rule prediction_report: predictor box plots and table for one model variant and epoch."""
from infonas.reporting.stages import prediction_report
from infonas.runtime import run_rule


def main(smk):
    prediction_report(list(smk.input), smk.output.figure.removesuffix(".png"))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
