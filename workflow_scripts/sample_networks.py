"""Checkpoint sample_networks: train nets from the arch2vec train split, valid nets from its test split."""
from infonas.nets.sampling import sample_networks, write_networks
from infonas.runtime import run_rule
from infonas.searchspace.store import load_searchspace


def main(smk):
    space = load_searchspace(smk.input[0])
    settings = smk.params.networks
    networks = sample_networks(space, settings["n_train"], settings["n_valid"], smk.params.seed)
    write_networks(smk.output[0], networks)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
