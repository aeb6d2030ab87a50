"""Rule train: one (model variant, seed) joint run -> metrics.csv and the saved epochs' weights."""
from pathlib import Path

from infonas.data.images import load_images
from infonas.data.io_dataset import load_io_dataset
from infonas.runtime import resume_state, input_stamp, resolve_device, run_rule
from infonas.searchspace.store import load_searchspace
from infonas.training.run import EVALUATED_SPLITS, train_stage


def main(smk):
    out_dir = Path(smk.output.metrics).parent
    # more epochs may resume a finished run; any other change starts afresh
    kept = {k: v for k, v in smk.params.settings.items() if k not in ("epochs", "checkpoint_every")}
    with resume_state(out_dir / "checkpoints", input_stamp(smk.input, [kept, smk.wildcards.model])):
        train_stage(
            load_searchspace(smk.input.space),
            load_io_dataset(smk.input.dataset, splits=EVALUATED_SPLITS) if "dataset" in smk.input.keys() else None,
            load_images(smk.input.images, splits=["valid", "test_2k"]) if "images" in smk.input.keys() else None,
            out_dir,
            smk.wildcards.model,
            int(smk.wildcards.seed),
            smk.params.settings,
            resolve_device(smk.params.device),
            progress=True,
        )


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
