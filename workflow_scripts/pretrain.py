"""Rule pretrain: train one NB-101 network ({hash}) on images.h5; resumes from its checkpoint."""
from infonas.config import dataclass_from_section
from infonas.files import input_stamp, resume_state
from infonas.nets.pretrain import PretrainConfig, pretrain_network
from infonas.runtime import job_device, run_rule
from infonas.searchspace.store import cell_of, load_searchspace


def main(smk):
    adjacency, ops = cell_of(load_searchspace(smk.input.space), smk.wildcards.hash)
    stamp = input_stamp(smk.input, [smk.params.settings, smk.params.seed])
    with resume_state(f"{smk.output.weights}.ckpt", stamp) as checkpoint:
        pretrain_network(
            adjacency,
            ops,
            smk.input.images,
            smk.output.weights,
            smk.output.metrics,
            config=dataclass_from_section(PretrainConfig, smk.params.settings, "pretrain"),
            device=job_device(smk),
            seed=smk.params.seed,
            checkpoint_path=checkpoint,
            progress=True,
        )


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
