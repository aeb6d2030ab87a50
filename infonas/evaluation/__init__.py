"""Evaluations of architecture embeddings: latent features, REINFORCE search, performance predictors.

Which embeddings a trained job yields is defined by `infonas.models.variants.encoders_of`.
"""
