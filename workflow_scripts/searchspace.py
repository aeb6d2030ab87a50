"""Rule searchspace: rows of the configured source, metrics joined, subsampled, split -> searchspace.h5."""
from infonas.runtime import run_rule
from infonas.searchspace.store import build_searchspace, save_searchspace


def main(smk):
    settings = smk.params.settings
    space = build_searchspace(
        settings["source"],
        cells_cache=smk.input.get("cells"),
        tfrecord=settings["tfrecord"],
        metrics_csv=settings["metrics_csv"],
        only_with_metrics=settings["only_with_metrics"],
        max_archs=settings["max_archs"],
        test_fraction=settings["test_fraction"],
        seed=smk.params.seed,
        cache_dir=smk.params.cache_dir,
        download_timeout_s=smk.config["download_timeout_s"],
        progress=True,
    )
    save_searchspace(smk.output[0], space)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
