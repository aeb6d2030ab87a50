"""Rules bo and bo_raw: arch2vec's Bayesian optimisation (DNGO) on one encoder's latent features (or the raw
cell features), all runs batched."""
from infonas.evaluation.benchmark import load_benchmark
from infonas.evaluation.dngo import dngo_search
from infonas.evaluation.embed import load_embedding
from infonas.evaluation.regret import save_search
from infonas.runtime import job_device, run_rule


def main(smk):
    table = load_benchmark(smk.input.benchmark)
    s = smk.params.settings
    result = dngo_search(
        load_embedding(smk.input.embeddings, smk.params.encoder),
        table.val_acc,
        table.test_acc,
        table.train_time,
        n_runs=s["runs"],
        budget_s=s["budget_s"],
        seed=smk.params.seed,
        device=job_device(smk),
        init_size=s["init_size"],
        top_k=s["top_k"],
        n_units=s["n_units"],
        epochs=s["epochs"],
        incumbent=s["incumbent"],
        objective=s["objective"],
        dtype=s["dtype"],
        kernel=s["kernel"],
    )
    save_search(smk.output[0], result)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
