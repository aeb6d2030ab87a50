"""Rule raw_features: the raw cell features of every search-space row, stored like an encoder's embeddings."""
from infonas.evaluation.embed import save_embeddings
from infonas.runtime import run_rule
from infonas.searchspace.features import RAW_ENCODER, raw_cell_features
from infonas.searchspace.store import load_searchspace


def main(smk):
    space = load_searchspace(smk.input.space)
    save_embeddings(smk.output[0], space["hash"], {RAW_ENCODER: raw_cell_features(space["adjacency"], space["ops"])})


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
