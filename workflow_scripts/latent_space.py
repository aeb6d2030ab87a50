"""Rule latent_space: info-NAS's and arch2vec's latent spaces side by side in one projection, coloured by accuracy."""
from infonas.reporting.stages import latent_space_report
from infonas.runtime import run_rule


def main(smk):
    latent_space_report(smk.input.embeddings, smk.input.benchmark, smk.output[0].removesuffix(".png"),
                        seed=smk.params.seed, method=smk.wildcards.projection, max_points=smk.params.points)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
