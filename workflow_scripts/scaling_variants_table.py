"""Rule scaling_variants_table: the six scaling variants of thesis Table 4.2."""
from infonas.reporting.stages import scaling_variants
from infonas.runtime import run_rule


def main(smk):
    scaling_variants(smk.output[0].removesuffix(".csv"))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
