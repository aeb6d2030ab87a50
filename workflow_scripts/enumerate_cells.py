"""Rule enumerate_cells: every unique NB-101 cell, cached once per machine for all runs."""
from infonas.runtime import run_rule
from infonas.searchspace.enumerate import load_or_enumerate


def main(smk):
    load_or_enumerate(smk.output[0], progress=True, workers=smk.threads)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
