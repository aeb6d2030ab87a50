"""Rule training_report: joint-training figures and tables of one model variant over its seeds."""
from pathlib import Path

from infonas.reporting.stages import training_report
from infonas.runtime import run_rule


def main(smk):
    metrics = {int(name.removeprefix("seed")): path for name, path in smk.input.items()}
    training_report(metrics, smk.params.cfg["io"]["scaling"], Path(smk.output.vae).parent)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
