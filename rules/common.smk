# Config validation (one line naming the key), paths and input functions. No algorithms here.
from snakemake.exceptions import WorkflowError

from infonas.config import saved_epochs, validate_config
from infonas.errors import InfonasError
from infonas.models.variants import encoders_of, uses_labels

try:
    validate_config(config)
except InfonasError as error:
    raise WorkflowError(f"infonas: {error}")

RUN = f"results/{config['run']}"
SAVED_EPOCHS = saved_epochs(config["train"]["epochs"], config["train"]["checkpoint_every"])
CACHE = config["cache_dir"]
LOGS = f"{RUN}/logs"
BENCH = f"{RUN}/benchmarks"


wildcard_constraints:
    hash="[0-9a-f]{32}",
    seed="[0-9]+",
    epoch="[0-9]+",
    encoder="infonas|arch2vec",


def settings(section, *workflow_keys):
    """A config section without its workflow-only keys (model lists, seeds, GPU shares), so that
    changing those reruns no job whose computation they do not affect."""
    return {key: value for key, value in config[section].items() if key not in workflow_keys}


def searchspace_inputs():
    """The enumerated cells cache is an input only when the space is enumerated."""
    if config["searchspace"]["source"] == "enumerate":
        return {"cells": f"{CACHE}/nb101_cells.h5"}
    return {}


def network_hashes():
    """Hashes in networks.csv (known once the sample_networks checkpoint has run)."""
    import pandas as pd

    path = checkpoints.sample_networks.get().output[0]
    return list(pd.read_csv(path, dtype=str)["hash"])


def io_shards(wildcards):
    return expand(f"{RUN}/io/{{hash}}.h5", hash=network_hashes())


def pretrained_metrics(wildcards):
    """The pretrain stage's accuracies serve as the benchmark only when the space has no metrics."""
    space = config["searchspace"]
    if space["source"] == "tfrecord" or space["metrics_csv"]:
        return []
    return expand(f"{RUN}/pretrained/{{hash}}.json", hash=network_hashes())


def labeled_networks(wildcards):
    """networks.csv when predictors must not fit on the labeled networks (any model: the same
    fit pool for info-NAS and arch2vec features; sampling them is cheap without pretraining)."""
    return rules.sample_networks.output[0] if config["evaluate"]["predict"]["remove_labeled"] else []


def train_inputs(wildcards):
    """info-NAS variants train on the IO dataset; plain arch2vec needs only the search space."""
    inputs = {"space": f"{RUN}/searchspace.h5"}
    if uses_labels(wildcards.model):
        inputs.update(dataset=f"{RUN}/io/dataset.h5", images=f"{RUN}/images.h5")
    return inputs


def evaluation_targets():
    """Every (model, seed, epoch, encoder) search and prediction output, plus random search."""
    train, evaluate = config["train"], config["evaluate"]
    search, predict = [], []
    for model in train["models"]:
        keys = dict(model=model, seed=train["seeds"], epoch=evaluate["embed_epochs"], encoder=encoders_of(model))
        search += expand(f"{RUN}/search/{{model}}/seed{{seed}}/epoch{{epoch}}/{{encoder}}.h5", **keys)
        predict += expand(f"{RUN}/predict/{{model}}/seed{{seed}}/epoch{{epoch}}/{{encoder}}.csv", **keys)
    return {
        "metrics": expand(f"{RUN}/models/{{model}}/seed{{seed}}/metrics.csv", model=train["models"], seed=train["seeds"]),
        "search": search,
        "predict": predict,
        "random": f"{RUN}/search/random.h5",
    }


def training_metrics(wildcards):
    return {f"seed{seed}": f"{RUN}/models/{wildcards.model}/seed{seed}/metrics.csv" for seed in config["train"]["seeds"]}


def search_results(wildcards):
    base = f"{RUN}/search/{wildcards.model}/seed{wildcards.seed}/epoch{wildcards.epoch}"
    searches = {encoder: f"{base}/{encoder}.h5" for encoder in encoders_of(wildcards.model)}
    return dict(searches, random=f"{RUN}/search/random.h5")


def prediction_results(wildcards):
    return expand(
        f"{RUN}/predict/{wildcards.model}/seed{{seed}}/epoch{wildcards.epoch}/{{encoder}}.csv",
        seed=config["train"]["seeds"],
        encoder=encoders_of(wildcards.model),
    )


def report_targets():
    """Figures and tables: per model variant, per (model, seed, epoch) search, per (model, epoch) prediction."""
    train, evaluate = config["train"], config["evaluate"]
    figures = f"{RUN}/figures"
    return [
        f"{figures}/scaling_variants.csv",
        *[f"{figures}/{model}/{'labeled_losses' if uses_labels(model) else 'vae_losses'}.png" for model in train["models"]],
        *expand(f"{figures}/search/{{model}}_seed{{seed}}_epoch{{epoch}}.png", model=train["models"],
                seed=train["seeds"], epoch=evaluate["embed_epochs"]),
        *expand(f"{figures}/predict/{{model}}_epoch{{epoch}}.png", model=train["models"], epoch=evaluate["embed_epochs"]),
    ]


def final_outputs():
    """Default targets: every evaluation output and every figure and table."""
    targets = evaluation_targets()
    return [f"{RUN}/searchspace.h5", f"{RUN}/images.h5", *targets["metrics"], *targets["search"],
            *targets["predict"], targets["random"], *report_targets()]
