"""2-D projections of latent features for pictures of the latent space (thesis 4.2.3, conclusion).

PCA is deterministic (an SVD of the centred features, each component's sign fixed so that its
largest loading is positive) and cheap on all 423,624 rows; t-SNE (scikit-learn, PCA-initialised,
seeded) is the optional nonlinear view and is meant for a capped subsample.
"""

from __future__ import annotations

import numpy as np

from infonas.errors import InfonasError

METHODS = ("pca", "tsne")


def subsample_rows(n: int, max_points: int | None, seed: int) -> np.ndarray:
    """All rows, or a seeded sorted choice of `max_points`: the same rows for every encoder."""
    if max_points is None or max_points >= n:
        return np.arange(n)
    if max_points < 1:
        raise InfonasError(f"latent projection: max_points must be >= 1, got {max_points}")
    return np.sort(np.random.default_rng([seed, 2]).choice(n, size=max_points, replace=False))


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) scores on the first two principal components and their explained variance ratios."""
    x = np.asarray(features, np.float64)
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    components = vt[:2]
    largest = np.abs(components).argmax(axis=1)
    components = components * np.sign(components[np.arange(len(components)), largest])[:, None]
    scores = x @ components.T
    total = (s**2).sum()
    ratios = (s[:2] ** 2) / total if total > 0 else np.zeros(len(components))
    if scores.shape[1] < 2:  # a 1-d space: pad, so the picture still has two axes
        scores = np.pad(scores, ((0, 0), (0, 2 - scores.shape[1])))
        ratios = np.pad(ratios, (0, 2 - len(ratios)))
    return scores, ratios


def project_2d(features: np.ndarray, method: str = "pca", seed: int = 0,
               what: str = "features") -> tuple[np.ndarray, list[str]]:
    """(N, 2) coordinates and the two axis labels; non-finite features or too few rows are errors."""
    if method not in METHODS:
        raise InfonasError(f"latent projection: unknown method '{method}' (valid: {', '.join(METHODS)})")
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] < 3:
        raise InfonasError(f"{what}: need an (N >= 3, d) feature matrix, got shape {x.shape}")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise InfonasError(f"{what}: row {int(np.flatnonzero(bad)[0])} has non-finite features")
    if method == "pca":
        scores, ratios = pca_2d(x)
        return scores, [f"PC {k + 1} ({100 * r:.0f}% of variance)" for k, r in enumerate(ratios)]
    from sklearn.manifold import TSNE  # lazy: only t-SNE needs it, and every report imports this module

    perplexity = float(min(30.0, (x.shape[0] - 1) / 3))
    tsne = TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity)
    return tsne.fit_transform(x), ["t-SNE 1", "t-SNE 2"]
