# Config validation, the plan (variants and stage digests), paths and input functions. No algorithms here.
#
# Every stage writes to {store_dir}/{stage}/{digest}/, the digest covering the settings the stage
# reads and its upstream digests (infonas.plan). Jobs find their settings and inputs by digest, so
# variants and runs that agree upstream share those files and a new variant adds only its own jobs.
import sys

from snakemake.exceptions import IncompleteCheckpointException, WorkflowError
from snakemake.logging import logger

from infonas.config import load_config_files, saved_epochs
from infonas.errors import InfonasError
from infonas.files import hold_directory_lock
from infonas.models.variants import encoders_of, label_feature_sets, label_raw_feature_sets, uses_labels
from infonas.plan import RAW, RAW_STAGES, build_plan, metrics_file
from infonas.resources import RULE_NEEDS, request, small_job
from infonas.slurm import check_fits, largest_node, partition_of

try:
    load_config_files(workflow.configfiles)  # Snakemake's own reading keeps the last of two equal keys
    PLAN = build_plan(config)
except InfonasError as error:
    raise WorkflowError(f"infonas: {error}")

#: rules whose jobs (or their inputs) come from the sample_networks checkpoint: Snakemake's --until
#: silently plans none of them, before or after the checkpoint has run; a target rule does the same
UNTIL_TARGETS = {"pretrain": "pretrain_all", "extract_io": "extract_io_all", "fit_scaler": "io_dataset_all",
                 "io_dataset": "io_dataset_all"}


def refuse_until_behind_checkpoint():
    """Called while the DAG is built (Snakemake's DAG settings are unknown when the Snakefile is read).

    Snakemake wraps any exception an input function raises in a 3-frame InputFunctionException, so
    the refusal is logged as its one line and the process exits; nothing has started or locked yet."""
    until = sorted(set(workflow.dag_settings.until or ()) & set(UNTIL_TARGETS)) if workflow.dag_settings else []
    if until:
        logger.error(f"infonas: --until {until[0]} cannot reach jobs that depend on the sample_networks "
                     f"checkpoint; run `snakemake {UNTIL_TARGETS[until[0]]}` (every variant, nothing after) instead")
        sys.exit(1)

RUN = f"results/{config['run']}"
STORE = config["store_dir"]
CACHE = config["cache_dir"]
VARIANTS = list(PLAN.variants)


wildcard_constraints:
    digest="[0-9a-f]{10}",
    hash="[0-9a-f]{32}",
    seed="[0-9]+",
    epoch="[0-9]+",
    encoder="infonas|arch2vec",
    variant="[A-Za-z0-9][A-Za-z0-9_.,=+-]*",


# ------------------------------------------------------------------------------ paths by digest
def stage_dir(stage, digest):
    return f"{STORE}/{stage}/{digest}"


def searchspace_h5(d):
    return f"{stage_dir('searchspace', d)}/searchspace.h5"


def images_h5(d):
    return f"{stage_dir('images', d)}/images.h5"


def networks_csv(d):
    return f"{stage_dir('networks', d)}/networks.csv"


def pretrained(d, net_hash, ext):
    return f"{stage_dir('pretrain', d)}/{net_hash}.{ext}"


def shard_h5(d, net_hash):
    return f"{stage_dir('extract_io', d)}/{net_hash}.h5"


def scaler_h5(d):
    return f"{stage_dir('fit_scaler', d)}/scaler.h5"


def dataset_h5(d):
    return f"{stage_dir('io_dataset', d)}/dataset.h5"


def benchmark_h5(d):
    return f"{stage_dir('benchmark', d)}/benchmark.h5"


def random_h5(d):
    return f"{stage_dir('random_search', d)}/random.h5"


def raw_features_h5(d):
    return f"{stage_dir('raw_features', d)}/embeddings.h5"


def raw_search_h5(d):
    return f"{stage_dir('reinforce', d)}/raw_cells.h5"


def raw_bo_h5(d):
    return f"{stage_dir('bo', d)}/raw_cells.h5"


def raw_predict_csv(d):
    return f"{stage_dir('predict', d)}/raw_cells.csv"


def raw_predict_pairs_csv(d):
    return f"{stage_dir('predict', d)}/raw_cells_pairs.csv"


def evolution_h5(d):
    return f"{stage_dir('evolution', d)}/evolution.h5"


