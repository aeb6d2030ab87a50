"""Rule variant_config: a variant's full settings and where each of its stages keeps its outputs."""
from infonas.plan import write_variant_config
from infonas.runtime import run_rule


def main(smk):
    write_variant_config(smk.output[0], smk.params.cfg, smk.params.stages, smk.params.store)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
