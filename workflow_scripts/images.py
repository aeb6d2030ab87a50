"""Rule images: train/valid/test/test_2k splits of the configured image source -> images.h5."""
from infonas.data.images import build_images
from infonas.runtime import run_rule


def main(smk):
    settings = smk.params.settings
    build_images(
        settings["source"],
        settings["root"],
        valid_size=settings["valid_size"],
        test_subset_size=settings["test_subset_size"],
        seed=smk.params.seed,
        out_path=smk.output[0],
        progress=True,
        workers=smk.threads,
        download_timeout_s=smk.config["download_timeout_s"],
    )


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
