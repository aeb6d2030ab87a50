"""Rule compare_prediction: performance prediction of a comparison's variants against n_train."""
from infonas.reporting.stages import prediction_comparison_report
from infonas.runtime import run_rule


def main(smk):
    entries = [tuple(entry) for entry in smk.params.entries]
    prediction_comparison_report(entries, smk.output.figure.removesuffix("_pearson_r.png"))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
