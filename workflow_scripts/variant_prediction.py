"""Rule variant_prediction: paper Figs 9-10, RMSE and Pearson r box plots of every feature set, and the table."""
from infonas.reporting.stages import prediction_boxes_report
from infonas.runtime import run_rule


def main(smk):
    entries = [tuple(entry) for entry in smk.params.entries]
    prediction_boxes_report(entries, smk.output.table.removesuffix("_table.csv"))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
