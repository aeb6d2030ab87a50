"""Model variants of the `train.models` config list, and which embeddings each one yields.

Light on purpose (no torch): the workflow reads it while it builds the DAG.

- `infonas`: info-NAS with one-hot op features; trains the reference arch2vec beside it.
- `infonas-opemb`: the same with learned operation embeddings (operation-embeddings paper).
- `arch2vec`: plain arch2vec trained alone on the unlabeled cells (the paper's 8-epoch baseline);
  it needs no pretrained networks.

Beside them, the raw cell features (`evaluate.raw_features`) are a feature set that no model yields.
"""

from __future__ import annotations

from infonas.errors import InfonasError
from infonas.searchspace.features import RAW_ENCODER, RAW_LABEL

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


#: (model, encoder) -> display name of the features: the paper's "our model", its "reference
#: arch2vec" trained side by side on the same batches, and the plain arch2vec trained alone.
FEATURE_NAMES: dict[tuple[str, str], str] = {
    ("infonas", "infonas"): "info-NAS",
    ("infonas", "arch2vec"): "reference arch2vec",
    ("infonas-opemb", "infonas"): "info-NAS (op. emb.)",
    ("infonas-opemb", "arch2vec"): "reference arch2vec of info-NAS (op. emb.)",
    ("arch2vec", "arch2vec"): "arch2vec",
}


def features_label(model: str, encoder: str, epoch: int) -> str:
    """Legend text of one feature set: the model variant and encoder by name, and the epoch.

    The model is part of the name, so two info-NAS variants trained in one run (`infonas`,
    `infonas-opemb`) never share a label; plain arch2vec says how long it trained (paper: 8 epochs).
    """
    if (model, encoder) not in FEATURE_NAMES:
        raise InfonasError(f"model '{model}' yields no '{encoder}' features (it yields {', '.join(encoders_of(model))})")
    name = FEATURE_NAMES[(model, encoder)]
    return f"{name} ({epoch} epochs)" if not uses_labels(model) else f"{name}, epoch {epoch}"


def label_feature_sets(sets) -> list[tuple[str, str, str, list]]:
    """(label, group, encoder, files) per feature set, from (variant, model, epoch, encoder, files).

    Feature sets with the same files are one set (the plain arch2vec is shared by variants that agree
    on it); the label names the variant only when the sets come from several variants (the plain
    arch2vec only when its sets differ between variants). The group, which figures colour by, is
    (variant, model, epoch): an info-NAS and its reference arch2vec share a colour, and differ by
    their encoder's line style. Labels are unique; a repeated one is an error naming it.
    """
    unique, seen = [], set()
    for variant, model, epoch, encoder, files in sets:
        key = tuple(files)
        if key not in seen:
            seen.add(key)
            unique.append((str(variant), model, int(epoch), encoder, list(files)))
    several = len({v for v, *_ in unique}) > 1
    plain_differ = len({(v, m) for v, m, *_ in unique if not uses_labels(m)}) > 1
    out, labels = [], set()
    for variant, model, epoch, encoder, files in unique:
        label = features_label(model, encoder, epoch)
        if several and (uses_labels(model) or plain_differ):
            label = f"{variant}: {label}"
        if label in labels:
            raise InfonasError(f"feature set '{label}' is given twice")
        labels.add(label)
        out.append((label, f"{variant}/{model}/{epoch}", encoder, files))
    return out


def label_raw_feature_sets(sets) -> list[tuple[str, str, str, list]]:
    """(label, group, encoder, files) of the raw cell features, from (variant, files) per variant.

    Variants that share a search space share one raw-feature result ("raw cells"); where they differ,
    each is its own set, labelled by variant. Group and encoder are `raw`, which figures draw in one
    colour and dash pattern of their own (`infonas.reporting.comparisons.comparison_styles`).
    """
    unique: dict[tuple, str] = {}
    for variant, files in sets:
        unique.setdefault(tuple(files), str(variant))
    several = len(unique) > 1
    return [(f"{variant}: {RAW_LABEL}" if several else RAW_LABEL, RAW_ENCODER, RAW_ENCODER, list(files))
            for files, variant in unique.items()]
