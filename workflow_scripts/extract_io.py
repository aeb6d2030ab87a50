"""Rule extract_io: outputs of one pretrained network on the valid and test_2k images -> its IO shard
results/store/extract_io/<digest>/<hash>.h5 (store_dir's default; layout: infonas.data.io_store)."""
from infonas.config import dataclass_from_section
from infonas.nets.extract import extract_outputs
from infonas.nets.pretrain import PretrainConfig
from infonas.runtime import job_device, run_rule
from infonas.searchspace.store import cell_of, load_searchspace


def main(smk):
    adjacency, ops = cell_of(load_searchspace(smk.input.space), smk.wildcards.hash)
    extract_outputs(
        smk.input.weights,
        adjacency,
        ops,
        smk.input.images,
        smk.output[0],
        device=job_device(smk),
        batch_size=smk.params.batch_size,
        config=dataclass_from_section(PretrainConfig, smk.params.settings, "pretrain"),
        progress=True,
    )


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
