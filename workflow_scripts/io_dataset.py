"""Rule io_dataset: the five labeled splits of thesis Table 3.4 with scaled targets ->
results/store/io_dataset/<digest>/dataset.h5 (store_dir's default; layout: infonas.data.io_dataset)."""
from pathlib import Path

from infonas.data.images import load_images
from infonas.data.io_dataset import build_io_dataset, save_io_dataset
from infonas.runtime import run_rule


def main(smk):
    images = load_images(smk.input.images, splits=["valid", "test_2k"])
    dataset = build_io_dataset(
        smk.input.networks,
        Path(smk.input.shards[0]).parent,
        smk.input.scaler,
        smk.params.seed,
        smk.input.space,
        unseen_fraction=smk.params.unseen_fraction,
        scaling_order=smk.params.scaling_order,
        image_labels={split: images[split]["labels"] for split in ("valid", "test_2k")},
        progress=True,
    )
    save_io_dataset(smk.output[0], dataset)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
