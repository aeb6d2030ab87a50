"""Rule embed: latent features of every search-space row for both encoders of one checkpoint."""
from pathlib import Path

from infonas.evaluation.embed import embed_checkpoint, save_embeddings
from infonas.runtime import job_device, run_rule
from infonas.searchspace.store import load_searchspace


def main(smk):
    space = load_searchspace(smk.input.space)
    weights = Path(smk.input.weights) / f"epoch{smk.wildcards.epoch}.pt"
    features = embed_checkpoint(weights, space, job_device(smk))
    save_embeddings(smk.output[0], space["hash"], features)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