def train_dir(d, model, seed):
    return f"{stage_dir('train', d)}/{model}/seed{seed}"


def embedding_h5(d, model, seed, epoch):
    return f"{train_dir(d, model, seed)}/embeddings/epoch{epoch}.h5"


def search_h5(d, model, seed, epoch, encoder):
    return f"{stage_dir('reinforce', d)}/{model}/seed{seed}/epoch{epoch}/{encoder}.h5"


def bo_h5(d, model, seed, epoch, encoder):
    return f"{stage_dir('bo', d)}/{model}/seed{seed}/epoch{epoch}/{encoder}.h5"


def predict_csv(d, model, seed, epoch, encoder):
    return f"{stage_dir('predict', d)}/{model}/seed{seed}/epoch{epoch}/{encoder}.csv"


def predict_pairs_csv(d, model, seed, epoch, encoder):
    """True and predicted accuracy of the scatter regressors (arch2vec Fig. 2), beside predict_csv."""
    return f"{stage_dir('predict', d)}/{model}/seed{seed}/epoch{epoch}/{encoder}_pairs.csv"


FIGURES = f"{RUN}/variants/{{variant}}/figures"
COMPARE = f"{RUN}/compare/{{comparison}}"
#: labeled splits that get their own comparison table and curve (thesis Tables 4.2-4.4 and others)
COMPARED_SPLITS = ("train", "valid_unseen_networks", "valid_unseen_images")
#: IO splits whose true and predicted outputs are drawn (thesis Figs 4.4-4.7, 4.8-4.9 and 4.10-4.11)
HEATMAP_SPLITS = ("train", "valid_unseen_networks", "valid_unseen_images")


def log_of(stage, name):
    return f"{STORE}/{stage}/{{digest}}/logs/{name}.log"


def bench_of(stage, name):
    return f"{STORE}/{stage}/{{digest}}/benchmarks/{name}.tsv"


# ------------------------------------------------------------------------------ plan lookups
def record(stage):
    """params helper: the stage record of the job's digest."""
    return lambda wildcards: PLAN.record(stage, wildcards.digest)


def section(stage, prefix):
    """params helper: the job's settings under one config section, as that section's dict."""
    return lambda wildcards: PLAN.record(stage, wildcards.digest).section(prefix)


def setting(stage, key):
    return lambda wildcards: PLAN.record(stage, wildcards.digest).settings[key]


def job_config(stage, wildcards):
    """The (variant) config a job's request follows from: by its stage digest, else by its variant."""
    if "digest" in wildcards.keys():
        return PLAN.config_of(stage, wildcards.digest)
    if "variant" in wildcards.keys():
        return PLAN.variants[wildcards.variant]
    return PLAN.variants[VARIANTS[0]]  # a job that no setting changes (the enumerated cells)


def cluster_resources(rule, stage=None):
    """resources helper: mem_mb, runtime (minutes), gpu and gpu_percent of a job, from the sizes and
    the device of its config (infonas.resources); `stage` names the plan stage when not the rule."""
    def one(key):
        return lambda wildcards: getattr(
            request(rule, job_config(stage or rule, wildcards), wildcards.get("model")), key)

    return {key: one(key) for key in ("mem_mb", "runtime", "gpu", "gpu_percent")}


def group_if_small(rule, group, stage=None):
    """group helper: jobs whose request is the smallest there is run inside `group`'s cluster job
    (one submission and one Snakemake start-up fewer each); larger ones are jobs of their own."""
    return lambda wildcards: group if small_job(request(rule, job_config(stage or rule, wildcards),
                                                              wildcards.get("model"))) else None


def upstream_digest(stage, digest, target):
    """Digest of `target` that the stage instance reads, directly or through its upstream stages."""
    return PLAN.find(stage, digest, target)


def upstream_record(stage, digest, target):
    """The stage record (settings) of the `target` instance that the stage instance reads."""
    return PLAN.record(target, upstream_digest(stage, digest, target))


def network_hashes(networks_digest):
    """Hashes in networks.csv (known once the sample_networks checkpoint has run)."""
    import pandas as pd  # lazy: only jobs behind the checkpoint need it, not every DAG build

    path = checkpoints.sample_networks.get(digest=networks_digest).output[0]
    return list(pd.read_csv(path, dtype=str)["hash"])


