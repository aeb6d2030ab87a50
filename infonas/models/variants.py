"""Model variants of the `train.models` config list, and which embeddings each one yields.

Light on purpose (no torch): the workflow reads it while it builds the DAG.

- `infonas`: info-NAS with one-hot op features; trains the reference arch2vec beside it.
- `infonas-opemb`: the same with learned operation embeddings (operation-embeddings paper).
- `arch2vec`: plain arch2vec trained alone on the unlabeled cells (the paper's 8-epoch baseline);
  it needs no pretrained networks.
"""

from __future__ import annotations

from infonas.errors import InfonasError

#: variant -> (trains on labeled IO data, uses learned op embeddings)
MODEL_VARIANTS: dict[str, tuple[bool, bool]] = {
    "infonas": (True, False),
    "infonas-opemb": (True, True),
    "arch2vec": (False, False),
}


def _variant(model: str) -> tuple[bool, bool]:
    if model not in MODEL_VARIANTS:
        raise InfonasError(f"config key 'train.models': unknown model '{model}' ({', '.join(MODEL_VARIANTS)})")
    return MODEL_VARIANTS[model]


def uses_labels(model: str) -> bool:
    return _variant(model)[0]


def uses_op_embeddings(model: str) -> bool:
    return _variant(model)[1]


def encoders_of(model: str) -> tuple[str, ...]:
    """Embeddings a trained job yields: info-NAS's VAE and the side-by-side arch2vec, or arch2vec alone."""
    return ("infonas", "arch2vec") if uses_labels(model) else ("arch2vec",)
