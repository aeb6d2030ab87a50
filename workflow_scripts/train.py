"""Rule train: one (model variant, seed) joint run -> metrics.csv and the saved epochs' weights."""
from pathlib import Path

from infonas.data.images import load_images
from infonas.data.io_dataset import load_io_dataset
from infonas.files import input_stamp, resume_state
from infonas.runtime import job_device, run_rule
from infonas.searchspace.store import load_searchspace
from infonas.training.run import EVALUATED_SPLITS, train_stage


def main(smk):
    out_dir = Path(smk.output.metrics).parent
    # an interrupted job resumes from its last checkpoint unless an input changed since
    with resume_state(out_dir / "checkpoints", input_stamp(smk.input, [smk.params.settings, smk.wildcards.model])):
        train_stage(
            load_searchspace(smk.input.space),
            load_io_dataset(smk.input.dataset, splits=EVALUATED_SPLITS) if "dataset" in smk.input.keys() else None,
            load_images(smk.input.images, splits=["valid", "test_2k"]) if "images" in smk.input.keys() else None,
            out_dir,
            smk.wildcards.model,
            int(smk.wildcards.seed),
            smk.params.settings,
            job_device(smk),
            progress=True,
        )


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
