"""Evaluations of architecture embeddings: latent features, REINFORCE search, performance predictors.

`ENCODERS` names the two embeddings every trained job yields: info-NAS's VAE and the reference
arch2vec trained beside it (kept here, free of torch, so the workflow can import it cheaply).
"""

ENCODERS = ("infonas", "arch2vec")
