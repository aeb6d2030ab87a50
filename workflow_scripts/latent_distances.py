"""Rule latent_distances: latent L2 distance against edit distance between cells, per encoder (arch2vec Fig. 3)."""
from infonas.reporting.stages import latent_distance_report
from infonas.runtime import run_rule


def main(smk):
    settings = smk.params.settings
    latent_distance_report(smk.params.entries, smk.input.space, smk.output.figure.removesuffix(".png"),
                           seed=smk.params.seed, anchors=settings["anchors"], max_distance=settings["max_distance"],
                           per_distance=settings["per_distance"])


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
