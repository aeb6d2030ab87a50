# Config validation (one line naming the key), paths and input functions. No algorithms here.
from snakemake.exceptions import WorkflowError

from infonas.config import saved_epochs, validate_config
from infonas.errors import InfonasError
from infonas.evaluation import ENCODERS

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
    encoder="|".join(ENCODERS),


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
    return expand(f"{RUN}/pretrained/{{hash}}.json", hash=network_hashes())


def evaluation_targets():
    """Every (model, seed, epoch, encoder) search and prediction output, plus random search."""
    train, evaluate = config["train"], config["evaluate"]
    keys = dict(model=train["models"], seed=train["seeds"], epoch=evaluate["embed_epochs"], encoder=ENCODERS)
    return {
        "metrics": expand(f"{RUN}/models/{{model}}/seed{{seed}}/metrics.csv", model=train["models"], seed=train["seeds"]),
        "search": expand(f"{RUN}/search/{{model}}/seed{{seed}}/epoch{{epoch}}/{{encoder}}.h5", **keys),
        "predict": expand(f"{RUN}/predict/{{model}}/seed{{seed}}/epoch{{epoch}}/{{encoder}}.csv", **keys),
        "random": f"{RUN}/search/random.h5",
    }


def training_metrics(wildcards):
    return {f"seed{seed}": f"{RUN}/models/{wildcards.model}/seed{seed}/metrics.csv" for seed in config["train"]["seeds"]}


def search_results(wildcards):
    base = f"{RUN}/search/{wildcards.model}/seed{wildcards.seed}/epoch{wildcards.epoch}"
    return {"infonas": f"{base}/infonas.h5", "arch2vec": f"{base}/arch2vec.h5", "random": f"{RUN}/search/random.h5"}


def prediction_results(wildcards):
    return expand(
        f"{RUN}/predict/{wildcards.model}/seed{{seed}}/epoch{wildcards.epoch}/{{encoder}}.csv",
        seed=config["train"]["seeds"],
        encoder=ENCODERS,
    )


def report_targets():
    """Figures and tables: per model variant, per (model, seed, epoch) search, per (model, epoch) prediction."""
    train, evaluate = config["train"], config["evaluate"]
    figures = f"{RUN}/figures"
    return [
        f"{figures}/scaling_variants.csv",
        *expand(f"{figures}/{{model}}/labeled_losses.png", model=train["models"]),
        *expand(f"{figures}/search/{{model}}_seed{{seed}}_epoch{{epoch}}.png", model=train["models"],
                seed=train["seeds"], epoch=evaluate["embed_epochs"]),
        *expand(f"{figures}/predict/{{model}}_epoch{{epoch}}.png", model=train["models"], epoch=evaluate["embed_epochs"]),
    ]


def final_outputs():
    """Default targets: every evaluation output and every figure and table."""
    targets = evaluation_targets()
    return [f"{RUN}/searchspace.h5", f"{RUN}/images.h5", *targets["metrics"], *targets["search"],
            *targets["predict"], targets["random"], *report_targets()]
