"""Rule search_report: regret curves, ECDF and table of REINFORCE and BO (both encoders), evolution and random."""
from infonas.reporting.stages import search_report
from infonas.runtime import run_rule


def main(smk):
    results = {name: path for name, path in smk.input.items() if name != "benchmark"}
    search_report(results, smk.input.benchmark, smk.output.figure.removesuffix(".png"))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
