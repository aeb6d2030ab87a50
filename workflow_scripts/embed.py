"""Rule embed: latent features of every search-space row for both encoders of one checkpoint."""
from infonas.evaluation.embed import embed_checkpoint, save_embeddings
from infonas.runtime import job_device, run_rule
from infonas.searchspace.store import load_searchspace


def main(smk):
    space = load_searchspace(smk.input.space)
    features = embed_checkpoint(smk.input.weights, space, job_device(smk), epoch=int(smk.wildcards.epoch))
    save_embeddings(smk.output[0], space["hash"], features)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
