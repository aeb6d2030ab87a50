"""Rule output_heatmaps: predicted against true outputs of one info-NAS job on one IO split (thesis Figs 4.4-4.11)."""
from infonas.evaluation.outputs import heatmap_samples
from infonas.reporting.stages import output_heatmaps_report
from infonas.runtime import job_device, run_rule


def main(smk):
    samples = heatmap_samples(smk.input.weights, smk.input.dataset, smk.input.images, split=smk.wildcards.split,
                              seed=smk.params.seed, scaler=smk.input.scaler, device=job_device(smk),
                              epoch=smk.params.epoch)
    output_heatmaps_report(samples, smk.output.networks.removesuffix("_networks.png"))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