def raw_evaluated(variant):
    """Whether the variant's searches and predictors also run on the raw cell features."""
    return PLAN.evaluated(variant) and PLAN.variants[variant]["evaluate"]["raw_features"]


def embed_epochs(variant, model):
    """Epochs whose features are evaluated: evaluate.embed_epochs, or plain arch2vec's last epoch."""
    cfg = PLAN.variants[variant]
    if uses_labels(model):
        return cfg["evaluate"]["embed_epochs"]
    return [cfg["train"]["arch2vec_epochs"]]


def model_epochs(model, settings):
    """Saved epochs of a train job from its settings section."""
    epochs = settings["epochs"] if uses_labels(model) else settings["arch2vec_epochs"]
    return saved_epochs(epochs, settings["checkpoint_every"])


# ------------------------------------------------------------------------------ targets per variant
def variant_outputs(variant):
    """Every evaluation output of one variant: metrics, searches (REINFORCE, BO, evolution, random), predictions."""
    cfg, evaluated = PLAN.variants[variant], PLAN.evaluated(variant)
    out = {"metrics": [], "search": [], "bo": [], "predict": [], "random": [], "evolution": []}
    if evaluated:
        out["random"].append(random_h5(PLAN.digest(variant, "random_search")))
        out["evolution"].append(evolution_h5(PLAN.digest(variant, "evolution")))
    if raw_evaluated(variant):
        out["search"].append(raw_search_h5(PLAN.digest(variant, "reinforce", RAW)))
        out["bo"].append(raw_bo_h5(PLAN.digest(variant, "bo", RAW)))
        out["predict"].append(raw_predict_csv(PLAN.digest(variant, "predict", RAW)))
    for model in cfg["train"]["models"]:
        train_d = PLAN.digest(variant, "train", model)
        search_d = PLAN.digest(variant, "reinforce", model)
        bo_d = PLAN.digest(variant, "bo", model)
        predict_d = PLAN.digest(variant, "predict", model)
        for seed in cfg["train"]["seeds"]:
            out["metrics"].append(f"{train_dir(train_d, model, seed)}/metrics.csv")
            for epoch in embed_epochs(variant, model) if evaluated else []:
                for encoder in encoders_of(model):
                    out["search"].append(search_h5(search_d, model, seed, epoch, encoder))
                    out["bo"].append(bo_h5(bo_d, model, seed, epoch, encoder))
                    out["predict"].append(predict_csv(predict_d, model, seed, epoch, encoder))
    return out


def variant_figures(variant):
    """Figures and tables of one variant: training and output heatmaps per model, search per (model, seed,
    epoch), prediction and latent-space pictures per (model, epoch), latent against edit distance."""
    cfg = PLAN.variants[variant]
    figures = f"{RUN}/variants/{variant}/figures"
    out = [f"{RUN}/variants/{variant}/config.yaml"]
    evaluated = PLAN.evaluated(variant)
    if evaluated:  # paper Figs 7-10: every model and evaluated epoch of the variant side by side
        out += [f"{figures}/{name}" for name in ("search_validation.png", "search_test.png",
                                                 "prediction_rmse.png", "prediction_pearson_r.png")]
    for model in cfg["train"]["models"]:
        out.append(f"{figures}/{model}/{'labeled_losses' if uses_labels(model) else 'vae_losses'}.png")
        if uses_labels(model):
            out += [f"{figures}/{model}/heatmaps_{split}_{view}.png"
                    for split in HEATMAP_SPLITS for view in ("networks", "one_image")]
        for epoch in embed_epochs(variant, model) if evaluated else []:
            out += [f"{figures}/search/{model}_seed{seed}_epoch{epoch}.png" for seed in cfg["train"]["seeds"]]
            out.append(f"{figures}/predict/{model}_epoch{epoch}.png")
            out += [f"{figures}/{model}/latent_space_{p}_epoch{epoch}.png" for p in cfg["report"]["projections"]]
    if evaluated:
        out.append(f"{figures}/latent_distances.png")
    return out


def final_outputs():
    """Default targets: every variant's evaluation outputs, figures and tables, and every store file
    they are made from."""
    refuse_until_behind_checkpoint()
    targets = [f"{RUN}/figures/scaling_variants.csv"]
    for variant in VARIANTS:
        targets += [path for paths in variant_outputs(variant).values() for path in paths]
        targets += variant_figures(variant) + store_files(variant)
    return sorted(set(targets + comparison_figures()))


