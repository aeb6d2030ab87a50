"""Rules predict and predict_raw: regressors on one encoder's latent features (or the raw cell features) for
every n_train and seed, and the true/predicted pairs of the scatter regressors (arch2vec Fig. 2)."""
import logging

from infonas.evaluation.benchmark import load_benchmark
from infonas.evaluation.embed import load_embedding, load_embedding_hashes
from infonas.evaluation.prediction_protocol import prediction_pairs, run_prediction
from infonas.files import atomic_path
from infonas.nets.sampling import network_rows
from infonas.runtime import job_device, run_rule


def main(smk):
    table = load_benchmark(smk.input.benchmark)
    target, target_name = table.prediction_target()
    logging.getLogger("infonas").info("predicting %s (mean of %d training repeats); benchmark: %s",
                                      target_name, table.target_repeats, table.source)
    s = smk.params.settings
    # overrides per regressor; a config without any (presets/paper.yaml) has no params leaf at all
    params = {name: dict(values) for name, values in s.get("params", {}).items() if values}
    for assessor in ("assessor", "assessor-cells"):
        params.setdefault(assessor, {}).setdefault("device", job_device(smk))
    roles = s["remove_labeled"]
    labeled = network_rows(smk.input.networks, load_embedding_hashes(smk.input.embeddings), roles) if roles else None
    features = load_embedding(smk.input.embeddings, smk.params.encoder)
    frame = run_prediction(
        features,
        target,
        s["n_train"],
        [smk.params.seed * 1000 + k for k in range(s["seeds"])],
        s["regressors"],
        scoring=s["scoring"],
        n_unlabeled=s["n_unlabeled"],
        params=params,
        progress=True,
        exclude_from_training=labeled,
    )
    frame.insert(0, "encoder", smk.params.encoder)
    frame.insert(1, "target", target_name)
    frame.insert(2, "target_repeats", table.target_repeats)
    scatter = s["scatter"]
    pairs = prediction_pairs(features, target, scatter["n_train"],
                             [smk.params.seed * 1000 + k for k in range(scatter["seeds"])], scatter["regressors"],
                             n_unlabeled=s["n_unlabeled"], params=params, exclude_from_training=labeled)
    pairs.insert(0, "encoder", smk.params.encoder)
    with atomic_path(smk.output.pairs) as tmp:
        pairs.to_csv(tmp, index=False)
    with atomic_path(smk.output[0]) as tmp:
        frame.to_csv(tmp, index=False)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