def store_files(variant, roots=None):
    """Every store file that the variant's `roots` stages (default: its trainings and evaluations) are
    made from, theirs included; with roots, the networks' files wait for the sample_networks checkpoint.

    Targets name them all because Snakemake reruns the job of a missing file only when a target or a
    job that runs needs it: a deleted pretrained network, whose shard is still there, would otherwise
    never come back, and a later rerun of the shard would find it missing. The default targets leave
    out the networks' files until they are sampled: the jobs that read them ask for them then, and a
    dry run still shows every job before the checkpoint.
    """
    wait = roots is not None
    cfg, recs = PLAN.variants[variant], PLAN.by_variant[variant]
    if roots is None:
        roots = [f"{stage}:{model}" for model in cfg["train"]["models"]
                 for stage in (("train", "reinforce", "bo", "predict") if PLAN.evaluated(variant) else ("train",))]
        roots += ["random_search", "evolution"] if PLAN.evaluated(variant) else []
        roots += [f"{stage}:{RAW}" for stage in RAW_STAGES] if raw_evaluated(variant) else []
    todo, seen = [recs[root] for root in roots], set()
    while todo:
        rec = todo.pop()
        if (rec.stage, rec.digest) not in seen:
            seen.add((rec.stage, rec.digest))
            todo += [PLAN.record(name, digest) for name, digest in rec.upstream.items()]
    return sorted({path for stage, digest in seen for path in stage_files(variant, stage, digest, wait)})


def stage_files(variant, stage, d, wait=True):
    """The files one stage instance of the variant writes (networks' stages: one per sampled network)."""
    single = {"searchspace": searchspace_h5, "images": images_h5, "networks": networks_csv, "fit_scaler": scaler_h5,
              "io_dataset": dataset_h5, "benchmark": benchmark_h5, "random_search": random_h5,
              "raw_features": raw_features_h5, "evolution": evolution_h5}
    if stage in single:
        return [single[stage](d)]
    if stage in ("pretrain", "extract_io"):
        networks = PLAN.digest(variant, "networks")
        try:
            hashes = network_hashes(networks)
        except IncompleteCheckpointException:
            if wait:
                raise
            return []
        if stage == "extract_io":
            return [networks_csv(networks)] + [shard_h5(d, h) for h in hashes]
        return [networks_csv(networks)] + [pretrained(d, h, ext) for h in hashes for ext in ("pt", "json")]
    if stage == "train":
        model = PLAN.record("train", d).settings["model"]
        epochs = embed_epochs(variant, model) if PLAN.evaluated(variant) else []
        return [f"{train_dir(d, model, seed)}/{name}" for seed in PLAN.variants[variant]["train"]["seeds"]
                for name in ["metrics.csv", "weights.pt"] + [f"embeddings/epoch{e}.h5" for e in epochs]]
    return []  # reinforce, bo, predict: their files are the evaluation outputs (variant_outputs)


def cluster_requests():
    """(mem_mb, CPUs) that each cluster rule of this invocation asks for at most, over every variant and
    model; the networks' rules count while the sample_networks checkpoint has yet to add their jobs."""
    rules_run = {job.rule.name for job in workflow.dag.needrun_jobs()}
    if "sample_networks" in rules_run:
        rules_run |= {"pretrain", "extract_io"}
    out = {}
    for cfg in PLAN.variants.values():
        for name in sorted(rules_run & set(RULE_NEEDS)):
            threads = min(workflow.get_rule(name).resources["_cores"].value,
                          workflow.resource_settings.cores or sys.maxsize)
            for model in cfg["train"]["models"] if name == "train" else [None]:
                mem_mb = request(name, cfg, model).mem_mb
                out[name] = (max(mem_mb, out.get(name, (0, 0))[0]), threads)
    return out


onstart:
    try:
        hold_directory_lock(".snakemake/infonas.lock")
        if workflow.executor_plugin is not None and workflow.executor_plugin.cli_prefix == "slurm":
            partition = partition_of(workflow.resource_settings.default_resources.args)
            check_fits(cluster_requests(), largest_node(partition))
    except InfonasError as error:
        raise WorkflowError(f"infonas: {error}")
